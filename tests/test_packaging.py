"""The set-up: environment.yml matches pyproject.toml; the Makefile finds a Python >= 3.12."""

import os
import re
import subprocess
import sys
import tomllib

import yaml
from conftest import ROOT
from packaging.requirements import Requirement

CONDA_NAMES = {"python-duckdb": "duckdb"}  # conda-forge name -> PyPI name
NOT_PACKAGES = {"python", "pip"}


def _pyproject_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {Requirement(r).name.lower() for r in reqs}


def _conda_names() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = {re.split(r"[<>=!\s]", dep)[0].lower() for dep in env["dependencies"]
             if isinstance(dep, str)}
    return {CONDA_NAMES.get(n, n) for n in names} - NOT_PACKAGES


def test_environment_yml_names_the_same_packages_as_pyproject():
    assert _conda_names() == _pyproject_names()


def test_find_python_finds_312_or_newer_and_honours_PYTHON():
    script = ROOT / "scripts" / "find-python.sh"
    found = subprocess.run(["sh", str(script)], capture_output=True, text=True, check=True)
    ok = subprocess.run([found.stdout.strip(), "-c",
                         "import sys; sys.exit(sys.version_info < (3, 12))"])
    assert ok.returncode == 0
    env = os.environ | {"PYTHON": sys.executable}
    same = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env)
    assert same.stdout.strip() == sys.executable
    env = os.environ | {"PYTHON": "/nonexistent/python3"}
    bad = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "not a working Python >= 3.12" in bad.stderr
