"""Shared test helpers: the real files in ../shared/data and small builders."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """A real file from ../shared/data, or skip the test with a clear message."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real sample not available: {path} (see shared/data/README.md)")
    return path


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


@pytest.fixture(scope="session")
def tiny_study_dir(tmp_path_factory) -> Path:
    """A small synthetic study (300 respondents) written to disk once per test session."""
    from cxresearch.datasets import make_study, write_study

    return write_study(make_study(300, seed=11), tmp_path_factory.mktemp("tiny") / "study")


@pytest.fixture(autouse=True, scope="session")
def _private_fit_cache(tmp_path_factory):
    """Tests never read or fill the user's fit cache."""
    import os

    os.environ["CXRESEARCH_CACHE"] = str(tmp_path_factory.mktemp("fit-cache"))
