"""Peak-end: features against a plain-Python reference, recovery of a planted rule,
the LOO verdict with and without the rule, save/load, cache and reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

import cxresearch as cx
from cxresearch.datasets import make_study
from cxresearch.models.base import SamplerConfig
from cxresearch.models.peak_end import (
    PeakEndConfig,
    PeakEndResult,
    fit_peak_end,
    peak_end_features,
    prior_predictive,
    truth_weights,
)
from cxresearch.plots import peak_end as pe_plots

QUICK = PeakEndConfig(sampler=SamplerConfig(draws=1000, tune=500))
N = 2000


class Tables:
    """A study given as plain tables (no loader involved)."""

    def __init__(self, ratings, outcomes, events=None, config=None):
        self.ratings, self.outcomes, self.config = ratings, outcomes, config or {}
        if events is not None:
            self.events = events


# ---------------------------------------------------------------- reference

def reference_features(ratings: pd.DataFrame, outcomes: pd.DataFrame,
                       events: pd.DataFrame | None, lo: int, hi: int, min_ratings: int = 2):
    """Plain Python, one respondent at a time, straight from the definitions."""
    first_step = {}
    if events is not None:
        steps = {}
        for i, ev in enumerate(events.itertuples(index=False)):
            steps.setdefault(ev.case_id, []).append((ev.timestamp, i, ev.touchpoint))
        for case, evs in steps.items():
            for step, (_, _, tp) in enumerate(sorted(evs)):
                first_step.setdefault((case, tp), step)
    answers = {}
    for o in outcomes.itertuples(index=False):
        if o.outcome == "overall" and not pd.isna(o.value):
            answers.setdefault(o.respondent_id, []).append(float(o.value))
    per = {}
    for pos, r in enumerate(ratings.itertuples(index=False)):
        if not pd.isna(r.value):
            per.setdefault(r.respondent_id, []).append((pos, r.touchpoint, float(r.value),
                                                        r.answered_at))
    rows, excluded = [], {"several": 0, "no_overall": 0, "few": 0}
    for rid in sorted(set(per) | set(answers)):
        if len(answers.get(rid, [])) > 1:
            excluded["several"] += 1
            continue
        if rid not in answers:
            excluded["no_overall"] += 1
            continue
        rs = per.get(rid, [])
        if len(rs) < min_ratings:
            excluded["few"] += 1
            continue
        if all((rid, tp) in first_step for _, tp, _, _ in rs):
            how, key = "events", lambda x, rid=rid: (first_step[(rid, x[1])], x[0])
        elif all(not pd.isna(at) for *_, at in rs):
            how, key = "answered_at", lambda x: (x[3], x[0])
        else:
            how, key = "file", lambda x: x[0]
        ordered = [v for _, _, v, _ in sorted(rs, key=key)]
        mid = (lo + hi) / 2
        far = max(abs(v - mid) for v in ordered)
        peak = min(v for v in ordered if abs(v - mid) == far)  # ties: the more negative
        rows.append({"respondent_id": rid, "peak": peak, "end": ordered[-1],
                     "mean": sum(ordered) / len(ordered), "length": len(ordered),
                     "order_from": how, "overall": answers[rid][0]})
    return pd.DataFrame(rows), excluded


def hand_built() -> Tables:
    t = pd.Timestamp("2026-01-05 10:00")
    m = pd.Timedelta(minutes=1)
    ratings = pd.DataFrame([
        # A: events order differs from file order; peak tie 1 vs 7 -> 1; end = website
        ("A", "website", 7, t + 9 * m), ("A", "checkout", 1, t + 1 * m),
        ("A", "delivery", 4, t + 2 * m),
        # B: no visit to store in the log -> answered_at; tie at t+5m -> file order
        ("B", "website", 2, t + 5 * m), ("B", "store", 6, t + 5 * m), ("B", "checkout", 5, t),
        # C: no answered_at, no events -> file order
        ("C", "website", 3, pd.NaT), ("C", "checkout", 6, pd.NaT), ("C", "delivery", 5, pd.NaT),
        # D: one rating (and one blank) -> excluded
        ("D", "website", 5, t), ("D", "checkout", None, t),
        # E: no overall -> excluded
        ("E", "website", 5, t), ("E", "checkout", 6, t),
        # F: two overall answers -> excluded
        ("F", "website", 5, t), ("F", "checkout", 6, t),
    ], columns=["respondent_id", "touchpoint", "value", "answered_at"])
    ratings.insert(2, "item", "valence")
    ratings["value"] = ratings["value"].astype("Int64")
    ratings["scale_min"], ratings["scale_max"] = 1, 7
    outcomes = pd.DataFrame([("A", "overall", 3.0), ("B", "overall", 8.0),
                             ("C", "overall", 6.0), ("D", "overall", 5.0),
                             ("F", "overall", 5.0), ("F", "overall", 6.0),
                             ("G", "overall", 9.0), ("A", "nps", 2.0)],
                            columns=["respondent_id", "outcome", "value"])
    events = pd.DataFrame([
        ("A", t, "checkout"), ("A", t + m, "delivery"), ("A", t + m, "website"),  # tie: log order
        ("A", t + 2 * m, "checkout"),
        ("B", t, "website"), ("B", t + m, "checkout"),
    ], columns=["case_id", "timestamp", "touchpoint"])
    return Tables(ratings, outcomes, events)


def test_features_on_a_hand_built_study():
    study = hand_built()
    f = peak_end_features(study).set_index("respondent_id")
    assert list(f.index) == ["A", "B", "C"]
    assert f.loc["A", ["peak", "end", "length", "n_events"]].tolist() == [1, 7, 3, 4]
    assert f.loc["A", "order_from"] == "events"
    assert f.loc["B", ["peak", "end"]].tolist() == [2, 6]  # t: checkout; t+5m website, store
    assert f.loc["B", "order_from"] == "answered_at"
    assert f.loc["C", ["peak", "end", "mean"]].tolist() == [6, 5, pytest.approx(14 / 3)]
    assert f.loc["C", "order_from"] == "file"
    assert f["overall"].tolist() == [3.0, 8.0, 6.0]
    ex = f.attrs["excluded"]
    assert ex == {"several overall answers": 1, "no overall": 1,
                  "fewer than 2 valence ratings": 2}  # D (one rating) and G (none)
    notes = " | ".join(f.attrs["notes"])
    assert "1 valence ratings without a value not used" in notes
    assert "2 respondents excluded: fewer than 2 valence ratings" in notes
    assert "first visits in the event log for 1 respondents" in notes
    ref, rex = reference_features(study.ratings, study.outcomes, study.events, 1, 7)
    pd.testing.assert_frame_equal(f.reset_index()[ref.columns], ref, check_dtype=False)
    assert rex == {"several": 1, "no_overall": 1, "few": 2}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [(1, 7), (1, 6), (0, 10)])
def test_features_match_the_reference_on_random_studies(seed, scale):
    """Random ratings with ties, gaps in the log and in answered_at, several scales."""
    rng = np.random.default_rng(seed)
    lo, hi = scale
    tps = [f"tp{i}" for i in range(6)]
    t0 = pd.Timestamp("2026-03-01")
    rows, events, outcomes = [], [], []
    for i in range(120):
        rid = f"{i:04d}"
        k = rng.integers(0, 6)
        chosen = rng.choice(tps, size=k, replace=False)
        mode = rng.choice(["events", "answered", "none"])
        for tp in chosen:
            when = t0 + pd.Timedelta(minutes=int(rng.integers(0, 4)))  # many ties
            rows.append((rid, tp, rng.integers(lo, hi + 1) if rng.random() > 0.05 else None,
                         when if mode != "none" else pd.NaT))
        if mode == "events":
            visits = list(chosen[: max(len(chosen) - (rng.random() < 0.2), 0)])
            visits += list(rng.choice(tps, size=2))  # repeats and unrated visits
            for tp in rng.permutation(visits):
                events.append((rid, t0 + pd.Timedelta(minutes=int(rng.integers(0, 3))), tp))
        for _ in range(rng.choice([0, 1, 1, 1, 2])):
            outcomes.append((rid, "overall", float(rng.integers(0, 11))))
    ratings = pd.DataFrame(rows, columns=["respondent_id", "touchpoint", "value",
                                          "answered_at"])
    ratings["value"] = ratings["value"].astype("Int64")
    ratings["item"], ratings["scale_min"], ratings["scale_max"] = "valence", lo, hi
    events = pd.DataFrame(events, columns=["case_id", "timestamp", "touchpoint"])
    outcomes = pd.DataFrame(outcomes, columns=["respondent_id", "outcome", "value"])
    got = peak_end_features(Tables(ratings, outcomes, events))
    ref, rex = reference_features(ratings, outcomes, events, lo, hi)
    assert len(ref) > 30 and set(ref["order_from"]) == {"events", "answered_at", "file"}
    pd.testing.assert_frame_equal(got[ref.columns], ref, check_dtype=False)
    assert list(got.attrs["excluded"].values()) == [rex["several"], rex["no_overall"],
                                                    rex["few"]]


def test_features_recover_the_planted_rule_exactly():
    """With the generator's peak, end and mean the residual sd is the planted noise
    (0.7, plus 1/12 from rounding); a wrong end or peak would give 1.1-1.3."""
    study = make_study(3000, seed=3)
    f = peak_end_features(study)
    t = truth_weights(study.truth)
    resid = f["overall"] - (t["a"] + t["peak"] * f["peak"] + t["end"] * f["end"]
                            + t["mean"] * f["mean"])
    assert resid.std() == pytest.approx(np.sqrt(0.7**2 + 1 / 12), abs=0.03)
    assert set(f["order_from"]) == {"events"}
    # shuffling the ratings table does not change the journey order taken from the log
    shuffled = Tables(study.ratings.sample(frac=1, random_state=1), study.outcomes,
                      study.events)
    pd.testing.assert_frame_equal(peak_end_features(shuffled), f)


def test_features_from_a_loaded_study_match_the_generator(tiny_study_dir):
    loaded = cx.load_study(tiny_study_dir, on_error="exclude")
    assert loaded.event_log is not None  # the DuckDB path
    got = peak_end_features(loaded)
    want = peak_end_features(make_study(300, seed=11))
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_features_refuse_what_they_cannot_use():
    study = hand_built()
    with pytest.raises(ValueError, match="no ratings of item 'effort'"):
        peak_end_features(study, item="effort")
    bad = Tables(study.ratings.drop(columns=["scale_min", "scale_max"]), study.outcomes)
    with pytest.raises(ValueError, match="scale of 'valence' is unknown"):
        peak_end_features(bad)
    with pytest.raises(ValueError, match="too few to fit"):
        fit_peak_end(study, QUICK)


# ---------------------------------------------------------------- fits

@pytest.fixture(scope="module")
def planted():
    study = make_study(N, seed=1)
    return study, fit_peak_end(study, QUICK, seed=1)


@pytest.fixture(scope="module")
def null():
    study = make_study(N, seed=1, peak_end=False)
    return study, fit_peak_end(study, QUICK, seed=1)


def _check_recovery(study, result: PeakEndResult):
    truth = truth_weights(study.truth)
    table = result.parameters(prob=0.99).query("model == 'peak_end'").set_index("term")
    for term in ("peak", "end", "mean", "length", "a"):
        lo, hi = table.loc[term, ["eti99_low", "eti99_high"]]
        assert lo <= truth[term] <= hi, (term, lo, truth[term], hi)
    w = result.weights()
    assert (w["eti90_high"] - w["eti90_low"] < 0.15).all()  # informative, not vague
    assert table.loc["noise_sd", "mean"] == pytest.approx(np.sqrt(0.49 + 1 / 12), abs=0.05)


def test_planted_rule_is_recovered_and_supported(planted):
    study, result = planted
    assert result.ok, result.warning()
    _check_recovery(study, result)
    w = result.weights().set_index("term")
    assert list(w.columns) == ["model", "mean", "sd", "eti90_low", "eti90_high",
                               "prob_positive"]
    assert w.loc["peak", "prob_positive"] == 1 and w.loc["end", "prob_positive"] == 1
    comp = result.comparison()
    assert comp["model"].iloc[0] == "peak_end" and (comp["n_k_high"] == 0).all()
    adv = result.advantage()
    assert adv["elpd_diff"] > 10 * adv["se"]
    assert comp["elpd_diff"].iloc[1] == pytest.approx(-adv["elpd_diff"])
    assert comp["dse"].iloc[1] == adv["se"] > 0
    assert result.decision()["verdict"] == "supported"
    assert result.verdict().startswith("The data support the peak-end rule")


def test_a_second_seed_recovers_the_rule_too():
    study = make_study(2500, seed=2)
    result = fit_peak_end(study, QUICK, seed=2)
    _check_recovery(study, result)
    assert result.decision()["verdict"] == "supported"


def test_without_the_rule_loo_does_not_prefer_peak_end(null):
    study, result = null
    adv = result.advantage()
    assert adv["elpd_diff"] < 2 * adv["se"]
    dec = result.decision()
    assert dec["verdict"] in ("not supported", "inconclusive")
    assert not result.verdict().startswith("The data support")
    table = result.parameters(prob=0.99).set_index(["model", "term"])
    for model in ("peak_end", "mean_only"):
        lo, hi = table.loc[(model, "mean"), ["eti99_low", "eti99_high"]]
        assert lo <= 1.3 <= hi


def test_cache_save_load_and_reproducibility(planted, tmp_path):
    study, result = planted
    again = fit_peak_end(study, QUICK, seed=1)
    assert again.cached and not result.cached
    pd.testing.assert_frame_equal(again.weights(), result.weights())
    # the stacking weights come from an optimiser: equal to ~1e-8
    pd.testing.assert_frame_equal(again.comparison(), result.comparison(), atol=1e-6)
    assert again.verdict() == result.verdict()
    loaded = PeakEndResult.load(result.save(tmp_path / "fit"))
    pd.testing.assert_frame_equal(loaded.comparison(), result.comparison(), atol=1e-6)
    pd.testing.assert_frame_equal(loaded.features(), result.features())
    assert loaded.config["decision_se"] == 2.0
    fresh = fit_peak_end(study, QUICK, seed=1, use_cache=False)
    xr.testing.assert_equal(fresh.posterior["weight"], result.posterior["weight"])
    other = fit_peak_end(study, QUICK, seed=7, use_cache=False)
    assert not other.posterior["weight"].equals(result.posterior["weight"])


def test_features_of_the_fit_are_the_extracted_ones(planted):
    study, result = planted
    f = peak_end_features(study)
    cols = ["respondent_id", "peak", "end", "mean", "length", "overall"]
    pd.testing.assert_frame_equal(result.features()[cols], f[cols], check_dtype=False)
    assert result.data["n"] == len(f) and result.data["excluded"] == f.attrs["excluded"]


def test_prior_predictive_is_weakly_informative(planted):
    study, _ = planted
    prior = prior_predictive(study, QUICK, draws=200)
    sim = prior["prior_predictive"]["overall"].values
    observed_sd = peak_end_features(study)["overall"].std()
    spread = sim.std(axis=-1)  # spread of overall across respondents, per prior draw
    assert 0.2 * observed_sd < np.median(spread) < 5 * observed_sd
    assert set(prior["prior"].to_dataset().data_vars) >= {"weight", "a", "noise_sd"}


def test_plots(planted):
    study, result = planted
    weights = pd.concat([result.weights(), result.weights(model="mean_only")])
    fig = pe_plots.weights_forest(weights, truth_weights(study.truth))
    assert isinstance(fig, Figure)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["peak-end model (mean, 90% interval)",
                      "mean-only model (mean, 90% interval)", "planted value"]
    lines = {t: result.partial_line(t) for t in ("peak", "end")}
    fig = pe_plots.overall_scatter(result.features(), lines)
    assert len(fig.axes) == 2
    line = lines["peak"]
    slope = np.polyfit(line["peak"], line["mean"], 1)[0]
    assert slope == pytest.approx(result.weights().set_index("term").loc["peak", "mean"])


# ---------------------------------------------------------------- slow: coverage

@pytest.mark.slow
def test_coverage_and_decisions_over_seeds():
    # 4 chains: with 2, split R-hat of these well-mixed fits (bulk ESS > 3000) still
    # exceeds 1.01 in about 1 fit in 30 by chance
    config = PeakEndConfig(sampler=SamplerConfig(draws=1000, tune=1000, chains=4))
    inside, total, verdicts = 0, 0, {True: [], False: []}
    for seed in range(10, 16):
        for rule in (True, False):
            study = make_study(2500, seed=seed, peak_end=rule)
            result = fit_peak_end(study, config, seed=seed)
            assert result.ok, result.warning()
            truth = truth_weights(study.truth)
            table = result.parameters().query("model == 'peak_end'").set_index("term")
            for term in ("peak", "end", "mean", "length", "a"):
                total += 1
                inside += table.loc[term, "eti90_low"] <= truth[term] <= table.loc[
                    term, "eti90_high"]
            verdicts[rule].append(result.decision()["verdict"])
    assert inside / total >= 0.75, (inside, total)
    assert set(verdicts[True]) == {"supported"}
    assert "supported" not in verdicts[False]
