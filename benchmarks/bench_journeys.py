"""Path variants and transitions from 10^6 and 10^7 events: cxresearch (DuckDB) against pandas.

Run by hand (a few minutes, about 1 GB of temporary disk and up to ~6 GB of RAM for
the pandas run at 10^7)::

    .venv/bin/python benchmarks/bench_journeys.py                  # 10^6 and 10^7 events
    .venv/bin/python benchmarks/bench_journeys.py --events 1000000

The log is simulated from the synthetic study's journey chain
(``cxresearch.datasets.TRANSITIONS``: Start -> touchpoints -> Conversion or
Drop-off, loops included, about 3.1 events per journey, 5% of steps sharing the
previous timestamp) and written as Parquet (events) with a Parquet outcomes table
(``converted`` 0/1 per case). Each measurement runs in a fresh child process so its
peak RSS (VmHWM) is its own:

* ``cxresearch``: ``load_events`` (ingest into DuckDB), then ``journeys.variants``
  and ``journeys.transitions`` with ``outcomes=`` (each from the events: ordering,
  per-case paths, conversion join);
* ``pandas``: ``read_parquet``, then the same two results with ``sort_values``,
  ``groupby``/``agg(" > ".join)``, ``shift`` and ``value_counts``;
* ``imports only``: the baseline RSS of a child that imports the libraries.

The two methods' results are checked to be equal; the ratio is pandas time over
cxresearch time for the same computation, loading excluded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEP = " > "


def generate(folder: str, events: str) -> None:
    """Simulate journeys until ``events`` events; write events.parquet and outcomes.parquet."""
    import numpy as np
    import pandas as pd

    from cxresearch.datasets import CONVERSION, DROP_OFF, START, TRANSITIONS

    target = int(events)
    tps = [s for s in TRANSITIONS if s != START]
    states = [*tps, CONVERSION, DROP_OFF, START]
    P = np.zeros((len(states), len(states)))
    for a, row in TRANSITIONS.items():
        for b, p in row.items():
            P[states.index(a), states.index(b)] = p
    cum = P.cumsum(1)
    cum[:, -1] = 1.0
    rng = np.random.default_rng(2026)
    n = int(target / 3.1 * 1.05) + 10
    cases, steps, tp_of = [], [], []
    active, cur, step = np.arange(n), np.full(n, states.index(START)), 0
    converted = np.zeros(n, dtype=bool)
    while active.size:
        nxt = (rng.random(active.size)[:, None] >= cum[cur]).sum(1)
        moving = nxt < len(tps)
        cases.append(active[moving])
        steps.append(np.full(moving.sum(), step))
        tp_of.append(nxt[moving])
        converted[active[nxt == len(tps)]] = True
        active, cur, step = active[moving], nxt[moving], step + 1
    case, step, tp = (np.concatenate(x) for x in (cases, steps, tp_of))
    order = np.lexsort((step, case))
    case, step, tp = case[order][:target], step[order][:target], tp[order][:target]
    n = int(case[-1]) + 1
    if case.size < target:
        raise SystemExit("simulation too short; raise the journey count")
    # keep only whole journeys: drop the last (possibly cut) case
    whole = case < n - 1
    case, step, tp, n = case[whole], step[whole], tp[whole], n - 1
    gap = np.rint(rng.lognormal(np.log(3600), 1.0, case.size)).astype(np.int64)
    gap[(step == 0) | (rng.random(case.size) < 0.05)] = 0
    begin = rng.integers(0, 365 * 86400, n)
    total = np.cumsum(gap)
    first = np.flatnonzero(step == 0)
    offset = total - np.repeat(total[first] - gap[first], np.diff(np.append(first, case.size)))
    seconds = begin[case] + offset + 1_735_689_600  # 2025-01-01
    ids = np.char.add("C", np.char.zfill(np.arange(n).astype(str), 8))
    events_frame = pd.DataFrame({"case_id": ids[case],
                                 "timestamp": pd.to_datetime(seconds, unit="s"),
                                 "touchpoint": np.array(tps)[tp]})
    outcomes = pd.DataFrame({"respondent_id": ids, "outcome": "converted",
                             "value": converted[:n].astype(float)})
    events_frame.to_parquet(Path(folder) / "events.parquet", index=False)
    outcomes.to_parquet(Path(folder) / "outcomes.parquet", index=False)
    print(json.dumps({"events": int(case.size), "cases": n}))


def run_cxresearch(folder: str) -> dict:
    import pandas as pd

    from cxresearch import journeys
    from cxresearch.io.events import load_events

    t0 = time.perf_counter()
    log = load_events(Path(folder) / "events.parquet")["events"]
    outcomes = pd.read_parquet(Path(folder) / "outcomes.parquet")
    t1 = time.perf_counter()
    v = journeys.variants(log, outcomes=outcomes)
    t2 = time.perf_counter()
    t = journeys.transitions(log, outcomes=outcomes)
    t3 = time.perf_counter()
    return {"load_s": t1 - t0, "variants_s": t2 - t1, "transitions_s": t3 - t2,
            "variants": _digest_variants(v), "transitions": _digest_transitions(t)}


def run_pandas(folder: str) -> dict:
    import numpy as np
    import pandas as pd

    t0 = time.perf_counter()
    df = pd.read_parquet(Path(folder) / "events.parquet")
    df["seq"] = np.arange(len(df))
    out = pd.read_parquet(Path(folder) / "outcomes.parquet")
    conv = out[out["outcome"] == "converted"].set_index("respondent_id")["value"] == 1
    t1 = time.perf_counter()
    # variants: order each journey (timestamp, then file order), join, count
    s = df.sort_values(["case_id", "timestamp", "seq"], kind="stable")
    path = s.groupby("case_id", sort=False)["touchpoint"].agg(SEP.join)
    j = pd.DataFrame({"path": path, "converted": conv.reindex(path.index, fill_value=False)})
    v = (j.groupby("path").agg(journeys=("converted", "size"),
                               conversions=("converted", "sum")).reset_index())
    v["share"] = v["journeys"] / v["journeys"].sum()
    v["conversion_rate"] = v["conversions"] / v["journeys"]
    v = v.sort_values(["journeys", "path"], ascending=[False, True])
    t2 = time.perf_counter()
    # transitions: Start -> first, consecutive pairs, last -> Conversion / Drop-off
    s = df.sort_values(["case_id", "timestamp", "seq"], kind="stable")
    case = s["case_id"].to_numpy()
    tp = s["touchpoint"].to_numpy()
    new = np.r_[True, case[1:] != case[:-1]]
    last = np.r_[new[1:], True]
    nxt = np.r_[tp[1:], tp[:1]]
    ended = conv.reindex(case[last], fill_value=False).to_numpy()
    pairs = pd.concat([
        pd.DataFrame({"from": "Start", "to": tp[new]}),
        pd.DataFrame({"from": tp[~last], "to": nxt[~last]}),
        pd.DataFrame({"from": tp[last], "to": np.where(ended, "Conversion", "Drop-off")})])
    t = pairs.value_counts(["from", "to"]).rename("count").reset_index()
    t["share"] = t["count"] / t.groupby("from")["count"].transform("sum")
    t3 = time.perf_counter()
    return {"load_s": t1 - t0, "variants_s": t2 - t1, "transitions_s": t3 - t2,
            "variants": _digest_variants(v), "transitions": _digest_transitions(t)}


def _digest_variants(v) -> list:
    top = v.sort_values(["journeys", "path"], ascending=[False, True]).head(50)
    return [len(v), int(v["journeys"].sum()), int(v["conversions"].sum()),
            [[p, int(n), int(c)] for p, n, c in top[["path", "journeys", "conversions"]]
             .itertuples(index=False)]]


def _digest_transitions(t) -> list:
    return sorted([str(a), str(b), int(c)] for a, b, c in t[["from", "to", "count"]]
                  .itertuples(index=False))


def run_imports(folder: str) -> dict:
    import duckdb  # noqa: F401
    import pandas  # noqa: F401

    import cxresearch.journeys  # noqa: F401

    return {}


TASKS = {"imports only": run_imports, "cxresearch": run_cxresearch, "pandas": run_pandas}


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would count the parent's RSS at fork)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def child(task: str, *args: str) -> None:
    if task == "generate":
        generate(*args)
        return
    result = TASKS[task](*args)
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def measure(task: str, *args: object) -> dict:
    """Run ``task`` in a fresh child process and return its JSON."""
    out = subprocess.run([sys.executable, __file__, "--child", task, *map(str, args)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-journeys-") as tmp:
        base = measure("imports only", tmp)["peak_rss_mib"]
        print(f"Peak RSS of a child that only imports pandas, duckdb and cxresearch.journeys: "
              f"{base:,.0f} MiB\n")
        print(f"{'events':>12}{'method':>12}{'load':>8}{'variants':>10}{'transitions':>13}"
              f"{'peak RSS':>11}")
        for size in args.events:
            folder = Path(tmp) / str(size)
            folder.mkdir()
            t0 = time.perf_counter()
            info = measure("generate", folder, size)
            print(f"{info['events']:>12,} events, {info['cases']:,} cases "
                  f"(simulated in {time.perf_counter() - t0:.0f} s)")
            r = {task: measure(task, folder) for task in ("cxresearch", "pandas")}
            for task, x in r.items():
                print(f"{'':>12}{task:>12}{x['load_s']:>6.1f} s{x['variants_s']:>8.1f} s"
                      f"{x['transitions_s']:>11.1f} s{x['peak_rss_mib']:>7,.0f} MiB")
            cx, pd_ = r["cxresearch"], r["pandas"]
            assert cx["variants"] == pd_["variants"], "variants differ"
            assert cx["transitions"] == pd_["transitions"], "transitions differ"
            vx = pd_["variants_s"] / cx["variants_s"]
            print(f"{'':>12}pandas / cxresearch: variants {vx:.1f}x,"
                  f" transitions {pd_['transitions_s'] / cx['transitions_s']:.1f}x, peak RSS "
                  f"{pd_['peak_rss_mib'] / cx['peak_rss_mib']:.1f}x "
                  f"({cx['variants'][0]:,} variants; results equal)\n")


if __name__ == "__main__":
    main()
