"""The report pipeline through the real papermill + nbconvert path (and headless Chromium)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from conftest import ROOT, write

from cxresearch import provenance
from cxresearch.cli import main
from cxresearch.reports import ReportError, check_parameters, execute, notebook_parameters

sys.path.insert(0, str(ROOT / "scripts"))
from nbbuild import code, md, params, write_notebook  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
QUICK = {"draws": 150, "tune": 150}  # tiny fits: the pipeline is under test, not the models


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def quick_params(notebook: Path, study: Path) -> dict:
    declared = notebook_parameters(notebook)
    return {"study": str(study)} | {k: v for k, v in QUICK.items() if k in declared}


def test_every_notebook_has_one_parameters_cell_and_no_outputs():
    assert NOTEBOOKS
    for nb_path in NOTEBOOKS:
        nb = json.loads(nb_path.read_text())
        tagged = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
        assert len(tagged) == 1, nb_path.name
        assert "study" in notebook_parameters(nb_path), nb_path.name
        assert all(not c.get("outputs") and not c.get("execution_count")
                   for c in nb["cells"] if c["cell_type"] == "code"), nb_path.name


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_renders_to_self_contained_html(notebook, tiny_study_dir, tmp_path):
    outcome = execute(notebook, quick_params(notebook, tiny_study_dir), tmp_path, progress=False)
    assert outcome.status == "ok", outcome.error
    html = (tmp_path / f"{notebook.stem}.html").read_text()
    title = json.loads(notebook.read_text())["metadata"]["title"]
    assert f"<title>{title}</title>" in html
    images = re.findall(r'<img [^>]*src="([^"]{0,30})', html)
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    assert 'id="provenance"' in html and 'id="toc"' in html
    assert "<script src=" not in html  # opens offline: no remote scripts
    assert "import cxresearch" not in text_of(html)  # code hidden by default
    assert (tmp_path / f"{notebook.stem}.ipynb").exists()
    sidecar = json.loads((tmp_path / f"{notebook.stem}.json").read_text())
    assert sidecar["fingerprint"] and sidecar["versions"]["pymc"]


def test_show_code_keeps_the_code(tiny_study_dir, tmp_path):
    nb = ROOT / "notebooks" / "overview.ipynb"
    execute(nb, {"study": str(tiny_study_dir)}, tmp_path, show_code=True, progress=False)
    assert "import cxresearch" in text_of((tmp_path / "overview.html").read_text())


def test_parameters_are_checked_before_running():
    nb = ROOT / "notebooks" / "overview.ipynb"
    with pytest.raises(ReportError, match="unknown parameter 'segmnt'"):
        check_parameters(nb, {"segmnt": "a"})
    with pytest.raises(ReportError, match="parameter 'seed'.*expected int"):
        check_parameters(nb, {"seed": "ten"}, from_text=True)
    with pytest.raises(ReportError, match="parameter 'redact'.*expected true or false"):
        check_parameters(nb, {"redact": "maybe"}, from_text=True)
    assert check_parameters(nb, {"seed": "7", "redact": "false", "segment": "loyalist"},
                            from_text=True) == {"seed": 7, "redact": False, "segment": "loyalist"}
    # a parameter whose default is None: text stays text unless it is a plain number
    assert check_parameters(nb, {"wave": "2025_1"}, from_text=True) == {"wave": "2025_1"}
    assert check_parameters(nb, {"wave": "none"}, from_text=True) == {"wave": None}


def test_cli_report_refuses_an_unknown_parameter(tiny_study_dir, tmp_path, capsys):
    code_ = main(["report", str(ROOT / "notebooks" / "overview.ipynb"), "--study",
                  str(tiny_study_dir), "-p", "colour=red", "--out", str(tmp_path)])
    assert code_ == 2 and "unknown parameter 'colour'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def _toy_notebooks(folder: Path) -> None:
    """A notebook that fails on request, and one that fits a tiny model through the cache."""
    write_notebook(str(folder / "fragile.ipynb"), [
        md("# Fragile"),
        params('study = "."\nfail = False'),
        code("from cxresearch import provenance\nprovenance.start('Fragile', fail=fail)"),
        code("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);"),
        code("if fail:\n    raise RuntimeError('planted failure')"),
        code("provenance.provenance()"),
    ], title="Fragile")
    write_notebook(str(folder / "toy_model.ipynb"), [
        md("# Toy model"),
        params('study = "."\nseed = 1'),
        code("""import numpy as np, pymc as pm
from cxresearch import provenance
from cxresearch.models.base import FitResult, SamplerConfig, fit_cached, sample
provenance.start('Toy model', seed=seed)
class Toy(FitResult):
    model = 'toy'
y = np.array([0.2, 1.1, 0.7, 1.9])
def draw():
    with pm.Model() as m:
        mu = pm.Normal('mu', 0, 2)
        pm.Normal('y', mu, 1, observed=y)
    return sample(m, SamplerConfig(draws=200, tune=200), seed)
fit = fit_cached(Toy, {'prior_sd': 2}, {'y': y}, seed, draw)
provenance.record('mu_mean', float(fit.posterior['mu'].mean()))"""),
        code("provenance.provenance()"),
    ], title="Toy model")


def _config(folder: Path, fail: bool) -> Path:
    return write(folder / "reports.yml", f"""
study: .
out: out
workers: 2
reports:
  - notebook: fragile.ipynb
    params: {{fail: {str(fail).lower()}}}
  - notebook: toy_model.ipynb
""")


def test_failed_report_keeps_last_good_html_and_the_run_fails(tmp_path, capsys):
    _toy_notebooks(tmp_path)
    assert main(["run", str(_config(tmp_path, fail=False))]) == 0
    good = (tmp_path / "out" / "fragile.html").read_text()
    assert main(["run", str(_config(tmp_path, fail=True))]) == 1
    assert (tmp_path / "out" / "fragile.html").read_text() == good
    assert (tmp_path / "out" / "fragile.failed.ipynb").exists()
    index = (tmp_path / "out" / "index.html").read_text()
    assert "FAILED: RuntimeError: planted failure" in index and "(last good version)" in index
    entries = json.loads((tmp_path / "out" / "index.json").read_text())
    assert {e["name"]: e["status"] for e in entries} == {"fragile": "failed", "toy_model": "ok"}
    assert not list((tmp_path / "out").glob(".*tmp*"))  # no half-written files left


def test_second_run_on_unchanged_data_hits_the_fit_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CXRESEARCH_CACHE", str(tmp_path / "cache"))
    _toy_notebooks(tmp_path)
    config = _config(tmp_path, fail=False)
    assert main(["run", str(config)]) == 0
    first = json.loads((tmp_path / "out" / "toy_model.json").read_text())
    assert main(["run", str(config)]) == 0
    second = json.loads((tmp_path / "out" / "toy_model.json").read_text())
    assert [f["cached"] for f in first["fits"]] == [False]
    assert [f["cached"] for f in second["fits"]] == [True]
    assert second["values"]["mu_mean"] == first["values"]["mu_mean"]
    assert main(["run", str(config), "--no-cache"]) == 0
    third = json.loads((tmp_path / "out" / "toy_model.json").read_text())
    assert [f["cached"] for f in third["fits"]] == [False]


def test_reports_yml_matrix_makes_one_report_per_value(tmp_path, tiny_study_dir):
    shutil.copy(ROOT / "notebooks" / "overview.ipynb", tmp_path)
    config = write(tmp_path / "reports.yml", f"""
study: {tiny_study_dir}
out: out
reports:
  - notebook: overview.ipynb
    name: overview-{{segment}}
    matrix: {{segment: [loyalist, first_timer]}}
""")
    assert main(["run", str(config)]) == 0
    assert {p.name for p in (tmp_path / "out").glob("*.html")} == {
        "overview-loyalist.html", "overview-first_timer.html", "index.html"}


def test_reports_yml_with_an_unknown_parameter_fails_before_running(tmp_path, capsys):
    shutil.copy(ROOT / "notebooks" / "overview.ipynb", tmp_path)
    config = write(tmp_path / "reports.yml",
                   "reports:\n  - notebook: overview.ipynb\n    params: {colour: red}\n")
    assert main(["run", str(config)]) == 2
    assert "unknown parameter 'colour'" in capsys.readouterr().err


def test_respondent_text_is_escaped_and_personal_data_redacted(tiny_study_dir, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(tiny_study_dir, study)
    comments = (study / "comments.csv").read_text().splitlines()
    hostile = '<script>alert("x")</script> write to ana.perez@example.com or +34 600 123 456'
    rid = comments[1].split(",")[0]
    # the only comment, so that the sampled quotes must show it
    with open(study / "comments.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([comments[0].split(","), [rid, "", hostile, "en"]])
    nb = ROOT / "notebooks" / "overview.ipynb"
    execute(nb, {"study": str(study)}, tmp_path / "out", progress=False)
    html = (tmp_path / "out" / "overview.html").read_text()
    assert re.search(r"&lt;script&gt;alert\((&quot;|\")x(&quot;|\")\)&lt;/script&gt;", html)
    assert "<script>alert" not in html
    assert "ana.perez@example.com" not in html and "600 123 456" not in html
    assert "[email]" in html and "[phone]" in html
    execute(nb, {"study": str(study), "redact": False}, tmp_path / "raw", progress=False)
    assert "ana.perez@example.com" in (tmp_path / "raw" / "overview.html").read_text()


def _open(browser, path: Path):
    """Open a file in a new page; collect console errors, page errors and failed requests."""
    page, problems = browser.new_page(), []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems


def test_report_and_index_open_in_headless_chromium(tiny_study_dir, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian chromium not installed (make test installs it when run as root)")
    playwright = pytest.importorskip("playwright.sync_api")
    shutil.copy(ROOT / "notebooks" / "overview.ipynb", tmp_path)
    config = write(tmp_path / "reports.yml",
                   f"study: {tiny_study_dir}\nout: out\nreports:\n  - notebook: overview.ipynb\n")
    assert main(["run", str(config)]) == 0
    shots = ROOT / "reports"
    shots.mkdir(exist_ok=True)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        for page_name in ("overview.html", "index.html"):
            page, problems = _open(browser, tmp_path / "out" / page_name)
            images = page.evaluate(
                "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
            assert problems == [], page_name
            assert all(images), page_name
            if page_name == "overview.html":
                assert len(images) >= 1
                assert page.locator("#toc a").count() >= 3
            page.screenshot(path=str(shots / f"screenshot-{page_name[:-5]}.png"), full_page=True)
        browser.close()
    assert (shots / "screenshot-overview.png").stat().st_size > 10_000


def test_provenance_shows_the_study_without_the_users_folders(tmp_path, monkeypatch):
    home, work = tmp_path / "home" / "alice", tmp_path / "elsewhere"
    (home / "studies" / "s1").mkdir(parents=True)
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home / "studies")
    assert provenance.start("t", study=home / "studies" / "s1").study == "s1"
    monkeypatch.chdir(work)
    assert provenance.start("t", study=home / "studies" / "s1").study == "~/studies/s1"
    assert provenance.start("t", study=work).study == "."
    assert provenance.start("t", study="/opt/x").study == "/opt/x"
