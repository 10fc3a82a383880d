"""Tidy tables stored as CSV, Parquet or Excel, one file per table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxresearch.errors import fail
from cxresearch.io.files import read_frame
from cxresearch.schema import TABLES, Rules, ValidationReport, conform


def load_tidy(path: str | Path, *, table: str, rules: Rules | None = None,
              on_error: str = "raise", report: ValidationReport | None = None,
              sheet: str | int = 0, encoding: str = "utf-8-sig",
              sep: str | None = None) -> dict[str, pd.DataFrame]:
    """Read one tidy table (``table`` names which) from CSV, Parquet or Excel."""
    if table not in TABLES:
        raise fail(path, f"unknown table '{table}' (expected one of {', '.join(TABLES)})")
    raw = read_frame(path, sheet=sheet, encoding=encoding, sep=sep)
    return {table: conform(table, raw, str(path), rules=rules, on_error=on_error, report=report)}
