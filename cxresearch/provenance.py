"""What a report records about itself: parameters, data, versions, fits and values.

A notebook calls :func:`start` once after its parameters cell and
:func:`provenance` in its last cell. Model fits register themselves. When the
notebook runs under ``cxresearch report``/``run``, :func:`provenance` also
writes a JSON sidecar (path in ``$CXRESEARCH_SIDECAR``) that the index reads:
one small mechanism, no scraping of HTML.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("cxresearch", "pymc", "nutpie", "arviz", "pytensor", "numpy", "pandas", "duckdb",
            "statsmodels", "matplotlib", "seaborn", "papermill", "nbconvert")


@dataclass
class ReportContext:
    title: str
    params: dict[str, Any]
    seed: int | None = None
    fingerprint: str | None = None
    study: str | None = None
    started: float = field(default_factory=time.time)
    fits: list[dict[str, Any]] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


_current: ReportContext | None = None


def start(title: str, *, study: Any = None, seed: int | None = None,
          **params: Any) -> ReportContext:
    """Begin recording a report. ``study`` is a loaded Study (its fingerprint is kept)."""
    global _current
    _current = ReportContext(title, params, seed,
                             getattr(study, "fingerprint", None),
                             _shown_path(getattr(study, "path", study)) if study is not None
                             else None)
    return _current


def _shown_path(path: Any) -> str:
    """A study folder as a shared report shows it: relative to the working folder where
    it can be, else with the home folder as ``~`` (no user names in shared HTML)."""
    path = Path(path)
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    with contextlib.suppress(ValueError):
        return str(Path("~") / path.resolve().relative_to(Path.home().resolve()))
    return str(path)


def current() -> ReportContext:
    global _current
    if _current is None:
        _current = ReportContext("interactive session", {})
    return _current


def record(name: str, value: Any) -> Any:
    """Keep a value for the index (e.g. the headline NPS); returns it."""
    current().values[name] = value
    return value


def record_fit(result: Any) -> None:
    """Called by every model fit: its diagnostics go into the provenance block."""
    current().fits.append({"model": result.model, "ok": bool(result.ok),
                           "cached": bool(result.cached), "seed": result.seed,
                           **result.diagnostics})


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def as_dict() -> dict[str, Any]:
    ctx = current()
    finished = time.time()
    return {"title": ctx.title, "params": ctx.params, "seed": ctx.seed, "study": ctx.study,
            "fingerprint": ctx.fingerprint, "fits": ctx.fits, "values": ctx.values,
            "versions": versions(),
            "started": datetime.fromtimestamp(ctx.started, UTC).isoformat(timespec="seconds"),
            "run_seconds": round(finished - ctx.started, 1)}


def provenance():
    """Show the provenance block (and write the sidecar when run by cxresearch)."""
    from IPython.display import HTML

    info = as_dict()
    sidecar = os.environ.get("CXRESEARCH_SIDECAR")
    if sidecar:
        with open(sidecar, "w", encoding="utf-8") as fh:
            json.dump(info, fh, default=str, indent=1)
    return HTML(render(info))


def _rows(mapping: dict[str, Any]) -> str:
    return "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in mapping.items())


def render(info: dict[str, Any]) -> str:
    fits = "".join(
        f"<tr class='{'ok' if f['ok'] else 'not-ok'}'><td>{html.escape(f['model'])}</td>"
        f"<td>{'yes' if f['ok'] else 'NO'}</td><td>{f['max_rhat']:.3f}</td>"
        f"<td>{f['min_ess_bulk']:.0f}</td><td>{f['min_ess_tail']:.0f}</td>"
        f"<td>{f['divergences']}</td><td>{f['chains']}x{f['draws']}</td>"
        f"<td>{'cache' if f['cached'] else f'{f.get('seconds', 0):.1f} s'}</td></tr>"
        for f in info["fits"]) or "<tr><td colspan='8'>no model fitted</td></tr>"
    run = {"study": info["study"], "data fingerprint": info["fingerprint"],
           "seed": info["seed"], "started (UTC)": info["started"],
           "run time": f"{info['run_seconds']} s"}
    return f"""<section class="cx-provenance" id="provenance">
<h2 id="Provenance">Provenance</h2>
<h3>Run</h3><table>{_rows(run)}</table>
<h3>Parameters</h3><table>{_rows(info['params'])}</table>
<h3>Model diagnostics</h3>
<p>Converged means max R-hat &le; 1.01, bulk and tail ESS &ge; 400, no divergences.</p>
<table><tr><th>model</th><th>converged</th><th>max R-hat</th><th>min bulk ESS</th>
<th>min tail ESS</th><th>divergences</th><th>chains x draws</th><th>fit</th></tr>{fits}</table>
<h3>Package versions</h3><table>{_rows(info['versions'])}</table>
</section>"""


def fit_banner(result: Any):
    """Under every fit: a loud warning when it did not converge, and its notes (what it
    left out of its input and the rules it applied)."""
    from IPython.display import HTML

    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    if notes:
        notes = ("<p>What this model left out of its input, and the rules it applied:</p>"
                 f"<ul>{notes}</ul>")
    message = result.warning()
    if message is None:
        return HTML(f"<p><em>{html.escape(result.model)}: converged (max R-hat "
                    f"{result.diagnostics['max_rhat']:.3f}, no divergences).</em></p>{notes}")
    return HTML(f"<div class='cx-warning' style='background:#fde2e1;border:2px solid #c00;"
                f"padding:8px;font-weight:bold'>&#9888; {html.escape(message)}</div>{notes}")
