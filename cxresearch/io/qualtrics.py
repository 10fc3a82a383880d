"""Qualtrics CSV exports, modern and legacy, through a survey mapping.

Modern exports have three header rows: column ids, question text and ImportId JSON
(``{"ImportId":"QID5_1"}``); the first response is row 4. Legacy exports have two:
``V1..Vn`` (with the real names of the V columns in row 2) and question text; the
first response is row 3. The layout is detected from the content. Legacy ``V``
columns are renamed to their modern names (``V1`` -> ``ResponseId``), so one mapping
reads both; the mapping may also name columns by ImportId (modern) or by ``V`` name.

``Status`` holds the response type: 0 or "IP Address" for real responses; previews,
tests, spam and imports have their own codes. By default every response is kept and
the non-real ones are counted in ``report.notes``; ``keep_status=("IP Address",)``
keeps only real responses (codes and labels both match) and counts the others as
excluded. Beside an NPS question Qualtrics writes ``<column>_NPS_GROUP``
(1 detractor, 2 passive, 3 promoter, or the words): the 0-10 answer is the source
of truth, and a group that disagrees with it is a warning.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from cxresearch.errors import InputError, Problem, fail
from cxresearch.io.files import check_file, read_text
from cxresearch.io.mapping import Mapping, read_mapping, to_tidy
from cxresearch.schema import Rules, ValidationReport

STATUS = {"0": "IP Address", "1": "Survey Preview", "2": "Survey Test", "4": "Imported",
          "8": "Spam", "9": "Survey Preview Spam", "12": "Imported Spam", "16": "Offline",
          "17": "Offline Survey Preview"}
LEGACY_NAMES = {"ResponseID": "ResponseId", "ExternalDataReference": "ExternalReference",
                "EmailAddress": "RecipientEmail"}
NPS_GROUPS = {"1": "detractor", "2": "passive", "3": "promoter"}
GROUP_SUFFIX = "_NPS_GROUP"


def load_qualtrics(path: str | Path, *, mapping: Mapping | dict | str | Path,
                   rules: Rules | None = None, on_error: str = "raise",
                   report: ValidationReport | None = None,
                   keep_status: Iterable[str] | None = None,
                   encoding: str = "utf-8-sig") -> dict[str, pd.DataFrame]:
    """Read a Qualtrics CSV export into respondents, ratings, outcomes and comments.

    ``mapping``: see :mod:`cxresearch.io.mapping`. ``keep_status``: response types to
    keep (e.g. ``("IP Address",)``); None keeps all. Rows are numbered as a
    spreadsheet shows them: the first response is row 4 (row 3 in legacy exports).
    """
    mapping = read_mapping(mapping, near=path)
    report = ValidationReport.of(report)
    raw, aliases = read_qualtrics(path, encoding=encoding, on_error=on_error, report=report)
    raw = _filter_status(raw, path, keep_status, report)
    cols = mapping.resolve(list(raw.columns), path, aliases)
    _check_nps_groups(raw, mapping, cols, path, report)
    return to_tidy(raw, mapping, path, rules=rules, on_error=on_error, report=report,
                   aliases=aliases)


def read_qualtrics(path: str | Path, *, encoding: str = "utf-8-sig", on_error: str = "raise",
                   report: ValidationReport | None = None
                   ) -> tuple[pd.DataFrame, dict[str, str]]:
    """The responses as a string frame indexed by row number, and {alias: column}."""
    path = check_file(path)
    text = read_text(path, encoding)
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise fail(path, f"not a readable CSV: {exc}") from None
    if not any(any(cell.strip() for cell in r) for r in records):
        raise fail(path, "file is empty")
    names, aliases, header_rows = _header(records, path)
    width = len(names)
    trailing = names[-1] == ""  # legacy exports end every line with a comma
    rows, index, problems = [], [], []
    for number, record in enumerate(records[header_rows:], start=header_rows + 1):
        if not record or not any(cell.strip() for cell in record):
            continue
        if len(record) == width - 1 and trailing:
            record = [*record, ""]
        if len(record) != width:
            problems.append(Problem(str(path), f"row has {len(record)} fields where the header "
                                    f"has {width}", number))
            continue
        rows.append(record)
        index.append(number)
    if problems and on_error == "raise":
        raise InputError(problems)
    if problems and report is not None:
        report.problems += [Problem(p.file, p.message, p.row, None, "excluded")
                            for p in problems]
        report.exclude("respondents", str(path), "row with a wrong number of fields",
                       len(problems))
    raw = pd.DataFrame(rows, columns=_unique(names), index=pd.Index(index, name="row"),
                       dtype="str")
    raw = raw.where(raw != "")
    if trailing and raw.iloc[:, -1].isna().all():
        raw = raw.iloc[:, :-1]
    return raw, aliases


def _header(records: list[list[str]], path: Path) -> tuple[list[str], dict[str, str], int]:
    """Column names, aliases and the number of header rows; fail if a header row is missing."""
    names = [c.strip() for c in records[0]]
    second = records[1] if len(records) > 1 else []
    third = records[2] if len(records) > 2 else []
    if _import_ids(third):
        ids = _import_ids(third)
        aliases = {ids[i]: name for i, name in enumerate(_unique(names)) if i in ids}
        return names, aliases, 3
    if _import_ids(second):
        raise fail(path, "header row 2 (question text) is missing: row 2 holds the ImportId "
                   "JSON that belongs in row 3", row=2)
    if names and names[0] == "V1":
        if not second or second[0].startswith("R_"):
            raise fail(path, "legacy export (V1..Vn): header row 2 (question text and the "
                       "names of the V columns) is missing", row=2)
        aliases = {}
        for i, (name, label) in enumerate(zip(names, second, strict=False)):
            if name.startswith("V") and name[1:].isdigit() and label.strip():
                modern = LEGACY_NAMES.get(label.strip(), label.strip())
                names[i], aliases[name] = modern, modern
                aliases.setdefault(label.strip(), modern)
        return names, aliases, 2
    raise fail(path, "header row 3 (ImportId JSON such as {\"ImportId\":\"QID1\"}) is "
               "missing: a Qualtrics export has three header rows (column ids, question "
               "text, ImportId) or, legacy, two starting with V1; for a plain table with "
               "one header row use load_wide", row=3)


def _import_ids(record: list[str]) -> dict[int, str]:
    """{position: ImportId} when ``record`` is the ImportId header row, else {}."""
    ids = {}
    for i, cell in enumerate(record):
        if not cell.strip():
            continue
        try:
            value = json.loads(cell)
        except ValueError:
            return {}
        if not isinstance(value, dict) or "ImportId" not in value:
            return {}
        ids[i] = str(value["ImportId"])
    return ids


def _unique(names: list[str]) -> list[str]:
    """Header names with repeats numbered as pandas does (Q1, Q1.1)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(f"{name}.{n}" if n else name)
    return out


def _filter_status(raw: pd.DataFrame, path: str | Path, keep_status: Iterable[str] | None,
                   report: ValidationReport) -> pd.DataFrame:
    """Keep the responses whose Status is in ``keep_status``; count the rest."""
    if "Status" not in raw.columns:
        if keep_status is not None:
            raise fail(path, "keep_status given but the export has no Status column",
                       column="Status")
        return raw
    status = raw["Status"].fillna("").str.strip()
    label = status.map(lambda s: STATUS.get(s, s))
    if keep_status is None:
        other = label[label.str.casefold() != "ip address"].value_counts()
        if len(other):
            kinds = ", ".join(f"{n} '{s}'" for s, n in other.items())
            report.notes.append(f"{path}: kept {kinds} responses (not real responses?); "
                                "pass keep_status=('IP Address',) to keep only real ones")
        return raw
    keep = {STATUS.get(str(s), str(s)).casefold() for s in keep_status}
    kept = label.str.casefold().isin(keep)
    for name, n in label[~kept].value_counts().items():
        report.exclude("respondents", str(path), f"status '{name}' not in keep_status", n)
    return raw[kept]


def _nps_group(value: float) -> str:
    return "detractor" if value <= 6 else "passive" if value <= 8 else "promoter"


def _check_nps_groups(raw: pd.DataFrame, mapping: Mapping, cols: dict[str, str],
                      path: str | Path, report: ValidationReport) -> None:
    """Warn where Qualtrics' ``_NPS_GROUP`` disagrees with the 0-10 answer beside it."""
    for a in (*mapping.ratings, *mapping.outcomes):
        if cols[a.column].endswith(GROUP_SUFFIX):
            raise fail(path, f"mapping key '{a.key}' names the group Qualtrics derives from "
                       "an NPS answer; map the 0-10 column instead", column=cols[a.column])
    for a in mapping.outcomes:
        group_col = cols[a.column] + GROUP_SUFFIX
        if group_col not in raw.columns:
            continue
        value = pd.to_numeric(raw[cols[a.column]], errors="coerce")
        group = raw[group_col].str.strip().str.casefold().map(lambda g: NPS_GROUPS.get(g, g))
        valid = value.between(0, 10) & (value == np.round(value)) & group.notna()
        expected = value.where(valid).map(_nps_group, na_action="ignore")
        wrong = valid & (group != expected)
        for row in wrong[wrong].index:
            report.problems.append(Problem(
                str(path), f"NPS group {raw.at[row, group_col]!r} disagrees with the answer "
                f"{raw.at[row, cols[a.column]]} (a {expected[row]}); the 0-10 answer is used",
                int(row), group_col, "warning"))
        if wrong.any():
            report.notes.append(f"{path}: {int(wrong.sum())} NPS groups disagree with their "
                                f"0-10 answer in {group_col} (warnings; the answer is used)")
