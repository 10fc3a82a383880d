"""Wide survey tables (CSV, Parquet, Excel: one row per respondent) through a mapping."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxresearch.io.files import read_frame
from cxresearch.io.mapping import Mapping, read_mapping, to_tidy
from cxresearch.schema import Rules, ValidationReport


def load_wide(path: str | Path, *, mapping: Mapping | dict | str | Path,
              rules: Rules | None = None, on_error: str = "raise",
              report: ValidationReport | None = None, sheet: str | int = 0,
              encoding: str = "utf-8-sig", sep: str | None = None) -> dict[str, pd.DataFrame]:
    """Read a wide survey table into respondents, ratings, outcomes and comments.

    ``mapping`` (a dict or a YAML file, see :mod:`cxresearch.io.mapping`) says which
    columns become which tidy rows; only the tables it asks for are returned.
    Rows are numbered as a spreadsheet shows them (header = row 1).
    """
    mapping = read_mapping(mapping, near=path)
    raw = read_frame(path, sheet=sheet, encoding=encoding, sep=sep)
    return to_tidy(raw, mapping, path, rules=rules, on_error=on_error, report=report)
