"""A study: a folder of sources read into the tidy tables, with a validation report.

A study folder holds tidy files named after their table (``ratings.csv``,
``events.parquet``, ...) and, optionally, ``study.yml``::

    name: Onboarding study 2026
    scales:                       # item or outcome -> scale
      valence: {min: 1, max: 7}
      csat: {min: 1, max: 5}
    sources:                      # files in other shapes, each through a loader
      - {file: survey.csv, format: qualtrics, mapping: qualtrics_map.yml}
      - {file: interviews.qdpx, format: refi-qda}

``touchpoints`` (the journey map) is read first; every other table is checked
against it.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cxresearch.errors import fail
from cxresearch.io import guess_format, loader
from cxresearch.schema import TABLE_NAMES, Rules, ValidationReport, empty

TABLE_SUFFIXES = (".csv", ".parquet", ".xlsx")
STUDY_FILE = "study.yml"


@dataclass
class Study:
    """The tidy tables of one study, its configuration and its validation report."""

    path: Path
    config: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    report: ValidationReport
    event_log: Any = None  # cxresearch.io.events.EventLog, DuckDB-backed
    files: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.config.get("name", self.path.name)

    @property
    def scales(self) -> dict[str, tuple[int, int]]:
        return _scales(self.config)

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name in TABLE_NAMES and name != "events":
            return self.__dict__["tables"].get(name, empty(name))
        raise AttributeError(name)

    @cached_property
    def events(self) -> pd.DataFrame:
        """The event log as a pandas frame (use ``event_log`` for large logs)."""
        return self.event_log.to_pandas() if self.event_log is not None else empty("events")

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the study folder's files (names and bytes): same data, same hash."""
        return fingerprint(self.path)

    def subset(self, segment: str | None = None, wave: str | None = None) -> Study:
        """The study restricted to one segment and/or wave (both None: the study itself).

        Tables keyed by respondent keep the rows of the chosen respondents; rows whose
        respondent is unknown (no id, or not in the respondents table) cannot be placed
        in a segment or wave and are left out, counted in ``report.notes``. The event log
        keeps the cases of the chosen respondents when its case ids are respondent ids
        (else it is kept whole, with a note). The journey map, codebook and aggregated
        paths are kept whole.
        """
        if segment is None and wave is None:
            return self
        people = self.respondents
        if segment is not None:
            people = people[people["segment"] == str(segment)]
        if wave is not None:
            people = people[people["wave"] == str(wave)]
        keep, known = set(people["respondent_id"]), set(self.respondents["respondent_id"])
        report = ValidationReport(dict(self.report.counts), list(self.report.problems),
                                  list(self.report.exclusions), list(self.report.notes))
        tables = {}
        for name, df in self.tables.items():
            if "respondent_id" not in df.columns or name == "respondents":
                tables[name] = df
                continue
            ids = df["respondent_id"]
            unknown = int((~ids.isin(known)).sum())
            if unknown:
                report.notes.append(f"subset: {unknown} {name} rows of unknown respondents "
                                    "(no id or not in the respondents table) left out")
            tables[name] = df[ids.isin(keep)].reset_index(drop=True)
        tables["respondents"] = people.reset_index(drop=True)
        log = self.event_log
        if log is not None:
            cases = set(log.sql("SELECT DISTINCT case_id FROM events")["case_id"])
            if cases & known:
                log = log.subset(keep)
            else:
                report.notes.append("subset: event-log case ids are not respondent ids; "
                                    "the whole log is kept")
        return Study(self.path, self.config, tables, report, log, self.files)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v:,}" for k, v in self.report.counts.items())
        return f"Study({self.name!r}: {counts}; {len(self.report.errors)} errors)"


def fingerprint(root: str | Path) -> str:
    """SHA-256 (first 16 hex digits) over every file of a study folder but hidden ones."""
    root = Path(root)
    digest = hashlib.sha256()
    files = [f for f in root.rglob("*") if f.is_file()
             and not any(part.startswith(".") for part in f.relative_to(root).parts)]
    for f in sorted(files):
        digest.update(str(f.relative_to(root)).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _scales(config: dict) -> dict[str, tuple[int, int]]:
    return {k: (int(v["min"]), int(v["max"])) for k, v in config.get("scales", {}).items()}


def _read_config(root: Path) -> dict:
    path = root / STUDY_FILE
    if not path.exists():
        return {}
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise fail(path, f"not valid YAML: {exc}",
                   row=mark.line + 1 if mark else None) from None
    if not isinstance(config, dict):
        raise fail(path, "expected a mapping at the top level")
    for name, scale in config.get("scales", {}).items():
        if not isinstance(scale, dict) or not {"min", "max"} <= set(scale):
            raise fail(path, f"scale '{name}' needs 'min' and 'max'", column="scales")
    return config


def _sources(root: Path, config: dict) -> list[dict]:
    """Every source to read: the configured ones, then tidy files named after tables."""
    sources = []
    for i, spec in enumerate(config.get("sources", []), start=1):
        spec = {"file": spec} if isinstance(spec, str) else dict(spec)
        if "file" not in spec:
            raise fail(root / STUDY_FILE, f"source {i} has no 'file'", column="sources")
        spec.setdefault("format", guess_format(spec["file"]))
        _check_source(root / STUDY_FILE, i, spec)
        sources.append(spec)
    named = {Path(s["file"]).name for s in sources}
    for table in TABLE_NAMES:
        for suffix in TABLE_SUFFIXES:
            f = root / f"{table}{suffix}"
            if f.exists() and f.name not in named:
                fmt = {"events": "events", "paths": "paths"}.get(table, "tidy")
                sources.append({"file": f.name, "format": fmt}
                               | ({"table": table} if fmt == "tidy" else {}))
    # the journey map first: the other tables are checked against it
    return sorted(sources, key=lambda s: s.get("table") != "touchpoints")


def _check_source(config_file: Path, i: int, spec: dict) -> None:
    """A source's format and options must fit its loader: say which source and key."""
    where = f"source {i} ({spec['file']})"
    try:
        accepted = inspect.signature(loader(spec["format"])).parameters
    except ValueError as exc:
        raise fail(config_file, str(exc), row=where, column="format") from None
    for key in spec:
        if key not in ("file", "format") and key not in accepted:
            options = [p for p in accepted if p not in ("path", "rules", "on_error", "report")]
            raise fail(config_file, f"unknown option '{key}' for format '{spec['format']}' "
                       f"(options: {', '.join(options)})", row=where, column=key)
    for name, param in accepted.items():
        if (param.kind is param.KEYWORD_ONLY and param.default is param.empty
                and name not in spec):
            raise fail(config_file, f"format '{spec['format']}' needs '{name}'", row=where,
                       column=name)


def load_study(path: str | Path, *, on_error: str = "raise") -> Study:
    """Read a study folder into the tidy tables.

    ``on_error="raise"`` stops at the first source with bad rows (the error lists
    them all, with file, row and column); ``on_error="exclude"`` drops bad rows
    and counts each, by reason, in ``study.report``.
    """
    root = Path(path)
    if not root.is_dir():
        raise fail(root, "study folder not found")
    config = _read_config(root)
    report = ValidationReport()
    rules = Rules(scales=_scales(config))
    parts: dict[str, list[tuple[Path, pd.DataFrame]]] = {}
    event_log = None
    files = [root / STUDY_FILE] if (root / STUDY_FILE).exists() else []
    for spec in _sources(root, config):
        options = {k: v for k, v in spec.items() if k not in ("file", "format")}
        file = root / spec["file"]
        files.append(file)
        tables = loader(spec["format"])(file, rules=rules, on_error=on_error,
                                        report=report, **options)
        for name, table in tables.items():
            if name == "events":
                if event_log is not None:
                    raise fail(file, "a study holds one event log; this is a second")
                event_log = table
            else:
                parts.setdefault(name, []).append((file, table))
        if "touchpoints" in tables:
            rules = Rules(scales=rules.scales,
                          touchpoints=frozenset(tables["touchpoints"]["touchpoint"]))
    _cross_checks(parts, root, report)
    tables = {name: pd.concat([t for _, t in found], ignore_index=True) if len(found) > 1
              else found[0][1] for name, found in parts.items()}
    return Study(root, config, tables, report, event_log, files)


def _cross_checks(parts: dict[str, list[tuple[Path, pd.DataFrame]]], root: Path,
                  report: ValidationReport) -> None:
    """Checks across tables: answers from people the respondents table does not know."""
    from cxresearch.errors import Problem

    if "respondents" not in parts:
        return
    known = set().union(*(set(t["respondent_id"]) for _, t in parts["respondents"]))
    for name in ("ratings", "outcomes", "comments"):
        for file, table in parts.get(name, []):
            unknown = ~table["respondent_id"].isin(known)
            if unknown.any():
                ids = table.loc[unknown, "respondent_id"].unique()[:5]
                report.problems.append(Problem(
                    str(file.relative_to(root)) if file.is_relative_to(root) else str(file),
                    f"{int(unknown.sum())} {name} rows from respondents not in the "
                    f"respondents table (e.g. {', '.join(ids)})", None, "respondent_id",
                    "warning"))
