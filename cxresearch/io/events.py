"""Journey event logs (CSV, Parquet, XES) held in DuckDB, and aggregated path counts.

An event log can hold tens of millions of rows, so it is never materialised in
pandas to be loaded or checked. The file is ingested into a private in-memory
DuckDB database (threads = the machine's cores, a memory limit, spilling to a
temporary folder), checked there in SQL, and wrapped in an :class:`EventLog` whose
methods aggregate inside DuckDB and return small pandas frames.

Rules of the event table (``case_id, timestamp, touchpoint, channel, seq`` plus
the file's other columns):

* **Ties keep file order.** ``seq`` is the event's position in the source: the
  0-based record index for CSV and Parquet (so the spreadsheet row is ``seq + 2``),
  document order for XES. A journey is ordered by ``timestamp, seq``: events that
  share a timestamp stay in the order the file lists them, as process-mining
  tools (pm4py, ProM) do with their stable sort.
* **Time zones.** A timestamp with an offset (``2010-12-30 14:32:00+01:00``,
  ``2010-12-30T14:32:00.000+01:00``, ``...Z``) is converted to UTC; one without an
  offset is taken as written. ``timestamp`` is a naive TIMESTAMP in UTC, so a log
  mixing +01:00 and +02:00 (daylight saving) orders correctly.
* Timestamps are read as ISO 8601; other layouts need ``timestamp_format``
  (strptime codes such as ``"%d/%m/%Y %H:%M"``, or a list of them).
* Identifiers and touchpoints are text, trimmed; an empty cell is missing.

Why ingest rather than a lazy view over ``read_csv``: DuckDB's CSV reader gives no
row number, and only an insertion-ordered table gives each record its position
(``rowid``) reliably; a lazy view re-parses the CSV at every query (about 1.2 s
per query at 10 million rows) while the ingested table answers in 0.1-1 s, and a
report runs many queries (paths, transitions, variants). Measured at 10 million
rows (``benchmarks/bench_event_load.py``, 2 cores): load and validate 4 s, peak
RSS about 700 MiB (120 MiB of it imports) against 2.2 GiB for pandas; with the
512 MB memory limit DuckDB spills to disk instead of growing. Parquet takes the
same path (a lazy Parquet view would load in about 1.5 s) to keep one code path
and to free the log from later changes to its file.
"""

from __future__ import annotations

import codecs
import csv
import functools
import gzip
import io
import itertools
import os
import re
import shutil
import tempfile
import weakref
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import defusedxml.ElementTree as SafeET
import duckdb
import pandas as pd
from defusedxml import DefusedXmlException

from cxresearch.errors import InputError, Problem, fail
from cxresearch.io.files import check_file, read_frame, sniff_separator
from cxresearch.schema import PATH_SEPARATOR, Rules, ValidationReport, conform

__all__ = ["EventLog", "connect", "load_events", "load_paths", "load_xes"]

MEMORY_LIMIT = "512MB"  # DuckDB buffer pool per event log; it spills beyond this
MAX_LISTED_ROWS = 1000  # bad rows turned into Problem objects (all are counted)
XES_BATCH = 50_000  # events per Arrow batch inserted into DuckDB
CORE = ("case_id", "timestamp", "touchpoint", "channel")
RESERVED = frozenset(CORE) | {"seq"}
XES_VALUES = frozenset({"string", "date", "int", "float", "boolean", "id"})
DUCKDB_ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "iso8859-1": "latin-1",
                    "utf-16": "utf-16"}
_names = itertools.count(1)


def connect(memory_limit: str = MEMORY_LIMIT, threads: int | None = None
            ) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB sized to this machine, spilling to a temporary folder."""
    if threads is None:
        threads = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count() or 1)
    spill = tempfile.mkdtemp(prefix="cxresearch-duckdb-")
    con = duckdb.connect(":memory:", config={
        "threads": threads, "memory_limit": memory_limit, "temp_directory": spill,
        "preserve_insertion_order": True})
    con.execute("SET TimeZone = 'UTC'")
    weakref.finalize(con, shutil.rmtree, spill, True)
    return con


def _check_mode(on_error: str) -> None:
    if on_error not in ("raise", "exclude"):
        raise ValueError("on_error must be 'raise' or 'exclude'")


def quote_ident(name: str) -> str:
    """``name`` as a DuckDB identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_literal(value: object) -> str:
    """``value`` as a DuckDB string literal."""
    return "'" + str(value).replace("'", "''") + "'"


class EventLog:
    """An event log in DuckDB: one row per touchpoint visit.

    Columns: ``case_id`` (VARCHAR), ``timestamp`` (TIMESTAMP, UTC), ``touchpoint``,
    ``channel`` (nullable), ``seq`` (BIGINT, position in the source file; orders
    events that share a timestamp), then the source's other columns. Queries run
    in DuckDB; only their (small) results become pandas frames.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str = "events",
                 file: str | None = None):
        self.con, self.name, self.file = con, name, file

    @property
    def relation(self) -> duckdb.DuckDBPyRelation:
        """The log as a DuckDB relation (lazy)."""
        return self.con.table(self.name)

    @property
    def columns(self) -> list[str]:
        return list(self.relation.columns)

    def sql(self, query: str) -> pd.DataFrame:
        """Run SQL in which the log is the table ``events``; return the result."""
        return self.relation.query("events", query).df()

    def _scalar(self, query: str) -> int:
        return int(self.relation.query("events", query).fetchall()[0][0])

    def count(self) -> int:
        """Number of events."""
        return self._scalar("SELECT count(*) FROM events")

    def cases(self) -> int:
        """Number of distinct cases (journeys)."""
        return self._scalar("SELECT count(DISTINCT case_id) FROM events")

    def touchpoints(self) -> pd.DataFrame:
        """Events and distinct cases per touchpoint, most visited first."""
        return self.sql("SELECT touchpoint, count(*) AS events, count(DISTINCT case_id) AS cases"
                        " FROM events GROUP BY touchpoint ORDER BY events DESC, touchpoint")

    def to_pandas(self, columns: list[str] | None = None, where: str | None = None
                  ) -> pd.DataFrame:
        """The log (or ``columns`` of the rows matching the SQL ``where``) as a frame.

        Rows come in journey order: by ``case_id``, then ``timestamp``, then ``seq``
        (file order for ties).
        """
        cols = ", ".join(quote_ident(c) for c in columns) if columns else "*"
        cond = f" WHERE {where}" if where else ""
        return self.sql(f"SELECT {cols} FROM events{cond} ORDER BY case_id, timestamp, seq")

    def subset(self, case_ids: Iterable[str]) -> EventLog:
        """The events of the given cases: a view on the same database, kept (with its
        table of case ids) while the connection lives, so relations taken from it stay
        valid."""
        n = next(_names)
        ids, view = f"_cases_{n}", f"_events_{n}"
        self.con.execute(f"CREATE TEMP TABLE {ids} AS SELECT unnest(?::VARCHAR[]) AS case_id",
                         [[str(c) for c in case_ids]])
        self.con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {quote_ident(self.name)} "
                         f"WHERE case_id IN (SELECT case_id FROM {ids})")
        return EventLog(self.con, view, self.file)

    def __len__(self) -> int:
        return self.count()

    def __repr__(self) -> str:
        return f"EventLog({self.file!r}: {self.count():,} events)"


# ---------------------------------------------------------------- validation in SQL


def _build(con: duckdb.DuckDBPyConnection, file: Path, source: str, columns: dict[str, str],
           mapping: dict[str, str | None], *, optional: set[str], rules: Rules | None,
           on_error: str, report: ValidationReport, timestamp_format: str | list[str] | None,
           extra: bool, locate: Callable[[dict], int | str], internal: tuple[str, ...] = (),
           header_row: int | None = None, what: str = "column",
           read_error: Callable[[duckdb.Error], InputError] | None = None) -> EventLog:
    """Stage ``source`` into DuckDB, check it in SQL, keep the good rows as ``events``."""
    absent = [src for role, src in mapping.items()
              if src is not None and src not in columns and role not in optional]
    if absent:
        found = ", ".join(c for c in columns if c not in internal) or "none"
        raise InputError([Problem(str(file), f"missing required {what} for table 'events' "
                                  f"({what}s found: {found})", header_row, c) for c in absent])
    src = {role: (name if name in columns else None) for role, name in mapping.items()}
    used = {n for n in src.values() if n}
    extras = [c for c in columns if extra and c not in used and c not in internal
              and c not in RESERVED]
    if extra and (taken := [c for c in columns if c not in used and c in RESERVED]):
        report.notes.append(f"events in {file}: column(s) {', '.join(taken)} not kept "
                            "(the name belongs to a tidy column)")

    def text(name: str | None) -> str:
        if not name:
            return "NULL::VARCHAR"
        return f"nullif(trim(CAST({quote_ident(name)} AS VARCHAR)), '')"

    ts = src["timestamp"]
    if timestamp_format is not None:
        fmts = ([timestamp_format] if isinstance(timestamp_format, str) else timestamp_format)
        fmt = "[" + ", ".join(quote_literal(f) for f in fmts) + "]"
        parse = f"CAST(CAST(try_strptime({text(ts)}, {fmt}) AS TIMESTAMPTZ) AS TIMESTAMP)"
    else:
        value = text(ts) if columns[ts] == "VARCHAR" else quote_ident(ts)
        parse = f"CAST(TRY_CAST({value} AS TIMESTAMPTZ) AS TIMESTAMP)"
    keep = "".join(f", {quote_ident(c)}" for c in (*internal, *extras))
    try:
        con.execute(f"""CREATE TABLE _staged AS SELECT
            {text(src['case_id'])} AS case_id, __cx_ts AS timestamp,
            {text(src['touchpoint'])} AS touchpoint, {text(src['channel'])} AS channel,
            CASE WHEN __cx_ts IS NULL THEN {text(ts)} END AS __cx_ts_raw{keep}
            FROM (SELECT *, {parse} AS __cx_ts FROM {source})""")
    except duckdb.Error as exc:
        if read_error is None:
            raise fail(file, f"cannot read: {str(exc).splitlines()[0]}") from None
        raise read_error(exc) from None
    if con.execute("SELECT count(*) FROM _staged").fetchone()[0] == 0:
        raise fail(file, "no events: the file holds no rows")

    if rules is not None and rules.touchpoints is not None:
        con.execute("CREATE OR REPLACE TEMP TABLE _journey_map AS "
                    "SELECT unnest(?::VARCHAR[]) AS touchpoint", [sorted(rules.touchpoints)])
        unknown = ("touchpoint IS NOT NULL AND touchpoint NOT IN "
                   "(SELECT touchpoint FROM _journey_map)")
    else:
        unknown = "false"
        report.notes.append(f"events in {file}: no journey map given, "
                            "touchpoint names not checked")
    reason = f"""CASE WHEN case_id IS NULL THEN 'empty case id'
        WHEN timestamp IS NULL AND __cx_ts_raw IS NULL THEN 'empty timestamp'
        WHEN timestamp IS NULL THEN 'unparseable timestamp'
        WHEN touchpoint IS NULL THEN 'empty touchpoint'
        WHEN {unknown} THEN 'touchpoint not in the journey map' END"""
    counts = dict(con.execute(f"SELECT reason, count(*) FROM (SELECT {reason} AS reason "
                              "FROM _staged) WHERE reason IS NOT NULL GROUP BY reason").fetchall())
    where = ""
    if counts:
        problems = _problems(con, file, src, reason, unknown, internal, locate,
                             timestamp_format, sum(counts.values()), counts)
        if on_error == "raise":
            raise InputError(problems)
        report.problems += [Problem(p.file, p.message, p.row, p.column, "excluded")
                            for p in problems]
        for why, n in sorted(counts.items()):
            report.exclude("events", str(file), why, n)
        where = f" WHERE ({reason}) IS NULL"
    rest = "".join(f", {quote_ident(c)}" for c in extras)
    con.execute(f"CREATE TABLE events AS SELECT case_id, timestamp, touchpoint, channel, "
                f"rowid AS seq{rest} FROM _staged{where}")
    con.execute("DROP TABLE _staged")
    log = EventLog(con, "events", str(file))
    report.counts["events"] = report.counts.get("events", 0) + log.count()
    return log


def _problems(con: duckdb.DuckDBPyConnection, file: Path, src: dict[str, str | None],
              reason: str, unknown: str, internal: tuple[str, ...],
              locate: Callable[[dict], int | str], timestamp_format: object, total: int,
              counts: dict[str, int]) -> list[Problem]:
    """One Problem per failed check of the first MAX_LISTED_ROWS bad rows (all are counted)."""
    hint = (f"does not match timestamp_format {timestamp_format!r}" if timestamp_format
            else "expected ISO 8601 such as 2024-03-01 14:05:00+01:00, or pass timestamp_format")
    cols = "".join(f", {quote_ident(c)}" for c in internal)
    cur = con.execute(f"""SELECT rowid AS _rowid, case_id IS NULL AS no_case,
        timestamp IS NULL AS no_ts, __cx_ts_raw AS ts_raw, touchpoint IS NULL AS no_tp,
        ({unknown}) AS unknown, touchpoint{cols}
        FROM _staged WHERE ({reason}) IS NOT NULL ORDER BY rowid LIMIT {MAX_LISTED_ROWS}""")
    names = [d[0] for d in cur.description]
    out = []
    for values in cur.fetchall():
        r = dict(zip(names, values, strict=True))
        row = locate(r)
        if r["no_case"]:
            out.append(Problem(str(file), "empty case id", row, src["case_id"]))
        if r["no_ts"] and r["ts_raw"] is None:
            out.append(Problem(str(file), "empty timestamp", row, src["timestamp"]))
        elif r["no_ts"]:
            out.append(Problem(str(file), f"unparseable timestamp '{r['ts_raw']}' ({hint})",
                               row, src["timestamp"]))
        if r["no_tp"]:
            out.append(Problem(str(file), "empty touchpoint", row, src["touchpoint"]))
        elif r["unknown"]:
            out.append(Problem(str(file), f"touchpoint '{r['touchpoint']}' not in the journey "
                               "map", row, src["touchpoint"]))
    if total > MAX_LISTED_ROWS:
        by_reason = ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items()))
        out.append(Problem(str(file), f"... {total - MAX_LISTED_ROWS:,} more bad rows not "
                           f"listed ({total:,} in all; by reason: {by_reason})"))
    return out


# ---------------------------------------------------------------- CSV and Parquet


def load_events(path: str | Path, *, rules: Rules | None = None, on_error: str = "raise",
                report: ValidationReport | None = None, case_id: str = "case_id",
                timestamp: str = "timestamp", touchpoint: str = "touchpoint",
                channel: str | None = "channel", timestamp_format: str | list[str] | None = None,
                encoding: str = "utf-8", sep: str | None = None, extra: bool = True
                ) -> dict[str, EventLog]:
    """Read an event log from CSV or Parquet into DuckDB, checked in SQL.

    The column options name the file's columns (a pm4py export:
    ``case_id="case:concept:name", touchpoint="concept:name",
    timestamp="time:timestamp"``); ``channel`` is used when present (pass None to
    ignore it). ``extra`` keeps the file's other columns. Bad rows (empty case id,
    empty or unparseable timestamp, empty touchpoint, touchpoint not in
    ``rules.touchpoints``) raise one :class:`InputError` naming file, row and
    column, or with ``on_error="exclude"`` are dropped and counted by reason.
    Parquet is recognised by its content or suffix; anything else is read as CSV.
    """
    _check_mode(on_error)
    path = check_file(path)
    report = ValidationReport.of(report)
    mapping = {"case_id": case_id, "timestamp": timestamp, "touchpoint": touchpoint,
               "channel": channel}
    optional = {"channel"} if channel == "channel" else set()
    con = connect()
    common = dict(rules=rules, on_error=on_error, report=report, optional=optional,
                  timestamp_format=timestamp_format, extra=extra,
                  locate=lambda r: r["_rowid"] + 2)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1" or path.suffix.lower() in (".parquet", ".pq"):
        source = f"read_parquet({quote_literal(path)})"
        try:
            columns = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {source}")
                       .fetchall()}
        except duckdb.Error as exc:
            raise fail(path, f"not a readable Parquet file: {str(exc).splitlines()[0]}") from None
        return {"events": _build(con, path, source, columns, mapping, **common)}
    source, header, sep, cleanup = _csv_source(path, encoding, sep)
    try:
        log = _build(con, path, source, dict.fromkeys(header, "VARCHAR"), mapping,
                     header_row=1, read_error=lambda exc: _csv_error(path, encoding, sep,
                                                                     header, exc), **common)
    finally:
        cleanup()
    return {"events": log}


def _encoding(path: Path, encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise fail(path, f"unknown encoding '{encoding}'") from None


def _py_encoding(name: str) -> str:
    return "utf-8-sig" if name == "utf-8" else name


def _dedupe(names: list[str]) -> list[str]:
    """Unique, non-empty column names (DuckDB compares them case-insensitively)."""
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        base = name.strip() or f"Unnamed: {i}"
        new, k = base, 0
        while new.lower() in seen:
            k += 1
            new = f"{base}.{k}"
        seen.add(new.lower())
        out.append(new)
    return out


def _csv_source(path: Path, encoding: str, sep: str | None
                ) -> tuple[str, list[str], str, Callable[[], None]]:
    """The DuckDB ``read_csv`` call for ``path``, its header, separator and a cleanup."""
    enc = _encoding(path, encoding)
    wide = enc.startswith(("utf-16", "utf-32"))  # newlines are not single bytes
    try:
        with open(path, "rb") as fh:
            head = fh.readline() if not wide else b""
            rest = fh.read(1 << 16)
        if wide:
            with open(path, encoding=enc, newline="") as fh:
                first = fh.readline()
        else:
            first = head.decode(_py_encoding(enc))
        blank = not first.strip() and not rest.strip()
    except UnicodeDecodeError as exc:
        raise fail(path, f"cannot decode the header as {encoding} ({exc.reason}); pass "
                   "encoding='latin-1' or the file's real encoding", row=1) from None
    if blank:
        raise fail(path, "file is empty")
    if not first.strip():
        raise fail(path, "the first line (the header) is blank", row=1)
    sep = sep or sniff_separator(first)
    header = _dedupe(next(csv.reader(io.StringIO(first), delimiter=sep)))
    target, cleanup = path, lambda: None
    if enc not in DUCKDB_ENCODINGS:  # DuckDB reads UTF-8/16 and Latin-1; transcode the rest
        target = _transcode(path, enc, sep, header)
        cleanup = lambda: target.unlink(missing_ok=True)  # noqa: E731
    cols = "{" + ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in header) + "}"
    source = (f"read_csv({quote_literal(target)}, auto_detect=false, header=true, columns={cols}, "
              f"delim={quote_literal(sep)}, quote='\"', escape='\"', strict_mode=true, "
              f"null_padding=false, encoding={quote_literal(DUCKDB_ENCODINGS.get(enc, 'utf-8'))})")
    return source, header, sep, cleanup


def _transcode(path: Path, enc: str, sep: str, header: list[str]) -> Path:
    fd, name = tempfile.mkstemp(prefix="cxresearch-", suffix=".csv")
    target = Path(name)
    try:
        with open(path, encoding=enc, newline="") as src, \
                os.fdopen(fd, "w", encoding="utf-8", newline="") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except UnicodeDecodeError as exc:
        target.unlink(missing_ok=True)
        raise _csv_error(path, enc, sep, header, exc) from None
    return target


class _BadLine(Exception):
    def __init__(self, line: int, raw: bytes, exc: UnicodeDecodeError):
        self.line, self.raw, self.exc = line, raw, exc


def _csv_error(path: Path, encoding: str, sep: str, header: list[str], exc: Exception
               ) -> InputError:
    """Locate why a CSV could not be read (bad bytes, ragged row) with Python's csv module."""
    enc = _encoding(path, encoding)
    record = 1

    def lines() -> Iterator[str]:
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    yield raw.decode(_py_encoding(enc) if number == 1 else enc)
                except UnicodeDecodeError as err:
                    raise _BadLine(number, raw, err) from None

    try:
        if enc.startswith(("utf-16", "utf-32")):
            raise LookupError  # lines cannot be split on bytes; fall back to DuckDB's message
        reader = csv.reader(lines(), delimiter=sep)
        next(reader)
        for fields in reader:
            if not fields:  # blank lines are skipped, as DuckDB and pandas do
                continue
            record += 1
            if len(fields) != len(header):
                return fail(path, f"{len(fields)} fields where the header has {len(header)}",
                            row=record)
    except _BadLine as bad:
        fields = next(csv.reader([bad.raw.decode(enc, errors="replace")], delimiter=sep), [])
        hit = [i for i, f in enumerate(fields) if "\ufffd" in f]
        column = header[hit[0]] if hit and hit[0] < len(header) else None
        return fail(path, f"cannot decode as {encoding} at line {bad.line} (byte "
                    f"{bad.raw[bad.exc.start:bad.exc.start + 1]!r}: {bad.exc.reason}); pass "
                    "encoding='latin-1' or the file's real encoding",
                    row=record + 1 if bad.line > 1 else 1, column=column)
    except csv.Error as err:
        return fail(path, f"not a readable CSV: {err}", row=record + 1)
    except LookupError:
        pass
    line = re.search(r"Line: (\d+)", str(exc))
    return fail(path, f"not a readable CSV: {str(exc).splitlines()[0]}",
                row=int(line.group(1)) if line else None)


# ---------------------------------------------------------------- XES


def load_xes(path: str | Path, *, rules: Rules | None = None, on_error: str = "raise",
             report: ValidationReport | None = None, touchpoint_key: str = "concept:name",
             case_key: str = "concept:name", channel_key: str | None = None,
             lifecycle: str | None = "complete", timestamp_key: str = "time:timestamp",
             extra: bool = True) -> dict[str, EventLog]:
    """Read an XES log (plain or gzipped) into DuckDB, streamed with a safe XML parser.

    Each event's case id is its trace's ``case_key`` attribute; ``touchpoint_key``
    and ``channel_key`` name event attributes. With ``lifecycle`` set, only events
    whose ``lifecycle:transition`` equals it (or that have none) are kept; the rest
    are counted in ``report.notes``. ``extra`` keeps the other event attributes
    (as text) and the trace attributes as ``case:<key>`` columns, as pm4py does.
    DTDs with entities are refused. Problems name ``trace N, event M``.
    """
    _check_mode(on_error)
    path = check_file(path)
    report = ValidationReport.of(report)
    con = connect()
    keys = None if extra else {f"case:{case_key}", timestamp_key, touchpoint_key, channel_key}
    stats = _xes_to_duckdb(con, path, lifecycle, keys)
    columns = dict(row[:2] for row in con.execute("DESCRIBE _xes").fetchall())
    mapping = {"case_id": f"case:{case_key}", "timestamp": timestamp_key,
               "touchpoint": touchpoint_key, "channel": channel_key}
    log = _build(con, path, "_xes", columns, mapping, optional=set(), rules=rules,
                 on_error=on_error, report=report, timestamp_format=None, extra=extra,
                 locate=lambda r: f"trace {r['_trace']}, event {r['_event']}",
                 internal=("_trace", "_event"), what="attribute")
    con.execute("DROP TABLE _xes")
    if stats["lifecycle"]:
        detail = ", ".join(f"{k}: {v:,}" for k, v in stats["lifecycle"].most_common())
        report.notes.append(f"events in {path}: {stats['lifecycle'].total():,} events with "
                            f"lifecycle:transition other than '{lifecycle}' not loaded ({detail})")
    for what, n in (("traces without events", stats["empty_traces"]),
                    ("events outside any trace, not loaded", stats["loose"])):
        if n:
            report.notes.append(f"events in {path}: {n:,} {what}")
    return {"events": log}


def _open_binary(path: Path):
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115


@functools.cache
def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _attributes(elem, prefix: str = "") -> dict[str, str]:
    return {prefix + child.get("key"): child.get("value") for child in elem
            if _local(child.tag) in XES_VALUES and child.get("key") is not None}


def _xes_events(path: Path, stats: dict) -> Iterator[tuple[int, int, dict[str, str]]]:
    """(trace number, event number, attributes) for every event, in document order."""
    root, trace, events = None, 0, []
    in_trace = False
    with _open_binary(path) as fh:
        parser = SafeET.iterparse(fh, events=("start", "end"), forbid_dtd=False,
                                  forbid_entities=True, forbid_external=True)
        for kind, elem in parser:
            tag = _local(elem.tag)
            if kind == "start":
                if root is None:
                    if tag != "log":
                        raise fail(path, f"not an XES log: the root element is <{tag}>")
                    root = elem
                elif tag == "trace":
                    trace, events, in_trace = trace + 1, [], True
                    stats["traces"] = trace
            elif tag == "event":
                if in_trace:
                    events.append(_attributes(elem))
                else:
                    stats["loose"] += 1
                elem.clear()
            elif tag == "trace":
                case = _attributes(elem, "case:")
                stats["empty_traces"] += not events
                for number, attrs in enumerate(events, start=1):
                    yield trace, number, attrs | case
                in_trace = False
                root.clear()


def _xes_to_duckdb(con: duckdb.DuckDBPyConnection, path: Path, lifecycle: str | None,
                   keys: set | None) -> dict:
    """Stream the XES events into the DuckDB table ``_xes`` (text columns) in batches."""
    import pyarrow as pa

    stats = {"loose": 0, "empty_traces": 0, "traces": 0, "lifecycle": Counter()}
    con.execute('CREATE TABLE _xes ("_trace" INTEGER, "_event" INTEGER)')
    known: dict[str, str] = {}  # attribute key -> column name (unique case-insensitively)
    taken = {"_trace", "_event"}
    batch: list[tuple[int, int, dict]] = []
    total = 0

    def flush() -> None:
        names = dict.fromkeys(k for _, _, attrs in batch for k in attrs)
        for key in names:
            if key not in known:
                known[key] = _dedupe([*taken, key])[-1]
                taken.add(known[key].lower())
                con.execute(f"ALTER TABLE _xes ADD COLUMN {quote_ident(known[key])} VARCHAR")
        table = pa.table({"_trace": pa.array([t for t, _, _ in batch], pa.int32()),
                          "_event": pa.array([e for _, e, _ in batch], pa.int32())}
                         | {known[k]: pa.array([a.get(k) for _, _, a in batch], pa.string())
                            for k in names})
        con.register("_xes_batch", table)
        con.execute("INSERT INTO _xes BY NAME SELECT * FROM _xes_batch")
        con.unregister("_xes_batch")
        batch.clear()

    want = lifecycle.lower() if lifecycle else None
    try:
        for trace, number, attrs in _xes_events(path, stats):
            state = attrs.get("lifecycle:transition")
            if want and state is not None and state.lower() != want:
                stats["lifecycle"][state] += 1
                continue
            if keys is not None:
                attrs = {k: v for k, v in attrs.items() if k in keys}
            batch.append((trace, number, attrs))
            total += 1
            if len(batch) >= XES_BATCH:
                flush()
    except SafeET.ParseError as exc:
        line, char = getattr(exc, "position", (None, None))
        raise fail(path, f"not well-formed XML ({str(exc).split(':')[0]})",
                   row=f"line {line}, char {char}" if line else None) from None
    except DefusedXmlException as exc:
        name = getattr(exc, "name", None)
        ref = getattr(exc, "sysid", None)
        what = f"entity '{name}'" + (f" (external: {ref})" if ref else "") if name else str(exc)
        raise fail(path, f"refused for safety: the XML declares an {what}; XES logs need no "
                   "entities", row="DOCTYPE") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise fail(path, f"gzip stream is truncated or corrupt ({exc}); it ended in or after "
                   f"trace {stats['traces']:,}", row=f"trace {stats['traces']}") from None
    if batch:
        flush()
    if total == 0:
        raise fail(path, "no events: the XES log holds no events")
    return stats


# ---------------------------------------------------------------- aggregated paths


def load_paths(path: str | Path, *, rules: Rules | None = None, on_error: str = "raise",
               report: ValidationReport | None = None, path_column: str = "path",
               conversions: str = "total_conversions", nulls: str = "total_null",
               value: str | None = "total_conversion_value", separator: str = PATH_SEPARATOR,
               sep: str | None = None, encoding: str = "utf-8-sig") -> dict[str, pd.DataFrame]:
    """Read journeys already aggregated as path counts into the ``paths`` table.

    One row per distinct path (e.g. ChannelAttribution's ``Data.csv``): the path
    string with its steps joined by ``separator`` (spaces around it optional),
    the number of journeys that converted and that did not, and optionally the
    conversion value. Paths are rewritten with :data:`PATH_SEPARATOR`. An empty
    path or step, a negative count, or (with ``rules.touchpoints``) a step not in
    the journey map is an error naming row and column.
    """
    _check_mode(on_error)
    if not separator:
        raise ValueError("separator must not be empty")
    report = ValidationReport.of(report)
    file = str(path)
    raw = read_frame(path, encoding=encoding, sep=sep)
    names = {"path": path_column, "conversions": conversions, "nulls": nulls, "value": value}
    absent = [c for k, c in names.items() if c is not None and c not in raw.columns
              and k != "value"]
    if absent:
        found = ", ".join(map(str, raw.columns))
        raise InputError([Problem(file, f"missing required column for table 'paths' "
                                  f"(columns found: {found})", 1, c) for c in absent])
    split_on = separator.strip() or separator
    steps = raw[path_column].fillna("").astype(str).str.split(split_on, regex=False)
    steps = steps.map(lambda parts: [p.strip() for p in parts])
    problems: list[tuple[object, str, str, str]] = []  # row, column, message, reason
    for row, parts in steps.items():
        if parts == [""]:
            problems.append((row, path_column, "empty path", "empty path"))
        elif "" in parts:
            problems.append((row, path_column, f"empty step in path '{raw.at[row, path_column]}'",
                             "empty step in path"))
        elif rules is not None and rules.touchpoints is not None:
            for step in dict.fromkeys(p for p in parts if p not in rules.touchpoints):
                problems.append((row, path_column, f"touchpoint '{step}' not in the journey map",
                                 "touchpoint not in the journey map"))
    for column in (conversions, nulls, value):
        if column is not None and column in raw.columns:
            neg = pd.to_numeric(raw[column], errors="coerce") < 0
            what = "negative value" if column == value else "negative count"
            problems += [(row, column, what, what) for row in raw.index[neg]]
    problems.sort(key=lambda p: p[0])
    bad = raw.index.isin([p[0] for p in problems])
    tidy = pd.DataFrame({"path": steps.map(PATH_SEPARATOR.join).where(raw[path_column].notna()),
                         "conversions": raw[conversions], "nulls": raw[nulls]}, index=raw.index)
    if value is not None and value in raw.columns:
        tidy["value"] = raw[value]
    found = ValidationReport()
    out = conform("paths", tidy.loc[~bad], file, rules=rules, on_error="exclude", report=found)
    back = {k: v for k, v in names.items() if v is not None}
    theirs = [Problem(p.file, p.message, p.row, back.get(p.column, p.column))
              for p in found.problems]
    mine = [Problem(file, msg, row, col) for row, col, msg, _ in problems]
    if on_error == "raise" and (mine or theirs):
        raise InputError(sorted(mine + theirs, key=lambda p: (int(p.row), p.column or "")))
    first_reason: dict[object, str] = {}
    for row, _, _, why in problems:
        first_reason.setdefault(row, why)
    for why, n in Counter(first_reason.values()).items():
        report.exclude("paths", file, why, n)
    report.problems += [Problem(p.file, p.message, p.row, p.column, "excluded")
                        for p in mine + theirs]
    found.problems = []
    report.merge(found)
    return {"paths": out}
