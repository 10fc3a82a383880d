"""Outcome models against the synthetic generator's truth and hand-made studies.

MCMC fits compile a model each (several seconds on a busy machine), so the fast
suite keeps to a handful; coverage over seeds and the peak-end drivers are slow.
Tests that need many fits use ``pooling="none"`` (exact conjugate draws, no MCMC).
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxresearch.datasets import make_study
from cxresearch.models.base import SamplerConfig
from cxresearch.models.outcomes import (
    DriversConfig,
    DriversResult,
    OutcomeConfig,
    OutcomeResult,
    fit_drivers,
    fit_outcome,
    outcome_counts,
)
from cxresearch.provenance import fit_banner
from cxresearch.schema import ValidationReport
from cxresearch.study import Study

EXACT = OutcomeConfig(pooling="none")
BIG_N = 20_000  # counts-based: the fit costs the same as for 1,500 respondents


@pytest.fixture(scope="module", autouse=True)
def fit_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CXRESEARCH_CACHE", str(tmp_path_factory.mktemp("fits")))
        mp.delenv("CXRESEARCH_NO_CACHE", raising=False)
        yield


@pytest.fixture(scope="module")
def demo():
    return make_study(1500, 0)


@pytest.fixture(scope="module")
def big():
    return make_study(BIG_N, 5, wave_effect=0.8)


@pytest.fixture(scope="module")
def nps_fit(demo):
    return fit_outcome(demo, "nps", by=("segment", "wave"), seed=1)


def hand_study(respondents: pd.DataFrame, outcomes: pd.DataFrame,
               ratings: pd.DataFrame | None = None, scales: dict | None = None) -> Study:
    tables = {"respondents": respondents, "outcomes": outcomes}
    if ratings is not None:
        tables["ratings"] = ratings
    return Study(Path("hand-made"), {"scales": scales or {}}, tables, ValidationReport())


def truth_frame(study) -> pd.DataFrame:
    return pd.DataFrame(study.truth["outcomes"]["by_segment_wave"])


def covered(result: OutcomeResult, truth: pd.DataFrame, quantity: str, column: str) -> float:
    g = result.groups().query("quantity == @quantity")
    m = g.merge(truth[["segment", "wave", column]], on=["segment", "wave"], validate="1:1")
    assert len(m) == 8
    return float(m[column].between(m["eti90_low"], m["eti90_high"]).mean())


# ---------------------------------------------------------------- counts (no MCMC)

def test_counts_put_answers_in_nps_categories_and_note_what_is_not_counted():
    people = pd.DataFrame({"respondent_id": ["a", "b", "c", "d", "e", "f"],
                           "wave": ["1", "1", "1", "2", "2", None], "weight": 1.0})
    answers = pd.DataFrame({"respondent_id": ["a", "b", "c", "d", "e", "f", "a", "x"],
                            "outcome": "nps",
                            "value": [0, 6, 7, 8, 9, 10, np.nan, 10]})
    data = outcome_counts(hand_study(people, answers), "nps", by="wave")
    assert data["groups"] == ["1", "2"]
    assert data["categories"] == ["detractor", "passive", "promoter"]
    assert data["counts"] == [[2, 1, 0], [0, 1, 1]]
    notes = " ".join(data["notes"])
    assert "1 nps answers without a value" in notes
    assert "2 nps answers from respondents without wave" in notes  # f (no wave), x (unknown)

    bad = answers.assign(value=[0, 6, 7, 8, 9, 11, 1, 2])
    with pytest.raises(ValueError, match="not whole numbers in 0-10"):
        outcome_counts(hand_study(people, bad), "nps", by="wave")
    with pytest.raises(ValueError, match="not in the respondents table"):
        outcome_counts(hand_study(people, answers), "nps", by="region")


def test_groups_in_time_order_and_weight_notes():
    people = pd.DataFrame({"respondent_id": ["a", "b", "c"], "wave": ["W1", "W10", "W2"]})
    answers = pd.DataFrame({"respondent_id": ["a", "b", "c"], "outcome": "nps",
                            "value": [9.0, 9.0, 9.0]})
    data = outcome_counts(hand_study(people, answers), "nps", by="wave")
    assert data["groups"] == ["W1", "W2", "W10"]
    assert data["notes"] == ["the respondents table has no weight column: unweighted"]
    weighted = outcome_counts(hand_study(people.assign(weight=[1.0, 2.0, None]), answers),
                              "nps", by="wave")
    assert weighted["notes"][0] == ("1 respondents without a weight count with the mean "
                                    "weight (1.5)")
    assert "rescaled to Kish" in weighted["notes"][1]


def test_fit_banner_states_convergence_and_every_note_escaped():
    people = pd.DataFrame({"respondent_id": ["a", "b", "c"], "wave": ["<1>", "<1>", "2"]})
    answers = pd.DataFrame({"respondent_id": ["a", "b", "c", "x"], "outcome": "nps",
                            "value": [9.0, 3.0, 10.0, 5.0]})
    result = fit_outcome(hand_study(people, answers), "nps", by="wave", config=EXACT)
    banner = fit_banner(result).data
    assert banner.startswith("<p><em>outcome: converged (max R-hat")
    assert "the rules it applied" in banner
    for note in result.notes:
        assert f"<li>{html.escape(note)}</li>" in banner


def test_scale_comes_from_study_config_and_is_required():
    people = pd.DataFrame({"respondent_id": ["a", "b", "c"], "wave": "1"})
    answers = pd.DataFrame({"respondent_id": ["a", "b", "c"], "outcome": "csat",
                            "value": [1.0, 5.0, 5.0]})
    data = outcome_counts(hand_study(people, answers, scales={"csat": {"min": 1, "max": 5}}),
                          "csat", by=None)
    assert data["groups"] == ["all"] and data["counts"] == [[1, 0, 0, 0, 2]]
    with pytest.raises(ValueError, match="no scale for outcome 'csat'"):
        outcome_counts(hand_study(people, answers), "csat")


def test_weighted_counts_keep_weighted_shares_at_kish_effective_n():
    people = pd.DataFrame({"respondent_id": [f"r{i}" for i in range(100)], "wave": "1",
                           "weight": [3.0] * 50 + [1.0] * 50})
    answers = pd.DataFrame({"respondent_id": people["respondent_id"], "outcome": "nps",
                            "value": [10.0] * 50 + [0.0] * 50})
    data = outcome_counts(hand_study(people, answers), "nps", by="wave",
                          config=OutcomeConfig(weighted=True))
    kish = 200**2 / (50 * 9 + 50 * 1)
    assert data["n"] == [100] and data["n_eff"] == pytest.approx([kish])
    assert np.array(data["counts"][0]) == pytest.approx([kish / 4, 0, 3 * kish / 4])


# ---------------------------------------------------------------- weights, direction (exact)

def test_weights_move_nps_towards_the_heavier_respondents():
    people = pd.DataFrame({"respondent_id": [f"r{i}" for i in range(100)], "wave": "1",
                           "weight": [3.0] * 50 + [1.0] * 50})  # promoters weigh 3
    answers = pd.DataFrame({"respondent_id": people["respondent_id"], "outcome": "nps",
                            "value": [10.0] * 50 + [0.0] * 50})
    study = hand_study(people, answers)
    plain = fit_outcome(study, "nps", by="wave", seed=3,
                        config=dataclasses.replace(EXACT, weighted=False)).groups()
    weighted = fit_outcome(study, "nps", by="wave", config=EXACT, seed=3).groups()
    plain, weighted = (g.query("quantity == 'nps'").iloc[0] for g in (plain, weighted))
    assert plain["observed"] == 0 and weighted["observed"] == pytest.approx(50)
    assert abs(plain["mean"]) < 5
    assert weighted["mean"] == pytest.approx(50, abs=6)
    assert weighted["eti90_low"] > plain["eti90_high"]
    assert plain["n_eff"] == 100 and weighted["n_eff"] == pytest.approx(80)  # Kish


def test_ces_direction_lower_is_better_by_default_and_configurable(big):
    truth = big.truth["outcomes"]["by_wave"]
    assert truth[1]["ces_mean"] > truth[0]["ces_mean"]  # more effortless ratings later...
    waves = [w["wave"] for w in truth]
    config = dataclasses.replace(EXACT, weighted=True)
    plain_ces = dataclasses.replace(big, config=big.config | {"scales": big.config["scales"]
                                    | {"ces": {"min": 1, "max": 7}}})  # no direction given
    default = fit_outcome(plain_ces, "ces", by="wave", config=config, seed=0)
    row = default.change(*waves).iloc[0]
    assert row["better"] == "lower" and row["improved_if"].startswith("b - a < 0")
    assert row["mean"] > 0 and row["p_improved"] < 0.05  # ...read as "more effort": worse
    # the generator's CES is "the company made it easy" (higher = easier): say so
    easy = fit_outcome(big, "ces", by="wave", seed=0,
                       config=dataclasses.replace(config, better="higher"))
    flipped = easy.change(*waves).iloc[0]
    assert flipped["improved_if"].startswith("b - a > 0")
    assert flipped["p_improved"] == pytest.approx(1 - row["p_improved"], abs=0.01)
    # a box where fewer is better: the bottom-2 box of an easy-is-high CES
    box = easy.change(*waves, quantity="bottom2_box").iloc[0]
    assert box["improved_if"].startswith("b - a < 0")
    # the direction can live in study.yml, as the generator's does
    assert big.config["scales"]["ces"]["better"] == "higher"
    assert fit_outcome(big, "ces", by="wave", config=config).better == "higher"


def test_equal_groups_give_no_confident_change_exact():
    """Two random halves of one wave: P(improved) mostly between 0.05 and 0.95."""
    inside = []
    for seed in range(30):  # expected 27 of 30; fewer than 23 has probability 0.6%
        study = make_study(800, 100 + seed)
        inside.append(0.05 < null_change(study, seed, EXACT)["p_improved"] < 0.95)
    assert sum(inside) >= 23, inside


def null_change(study, seed: int, config: OutcomeConfig) -> pd.Series:
    people = study.respondents
    first = people["wave"] == people["wave"].min()
    rng = np.random.default_rng(seed)
    half = pd.Series(None, index=people.index, dtype="str")
    half[first] = np.where(rng.random(int(first.sum())) < 0.5, "A", "B")
    split = dataclasses.replace(study, respondents=people.assign(half=half))
    result = fit_outcome(split, "nps", by="half", config=config, seed=seed)
    assert any("without half" in n for n in result.data["notes"])  # other wave: noted
    return result.change("A", "B").iloc[0]


# ---------------------------------------------------------------- NPS per group (MCMC)

def test_nps_per_segment_and_wave_recovers_the_truth(nps_fit, demo):
    assert nps_fit.ok, nps_fit.warning()
    assert covered(nps_fit, truth_frame(demo), "nps", "nps") >= 6 / 8
    g = nps_fit.groups()
    assert set(g["quantity"]) == {"nps", "promoters", "passives", "detractors"}
    assert (g.groupby("group")["n"].first().sum()) == 1500
    observed = demo.outcomes.query("outcome == 'nps'").merge(demo.respondents)
    mask = (observed["segment"] == "loyalist") & (observed["wave"] == "2025-H1")
    raw = observed.loc[mask, "value"]
    want = 100 * ((raw >= 9).mean() - (raw <= 6).mean())
    row = g.query("quantity == 'nps' and group == 'loyalist | 2025-H1'").iloc[0]
    assert row["observed"] == pytest.approx(want)
    spectrum = nps_fit.spectrum()
    assert spectrum.groupby("group")["mean"].sum().to_numpy() == pytest.approx(1.0)


def test_change_api_names_groups_and_direction(nps_fit):
    by_tuple = nps_fit.change(("loyalist", "2025-H1"), ("loyalist", "2025-H2"))
    by_label = nps_fit.change("loyalist | 2025-H1", {"segment": "loyalist", "wave": "2025-H2"})
    pd.testing.assert_frame_equal(by_tuple, by_label)
    row = by_tuple.iloc[0]
    assert row["eti90_low"] < row["mean"] < row["eti90_high"]
    assert row["improved_if"] == "b - a > 0 (higher nps is better)"
    swapped = nps_fit.change(("loyalist", "2025-H2"), ("loyalist", "2025-H1")).iloc[0]
    assert swapped["mean"] == pytest.approx(-row["mean"])
    assert swapped["p_improved"] == pytest.approx(1 - row["p_improved"], abs=1e-9)
    assert np.isnan(nps_fit.change(("loyalist", "2025-H1"), ("loyalist", "2025-H2"),
                                   quantity="passives").iloc[0]["p_improved"])
    with pytest.raises(KeyError, match="no group"):
        nps_fit.change("loyalist", "2025-H2")


def test_prior_is_weakly_informative(nps_fit):
    prior = nps_fit.prior_summary().set_index("quantity")
    assert prior.loc["nps", "eti90_low"] < -60 and prior.loc["nps", "eti90_high"] > 60


def test_save_load_round_trip_and_cache(nps_fit, demo, tmp_path):
    loaded = OutcomeResult.load(nps_fit.save(tmp_path / "fit"))
    pd.testing.assert_frame_equal(loaded.groups(), nps_fit.groups())
    assert loaded.diagnostics == nps_fit.diagnostics and loaded.ok == nps_fit.ok
    with pytest.raises(ValueError, match="not 'drivers'"):
        DriversResult.load(tmp_path / "fit")
    again = fit_outcome(demo, "nps", by=("segment", "wave"), seed=1)
    assert again.cached
    pd.testing.assert_frame_equal(again.groups(), nps_fit.groups())


def test_same_seed_same_numbers(nps_fit, demo):
    refit = fit_outcome(demo, "nps", by=("segment", "wave"), seed=1, use_cache=False)
    assert not refit.cached
    pd.testing.assert_frame_equal(refit.groups(), nps_fit.groups())


def test_nps_change_between_waves_follows_the_truth(big):
    """wave_effect=0.8 lifts delivery emotion in wave 2: the truth's NPS rises ~4 points."""
    truth = big.truth["outcomes"]["by_wave"]  # population mix: fit with weights
    true_change = truth[1]["nps"] - truth[0]["nps"]
    assert true_change > 2
    result = fit_outcome(big, "nps", by="wave", config=OutcomeConfig(weighted=True), seed=2)
    assert result.ok, result.warning()
    row = result.change(truth[0]["wave"], truth[1]["wave"]).iloc[0]
    assert row["eti90_low"] < true_change < row["eti90_high"]
    assert row["p_improved"] > 0.95
    g = result.groups().query("quantity == 'nps'").set_index("wave")
    for t in truth:
        assert g.loc[t["wave"], "eti90_low"] < t["nps"] < g.loc[t["wave"], "eti90_high"]


def test_refits_of_the_same_structure_use_their_own_data():
    """Same shape, other counts: the reused compiled model sees the new data."""
    for seed in (0, 1):
        study = make_study(1500, seed)
        pooled = fit_outcome(study, "nps", by="wave", seed=seed).groups()
        exact = fit_outcome(study, "nps", by="wave", config=EXACT, seed=seed).groups()
        assert pooled["mean"].to_numpy() == pytest.approx(exact["mean"].to_numpy(), abs=1.5)


# ---------------------------------------------------------------- drivers

def one_driver_study(n: int = 400, seed: int = 0) -> Study:
    """Outcome depends on the rating of touchpoint A only; B and C have no influence."""
    rng = np.random.default_rng(seed)
    ids = [f"p{i:04d}" for i in range(n)]
    rows = []
    for i, rid in enumerate(ids):
        for tp in ("A", "B", "C"):
            if rng.random() < 0.7 or (tp == "A" and i < 5):
                rows.append((rid, tp, "valence", int(rng.integers(1, 8)), 1, 7))
    ratings = pd.DataFrame(rows, columns=["respondent_id", "touchpoint", "item", "value",
                                          "scale_min", "scale_max"])
    a = ratings.query("touchpoint == 'A'").set_index("respondent_id")["value"]
    a = a.reindex(ids)
    latent = 5 + np.where(a.isna(), 0.0, 0.8 * (a.fillna(4) - 4)) + rng.normal(0, 1, n)
    overall = np.clip(np.rint(latent), 0, 10)
    people = pd.DataFrame({"respondent_id": ids + ["nobody"], "segment": "all", "wave": "1",
                           "weight": 1.0})
    outcomes = pd.DataFrame({"respondent_id": ids, "outcome": "overall", "value": overall})
    return hand_study(people, outcomes, ratings, {"overall": {"min": 0, "max": 10}})


def test_drivers_find_the_one_touchpoint_that_matters():
    study = one_driver_study()
    result = fit_drivers(study, "overall", seed=4)
    assert result.ok, result.warning()
    eff = result.effects(term="all").set_index(["term", "touchpoint"])
    a = eff.loc[("rating", "A")]
    assert a["rank"] == 1 and a["eti90_low"] > 0 and a["p_positive"] > 0.99
    # truth: 0.8 points per rating point, reported per SD of A's rating
    assert a["mean"] == pytest.approx(0.8 * a["rating_sd"], rel=0.15)
    for term in ("rating", "visited"):
        for tp in ("B", "C"):
            row = eff.loc[(term, tp)]
            assert row["eti90_low"] < 0 < row["eti90_high"], (term, tp)
    ratings = study.ratings
    assert eff.loc[("rating", "B"), "n_rated"] == (ratings["touchpoint"] == "B").sum()
    # nobody dropped: every respondent with an answer is in, the one without is noted
    assert result.data["n"] == 400
    assert any("1 respondents without a overall answer" in n for n in result.data["notes"])


def test_drivers_refuse_unknown_items_and_outcomes():
    study = one_driver_study(50)
    with pytest.raises(ValueError, match="no ratings of item 'joy'"):
        fit_drivers(study, "overall", config=DriversConfig(item="joy"))
    with pytest.raises(ValueError, match="no answers for outcome 'nps'"):
        fit_drivers(study, "nps")


# ---------------------------------------------------------------- slow: calibration

@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("outcome", "quantity", "column"),
                         [("nps", "nps", "nps"), ("csat", "mean", "csat_mean"),
                          ("ces", "mean", "ces_mean")])
def test_recovery_over_seeds(seed, outcome, quantity, column):
    study = make_study(1500, seed)
    result = fit_outcome(study, outcome, by=("segment", "wave"), seed=seed)
    assert result.diagnostics["divergences"] == 0 and result.diagnostics["max_rhat"] < 1.02
    assert covered(result, truth_frame(study), quantity, column) >= 6 / 8


@pytest.mark.slow
def test_equal_groups_give_no_confident_change_pooled():
    config = OutcomeConfig(sampler=SamplerConfig(draws=1000, target_accept=0.99))
    p = [null_change(make_study(1500, 200 + s), s, config)["p_improved"] for s in range(20)]
    # expected 18 of 20; fewer than 15 has probability 1.1% (binomial, p = 0.9)
    assert sum(0.05 < v < 0.95 for v in p) >= 15, p


@pytest.mark.slow
def test_drivers_follow_the_peak_end_rule():
    """overall = a + w_peak*peak + w_end*end + w_mean*mean, all weights > 0: every rating
    raises overall, and review_request (always the last rating when visited) weighs
    more than website (rarely last)."""
    study = make_study(3000, 7)
    rule = study.truth["outcomes"]["overall"]
    assert min(rule["w_peak"], rule["w_end"], rule["w_mean"]) > 0
    result = fit_drivers(study, "overall", seed=7)
    assert result.ok, result.warning()
    eff = result.effects().set_index("touchpoint")
    clear = eff[eff["n_rated"] >= 100]
    assert len(clear) == 9 and (clear["p_positive"] > 0.99).all()
    assert eff.loc["review_request", "eti90_low"] > eff.loc["website", "eti90_high"]


@pytest.mark.slow
def test_ces_drivers_see_support_visits():
    """ces falls by 0.7 per visit to a support touchpoint: visiting them is negative."""
    study = make_study(3000, 8)
    assert study.truth["outcomes"]["ces"]["w_support_visits"] < 0
    result = fit_drivers(study, "ces", seed=8, config=DriversConfig(prior="normal"))
    assert result.ok, result.warning()
    visited = result.effects(term="visited").set_index("touchpoint")
    for tp in ("support_chat", "call_centre"):
        assert visited.loc[tp, "eti90_high"] < 0
