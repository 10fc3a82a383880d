"""The tidy tables: column names, dtypes and checks.

Every loader turns its source into these tables through :func:`conform`, which
checks them and returns them with the contracted dtypes. Identifiers are always
strings. A loader sets the frame's index to the source row numbers (see
:mod:`cxresearch.errors`) so that every problem names its row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxresearch.errors import InputError, Problem, warn

NPS_SCALE = (0, 10)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "id", "str", "int", "float", "datetime"
    required: bool = True
    default: object = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    extra: bool = False  # keep columns beyond the contract (free attributes)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _id(name: str, required: bool = True) -> Column:
    return Column(name, "id", required)


def _str(name: str, required: bool = True, default: object = None) -> Column:
    return Column(name, "str", required, default)


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table("respondents", (_id("respondent_id"), _str("segment", False, "all"),
                              _str("wave", False, "1"), Column("weight", "float", False, 1.0)),
              key=("respondent_id",), extra=True),
        Table("ratings", (_id("respondent_id"), _str("touchpoint"),
                          _str("item", False, "valence"), Column("value", "int"),
                          Column("scale_min", "int", False), Column("scale_max", "int", False),
                          Column("answered_at", "datetime", False)),
              key=("respondent_id", "touchpoint", "item")),
        Table("outcomes", (_id("respondent_id"), _str("outcome"), Column("value", "float")),
              key=("respondent_id", "outcome")),
        Table("events", (_id("case_id"), Column("timestamp", "datetime"), _str("touchpoint"),
                         _str("channel", False)), extra=True),
        Table("touchpoints", (_str("touchpoint"), _str("stage"), Column("stage_order", "int"),
                              _str("channel", False, "")), key=("touchpoint",), extra=True),
        Table("codes", (_str("code"), _str("parent", False), _str("description", False)),
              key=("code",), extra=True),
        Table("codings", (_id("respondent_id", False), _str("source", False),
                          _str("touchpoint", False), _str("code"), _str("text", False),
                          Column("start", "int", False), Column("end", "int", False)),
              extra=True),
        Table("comments", (_id("respondent_id"), _str("touchpoint", False), _str("text"),
                           _str("language", False)), extra=True),
        Table("paths", (_str("path"), Column("conversions", "int"), Column("nulls", "int"),
                        Column("value", "float", False))),
        Table("scale_labels", (_str("item"), Column("value", "int"), _str("label")),
              key=("item", "value")),
    ]
}
TABLE_NAMES = tuple(TABLES)
PATH_SEPARATOR = " > "


@dataclass(frozen=True)
class Rules:
    """Study-wide facts the checks need: rating scales and the journey map."""

    scales: dict[str, tuple[int, int]] = field(default_factory=dict)
    touchpoints: frozenset[str] | None = None


@dataclass(frozen=True)
class Exclusion:
    table: str
    file: str
    reason: str
    rows: int


@dataclass
class ValidationReport:
    """What was loaded, every problem found and every row excluded (with why)."""

    counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    exclusions: list[Exclusion] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    announce: bool = False  # also warn of each exclusion (for callers who passed no report)

    @classmethod
    def of(cls, report: ValidationReport | None) -> ValidationReport:
        """``report``, or, when the caller gave none, one that warns of every exclusion."""
        return report if report is not None else cls(announce=True)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def excluded(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "excluded"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def excluded_rows(self) -> int:
        return sum(e.rows for e in self.exclusions)

    def exclude(self, table: str, file: str, reason: str, rows: int) -> None:
        if rows:
            self.exclusions.append(Exclusion(table, file, reason, int(rows)))
            if self.announce:
                warn(f"{file}: {int(rows)} {table} rows excluded ({reason}); pass "
                     "report=ValidationReport() to collect the exclusions")

    def merge(self, other: ValidationReport) -> None:
        """Add ``other``'s counts, problems, exclusions (through :meth:`exclude`) and notes."""
        for name, n in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + n
        self.problems += other.problems
        for e in other.exclusions:
            self.exclude(e.table, e.file, e.reason, e.rows)
        self.notes += other.notes

    def counts_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"table": list(self.counts), "rows": list(self.counts.values())})

    def exclusions_frame(self) -> pd.DataFrame:
        cols = ["table", "file", "reason", "rows"]
        return pd.DataFrame([e.__dict__ for e in self.exclusions], columns=cols)

    def problems_frame(self) -> pd.DataFrame:
        cols = ["severity", "file", "row", "column", "message"]
        return pd.DataFrame([p.to_dict() for p in self.problems], columns=cols)

    def __str__(self) -> str:
        lines = ["Tables:"]
        lines += [f"  {name:<12} {n:>9,} rows" for name, n in self.counts.items()]
        if self.exclusions:
            lines.append(f"Excluded rows by reason ({self.excluded_rows:,} in all):")
            lines += [f"  {e.table}: {e.rows:,} ({e.reason}) in {e.file}" for e in self.exclusions]
        lines += [f"Note: {n}" for n in self.notes]
        lines.append(f"Errors: {len(self.errors)}   Excluded rows: {len(self.excluded)}   "
                     f"Warnings: {len(self.warnings)}")
        lines += [f"  {p.severity.upper()}: {p}" for p in self.problems]
        return "\n".join(lines)


def _row_labels(index: pd.Index) -> list:
    return [int(i) if isinstance(i, (int, np.integer)) else i for i in index]


def _parse_datetime(raw: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(raw, errors="coerce")
    retry = parsed.isna() & raw.notna()
    if retry.any():
        parsed = pd.to_datetime(raw, errors="coerce", format="mixed", utc=parsed.dt.tz is not None)
    return parsed


class _Checker:
    """Collects row problems for one table, then raises or excludes."""

    def __init__(self, table: str, df: pd.DataFrame, file: str):
        self.table, self.df, self.file = table, df, file
        self.bad = pd.Series(False, index=range(len(df)))
        self.problems: list[Problem] = []
        self.reasons: dict[str, int] = {}

    def flag(self, mask: np.ndarray, column: str | None, message: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        rows = _row_labels(self.df.index[mask])
        self.problems += [Problem(self.file, message, r, column) for r in rows]
        self.problems.sort(key=lambda p: str(p.row).zfill(12))
        new = mask & ~self.bad.to_numpy()
        self.reasons[message] = self.reasons.get(message, 0) + int(new.sum())
        self.bad |= mask


def as_text(values: pd.Series) -> pd.Series:
    """Cells as stripped text (whole floats without '.0'); blanks become missing."""
    if pd.api.types.is_float_dtype(values) and bool(
            (values.dropna() == np.round(values.dropna())).all()):
        values = values.astype("Int64")
    text = values.astype("str").str.strip().where(values.notna())
    return text.where(text != "")


def _coerce(col: Column, raw: pd.Series, chk: _Checker) -> pd.Series:
    """Convert one column to its contract dtype, flagging values that do not fit."""
    missing = raw.isna() | (raw.astype("str").str.strip() == "")
    if col.kind in ("id", "str"):
        out = as_text(raw)
        if col.required:
            chk.flag(missing.to_numpy(), col.name, "empty value")
        return out.astype("str")
    if col.kind in ("int", "float"):
        num = pd.to_numeric(raw, errors="coerce")
        chk.flag((num.isna() & ~missing).to_numpy(), col.name,
                 f"not a number: expected {'an integer' if col.kind == 'int' else 'a number'}")
        if col.kind == "int":
            frac = num.notna() & (num != np.round(num))
            chk.flag(frac.to_numpy(), col.name, "not a whole number")
            num = num.where(~frac).round().astype("Int64")
        if col.required:
            chk.flag(missing.to_numpy(), col.name, "empty value")
        return num
    if col.kind == "datetime":
        parsed = _parse_datetime(raw.where(~missing))
        if parsed.dt.tz is not None:  # offsets are converted to UTC, as in event logs
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        parsed = parsed.astype("datetime64[us]")
        chk.flag((parsed.isna() & ~missing).to_numpy(), col.name, "unparseable timestamp")
        if col.required:
            chk.flag(missing.to_numpy(), col.name, "empty value")
        return parsed
    raise ValueError(f"unknown column kind {col.kind!r}")


def conform(table: str, df: pd.DataFrame, file: str, *, rules: Rules | None = None,
            on_error: str = "raise", report: ValidationReport | None = None) -> pd.DataFrame:
    """Check ``df`` against the contract of ``table`` and return it with contract dtypes.

    ``on_error="raise"`` raises one :class:`InputError` listing every bad row;
    ``on_error="exclude"`` drops the bad rows and counts them, by reason, in ``report``.
    Missing columns always raise. Warnings (such as unknown touchpoints when no
    journey map is given) go to ``report`` and never drop rows.
    """
    if on_error not in ("raise", "exclude"):
        raise ValueError("on_error must be 'raise' or 'exclude'")
    spec, rules = TABLES[table], rules or Rules()
    report = ValidationReport.of(report)
    df = df.rename(columns=lambda c: str(c).strip())
    absent = [c.name for c in spec.columns if c.required and c.name not in df.columns]
    if table == "ratings" and not rules.scales:
        absent += [c for c in ("scale_min", "scale_max") if c not in df.columns]
    if absent:
        found = ", ".join(map(str, df.columns)) or "none"
        raise InputError([Problem(file, f"missing required column for table '{table}' "
                                  f"(columns found: {found})", None, c) for c in absent])
    chk = _Checker(table, df, file)
    out = pd.DataFrame(index=df.index)
    for col in spec.columns:
        if col.name in df.columns:
            out[col.name] = _coerce(col, df[col.name], chk)
        elif col.default is not None:
            out[col.name] = pd.Series(col.default, index=df.index,
                                      dtype="float64" if col.kind == "float" else "str")
    if spec.extra:
        for name in df.columns:
            if name not in out.columns:
                out[name] = df[name]
    _table_checks(table, out, rules, chk, report)
    if spec.key and len(out):
        good = ~chk.bad.to_numpy()
        dup = np.zeros(len(out), dtype=bool)
        dup[good] = out.loc[good].duplicated(list(spec.key), keep="first").to_numpy()
        chk.flag(dup, spec.key[-1], f"duplicate {' x '.join(spec.key)} (first kept)")
    if chk.problems and on_error == "raise":
        raise InputError(chk.problems)
    report.problems += [Problem(p.file, p.message, p.row, p.column, "excluded")
                        for p in chk.problems]
    for reason, n in chk.reasons.items():
        report.exclude(table, file, reason, n)
    out = out.loc[~chk.bad.to_numpy()].reset_index(drop=True)
    report.counts[table] = report.counts.get(table, 0) + len(out)
    return out


def _table_checks(table: str, out: pd.DataFrame, rules: Rules, chk: _Checker,
                  report: ValidationReport) -> None:
    if table == "ratings":
        _check_scales(out, rules, chk)
    if table == "outcomes":
        nps = (out["outcome"] == "nps").to_numpy()
        v = out["value"]
        bad = nps & ~(v.between(*NPS_SCALE) & (v == np.round(v))).fillna(True).to_numpy()
        chk.flag(bad, "value", "NPS answer outside 0-10 or not a whole number")
        for name, (lo, hi) in rules.scales.items():
            sel = (out["outcome"] == name).to_numpy()
            chk.flag(sel & ~v.between(lo, hi).fillna(True).to_numpy(), "value",
                     f"{name} outside its scale {lo}-{hi}")
    if table == "respondents" and "weight" in out:
        w = out["weight"]
        chk.flag((w.notna() & ~(w > 0)).to_numpy(), "weight", "weight must be positive")
    if table == "touchpoints":
        return
    if "touchpoint" in out.columns and rules.touchpoints is not None:
        tp = out["touchpoint"]
        unknown = (tp.notna() & ~tp.isin(rules.touchpoints)).to_numpy()
        chk.flag(unknown, "touchpoint", "touchpoint not in the journey map")
    elif "touchpoint" in out.columns and table in ("ratings", "events"):
        report.notes.append(f"{table} in {chk.file}: no journey map given, "
                            "touchpoint names not checked")


def _check_scales(out: pd.DataFrame, rules: Rules, chk: _Checker) -> None:
    for bound, pos in (("scale_min", 0), ("scale_max", 1)):
        lookup = {i: rules.scales.get(i, (None, None))[pos] for i in out["item"].unique()}
        from_rules = out["item"].map(lookup)
        if bound in out.columns:
            out[bound] = out[bound].fillna(from_rules.astype("Float64")).astype("Int64")
        else:
            out[bound] = from_rules.astype("Int64")
        chk.flag(out[bound].isna().to_numpy(), bound,
                 f"no {bound} for this item (give the column or a scale in study.yml)")
    v, lo, hi = out["value"], out["scale_min"], out["scale_max"]
    outside = (v.notna() & lo.notna() & hi.notna() & ((v < lo) | (v > hi))).fillna(False)
    chk.flag(outside.to_numpy(), "value", "rating outside its scale")
    chk.flag((lo >= hi).fillna(False).to_numpy(), "scale_max", "scale_max must exceed scale_min")


def journey_order(touchpoints: pd.DataFrame | None,
                  found: Iterable[str] | None = None) -> list[str]:
    """Touchpoints in journey order: by ``stage_order``, ties in journey-map file order.

    With ``found``, only those touchpoints, and the ones the map lacks follow by name.
    """
    order: list[str] = []
    if touchpoints is not None and len(touchpoints) and "touchpoint" in touchpoints:
        tp = touchpoints.reset_index(drop=True).assign(_pos=np.arange(len(touchpoints)))
        if "stage_order" in tp:
            tp = tp.sort_values(["stage_order", "_pos"], kind="stable", na_position="last")
        order = list(dict.fromkeys(tp["touchpoint"].astype(str)))
    if found is None:
        return order
    found = {str(t) for t in found}
    return [t for t in order if t in found] + sorted(found - set(order))


def label_key(label: object) -> tuple:
    """A sort key for labels such as waves: a four-digit year anywhere in the label
    counts first, then the label's parts with numbers compared as numbers, so ``W2``
    comes before ``W10`` and ``Q4 2024`` before ``Q1 2025``."""
    text = str(label)
    years = [int(y) for y in re.findall(r"(?<!\d)\d{4}(?!\d)", text)]
    parts = [(0, int(part), "") if part.isdecimal() else (1, 0, part.casefold())
             for part in re.split(r"(\d+)", text) if part]
    return years, parts, text


def period_order(periods: Iterable[object]) -> list[str]:
    """Distinct period labels (waves) in time order (see :func:`label_key`); blanks
    left out."""
    return sorted({str(p) for p in periods if not pd.isna(p)}, key=label_key)


DTYPES = {"id": "str", "str": "str", "int": "Int64", "float": "float64",
          "datetime": "datetime64[us]"}


def empty(table: str) -> pd.DataFrame:
    """An empty table with every contract column in its dtype."""
    return pd.DataFrame({c.name: pd.Series(dtype=DTYPES[c.kind]) for c in TABLES[table].columns})
