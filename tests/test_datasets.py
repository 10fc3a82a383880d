"""The synthetic study generator: reproducible, loadable, and its truth is the truth.

Truth checks compare what the generator wrote (the sample) with what ``truth``
claims about the population, each computed independently here from the tables.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cxresearch.datasets import (
    CODE_TEMPLATES,
    OVERALL_RULES,
    TRANSITIONS,
    chain_truth,
    make_study,
    write_study,
)
from cxresearch.study import load_study

FAST_N = 30_000


@pytest.fixture(scope="module")
def demo():
    return make_study(1500, 2026)


@pytest.fixture(scope="module")
def big():
    return make_study(FAST_N, 11)


@pytest.fixture(scope="module")
def truth(demo):
    return demo.truth


# ---------------------------------------------------------------- helpers (independent)

def journeys(study) -> pd.DataFrame:
    """One row per case: the path as a tuple of touchpoints and whether it converted."""
    paths = study.events.groupby("case_id", sort=False)["touchpoint"].agg(tuple)
    conv = study.outcomes.query("outcome == 'converted'").set_index("respondent_id")["value"]
    return pd.DataFrame({"path": paths, "converted": conv.reindex(paths.index) == 1})


def transition_counts(study) -> pd.DataFrame:
    """Counts of from -> to with Start, Conversion and Drop-off states."""
    rows = []
    for path, converted in journeys(study).itertuples(index=False):
        states = ("Start", *path, "Conversion" if converted else "Drop-off")
        rows += list(zip(states[:-1], states[1:], strict=True))
    return pd.DataFrame(rows, columns=["src", "dst"]).value_counts().unstack(fill_value=0)


def peak_end_mean(study) -> pd.DataFrame:
    """Peak, end and mean of each respondent's ratings, from the written definitions."""
    r = study.ratings.copy()
    lo, hi = r["scale_min"].iloc[0], r["scale_max"].iloc[0]
    r["order"] = np.arange(len(r))
    r = r.sort_values(["respondent_id", "answered_at", "order"], kind="stable")
    end = r.groupby("respondent_id")["value"].last()
    r["intensity"] = (r["value"] - (lo + hi) / 2).abs()
    peak = (r.sort_values(["respondent_id", "intensity", "value"], ascending=[True, False, True])
            .groupby("respondent_id")["value"].first())
    mean = r.groupby("respondent_id")["value"].mean()
    out = pd.DataFrame({"peak": peak, "end": end, "mean": mean}).astype(float)
    overall = study.outcomes.query("outcome == 'overall'").set_index("respondent_id")["value"]
    return out.join(overall.rename("overall"))


def cell_frame(truth: dict, key: str = "cells") -> pd.DataFrame:
    return pd.DataFrame(truth["emotion"][key])


def chi2_pvalue(observed: np.ndarray, expected_p: np.ndarray) -> tuple[float, int]:
    """Pearson chi-square over groups (rows), categories with tiny expectations pooled out."""
    n = observed.sum(1, keepdims=True)
    expected = n * expected_p
    keep = expected > 5
    stat = (((observed - expected) ** 2 / np.where(keep, expected, 1)) * keep).sum()
    df = int((keep.sum(1) - 1).clip(0).sum())
    return float(stats.chi2.sf(stat, df)), df


def rating_fit(study, truth: dict, groups: list[str]) -> tuple[float, float]:
    """Chi-square p-value and max |z| of means of the ratings against the truth's cells.

    Groups pooled over segments (and waves) are compared with the cells mixed by
    the sample's own composition, so the expectation is exact given the counts.
    """
    lo, hi = truth["emotion"]["scale"]
    cats = np.arange(lo, hi + 1)
    cells = cell_frame(truth)
    r = study.ratings.merge(study.respondents[["respondent_id", "segment", "wave"]])
    counts = (r.groupby(["touchpoint", "segment", "wave", "value"]).size()
              .unstack(fill_value=0).reindex(columns=cats, fill_value=0))
    merged = cells.set_index(["touchpoint", "segment", "wave"]).join(counts, how="inner")
    p = np.vstack(merged["p"].to_numpy())
    obs = merged[list(cats)].to_numpy().astype(float)
    n = obs.sum(1, keepdims=True)
    frame = pd.DataFrame(np.hstack([obs, n * p]), index=merged.index)
    pooled = frame.groupby(level=groups).sum()
    obs, exp = pooled.iloc[:, :len(cats)].to_numpy(), pooled.iloc[:, len(cats):].to_numpy()
    n = obs.sum(1)
    ep = exp / n[:, None]
    pvalue, _ = chi2_pvalue(obs, ep)
    mean, emean = obs @ cats / n, ep @ cats
    var = ep @ cats**2 - emean**2
    z = (mean - emean) / np.sqrt(var / n)
    return pvalue, float(np.abs(z).max())


# ---------------------------------------------------------------- reproducibility

def test_same_seed_same_tables_other_seed_differs():
    a, b, c = make_study(400, 7), make_study(400, 7), make_study(400, 8)
    for name in a.TABLES:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    assert a.config == b.config
    assert not a.ratings.equals(c.ratings)
    assert not a.events.equals(c.events)
    assert not a.respondents.equals(c.respondents)


def test_truth_does_not_depend_on_seed_or_size(demo, truth):
    other = make_study(200, 99).truth
    other.pop("sample")
    mine = dict(truth)
    assert mine.pop("sample")["seed"] == 2026
    assert other == mine


# ---------------------------------------------------------------- write + load

def test_write_study_loads_cleanly(tmp_path, demo, truth):
    out = write_study(demo, tmp_path / "demo")
    names = {p.name for p in out.iterdir()}
    assert {f"{t}.csv" for t in demo.TABLES} | {"study.yml", "truth.json", "README.md"} <= names
    size = sum(p.stat().st_size for p in out.iterdir())
    assert size < 5_000_000, f"demo takes {size:,} bytes"
    study = load_study(out)
    report = study.report
    assert report.problems == [] and report.exclusions == [], str(report)
    assert report.counts == {t: len(demo.tables[t]) for t in report.counts}
    assert set(report.counts) == set(demo.TABLES)
    assert study.scales["valence"] == (1, 7) and study.scales["nps"] == (0, 10)
    # identifiers stay strings with their leading zeros; values survive the round trip
    assert study.respondents["respondent_id"].iloc[0] == "R000001"
    pd.testing.assert_series_equal(study.ratings["value"], demo.ratings["value"])
    loaded = study.respondents.set_index("respondent_id")["weight"]
    assert np.allclose(loaded, demo.respondents.set_index("respondent_id")["weight"])
    assert study.events["case_id"].tolist() == demo.events["case_id"].tolist()
    assert (study.ratings["answered_at"] == demo.ratings["answered_at"]).all()
    assert json.loads((out / "truth.json").read_text(encoding="utf-8")) == truth
    assert "Spanish" in (out / "README.md").read_text(encoding="utf-8")
    assert study.comments["text"].str.contains("ñ|é|á|ó|í").any()  # UTF-8 kept


def test_bad_arguments_fail_clearly():
    for kwargs in ({"n_respondents": 0}, {"scale": (1, 3)}, {"n_waves": 0}):
        with pytest.raises(ValueError):
            make_study(**kwargs)


def test_other_scales_and_waves():
    s = make_study(800, 3, scale=(0, 10), n_waves=3, wave_effect=0.0)
    assert s.ratings["value"].between(0, 10).all()
    assert (s.ratings[["scale_min", "scale_max"]] == [0, 10]).all().all()
    assert sorted(s.respondents["wave"].unique()) == ["2025-H1", "2025-H2", "2026-H1"]
    assert s.config["scales"]["valence"] == {"min": 0, "max": 10}


# ---------------------------------------------------------------- structure

def test_journey_map(demo):
    tp = demo.touchpoints
    assert len(tp) >= 8
    stages = tp.sort_values("stage_order", kind="stable").drop_duplicates("stage")["stage"]
    assert stages.tolist() == ["discovery", "purchase", "delivery", "support", "advocacy"]
    assert set(tp["channel"]) == {"online", "store", "phone"}
    assert set(demo.events["touchpoint"]) == set(tp["touchpoint"])
    chan = dict(zip(tp["touchpoint"], tp["channel"], strict=True))
    assert (demo.events["channel"] == demo.events["touchpoint"].map(chan)).all()


def test_respondents_segments_waves_weights(demo, truth):
    r = demo.respondents
    assert r["respondent_id"].str.fullmatch(r"R\d{6}").all() and r["respondent_id"].is_unique
    assert r["segment"].nunique() == 4 and set(r["wave"]) == {"2025-H1", "2025-H2"}
    assert {"age_band", "country", "language"} <= set(r.columns)
    assert set(r["language"]) == {"es", "en"}
    assert (r.loc[r["country"].isin(["ES", "MX"]), "language"] == "es").all()
    shares = r.groupby("segment")["weight"].sum() / r["weight"].sum()
    pop = pd.Series(truth["segments"]["population_shares"])
    assert np.allclose(shares.sort_index(), pop.sort_index())
    raw = r["segment"].value_counts(normalize=True)
    over = truth["segments"]["oversampled"]
    assert raw[over] > pop[over] + 0.08  # the planted over-sampling is visible
    assert np.isclose(r["weight"].mean(), 1.0)


def test_journeys_have_variants_loops_and_drop_off(demo):
    j = journeys(demo)
    variants = j["path"].value_counts()
    assert (variants >= 20).sum() >= 6, variants.head(10)
    has_loop = j["path"].map(lambda p: len(set(p)) < len(p))
    assert has_loop.sum() >= 10
    loops = j.loc[has_loop, "path"].map(lambda p: " > ".join(p))
    assert loops.str.contains("support_chat > call_centre > support_chat").any()
    assert 0.3 < j["converted"].mean() < 0.7
    last = j.loc[~j["converted"], "path"].str[-1].value_counts()
    assert last.index[0] == "checkout"  # drop-off concentrated at checkout
    assert (demo.events["case_id"].isin(demo.respondents["respondent_id"])).all()


def test_timestamps_increase_within_case_with_some_ties(demo):
    ev = demo.events
    gaps = ev.groupby("case_id", sort=False)["timestamp"].diff().dropna()
    assert (gaps >= pd.Timedelta(0)).all()
    assert (gaps == pd.Timedelta(0)).sum() >= 5
    assert gaps.max() > pd.Timedelta(days=2) and gaps.min() < pd.Timedelta(minutes=30)
    # a rating's answered_at is its first visit
    first = ev.groupby(["case_id", "touchpoint"], sort=False)["timestamp"].min()
    got = demo.ratings.set_index(["respondent_id", "touchpoint"])["answered_at"]
    assert (first.reindex(got.index) == got).all()


def test_ratings_one_per_visited_touchpoint(demo):
    visited = demo.events[["case_id", "touchpoint"]].drop_duplicates()
    rated = demo.ratings[["respondent_id", "touchpoint"]]
    assert len(rated) == len(visited)
    assert not rated.duplicated().any()
    assert set(demo.ratings["item"]) == {"valence"}
    assert demo.ratings["value"].between(1, 7).all() and demo.ratings["value"].nunique() == 7


def test_codebook_and_codings(demo, truth):
    codes, codings = demo.codes, demo.codings
    parents = set(codes["parent"].dropna())
    assert parents <= set(codes["code"]) and len(parents) >= 3
    leaves = codes[codes["parent"].notna()]
    assert 10 <= len(leaves) <= 16 and codes["description"].notna().all()
    t = pd.DataFrame(truth["codes"]).T
    assert set(t.index) == set(leaves["code"])
    assert (t["effect"] == 0).sum() >= 4
    assert (t["effect"] >= 0.5).sum() >= 2 and (t["effect"] <= -0.5).sum() >= 2
    assert t["prevalence"].between(0.05, 0.30).all()
    assert (codings["touchpoint"] == codings["code"].map(t["touchpoint"])).all()
    rated = demo.ratings.set_index(["respondent_id", "touchpoint"]).index
    assert codings.set_index(["respondent_id", "touchpoint"]).index.isin(rated).all()
    assert not codings.duplicated(["respondent_id", "code"]).any()
    text = codings["text"]
    assert text.str.contains(r"@example\.com").sum() >= 3
    assert text.str.contains(r"\+\d{2} \d").sum() >= 3
    # each excerpt comes from its code's templates in the respondent's language
    lang = codings.merge(demo.respondents[["respondent_id", "language"]])
    for code, language, excerpt in lang[["code", "language", "text"]].itertuples(index=False):
        options = CODE_TEMPLATES[code][language == "es"]
        assert any(excerpt.startswith(o) for o in options), (code, language, excerpt)
    assert set(lang["language"]) == {"es", "en"}


LEXICON = {"en": {"excellent": 2, "great": 2, "amazing": 2, "perfect": 2, "loved": 2,
                  "good": 1, "nice": 1, "easy": 1, "friendly": 1, "helpful": 1, "quick": 1,
                  "terrible": -2, "awful": -2, "horrible": -2, "disappointing": -2,
                  "slow": -1, "poor": -1, "bad": -1, "rude": -1},
           "es": {"excelente": 2, "genial": 2, "encantó": 2, "perfecto": 2, "estupenda": 2,
                  "buena": 1, "amable": 1, "fácil": 1, "agradable": 1, "bien": 1,
                  "horrible": -2, "pésimo": -2, "decepcionante": -2, "mala": -1, "malo": -1,
                  "lento": -1, "grosero": -1, "regular": -1}}


def test_comments_follow_the_rating(big):
    c = big.comments
    share = c["respondent_id"].nunique() / len(big.respondents)
    assert 0.35 < share < 0.45 and c["respondent_id"].is_unique
    assert set(c["language"]) == {"es", "en"}
    words = c["text"].str.lower().str.findall(r"\w+")
    score = [sum(LEXICON[lang].get(w, 0) for w in ws)
             for ws, lang in zip(words, c["language"], strict=True)]
    rated = c.merge(big.ratings, on=["respondent_id", "touchpoint"], how="left")
    assert rated["value"].notna().all()
    for lang in ("es", "en"):
        sel = (c["language"] == lang).to_numpy()
        rho = stats.spearmanr(np.array(score)[sel], rated["value"].to_numpy()[sel]).statistic
        assert rho > 0.6, (lang, rho)


# ---------------------------------------------------------------- speed

def test_fast_for_a_demo_sized_study():
    make_study(1500, 1)
    start = time.perf_counter()
    make_study(1500, 2)
    assert time.perf_counter() - start < 0.5


@pytest.mark.slow
def test_fast_for_100k_respondents():
    start = time.perf_counter()
    s = make_study(100_000, 1)
    assert time.perf_counter() - start < 10
    assert len(s.respondents) == 100_000


# ---------------------------------------------------------------- truth: exact parts

def test_chain_truth_matches_matrix_powers(truth):
    """Absorption and removal by iterating the chain, not by solving it."""
    states = truth["journeys"]["states"]
    idx = {s: i for i, s in enumerate(states)}

    def absorb(removed: str | None = None) -> float:
        P = np.zeros((len(states), len(states)))
        for a, row in TRANSITIONS.items():
            for b, p in row.items():
                P[idx[a], idx[b]] = p
        if removed:
            P[idx[removed]] = 0.0
            P[idx[removed], idx["Drop-off"]] = 1.0
        P[idx["Conversion"], idx["Conversion"]] = P[idx["Drop-off"], idx["Drop-off"]] = 1
        return np.linalg.matrix_power(P, 512)[idx["Start"], idx["Conversion"]]

    full = absorb()
    assert np.isclose(truth["journeys"]["conversion_probability"], full)
    for tp, effect in truth["journeys"]["removal_effects"].items():
        assert np.isclose(effect, 1 - absorb(tp) / full), tp
    assert truth["journeys"]["drop_off"]["checkout"] == max(truth["journeys"]["drop_off"].values())
    assert chain_truth()["removal_effects"] == truth["journeys"]["removal_effects"]


def test_truth_cells_are_distributions(truth):
    cells = cell_frame(truth)
    assert len(cells) == 9 * 4 * 2
    p = np.vstack(cells["p"])
    assert np.allclose(p.sum(1), 1) and (p > 0).all()
    assert np.allclose(cells["mean"], p @ np.arange(1, 8))
    assert np.allclose(cells["bottom_box"], p[:, :2].sum(1))
    change = pd.DataFrame(truth["emotion"]["wave_change"]).set_index(["touchpoint", "segment"])
    null, wave_tp = truth["emotion"]["null_touchpoint"], truth["emotion"]["wave_effect"]
    assert (change.loc[null, "mean_change"] == 0).all()
    assert (change.loc[wave_tp["touchpoint"], "mean_change"] > 0.3).all()
    assert (change.drop(wave_tp["touchpoint"], level=0)["mean_change"] == 0).all()
    by_prev = pd.DataFrame(truth["emotion"]["by_previous"])
    sc = by_prev.query("touchpoint == 'call_centre' and segment == 'population'")
    means = sc.groupby("previous")["mean"].first()
    assert means["support_chat"] < means.drop("support_chat").min()  # the planted path effect
    nps = pd.DataFrame(truth["outcomes"]["by_segment_wave"])
    assert nps["draws"].sum() >= 1_000_000
    assert np.allclose(nps["promoters"] + nps["passives"] + nps["detractors"], 1)


# ---------------------------------------------------------------- truth vs sample (fast)

def test_sample_matches_transition_truth(big):
    truth = big.truth["journeys"]
    counts = transition_counts(big)
    n = counts.sum(axis=1)
    for src, row in truth["transitions"].items():
        for dst in set(row) | set(counts.columns):
            p = row.get(dst, 0.0)
            k = counts.loc[src].get(dst, 0)
            if p == 0:
                assert k == 0, (src, dst)
                continue
            se = np.sqrt(p * (1 - p) / n[src])
            assert abs(k / n[src] - p) < 4.5 * se, (src, dst, k / n[src], p)
    conv = journeys(big)["converted"]
    p = truth["conversion_probability"]
    assert abs(conv.mean() - p) < 4.5 * np.sqrt(p * (1 - p) / len(conv))


def test_removal_effects_match_brute_force(big):
    """Removing a touchpoint converts exactly the journeys that converted without it."""
    truth = big.truth["journeys"]
    j = journeys(big)
    p_full = j["converted"].mean()
    for tp, effect in truth["removal_effects"].items():
        kept = j["converted"] & ~j["path"].map(lambda p, tp=tp: tp in p)
        p_removed = kept.mean()
        # delta method, from the multinomial of (converted with tp, converted without tp)
        a, b = p_full - p_removed, p_removed
        se = np.sqrt(a * b * (a + b) ** -3 / len(j)) if a > 0 else 1e-3
        assert abs((1 - p_removed / p_full) - effect) < 4.5 * se + 1e-3, (tp, effect)


def test_ratings_match_the_marginal_truth(big):
    pvalue, zmax = rating_fit(big, big.truth, ["touchpoint", "wave"])
    assert pvalue > 1e-4 and zmax < 4.5, (pvalue, zmax)
    pvalue, zmax = rating_fit(big, big.truth, ["touchpoint", "segment"])
    assert pvalue > 1e-4 and zmax < 4.5, (pvalue, zmax)


def test_code_prevalence_matches_truth(big):
    t = pd.DataFrame(big.truth["codes"]).T
    raters = big.ratings["touchpoint"].value_counts()
    found = big.codings["code"].value_counts()
    for code, row in t.iterrows():
        n, p = raters[row["touchpoint"]], row["prevalence"]
        assert abs(found.get(code, 0) / n - p) < 4.5 * np.sqrt(p * (1 - p) / n), code


def test_overall_follows_the_planted_peak_end_rule(big):
    rule = big.truth["outcomes"]["overall"]
    d = peak_end_mean(big)
    X = np.column_stack([np.ones(len(d)), d[["peak", "end", "mean"]].to_numpy()])
    coef, *_ = np.linalg.lstsq(X, d["overall"].to_numpy(), rcond=None)
    planted = [rule["a"], rule["w_peak"], rule["w_end"], rule["w_mean"]]
    resid = d["overall"].to_numpy() - X @ coef
    se = np.sqrt(np.diag(np.linalg.inv(X.T @ X)) * resid.var())
    assert (np.abs(coef - planted) < 4.5 * se + 0.02).all(), (coef, planted, se)
    assert rule["w_peak"] > rule["w_mean"] and rule["w_end"] > rule["w_mean"]


def test_mean_only_rule_when_peak_end_is_off():
    s = make_study(FAST_N, 12, peak_end=False)
    d = peak_end_mean(s)
    X = np.column_stack([np.ones(len(d)), d[["peak", "end", "mean"]].to_numpy()])
    coef, *_ = np.linalg.lstsq(X, d["overall"].to_numpy(), rcond=None)
    w_mean = OVERALL_RULES[False]["w_mean"]
    assert abs(coef[1]) < 0.05 and abs(coef[2]) < 0.05 and abs(coef[3] - w_mean) < 0.05, coef


# ---------------------------------------------------------------- truth vs sample (slow)

@pytest.fixture(scope="module")
def huge():
    return make_study(200_000, 21)


@pytest.mark.slow
def test_every_cell_matches_the_marginal_truth(huge):
    pvalue, zmax = rating_fit(huge, huge.truth, ["touchpoint", "segment", "wave"])
    assert pvalue > 1e-4 and zmax < 4.5, (pvalue, zmax)


@pytest.mark.slow
def test_path_conditional_truth(huge):
    """Ratings of the first call-centre visit by where it came from."""
    truth = pd.DataFrame(huge.truth["emotion"]["by_previous"])
    ev = huge.events.copy()
    ev["previous"] = ev.groupby("case_id", sort=False)["touchpoint"].shift().fillna("Start")
    first = ev.drop_duplicates(["case_id", "touchpoint"])
    r = huge.ratings.merge(first.rename(columns={"case_id": "respondent_id"}),
                           on=["respondent_id", "touchpoint"])
    r = r.merge(huge.respondents[["respondent_id", "segment", "wave"]])
    cc = r[r["touchpoint"] == "call_centre"]
    share = cc["previous"].value_counts(normalize=True)
    expect = truth.query("touchpoint == 'call_centre'").groupby("previous")["share"].first()
    assert np.allclose(share.sort_index(), expect.sort_index(), atol=0.02)
    t = truth.query("touchpoint == 'call_centre'").set_index(["previous", "segment", "wave"])
    got = cc.groupby(["previous", "segment", "wave"])["value"].agg(["mean", "var", "size"])
    got = got[got["size"] >= 200].join(t["mean"].rename("truth"))
    z = (got["mean"] - got["truth"]) / np.sqrt(got["var"] / got["size"])
    assert z.abs().max() < 4.5, z.sort_values()


@pytest.mark.slow
def test_outcomes_match_truth_per_segment_and_wave(huge):
    truth = pd.DataFrame(huge.truth["outcomes"]["by_segment_wave"])
    wide = huge.outcomes.pivot(index="respondent_id", columns="outcome", values="value")
    wide = wide.join(huge.respondents.set_index("respondent_id")[["segment", "wave"]])
    wide["score"] = 100 * ((wide["nps"] >= 9).astype(float) - (wide["nps"] <= 6))
    got = wide.groupby(["segment", "wave"]).agg(
        nps=("score", "mean"), nps_var=("score", "var"), n=("score", "size"),
        csat=("csat", "mean"), csat_var=("csat", "var"), ces=("ces", "mean"),
        ces_var=("ces", "var"), overall=("overall", "mean"), overall_var=("overall", "var"))
    got = got.join(truth.set_index(["segment", "wave"]).add_prefix("truth_"))
    for name in ("nps", "csat", "ces", "overall"):
        expected = got["truth_nps"] if name == "nps" else got[f"truth_{name}_mean"]
        se = np.sqrt(got[f"{name}_var"] / got["n"])
        if name == "nps":
            se = np.sqrt(se**2 + got["truth_mc_se_nps"] ** 2)
        z = (got[name] - expected) / se
        assert z.abs().max() < 4.5, (name, z)
