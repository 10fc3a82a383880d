"""Load, validate and aggregate a 10-million-row journey event log: DuckDB against pandas.

Run by hand (takes about two minutes and 1 GB of temporary disk)::

    .venv/bin/python benchmarks/bench_event_load.py            # 10,000,000 rows
    .venv/bin/python benchmarks/bench_event_load.py --rows 1000000

A synthetic log (10 events per case, 12 touchpoints, 4 channels, timestamps with
a +01:00 offset as pm4py writes them) is written as CSV and Parquet to a temporary
folder. Each measurement runs in a fresh child process so that its peak RSS
(VmHWM) is its own; the parent only starts them:

* ``cxresearch``: ``load_events`` (ingest into DuckDB + SQL validation), then
  ``touchpoints()`` (events and cases per touchpoint) and ``cases()``;
* ``duckdb lazy view``: the alternative design, a view over ``read_csv`` that is
  re-parsed by each query (validation counts, then the same two aggregates);
* ``imports only``: the baseline RSS of a child that imports the libraries;
* ``pandas``: ``read_csv(dtype=str)`` / ``read_parquet``, ``to_datetime(utc=True)``
  and the same checks and aggregates with ``groupby``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOUCHPOINTS = ["home", "search", "product", "cart", "checkout", "payment", "delivery",
               "support", "email", "store", "app", "survey"]


def generate(folder: Path, rows: int) -> tuple[Path, Path]:
    import duckdb

    csv_path, parquet_path = folder / "events.csv", folder / "events.parquet"
    tps = "[" + ", ".join(f"'{t}'" for t in TOUCHPOINTS) + "]"
    query = f"""SELECT 'C' || lpad(CAST(i // 10 AS VARCHAR), 8, '0') AS case_id,
        strftime(TIMESTAMP '2024-01-01' + to_seconds((i // 10) * 37 + (i % 10) * 600),
                 '%Y-%m-%d %H:%M:%S') || '+01:00' AS timestamp,
        {tps}[1 + (hash(i) % 12)::INT] AS touchpoint,
        ['web', 'app', 'phone', 'store'][1 + (hash(i * 7) % 4)::INT] AS channel
        FROM range({rows}) t(i)"""
    con = duckdb.connect(config={"memory_limit": "1GB"})
    con.execute(f"COPY ({query}) TO '{csv_path}' (HEADER)")
    con.execute(f"COPY (SELECT * FROM read_csv('{csv_path}', all_varchar=true)) "
                f"TO '{parquet_path}'")
    return csv_path, parquet_path


def run_cxresearch(path: str) -> dict:
    from cxresearch.io.events import load_events

    t0 = time.perf_counter()
    log = load_events(path)["events"]
    t1 = time.perf_counter()
    per_touchpoint = log.touchpoints()
    cases = log.cases()
    t2 = time.perf_counter()
    return {"load_validate_s": t1 - t0, "aggregate_s": t2 - t1, "events": log.count(),
            "cases": cases, "touchpoints": len(per_touchpoint)}


def run_lazy_view(path: str) -> dict:
    from cxresearch.io.events import connect

    con = connect()
    t0 = time.perf_counter()
    con.execute(f"""CREATE VIEW events AS SELECT nullif(trim(case_id), '') AS case_id,
        CAST(TRY_CAST(timestamp AS TIMESTAMPTZ) AS TIMESTAMP) AS timestamp,
        nullif(trim(touchpoint), '') AS touchpoint, channel
        FROM read_csv('{path}', all_varchar=true, header=true)""")
    bad = con.execute("SELECT count(*) FROM events WHERE case_id IS NULL OR timestamp IS NULL "
                      "OR touchpoint IS NULL").fetchall()[0][0]
    t1 = time.perf_counter()
    per_touchpoint = con.execute("SELECT touchpoint, count(*), count(DISTINCT case_id) "
                                 "FROM events GROUP BY 1").fetchall()
    cases = con.execute("SELECT count(DISTINCT case_id) FROM events").fetchall()[0][0]
    t2 = time.perf_counter()
    events = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    assert bad == 0
    return {"load_validate_s": t1 - t0, "aggregate_s": t2 - t1, "events": events,
            "cases": cases, "touchpoints": len(per_touchpoint)}


def run_pandas(path: str) -> dict:
    import pandas as pd

    t0 = time.perf_counter()
    if path.endswith(".parquet"):
        df = pd.read_parquet(path)
    else:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True, errors="coerce")
    bad = int((df["case_id"].isna() | df["timestamp"].isna() | df["touchpoint"].isna()).sum())
    t1 = time.perf_counter()
    per_touchpoint = df.groupby("touchpoint").agg(events=("case_id", "size"),
                                                  cases=("case_id", "nunique"))
    cases = df["case_id"].nunique()
    t2 = time.perf_counter()
    assert bad == 0
    return {"load_validate_s": t1 - t0, "aggregate_s": t2 - t1, "events": len(df),
            "cases": int(cases), "touchpoints": len(per_touchpoint)}


def run_generate(folder: str, rows: str) -> None:
    csv_path, parquet_path = generate(Path(folder), int(rows))
    print(json.dumps([str(csv_path), str(parquet_path)]))


def run_imports(path: str) -> dict:
    import duckdb  # noqa: F401
    import pandas  # noqa: F401

    import cxresearch.io.events  # noqa: F401

    return {}


TASKS = {"imports only": run_imports, "cxresearch": run_cxresearch,
         "duckdb lazy view": run_lazy_view, "pandas": run_pandas}


def peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM on Linux (ru_maxrss would include the parent's RSS
    at fork time, which Linux carries across exec)."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(task: str, path: str) -> None:
    result = TASKS[task](path)
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def measure(task: str, *args: object) -> dict | list:
    """Run ``task`` in a fresh child process (the parent stays small) and return its JSON."""
    out = subprocess.run([sys.executable, __file__, "--child", task, *map(str, args)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child and args.child[0] == "generate":
        run_generate(*args.child[1:])
        return
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        t0 = time.perf_counter()
        csv_path, parquet_path = map(Path, measure("generate", tmp, args.rows))
        print(f"{args.rows:,} events, {args.rows // 10:,} cases: CSV "
              f"{csv_path.stat().st_size / 2**20:,.0f} MiB, Parquet "
              f"{parquet_path.stat().st_size / 2**20:,.0f} MiB "
              f"(generated in {time.perf_counter() - t0:.1f} s)\n")
        runs = [("cxresearch", csv_path), ("duckdb lazy view", csv_path), ("pandas", csv_path),
                ("cxresearch", parquet_path), ("pandas", parquet_path)]
        base = measure("imports only", csv_path)["peak_rss_mib"]
        print(f"Peak RSS of a child that only imports pandas, duckdb and cxresearch: "
              f"{base:,.0f} MiB\n")
        print(f"{'method':<18}{'file':<9}{'load+validate':>14}{'aggregate':>11}{'total':>8}"
              f"{'peak RSS':>12}")
        results = {}
        for task, path in runs:
            r = measure(task, path)
            assert (r["events"], r["cases"], r["touchpoints"]) == (args.rows, args.rows // 10,
                                                                   len(TOUCHPOINTS)), r
            total = r["load_validate_s"] + r["aggregate_s"]
            results[task, path.suffix] = (total, r["peak_rss_mib"])
            print(f"{task:<18}{path.suffix[1:]:<9}{r['load_validate_s']:>12.1f} s"
                  f"{r['aggregate_s']:>9.1f} s{total:>6.1f} s{r['peak_rss_mib']:>8,.0f} MiB")
        print()
        for suffix in (".csv", ".parquet"):
            (cx_t, cx_m), (pd_t, pd_m) = results["cxresearch", suffix], results["pandas", suffix]
            print(f"{suffix[1:]}: pandas / cxresearch = {pd_t / cx_t:.1f}x time, "
                  f"{pd_m / cx_m:.1f}x peak RSS")


if __name__ == "__main__":
    main()
