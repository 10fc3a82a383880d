"""Recovery of planted code effects by the causes model, over several synthetic studies.

Run by hand (a few minutes; the first fit compiles the model, later fits reuse it)::

    .venv/bin/python benchmarks/recovery_causes.py                      # 5 seeds, n = 1500
    .venv/bin/python benchmarks/recovery_causes.py --seeds 0 1 2 --n 600 --shrinkage normal

Each seed simulates a study (``cxresearch.datasets.make_study``: 13 codes, each at one
touchpoint, 9 with a planted effect of 0.5 to 1.2 logits and 4 with none) and fits
``fit_causes`` to it. Printed per seed and over all seeds:

* sign accuracy: planted codes with |effect| >= 0.5 whose posterior mean has the right
  sign; ``sure`` also asks the 90% interval to exclude 0;
* ranks: where the planted codes land when ranked by |posterior mean| (ideal: the 9
  planted codes take ranks 1-9), and nulls in the top 5;
* null coverage: codes without an effect whose 90% interval covers 0;
* coverage of the planted value by the 90% interval (shrinkage and the omitted
  respondent effect pull estimates a little towards 0);
* convergence (``ok``, min bulk ESS) and seconds per fit.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from cxresearch.datasets import make_study
from cxresearch.models.base import SamplerConfig
from cxresearch.models.causes import CausesConfig, fit_causes

STRONG = 0.5


def one(seed: int, n: int, config: CausesConfig) -> dict:
    study = make_study(n, seed=seed)
    truth = study.truth["codes"]
    start = time.perf_counter()
    result = fit_causes(study, config, seed=seed, use_cache=False)
    seconds = time.perf_counter() - start
    eff = result.effects()
    eff["true"] = eff["code"].map(lambda c: truth[c]["effect"])
    planted = eff[eff["true"].abs() >= STRONG]
    nulls = eff[eff["true"] == 0]
    sign_ok = np.sign(planted["mean"]) == np.sign(planted["true"])
    sure = sign_ok & ((planted["eti90_low"] > 0) | (planted["eti90_high"] < 0))
    covers = (eff["eti90_low"] <= eff["true"]) & (eff["true"] <= eff["eti90_high"])
    return {"seed": seed, "terms": len(eff), "cells": len(result.data["counts"]),
            "planted": len(planted), "sign_right": int(sign_ok.sum()),
            "sign_sure": int(sure.sum()),
            "planted_ranks": " ".join(map(str, sorted(planted["rank"]))),
            "worst_planted_rank": int(planted["rank"].max()),
            "nulls_in_top5": int((nulls["rank"] <= 5).sum()),
            "nulls": len(nulls), "nulls_cover_0": int(((nulls["eti90_low"] <= 0)
                                                        & (nulls["eti90_high"] >= 0)).sum()),
            "cover_truth": float(covers[eff["true"] != 0].mean()),
            "ok": result.ok, "min_ess_bulk": round(result.diagnostics["min_ess_bulk"]),
            "divergences": result.diagnostics["divergences"], "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n", type=int, default=1500, help="respondents per study")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--shrinkage", default="normal", choices=["normal", "horseshoe"])
    args = parser.parse_args()
    config = CausesConfig(shrinkage=args.shrinkage,
                          sampler=SamplerConfig(draws=args.draws, tune=args.draws))
    warnings.filterwarnings("ignore")
    rows = [one(seed, args.n, config) for seed in args.seeds]
    frame = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(f"causes model, shrinkage={args.shrinkage}, n={args.n}, "
          f"2 chains x {args.draws} draws (+{args.draws} tune)")
    print(frame.to_string(index=False))
    planted, nulls = frame["planted"].sum(), frame["nulls"].sum()
    print(f"\nsign right: {frame['sign_right'].sum()}/{planted} planted codes "
          f"(|effect| >= {STRONG}); interval excludes 0 with the right sign: "
          f"{frame['sign_sure'].sum()}/{planted}")
    print(f"planted codes all ranked above every null: "
          f"{int((frame['worst_planted_rank'] == frame['planted']).sum())}/{len(frame)} seeds; "
          f"nulls in the top 5: {frame['nulls_in_top5'].sum()} in {len(frame)} seeds")
    print(f"null codes whose 90% interval covers 0: {frame['nulls_cover_0'].sum()}/{nulls} "
          f"({frame['nulls_cover_0'].sum() / nulls:.0%})")
    print(f"90% intervals covering the planted effect: {frame['cover_truth'].mean():.0%}")
    print(f"converged (ok): {int(frame['ok'].sum())}/{len(frame)}; median fit "
          f"{frame['seconds'].median():.1f} s (first fit includes compilation: "
          f"{frame['seconds'].iloc[0]:.1f} s)")


if __name__ == "__main__":
    main()
