"""The causes model: planted code effects recovered on synthetic studies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from cxresearch import mixed
from cxresearch.datasets import make_study
from cxresearch.models.base import SamplerConfig
from cxresearch.models.causes import (
    CausesConfig,
    CausesResult,
    causes_data,
    fit_causes,
    prior_predictive,
)
from cxresearch.plots import codes as code_plots

QUICK = SamplerConfig(draws=300, tune=300)
STRONG = 0.5


def with_truth(effects: pd.DataFrame, study) -> pd.DataFrame:
    truth = study.truth["codes"]
    return effects.assign(true=effects["code"].map(lambda c: truth[c]["effect"]))


@pytest.fixture(scope="module")
def study():
    return make_study(1500, seed=0)


@pytest.fixture(scope="module")
def fit(study):
    return fit_causes(study, CausesConfig(sampler=QUICK), seed=1)


def test_planted_effects_recovered(fit, study):
    eff = with_truth(fit.effects(), study)
    assert len(eff) == 13  # every code, at its touchpoint
    strong = eff[eff["true"].abs() >= STRONG]
    assert len(strong) == 9
    assert (np.sign(strong["mean"]) == np.sign(strong["true"])).all(), strong
    # the five strongest associations found are all planted codes of |effect| >= 0.8
    assert (eff.head(5)["true"].abs() >= 0.8).all(), eff.head(5)
    nulls = eff[eff["true"] == 0]
    covered = (nulls["eti90_low"] <= 0) & (nulls["eti90_high"] >= 0)
    assert covered.sum() >= 3, nulls
    assert (eff.loc[eff["true"] < 0, "prob_positive"] < 0.2).all()


def test_effects_table_is_ranked_with_stated_intervals(fit):
    eff = fit.effects()
    assert eff["rank"].tolist() == list(range(1, len(eff) + 1))
    assert eff["mean"].abs().is_monotonic_decreasing
    assert {"mentions", "raters", "sd", "eti90_low", "eti90_high", "prob_positive",
            "shift_mean", "shift_eti90_low", "shift_eti90_high"} <= set(eff.columns)
    assert (eff["eti90_low"] < eff["mean"]).all() and (eff["mean"] < eff["eti90_high"]).all()
    assert np.sign(eff["shift_mean"]).equals(np.sign(eff["mean"]))
    assert "90% equal-tailed" in eff.attrs["interval"]
    wide = fit.effects(prob=0.5)
    assert (wide["eti50_high"] - wide["eti50_low"] < eff["eti90_high"] - eff["eti90_low"]).all()
    codes = fit.code_effects()
    assert len(codes) == 13 and set(codes["touchpoints"]) <= set(eff["touchpoint"])
    params = fit.parameters()
    assert {"cutpoints", "effect_touchpoint", "sd_touchpoint", "effect_segment",
            "sd_code"} <= set(params["parameter"])
    assert fit.diagnostics["divergences"] == 0


def test_fit_runs_on_counts_whose_number_does_not_grow_with_respondents():
    small, large = make_study(600, seed=2), make_study(6000, seed=2)
    d_small, d_large = causes_data(small), causes_data(large)
    for s, d in ((small, d_small), (large, d_large)):
        counts = np.asarray(d["counts"])
        assert counts.sum() == len(s.ratings) == d["ratings"]
        # cells: touchpoint x segment x observed code patterns (at most 2^3 at delivery)
        assert len(counts) <= 9 * 4 * 8
    assert len(d_large["counts"]) < 2 * len(d_small["counts"])
    assert d_large["ratings"] > 8 * d_small["ratings"]


def test_mentions_are_the_raters_who_mention_the_code_there(study):
    data = causes_data(study)
    terms = pd.DataFrame(data["terms"]).set_index(["code", "touchpoint"])
    counts = mixed.code_mentions(study).set_index(["code", "touchpoint"])
    pd.testing.assert_series_equal(terms["mentions"], counts.loc[terms.index, "respondents"],
                                   check_names=False, check_dtype=False)
    assert (terms["raters"] == study.ratings.groupby("touchpoint").size()
            .reindex(terms.index.get_level_values("touchpoint")).to_numpy()).all()


def test_rare_code_touchpoint_pairs_are_left_out_and_listed(study):
    data = causes_data(study, CausesConfig(min_mentions=60))
    assert min(data["terms"]["mentions"]) >= 60
    left = pd.DataFrame(data["left_out"])
    assert "rude_staff" in set(left["code"]) and (left["mentions"] < 60).all()
    assert len(left) + len(data["terms"]["code"]) == 13
    assert any("left out" in n for n in data["notes"])
    with pytest.raises(ValueError, match="nothing to model"):
        causes_data(study, CausesConfig(min_mentions=10_000))


def test_same_seed_same_numbers_from_cache_and_from_a_refit(fit, study):
    again = fit_causes(study, CausesConfig(sampler=QUICK), seed=1)
    assert again.cached
    pd.testing.assert_frame_equal(again.effects(), fit.effects())
    fresh = fit_causes(study, CausesConfig(sampler=QUICK), seed=1, use_cache=False)
    assert not fresh.cached
    pd.testing.assert_frame_equal(fresh.effects(), fit.effects())


def test_save_and_load(fit, tmp_path):
    back = CausesResult.load(fit.save(tmp_path / "fit"))
    pd.testing.assert_frame_equal(back.effects(), fit.effects())
    assert back.ok == fit.ok


def test_code_at_two_touchpoints_gets_a_specific_effect_at_each(study):
    # "long_wait" (call centre, -0.8) relabelled as "friendly_staff" (shop, +0.9): one
    # code, opposite effects at two touchpoints
    codings = study.codings.copy()
    codings.loc[codings["code"] == "long_wait", "code"] = "friendly_staff"
    relabelled = dataclasses.replace(study, codings=codings)
    result = fit_causes(relabelled, CausesConfig(sampler=QUICK), seed=2)
    eff = result.effects().set_index(["code", "touchpoint"])
    assert eff.loc[("friendly_staff", "store_visit"), "mean"] > 0.3
    assert eff.loc[("friendly_staff", "call_centre"), "mean"] < -0.3
    assert "sd_specific" in result.posterior


def test_prior_predictive_is_weakly_informative(study):
    prior = prior_predictive(study, draws=400, seed=3)["prior"]
    effect = prior["effect"].values.ravel()
    lo, hi = np.quantile(effect, [0.05, 0.95])
    assert -3.5 < lo < -0.3 and 0.3 < hi < 3.5  # effects of a few logits are plausible
    assert abs(np.median(effect)) < 0.1
    shift = prior["shift"].values
    assert np.abs(shift).max() <= 6  # a 1-7 scale
    assert (np.abs(shift) > 1).mean() > 0.01  # large shifts are not ruled out


def test_joint_display_and_forest_use_the_fit(fit, study):
    jd = mixed.joint_display(study, fit, quotes=2, seed=4)
    assert {"effect", "effect_eti90_low", "effect_eti90_high", "prob_positive",
            "quote_1", "quote_2"} <= set(jd.columns)
    modelled = jd.dropna(subset=["effect"])
    assert len(modelled) == 13
    assert modelled["effect"].abs().is_monotonic_decreasing
    assert "equal-tailed" in jd.attrs["interval"]
    top = fit.effects().iloc[0]
    assert (jd.iloc[0]["code"], jd.iloc[0]["touchpoint"]) == (top["code"], top["touchpoint"])
    # quotes of codes with a clear effect come from raters on the effect's side
    linked = mixed.link_codings(study)
    ratings = study.ratings[["respondent_id", "touchpoint", "value"]]
    tp_mean = ratings.groupby("touchpoint")["value"].mean()
    sure = modelled[(modelled["effect_eti90_low"] > 0) | (modelled["effect_eti90_high"] < 0)]
    for row in sure.itertuples():
        texts = linked.linked.query("code == @row.code and touchpoint == @row.touchpoint")
        quoted = texts[texts["text"].isin([row.quote_1, row.quote_2])]
        value = quoted.merge(ratings, on=["respondent_id", "touchpoint"])["value"]
        agree = np.sign(value - tp_mean[row.touchpoint]) == np.sign(row.effect)
        assert agree.any(), row
    fig = code_plots.effects_forest(fit.effects(), top=5)
    ticks = sorted(fig.axes[0].get_yticklabels(), key=lambda t: -t.get_position()[1])
    labels = [t.get_text() for t in ticks]  # top to bottom
    eff = fit.effects().head(5)
    assert labels == (eff["code"] + " @ " + eff["touchpoint"]).tolist()
    assert "90% equal-tailed" in fig.axes[0].get_xlabel()


def test_config_is_checked():
    with pytest.raises(ValueError, match="shrinkage"):
        CausesConfig(shrinkage="lasso")
    with pytest.raises(ValueError, match="touchpoint is always"):
        CausesConfig(adjust=("touchpoint",))
    assert CausesConfig(adjust="segment").adjust == ("segment",)


@pytest.mark.slow
@pytest.mark.parametrize("shrinkage", ["normal", "horseshoe"])
def test_recovery_over_seeds(shrinkage):
    config = CausesConfig(shrinkage=shrinkage)
    nulls_covered = nulls = 0
    for seed in (11, 12, 13):
        study = make_study(1500, seed=seed)
        result = fit_causes(study, config, seed=seed)
        eff = with_truth(result.effects(), study)
        strong = eff[eff["true"].abs() >= STRONG]
        assert (np.sign(strong["mean"]) == np.sign(strong["true"])).all(), (seed, strong)
        assert (eff.head(5)["true"] != 0).all(), (seed, eff.head(5))
        null = eff[eff["true"] == 0]
        nulls += len(null)
        nulls_covered += int(((null["eti90_low"] <= 0) & (null["eti90_high"] >= 0)).sum())
        assert result.diagnostics["divergences"] <= 2
    assert nulls_covered >= 0.8 * nulls
