"""Reports: execute parameterized notebooks with papermill, render them with nbconvert.

One report = one notebook x one parameter set. Its outputs are written
atomically into the output folder: ``<name>.html`` (self-contained, code hidden
unless asked), ``<name>.ipynb`` (the executed notebook) and ``<name>.json`` (the
provenance sidecar). A failed run never replaces the last good HTML: its executed
notebook goes to ``<name>.failed.ipynb`` and the index shows the error.
"""

from __future__ import annotations

import ast
import html
import json
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any

import yaml

TEMPLATES = Path(__file__).parent / "templates"
NAME_OK = re.compile(r"^[\w.-]+$")


class ReportError(ValueError):
    """A report that cannot be run as asked (bad parameters, bad config)."""


# -- parameters -------------------------------------------------------------------------------

def notebook_parameters(notebook: str | Path) -> dict[str, Any]:
    """The parameters a notebook declares (its ``parameters`` cell) with their defaults."""
    import papermill as pm

    found = pm.inspect_notebook(str(notebook))
    if not found:
        raise ReportError(f"{notebook}: no cell tagged 'parameters'")
    out = {}
    for name, info in found.items():
        try:
            out[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            out[name] = info["default"]
    return out


def _parse_text(value: str, default: Any) -> Any:
    """Read a command-line value in the type of the parameter's default."""
    if isinstance(default, bool):
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise ValueError("expected true or false")
    if isinstance(default, int | float):
        try:
            return type(default)(value)
        except ValueError:
            raise ValueError(f"expected {type(default).__name__}") from None
    if isinstance(default, str):
        return value
    if value.lower() == "none":
        return None
    if re.fullmatch(r"-?\d+", value):  # plain numbers only: "2025_1" stays a string
        return int(value)
    if re.fullmatch(r"-?\d*\.\d+", value):
        return float(value)
    return value


def check_parameters(notebook: str | Path, given: dict[str, Any],
                     from_text: bool = False) -> dict[str, Any]:
    """Check names and types of ``given`` against the notebook's parameters cell.

    ``from_text=True`` parses strings (``-p name=value``) into the default's type.
    """
    declared = notebook_parameters(notebook)
    checked = {}
    for name, value in given.items():
        if name not in declared:
            raise ReportError(f"{Path(notebook).name}: unknown parameter '{name}' "
                              f"(it declares: {', '.join(declared)})")
        default = declared[name]
        try:
            if from_text and isinstance(value, str):
                value = _parse_text(value, default)
            _check_type(value, default)
        except ValueError as exc:
            raise ReportError(f"{Path(notebook).name}: parameter '{name}' = {value!r}: {exc} "
                              f"(default {default!r})") from None
        checked[name] = value
    return checked


def _check_type(value: Any, default: Any) -> None:
    if default is None or value is None:
        return
    if isinstance(default, bool) != isinstance(value, bool):
        raise ValueError(f"expected {type(default).__name__}")
    if isinstance(default, float) and isinstance(value, int | float):
        return
    if not isinstance(value, type(default)):
        raise ValueError(f"expected {type(default).__name__}, got {type(value).__name__}")


# -- one report -------------------------------------------------------------------------------

@dataclass
class Outcome:
    name: str
    notebook: str
    params: dict[str, Any]
    status: str = "ok"  # "ok" or "failed"
    started: str = ""
    seconds: float = 0.0
    error: str | None = None
    html: str | None = None  # file name of the last good HTML, if any
    sidecar: dict[str, Any] = field(default_factory=dict)


def _atomic_copy(src: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _atomic_write(dest: Path, text: str) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dest)


def _local_kernels(where: Path) -> type:
    """A kernel manager whose kernels talk over IPC sockets in ``where``: no TCP ports are
    opened (and ipykernel does not warn about unencrypted TCP)."""
    from jupyter_client.manager import KernelManager
    from traitlets import default

    class LocalKernelManager(KernelManager):
        @default("transport")
        def _transport_default(self) -> str:
            return "ipc"

        @default("ip")
        def _ip_default(self) -> str:
            return str(where / "kernel")

    return LocalKernelManager


def execute(notebook: str | Path, params: dict[str, Any], out: str | Path, *,
            name: str | None = None, show_code: bool = False, use_cache: bool = True,
            progress: bool = True, timeout: int | None = None) -> Outcome:
    """Execute ``notebook`` with ``params`` and write its HTML, notebook and sidecar to ``out``."""
    import papermill as pm

    notebook, out = Path(notebook), Path(out)
    name = name or notebook.stem
    if not NAME_OK.match(name):
        raise ReportError(f"report name '{name}' may hold only letters, digits, '_', '-', '.'")
    params = check_parameters(notebook, params)
    out.mkdir(parents=True, exist_ok=True)
    outcome = Outcome(name, str(notebook), params,
                      started=datetime.now(UTC).isoformat(timespec="seconds"))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cxreport-") as tmp:
        tmp = Path(tmp)
        executed, sidecar = tmp / f"{name}.ipynb", tmp / f"{name}.json"
        os.environ["CXRESEARCH_SIDECAR"] = str(sidecar)
        os.environ["CXRESEARCH_NO_CACHE"] = "" if use_cache else "1"
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        try:
            pm.execute_notebook(str(notebook), str(executed), parameters=params,
                                progress_bar=progress, cwd=os.getcwd(),
                                execution_timeout=timeout,
                                kernel_manager_class=_local_kernels(tmp))
            body = render_html(executed, show_code=show_code)
        except Exception as exc:  # any failure of the notebook is reported, never raised
            outcome.status, outcome.error = "failed", _describe(exc)
            if executed.exists():
                _atomic_copy(executed, out / f"{name}.failed.ipynb")
        else:
            _atomic_copy(executed, out / f"{name}.ipynb")
            if sidecar.exists():
                outcome.sidecar = json.loads(sidecar.read_text(encoding="utf-8"))
                _atomic_copy(sidecar, out / f"{name}.json")
            _atomic_write(out / f"{name}.html", body)
            (out / f"{name}.failed.ipynb").unlink(missing_ok=True)
        finally:
            os.environ.pop("CXRESEARCH_SIDECAR", None)
    outcome.seconds = round(time.perf_counter() - start, 1)
    outcome.html = f"{name}.html" if (out / f"{name}.html").exists() else None
    return outcome


def _describe(exc: Exception) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(exc).__name__}: {exc}"


def render_html(executed: str | Path, show_code: bool = False) -> str:
    """One self-contained HTML page: images embedded, no remote scripts, a table of contents."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])
                and "parameters" not in c.metadata.get("tags", [])] if not show_code else nb.cells
    exporter = HTMLExporter(template_name="cxreport", extra_template_basedirs=[str(TEMPLATES)])
    exporter.exclude_input = not show_code
    exporter.exclude_input_prompt = not show_code
    exporter.exclude_output_prompt = True
    exporter.embed_images = True
    title = nb.metadata.get("title") or _first_heading(nb) or Path(executed).stem
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb)
    return _add_toc(body)


def _first_heading(nb) -> str | None:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return m.group(1).strip()
    return None


HEADING = re.compile(r'<h([23]) id="([^"]+)"[^>]*>(.*?)(?:<a class="anchor-link".*?</a>)?</h\1>',
                     re.S)


def _add_toc(body: str) -> str:
    items = [(int(level), anchor, re.sub(r"<[^>]+>", "", text).strip())
             for level, anchor, text in HEADING.findall(body)]
    if not items:
        return body
    links = "".join(f'<li class="toc-h{lvl}"><a href="#{anchor}">{text}</a></li>'
                    for lvl, anchor, text in items)
    nav = f'<nav id="toc" aria-label="Contents"><strong>Contents</strong><ul>{links}</ul></nav>'
    return body.replace("<main>", f"<main>\n{nav}", 1)


# -- many reports -----------------------------------------------------------------------------

@dataclass
class Job:
    name: str
    notebook: str
    params: dict[str, Any]
    timeout: int | None = None


def load_jobs(config_path: str | Path) -> tuple[list[Job], dict[str, Any]]:
    """Read ``reports.yml``: notebooks x parameter sets, with shared defaults.

    ::

        study: data/demo              # passed to every notebook as `study`
        out: reports
        workers: 2
        defaults: {draws: 1000}       # parameters for every report
        reports:
          - notebook: notebooks/overview.ipynb
          - notebook: notebooks/touchpoint_emotions.ipynb
            name: emotions-{segment}  # one report per value below
            matrix: {segment: [all, loyalist]}
    """
    path = Path(config_path)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    if not isinstance(config, dict) or not isinstance(config.get("reports"), list):
        raise ReportError(f"{path}: expected a mapping with a 'reports' list")
    base = path.parent
    defaults = dict(config.get("defaults") or {})
    if "study" in config:
        defaults["study"] = str((base / config["study"]).resolve())
    jobs = []
    for i, entry in enumerate(config["reports"], start=1):
        if not isinstance(entry, dict) or "notebook" not in entry:
            raise ReportError(f"{path}: report {i} needs a 'notebook'")
        notebook = base / entry["notebook"]
        if not notebook.exists():
            raise ReportError(f"{path}: report {i}: notebook {notebook} not found")
        matrix = entry.get("matrix") or {}
        keys = list(matrix)
        for values in product(*(matrix[k] for k in keys)) if keys else [()]:
            declared = notebook_parameters(notebook)
            params = ({k: v for k, v in defaults.items() if k in declared}
                      | dict(entry.get("params") or {}) | dict(zip(keys, values, strict=True)))
            name = str(entry.get("name", notebook.stem)).format(**params)
            jobs.append(Job(name, str(notebook), params, entry.get("timeout")))
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ReportError(f"{path}: report names repeat ({', '.join(names)}); "
                          "give each matrix entry a name with placeholders, e.g. emo-{segment}")
    for job in jobs:  # fail before running anything
        job.params = check_parameters(job.notebook, job.params)
    settings = {"out": str(base / config.get("out", "reports")),
                "workers": int(config.get("workers", 2))}
    return jobs, settings


def _run_one(job: Job, out: str, show_code: bool, use_cache: bool) -> Outcome:
    return execute(job.notebook, job.params, out, name=job.name, show_code=show_code,
                   use_cache=use_cache, progress=False, timeout=job.timeout)


def run(config_path: str | Path, *, use_cache: bool = True, workers: int | None = None,
        out: str | Path | None = None, show_code: bool = False, echo=print) -> list[Outcome]:
    """Run every report of ``reports.yml`` (in parallel), then write the index."""
    import multiprocessing

    jobs, settings = load_jobs(config_path)
    out = Path(out or settings["out"])
    workers = max(1, min(workers or settings["workers"], len(jobs), os.cpu_count() or 1))
    outcomes = []
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_run_one, job, str(out), show_code, use_cache): job
                   for job in jobs}
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            echo(f"{outcome.status:>6}  {outcome.name}  ({outcome.seconds:.0f} s)"
                 + (f"  {outcome.error}" if outcome.error else ""))
    order = [j.name for j in jobs]
    outcomes.sort(key=lambda o: order.index(o.name))
    write_index(out, outcomes)
    return outcomes


def write_index(out: str | Path, outcomes: list[Outcome]) -> Path:
    """``index.html`` (and ``index.json``) listing every report of the run."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for o in outcomes:
        link = (f'<a href="{html.escape(o.html)}">{html.escape(o.name)}</a>' if o.html
                else html.escape(o.name))
        if o.status == "failed" and o.html:
            link += " (last good version)"
        params = ", ".join(f"{k}={v}" for k, v in o.params.items() if k != "study")
        fits = o.sidecar.get("fits", [])
        converged = ("no model" if not fits else "all converged" if all(f["ok"] for f in fits)
                     else "NOT converged")
        status = "ok" if o.status == "ok" else f"FAILED: {o.error}"
        rows.append(
            f"<tr class='{o.status}'><td>{link}</td><td>{html.escape(params)}</td>"
            f"<td><code>{html.escape(str(o.sidecar.get('fingerprint') or ''))}</code></td>"
            f"<td>{html.escape(status)}</td><td>{html.escape(converged)}</td>"
            f"<td>{html.escape(o.started)}</td><td>{o.seconds:.0f} s</td></tr>")
    page = (TEMPLATES / "index.html").read_text(encoding="utf-8")
    page = page.replace("{{rows}}", "\n".join(rows)).replace(
        "{{generated}}", datetime.now(UTC).isoformat(timespec="seconds"))
    _atomic_write(out / "index.html", page)
    _atomic_write(out / "index.json", json.dumps([asdict(o) for o in outcomes], indent=1,
                                                 default=str))
    return out / "index.html"
