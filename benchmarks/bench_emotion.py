"""Speed, scale and convergence of the emotion model (counts on cells vs rows).

Run by hand (about 10 minutes on 2 shared cores)::

    .venv/bin/python benchmarks/bench_emotion.py            # every part
    .venv/bin/python benchmarks/bench_emotion.py --part a   # one part: a, b or c

Each part runs in its own child process (so "cold" means cold) and prints a table:

a. the counts model against the row-level ``pm.OrderedLogistic`` model with the same
   priors, effects and sampler on the same 20,000 ratings (touchpoint x segment,
   unweighted, 2 chains x 1000 draws, nutpie, low-rank mass matrix): wall time (model
   build + compile + sampling) and sampling time, and the agreement of the posteriors (difference of
   the posterior means of every cell mean rating and cutpoint, in units of their
   combined Monte Carlo standard error);
b. the counts model at 10^4, 10^6 and 10^7 ratings (synthetic respondents, string
   ids): aggregation time (join to respondents, cell x category counts with numpy
   bincount), sampling time, and peak memory of the aggregation (Linux VmHWM,
   reset before each size);
c. the demo study (data/demo): import, load, the first fit in a fresh process
   (compilation included, empty cache), a second fit in the same process (cache
   disabled), a cached fit, and the convergence of the default fit (2 x 2000 draws):
   max R-hat, divergences, min bulk and tail ESS of the reported quantities; then the
   same with 2 x 1000 draws for seeds 0-9.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
RESULT = "BENCH-RESULT "


def _rss_peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    with contextlib.suppress(OSError):  # Linux: reset VmHWM
        Path("/proc/self/clear_refs").write_text("5")


# ---------------------------------------------------------------- a

def part_a() -> dict:
    import arviz as az

    from cxresearch.datasets import make_study
    from cxresearch.models import emotion as E
    from cxresearch.models.base import SamplerConfig, diagnostics, sample

    study = make_study(7000, seed=7)
    ratings = study.ratings.iloc[:20000].reset_index(drop=True)
    study = SimpleNamespace(ratings=ratings, respondents=study.respondents,
                            touchpoints=study.touchpoints, config=study.config)
    sampler = SamplerConfig(draws=1000, tune=1000, target_accept=0.95)
    config = E.EmotionConfig(weighted=False, sampler=sampler)
    # warm numba up on an unrelated tiny model, so neither fit pays its start-up
    tiny = E.EmotionConfig(cells=("touchpoint",), sampler=SamplerConfig(draws=20, tune=20))
    E.fit_emotion(SimpleNamespace(ratings=ratings.iloc[:500], respondents=study.respondents,
                                  touchpoints=study.touchpoints), tiny, use_cache=False)

    out = {}
    start = time.perf_counter()
    prep = E._prepare(study, config)
    model = E._build_model(prep, config)
    t0 = time.perf_counter()
    idata_c = sample(model, config.sampler, 1, nutpie_options=E.NUTPIE_OPTIONS)
    out["counts_wall"] = time.perf_counter() - start
    out["counts_sampling"] = float(idata_c["posterior"].attrs.get("sampling_time", np.nan))
    out["counts_compile_and_sample"] = time.perf_counter() - t0

    start = time.perf_counter()
    prep_rows = E._prepare(study, config)
    people = pd.Index(study.respondents["respondent_id"])
    pos = people.get_indexer(ratings["respondent_id"])
    seg = pd.Index(prep_rows.levels["segment"]).get_indexer(
        study.respondents["segment"].to_numpy()[pos])
    tp = pd.Index(prep_rows.levels["touchpoint"]).get_indexer(ratings["touchpoint"])
    cell = tp * len(prep_rows.levels["segment"]) + seg
    y = ratings["value"].to_numpy(dtype=int) - 1
    model_rows = E._build_model(prep_rows, config, ordered_rows=(cell, y))
    t0 = time.perf_counter()
    idata_r = sample(model_rows, config.sampler, 1, nutpie_options=E.NUTPIE_OPTIONS)
    out["rows_wall"] = time.perf_counter() - start
    out["rows_sampling"] = float(idata_r["posterior"].attrs.get("sampling_time", np.nan))
    out["rows_compile_and_sample"] = time.perf_counter() - t0

    data = prep.as_data()
    post_c = idata_c["posterior"].to_dataset()
    post_r = idata_r["posterior"].to_dataset()
    post_c = post_c.merge(E._derive(post_c, data, "logit"))
    post_r = post_r.merge(E._derive(post_r, data, "logit"))
    names = E._report_vars(prep)
    for label, post in (("counts", post_c), ("rows", post_r)):
        tree = idata_c.copy() if label == "counts" else idata_r.copy()
        tree["posterior"] = xr.DataTree(post)
        d = diagnostics(tree, names)
        out[f"{label}_max_rhat"], out[f"{label}_min_ess_bulk"] = d["max_rhat"], d["min_ess_bulk"]
        out[f"{label}_divergences"] = d["divergences"]
    z, diff = [], []
    for name in ("mean_rating", "cutpoints", "top_box", "bottom_box"):
        a, b = post_c[name], post_r[name]
        se = np.sqrt(az.mcse(post_c[[name]])[name] ** 2 + az.mcse(post_r[[name]])[name] ** 2)
        d = a.mean(("chain", "draw")) - b.mean(("chain", "draw"))
        z.append(np.abs(d / se).values.ravel())
        if name == "mean_rating":
            diff.append(np.abs(d).values.ravel())
            out["mean_rating_mcse_median"] = float(np.median(se.values))
            sd_ratio = (a.std(("chain", "draw")) / b.std(("chain", "draw"))).values
            out["sd_ratio_range"] = [float(sd_ratio.min()), float(sd_ratio.max())]
    z = np.concatenate(z)
    out["quantities_compared"] = int(z.size)
    out["max_abs_diff_mean_rating"] = float(np.concatenate(diff).max())
    out["max_z"] = float(z.max())
    out["share_within_3_mcse"] = float((z < 3).mean())
    out["ratings"] = int(len(ratings))
    return out


# ---------------------------------------------------------------- b

def _synthetic(n_ratings: int, seed: int = 0) -> SimpleNamespace:
    """Respondents (3 ratings each on average) and ratings with string ids."""
    from cxresearch.datasets import SEGMENTS, TOUCHPOINTS, _journey_map

    rng = np.random.default_rng(seed)
    n_people = max(n_ratings // 3, 1)
    width = len(str(n_people))
    ids = pd.Series(np.arange(1, n_people + 1)).astype(str).str.zfill(width).radd("R")
    seg = rng.integers(0, len(SEGMENTS), n_people)
    people = pd.DataFrame({"respondent_id": ids.astype("str"),
                           "segment": np.array(SEGMENTS)[seg],
                           "wave": np.where(rng.random(n_people) < 0.5, "2025-H1", "2025-H2"),
                           "weight": rng.uniform(0.5, 2.0, n_people)})
    who = rng.integers(0, n_people, n_ratings)
    tps = np.array(list(TOUCHPOINTS))
    tp = rng.integers(0, len(tps), n_ratings)
    eta = np.linspace(-1, 1, len(tps))[tp] + np.linspace(-0.5, 0.5, len(SEGMENTS))[seg[who]]
    cut = np.linspace(-2.5, 2.5, 6)
    value = 1 + (rng.random(n_ratings)[:, None] >= 1 / (1 + np.exp(eta[:, None] - cut))).sum(1)
    ratings = pd.DataFrame({"respondent_id": ids.to_numpy()[who].astype(object),
                            "touchpoint": tps[tp], "item": "valence",
                            "value": pd.array(value, dtype="Int64"),
                            "scale_min": pd.array(np.ones(n_ratings, int), dtype="Int64"),
                            "scale_max": pd.array(np.full(n_ratings, 7), dtype="Int64")})
    ratings["respondent_id"] = ratings["respondent_id"].astype("str")
    return SimpleNamespace(ratings=ratings, respondents=people, touchpoints=_journey_map())


def part_b() -> dict:
    from cxresearch.models import emotion as E

    config = E.EmotionConfig()
    rows = []
    for n in (10**4, 10**6, 10**7):
        study = _synthetic(n)
        before = _rss_mib()
        _reset_peak()
        start = time.perf_counter()
        E.emotion_counts(study, config)
        aggregate = time.perf_counter() - start
        peak = _rss_peak_mib()
        start = time.perf_counter()
        result = E.fit_emotion(study, config, seed=0, use_cache=False)
        fit = time.perf_counter() - start
        rows.append({"ratings": n, "aggregate_s": aggregate, "fit_s": fit,
                     "sampling_s": float(result.posterior.attrs.get("sampling_time", np.nan)),
                     "rss_before_mib": before, "peak_aggregation_mib": peak,
                     "aggregation_extra_mib": peak - before, "ok": bool(result.ok),
                     "max_rhat": result.diagnostics["max_rhat"]})
        del study, result
    return {"rows": rows}


# ---------------------------------------------------------------- c

def part_c() -> dict:
    out = {}
    start = time.perf_counter()
    from cxresearch import load_study
    from cxresearch.models import EmotionConfig, fit_emotion
    from cxresearch.models.base import SamplerConfig
    out["import_s"] = time.perf_counter() - start
    start = time.perf_counter()
    study = load_study(ROOT / "data" / "demo")
    out["load_s"] = time.perf_counter() - start
    start = time.perf_counter()
    cold = fit_emotion(study, EmotionConfig(), seed=0)  # empty cache: compiles, samples, stores
    out["cold_s"] = time.perf_counter() - start
    start = time.perf_counter()
    warm = fit_emotion(study, EmotionConfig(), seed=0, use_cache=False)
    out["warm_s"] = time.perf_counter() - start
    start = time.perf_counter()
    cached = fit_emotion(study, EmotionConfig(), seed=0)
    out["cached_s"] = time.perf_counter() - start
    assert cached.cached and not warm.cached
    out["same_numbers_cold_warm"] = bool(np.array_equal(cold.posterior["p"].values,
                                                        warm.posterior["p"].values))
    d = cold.diagnostics
    out |= {"max_rhat": d["max_rhat"], "divergences": d["divergences"],
            "min_ess_bulk": d["min_ess_bulk"], "min_ess_tail": d["min_ess_tail"],
            "ok": bool(cold.ok), "ratings": int(np.sum(cold.data["counts"])),
            "cells": int(cold.posterior.sizes["cell"]),
            "centring": cold.data["centring"]}
    seeds = []
    short = EmotionConfig(sampler=SamplerConfig(draws=1000, tune=1000, target_accept=0.95))
    for seed in range(10):  # 2 x 1000 draws with seeds 0-9: how noisy is max R-hat?
        d = fit_emotion(study, short, seed=seed, use_cache=False).diagnostics
        seeds.append({"seed": seed, "max_rhat": d["max_rhat"], "min_ess_bulk": d["min_ess_bulk"],
                      "min_ess_tail": d["min_ess_tail"], "divergences": d["divergences"]})
    out["seeds"] = seeds
    params = cold.parameters()
    out["effects_max_rhat"] = float(params["r_hat"].max())
    out["effects_min_ess_bulk"] = float(params["ess_bulk"].min())
    out["effects_min_ess_tail"] = float(params["ess_tail"].min())
    return out


PARTS = {"a": part_a, "b": part_b, "c": part_c}


def _child(part: str) -> dict:
    env = dict(os.environ)
    env["CXRESEARCH_CACHE"] = tempfile.mkdtemp(prefix="cx-bench-cache-")
    env.pop("CXRESEARCH_NO_CACHE", None)
    proc = subprocess.run([sys.executable, __file__, "--child", part], capture_output=True,
                          text=True, env=env, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    raise RuntimeError(f"part {part} failed:\n{proc.stderr[-3000:]}")


def report(part: str, res: dict) -> None:
    f = "{:,.4g}".format
    if part == "a":
        print(f"\n(a) counts vs row-level pm.OrderedLogistic, {res['ratings']:,} ratings, "
              "touchpoint x segment, 2 x 1000 draws")
        table = pd.DataFrame({
            "model": ["counts (multinomial on cells)", "rows (pm.OrderedLogistic)"],
            "wall s (build+compile+sample)": [res["counts_wall"], res["rows_wall"]],
            "sampling s": [res["counts_sampling"], res["rows_sampling"]],
            "max R-hat": [res["counts_max_rhat"], res["rows_max_rhat"]],
            "min bulk ESS": [res["counts_min_ess_bulk"], res["rows_min_ess_bulk"]],
            "divergences": [res["counts_divergences"], res["rows_divergences"]]})
        print(table.to_string(index=False, float_format=f))
        print(f"wall-time ratio rows/counts: {res['rows_wall'] / res['counts_wall']:.1f}x; "
              f"sampling-time ratio: {res['rows_sampling'] / res['counts_sampling']:.1f}x")
        print(f"posterior agreement over {res['quantities_compared']} quantities (cell mean, "
              f"boxes, cutpoints): max |diff| / MCSE = {res['max_z']:.2f}, "
              f"{100 * res['share_within_3_mcse']:.1f}% within 3 MCSE; max |diff| of a cell "
              f"mean rating {res['max_abs_diff_mean_rating']:.4f} (median MCSE "
              f"{res['mean_rating_mcse_median']:.4f}); posterior sd ratio "
              f"{res['sd_ratio_range'][0]:.3f}-{res['sd_ratio_range'][1]:.3f}")
    elif part == "b":
        print("\n(b) counts model at scale (touchpoint x segment, weighted, 2 x 2000 draws)")
        print(pd.DataFrame(res["rows"]).to_string(index=False, float_format=f))
    else:
        print("\n(c) demo study (data/demo), default fit (2 x 2000 draws)")
        for key, value in res.items():
            if key not in ("centring", "seeds"):
                print(f"  {key:24s} {value:.4f}" if isinstance(value, float)
                      else f"  {key:24s} {value}")
        print("  centring weights:", res["centring"])
        seeds = pd.DataFrame(res["seeds"])
        print("  2 x 1000 draws (instead of the default 2 x 2000), seeds 0-9:")
        print(seeds.to_string(index=False, float_format="{:.4f}".format))
        print(f"  max R-hat <= 1.01 in {int((seeds['max_rhat'] <= 1.01).sum())} of {len(seeds)}"
              f" seeds; divergences {int(seeds['divergences'].sum())}; min bulk ESS "
              f"{seeds['min_ess_bulk'].min():.0f}, min tail ESS {seeds['min_ess_tail'].min():.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=sorted(PARTS), action="append")
    parser.add_argument("--child", choices=sorted(PARTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.child:
        print(RESULT + json.dumps(PARTS[args.child](), default=float), flush=True)
        return
    for part in args.part or sorted(PARTS):
        report(part, _child(part))


if __name__ == "__main__":
    main()
