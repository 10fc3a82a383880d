"""Recovery of the outcome models (NPS, CSAT, CES) on synthetic studies, over several seeds.

Run by hand::

    .venv/bin/python benchmarks/recovery_outcomes.py [--n 20000] [--seeds 0 1 2 3 4 5]

For each seed: a study from ``cxresearch.datasets.make_study`` (delivery emotion rises
by 0.8 logits in the second wave, which lifts NPS by a few points), then

* coverage: the share of segment x wave groups whose true NPS / mean CSAT / mean CES
  (``truth["outcomes"]["by_segment_wave"]``) lies in the 90% interval (default model:
  ordinal pooling, survey weights);
* the wave change of NPS (groups by wave, weighted to the population): whether the
  true change lies in its 90% interval and P(improved), which should exceed 0.95;
* a null change: the first wave split at random into two halves, so that nothing
  changed; P(improved) should lie between 0.05 and 0.95 in most seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
import warnings

import numpy as np
import pandas as pd

from cxresearch.datasets import make_study
from cxresearch.models.outcomes import OutcomeConfig, fit_outcome

OUTCOMES = (("nps", "nps", "nps"), ("csat", "mean", "csat_mean"), ("ces", "mean", "ces_mean"))


def coverage(study, outcome: str, quantity: str, column: str, seed: int) -> tuple[float, bool]:
    result = fit_outcome(study, outcome, by=("segment", "wave"), seed=seed, use_cache=False)
    truth = pd.DataFrame(study.truth["outcomes"]["by_segment_wave"])
    g = result.groups().query("quantity == @quantity")
    m = g.merge(truth[["segment", "wave", column]], on=["segment", "wave"], validate="1:1")
    return float(m[column].between(m["eti90_low"], m["eti90_high"]).mean()), result.ok


def wave_change(study, seed: int) -> dict[str, float]:
    truth = study.truth["outcomes"]["by_wave"]
    result = fit_outcome(study, "nps", by="wave", seed=seed, use_cache=False)
    row = result.change(truth[0]["wave"], truth[1]["wave"]).iloc[0]
    true = truth[1]["nps"] - truth[0]["nps"]
    return {"true_change": true, "change": row["mean"],
            "change_covered": bool(row["eti90_low"] < true < row["eti90_high"]),
            "p_improved": row["p_improved"]}


def null_change(study, seed: int) -> float:
    people = study.respondents
    first = people["wave"] == people["wave"].min()
    half = pd.Series(None, index=people.index, dtype="str")
    rng = np.random.default_rng(seed)
    half[first] = np.where(rng.random(int(first.sum())) < 0.5, "A", "B")
    split = dataclasses.replace(study, respondents=people.assign(half=half))
    result = fit_outcome(split, "nps", by="half", config=OutcomeConfig(), seed=seed,
                         use_cache=False)
    return float(result.change("A", "B").iloc[0]["p_improved"])


def run(n: int, seeds: list[int]) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        study = make_study(n, seed=seed, wave_effect=0.8)
        start = time.perf_counter()
        row: dict[str, object] = {"seed": seed}
        oks = []
        for outcome, quantity, column in OUTCOMES:
            row[f"{outcome}_coverage"], ok = coverage(study, outcome, quantity, column, seed)
            oks.append(ok)
        row |= wave_change(study, seed)
        row["p_null"] = null_change(study, seed)
        row["ok"] = all(oks)
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False, float_format=lambda v: f"{v:.3f}"),
              flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="respondents per study")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    args = parser.parse_args()
    os.environ["CXRESEARCH_NO_CACHE"] = "1"
    warnings.filterwarnings("ignore", category=FutureWarning)
    table = run(args.n, args.seeds)
    print("\nall seeds")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for outcome, _, _ in OUTCOMES:
        print(f"{outcome}: mean coverage of the 90% intervals "
              f"{table[f'{outcome}_coverage'].mean():.3f}")
    print(f"NPS wave change: true change inside the 90% interval in "
          f"{int(table['change_covered'].sum())} of {len(table)}; P(improved) > 0.95 in "
          f"{int((table['p_improved'] > 0.95).sum())} of {len(table)}")
    print(f"null change: P(improved) within (0.05, 0.95) in "
          f"{int(table['p_null'].between(0.05, 0.95).sum())} of {len(table)}")
    print(f"all fits converged (ok) in {int(table['ok'].sum())} of {len(table)} seeds")


if __name__ == "__main__":
    main()
