"""SPSS ``.sav`` and ``.zsav`` files through pyreadstat, with their value labels.

Columns mapped to segment, wave, attributes or language are categorical: their codes
become their value labels (unlabelled codes stay as written). Rating and outcome
columns keep their numeric codes; the value labels of rating columns become the
``scale_labels`` table (item, value, label). User-defined missing values (SPSS
"missing values", discrete or ranges) are not answered: they make no rows and are
counted in ``report.notes``. Rows are SPSS case numbers (the first case is row 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from cxresearch.errors import Problem, fail
from cxresearch.io.files import check_file
from cxresearch.io.mapping import Mapping, read_mapping, to_tidy
from cxresearch.schema import Rules, ValidationReport, conform


def load_spss(path: str | Path, *, mapping: Mapping | dict | str | Path,
              rules: Rules | None = None, on_error: str = "raise",
              report: ValidationReport | None = None,
              encoding: str | None = None) -> dict[str, pd.DataFrame]:
    """Read an SPSS file into respondents, ratings, outcomes, comments and scale_labels.

    ``mapping``: see :mod:`cxresearch.io.mapping`. ``encoding`` overrides the file's
    declared character set (for old files that declare none or the wrong one).
    """
    path = check_file(path)
    mapping = read_mapping(mapping, near=path)
    report = ValidationReport.of(report)
    try:  # the header first, then only the mapped columns
        _, meta = pyreadstat.read_sav(path, metadataonly=True, encoding=encoding)
        cols = mapping.resolve(list(meta.column_names), path)
        raw, meta = pyreadstat.read_sav(path, user_missing=True, apply_value_formats=False,
                                        encoding=encoding,
                                        usecols=sorted(set(cols.values())) or None)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, UnicodeError) as exc:
        raise fail(path, f"not a readable SPSS file: {exc}") from None
    raw.index = pd.RangeIndex(1, len(raw) + 1, name="row")
    missing = _user_missing(raw, meta, sorted(set(cols.values())))
    n_missing = int(missing.to_numpy().sum())
    raw = raw.mask(missing.reindex(columns=raw.columns, fill_value=False))
    labels = meta.variable_value_labels
    tables = to_tidy(raw, mapping, path, rules=rules, on_error=on_error, report=report,
                     value_labels=labels)
    if n_missing:
        report.notes.append(f"{path}: {n_missing:,} SPSS user-missing values in the mapped "
                            "columns read as missing (not answered)")
    scale_labels = _scale_labels(mapping, cols, labels, meta, path, report)
    if len(scale_labels):
        tables["scale_labels"] = conform("scale_labels", scale_labels, str(path), rules=rules,
                                         on_error=on_error, report=report)
    return tables


def _in_ranges(values: pd.Series, ranges: list[dict]) -> pd.Series:
    hit = pd.Series(False, index=values.index)
    for r in ranges:
        lo, hi = r["lo"], r["hi"]
        if isinstance(lo, str) or not pd.api.types.is_numeric_dtype(values):
            hit |= values.astype("str").str.rstrip() == str(lo).rstrip()
        else:
            hit |= values.between(lo, hi)
    return hit


def _user_missing(raw: pd.DataFrame, meta, columns: list[str]) -> pd.DataFrame:
    """Where the mapped columns hold a user-defined missing value."""
    out = pd.DataFrame(False, index=raw.index, columns=columns)
    for name in columns:
        ranges = list(meta.missing_ranges.get(name, []))
        ranges += [{"lo": v, "hi": v} for v in meta.missing_user_values.get(name, [])]
        if ranges:
            out[name] = _in_ranges(raw[name], ranges) & raw[name].notna()
    return out


def _scale_labels(mapping: Mapping, cols: dict[str, str], labels: dict, meta, path: Path,
                  report: ValidationReport) -> pd.DataFrame:
    """(item, value, label) rows from the value labels of the rating columns."""
    rows: dict[tuple[str, int], tuple[str, str]] = {}
    for a in mapping.ratings:
        name = cols[a.column]
        ranges = list(meta.missing_ranges.get(name, []))
        for code, label in labels.get(name, {}).items():
            if isinstance(code, str) or code != np.round(code):
                continue
            if ranges and _in_ranges(pd.Series([float(code)]), ranges).iloc[0]:
                continue  # the label of a missing-value code, not a scale point
            key = (a.item, int(code))
            if key in rows and rows[key][0] != label:
                report.problems.append(Problem(
                    str(path), f"value {int(code)} of item '{a.item}' is labelled "
                    f"{rows[key][0]!r} in column {rows[key][1]} and {label!r} here; "
                    "the first is kept", None, name, "warning"))
                continue
            rows.setdefault(key, (label, name))
    return pd.DataFrame([{"item": i, "value": v, "label": lab}
                         for (i, v), (lab, _) in rows.items()],
                        columns=["item", "value", "label"])
