"""Loaders: one module per source kind, each returning tidy tables.

Every loader has the signature
``load_x(path, *, rules, on_error, report, **options) -> dict[table name, DataFrame]``
and passes its tables through :func:`cxresearch.schema.conform`.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

# format name -> "module:function"; modules are imported on first use.
LOADERS: dict[str, str] = {
    "tidy": "cxresearch.io.tidy:load_tidy",
    "wide": "cxresearch.io.wide:load_wide",
    "qualtrics": "cxresearch.io.qualtrics:load_qualtrics",
    "spss": "cxresearch.io.spss:load_spss",
    "refi-qda": "cxresearch.io.qda:load_refi_qda",
    "codes-csv": "cxresearch.io.qda:load_codes_csv",
    "events": "cxresearch.io.events:load_events",
    "xes": "cxresearch.io.events:load_xes",
    "paths": "cxresearch.io.events:load_paths",
}

SUFFIX_FORMATS = {".qdpx": "refi-qda", ".qdc": "refi-qda", ".qde": "refi-qda",
                  ".sav": "spss", ".zsav": "spss", ".xes": "xes", ".gz": "xes"}


def loader(format: str):
    """The loader function registered under ``format``."""
    try:
        module, func = LOADERS[format].split(":")
    except KeyError:
        raise ValueError(f"unknown format '{format}' (known: {', '.join(LOADERS)})") from None
    return getattr(import_module(module), func)


def guess_format(path: str | Path) -> str:
    return SUFFIX_FORMATS.get(Path(path).suffix.lower(), "tidy")
