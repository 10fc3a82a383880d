"""The path model: absorbing-chain algebra, recovery of the synthetic chain, variants,
emotion by arriving path, the ChannelAttribution example, figures, save/load."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from cxresearch import journeys
from cxresearch.datasets import TRANSITIONS, chain_truth, make_study
from cxresearch.io.events import load_paths
from cxresearch.models.base import SamplerConfig
from cxresearch.models.paths import (
    PathConfig,
    PathResult,
    VariantConfig,
    VariantResult,
    arrival_config,
    arrival_effects,
    arrival_ratings,
    chain_quantities,
    fit_arrival_emotion,
    fit_paths,
    fit_variants,
)
from cxresearch.plots import journeys as pj

matplotlib.use("Agg")

S, C, D = "Start", "Conversion", "Drop-off"
# A small chain: Start -> A | B; A -> B | C | Conversion | Drop-off; B -> A (a loop) | C | ...
SMALL = {S: {"A": 0.6, "B": 0.4},
         "A": {"B": 0.5, "C": 0.2, C: 0.1, D: 0.2},
         "B": {"A": 0.2, "C": 0.4, C: 0.2, D: 0.2},
         "C": {C: 0.5, D: 0.5}}


def as_matrix(chain: dict) -> pd.DataFrame:
    tps = [s for s in chain if s != S]
    return pd.DataFrame([[chain[a].get(b, 0.0) for b in [*tps, C, D]] for a in [S, *tps]],
                        index=[S, *tps], columns=[*tps, C, D])


def as_counts(chain: dict, per_row: int) -> pd.DataFrame:
    return pd.DataFrame([{"from": a, "to": b, "count": round(p * per_row)}
                         for a, row in chain.items() for b, p in row.items()])


# ---------------------------------------------------------------- algebra

def hand_algebra() -> dict:
    """The small chain solved by hand. x_s = P(Conversion | in s).

    Full chain: x_C = 0.5; x_A = 0.1 + 0.5 x_B + 0.2 x_C = 0.2 + 0.5 x_B;
    x_B = 0.2 + 0.2 x_A + 0.4 x_C = 0.4 + 0.2 x_A  =>  x_A = 0.4 + 0.1 x_A = 4/9,
    x_B = 4.4/9, P = 0.6 x_A + 0.4 x_B = 4.16/9.
    Without A (entering A = Drop-off): x_B = 0.2 + 0.4 * 0.5 = 0.4, P = 0.4 * 0.4 = 0.16.
    Without B: x_A = 0.1 + 0.2 * 0.5 = 0.2, P = 0.6 * 0.2 = 0.12.
    Without C: x_A = 0.1 + 0.5 x_B, x_B = 0.2 + 0.2 x_A  =>  x_A = 0.2/0.9, x_B = 0.22/0.9,
    P = (0.6 * 0.2 + 0.4 * 0.22) / 0.9 = 0.208/0.9.
    Visits: A is reached directly (0.6) or from B (0.4 * 0.2): 0.68; B directly (0.4) or
    from A (0.6 * 0.5): 0.7; C from A, or from B (directly or via A), ...
    """
    p = 4.16 / 9
    removed = {"A": 0.16, "B": 0.12, "C": 0.208 / 0.9}
    effects = {t: 1 - v / p for t, v in removed.items()}
    total = sum(effects.values())
    return {"p": p, "effects": effects, "shares": {t: v / total for t, v in effects.items()},
            "visit_A": 0.68, "visit_B": 0.7, "x": {"A": 4 / 9, "B": 4.4 / 9, "C": 0.5}}


def test_removal_effects_equal_the_hand_algebra_of_a_small_chain():
    hand = hand_algebra()
    got = chain_quantities(as_matrix(SMALL))
    assert got["conversion_probability"] == pytest.approx(hand["p"], abs=1e-12)
    for t in "ABC":
        assert got["removal_effect"][t] == pytest.approx(hand["effects"][t], abs=1e-12)
        assert got["removal_share"][t] == pytest.approx(hand["shares"][t], abs=1e-12)
        assert got["conversion_from"][t] == pytest.approx(hand["x"][t], abs=1e-12)
    assert got["visit_probability"]["A"] == pytest.approx(hand["visit_A"], abs=1e-12)
    assert got["visit_probability"]["B"] == pytest.approx(hand["visit_B"], abs=1e-12)
    assert got["dropoff"].to_dict() == pytest.approx({"A": 0.2, "B": 0.2, "C": 0.5})
    assert got["removal_effect"]["C"] == pytest.approx(0.5, abs=1e-12)


def test_chain_quantities_agree_with_the_generator_truth():
    truth = chain_truth()
    got = chain_quantities(as_matrix(TRANSITIONS))
    assert got["conversion_probability"] == pytest.approx(truth["conversion_probability"])
    assert got["removal_effect"].to_dict() == pytest.approx(truth["removal_effects"])
    assert got["visit_probability"].to_dict() == pytest.approx(truth["visit_probability"])


def test_fit_on_large_counts_concentrates_on_the_hand_answer():
    result = fit_paths(as_counts(SMALL, 1_000_000), seed=3, use_cache=False)
    hand = hand_algebra()
    effects = result.removal_effects().set_index("touchpoint")
    for t in "ABC":
        assert effects.at[t, "mean"] == pytest.approx(hand["effects"][t], abs=2e-3)
        assert effects.at[t, "eti90_low"] < effects.at[t, "mean"] < effects.at[t, "eti90_high"]
    assert result.conversion()["mean"].iloc[0] == pytest.approx(hand["p"], abs=2e-3)
    # exact draws: diagnostics true by construction
    assert result.ok and result.diagnostics["max_rhat"] == 1.0
    assert result.diagnostics["min_ess_bulk"] == 2 * 1000


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # R-hat of a constant (discarded)
def test_prior_support_and_bad_counts():
    counts = as_counts(SMALL, 50)
    observed = fit_paths(counts, seed=1, use_cache=False).transitions()
    allowed = fit_paths(counts, PathConfig(support="all"), seed=1, use_cache=False).transitions()
    # observed support: the seen destinations plus Drop-off; all: every destination
    assert set(zip(observed["from"], observed["to"], strict=True)) == {
        (a, b) for a, row in SMALL.items() for b in row}
    assert len(allowed) == 3 + 3 * 5 - 3  # Start -> 3 touchpoints; 3 x 5 minus self-loops
    bad = counts.assign(count=counts["count"].where(counts["to"] != "C", -1))
    with pytest.raises(ValueError, match="whole numbers >= 0"):
        fit_paths(bad, use_cache=False)
    with pytest.raises(TypeError, match="unknown option"):
        fit_paths(counts, session_gaps="1 hour")
    none = counts[counts["to"] != C]
    result = fit_paths(none, seed=1, use_cache=False)
    assert result.conversion()["mean"].iloc[0] == 0
    assert result.removal_effects()["mean"].isna().all()
    assert "no journey converted" in result.data["notes"][0]


# ---------------------------------------------------------------- recovery

@pytest.fixture(scope="module")
def large():
    study = make_study(20000, seed=5)
    return study, fit_paths(study.events, outcomes=study.outcomes, seed=7, use_cache=False)


def test_posterior_mean_matches_point_estimate_on_a_large_sample(large):
    _, result = large
    effects = result.removal_effects()
    assert np.abs(effects["mean"] - effects["point"]).max() < 0.002
    assert (np.abs(effects["mean"] - effects["point"]) < 0.5 * effects["sd"]).all()
    drop = result.dropoff()
    assert (np.abs(drop["mean"] - drop["point"]) < 0.5 * drop["sd"]).all()
    conv = result.conversion().iloc[0]
    # at the empirical shares the chain reproduces the observed conversion share exactly
    assert conv["point"] == pytest.approx(conv["observed"], abs=1e-12)
    assert abs(conv["mean"] - conv["point"]) < 0.5 * conv["sd"]


def covered(frame: pd.DataFrame, truth: dict, prob: float) -> pd.Series:
    lo, hi = f"eti{100 * prob:g}_low", f"eti{100 * prob:g}_high"
    t = frame["touchpoint"].map(truth)
    return (frame[lo] <= t) & (t <= frame[hi])


def rms_z(frame: pd.DataFrame, truth: dict) -> float:
    z = (frame["mean"] - frame["touchpoint"].map(truth)) / frame["sd"]
    return float(np.sqrt((z ** 2).mean()))


def test_truth_within_intervals_on_a_synthetic_study(large):
    _, result = large
    truth = chain_truth()
    conv = result.conversion(prob=0.99).iloc[0]
    assert conv["eti99_low"] <= truth["conversion_probability"] <= conv["eti99_high"]
    # rule: every removal effect within its 99% interval, and the errors the size of the
    # posterior sd (root mean square z about 1; the effects share their sampling noise, so
    # a count of 90% hits is not binomial: z = 1.9, 1.5, 1.1, -2.0, -1.7, ... here)
    effects = result.removal_effects(0.99)
    assert covered(effects, truth["removal_effects"], 0.99).all()
    assert rms_z(effects, truth["removal_effects"]) < 2
    shares = pd.DataFrame({"touchpoint": effects["touchpoint"],
                           "eti99_low": effects["share_eti99_low"],
                           "eti99_high": effects["share_eti99_high"]})
    assert covered(shares, truth["removal_shares"], 0.99).all()


def test_dropoff_intervals_cover_the_truth(large):
    _, result = large
    truth = {t: row.get(D, 0.0) for t, row in TRANSITIONS.items() if t != S}
    assert covered(result.dropoff(0.99), truth, 0.99).all()
    assert covered(result.dropoff(0.9), truth, 0.9).mean() >= 0.7  # drop-offs: nearly independent
    assert rms_z(result.dropoff(), truth) < 2
    first = result.dropoff().iloc[0]
    assert first["touchpoint"] == "checkout"  # the planted largest drop-off
    transitions = result.transitions(0.99)
    true_p = [TRANSITIONS[a].get(b, 0.0) for a, b in zip(transitions["from"],
                                                         transitions["to"], strict=True)]
    inside = (transitions["eti99_low"] <= true_p) & (true_p <= transitions["eti99_high"])
    assert inside.mean() >= 0.95


def test_variants_pooled_by_last_touchpoint_recover_the_chain(large):
    study, _ = large
    quick = VariantConfig(sampler=SamplerConfig(draws=500, tune=500, target_accept=0.95))
    result = fit_variants(study.events, quick, outcomes=study.outcomes, seed=2, use_cache=False)
    assert result.ok, result.diagnostics
    pooled = result.pooled(prob=0.99)
    mu = pooled[pooled["parameter"] == "mu"].set_index("group")
    truth = chain_truth()["conversion_given_last"]
    for group, row in mu.iterrows():
        assert row["eti99_low"] - 0.01 <= truth.get(group, 0.0) <= row["eti99_high"] + 0.01, group
    variants = result.variants()
    assert list(variants["journeys"]) == sorted(variants["journeys"], reverse=True)
    assert len(variants) == 20 and (variants["data_weight"] <= 1).all()


# ---------------------------------------------------------------- shrinkage

def test_conversion_per_variant_shrinks_rare_variants_towards_the_pooled_mean():
    rows = [("a", 400, 120), ("b", 400, 160), ("c", 300, 75), ("d", 300, 105), ("e", 200, 70),
            ("f", 200, 50), ("g", 150, 45), ("h", 150, 60), ("i", 3, 3), ("j", 3, 0),
            ("k", 2, 2)]
    variants = pd.DataFrame(rows, columns=["path", "journeys", "conversions"])
    config = VariantConfig(group=None, top=11,
                           sampler=SamplerConfig(draws=500, tune=500, target_accept=0.95))
    result = fit_variants(variants, config, seed=4, use_cache=False)
    assert result.ok, result.diagnostics
    frame = result.variants().set_index("path")
    mu = result.pooled()
    pooled = mu.loc[mu["parameter"] == "mu", "mean"].iloc[0]
    assert 0.25 < pooled < 0.4
    move = (frame["mean"] - frame["raw"]) / (pooled - frame["raw"])  # 0 none, 1 complete
    for rare in "ijk":  # rare variants: pulled most of the way to the pooled mean
        assert 0.5 < move[rare] <= 1.0, (rare, move[rare])
    for big in "abcd":  # kappa is about 90 journeys here: 300-400 journeys keep 75-85%
        assert 0 <= move[big] < 0.35, (big, move[big])
    assert move[["i", "j", "k"]].min() > move[["a", "b", "c", "d"]].max()
    assert (frame["eti90_high"] - frame["eti90_low"])["i"] < 0.6  # narrower than raw 3/3


# ---------------------------------------------------------------- real aggregated paths

def test_channel_attribution_paths_end_to_end():
    """ChannelAttribution's Data.csv (aggregated paths). The ChannelAttribution package
    itself is not compared: PyPI has only its source distribution, whose build needs
    Cython and a C++ toolchain fetched at install time."""
    paths = load_paths(shared_file("journeys/DavideAltomare__ChannelAttribution/Data.csv"),
                       sep=";")["paths"]
    result = fit_paths(paths, seed=1, use_cache=False)
    conv = result.conversion().iloc[0]
    assert conv["journeys"] == 88387 and conv["conversions"] == 19785
    assert conv["point"] == pytest.approx(19785 / 88387, abs=1e-12)
    assert conv["eti90_low"] < conv["observed"] < conv["eti90_high"]
    effects = result.removal_effects()
    assert len(effects) == 12
    assert ((effects["mean"] > 0) & (effects["mean"] < 1)).all()
    assert effects["share_mean"].sum() == pytest.approx(1.0)
    assert effects["attributed_conversions"].sum() == pytest.approx(19785)
    assert (effects["eti90_low"] <= effects["point"]).all()
    assert (effects["point"] <= effects["eti90_high"]).all()
    # the most visited channel matters most, the two rarest least
    assert effects["touchpoint"].iloc[0] == "alpha"
    assert set(effects["touchpoint"].iloc[-2:]) == {"mi", "delta"}
    # the closed form equals removing each channel explicitly and re-solving the chain
    point = result.matrix("point")
    full = chain_quantities(point)["conversion_probability"]
    for t in ("alpha", "iota", "gamma"):
        removed = point.copy()
        removed[D] = removed[D] + removed[t]
        removed[t] = 0.0
        removed.loc[t] = 0.0
        removed.loc[t, D] = 1.0
        p_removed = chain_quantities(removed)["conversion_probability"]
        expected = 1 - p_removed / full
        assert effects.set_index("touchpoint").at[t, "point"] == pytest.approx(expected)


# ---------------------------------------------------------------- emotion by arriving path

def test_arrival_ratings_take_the_state_before_the_first_visit():
    ts = pd.Timestamp("2025-01-01")
    events = pd.DataFrame({
        "case_id": ["r1"] * 4 + ["r2"] * 3,
        "timestamp": [ts, ts + pd.Timedelta("1h"), ts + pd.Timedelta("2h"),
                      ts + pd.Timedelta("3h"), ts, ts, ts + pd.Timedelta("5D")],
        "touchpoint": ["web", "chat", "phone", "chat", "web", "web", "phone"]})
    ratings = pd.DataFrame({"respondent_id": ["r1", "r1", "r1", "r2", "r2", "r3"],
                            "touchpoint": ["web", "chat", "phone", "phone", "shop", "web"],
                            "item": "valence", "value": [5, 3, 2, 4, 4, 6]})

    class Tiny:
        pass

    study = Tiny()
    study.events, study.ratings = events, ratings
    got = arrival_ratings(study)
    assert got.set_index(["respondent_id", "touchpoint"])["arrived_from"].to_dict() == {
        ("r1", "web"): "Start", ("r1", "chat"): "web", ("r1", "phone"): "chat",
        ("r2", "phone"): "web"}
    assert "1 ratings of respondents without events and 1 ratings" in got.attrs["notes"][0]
    # with sessions, r2's phone visit starts a new journey
    split = arrival_ratings(study, session_gap="1 day").set_index(
        ["respondent_id", "touchpoint"])["arrived_from"]
    assert split[("r2", "phone")] == "Start"


def test_emotion_by_arriving_path_runs_on_a_small_study():
    study = make_study(400, seed=8)
    config = arrival_config(draws=100, tune=100)
    result = fit_arrival_emotion(study, config, seed=1, use_cache=False)
    effects = arrival_effects(result)
    assert set(effects["quantity"]) == {"mean_rating", "difference", "latent_difference"}
    means = effects[effects["quantity"] == "mean_rating"]
    assert means["n"].sum() == len(study.ratings)
    assert np.allclose(means.groupby("touchpoint")["share"].sum(), 1.0)
    # search_ad is only ever reached from Start: no contrast rows
    assert not ((effects["touchpoint"] == "search_ad")
                & (effects["quantity"] == "difference")).any()


@pytest.mark.slow
def test_emotion_by_arriving_path_recovers_the_planted_effect():
    """call_centre right after support_chat is rated 0.7 logits lower (datasets.PATH_EFFECTS)."""
    study = make_study(4000, seed=12)
    result = fit_arrival_emotion(study, seed=3, use_cache=False)
    effects = arrival_effects(result).set_index(["touchpoint", "arrived_from", "quantity"])
    planted = effects.loc[("call_centre", "support_chat", "latent_difference")]
    assert planted["mean"] < 0 and planted["prob_lower"] > 0.95
    assert planted["eti90_low"] < -0.7 * 0.5 and planted["eti90_high"] < 0
    # no other arrival at call_centre is clearly worse than the rest
    others = [k for k in effects.index if k[0] == "call_centre" and k[1] != "support_chat"
              and k[2] == "latent_difference"]
    assert all(effects.loc[k, "mean"] > planted["mean"] for k in others)


# ---------------------------------------------------------------- figures

def test_path_flow_conserves_journeys():
    variants = pd.DataFrame({"path": ["a > b", "a", "b > a > c"], "journeys": [3, 1, 2],
                             "conversions": [2, 0, 1]})
    fig = pj.path_flow(variants, max_steps=2)
    texts = {t.get_text().split("\n")[0]: t.get_text().split("\n")[1]
             for t in fig.axes[0].texts}
    # step 1: a 4, b 2; ends after step 2: Conversion 2, Drop-off 1 (+1 after step 1)
    assert texts["more steps"].startswith("2 ")
    assert "Conversion" in texts and "Drop-off" in texts
    heights = [p.get_height() for p in fig.axes[0].patches if type(p).__name__ == "Rectangle"]
    unit = min(heights)  # the single journey that ends after step 1
    assert len(heights) == 8
    assert sum(heights) == pytest.approx(unit * (6 + 6 + 5))  # 6 + 6 + (2 + 1 + 2)
    matplotlib.pyplot.close(fig)


def test_figures_draw_from_the_results(large):
    study, result = large
    tr = journeys.transitions(study.events, outcomes=study.outcomes)
    order = list(study.touchpoints["touchpoint"])
    figures = [pj.transition_heatmap(tr, order=order), pj.dropoff_forest(result.dropoff()),
               pj.removal_forest(result.removal_effects()),
               pj.path_flow(journeys.variants(study.events, outcomes=study.outcomes),
                            order=order)]
    heat = figures[0].axes[0]
    assert heat.get_yticklabels()[0].get_text().startswith("Start (n=20,000)")
    rows = {t.get_text(): t.get_position()[1] for t in figures[2].axes[0].get_yticklabels()}
    assert max(rows, key=rows.get) == result.removal_effects()["touchpoint"].iloc[0]
    for fig in figures:
        matplotlib.pyplot.close(fig)


# ---------------------------------------------------------------- save, load, cache, seeds

def test_save_load_and_reproducibility(tmp_path):
    counts = as_counts(SMALL, 200)
    a = fit_paths(counts, seed=11, use_cache=False)
    b = fit_paths(counts, seed=11, use_cache=False)
    c = fit_paths(counts, seed=12, use_cache=False)
    assert a.posterior["removal_effect"].equals(b.posterior["removal_effect"])
    assert not a.posterior["removal_effect"].equals(c.posterior["removal_effect"])
    loaded = PathResult.load(a.save(tmp_path / "paths"))
    pd.testing.assert_frame_equal(loaded.removal_effects(), a.removal_effects())
    assert loaded.diagnostics == a.diagnostics and loaded.ok
    with pytest.raises(ValueError, match="holds a 'paths' fit"):
        VariantResult.load(tmp_path / "paths")
    first = fit_paths(counts, seed=11)
    again = fit_paths(counts, seed=11)
    assert not first.cached and again.cached
    pd.testing.assert_frame_equal(again.dropoff(), first.dropoff())


def test_variant_fit_is_reproducible_and_round_trips(tmp_path):
    variants = pd.DataFrame({"path": ["x > y", "y", "x"], "journeys": [50, 30, 4],
                             "conversions": [20, 6, 1]})
    config = VariantConfig(sampler=SamplerConfig(draws=200, tune=200))
    a = fit_variants(variants, config, seed=5, use_cache=False)
    b = fit_variants(variants, config, seed=5, use_cache=False)
    assert a.posterior["conversion"].equals(b.posterior["conversion"])
    loaded = VariantResult.load(a.save(tmp_path / "variants"))
    pd.testing.assert_frame_equal(loaded.variants(), a.variants())
    pd.testing.assert_frame_equal(loaded.pooled(), a.pooled())
