"""The emotion model: input counts, priors, fits, summaries, recovery of known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxresearch.datasets import make_study
from cxresearch.models.base import FitResult, SamplerConfig
from cxresearch.models.emotion import (
    EmotionConfig,
    EmotionResult,
    emotion_counts,
    fit_emotion,
    prior_predictive,
)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

QUICK = SamplerConfig(draws=300, tune=300, target_accept=0.95)
MEDIUM = SamplerConfig(draws=500, tune=500, target_accept=0.95)
LO, HI = "eti90_low", "eti90_high"
TRUTH_KEYS = ["touchpoint", "segment", "wave"]


@pytest.fixture(scope="module")
def small():
    return make_study(400, seed=2)


@pytest.fixture(scope="module")
def fit_small(small):
    return fit_emotion(small, EmotionConfig(sampler=QUICK), seed=1, use_cache=False)


def _covered(cells: pd.DataFrame, truth: dict) -> pd.Series:
    true = pd.DataFrame(truth["emotion"]["cells"])
    est = cells[cells["quantity"] == "mean_rating"].merge(true, on=TRUTH_KEYS,
                                                           suffixes=("", "_true"))
    assert len(est) == len(true)
    return (est[LO] <= est["mean_true"]) & (est["mean_true"] <= est[HI])


# ---------------------------------------------------------------- input

def test_counts_add_up_to_the_ratings(small):
    counts = emotion_counts(small, EmotionConfig(weighted=False))
    assert counts["n"].sum() == len(small.ratings)
    assert set(counts["value"]) == set(range(1, 8))
    merged = small.ratings.merge(small.respondents, on="respondent_id")
    manual = merged.groupby(["touchpoint", "segment", "value"]).size()
    got = counts.set_index(["touchpoint", "segment", "value"])["n"]
    assert (got.loc[manual.index].to_numpy() == manual.to_numpy()).all()
    # unweighted: effective counts are the counts
    assert np.allclose(counts["effective"], counts["n"])


def test_weights_rescaled_to_kish_effective_size(small):
    """Within touchpoint x wave cells the weights vary (they are set per segment)."""
    counts = emotion_counts(small, EmotionConfig(cells=("touchpoint", "wave")))
    merged = small.ratings.merge(small.respondents, on="respondent_id")
    by_cell = merged.groupby(["touchpoint", "wave"])["weight"]
    kish = (by_cell.sum() ** 2 / (merged.assign(w2=merged["weight"] ** 2)
                                  .groupby(["touchpoint", "wave"])["w2"].sum()))
    eff = counts.groupby(["touchpoint", "wave"])["effective"].sum()
    assert np.allclose(eff.loc[kish.index], kish)
    assert (eff < counts.groupby(["touchpoint", "wave"])["n"].sum()).all()
    # the shares are the weighted shares
    cell = merged[(merged["touchpoint"] == "delivery") & (merged["wave"] == "2025-H1")]
    weighted = cell.groupby("value")["weight"].sum() / cell["weight"].sum()
    mine = counts[(counts["touchpoint"] == "delivery") & (counts["wave"] == "2025-H1")]
    mine = mine.set_index("value")["effective"]
    assert np.allclose((mine / mine.sum()).loc[weighted.index], weighted)


def test_bad_input_is_refused_or_counted(small):
    with pytest.raises(ValueError, match="no ratings of item"):
        emotion_counts(small, EmotionConfig(item="frustration"))
    ratings = small.ratings.copy()
    ratings.loc[0, "value"] = 9
    broken = type("S", (), {"ratings": ratings, "respondents": small.respondents,
                            "touchpoints": small.touchpoints})()
    with pytest.raises(ValueError, match="outside the scale 1-7"):
        emotion_counts(broken, EmotionConfig())
    people = small.respondents.iloc[10:]
    lost = small.ratings["respondent_id"].isin(small.respondents["respondent_id"][:10]).sum()
    partial = type("S", (), {"ratings": small.ratings, "respondents": people,
                             "touchpoints": small.touchpoints})()
    counts = emotion_counts(partial, EmotionConfig())
    assert counts["n"].sum() == len(small.ratings) - lost
    assert any(f"{lost} ratings of respondents missing" in note for note in counts.attrs["notes"])
    with pytest.raises(ValueError, match="touchpoint"):
        EmotionConfig(cells=("segment",))
    with pytest.raises(ValueError, match="link"):
        EmotionConfig(link="cauchit")


def test_priors_put_sensible_mass_over_the_scale(small):
    prior = prior_predictive(small, EmotionConfig(), draws=400, seed=3)["prior"]
    p = prior["p"].values.reshape(-1, 7)
    share = p.mean(0)  # average prior probability of each category
    assert ((share > 0.05) & (share < 0.30)).all(), share
    means = prior["mean_rating"].values.ravel()
    assert np.quantile(means, 0.05) < 3.0 and np.quantile(means, 0.95) > 5.0
    assert 3.5 < means.mean() < 4.5  # no side of the scale favoured
    assert (p.max(1) > 0.9).mean() < 0.05  # a cell rarely piles onto one category
    sims = prior_predictive(small, EmotionConfig(), draws=50, seed=3)["prior_predictive"]
    n = emotion_counts(small, EmotionConfig()).groupby(["touchpoint", "segment"], sort=False)["n"]
    assert (sims["counts"].sum("category").values == n.sum().to_numpy()).all()


# ---------------------------------------------------------------- a fit and its summaries

def test_fit_summaries(fit_small, small):
    r = fit_small
    assert isinstance(r, EmotionResult) and r.model == "emotion"
    assert r.diagnostics["divergences"] == 0 and r.diagnostics["max_rhat"] < 1.05
    cells = r.cells()
    assert list(cells.columns) == ["touchpoint", "segment", "quantity", "mean", "sd", LO, HI,
                                   "n", "observed"]
    assert len(cells) == 9 * 4 * 3
    assert cells.query("quantity == 'mean_rating'")["n"].sum() == len(small.ratings)
    assert (cells[LO] <= cells["mean"]).all() and (cells["mean"] <= cells[HI]).all()
    spec = r.spectrum()
    total = spec.groupby(["touchpoint", "segment"], sort=False)["mean"].sum()
    assert np.allclose(total, 1.0)
    assert spec["touchpoint"].iloc[0] == "search_ad"  # journey-map order, not alphabetical
    # the spectrum and the boxes agree
    boxes = cells.query("quantity == 'top_box'").set_index(["touchpoint", "segment"])["mean"]
    top = spec[spec["value"] >= 6].groupby(["touchpoint", "segment"])["mean"].sum()
    assert np.allclose(boxes.loc[top.index], top)
    curve = r.journey_curve()
    assert list(curve["stage_order"]) == sorted(curve["stage_order"])
    assert curve["touchpoint"].tolist()[:3] == ["search_ad", "website", "store_visit"]
    assert {"stage", "mean", LO, HI, "n"} <= set(curve.columns)
    by_segment = r.journey_curve(by="segment")
    assert len(by_segment) == 36
    assert r.cells(prob=0.5).columns[5:7].tolist() == ["eti50_low", "eti50_high"]
    params = r.parameters()
    assert {"cutpoints", "sd_touchpoint", "effect_touchpoint"} <= set(params["parameter"])
    assert (np.diff(params.query("parameter == 'cutpoints'")["mean"]) > 0).all()


def test_touchpoint_summary_mixes_segments_by_weight(fit_small, small):
    summary = fit_small.touchpoint_summary().query("quantity == 'mean_rating'")
    merged = small.ratings.merge(small.respondents, on="respondent_id")
    merged["value"] = merged["value"].astype(float)
    weighted = merged.groupby("touchpoint").apply(
        lambda g: np.average(g["value"], weights=g["weight"]), include_groups=False)
    got = summary.set_index("touchpoint")["observed"]
    assert np.allclose(got.loc[weighted.index], weighted)
    unweighted = merged.groupby("touchpoint")["value"].mean()
    assert not np.allclose(got.loc[unweighted.index], unweighted)  # first-timers oversampled
    # the posterior follows the data
    assert (summary["mean"] - summary["observed"]).abs().max() < 0.25


def test_contrast_between_segments(fit_small):
    c = fit_small.contrast("segment", "busy_professional", "loyalist")
    assert set(c["quantity"]) == {"mean_rating", "top_box", "bottom_box"}
    assert len(c) == 9 * 3
    mean = c[c["quantity"] == "mean_rating"]
    # loyalists rate 1.1 logits above busy professionals everywhere in the truth
    assert (mean["prob_b_greater"] > 0.9).mean() > 0.7
    assert np.allclose(mean["mean"], mean["b_mean"] - mean["a_mean"])
    pooled = fit_small.contrast("segment", "busy_professional", "loyalist", within=[])
    assert len(pooled) == 3 and pooled["prob_b_greater"].iloc[0] > 0.99
    with pytest.raises(ValueError, match="not a level"):
        fit_small.contrast("segment", "busy_professional", "nobody")


def test_save_load_round_trip(fit_small, tmp_path):
    where = fit_small.save(tmp_path / "fit")
    loaded = EmotionResult.load(where)
    pd.testing.assert_frame_equal(loaded.cells(), fit_small.cells())
    pd.testing.assert_frame_equal(loaded.contrast("segment", "loyalist", "first_timer"),
                                  fit_small.contrast("segment", "loyalist", "first_timer"))
    assert loaded.diagnostics == fit_small.diagnostics

    class OtherResult(FitResult):
        model = "outcome"

    with pytest.raises(ValueError, match="'emotion' fit, not 'outcome'"):
        OtherResult.load(where)


def test_same_seed_same_numbers_and_cache(small, fit_small):
    again = fit_emotion(small, EmotionConfig(sampler=QUICK), seed=1, use_cache=False)
    assert np.array_equal(again.posterior["p"].values, fit_small.posterior["p"].values)
    other = fit_emotion(small, EmotionConfig(sampler=QUICK), seed=2, use_cache=False)
    assert not np.array_equal(other.posterior["p"].values, fit_small.posterior["p"].values)
    first = fit_emotion(small, EmotionConfig(sampler=QUICK), seed=1)
    cached = fit_emotion(small, EmotionConfig(sampler=QUICK, prob=0.8), seed=1)
    assert not first.cached and cached.cached
    assert np.array_equal(cached.posterior["p"].values, fit_small.posterior["p"].values)
    assert LO.replace("90", "80") in cached.cells().columns  # prob is not part of the fit


def test_probit_option_runs(small, fit_small):
    r = fit_emotion(small, EmotionConfig(link="probit", sampler=QUICK), seed=1, use_cache=False)
    assert r.config["link"] == "probit" and r.diagnostics["divergences"] == 0
    a = r.cells().set_index(["touchpoint", "segment", "quantity"])["mean"]
    b = fit_small.cells().set_index(["touchpoint", "segment", "quantity"])["mean"]
    assert (a - b.loc[a.index]).abs().max() < 0.15


def test_respondent_effects_variant(small, fit_small):
    config = EmotionConfig(respondent_effects=True, sampler=QUICK)
    r = fit_emotion(small, config, seed=1, use_cache=False)
    assert r.diagnostics["divergences"] == 0
    assert "sd_respondent" in set(r.parameters()["parameter"])
    assert r.posterior.sizes["respondent"] == small.ratings["respondent_id"].nunique()
    # cells integrate the respondent intercept out: the same populations as the counts model
    a = r.cells().set_index(["touchpoint", "segment", "quantity"])["mean"]
    b = fit_small.cells().set_index(["touchpoint", "segment", "quantity"])["mean"]
    assert (a - b.loc[a.index]).abs().max() < 0.2
    assert len(r.contrast("segment", "loyalist", "first_timer")) == 27


def test_other_cell_designs_run(small):
    r = fit_emotion(small, EmotionConfig(cells=("touchpoint",), sampler=QUICK), seed=1,
                    use_cache=False)
    assert len(r.cells()) == 9 * 3 and r.data["parametrisation"] == {"touchpoint": "pooled"}
    c = r.contrast("touchpoint", "call_centre", "store_purchase")
    assert len(c) == 3 and c["prob_b_greater"].iloc[0] > 0.99


# ---------------------------------------------------------------- recovery

def test_recovery_and_wave_change():
    """Cells touchpoint x segment x wave: the truth cells are exactly these populations."""
    study = make_study(2000, seed=0)
    config = EmotionConfig(cells=("touchpoint", "segment", "wave"),
                           sampler=MEDIUM)
    r = fit_emotion(study, config, seed=0, use_cache=False)
    assert r.diagnostics["divergences"] == 0
    coverage = _covered(r.cells(), study.truth).mean()
    assert 0.80 <= coverage <= 0.97, coverage
    change = r.contrast("wave", "2025-H1", "2025-H2", within=["touchpoint"])
    change = change[change["quantity"] == "mean_rating"].set_index("touchpoint")
    assert change.loc["delivery", "prob_b_greater"] > 0.95
    assert 0.05 < change.loc["checkout", "prob_b_greater"] < 0.95


def test_agrees_with_statsmodels_maximum_likelihood():
    """Large sample: posterior means ~ the MLE of the same cell design (statsmodels).

    Compared in the sum-to-zero parametrisation: cutpoints minus the mean cell
    predictor, and cell predictors minus their mean (logit scale).
    """
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    study = make_study(60000, seed=5)
    config = EmotionConfig(weighted=False, sampler=MEDIUM)
    r = fit_emotion(study, config, seed=0, use_cache=False)
    counts = emotion_counts(study, config)
    rows = counts[counts["n"] > 0]
    cell = rows["touchpoint"] + "|" + rows["segment"]
    X = pd.get_dummies(cell, dtype=float)
    labels = list(X.columns)
    X = X.iloc[:, 1:]  # dummy coding: the first cell is the reference

    class FrequencyWeighted(OrderedModel):  # one row per cell x value, weighted by its count
        def loglike(self, params):
            return float((self.loglikeobs(params) * self.freq).sum())

    endog = pd.Series(pd.Categorical(rows["value"], ordered=True))
    model = FrequencyWeighted(endog, X.to_numpy(), distr="logit")
    model.freq = rows["n"].to_numpy(dtype=float)
    fit = model.fit(method="bfgs", disp=False, maxiter=5000)
    assert fit.mle_retvals["converged"]
    beta = np.concatenate([[0.0], fit.params[: X.shape[1]]])
    thresholds = model.transform_threshold_params(fit.params)[1:-1]
    mle_eta = pd.Series(beta - beta.mean(), index=labels)
    mle_cut = thresholds - beta.mean()

    eta = r.posterior["eta"].mean(("chain", "draw"))
    ours_eta = pd.Series(eta.values - eta.values.mean(),
                         index=[c.replace(" | ", "|") for c in eta["cell"].values])
    ours_cut = r.posterior["cutpoints"].mean(("chain", "draw")).values - eta.values.mean()
    assert np.abs(ours_cut - mle_cut).max() < 0.05
    assert np.abs(ours_eta.loc[mle_eta.index] - mle_eta).max() < 0.05


# ---------------------------------------------------------------- slow

@pytest.mark.slow
def test_recovery_over_seeds():
    config = EmotionConfig(cells=("touchpoint", "segment", "wave"))  # default sampler
    coverage, p_delivery, p_checkout = [], [], []
    for seed in range(4):
        study = make_study(3000, seed=seed)
        r = fit_emotion(study, config, seed=seed, use_cache=False)
        assert r.ok, r.diagnostics
        coverage.append(_covered(r.cells(), study.truth).mean())
        c = r.contrast("wave", "2025-H1", "2025-H2", within=["touchpoint"])
        c = c[c["quantity"] == "mean_rating"].set_index("touchpoint")
        p_delivery.append(c.loc["delivery", "prob_b_greater"])
        p_checkout.append(c.loc["checkout", "prob_b_greater"])
    assert 0.80 <= np.mean(coverage) <= 0.97, coverage
    assert min(coverage) >= 0.75, coverage
    assert min(p_delivery) > 0.95, p_delivery
    assert sum(0.05 < p < 0.95 for p in p_checkout) >= 3, p_checkout


@pytest.mark.slow
def test_demo_study_converges_cleanly():
    """The default sampler (2 x 2000 draws) converges by every criterion. At 2 x 1000
    the max of the folded R-hat over the ~400 reported quantities is noisy (1.010-1.012
    by chance in about one seed in ten): 4 seeds in 5 are asked to pass 1.01, all 1.015."""
    from pathlib import Path

    from cxresearch import load_study

    demo = load_study(Path(__file__).resolve().parents[1] / "data" / "demo")
    for seed in range(3):
        r = fit_emotion(demo, EmotionConfig(), seed=seed, use_cache=False)
        assert r.ok, r.diagnostics
    short = EmotionConfig(sampler=SamplerConfig(draws=1000, tune=1000, target_accept=0.95))
    rhat = []
    for seed in range(5):
        d = fit_emotion(demo, short, seed=seed, use_cache=False).diagnostics
        assert d["divergences"] == 0, d
        assert d["min_ess_bulk"] >= 400 and d["min_ess_tail"] >= 400, d
        rhat.append(d["max_rhat"])
    assert sum(r <= 1.01 for r in rhat) >= 4 and max(rhat) <= 1.015, rhat


@pytest.mark.slow
def test_respondent_effects_recover_scale_use():
    study = make_study(1500, seed=4)
    r = fit_emotion(study, EmotionConfig(respondent_effects=True), seed=0, use_cache=False)
    sd = r.parameters().set_index("parameter").loc["sd_respondent"]
    assert sd[LO] < study.truth["emotion"]["respondent_sd"] < sd[HI]
