"""Journeys from event logs, checked against a plain-Python reference implementation."""

from __future__ import annotations

import math
import statistics
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, shared_file, write

from cxresearch import journeys
from cxresearch.datasets import TRANSITIONS, chain_truth, make_study
from cxresearch.io.events import EventLog, load_events, load_paths, load_xes
from cxresearch.journeys import (
    CONVERSION,
    DROP_OFF,
    START,
    dropoff,
    paths,
    time_between,
    transition_matrix,
    transitions,
    variants,
)
from cxresearch.schema import PATH_SEPARATOR
from cxresearch.study import load_study

T0 = 1_704_067_200  # 2024-01-01 00:00:00 UTC, in seconds
MIN = 60


# ---------------------------------------------------------------- reference implementation


@dataclass
class Journey:
    case: str
    session: int
    steps: list[tuple[str, int]]  # (touchpoint, timestamp in seconds) after collapsing
    events: int
    first: int
    last: int
    converted: bool = False


@dataclass
class Log:
    """Events in file order: (case, seconds, touchpoint)."""

    events: list[tuple[str, int, str]]
    outcomes: dict[str, int] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        case, ts, tp = zip(*self.events, strict=True) if self.events else ((), (), ())
        return pd.DataFrame({"case_id": pd.Series(case, dtype="str"),
                             "timestamp": pd.to_datetime(pd.Series(ts, dtype="int64"), unit="s"),
                             "touchpoint": pd.Series(tp, dtype="str")})

    def event_log(self, folder: Path) -> EventLog:
        frame = self.frame()
        frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
        path = folder / "events.csv"
        frame.to_csv(path, index=False)
        return load_events(path)["events"]

    def outcome_table(self) -> pd.DataFrame:
        return pd.DataFrame({"respondent_id": list(self.outcomes), "outcome": "converted",
                             "value": [float(v) for v in self.outcomes.values()]})


def reference(log: Log, gap: int | None = None, collapse: bool = False,
              convert_at: tuple[str, ...] = (), outcomes: bool = False) -> list[Journey]:
    """Journeys by loops over the sorted events: the rules in the module docstring."""
    converted_cases = {c for c, v in log.outcomes.items() if v == 1} if outcomes else set()
    by_case: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for seq, (case, ts, tp) in enumerate(log.events):
        by_case[case].append((ts, seq, tp))
    out = []
    for case in sorted(by_case):
        events = sorted(by_case[case])
        sessions = [[events[0]]]
        for prev, cur in zip(events, events[1:], strict=False):
            if gap is not None and cur[0] - prev[0] > gap:
                sessions.append([cur])
            else:
                sessions[-1].append(cur)
        for number, session in enumerate(sessions, start=1):
            steps: list[tuple[str, int]] = []
            for ts, _, tp in session:
                if collapse and steps and steps[-1][0] == tp:
                    continue
                steps.append((tp, ts))
            converted = (any(tp in convert_at for _, _, tp in session)
                         or (number == len(sessions) and case in converted_cases))
            out.append(Journey(case, number, steps, len(session), session[0][0],
                               session[-1][0], converted))
    return out


def path_of(j: Journey) -> str:
    return PATH_SEPARATOR.join(tp for tp, _ in j.steps)


def ref_paths(js: list[Journey]) -> pd.DataFrame:
    stamp = lambda xs: pd.to_datetime(pd.Series(xs, dtype="int64"), unit="s").astype(  # noqa: E731
        "datetime64[us]")
    frame = pd.DataFrame({
        "case_id": pd.Series([j.case for j in js], dtype="str"),
        "session": pd.Series([j.session for j in js], dtype="int64"),
        "path": pd.Series([path_of(j) for j in js], dtype="str"),
        "steps": pd.Series([len(j.steps) for j in js], dtype="int64"),
        "events": pd.Series([j.events for j in js], dtype="int64"),
        "first_timestamp": stamp([j.first for j in js]),
        "last_timestamp": stamp([j.last for j in js]),
        "duration": pd.to_timedelta(pd.Series([j.last - j.first for j in js], dtype="int64"),
                                    unit="s").astype("timedelta64[us]"),
        "converted": pd.Series([j.converted for j in js], dtype="bool"),
        "end_state": pd.Series([CONVERSION if j.converted else DROP_OFF for j in js],
                               dtype="str")})
    return frame


def ref_variants(js: list[Journey]) -> dict[str, tuple[int, int]]:
    count, conv = Counter(), Counter()
    for j in js:
        count[path_of(j)] += 1
        conv[path_of(j)] += j.converted
    return {p: (n, conv[p]) for p, n in count.items()}


def ref_transitions(js: list[Journey]) -> Counter:
    out = Counter()
    for j in js:
        states = [START, *(tp for tp, _ in j.steps), CONVERSION if j.converted else DROP_OFF]
        out.update(zip(states, states[1:], strict=False))
    return out


def ref_dropoff(js: list[Journey]) -> dict[str, tuple[int, int, int, int, int]]:
    visits, reach, ended, conv = Counter(), Counter(), Counter(), Counter()
    for j in js:
        tps = [tp for tp, _ in j.steps]
        visits.update(tps)
        reach.update(set(tps))
        ended[tps[-1]] += 1
        conv[tps[-1]] += j.converted
    return {t: (visits[t], reach[t], ended[t], conv[t], ended[t] - conv[t]) for t in visits}


def quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def ref_times(js: list[Journey]) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for j in js:
        for (a, ta), (b, tb) in zip(j.steps, j.steps[1:], strict=False):
            out[a, b].append(float(tb - ta))
    return out


# ---------------------------------------------------------------- comparison


def check_all(data, log: Log, *, gap: str | None = None, collapse: bool = False,
              convert_at: tuple[str, ...] = (), outcomes: bool = False) -> None:
    """Every function on ``data`` against the reference on ``log``."""
    seconds = None if gap is None else int(pd.Timedelta(gap).total_seconds())
    js = reference(log, seconds, collapse, convert_at, outcomes)
    kw = dict(session_gap=gap, collapse_repeats=collapse, conversion_touchpoints=convert_at,
              outcomes=log.outcome_table() if outcomes else None)

    pd.testing.assert_frame_equal(paths(data, **kw), ref_paths(js))

    got = variants(data, **kw)
    assert dict(zip(got["path"], zip(got["journeys"], got["conversions"], strict=True),
                    strict=True)) == ref_variants(js)
    assert list(zip(-got["journeys"], got["path"], strict=True)) == sorted(
        zip(-got["journeys"], got["path"], strict=True))
    assert (got["nulls"] == got["journeys"] - got["conversions"]).all()
    assert np.allclose(got["share"], got["journeys"] / len(js))
    assert np.allclose(got["conversion_rate"], got["conversions"] / got["journeys"])
    assert (got["steps"] == got["path"].str.count(" > ") + 1).all()

    trans = transitions(data, **kw)
    assert dict(zip(zip(trans["from"], trans["to"], strict=True), trans["count"],
                    strict=True)) == dict(ref_transitions(js))
    assert np.allclose(trans.groupby("from")["share"].sum(), 1.0)
    # the same counts from the aggregated variants (the tidy paths table)
    pd.testing.assert_frame_equal(transitions(got), trans)

    drop = dropoff(data, **kw)
    expected = ref_dropoff(js)
    assert {r.touchpoint: (r.visits, r.journeys, r.ended, r.conversions, r.drop_offs)
            for r in drop.itertuples()} == expected
    assert np.allclose(drop["dropoff_rate_per_visit"], drop["drop_offs"] / drop["visits"])
    assert np.allclose(drop["dropoff_rate_per_journey"], drop["drop_offs"] / drop["journeys"])
    pd.testing.assert_frame_equal(dropoff(got), drop)

    times = time_between(data, session_gap=gap, collapse_repeats=collapse)
    ref = ref_times(js)
    assert dict(zip(zip(times["from"], times["to"], strict=True), times["count"],
                    strict=True)) == {k: len(v) for k, v in ref.items()}
    for r in times.itertuples():
        xs = ref[r._1, r.to]
        assert r.median_s == pytest.approx(statistics.median(xs))
        assert r.mean_s == pytest.approx(statistics.fmean(xs))
        assert r.p90_s == pytest.approx(quantile(xs, 0.9))
        assert r.p90_h == pytest.approx(r.p90_s / 3600)


def random_log(n_events: int, seed: int) -> Log:
    """Events in shuffled file order with many timestamp ties, repeats, loops, gaps over
    30 minutes, single-event cases; an outcome for every case; 'buy' is a touchpoint."""
    rng = np.random.default_rng(seed)
    n_cases = max(1, n_events // 5)
    case = rng.integers(0, n_cases, n_events)
    names = np.array(["home", "search", "product", "cart", "buy", "support", "kiosk"])
    tp = rng.choice(len(names), n_events, p=[0.25, 0.2, 0.2, 0.15, 0.05, 0.1, 0.05])
    ts = T0 + rng.integers(0, 30, n_cases)[case] * 86400 + rng.integers(0, 24, n_events) * 7 * MIN
    ids = np.char.add("c", np.arange(n_cases).astype(str))
    events = list(zip(ids[case].tolist(), ts.tolist(), names[tp].tolist(), strict=True))
    present = sorted(set(ids[case].tolist()))
    outcomes = dict(zip(present, (rng.random(len(present)) < 0.3).astype(int).tolist(),
                        strict=True))
    return Log(events, outcomes)


def quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


# ---------------------------------------------------------------- hand-built logs


TIES = Log([("A", T0, "home"), ("A", T0 + 60, "cart"), ("A", T0 + 60, "search"),
            ("B", T0 + 500, "b2"), ("B", T0 + 300, "b1"), ("B", T0 + 500, "b3"),
            ("A", T0 + 60, "home")], {"A": 1, "B": 0})


def test_ties_in_timestamps_keep_file_order(tmp_path):
    log = TIES.event_log(tmp_path)
    got = paths(log, outcomes=TIES.outcome_table())
    assert got["path"].tolist() == ["home > cart > search > home", "b1 > b2 > b3"]
    assert got["end_state"].tolist() == [CONVERSION, DROP_OFF]
    check_all(log, TIES, outcomes=True)
    check_all(TIES.frame(), TIES, outcomes=True)
    # a frame's own seq column decides ties instead of its row order
    frame = TIES.frame().assign(seq=[0, 1, 3, 4, 5, 6, 2])
    assert paths(frame, outcomes=TIES.outcome_table())["path"].iloc[0] == (
        "home > cart > home > search")


def test_single_event_cases(tmp_path):
    data = Log([("x", T0, "home"), ("y", T0 + 5, "search"), ("y", T0 + 9, "home")], {})
    log = data.event_log(tmp_path)
    got = paths(log, conversion_touchpoints=())
    assert got.loc[0, ["path", "steps", "events"]].tolist() == ["home", 1, 1]
    assert got.loc[0, "duration"] == pd.Timedelta(0)
    t = transitions(log, conversion_touchpoints=())
    assert t[t["from"] == START].set_index("to")["count"].to_dict() == {"home": 1, "search": 1}
    d = dropoff(log, conversion_touchpoints=()).set_index("touchpoint")
    assert d.loc["home", ["visits", "journeys", "ended", "drop_offs"]].tolist() == [2, 2, 2, 2]
    assert d.loc["search", "dropoff_rate_per_visit"] == 0.0
    assert time_between(log)[["from", "to", "count", "median_s"]].values.tolist() == [
        ["search", "home", 1, 4.0]]
    check_all(log, data)


def test_unknown_touchpoints_still_form_paths(tmp_path):
    # no journey map here: a touchpoint the map does not know ('kiosk') is a state like any
    # other; checking names against the map is the loader's job (rules.touchpoints)
    data = Log([("1", T0, "website"), ("1", T0 + 60, "kiosk"), ("1", T0 + 90, "checkout"),
                ("2", T0, "kiosk")], {"1": 1, "2": 0})
    log = data.event_log(tmp_path)
    t = transitions(log, outcomes=data.outcome_table())
    assert {("website", "kiosk"), ("kiosk", "checkout"), ("kiosk", DROP_OFF),
            (START, "kiosk")} <= set(zip(t["from"], t["to"], strict=True))
    check_all(log, data, outcomes=True)


def test_state_names_are_not_touchpoints(tmp_path):
    log = Log([("1", T0, "Start"), ("1", T0 + 1, "web")]).event_log(tmp_path)
    with pytest.raises(ValueError, match=r"\['Start'\] are reserved"):
        transitions(log, conversion_touchpoints=())
    counts = pd.DataFrame({"path": ["web > Drop-off"], "conversions": [1], "nulls": [0]})
    with pytest.raises(ValueError, match=r"\['Drop-off'\] are reserved"):
        transitions(counts)


def test_cases_without_events_give_empty_frames(tmp_path):
    log = TIES.event_log(tmp_path).subset(["nobody"])
    assert log.count() == 0
    expected = {paths: journeys.PATHS_COLUMNS, variants: journeys.VARIANTS_COLUMNS,
                transitions: journeys.TRANSITIONS_COLUMNS, dropoff: journeys.DROPOFF_COLUMNS}
    for func, columns in expected.items():
        for kw in ({"conversion_touchpoints": ()}, {"outcomes": TIES.outcome_table()},
                   {"session_gap": "30 minutes", "collapse_repeats": True,
                    "conversion_touchpoints": ("buy",)}):
            got = func(log, **kw)
            assert got.empty and dict(got.dtypes.astype(str)) == columns, (func, kw)
    got = time_between(log, session_gap="1 hour", collapse_repeats=True)
    assert got.empty and dict(got.dtypes.astype(str)) == journeys.TIME_COLUMNS
    assert transition_matrix(transitions(log, conversion_touchpoints=())).shape == (1, 2)
    check_all(log, Log([]))
    check_all(Log([]).frame(), Log([]))


def test_sessions_split_at_gaps_longer_than_session_gap(tmp_path):
    data = Log([("1", T0, "ad"), ("1", T0 + 10 * MIN, "web"),
                ("1", T0 + 40 * MIN, "web"),  # exactly 30 minutes later: same session
                ("1", T0 + 71 * MIN, "web"),  # 31 minutes later: a new session
                ("1", T0 + 80 * MIN, "buy"),
                ("1", T0 + 200 * MIN, "web"),
                ("2", T0, "web"), ("2", T0 + 5 * MIN, "buy")], {"1": 1, "2": 0})
    log = data.event_log(tmp_path)
    got = paths(log, session_gap="30 minutes", outcomes=data.outcome_table())
    assert got[["case_id", "session", "path", "events", "converted"]].values.tolist() == [
        ["1", 1, "ad > web > web", 3, False],
        ["1", 2, "web > buy", 2, False],
        ["1", 3, "web", 1, True],  # the case's outcome converts its last session only
        ["2", 1, "web > buy", 2, False]]
    # a conversion touchpoint converts the session it is in
    got = paths(log, session_gap="30 minutes", conversion_touchpoints=["buy"])
    assert got["converted"].tolist() == [False, True, False, True]
    times = time_between(log, session_gap="30 minutes")
    assert ("buy", "web") not in set(zip(times["from"], times["to"], strict=True))
    for gap in ("30 minutes", "2 hours", pd.Timedelta(minutes=5)):
        check_all(log, data, gap=str(gap), outcomes=True, convert_at=("buy",))
    with pytest.raises(ValueError, match="not a duration"):
        paths(log, session_gap="soon")
    with pytest.raises(ValueError, match="positive"):
        paths(log, session_gap="0 minutes")


def test_collapse_repeats_keeps_loops(tmp_path):
    data = Log([("1", T0, "a"), ("1", T0 + 60, "a"), ("1", T0 + 120, "b"),
                ("1", T0 + 180, "a"), ("1", T0 + 240, "a"), ("1", T0 + 300, "c"),
                ("2", T0, "a"), ("2", T0 + 7200, "a")], {"1": 1, "2": 1})
    log = data.event_log(tmp_path)
    got = paths(log, collapse_repeats=True, outcomes=data.outcome_table())
    assert got[["path", "steps", "events"]].values.tolist() == [
        ["a > b > a > c", 4, 6], ["a", 1, 2]]
    assert paths(log, outcomes=data.outcome_table())["path"].iloc[0] == (
        "a > a > b > a > a > c")
    # a merged run is timed from its first event: a (t=0) -> b (t=120)
    times = time_between(log, collapse_repeats=True).set_index(["from", "to"])
    assert times.loc[("a", "b"), "median_s"] == 120.0
    assert times.loc[("a", "c"), "median_s"] == 120.0
    # sessions are split first: a | a in two sessions stays two journeys of one step
    got = paths(log, collapse_repeats=True, session_gap="1 hour",
                outcomes=data.outcome_table())
    assert got[got["case_id"] == "2"]["path"].tolist() == ["a", "a"]
    check_all(log, data, collapse=True, outcomes=True)
    check_all(log, data, collapse=True, gap="1 hour", outcomes=True)


def test_conversion_signals(tmp_path):
    data = Log([("1", T0, "web"), ("1", T0 + 60, "purchase"), ("1", T0 + 120, "support"),
                ("2", T0, "web"), ("3", T0, "store")], {"2": 1, "3": 0})
    log = data.event_log(tmp_path)
    # a conversion touchpoint stays in the path; the journey ends where it ends
    got = paths(log, conversion_touchpoints=["purchase"])
    assert got[["path", "end_state"]].values.tolist() == [
        ["web > purchase > support", CONVERSION], ["web", DROP_OFF], ["store", DROP_OFF]]
    # either signal converts; outcomes as the tidy table, a mapping or a Series
    for outcomes in (data.outcome_table(), {"2": 1, "3": 0, "1": 0},
                     pd.Series({"2": True, "1": False, "3": False})):
        got = quiet(paths, log, conversion_touchpoints="purchase", outcomes=outcomes)
        assert got["converted"].tolist() == [True, True, False]
    with pytest.warns(UserWarning, match="1 case.s. have no 'converted' outcome"):
        paths(log, outcomes=data.outcome_table())
    with pytest.warns(UserWarning, match="no conversion signal given"):
        variants(log)
    with pytest.warns(UserWarning, match="none of the conversion_touchpoints"):
        transitions(log, conversion_touchpoints=["checkout"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not transitions(log, conversion_touchpoints=())["to"].eq(CONVERSION).any()
    bad = data.outcome_table().assign(value=[2.0, 0.0])
    with pytest.raises(ValueError, match=r"'converted' must be 0 or 1; 1 other value\(s\) "
                                         r"\(cases 2\)"):
        paths(log, outcomes=bad)
    with pytest.raises(ValueError, match="no 'converted' rows"):
        paths(log, outcomes=data.outcome_table().assign(outcome="nps"))
    # another outcome can define conversion
    repeat = data.outcome_table().assign(outcome="repeat_purchase")
    got = quiet(paths, log, outcomes=repeat, conversion_outcome="repeat_purchase")
    assert got["converted"].tolist() == [False, True, False]


def test_aggregated_paths_give_the_same_results_as_the_log(tmp_path):
    data = random_log(5_000, seed=3)
    log = data.event_log(tmp_path)
    for kw in ({}, {"collapse_repeats": True}):
        v = variants(log, outcomes=data.outcome_table(), **kw)
        # written as ChannelAttribution writes it and read back by the paths loader
        text = "path;total_conversions;total_null\n" + "".join(
            f"{p.replace(' > ', '>')};{c};{n}\n" for p, c, n in
            zip(v["path"], v["conversions"], v["nulls"], strict=True))
        table = load_paths(write(tmp_path / "paths.csv", text), value=None,
                           separator=">")["paths"]
        t = transitions(log, outcomes=data.outcome_table(), **kw)
        pd.testing.assert_frame_equal(transitions(table), t)
        pd.testing.assert_frame_equal(dropoff(table),
                                      dropoff(log, outcomes=data.outcome_table(), **kw))
        pd.testing.assert_frame_equal(variants(table), v)
        # collapsing the log's paths afterwards is collapsing the log
        full = variants(log, outcomes=data.outcome_table())
        pd.testing.assert_frame_equal(transitions(full, **kw), t)
        # the per-journey frame of paths() aggregates the same way
        pd.testing.assert_frame_equal(
            transitions(paths(log, outcomes=data.outcome_table(), **kw)), t)
    full = variants(log, outcomes=data.outcome_table())
    assert variants(log, top=3, outcomes=data.outcome_table()).equals(full.head(3))
    with pytest.raises(ValueError, match="session_gap needs an event log"):
        transitions(v, session_gap="1 hour")
    with pytest.raises(ValueError, match="needs an event log"):
        time_between(v)
    with pytest.raises(ValueError, match="whole numbers >= 0"):
        transitions(v.assign(nulls=-1))


def test_random_log_matches_the_reference(tmp_path):
    data = random_log(50_000, seed=1)
    log = data.event_log(tmp_path)
    assert log.count() == 50_000
    check_all(log, data, outcomes=True, convert_at=("buy",))
    check_all(log, data, gap="30 minutes", collapse=True, outcomes=True)
    check_all(data.frame(), data, gap="2 hours", convert_at=("buy",))


@pytest.mark.slow
def test_million_event_log_matches_the_reference(tmp_path):
    data = random_log(1_000_000, seed=2)
    log = data.event_log(tmp_path)
    check_all(log, data, outcomes=True, convert_at=("buy",))
    check_all(log, data, gap="30 minutes", collapse=True, outcomes=True)


# ---------------------------------------------------------------- synthetic and real studies


def test_transitions_recover_the_synthetic_chain():
    study = make_study(20_000, seed=5)
    t = transitions(study.events, outcomes=study.outcomes)
    totals = t.groupby("from")["count"].sum()
    got = t.set_index(["from", "to"])["share"]
    assert set(got.index) <= {(a, b) for a, row in TRANSITIONS.items() for b in row}
    for a, row in TRANSITIONS.items():
        for b, p in row.items():
            se = math.sqrt(p * (1 - p) / totals[a])
            assert abs(got.get((a, b), 0.0) - p) < 4.5 * se + 1e-9, (a, b)
    # every journey ends exactly once, in the state the generator recorded
    ends = t[t["to"].isin([CONVERSION, DROP_OFF])].groupby("to")["count"].sum()
    assert ends[CONVERSION] == study.sample["conversions"]
    assert ends.sum() == totals[START] == 20_000
    assert t["count"].sum() - 20_000 == study.sample["events"]
    # drop-off per visit is the transition share to Drop-off
    d = dropoff(study.events, outcomes=study.outcomes).set_index("touchpoint")
    truth = chain_truth()
    for tp, rate in d["dropoff_rate_per_visit"].items():
        p = TRANSITIONS[tp].get(DROP_OFF, 0.0)
        assert abs(rate - p) < 4.5 * math.sqrt(p * (1 - p) / d.loc[tp, "visits"]) + 1e-9
    # a variant's conversion depends only on its last touchpoint (first-order chain)
    v = variants(study.events, outcomes=study.outcomes)
    last = v.assign(last=v["path"].str.split(PATH_SEPARATOR).str[-1]).groupby("last")[
        ["conversions", "journeys"]].sum()
    for tp, p in truth["conversion_given_last"].items():
        n = last.loc[tp, "journeys"]
        assert abs(last.loc[tp, "conversions"] / n - p) <= 4.5 * math.sqrt(p * (1 - p) / n)
    matrix = transition_matrix(t)
    assert matrix.loc[START, "search_ad"] == pytest.approx(got[START, "search_ad"])
    assert np.allclose(matrix.sum(axis=1), 1.0)


def test_demo_study_conversion_is_its_converted_outcome():
    study = load_study(ROOT / "data" / "demo")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the study's outcomes define conversion: no warning
        got = paths(study)
        t = transitions(study)
    outcomes = study.outcomes
    converted = set(outcomes[(outcomes["outcome"] == "converted") & (outcomes["value"] == 1)][
        "respondent_id"])
    assert len(got) == len(study.respondents) and set(got[got["converted"]]["case_id"]) == (
        converted)
    assert t[t["to"] == CONVERSION]["count"].sum() == len(converted)
    # the same from the in-memory frames (events in journey order, with seq)
    pd.testing.assert_frame_equal(t, transitions(study.events, outcomes=outcomes))
    part = study.subset(segment="loyalist")
    assert len(paths(part)) == (study.respondents["segment"] == "loyalist").sum() > 0
    # an explicit definition replaces the study's outcomes
    assert not quiet(paths, study, conversion_touchpoints=["review_request"])[
        "converted"].equals(got["converted"])


def test_channel_attribution_paths_file():
    table = load_paths(shared_file("journeys/DavideAltomare__ChannelAttribution/Data.csv"))[
        "paths"]
    t = transitions(table)
    assert t[t["from"] == START]["count"].sum() == 88_387
    assert t[t["to"] == CONVERSION]["count"].sum() == int(table["conversions"].sum())
    assert np.allclose(t.groupby("from")["share"].sum(), 1.0)
    v = variants(table)  # rows repeating a path (10,000 rows, 5,408 paths) are merged
    assert len(v) == table["path"].nunique() == 5_408 and v["journeys"].sum() == 88_387
    assert len(dropoff(table)) == 12


def test_helpdesk_log_has_226_variants():
    log = load_xes(shared_file("journeys/pm4py__pm4py-core/helpdesk.xes.gz"))["events"]
    v = variants(log, conversion_touchpoints=["Closed"])
    assert len(v) == 226 and v["journeys"].sum() == 4_580
    assert v["conversions"].sum() == 4_559  # cases with a 'Closed' event
