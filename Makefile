# Every target does its own set-up: `.venv` is created on first use from a
# Python >= 3.12 found on this machine (PYTHON=/path/to/python overrides).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: report test test-slow lint demo-data clean-venv

report: $(STAMP)
	$(BIN)/cxresearch run reports.yml

test: $(STAMP)
	@sh scripts/ensure-chromium.sh
	$(BIN)/ruff check cxresearch tests benchmarks notebooks scripts
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check cxresearch tests benchmarks notebooks scripts

demo-data: $(STAMP)
	$(BIN)/cxresearch demo-data --respondents 1500 --seed 2026 --out data/demo

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || "$$(PYTHON="$(PYTHON)" sh scripts/find-python.sh)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
