"""Journeys from event logs: paths, variants, transitions, drop-off and time between steps.

Every function takes an event log and returns a pandas frame (one row per journey
for :func:`paths`, small aggregates otherwise); the work runs in DuckDB SQL (window
functions and ordered list aggregates over touchpoint codes), so a log of 10^7
events is aggregated without being loaded into pandas. Accepted inputs:

* an :class:`~cxresearch.io.events.EventLog` (DuckDB-backed);
* a :class:`~cxresearch.Study` (its ``event_log``, and its ``outcomes`` for conversion;
  a study without events but with aggregated ``paths`` uses those);
* a tidy events frame (``case_id, timestamp, touchpoint``, optional ``seq``);
* for :func:`variants`, :func:`transitions` and :func:`dropoff` also journeys already
  aggregated: the tidy ``paths`` table (``path, conversions, nulls``, e.g. from
  :func:`~cxresearch.io.events.load_paths` or :func:`variants`) or the frame of
  :func:`paths` (``path, converted``), counted as the journeys they stand for.

Rules, the same in every function:

* **Order.** A journey is its events ordered by ``timestamp``, then ``seq`` (the
  event's position in the source file; for a frame, its ``seq`` column or else its
  row order), so events sharing a timestamp keep file order.
* **Journey.** One case, or with ``session_gap`` (``"30 minutes"``) one session: a
  new session starts when an event comes more than ``session_gap`` after the
  previous event of the case (a gap of exactly ``session_gap`` does not split).
* **Repeats.** ``collapse_repeats=True`` merges immediate repeats (``a > a > b``
  becomes ``a > b``; the merged step takes the time of the first of the run);
  loops (``a > b > a``) are kept. Sessions are split before repeats are merged.
* **Conversion.** A journey ends in ``"Conversion"`` when it has a conversion
  signal, otherwise in ``"Drop-off"``. The signals: an event at one of
  ``conversion_touchpoints`` (the event stays in the path), or a ``converted``
  outcome of 1 for the case in ``outcomes`` (the tidy outcomes table, whose
  ``respondent_id`` is matched with ``case_id``; or a mapping / Series case id ->
  0/1). Either signal suffices. A case-level outcome converts only the case's last
  session. A case without an outcome row is a Drop-off (a warning says how many).
  For a Study, ``outcomes`` defaults to the study's ``converted`` outcomes when no
  signal is given (this is how the synthetic and demo studies mark conversion:
  the absorbing Conversion state is not written as an event). With no signal at
  all, every journey is a Drop-off and a warning says so; pass
  ``conversion_touchpoints=()`` to state that on purpose.
* **Touchpoints** are taken as they are: a name missing from the journey map still
  forms paths and states (checking names against the map is the loader's job,
  ``rules.touchpoints``). The state names ``Start``, ``Conversion`` and
  ``Drop-off`` may not be touchpoint names (ValueError).
* An empty log (e.g. a subset with no events) gives empty frames with the same
  columns and dtypes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxresearch.errors import warn
from cxresearch.io.events import EventLog, connect, quote_ident, quote_literal
from cxresearch.schema import PATH_SEPARATOR
from cxresearch.study import Study

__all__ = ["CONVERSION", "DROP_OFF", "START", "dropoff", "paths", "time_between",
           "transition_matrix", "transitions", "variants"]

START, CONVERSION, DROP_OFF = "Start", "Conversion", "Drop-off"
STATES = (START, CONVERSION, DROP_OFF)
CONVERTED = "converted"
EVENT_COLUMNS = ("case_id", "timestamp", "touchpoint")
_names = itertools.count(1)

PATHS_COLUMNS = {"case_id": "str", "session": "int64", "path": "str", "steps": "int64",
                 "events": "int64", "first_timestamp": "datetime64[us]",
                 "last_timestamp": "datetime64[us]", "duration": "timedelta64[us]",
                 "converted": "bool", "end_state": "str"}
VARIANTS_COLUMNS = {"path": "str", "steps": "int64", "journeys": "int64", "share": "float64",
                    "conversions": "int64", "nulls": "int64", "conversion_rate": "float64"}
TRANSITIONS_COLUMNS = {"from": "str", "to": "str", "count": "int64", "share": "float64"}
DROPOFF_COLUMNS = {"touchpoint": "str", "visits": "int64", "journeys": "int64",
                   "ended": "int64", "conversions": "int64", "drop_offs": "int64",
                   "dropoff_rate_per_visit": "float64", "dropoff_rate_per_journey": "float64"}
TIME_COLUMNS = {"from": "str", "to": "str", "count": "int64", "median_s": "float64",
                "mean_s": "float64", "p90_s": "float64", "median_h": "float64",
                "mean_h": "float64", "p90_h": "float64"}


def _typed(df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """The result with exactly ``columns`` in their dtypes (also when empty)."""
    return pd.DataFrame({c: df[c].astype(t) for c, t in columns.items()}).reset_index(drop=True)


# ---------------------------------------------------------------- inputs


@dataclass
class _Source:
    """Where a function's SQL reads from: events (``src``) or path counts (``counts``)."""

    con: object
    src: str | None = None  # events: a relation with case_id, ts, touchpoint, seq
    counts: str | None = None  # path counts: a relation with path, n, conv
    outcome_table: str | None = None  # case_id, converted (one row per case)
    conversion_touchpoints: tuple[str, ...] = ()
    outcome_label: str = CONVERTED


def _gap_us(session_gap: object) -> int | None:
    if session_gap is None:
        return None
    try:
        gap = pd.Timedelta(session_gap)
    except (ValueError, TypeError):
        raise ValueError(f"session_gap {session_gap!r} is not a duration such as "
                         "'30 minutes'") from None
    if pd.isna(gap) or gap <= pd.Timedelta(0):
        raise ValueError(f"session_gap must be positive, got {session_gap!r}")
    return int(gap / pd.Timedelta(microseconds=1))


def _outcome_input(outcomes: object) -> pd.DataFrame:
    """``outcomes`` as a frame with respondent_id, outcome, value (tidy, or from a mapping)."""
    if isinstance(outcomes, pd.DataFrame):
        missing = {"respondent_id", "outcome", "value"} - set(outcomes.columns)
        if missing:
            raise ValueError("outcomes needs the tidy columns respondent_id, outcome, value "
                             f"(missing: {', '.join(sorted(missing))})")
        return outcomes[["respondent_id", "outcome", "value"]]
    if isinstance(outcomes, (Mapping, pd.Series)):
        series = pd.Series(outcomes) if isinstance(outcomes, Mapping) else outcomes
        values = pd.to_numeric(pd.Series(np.asarray(series, dtype=object)), errors="coerce")
        return pd.DataFrame({"respondent_id": np.asarray(series.index).astype(str),
                             "outcome": CONVERTED, "value": values.to_numpy(dtype=float)})
    raise TypeError("outcomes must be the tidy outcomes table, a mapping or a Series "
                    f"of case id -> 0/1, not {type(outcomes).__name__}")


def _outcome_table(con, raw: str, table: str, label: str) -> None:
    """Create the temp table ``table`` (case_id, converted) from the outcomes in ``raw``."""
    rows = (f"SELECT trim(CAST(respondent_id AS VARCHAR)) AS case_id, TRY_CAST(value AS DOUBLE)"
            f" AS v FROM {raw} WHERE CAST(outcome AS VARCHAR) = {quote_literal(label)}")
    total, bad, shown = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE v IS NULL OR v NOT IN (0, 1)), "
        f"list(case_id) FILTER (WHERE v IS NULL OR v NOT IN (0, 1))[1:5] FROM ({rows})"
    ).fetchone()
    if total == 0:
        raise ValueError(f"outcomes has no '{label}' rows to define conversion")
    if bad:
        raise ValueError(f"'{label}' must be 0 or 1; {bad} other value(s) (cases "
                         f"{', '.join(map(str, shown))})")
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT case_id, bool_or(v = 1) AS converted "
                f"FROM ({rows}) GROUP BY case_id")


def _counts_frame(data: pd.DataFrame) -> pd.DataFrame:
    """Aggregated journeys (tidy ``paths`` table or the frame of :func:`paths`) as
    path, n (journeys), conv (converted journeys)."""
    if {"conversions", "nulls"} <= set(data.columns):
        conv = pd.to_numeric(data["conversions"], errors="coerce")
        nulls = pd.to_numeric(data["nulls"], errors="coerce")
        bad = conv.isna() | nulls.isna() | (conv < 0) | (nulls < 0) | (conv % 1 != 0) | (
            nulls % 1 != 0)
        if bad.any():
            raise ValueError(f"conversions and nulls must be whole numbers >= 0 "
                             f"({int(bad.sum())} row(s) are not)")
        frame = pd.DataFrame({"path": data["path"], "n": (conv + nulls).astype("int64"),
                              "conv": conv.astype("int64")})
    elif "converted" in data.columns:
        converted = data["converted"]
        if converted.isna().any():
            raise ValueError("the paths frame has journeys with no 'converted' value")
        frame = pd.DataFrame({"path": data["path"], "n": 1,
                              "conv": converted.astype("bool").astype("int64")})
    else:
        raise ValueError("a paths frame needs 'conversions' and 'nulls' (aggregated paths) "
                         "or 'converted' (one row per journey, as from paths())")
    path = frame["path"].astype("str")
    steps = path.str.split(PATH_SEPARATOR, regex=False)
    empty = frame["path"].isna() | steps.map(lambda s: "" in s)
    if empty.any():
        raise ValueError(f"{int(empty.sum())} path(s) are empty or have an empty step "
                         f"(steps are joined by {PATH_SEPARATOR!r})")
    used = set(itertools.chain.from_iterable(steps)) & set(STATES)
    if used:
        raise ValueError(f"touchpoint name(s) {sorted(used)} are reserved for the states "
                         f"{', '.join(STATES)}")
    return frame.assign(path=path)


def _study_outcomes(study: Study, label: str) -> pd.DataFrame | None:
    outcomes = study.tables.get("outcomes")
    if outcomes is None or outcomes.empty or not (outcomes["outcome"] == label).any():
        return None
    return outcomes


@contextmanager
def _open(data: object, *, session_gap: object = None,
          conversion_touchpoints: Iterable[str] | None = None, outcomes: object = None,
          conversion_outcome: str = CONVERTED, events_only: bool = False) -> Iterator[_Source]:
    """Resolve ``data`` to a DuckDB source; registrations are undone on exit."""
    if isinstance(data, Study):
        if outcomes is None and conversion_touchpoints is None:
            outcomes = _study_outcomes(data, conversion_outcome)
        if data.event_log is not None:
            data = data.event_log
        elif not data.tables.get("paths", pd.DataFrame()).empty and not events_only:
            data = data.tables["paths"]
            outcomes = conversion_touchpoints = None
        else:
            raise ValueError("the study has no event log" + ("" if events_only else
                                                            " and no aggregated paths"))
    with ExitStack() as stack:
        n = next(_names)

        def register(con, name: str, frame: pd.DataFrame) -> str:
            con.register(name, frame)
            stack.callback(con.unregister, name)
            return name

        if isinstance(data, pd.DataFrame) and "path" in data.columns \
                and not set(EVENT_COLUMNS) <= set(data.columns):
            if events_only:
                raise ValueError("this needs an event log (timestamps); got aggregated paths")
            if session_gap is not None:
                raise ValueError("session_gap needs an event log; paths are already journeys")
            if outcomes is not None or conversion_touchpoints:
                raise ValueError("conversion of aggregated paths is in the paths themselves; "
                                 "outcomes and conversion_touchpoints apply to event logs")
            con = connect()
            stack.callback(con.close)
            yield _Source(con, counts=register(con, f"_cx_counts_{n}", _counts_frame(data)))
            return
        if isinstance(data, EventLog):
            con, src = data.con, quote_ident(data.name)
        elif isinstance(data, pd.DataFrame):
            missing = [c for c in EVENT_COLUMNS if c not in data.columns]
            if missing:
                raise ValueError(f"an events frame needs columns {', '.join(EVENT_COLUMNS)} "
                                 f"(missing: {', '.join(missing)})")
            frame = data[list(EVENT_COLUMNS)].assign(
                seq=data["seq"] if "seq" in data.columns else np.arange(len(data)))
            if frame[list(EVENT_COLUMNS)].isna().any(axis=None):
                raise ValueError("the events frame has empty case_id, timestamp or touchpoint "
                                 "values")
            con = connect()
            stack.callback(con.close)
            raw = register(con, f"_cx_frame_{n}", frame)
            src = f"_cx_events_{n}"
            con.execute(f"CREATE TEMP VIEW {src} AS SELECT CAST(case_id AS VARCHAR) AS case_id,"
                        " CAST(timestamp AS TIMESTAMP) AS timestamp, "
                        f"CAST(touchpoint AS VARCHAR) AS touchpoint, seq FROM {raw}")
            stack.callback(con.execute, f"DROP VIEW IF EXISTS {src}")
        else:
            raise TypeError("expected an EventLog, a Study, an events frame or a paths frame, "
                            f"not {type(data).__name__}")
        tps = None if conversion_touchpoints is None else tuple(
            [conversion_touchpoints] if isinstance(conversion_touchpoints, str)
            else conversion_touchpoints)
        otab = None
        if outcomes is not None:
            raw = register(con, f"_cx_outcomes_raw_{n}", _outcome_input(outcomes))
            otab = f"_cx_outcomes_{n}"
            stack.callback(con.execute, f"DROP TABLE IF EXISTS {otab}")
            _outcome_table(con, raw, otab, conversion_outcome)
        _check_events(con, src, tps or (),
                      warn_no_signal=not events_only and tps is None and otab is None)
        yield _Source(con, src=src, outcome_table=otab, conversion_touchpoints=tps or (),
                      outcome_label=conversion_outcome)


def _check_events(con, src: str, tps: tuple[str, ...], warn_no_signal: bool) -> None:
    """Reserved state names are refused; a conversion definition that cannot work warns."""
    names = ", ".join(quote_literal(s) for s in (*STATES, *tps))
    found = dict(con.execute(f"SELECT touchpoint, count(*) FROM {src} WHERE touchpoint IN "
                             f"({names}) GROUP BY ALL").fetchall())
    reserved = sorted(set(found) & set(STATES))
    if reserved:
        raise ValueError(f"touchpoint name(s) {reserved} are reserved for the states "
                         f"{', '.join(STATES)}; rename them in the log")
    if warn_no_signal:
        warn("no conversion signal given (conversion_touchpoints or outcomes): every "
             "journey ends in Drop-off")
    if tps and not set(tps) & set(found) and con.execute(
            f"SELECT EXISTS (SELECT 1 FROM {src})").fetchone()[0]:
        warn(f"none of the conversion_touchpoints {list(tps)} occurs in the log")


def _finish(s: _Source, df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Warn about cases without an outcome row (column ``_missing``), then type the result."""
    missing = df["_missing"].iloc[0] if "_missing" in df.columns and len(df) else 0
    if pd.notna(missing) and (missing := int(missing)):
        warn(f"{missing:,} case(s) have no '{s.outcome_label}' outcome and count as "
             "Drop-off unless a conversion touchpoint converts them")
    return _typed(df, columns)


# ---------------------------------------------------------------- SQL building blocks
#
# Touchpoints are coded as small integers (``d``: touchpoint -> code, ``names``: the
# list of names, ``nm[code]``) before any sort or per-journey list is built: lists of
# integers are several times cheaper than lists of strings and keep DuckDB within its
# memory limit at 10^7 events (lists of strings ran out of 512 MB there).


def _collapse(expr: str) -> str:
    return f"list_filter({expr}, lambda x, i: i = 1 OR x <> {expr}[i - 1])"


def _events_ctes(s: _Source, gap_us: int | None, keep: bool = False) -> list[str]:
    """CTEs ``d``, ``names`` and ``ev`` (case_id, ts, seq, code, conv_ev, session,
    last_session, keep): every event with its touchpoint code, whether it is a
    conversion touchpoint, its session and (with ``keep``) whether it starts a step
    (false for an immediate repeat, which ``collapse_repeats`` merges)."""
    conv = (f"touchpoint IN ({', '.join(map(quote_literal, s.conversion_touchpoints))})"
            if s.conversion_touchpoints else "false")
    ctes = [f"d AS (SELECT touchpoint, (row_number() OVER (ORDER BY touchpoint))::INTEGER AS "
            f"code FROM (SELECT DISTINCT touchpoint FROM {s.src}))",
            "names AS (SELECT list(touchpoint ORDER BY code) AS nm FROM d)",
            f"ev0 AS (SELECT case_id, timestamp AS ts, seq, code, {conv} AS conv_ev "
            f"FROM {s.src} JOIN d USING (touchpoint))"]
    if gap_us is None and not keep:
        return [*ctes, "ev AS (SELECT *, 1 AS session, true AS last_session, true AS keep "
                       "FROM ev0)"]
    split = (f"coalesce(date_diff('microsecond', lag(ts) OVER o, ts) > {gap_us}, true)"
             if gap_us is not None else "lag(ts) OVER o IS NULL")
    ctes.append(f"ev1 AS (SELECT *, {split} AS new_session, lag(code) OVER o AS prev "
                "FROM ev0 WINDOW o AS (PARTITION BY case_id ORDER BY ts, seq))")
    if gap_us is None:
        session, last = "1", "true"
    else:
        session = ("sum(new_session::BIGINT) OVER (o ROWS UNBOUNDED PRECEDING)")
        last = ("session = sum(new_session::BIGINT) OVER (o ROWS BETWEEN UNBOUNDED PRECEDING "
                "AND UNBOUNDED FOLLOWING)")
    flag = "new_session OR prev IS DISTINCT FROM code" if keep else "true"
    ctes.append(f"ev AS (SELECT case_id, ts, seq, code, conv_ev, {session} AS session, "
                f"{last} AS last_session, {flag} AS keep FROM ev1 "
                "WINDOW o AS (PARTITION BY case_id ORDER BY ts, seq))")
    return ctes


def _converted(s: _Source, conv_tp: str, key: str = "case_id") -> tuple[str, str, str]:
    """SQL for a journey's conversion (given its touchpoint signal ``conv_tp``), for
    whether its case lacks an outcome row (counted once, in the last session), and the
    join to the outcome table they need (on ``key``)."""
    if s.outcome_table is None:
        return conv_tp, "false", ""
    return (f"({conv_tp} OR coalesce(o.converted AND last_session, false))",
            "(o.case_id IS NULL AND last_session)",
            f" LEFT JOIN {s.outcome_table} o ON o.case_id = {key}")


def _journeys_ctes(s: _Source, gap_us: int | None, collapse: bool) -> list[str]:
    """CTEs ending in ``jc`` (case_id, session, l: touchpoint codes, events, first_ts,
    last_ts, converted), one row per journey."""
    converted, missing, join = _converted(s, "conv_tp", "j.case_id")
    l_expr = _collapse("l") if collapse else "l"
    return [*_events_ctes(s, gap_us),
            "j AS (SELECT case_id, session, list(code ORDER BY ts, seq) AS l, count(*) AS "
            "events, min(ts) AS first_ts, max(ts) AS last_ts, bool_or(conv_ev) AS conv_tp, "
            "bool_and(last_session) AS last_session FROM ev GROUP BY case_id, session)",
            f"jc AS (SELECT j.case_id, session, {l_expr} AS l, events, first_ts, last_ts, "
            f"{converted} AS converted, {missing} AS missing FROM j{join})"]


def _variants_ctes(s: _Source, gap_us: int | None, collapse: bool) -> list[str]:
    """CTEs ending in ``v`` (tps: list of touchpoints, n: journeys, conv: converted)."""
    if s.counts is not None:
        tps = f"string_split(path, {quote_literal(PATH_SEPARATOR)})"
        return [f"v AS (SELECT {_collapse(tps) if collapse else tps} AS tps, "
                f"sum(n)::BIGINT AS n, sum(conv)::BIGINT AS conv, 0 AS missing "
                f"FROM {s.counts} GROUP BY 1)"]
    return [*_journeys_ctes(s, gap_us, collapse),
            "v0 AS (SELECT array_to_string(l, ',') AS k, any_value(l) AS l, count(*) AS n, "
            "count(*) FILTER (WHERE converted) AS conv, count(*) FILTER (WHERE missing) AS "
            "missing FROM jc GROUP BY k)",
            "v AS (SELECT list_transform(l, lambda x: nm[x]) AS tps, n, conv, missing "
            "FROM v0, names)"]


def _steps_ctes(s: _Source, gap_us: int | None, collapse: bool, times: bool = False
                ) -> list[str]:
    """CTEs ending in ``st`` (case_id, code, first, nx, last_session, conv_tp; with
    ``times`` also ts, nx_ts): every step of every journey with the next step, by one
    window pass. Only the window functions needed are asked for (each costs time at
    10^7 events)."""
    conv_tp = ("bool_or(conv_ev) OVER (o ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED "
               "FOLLOWING)" if s.conversion_touchpoints else "false")
    extra = ", ts, lead(ts) OVER o AS nx_ts" if times else ""
    return [*_events_ctes(s, gap_us, keep=collapse),
            "st AS (SELECT case_id, code, last_session, lag(code) OVER o IS NULL AS first, "
            f"lead(code) OVER o AS nx, {conv_tp} AS conv_tp{extra} FROM ev WHERE keep "
            "WINDOW o AS (PARTITION BY case_id, session ORDER BY ts, seq))"]


def _with(ctes: list[str], select: str) -> str:
    return "WITH " + ",\n".join(ctes) + "\n" + select


# ---------------------------------------------------------------- public functions


def paths(data: EventLog | Study | pd.DataFrame, *, session_gap: str | None = None,
          collapse_repeats: bool = False, conversion_touchpoints: Iterable[str] | None = None,
          outcomes: pd.DataFrame | Mapping | pd.Series | None = None,
          conversion_outcome: str = CONVERTED) -> pd.DataFrame:
    """One row per journey (case, or session with ``session_gap``), ordered by case, session.

    Columns: ``case_id``, ``session`` (1, 2, ... in time order; 1 without
    ``session_gap``), ``path`` (touchpoints joined by ``" > "``), ``steps`` (touchpoints
    in the path, after ``collapse_repeats``), ``events`` (events of the journey),
    ``first_timestamp``, ``last_timestamp``, ``duration`` (last - first),
    ``converted`` and ``end_state`` (``"Conversion"`` or ``"Drop-off"``). Conversion
    and ordering rules: see the module docstring.
    """
    gap = _gap_us(session_gap)
    with _open(data, session_gap=session_gap, conversion_touchpoints=conversion_touchpoints,
               outcomes=outcomes, conversion_outcome=conversion_outcome,
               events_only=True) as s:
        sql = _with(_journeys_ctes(s, gap, collapse_repeats),
                    "SELECT case_id, session, array_to_string(list_transform(l, lambda x: "
                    f"nm[x]), {quote_literal(PATH_SEPARATOR)}) AS path, len(l) AS steps, events, "
                    "first_ts AS first_timestamp, last_ts AS last_timestamp, last_ts - first_ts "
                    "AS duration, converted, CASE WHEN converted THEN "
                    f"{quote_literal(CONVERSION)} ELSE {quote_literal(DROP_OFF)} END AS end_state, "
                    "sum(missing::INTEGER) OVER () AS _missing "
                    "FROM jc, names ORDER BY case_id, session")
        return _finish(s, s.con.execute(sql).df(), PATHS_COLUMNS)


def variants(data: EventLog | Study | pd.DataFrame, top: int | None = None, *,
             session_gap: str | None = None, collapse_repeats: bool = False,
             conversion_touchpoints: Iterable[str] | None = None,
             outcomes: pd.DataFrame | Mapping | pd.Series | None = None,
             conversion_outcome: str = CONVERTED) -> pd.DataFrame:
    """Path variants, most frequent first (ties by path), optionally the ``top`` ones.

    Columns: ``path``, ``steps``, ``journeys`` (count), ``share`` (of all journeys,
    also when ``top`` cuts the list), ``conversions``, ``nulls`` (journeys that did not
    convert) and ``conversion_rate``. It is a tidy ``paths`` table too (path,
    conversions, nulls), so :func:`transitions` and the path model accept it.
    ``data`` may also be the frame of :func:`paths` or aggregated path counts.
    """
    gap = _gap_us(session_gap)
    if top is not None and int(top) < 0:
        raise ValueError(f"top must be >= 0, got {top}")
    limit = "" if top is None else f" LIMIT {int(top)}"
    with _open(data, session_gap=session_gap, conversion_touchpoints=conversion_touchpoints,
               outcomes=outcomes, conversion_outcome=conversion_outcome) as s:
        sql = _with(_variants_ctes(s, gap, collapse_repeats),
                    f"SELECT array_to_string(tps, {quote_literal(PATH_SEPARATOR)}) AS path, "
                    "len(tps) AS steps, n AS journeys, n / sum(n) OVER () AS share, "
                    "conv AS conversions, n - conv AS nulls, conv / n AS conversion_rate, "
                    "sum(missing) OVER () AS _missing "
                    f"FROM v WHERE n > 0 ORDER BY journeys DESC, path{limit}")
        return _finish(s, s.con.execute(sql).df(), VARIANTS_COLUMNS)


def transitions(data: EventLog | Study | pd.DataFrame, *, session_gap: str | None = None,
                collapse_repeats: bool = False,
                conversion_touchpoints: Iterable[str] | None = None,
                outcomes: pd.DataFrame | Mapping | pd.Series | None = None,
                conversion_outcome: str = CONVERTED) -> pd.DataFrame:
    """Transition counts between states: ``Start`` -> first touchpoint, touchpoint ->
    next touchpoint, last touchpoint -> ``Conversion`` or ``Drop-off``.

    Columns ``from``, ``to``, ``count`` and ``share`` (of the row: count / all
    transitions out of ``from``), rows with ``Start`` first, then by ``from``, most
    frequent ``to`` first. From aggregated path counts, each path counts as
    ``conversions + nulls`` journeys, giving the same counts as the equivalent log.
    """
    gap = _gap_us(session_gap)
    with _open(data, session_gap=session_gap, conversion_touchpoints=conversion_touchpoints,
               outcomes=outcomes, conversion_outcome=conversion_outcome) as s:
        if s.counts is not None:  # from path counts: pairs of the (few) distinct paths
            ctes = [*_variants_ctes(s, gap, collapse_repeats),
                    f"p AS (SELECT unnest(list_zip(list_prepend({quote_literal(START)}, tps), tps, "
                    "true)) AS pair, n FROM v)",
                    "t AS (SELECT pair[1] AS \"from\", pair[2] AS \"to\", sum(n) AS count "
                    "FROM p GROUP BY ALL "
                    f"UNION ALL SELECT tps[-1], {quote_literal(CONVERSION)}, sum(conv) FROM v "
                    "GROUP BY ALL "
                    f"UNION ALL SELECT tps[-1], {quote_literal(DROP_OFF)}, sum(n - conv) FROM v "
                    "GROUP BY ALL)"]
            missing = "0"
        else:  # from events: one window pass (lag, lead), no per-journey lists
            # only last steps are looked up in the outcome table (the others join on NULL)
            converted, missing, join = _converted(
                s, "conv_tp", "(CASE WHEN nx IS NULL AND last_session THEN st.case_id END)")
            ctes = [*_steps_ctes(s, gap, collapse_repeats),
                    f"g AS (SELECT code, nx, first, CASE WHEN nx IS NULL THEN {converted} END "
                    f"AS conv, nx IS NULL AND {missing} AS missing, count(*) AS n "
                    f"FROM st{join} GROUP BY ALL)",
                    f"t AS (SELECT {quote_literal(START)} AS \"from\", nm[code] AS \"to\", "
                    "sum(n) AS "
                    "count FROM g, names WHERE first GROUP BY ALL "
                    "UNION ALL SELECT nm[code], CASE WHEN nx IS NOT NULL THEN nm[nx] WHEN conv "
                    f"THEN {quote_literal(CONVERSION)} ELSE {quote_literal(DROP_OFF)} END, "
                    "sum(n) FROM g, names "
                    "GROUP BY ALL)"]
            missing = "(SELECT sum(n) FILTER (WHERE missing) FROM g)"
        sql = _with(ctes, "SELECT \"from\", \"to\", count, count / sum(count) OVER (PARTITION "
                          f"BY \"from\") AS share, {missing} AS _missing FROM t WHERE count > 0 "
                          f"ORDER BY \"from\" <> {quote_literal(START)}, \"from\", count DESC, "
                          "\"to\"")
        return _finish(s, s.con.execute(sql).df(), TRANSITIONS_COLUMNS)


def transition_matrix(transitions_frame: pd.DataFrame, *, shares: bool = True) -> pd.DataFrame:
    """The :func:`transitions` frame as a matrix: rows ``Start`` and the touchpoints,
    columns the touchpoints, ``Conversion`` and ``Drop-off`` (touchpoints sorted by
    name); row shares (``shares=True``) or counts, 0 where there is no transition."""
    t = transitions_frame
    tps = sorted((set(t["from"]) | set(t["to"])) - set(STATES))
    value = "share" if shares else "count"
    matrix = t.pivot_table(index="from", columns="to", values=value, aggfunc="sum",
                           fill_value=0)
    return matrix.reindex(index=[START, *tps], columns=[*tps, CONVERSION, DROP_OFF],
                          fill_value=0).rename_axis(index="from", columns="to")


def dropoff(data: EventLog | Study | pd.DataFrame, *, session_gap: str | None = None,
            collapse_repeats: bool = False, conversion_touchpoints: Iterable[str] | None = None,
            outcomes: pd.DataFrame | Mapping | pd.Series | None = None,
            conversion_outcome: str = CONVERTED) -> pd.DataFrame:
    """Drop-off per touchpoint, most drop-offs first.

    Columns: ``visits`` (path steps at the touchpoint; a loop visits it again),
    ``journeys`` (journeys reaching it at least once), ``ended`` (journeys whose last
    touchpoint it is), ``conversions`` and ``drop_offs`` (of those, converted or not),
    ``dropoff_rate_per_visit`` = drop_offs / visits (the transition share to Drop-off,
    the quantity the path model estimates) and ``dropoff_rate_per_journey`` =
    drop_offs / journeys (the share of journeys reaching it that were lost there).
    """
    gap = _gap_us(session_gap)
    with _open(data, session_gap=session_gap, conversion_touchpoints=conversion_touchpoints,
               outcomes=outcomes, conversion_outcome=conversion_outcome) as s:
        sql = _with([*_variants_ctes(s, gap, collapse_repeats),
                     "vis AS (SELECT touchpoint, sum(n) AS visits FROM (SELECT unnest(tps) AS "
                     "touchpoint, n FROM v) GROUP BY ALL)",
                     "jr AS (SELECT touchpoint, sum(n) AS journeys FROM (SELECT "
                     "unnest(list_distinct(tps)) AS touchpoint, n FROM v) GROUP BY ALL)",
                     "en AS (SELECT tps[-1] AS touchpoint, sum(n) AS ended, sum(conv) AS "
                     "conversions FROM v GROUP BY ALL)"],
                    "SELECT touchpoint, visits, journeys, coalesce(ended, 0) AS ended, "
                    "coalesce(conversions, 0) AS conversions, coalesce(ended - conversions, 0)"
                    " AS drop_offs, drop_offs / visits AS dropoff_rate_per_visit, "
                    "drop_offs / journeys AS dropoff_rate_per_journey, (SELECT sum(missing) "
                    "FROM v) AS _missing FROM vis JOIN jr "
                    "USING (touchpoint) LEFT JOIN en USING (touchpoint) WHERE visits > 0 "
                    "ORDER BY drop_offs DESC, touchpoint")
        return _finish(s, s.con.execute(sql).df(), DROPOFF_COLUMNS)


def time_between(data: EventLog | Study | pd.DataFrame, *, session_gap: str | None = None,
                 collapse_repeats: bool = False) -> pd.DataFrame:
    """Time from arriving at one touchpoint to arriving at the next, per (from, to).

    Consecutive steps of the same journey only (with ``session_gap``, never across
    sessions; with ``collapse_repeats``, a merged run is timed from its first event).
    Columns ``from``, ``to``, ``count``, then median, mean and 90th percentile
    (linear interpolation, as numpy's default) in seconds (``_s``) and hours (``_h``);
    most frequent pairs first.
    """
    gap = _gap_us(session_gap)
    with _open(data, session_gap=session_gap, conversion_touchpoints=(),
               events_only=True) as s:
        sql = _with([*_steps_ctes(s, gap, collapse_repeats, times=True),
                     "g AS (SELECT code, nx, count(*) AS count, median(x) AS median_s, avg(x) "
                     "AS mean_s, quantile_cont(x, 0.9) AS p90_s FROM (SELECT code, nx, "
                     "date_diff('microsecond', ts, nx_ts) / 1e6 AS x FROM st WHERE nx IS NOT "
                     "NULL) GROUP BY ALL)"],
                    "SELECT nm[code] AS \"from\", nm[nx] AS \"to\", count, median_s, mean_s, "
                    "p90_s, median_s / 3600 AS median_h, mean_s / 3600 AS mean_h, p90_s / 3600 "
                    "AS p90_h FROM g, names ORDER BY count DESC, \"from\", \"to\"")
        return _typed(s.con.execute(sql).df(), TIME_COLUMNS)
