"""Recovery of the emotion model on synthetic studies with known truth, over several seeds.

Run by hand::

    .venv/bin/python benchmarks/recovery_emotion.py [--n 3000] [--seeds 0 1 2 3 4 5]

For each seed: a study from ``cxresearch.datasets.make_study`` (delivery improves by
0.8 logits in the second wave, checkout does not change), the counts model on
touchpoint x segment x wave cells (the default sampler: 2 chains x 2000 draws), then

* coverage: the share of cells whose true mean rating (and top and bottom box) lies
  in the 90% interval. The truth cells (``truth["emotion"]["cells"]``) are the exact
  marginal distributions of the ratings of touchpoint x segment x wave, integrated
  over respondent, code and path effects: the population that a cell of the counts
  model describes;
* P(improved) = P(mean rating in 2025-H2 > 2025-H1) per touchpoint, pooled over
  segments with the same (weighted) mix in both waves; delivery should be > 0.95,
  checkout (the null touchpoint) in between;
* convergence (max R-hat, min bulk/tail ESS, divergences) and the fit time.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

from cxresearch.datasets import make_study
from cxresearch.models.emotion import EmotionConfig, EmotionResult, fit_emotion

CELLS = ("touchpoint", "segment", "wave")


def coverage(result: EmotionResult, truth: dict) -> dict[str, float]:
    """Share of cells whose true mean / top box / bottom box is inside the interval."""
    true = pd.DataFrame(truth["emotion"]["cells"])
    lo, hi = "eti90_low", "eti90_high"
    cells = result.cells()
    out = {}
    for quantity, column in (("mean_rating", "mean"), ("top_box", "top_box"),
                             ("bottom_box", "bottom_box")):
        est = cells[cells["quantity"] == quantity].merge(true, on=list(CELLS),
                                                         suffixes=("", "_true"))
        value = est[f"{column}_true"] if column == "mean" else est[column]
        out[quantity] = float(((est[lo] <= value) & (value <= est[hi])).mean())
    out["cells"] = len(cells) // 3
    return out


def improvement(result: EmotionResult, waves: list[str]) -> dict[str, float]:
    c = result.contrast("wave", waves[0], waves[1], within=["touchpoint"])
    c = c[c["quantity"] == "mean_rating"].set_index("touchpoint")
    return {"p_delivery": float(c.loc["delivery", "prob_b_greater"]),
            "p_checkout": float(c.loc["checkout", "prob_b_greater"]),
            "delivery_change": float(c.loc["delivery", "mean"])}


def run(n: int, seeds: list[int], draws: int, tune: int) -> pd.DataFrame:
    from cxresearch.models.base import SamplerConfig

    sampler = SamplerConfig(draws=draws, tune=tune, target_accept=0.95)
    config = EmotionConfig(cells=CELLS, sampler=sampler)
    rows = []
    for seed in seeds:
        study = make_study(n, seed=seed)
        start = time.perf_counter()
        result = fit_emotion(study, config, seed=seed, use_cache=False)
        seconds = time.perf_counter() - start
        truth = study.truth
        d = result.diagnostics
        row = {"seed": seed, "ratings": len(study.ratings), **coverage(result, truth),
               **improvement(result, truth["waves"]["names"]),
               "max_rhat": d["max_rhat"], "min_ess_bulk": d["min_ess_bulk"],
               "min_ess_tail": d["min_ess_tail"], "divergences": d["divergences"],
               "ok": result.ok, "seconds": seconds}
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False, float_format=lambda v: f"{v:.3f}"),
              flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="respondents per study")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--draws", type=int, default=2000, help="draws per chain (default)")
    parser.add_argument("--tune", type=int, default=1000, help="tuning steps per chain")
    args = parser.parse_args()
    os.environ["CXRESEARCH_NO_CACHE"] = "1"
    warnings.filterwarnings("ignore", category=FutureWarning)
    table = run(args.n, args.seeds, args.draws, args.tune)
    print("\nall seeds")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nmean coverage of the 90% intervals (mean rating): {table['mean_rating'].mean():.3f}"
          f" (range {table['mean_rating'].min():.3f}-{table['mean_rating'].max():.3f})")
    print(f"P(improved) delivery > 0.95 in {int((table['p_delivery'] > 0.95).sum())} of "
          f"{len(table)} seeds; checkout within (0.05, 0.95) in "
          f"{int(table['p_checkout'].between(0.05, 0.95).sum())} of {len(table)}")
    print(f"converged (ok) in {int(table['ok'].sum())} of {len(table)}; "
          f"median fit {np.median(table['seconds']):.1f} s")


if __name__ == "__main__":
    main()
