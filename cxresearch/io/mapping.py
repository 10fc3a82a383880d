"""Survey mappings: which columns of a wide export (one row per respondent) become
which tidy rows. Shared by the wide-table, Qualtrics and SPSS loaders.

A mapping is a dict or a YAML file::

    respondent_id: ResponseId          # column holding the id (read as text),
                                       # or {row_number: true}: the source row number
    segment: Q_persona                 # optional; a column or a constant {value: "B2B"}
    wave: Q_wave                       # optional; a column or a constant {value: "2025-H2"}
    weight: W                          # optional
    attributes: [Q_age, Q_region]      # optional free attributes (or {age: Q_age} to rename)
    language: UserLanguage             # optional: comments.language
    answered_at: RecordedDate          # optional: ratings.answered_at
    ratings:                           # column -> touchpoint (+ item, default valence)
      Q5_1: {touchpoint: website, item: valence}
      Q5_2: {touchpoint: checkout}
      Q7: {touchpoint: store, scale: {min: 1, max: 5}, labels: {...}, reverse: true}
    scale: {min: 1, max: 7}            # default rating scale (else study.yml scales by item)
    labels: {"Strongly disagree": 1, "Strongly agree": 7, "Don't know": null}
    reverse: [Q5_3]                    # reverse-keyed columns: value -> min + max - value
    outcomes: {Q10: nps, Q11: {outcome: csat, scale: {min: 1, max: 5}}}
    comments: {Q12: {touchpoint: support}, Q13: {}}

Columns are named by header or by an alias the loader knows (a Qualtrics ImportId).
``scale``, ``labels`` and ``reverse`` at the top level are defaults for the ratings that
an entry may override; an outcome's scale is its own, else 0-10 for ``nps``, else
study.yml's. Labels match ignoring case and repeated spaces; a label mapped to ``null``
means "not answered". Blank answers are not answered: they make no rows and are
counted in ``report.notes``. An answer that is neither a number nor a label, a rating
outside its scale and an NPS outside 0-10 are errors naming file, row and column
(``on_error="exclude"`` drops and counts them instead).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cxresearch.errors import InputError, Problem, fail
from cxresearch.schema import NPS_SCALE, Rules, ValidationReport, as_text, conform

KEYS = ("respondent_id", "segment", "wave", "weight", "attributes", "language", "answered_at",
        "ratings", "scale", "labels", "reverse", "outcomes", "comments")
RATING_KEYS = ("touchpoint", "item", "scale", "labels", "reverse")
OUTCOME_KEYS = ("outcome", "scale", "labels")
RESERVED = ("respondent_id", "segment", "wave", "weight")

Labels = dict[str, float | None]


@dataclass(frozen=True)
class Source:
    """Where a respondent field comes from: a column, a constant or the row number."""

    column: str | None = None
    value: str | None = None
    row_number: bool = False


@dataclass(frozen=True)
class Answer:
    """A rating or outcome column: what it measures and how to read its values."""

    column: str
    key: str  # where it sits in the mapping, e.g. "ratings.Q5_1"
    touchpoint: str | None = None
    item: str = "valence"  # the rating item, or the outcome name
    scale: tuple[int, int] | None = None
    labels: Labels | None = None
    reverse: bool = False


@dataclass(frozen=True)
class Comment:
    column: str
    key: str
    touchpoint: str | None = None


@dataclass(frozen=True)
class Mapping:
    """A parsed and checked survey mapping (see the module docstring)."""

    source: str
    respondent_id: Source
    segment: Source | None = None
    wave: Source | None = None
    weight: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    language: str | None = None
    answered_at: str | None = None
    ratings: tuple[Answer, ...] = ()
    outcomes: tuple[Answer, ...] = ()
    comments: tuple[Comment, ...] = ()

    def columns(self) -> dict[str, str]:
        """Every column the mapping names, as {mapping key: column}."""
        named = {key: src.column for key, src in (("respondent_id", self.respondent_id),
                                                   ("segment", self.segment),
                                                   ("wave", self.wave)) if src and src.column}
        named |= {k: c for k, c in (("weight", self.weight), ("language", self.language),
                                    ("answered_at", self.answered_at)) if c}
        named |= {f"attributes.{name}": col for name, col in self.attributes.items()}
        named |= {a.key: a.column for a in (*self.ratings, *self.outcomes, *self.comments)}
        return named

    def resolve(self, columns: list[str], file: str | Path,
                aliases: dict[str, str] | None = None) -> dict[str, str]:
        """{column as named in the mapping: column of the file}; unknown names fail."""
        present, aliases = set(columns), aliases or {}
        found, problems = {}, []
        for key, col in self.columns().items():
            if col in present:
                found[col] = col
            elif col in aliases:
                found[col] = aliases[col]
            else:
                shown = ", ".join(list(columns)[:30]) + (", ..." if len(columns) > 30 else "")
                problems.append(Problem(str(file), f"mapping key '{key}' names a column that "
                                        f"is not in the file (columns: {shown})", None, col))
        if problems:
            raise InputError(problems)
        return found


# -- parsing -----------------------------------------------------------------------------

def read_mapping(mapping: Mapping | dict | str | Path,
                 near: str | Path | None = None) -> Mapping:
    """Parse and check a mapping given as a dict or a YAML file path.

    A relative path not found from the working directory is looked up beside the
    file ``near`` (the data file: so ``study.yml`` can name a mapping in the study).
    """
    if isinstance(mapping, Mapping):
        return mapping
    source = "mapping"
    if isinstance(mapping, (str, Path)):
        path = Path(mapping)
        if not path.is_file() and not path.is_absolute() and near is not None:
            path = Path(near).parent / path
        if not path.is_file():
            raise fail(path, "mapping file not found")
        source = str(path)
        try:
            mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise fail(path, f"not valid YAML: {exc}",
                       row=mark.line + 1 if mark else None) from None
    return _Parser(source).mapping(mapping)


class _Parser:
    """Checks a raw mapping, failing with the key at fault."""

    def __init__(self, source: str):
        self.source = source

    def error(self, key: str, message: str) -> InputError:
        return fail(self.source, f"mapping key '{key}': {message}")

    def dict(self, value: Any, key: str, known: tuple[str, ...] | None = None) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping, got {type(value).__name__} {value!r}")
        unknown = [k for k in value if known is not None and k not in known]
        if unknown:
            raise self.error(key, f"unknown key '{unknown[0]}' (known: {', '.join(known)})")
        return value

    def name(self, value: Any, key: str) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
            raise self.error(key, f"expected a column name, got {value!r}")
        return str(value)

    def source_of(self, value: Any, key: str, allow_row: bool = False) -> Source:
        if isinstance(value, dict):
            spec = self.dict(value, key, ("value", "row_number") if allow_row else ("value",))
            if spec.get("row_number") is True:
                return Source(row_number=True)
            if "value" not in spec or spec["value"] is None:
                raise self.error(key, "expected a column name or {value: ...}")
            return Source(value=str(spec["value"]))
        return Source(column=self.name(value, key))

    def scale(self, value: Any, key: str) -> tuple[int, int] | None:
        if value is None:
            return None
        spec = self.dict(value, key, ("min", "max"))
        try:
            lo, hi = int(spec["min"]), int(spec["max"])
        except (KeyError, TypeError, ValueError):
            raise self.error(key, "a scale needs whole numbers 'min' and 'max'") from None
        if lo >= hi:
            raise self.error(key, f"scale max ({hi}) must exceed min ({lo})")
        return lo, hi

    def labels(self, value: Any, key: str) -> Labels | None:
        if value is None:
            return None
        out: Labels = {}
        for label, number in self.dict(value, key).items():
            if number is not None and (isinstance(number, bool)
                                       or not isinstance(number, (int, float))):
                raise self.error(key, f"label '{label}' must map to a number or null, "
                                 f"got {number!r}")
            norm = normalise(str(label))
            if norm in out and out[norm] != number:
                raise self.error(key, f"label '{label}' given twice (case and spaces are "
                                 "ignored) with different values")
            out[norm] = None if number is None else float(number)
        return out

    def answer(self, column: Any, spec: Any, key: str, default: dict, rating: bool) -> Answer:
        column = self.name(column, key)
        key = f"{key}.{column}"
        if isinstance(spec, str):
            spec = {"touchpoint" if rating else "outcome": spec}
        spec = self.dict(spec, key, RATING_KEYS if rating else OUTCOME_KEYS)
        what = "touchpoint" if rating else "outcome"
        if not spec.get(what):
            raise self.error(key, f"needs a '{what}'")
        if not rating:  # the top-level defaults are for ratings
            default = {"scale": None, "labels": None, "reverse": set()}
        scale = self.scale(spec.get("scale"), f"{key}.scale") or default["scale"]
        labels = self.labels(spec.get("labels"), f"{key}.labels")
        reverse = spec.get("reverse", column in default["reverse"])
        if not isinstance(reverse, bool):
            raise self.error(key, f"'reverse' must be true or false, got {reverse!r}")
        return Answer(column, key, str(spec["touchpoint"]) if rating else None,
                      str(spec.get("item", "valence") if rating else spec["outcome"]), scale,
                      default["labels"] if labels is None else labels, reverse)

    def mapping(self, raw: Any) -> Mapping:
        if not isinstance(raw, dict):
            raise fail(self.source, f"a mapping must be a dict (or a YAML file holding one), "
                       f"got {type(raw).__name__}")
        raw = self.dict(raw, "(top level)", KEYS)
        if "respondent_id" not in raw:
            raise self.error("respondent_id", "required: the column holding the respondent id")
        reverse = raw.get("reverse") or []
        if not isinstance(reverse, list):
            raise self.error("reverse", "expected a list of rating columns")
        default = {"scale": self.scale(raw.get("scale"), "scale"),
                   "labels": self.labels(raw.get("labels"), "labels"),
                   "reverse": {str(c) for c in reverse}}
        attrs = raw.get("attributes") or {}
        if isinstance(attrs, list):
            attrs = {self.name(c, "attributes"): c for c in attrs}
        attrs = {str(k): self.name(v, f"attributes.{k}")
                 for k, v in self.dict(attrs, "attributes").items()}
        clash = [k for k in attrs if k in RESERVED]
        if clash:
            raise self.error(f"attributes.{clash[0]}", "name taken by a respondents column; "
                             "rename it with {new_name: column}")
        ratings = tuple(self.answer(c, s, "ratings", default, True)
                        for c, s in self.dict(raw.get("ratings"), "ratings").items())
        outcomes = tuple(self.answer(c, s, "outcomes", default, False)
                         for c, s in self.dict(raw.get("outcomes"), "outcomes").items())
        comments = tuple(self.comment(c, s) for c, s in
                         self.dict(raw.get("comments"), "comments").items())
        stray = default["reverse"] - {a.column for a in ratings}
        if stray:
            raise self.error("reverse", f"'{sorted(stray)[0]}' is not a ratings column")
        self.unique(ratings, lambda a: (a.touchpoint, a.item), "touchpoint and item")
        self.unique(outcomes, lambda a: a.item, "outcome")
        optional = {k: self.source_of(raw[k], k) for k in ("segment", "wave") if raw.get(k)}
        return Mapping(self.source, self.source_of(raw["respondent_id"], "respondent_id", True),
                       weight=self.name(raw["weight"], "weight") if raw.get("weight") else None,
                       attributes=attrs,
                       language=self.name(raw["language"], "language")
                       if raw.get("language") else None,
                       answered_at=self.name(raw["answered_at"], "answered_at")
                       if raw.get("answered_at") else None,
                       ratings=ratings, outcomes=outcomes, comments=comments, **optional)

    def comment(self, column: Any, spec: Any) -> Comment:
        column = self.name(column, "comments")
        key = f"comments.{column}"
        if isinstance(spec, str):
            spec = {"touchpoint": spec}
        spec = self.dict(spec, key, ("touchpoint",))
        tp = spec.get("touchpoint")
        return Comment(column, key, None if tp is None else str(tp))

    def unique(self, answers: tuple[Answer, ...], what, label: str) -> None:
        seen: dict = {}
        for a in answers:
            k = what(a)
            if k in seen:
                raise self.error(a.key, f"same {label} as '{seen[k]}' ({k}); each must differ")
            seen[k] = a.key


def normalise(label: str) -> str:
    """A label as matched: case-folded, spaces collapsed."""
    return re.sub(r"\s+", " ", label).strip().casefold()


# -- wide -> tidy ------------------------------------------------------------------------

def to_tidy(raw: pd.DataFrame, mapping: Mapping | dict | str | Path, file: str | Path, *,
            rules: Rules | None = None, on_error: str = "raise",
            report: ValidationReport | None = None,
            aliases: dict[str, str] | None = None,
            value_labels: dict[str, dict] | None = None) -> dict[str, pd.DataFrame]:
    """Turn a wide frame (index = source row numbers) into tidy tables through ``conform``.

    Returns ``respondents`` and, where the mapping has them, ``ratings``, ``outcomes``
    and ``comments``. ``aliases`` gives other names of the frame's columns (ImportIds);
    ``value_labels`` ({column: {code: label}}, from SPSS) turns the codes of the
    columns mapped to segment, wave, attributes and language into their labels.
    """
    if on_error not in ("raise", "exclude"):
        raise ValueError("on_error must be 'raise' or 'exclude'")
    mapping, rules, file = read_mapping(mapping), rules or Rules(), str(file)
    report = ValidationReport.of(report)
    cols = mapping.resolve(list(raw.columns), file, aliases)
    col = {name: raw[cols[name]] for name in cols}
    labels = {name: (value_labels or {}).get(cols[name], {}) for name in cols}
    _check_journey_map(mapping, rules, file, on_error, cols)

    people, renames = _respondents(raw.index, mapping, col, labels)
    before = len(report.problems)
    tables = {"respondents": _conform("respondents", people, file, rules, on_error, report,
                                      {k: cols[v] for k, v in renames.items()})}
    dropped = {p.row for p in report.problems[before:] if p.severity == "excluded"}
    keep = ~raw.index.isin(list(dropped))  # answers of excluded respondents are dropped too
    ids = people["respondent_id"]
    for table, answers in (("ratings", mapping.ratings), ("outcomes", mapping.outcomes)):
        if answers:
            long = _answers(table, answers, col, cols, ids, keep, mapping, rules, file,
                            on_error, report)
            tables[table] = _conform(table, long, file, rules, on_error, report)
    if mapping.comments:
        language = (category(col[mapping.language], labels[mapping.language])
                    if mapping.language else None)
        long = _comments(mapping, col, ids, keep, language, file, report)
        tables["comments"] = _conform("comments", long, file, rules, on_error, report)
    return tables


def category(values: pd.Series, labels: dict | None = None) -> pd.Series:
    """A categorical column as text, codes replaced by their value labels (if any)."""
    text = as_text(values)
    if not labels:
        return text
    key = values if pd.api.types.is_numeric_dtype(values) else text
    labelled = key.map(labels).astype("str")
    return labelled.where(labelled.notna(), text)


def _respondents(index: pd.Index, mapping: Mapping, col: dict[str, pd.Series],
                 labels: dict[str, dict]) -> tuple[pd.DataFrame, dict[str, str]]:
    """The respondents frame, and {its column: the mapping's column} for error messages."""
    people, renames = pd.DataFrame(index=index), {}
    rid = mapping.respondent_id
    if rid.row_number:
        people["respondent_id"] = pd.Series(index.astype(str), index=index)
    else:
        people["respondent_id"], renames["respondent_id"] = as_text(col[rid.column]), rid.column
    for name in ("segment", "wave"):
        src = getattr(mapping, name)
        if src is not None and src.value is not None:
            people[name] = src.value
        elif src is not None:
            people[name] = category(col[src.column], labels[src.column])
            renames[name] = src.column
    if mapping.weight:
        people["weight"], renames["weight"] = col[mapping.weight], mapping.weight
    for name, c in mapping.attributes.items():
        people[name], renames[name] = category(col[c], labels[c]), c
    return people, renames


def _check_journey_map(mapping: Mapping, rules: Rules, file: str, on_error: str,
                       cols: dict[str, str]) -> None:
    """With a journey map and on_error='raise', a mapped touchpoint it lacks fails early."""
    if rules.touchpoints is None or on_error != "raise":
        return
    for a in (*mapping.ratings, *mapping.comments):
        if a.touchpoint is not None and a.touchpoint not in rules.touchpoints:
            known = ", ".join(sorted(rules.touchpoints))
            raise fail(file, f"touchpoint '{a.touchpoint}' (mapping key '{a.key}') is not in "
                       f"the journey map (known: {known})", column=cols[a.column])


def _scale(a: Answer, table: str, rules: Rules, file: str) -> tuple[int, int] | None:
    if table == "outcomes":
        return a.scale or (NPS_SCALE if a.item == "nps" else rules.scales.get(a.item))
    scale = a.scale or rules.scales.get(a.item)
    if scale is None:
        raise fail(file, f"no scale for the ratings of item '{a.item}' (mapping key "
                   f"'{a.key}'): give 'scale' in the mapping or scales.{a.item} in "
                   "study.yml", column=a.column)
    return scale


def numbers(values: pd.Series, labels: Labels | None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Read answers as numbers: (values, not answered, unreadable) for one column.

    Text is parsed once per distinct answer: a label (ignoring case and spaces) or a
    number; a label mapped to None is "not answered".
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = values.astype("float64")
        return num, num.isna(), pd.Series(False, index=values.index)
    codes, distinct = pd.factorize(as_text(values))  # blank -> code -1, the last slot below
    labels = labels or {}
    keys = [normalise(v) for v in distinct]
    number = pd.to_numeric(pd.Series(distinct, dtype="object"), errors="coerce").to_numpy()
    value = np.array([(np.nan if labels[k] is None else labels[k]) if k in labels else n
                      for k, n in zip(keys, number, strict=True)] + [np.nan], dtype="float64")
    silent = np.array([k in labels and labels[k] is None for k in keys] + [True])
    num = pd.Series(value[codes], index=values.index)
    blank = pd.Series(silent[codes], index=values.index)
    return num, blank, ~blank & num.isna()


def _answers(table: str, answers: tuple[Answer, ...], col: dict, cols: dict, ids: pd.Series,
             keep: np.ndarray, mapping: Mapping, rules: Rules, file: str, on_error: str,
             report: ValidationReport) -> pd.DataFrame:
    """Stack the answer columns into long rows, checking each value against its scale."""
    parts, problems, reasons, blanks, orphans = [], [], {}, 0, 0
    for a in answers:
        scale = _scale(a, table, rules, file)
        num, blank, unreadable = numbers(col[a.column], a.labels)
        orphans += int((~keep & ~blank).sum())
        blanks += int((keep & blank).sum())
        answered = keep & ~blank
        hint = (f"one of its labels ({', '.join(list(a.labels)[:7])})" if a.labels
                else "a label (give 'labels' in the mapping to read text answers)")
        checks = [(unreadable, f"answer {{value}} is neither a number nor {hint}",
                   "answer neither a number nor a label")]
        if table == "ratings" or a.item == "nps":
            checks.append((num != np.round(num), "answer {value} is not a whole number",
                           "answer not a whole number"))
        if scale is not None:
            what = ("NPS answer" if a.item == "nps" else "rating" if table == "ratings"
                    else f"{a.item} answer")
            checks.append(((num < scale[0]) | (num > scale[1]),
                           f"{what} {{value}} outside its scale {scale[0]}-{scale[1]}",
                           f"{what} outside its scale"))
        bad = pd.Series(False, index=num.index)
        for mask, message, reason in checks:
            new = answered & mask & ~bad
            problems += [Problem(file, message.format(value=_show(col[a.column].loc[row])),
                                 int(row), cols[a.column]) for row in new[new].index]
            reasons[reason] = reasons.get(reason, 0) + int(new.sum())
            bad |= new
        use = answered & ~bad
        value = scale[0] + scale[1] - num if a.reverse else num
        part = pd.DataFrame({"respondent_id": ids[use], "value": value[use]})
        if table == "ratings":
            part["touchpoint"], part["item"] = a.touchpoint, a.item
            part["scale_min"], part["scale_max"] = scale
            if mapping.answered_at:
                part["answered_at"] = col[mapping.answered_at][use]
        else:
            part["outcome"] = a.item
        parts.append(part)
    if problems and on_error == "raise":
        raise InputError(sorted(problems, key=lambda p: (p.row, str(p.column))))
    report.problems += [dataclasses.replace(p, severity="excluded") for p in problems]
    for reason, n in reasons.items():
        report.exclude(table, file, reason, n)
    report.exclude(table, file, "answer of an excluded respondent row", orphans)
    if blanks:
        report.notes.append(f"{file}: {blanks:,} blank answers (not answered) not turned "
                            f"into {table}")
    return pd.concat(parts).sort_index(kind="stable")  # by respondent, then mapping order


def _show(value: Any) -> str:
    """A cell as quoted in a message: text quoted, whole floats without '.0'."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _comments(mapping: Mapping, col: dict, ids: pd.Series, keep: np.ndarray,
              language: pd.Series | None, file: str, report: ValidationReport) -> pd.DataFrame:
    parts, blanks, orphans = [], 0, 0
    for c in mapping.comments:
        text = as_text(col[c.column])
        use = keep & text.notna()
        blanks += int((keep & text.isna()).sum())
        orphans += int((~keep & text.notna()).sum())
        part = pd.DataFrame({"respondent_id": ids[use], "touchpoint": c.touchpoint,
                             "text": text[use]})
        if language is not None:
            part["language"] = language[use]
        parts.append(part)
    report.exclude("comments", file, "answer of an excluded respondent row", orphans)
    if blanks:
        report.notes.append(f"{file}: {blanks:,} blank open answers not turned into comments")
    return pd.concat(parts).sort_index(kind="stable")


def _conform(table: str, df: pd.DataFrame, file: str, rules: Rules, on_error: str,
             report: ValidationReport, renames: dict[str, str] | None = None) -> pd.DataFrame:
    """``conform``, with problems naming the source column instead of the tidy one."""
    renames = renames or {}

    def rename(p: Problem) -> Problem:
        return dataclasses.replace(p, column=renames.get(p.column, p.column))

    before = len(report.problems)
    try:
        return conform(table, df, file, rules=rules, on_error=on_error, report=report)
    except InputError as exc:
        raise InputError([rename(p) for p in exc.problems]) from None
    finally:
        report.problems[before:] = [rename(p) for p in report.problems[before:]]
