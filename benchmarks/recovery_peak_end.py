"""Recovery of a planted peak-end rule, and the verdict with and without one.

Run by hand (a few minutes; the first fit compiles the model, later fits reuse it)::

    .venv/bin/python benchmarks/recovery_peak_end.py                   # 8 seeds each way
    .venv/bin/python benchmarks/recovery_peak_end.py --seeds 0 1 2 --n 1500 --draws 500

Each seed simulates two studies with ``cxresearch.datasets.make_study``: one whose
overall evaluation follows the planted peak-end rule (on a 1-7 scale: a = -0.2,
w_peak = 0.5, w_end = 0.45, w_mean = 0.35, noise sd 0.7, rounded to 0-10) and one where
it follows the mean only (w_mean = 1.3, w_peak = w_end = 0). ``fit_peak_end`` is fitted
to each (no cache). Printed per fit and over all fits:

* coverage: how often the 90% equal-tailed interval of the peak-end model holds the
  planted value of peak, end, mean, length (planted 0) and the intercept ``a``
  (nominal 90%), and the mean error of the posterior means;
* LOO: elpd(peak-end) - elpd(mean-only) with its standard error, which model LOO
  prefers (by more than 2 SE, or neither) and the verdict;
* convergence (``ok``) and seconds per fit (sampling; LOO time apart).
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

from cxresearch.datasets import make_study
from cxresearch.models.base import SamplerConfig
from cxresearch.models.peak_end import PeakEndConfig, fit_peak_end, truth_weights

TERMS = ("peak", "end", "mean", "length", "a")


def one(seed: int, rule: bool, n: int, config: PeakEndConfig) -> dict:
    study = make_study(n, seed=seed, peak_end=rule)
    truth = truth_weights(study.truth)
    result = fit_peak_end(study, config, seed=seed, use_cache=False)
    start = time.perf_counter()
    table = result.parameters().query("model == 'peak_end'").set_index("term")
    adv = result.advantage()
    decision = result.decision()
    row = {"rule": "peak-end" if rule else "mean-only", "seed": seed, "n": result.data["n"],
           "ok": result.ok, "fit_s": result.diagnostics["seconds"]}
    for term in TERMS:
        row[f"{term}_est"] = table.loc[term, "mean"]
        row[f"{term}_err"] = table.loc[term, "mean"] - truth[term]
        row[f"{term}_in90"] = bool(table.loc[term, "eti90_low"] <= truth[term]
                                   <= table.loc[term, "eti90_high"])
    d, se = adv["elpd_diff"], adv["se"]
    row.update(elpd_diff=d, se=se,
               loo_prefers="peak-end" if d > 2 * se else "mean-only" if d < -2 * se
               else "neither (within 2 SE)",
               verdict=decision["verdict"], loo_s=round(time.perf_counter() - start, 1))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(100, 108)))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    config = PeakEndConfig(sampler=SamplerConfig(draws=args.draws, tune=args.draws))
    warnings.filterwarnings("ignore")
    rows = []
    for rule in (True, False):
        for seed in args.seeds:
            row = one(seed, rule, args.n, config)
            rows.append(row)
            print(f"{row['rule']:9s} seed {seed:3d}  n {row['n']:5d}  "
                  f"peak {row['peak_est']:+.3f} end {row['end_est']:+.3f} "
                  f"mean {row['mean_est']:+.3f}  in90 "
                  f"{sum(row[f'{t}_in90'] for t in TERMS)}/{len(TERMS)}  "
                  f"elpd_diff {row['elpd_diff']:+8.1f} (SE {row['se']:4.1f})  "
                  f"LOO: {row['loo_prefers']:22s} verdict: {row['verdict']:13s} "
                  f"ok {row['ok']}  fit {row['fit_s']:.1f} s  loo {row['loo_s']:.1f} s",
                  flush=True)
    frame = pd.DataFrame(rows)
    print("\nCoverage of the planted values by the 90% intervals (nominal 0.90), "
          "and mean error of the posterior mean:")
    cov = frame.groupby("rule")[[f"{t}_in90" for t in TERMS]].mean()
    cov.columns = TERMS
    cov["all"] = frame.groupby("rule")[[f"{t}_in90" for t in TERMS]].sum().sum(1) / (
        frame.groupby("rule").size() * len(TERMS))
    print(cov.round(2).to_string())
    err = frame.groupby("rule")[[f"{t}_err" for t in TERMS]].mean()
    err.columns = TERMS
    print(err.round(3).to_string())
    print("\nLOO preference and verdicts:")
    print(pd.crosstab(frame["rule"], frame["loo_prefers"]).to_string())
    print(pd.crosstab(frame["rule"], frame["verdict"]).to_string())
    print("\nelpd_diff / SE by planted rule: "
          + "; ".join(f"{r}: {g.min():.1f} to {g.max():.1f}" for r, g in
                      (frame["elpd_diff"] / frame["se"]).groupby(frame["rule"])))
    print(f"converged: {int(frame['ok'].sum())}/{len(frame)}; median fit "
          f"{frame['fit_s'].median():.1f} s (first includes compilation: "
          f"{frame['fit_s'].iloc[0]:.1f} s); median LOO + summaries "
          f"{frame['loo_s'].median():.1f} s")


if __name__ == "__main__":
    main()
