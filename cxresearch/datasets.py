"""A synthetic CX study with known ground truth, for testing the models against.

:func:`make_study` simulates a study (journeys, emotion ratings, outcomes, coded
excerpts, open comments) from planted parameters; ``study.truth`` holds those
parameters and the population quantities the models estimate (cell spectra,
transition and removal effects, NPS per segment and wave). :func:`write_study`
writes it as a study folder that :func:`cxresearch.load_study` reads.

The world, in short (``README.md`` of a written study says more):

* journeys are a first-order Markov chain over the touchpoints, from ``Start``
  to the absorbing ``Conversion`` (journey completed: purchase made and kept) or
  ``Drop-off`` (abandoned, or cancelled after a support contact); the same chain
  for every segment and wave;
* each respondent rates the first visit to every touchpoint they visited with an
  ordered logit whose latent value adds touchpoint, segment, interaction, wave,
  path and code effects and a respondent effect u ~ Normal(0, sd);
* the overall evaluation follows a planted peak-end rule; NPS, CSAT and CES follow
  from it.

Population truth is exact where it can be (absorbing-chain algebra, Gauss-Hermite
quadrature over u, enumeration of code combinations and path mixtures); NPS and
mean overall per segment x wave are Monte Carlo over the journeys and ratings
(10^6 draws, fixed seed, noise terms integrated exactly). It depends on the
generator's arguments but not on the seed or the sample size, and is cached.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import expit, ndtr

GENERATOR_VERSION = 1
TRUTH_SEED = 20250101
TRUTH_DRAWS = 1_000_000
GH_NODES = 60
ITEM = "valence"

STAGES = ("discovery", "purchase", "delivery", "support", "advocacy")
# touchpoint -> (stage, channel); in journey-map order
TOUCHPOINTS: dict[str, tuple[str, str]] = {
    "search_ad": ("discovery", "online"),
    "website": ("discovery", "online"),
    "store_visit": ("discovery", "store"),
    "checkout": ("purchase", "online"),
    "store_purchase": ("purchase", "store"),
    "delivery": ("delivery", "online"),
    "support_chat": ("support", "online"),
    "call_centre": ("support", "phone"),
    "review_request": ("advocacy", "online"),
}
START, CONVERSION, DROP_OFF = "Start", "Conversion", "Drop-off"
TRANSITIONS: dict[str, dict[str, float]] = {
    START: {"search_ad": 0.40, "website": 0.35, "store_visit": 0.25},
    "search_ad": {"website": 0.80, "store_visit": 0.08, DROP_OFF: 0.12},
    "website": {"checkout": 0.65, "store_visit": 0.10, "support_chat": 0.10, DROP_OFF: 0.15},
    "store_visit": {"store_purchase": 0.70, "website": 0.15, DROP_OFF: 0.15},
    "checkout": {"delivery": 0.56, "support_chat": 0.10, "call_centre": 0.04, DROP_OFF: 0.30},
    "store_purchase": {CONVERSION: 0.50, "review_request": 0.25, "support_chat": 0.07,
                       "call_centre": 0.08, DROP_OFF: 0.10},
    "delivery": {CONVERSION: 0.35, "review_request": 0.30, "support_chat": 0.18,
                 "call_centre": 0.09, DROP_OFF: 0.08},
    "support_chat": {"call_centre": 0.25, "delivery": 0.22, "checkout": 0.15,
                     CONVERSION: 0.20, DROP_OFF: 0.18},
    "call_centre": {"support_chat": 0.20, "delivery": 0.22, CONVERSION: 0.33, DROP_OFF: 0.25},
    "review_request": {CONVERSION: 0.92, DROP_OFF: 0.08},
}
SUPPORT_STAGE = "support"

SEGMENTS = ("bargain_hunter", "loyalist", "first_timer", "busy_professional")
POPULATION_SHARES = {"bargain_hunter": 0.35, "loyalist": 0.25, "first_timer": 0.15,
                     "busy_professional": 0.25}
SAMPLE_SHARES = {"bargain_hunter": 0.28, "loyalist": 0.20, "first_timer": 0.32,
                 "busy_professional": 0.20}
OVERSAMPLED = "first_timer"

# Emotion (latent scale of the ordered logit)
TP_EFFECTS = {"search_ad": 0.2, "website": 0.7, "store_visit": 0.9, "checkout": 0.0,
              "store_purchase": 1.1, "delivery": 0.3, "support_chat": -0.2,
              "call_centre": -0.4, "review_request": 0.6}
SEG_EFFECTS = {"bargain_hunter": 0.0, "loyalist": 0.7, "first_timer": -0.2,
               "busy_professional": -0.4}
INTERACTIONS = {("checkout", "bargain_hunter"): 0.5, ("call_centre", "busy_professional"): -0.8,
                ("delivery", "first_timer"): -0.5, ("store_visit", "loyalist"): 0.4,
                ("website", "busy_professional"): 0.3}
RESPONDENT_SD = 0.5
WAVE_TOUCHPOINT = "delivery"
NULL_TOUCHPOINT = "checkout"
PATH_EFFECTS = (("support_chat", "call_centre", -0.7),)  # (previous, touchpoint, effect)
CUTPOINT_RANGE = 2.5  # cutpoints evenly spaced on [-2.5, 2.5]

# Qualitative codes: code -> (parent, touchpoint, prevalence, effect, description)
PARENTS = {
    "delivery_issues": "Problems with getting the order delivered",
    "staff": "How the people serving the customer behaved",
    "waiting": "Time spent waiting for an answer",
    "price_payment": "Prices, discounts and paying",
    "online_experience": "Using the website and the online channels",
}
CODES: dict[str, tuple[str, str, float, float, str]] = {
    "late_delivery": ("delivery_issues", "delivery", 0.25, -1.2,
                      "The order arrived after the promised date"),
    "damaged_parcel": ("delivery_issues", "delivery", 0.08, -0.9,
                       "The parcel or product arrived damaged"),
    "tracking_updates": ("delivery_issues", "delivery", 0.15, 0.0,
                         "Mentions the tracking messages about the order"),
    "friendly_staff": ("staff", "store_visit", 0.22, 0.9,
                       "Shop staff were friendly and helpful"),
    "rude_staff": ("staff", "call_centre", 0.12, -1.0, "An agent was rude or dismissive"),
    "knowledgeable_agent": ("staff", "support_chat", 0.18, 0.7,
                            "The chat agent knew the answer and solved the problem"),
    "long_wait": ("waiting", "call_centre", 0.30, -0.8, "A long wait on hold before an answer"),
    "discount_code": ("price_payment", "checkout", 0.20, 0.6,
                      "A discount code or promotion applied at checkout"),
    "payment_error": ("price_payment", "checkout", 0.07, -1.1,
                      "The payment failed or was charged twice"),
    "price_comparison": ("price_payment", "search_ad", 0.20, 0.0,
                         "Compared prices with other shops"),
    "easy_navigation": ("online_experience", "website", 0.25, 0.5,
                        "Found products easily on the website"),
    "product_photos": ("online_experience", "website", 0.18, 0.0,
                       "Comments on the product photos"),
    "review_emails": ("online_experience", "review_request", 0.10, 0.0,
                      "Mentions the e-mails asking for a review"),
}
PERSONAL_SHARE = 0.03  # share of excerpts carrying an e-mail address or phone number
COMMENT_SHARE = 0.40

# Outcomes. Weights are for a 1-7 rating scale; other scales are mapped linearly onto it.
# The latent value stays within 1.1-8.9, so clipping to 0-10 is rare (< 0.5%).
OVERALL_RULES = {True: {"a": -0.2, "w_peak": 0.5, "w_end": 0.45, "w_mean": 0.35},
                 False: {"a": -0.2, "w_peak": 0.0, "w_end": 0.0, "w_mean": 1.3}}
OVERALL_SD = 0.7
NPS_SHIFT, NPS_SD = 1.5, 1.0
CSAT_RULE = {"a": 1.0, "w_overall": 0.4, "noise_sd": 0.6}
CES_RULE = {"a": 1.5, "w_mean_1to7": 0.8, "w_support_visits": -0.7, "noise_sd": 0.8}

COUNTRIES = {"ES": ("es", 0.30), "MX": ("es", 0.20), "GB": ("en", 0.25), "US": ("en", 0.25)}
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_PROBS = {"bargain_hunter": (0.25, 0.30, 0.20, 0.15, 0.10),
             "loyalist": (0.05, 0.15, 0.25, 0.25, 0.30),
             "first_timer": (0.35, 0.30, 0.15, 0.10, 0.10),
             "busy_professional": (0.05, 0.35, 0.35, 0.20, 0.05)}
# median gap (seconds) before arriving at a touchpoint; lognormal with sdlog 1; some ties
GAP_MEDIAN = {"search_ad": 3600, "website": 180, "store_visit": 2 * 86400, "checkout": 600,
              "store_purchase": 1200, "delivery": 2 * 86400, "support_chat": 6 * 3600,
              "call_centre": 3600, "review_request": 3 * 86400}
TIE_SHARE = 0.05


@dataclass(frozen=True)
class World:
    """The generator's arguments that change the population (not seed or size)."""

    peak_end: bool
    wave_effect: float
    scale: tuple[int, int]
    n_waves: int


@dataclass(repr=False)
class SyntheticStudy:
    """A simulated study: the tidy tables, the study.yml dict and the ground truth."""

    respondents: pd.DataFrame
    ratings: pd.DataFrame
    outcomes: pd.DataFrame
    events: pd.DataFrame
    touchpoints: pd.DataFrame
    codes: pd.DataFrame
    codings: pd.DataFrame
    comments: pd.DataFrame
    config: dict[str, Any]
    sample: dict[str, Any]
    world: World

    TABLES = ("respondents", "ratings", "outcomes", "events", "touchpoints", "codes",
              "codings", "comments")

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in self.TABLES}

    @property
    def truth(self) -> dict[str, Any]:
        """The ground truth (JSON-serialisable, a fresh copy).

        The population part is computed on first use for each world (a few seconds:
        the NPS Monte Carlo) and cached; ``truth["sample"]`` describes this sample.
        """
        truth = copy.deepcopy(_population_truth(self.world))
        truth["sample"] = copy.deepcopy(self.sample)
        return truth

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={len(df):,}" for name, df in self.tables.items())
        return (f"SyntheticStudy(seed={self.sample['seed']}, {counts}; "
                f"peak_end={self.world.peak_end}, wave_effect={self.world.wave_effect}, "
                f"scale={self.world.scale}, n_waves={self.world.n_waves})")


# ---------------------------------------------------------------- the world's arrays

def _waves(n: int) -> list[str]:
    return [f"{2025 + w // 2}-H{w % 2 + 1}" for w in range(n)]


def _cutpoints(scale: tuple[int, int]) -> np.ndarray:
    return np.linspace(-CUTPOINT_RANGE, CUTPOINT_RANGE, scale[1] - scale[0])


def _overall_rule(world: World) -> dict[str, float]:
    """The overall rule on the study's rating scale (weights given for 1-7, mapped)."""
    base = OVERALL_RULES[world.peak_end]
    lo, hi = world.scale
    k = 6 / (hi - lo)
    weights = {w: round(base[w] * k, 12) for w in ("w_peak", "w_end", "w_mean")}
    total = base["w_peak"] + base["w_end"] + base["w_mean"]
    return {"a": round(base["a"] + total * (1 - lo * k), 12), **weights, "noise_sd": OVERALL_SD}


def _chain() -> tuple[list[str], np.ndarray]:
    """States (touchpoints, Conversion, Drop-off, Start) and the transition matrix."""
    states = [*TOUCHPOINTS, CONVERSION, DROP_OFF, START]
    index = {s: i for i, s in enumerate(states)}
    P = np.zeros((len(states), len(states)))
    for src, row in TRANSITIONS.items():
        for dst, p in row.items():
            P[index[src], index[dst]] = p
    for absorbing in (CONVERSION, DROP_OFF):
        P[index[absorbing], index[absorbing]] = 1.0
    assert np.allclose(P.sum(1), 1.0)
    return states, P


# ---------------------------------------------------------------- simulation core

def _simulate(rng: np.random.Generator, seg: np.ndarray, wave: np.ndarray,
              world: World) -> dict[str, np.ndarray]:
    """Journeys, first-visit ratings, code presence and the overall rule's latent mean."""
    n, T = len(seg), len(TOUCHPOINTS)
    tps = list(TOUCHPOINTS)
    _, P = _chain()
    cum = P.cumsum(1)
    cum[:, -1] = 1.0
    start = T + 2
    # journeys, one step at a time for every case still travelling
    cases, steps, states, prevs = [], [], [], []
    active, cur, step = np.arange(n), np.full(n, start), 0
    converted = np.zeros(n, dtype=bool)
    while active.size:
        nxt = (rng.random(active.size)[:, None] >= cum[cur]).sum(1)
        moving = nxt < T
        cases.append(active[moving])
        steps.append(np.full(moving.sum(), step))
        states.append(nxt[moving])
        prevs.append(cur[moving])
        converted[active[nxt == T]] = True
        active, cur, step = active[moving], nxt[moving], step + 1
    ev_case, ev_step = np.concatenate(cases), np.concatenate(steps)
    order = np.lexsort((ev_step, ev_case))
    ev_case, ev_step = ev_case[order], ev_step[order]
    ev_tp, ev_prev = np.concatenate(states)[order], np.concatenate(prevs)[order]
    # first visit of each touchpoint, in journey order
    _, first = np.unique(ev_case * T + ev_tp, return_index=True)
    first.sort()
    r_case, r_tp, r_prev = ev_case[first], ev_tp[first], ev_prev[first]
    # latent value of each rating
    u = rng.normal(0.0, RESPONDENT_SD, n)
    eta = _base_eta(world)[r_tp, seg[r_case], wave[r_case]] + u[r_case]
    for prev_tp, tp, effect in PATH_EFFECTS:
        eta += effect * ((r_tp == tps.index(tp)) & (r_prev == tps.index(prev_tp)))
    code_rows, code_ids = [], []
    for c, (_, tp, prevalence, effect, _) in enumerate(CODES.values()):
        rows = np.flatnonzero(r_tp == tps.index(tp))
        rows = rows[rng.random(rows.size) < prevalence]
        eta[rows] += effect
        code_rows.append(rows)
        code_ids.append(np.full(rows.size, c))
    cut = _cutpoints(world.scale)
    below = expit(cut[None, :] - eta[:, None])  # P(Y <= lo + k)
    y = world.scale[0] + (rng.random(eta.size)[:, None] >= below).sum(1)
    # per respondent: peak, end, mean (ratings are sorted by case, in journey order)
    counts = np.bincount(r_case, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    mid = sum(world.scale) / 2
    score = 4 * np.abs(y - mid) + (y < mid)  # intensity, ties to the more negative
    best = np.maximum.reduceat(score, starts)
    neg = best % 2
    peak = np.where(neg == 1, mid - (best - neg) / 4, mid + (best - neg) / 4)
    end = y[starts + counts - 1]
    mean = np.bincount(r_case, weights=y, minlength=n) / counts
    rule = _overall_rule(world)
    m = rule["a"] + rule["w_peak"] * peak + rule["w_end"] * end + rule["w_mean"] * mean
    support = [i for i, t in enumerate(tps) if TOUCHPOINTS[t][0] == SUPPORT_STAGE]
    support_visits = np.bincount(ev_case[np.isin(ev_tp, support)], minlength=n)
    return {"ev_case": ev_case, "ev_step": ev_step, "ev_tp": ev_tp, "converted": converted,
            "r_event": first, "r_case": r_case, "r_tp": r_tp, "y": y,
            "code_row": np.concatenate(code_rows), "code_id": np.concatenate(code_ids),
            "peak": peak, "end": end, "mean": mean, "overall_mean": m,
            "support_visits": support_visits}


def _base_eta(world: World) -> np.ndarray:
    """tp + seg + tp x seg + wave effect, as an array (touchpoint, segment, wave)."""
    tps = list(TOUCHPOINTS)
    base = (np.array([TP_EFFECTS[t] for t in tps])[:, None]
            + np.array([SEG_EFFECTS[s] for s in SEGMENTS])[None, :])
    for (t, s), v in INTERACTIONS.items():
        base[tps.index(t), SEGMENTS.index(s)] += v
    out = np.repeat(base[:, :, None], world.n_waves, axis=2)
    out[tps.index(WAVE_TOUCHPOINT), :, 1:] += world.wave_effect
    return out


def _mean_1to7(mean: np.ndarray, scale: tuple[int, int]) -> np.ndarray:
    return 1 + (mean - scale[0]) * 6 / (scale[1] - scale[0])


def _outcome_values(rng: np.random.Generator, sim: dict, world: World) -> dict[str, np.ndarray]:
    n = sim["overall_mean"].size
    overall = np.clip(np.rint(sim["overall_mean"] + rng.normal(0, OVERALL_SD, n)), 0, 10)
    nps = np.clip(np.rint(overall + NPS_SHIFT + rng.normal(0, NPS_SD, n)), 0, 10)
    csat = np.clip(np.rint(CSAT_RULE["a"] + CSAT_RULE["w_overall"] * overall
                           + rng.normal(0, CSAT_RULE["noise_sd"], n)), 1, 5)
    ces = np.clip(np.rint(CES_RULE["a"]
                          + CES_RULE["w_mean_1to7"] * _mean_1to7(sim["mean"], world.scale)
                          + CES_RULE["w_support_visits"] * sim["support_visits"]
                          + rng.normal(0, CES_RULE["noise_sd"], n)), 1, 7)
    return {"overall": overall, "nps": nps, "csat": csat, "ces": ces,
            "converted": sim["converted"].astype(float)}


# ---------------------------------------------------------------- make_study

def make_study(n_respondents: int = 1500, seed: int = 0, *, peak_end: bool = True,
               wave_effect: float = 0.8, scale: tuple[int, int] = (1, 7),
               n_waves: int = 2) -> SyntheticStudy:
    """Simulate a CX study with known ground truth (a pure function of its arguments).

    ``peak_end=False`` makes the overall evaluation depend on the mean rating only;
    ``wave_effect`` is the improvement (logits) at the delivery touchpoint from the
    second wave on; ``scale`` is the valence rating scale.
    """
    lo, hi = (int(v) for v in scale)
    if n_respondents < 1:
        raise ValueError("n_respondents must be at least 1")
    if hi - lo < 3:
        raise ValueError("scale needs at least 4 points, e.g. (1, 7)")
    if n_waves < 1:
        raise ValueError("n_waves must be at least 1")
    world = World(bool(peak_end), float(wave_effect), (lo, hi), int(n_waves))
    rng = np.random.default_rng(seed)
    n, tps, waves = n_respondents, list(TOUCHPOINTS), _waves(n_waves)
    seg = rng.choice(len(SEGMENTS), n, p=[SAMPLE_SHARES[s] for s in SEGMENTS])
    wave = rng.integers(0, n_waves, n)
    sim = _simulate(rng, seg, wave, world)
    values = _outcome_values(rng, sim, world)

    width = max(6, len(str(n)))
    ids = np.array([f"R{i:0{width}d}" for i in range(1, n + 1)])
    respondents = _respondents(rng, ids, seg, wave, waves)
    seconds = _timestamps(rng, sim, wave)
    stamps = pd.to_datetime(seconds, unit="s").astype("datetime64[ns]")
    tp_names = np.array(tps)
    channels = np.array([TOUCHPOINTS[t][1] for t in tps])
    events = pd.DataFrame({"case_id": ids[sim["ev_case"]], "timestamp": stamps,
                           "touchpoint": tp_names[sim["ev_tp"]],
                           "channel": channels[sim["ev_tp"]]})
    ratings = pd.DataFrame({"respondent_id": ids[sim["r_case"]],
                            "touchpoint": tp_names[sim["r_tp"]], "item": ITEM,
                            "value": pd.array(sim["y"], dtype="Int64"),
                            "scale_min": pd.array(np.full(sim["y"].size, lo), dtype="Int64"),
                            "scale_max": pd.array(np.full(sim["y"].size, hi), dtype="Int64"),
                            "answered_at": stamps[sim["r_event"]]})
    outcomes = pd.DataFrame({"respondent_id": np.repeat(ids, len(values)),
                             "outcome": np.tile(list(values), n),
                             "value": np.column_stack(list(values.values())).ravel()})
    language = respondents["language"].to_numpy()
    codings = _codings(rng, sim, ids, language)
    comments = _comments(rng, sim, ids, language, world.scale)
    config = {"name": f"Synthetic CX study (seed {seed})",
              "scales": {ITEM: {"min": lo, "max": hi}, "nps": {"min": 0, "max": 10},
                         "overall": {"min": 0, "max": 10}, "csat": {"min": 1, "max": 5},
                         "ces": {"min": 1, "max": 7, "better": "higher"}},  # ease (CES 2.0)
              "synthetic": {"generator": "cxresearch.datasets.make_study",
                            "version": GENERATOR_VERSION, "n_respondents": n, "seed": seed,
                            "peak_end": world.peak_end, "wave_effect": world.wave_effect,
                            "scale": [lo, hi], "n_waves": n_waves}}
    counts = np.bincount(seg, minlength=len(SEGMENTS))
    sample = {"n_respondents": n, "seed": seed,
              "segment_counts": {s: int(c) for s, c in zip(SEGMENTS, counts, strict=True)},
              "conversions": int(sim["converted"].sum()), "events": int(sim["ev_case"].size),
              "ratings": int(sim["y"].size), "codings": len(codings),
              "comments": len(comments)}
    return SyntheticStudy(respondents, ratings, outcomes, events, _journey_map(), _codebook(),
                          codings, comments, config, sample, world)


def _journey_map() -> pd.DataFrame:
    tps = list(TOUCHPOINTS)
    return pd.DataFrame({"touchpoint": tps, "stage": [TOUCHPOINTS[t][0] for t in tps],
                         "stage_order": pd.array([STAGES.index(TOUCHPOINTS[t][0]) + 1
                                                  for t in tps], dtype="Int64"),
                         "channel": [TOUCHPOINTS[t][1] for t in tps]})


def _codebook() -> pd.DataFrame:
    parents = [None] * len(PARENTS) + [c[0] for c in CODES.values()]
    return pd.DataFrame({"code": [*PARENTS, *CODES], "parent": pd.Series(parents, dtype="str"),
                         "description": [*PARENTS.values(), *(c[4] for c in CODES.values())]})


def _respondents(rng: np.random.Generator, ids: np.ndarray, seg: np.ndarray,
                 wave: np.ndarray, waves: list[str]) -> pd.DataFrame:
    n = ids.size
    counts = np.bincount(seg, minlength=len(SEGMENTS))
    pop = np.array([POPULATION_SHARES[s] for s in SEGMENTS])
    # post-stratification: weighted segment shares equal the population shares
    weight = (pop * n / np.maximum(counts, 1))[seg]
    cum_age = np.array([np.cumsum(AGE_PROBS[s]) for s in SEGMENTS])
    age = (rng.random(n)[:, None] >= cum_age[seg]).sum(1).clip(0, len(AGE_BANDS) - 1)
    country_names = list(COUNTRIES)
    country = rng.choice(len(country_names), n, p=[COUNTRIES[c][1] for c in country_names])
    return pd.DataFrame({
        "respondent_id": ids, "segment": np.array(SEGMENTS)[seg],
        "wave": np.array(waves)[wave], "weight": weight,
        "age_band": np.array(AGE_BANDS)[age], "country": np.array(country_names)[country],
        "language": np.array([COUNTRIES[c][0] for c in country_names])[country]})


def _timestamps(rng: np.random.Generator, sim: dict, wave: np.ndarray) -> np.ndarray:
    """Seconds since the epoch for every event: increasing within a case, some ties."""
    n = wave.size
    half_start = np.array([np.datetime64(f"{2025 + w // 2}-{1 + 6 * (w % 2):02d}-01")
                           for w in range(int(wave.max()) + 1)]).astype("datetime64[s]")
    begin = (half_start.astype(np.int64)[wave] + rng.integers(0, 150 * 86400, n))
    med = np.log(np.array([GAP_MEDIAN[t] for t in TOUCHPOINTS], dtype=float))
    ev_tp, ev_step, ev_case = sim["ev_tp"], sim["ev_step"], sim["ev_case"]
    gap = np.rint(np.exp(med[ev_tp] + rng.normal(0, 1.0, ev_tp.size)))
    gap[(ev_step == 0) | (rng.random(ev_tp.size) < TIE_SHARE)] = 0
    total = np.cumsum(gap)
    first = np.flatnonzero(ev_step == 0)
    before = total[first] - gap[first]
    counts = np.diff(np.append(first, ev_tp.size))
    return begin[ev_case] + (total - np.repeat(before, counts)).astype(np.int64)


# ---------------------------------------------------------------- text

TP_LABELS = {  # touchpoint -> (English, Spanish with article)
    "search_ad": ("search ad", "el anuncio"), "website": ("website", "la web"),
    "store_visit": ("shop", "la tienda"), "checkout": ("checkout", "el pago online"),
    "store_purchase": ("purchase in store", "la compra en tienda"),
    "delivery": ("delivery", "la entrega"), "support_chat": ("support chat", "el chat de soporte"),
    "call_centre": ("call centre", "el centro de llamadas"),
    "review_request": ("review request", "la solicitud de opinión"),
}
# sentiment class (0 very negative .. 4 very positive) -> templates
COMMENT_TEMPLATES = {
    "en": [
        ["The {tp} was terrible.", "Awful experience with the {tp}, so slow.",
         "Horrible {tp}, and the staff were rude.", "Very disappointing {tp}. Never again."],
        ["The {tp} was slow and a bit disappointing.", "Poor {tp}, I expected more.",
         "Bad experience with the {tp}, it took too long."],
        ["Nothing special about the {tp}.", "The {tp} was as expected.",
         "The {tp} did its job, no surprises."],
        ["Good {tp}, quick and easy.", "The {tp} was nice and the staff friendly.",
         "Easy {tp}, helpful people."],
        ["Excellent {tp}, really fast!", "Great {tp}, the staff were so friendly.",
         "Amazing {tp}, perfect from start to end.", "Loved the {tp}, excellent service."],
    ],
    "es": [
        ["Horrible experiencia con {tp}, muy lento todo.", "Pésimo servicio en {tp}.",
         "Experiencia decepcionante con {tp}, personal grosero.",
         "Muy mala experiencia con {tp}. Nunca más."],
        ["Experiencia mala con {tp}, bastante lento.", "Servicio malo en {tp}, tardaron mucho.",
         "Con {tp} tuve problemas, servicio regular."],
        ["Nada especial con {tp}.", "Todo según lo esperado en {tp}.",
         "Sin más, {tp} cumplió su función."],
        ["Buena experiencia con {tp}, fácil y rápido.", "Personal amable en {tp}.",
         "Todo bien con {tp}, agradable."],
        ["Excelente servicio en {tp}, ¡genial!", "Me encantó {tp}, todo perfecto.",
         "Experiencia estupenda con {tp}, personal muy amable.",
         "Excelente experiencia con {tp}."],
    ],
}
CODE_TEMPLATES = {  # code -> (English excerpts, Spanish excerpts)
    "late_delivery": (["The parcel arrived three days late.",
                       "My order came a week after the promised date."],
                      ["El paquete llegó tres días tarde.",
                       "El pedido llegó una semana después de lo prometido."]),
    "damaged_parcel": (["The box was crushed and the product scratched.",
                        "It arrived broken, the packaging was torn."],
                       ["La caja llegó aplastada y el producto rayado.",
                        "Llegó roto, el embalaje estaba abierto."]),
    "tracking_updates": (["I got tracking messages every day.",
                          "The tracking link showed where the van was."],
                         ["Recibía mensajes de seguimiento cada día.",
                          "El enlace de seguimiento mostraba dónde estaba la furgoneta."]),
    "friendly_staff": (["The shop assistant was lovely and helped me choose.",
                        "Staff in the shop were friendly."],
                       ["La dependienta fue muy amable y me ayudó a elegir.",
                        "El personal de la tienda fue simpático."]),
    "rude_staff": (["The agent on the phone was rude to me.",
                    "He hung up on me without solving anything."],
                   ["El agente del teléfono fue grosero conmigo.",
                    "Me colgó sin resolver nada."]),
    "knowledgeable_agent": (["The chat agent knew exactly what to do.",
                             "She solved my problem in two minutes."],
                            ["La agente del chat sabía exactamente qué hacer.",
                             "Me resolvió el problema en dos minutos."]),
    "long_wait": (["I was on hold for forty minutes.", "Waited ages before anyone answered."],
                  ["Estuve cuarenta minutos en espera.",
                   "Esperé muchísimo hasta que alguien contestó."]),
    "discount_code": (["My discount code worked at checkout.",
                       "I used the 10% promotion when paying."],
                      ["El código de descuento funcionó al pagar.",
                       "Usé la promoción del 10% al pagar."]),
    "payment_error": (["The payment failed twice.", "My card was charged two times."],
                      ["El pago falló dos veces.", "Me cobraron dos veces en la tarjeta."]),
    "price_comparison": (["I compared prices on three other shops first.",
                          "Checked other websites for a better price."],
                         ["Comparé precios en otras tres tiendas antes.",
                          "Miré otras webs buscando mejor precio."]),
    "easy_navigation": (["I found what I wanted in a few clicks.",
                         "The menus made it easy to find the product."],
                        ["Encontré lo que buscaba en pocos clics.",
                         "Con los menús era fácil encontrar el producto."]),
    "product_photos": (["The photos showed the product from every side.",
                        "There were lots of pictures of the item."],
                       ["Las fotos mostraban el producto por todos lados.",
                        "Había muchas fotos del artículo."]),
    "review_emails": (["They sent me an e-mail asking for a review.",
                       "Got two reminders to leave a review."],
                      ["Me mandaron un correo pidiendo una opinión.",
                       "Recibí dos recordatorios para dejar una reseña."]),
}
FIRST_NAMES = ("ana", "luis", "maria", "john", "emma", "carlos", "sofia", "james")
PERSONAL_TEMPLATES = {
    "en": (" You can e-mail me at {name}.{num}@example.com.",
           " Call me on +44 7700 9{a:02d} {b:03d}."),
    "es": (" Escribidme a {name}.{num}@example.com.", " Mi teléfono es +34 612 {a:03d} {b:03d}."),
}


def _pick(rng: np.random.Generator, options: list[list[str]], group: np.ndarray) -> list[str]:
    """One template per row from ``options[group]`` (a random one of that group)."""
    draw = rng.random(group.size)
    return [options[g][int(d * len(options[g]))] for g, d in zip(group, draw, strict=True)]


def _codings(rng: np.random.Generator, sim: dict, ids: np.ndarray,
             language: np.ndarray) -> pd.DataFrame:
    rows, code_id = sim["code_row"], sim["code_id"]
    order = np.lexsort((code_id, rows))
    rows, code_id = rows[order], code_id[order]
    case = sim["r_case"][rows]
    spanish = language[case] == "es"
    names = list(CODES)
    options = [CODE_TEMPLATES[c][lang] for c in names for lang in (0, 1)]
    text = _pick(rng, options, 2 * code_id + spanish)
    personal = np.flatnonzero(rng.random(rows.size) < PERSONAL_SHARE)
    for i, kind, num, who in zip(personal, rng.integers(0, 2, personal.size),
                                 rng.integers(0, 100000, personal.size),
                                 rng.integers(0, len(FIRST_NAMES), personal.size), strict=True):
        lang = "es" if spanish[i] else "en"
        text[i] += PERSONAL_TEMPLATES[lang][kind].format(name=FIRST_NAMES[who], num=num,
                                                         a=num // 1000, b=num % 1000)
    return pd.DataFrame({"respondent_id": ids[case],
                         "touchpoint": np.array(list(TOUCHPOINTS))[sim["r_tp"][rows]],
                         "code": np.array(names)[code_id], "text": text})


def _sentiment_class(y: np.ndarray, scale: tuple[int, int]) -> np.ndarray:
    rel = (y - scale[0]) / (scale[1] - scale[0])
    return np.searchsorted([0.2, 0.45, 0.55, 0.8], rel, side="right")


def _comments(rng: np.random.Generator, sim: dict, ids: np.ndarray, language: np.ndarray,
              scale: tuple[int, int]) -> pd.DataFrame:
    """One open answer for ~40% of respondents, at a random touchpoint they rated."""
    n = ids.size
    who = np.flatnonzero(rng.random(n) < COMMENT_SHARE)
    counts = np.bincount(sim["r_case"], minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rows = starts[who] + (rng.random(who.size) * counts[who]).astype(int)
    cls = _sentiment_class(sim["y"][rows], scale)
    lang = language[who]
    spanish = lang == "es"
    options = [*COMMENT_TEMPLATES["en"], *COMMENT_TEMPLATES["es"]]
    templates = _pick(rng, options, cls + 5 * spanish)
    tp = sim["r_tp"][rows]
    labels = [TP_LABELS[t] for t in TOUCHPOINTS]
    text = [t.format(tp=labels[k][int(s)]) for t, k, s in zip(templates, tp, spanish,
                                                                 strict=True)]
    text = [t[0].upper() + t[1:] for t in text]
    return pd.DataFrame({"respondent_id": ids[who],
                         "touchpoint": np.array(list(TOUCHPOINTS))[tp], "text": text,
                         "language": lang})


# ---------------------------------------------------------------- truth

def chain_truth(transitions: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """Exact quantities of an absorbing journey chain (``TRANSITIONS`` by default).

    Conversion probability from Start, removal effect of each touchpoint (its
    transitions redirected to Drop-off: ``1 - P_removed / P_full``), probability of
    ever visiting each touchpoint, which state the first visit comes from, and the
    conversion probability of a journey given its last touchpoint (which is all a
    path variant's conversion depends on in a first-order chain).
    """
    transitions = transitions or TRANSITIONS
    tps = [s for s in transitions if s != START]
    transient = [START, *tps]
    k = len(transient)
    Q = np.array([[transitions[a].get(b, 0.0) for b in transient] for a in transient])
    conv = np.array([transitions[a].get(CONVERSION, 0.0) for a in transient])
    eye = np.eye(k)
    p_full = float(np.linalg.solve(eye - Q, conv)[0])
    removal, visit, first_from = {}, {}, {}
    for j, t in enumerate(transient[1:], start=1):
        Qr, cr = Q.copy(), conv.copy()
        Qr[j, :], cr[j] = 0.0, 0.0
        removal[t] = 1 - float(np.linalg.solve(eye - Qr, cr)[0]) / p_full
        # taboo chain: t absorbing; expected visits to each state before first reaching t
        Qt = Q.copy()
        Qt[j, :] = 0.0
        Qt[:, j] = 0.0
        visits = np.linalg.solve((eye - Qt).T, eye[0])  # row Start of (I - Qt)^-1
        hits = visits * Q[:, j]
        visit[t] = float(hits.sum())
        first_from[t] = {transient[i]: float(h / hits.sum()) for i, h in enumerate(hits) if h}
    given_last = {t: transitions[t].get(CONVERSION, 0.0)
                  / (transitions[t].get(CONVERSION, 0.0) + transitions[t].get(DROP_OFF, 0.0))
                  for t in tps if transitions[t].get(CONVERSION, 0.0)
                  + transitions[t].get(DROP_OFF, 0.0) > 0}
    total = sum(removal.values())
    return {"conversion_probability": p_full, "removal_effects": removal,
            "removal_shares": {t: v / total for t, v in removal.items()},
            "visit_probability": visit, "first_visit_from": first_from,
            "conversion_given_last": given_last}


def _spectrum(base: float, shifts: np.ndarray, probs: np.ndarray,
              scale: tuple[int, int]) -> np.ndarray:
    """Category probabilities of the ordered logit mixed over shifts and u (Gauss-Hermite)."""
    x, w = hermegauss(GH_NODES)
    w = w / w.sum()
    eta = base + shifts[:, None] + RESPONDENT_SD * x[None, :]
    below = expit(_cutpoints(scale)[None, None, :] - eta[:, :, None])
    below = np.concatenate([np.zeros(eta.shape + (1,)), below, np.ones(eta.shape + (1,))], -1)
    cat = np.diff(below, axis=-1)
    return np.einsum("m,g,mgk->k", probs, w, cat)


def _code_mixture(tp: str) -> tuple[np.ndarray, np.ndarray]:
    """Latent shifts from the codes of a touchpoint (every presence pattern) and their odds."""
    codes = [(p, e) for (_, t, p, e, _) in CODES.values() if t == tp]
    shifts, probs = [], []
    for present in itertools.product((False, True), repeat=len(codes)):
        pairs = list(zip(present, codes, strict=True))
        probs.append(np.prod([p if z else 1 - p for z, (p, _) in pairs]))
        shifts.append(sum(e for z, (_, e) in pairs if z))
    return np.array(shifts, dtype=float), np.array(probs)


def _path_effect(prev: str, tp: str) -> float:
    return sum(e for a, b, e in PATH_EFFECTS if a == prev and b == tp)


def _cell_record(p: np.ndarray, scale: tuple[int, int], **keys: str) -> dict[str, Any]:
    values = np.arange(scale[0], scale[1] + 1)
    return {**keys, "p": [float(v) for v in p], "mean": float(p @ values),
            "bottom_box": float(p[:2].sum()), "top_box": float(p[-2:].sum())}


def _emotion_truth(world: World, first_from: dict) -> dict[str, Any]:
    tps, waves = list(TOUCHPOINTS), _waves(world.n_waves)
    base = _base_eta(world)
    pop = np.array([POPULATION_SHARES[s] for s in SEGMENTS])
    cells, pooled, by_tp, change, by_prev = [], [], [], [], []
    for i, t in enumerate(tps):
        shifts, probs = _code_mixture(t)
        spectra = 0.0
        for prev, share in first_from[t].items():
            sp = np.array([[_spectrum(base[i, j, w] + _path_effect(prev, t), shifts, probs,
                                      world.scale) for w in range(world.n_waves)]
                           for j in range(len(SEGMENTS))])
            spectra = spectra + share * sp
            for w, wave in enumerate(waves):
                for j, s in enumerate(SEGMENTS):
                    by_prev.append(_cell_record(sp[j, w], world.scale, touchpoint=t,
                                                previous=prev, share=share, segment=s,
                                                wave=wave))
                by_prev.append(_cell_record(pop @ sp[:, w], world.scale, touchpoint=t,
                                            previous=prev, share=share, segment="population",
                                            wave=wave))
        for j, s in enumerate(SEGMENTS):
            for w, wave in enumerate(waves):
                cells.append(_cell_record(spectra[j, w], world.scale, touchpoint=t,
                                          segment=s, wave=wave))
            pooled.append(_cell_record(spectra[j].mean(0), world.scale, touchpoint=t, segment=s))
        for w, wave in enumerate(waves):
            by_tp.append(_cell_record(pop @ spectra[:, w], world.scale, touchpoint=t, wave=wave))
        values = np.arange(world.scale[0], world.scale[1] + 1)
        for j, s in enumerate([*SEGMENTS, "population"]):
            sp = spectra[j] if j < len(SEGMENTS) else np.einsum("s,swk->wk", pop, spectra)
            for w in range(1, world.n_waves):
                change.append({"touchpoint": t, "segment": s, "from": waves[0], "to": waves[w],
                               "mean_change": float((sp[w] - sp[0]) @ values),
                               "top_box_change": float(sp[w, -2:].sum() - sp[0, -2:].sum()),
                               "bottom_box_change": float(sp[w, :2].sum() - sp[0, :2].sum())})
    return {
        "item": ITEM, "scale": list(world.scale),
        "model": "P(rating <= scale_min + k - 1) = logistic(c_k - eta), eta = touchpoint + "
                 "segment + interaction + wave effect + path effect + sum of code effects "
                 "+ u_respondent, u ~ Normal(0, respondent_sd)",
        "rated": "the first visit to every touchpoint the respondent visited; answered_at is "
                 "that visit's timestamp; ratings are written in journey order",
        "cutpoints": [float(c) for c in _cutpoints(world.scale)],
        "touchpoint_effects": dict(TP_EFFECTS), "segment_effects": dict(SEG_EFFECTS),
        "interactions": {t: {s: INTERACTIONS.get((t, s), 0.0) for s in SEGMENTS} for t in tps},
        "respondent_sd": RESPONDENT_SD,
        "wave_effect": {"touchpoint": WAVE_TOUCHPOINT, "delta": world.wave_effect,
                        "waves": waves[1:]},
        "null_touchpoint": NULL_TOUCHPOINT,
        "path_effects": [{"from": a, "to": b, "effect": e,
                          "share_of_first_visits": first_from[b].get(a, 0.0)}
                         for a, b, e in PATH_EFFECTS],
        "marginal_method": f"exact: Gauss-Hermite quadrature ({GH_NODES} nodes) over u, "
                           "enumeration of code presence combinations and of the path that "
                           "led to the first visit (absorbing-chain algebra)",
        "box_definition": "bottom_box = two lowest categories, top_box = two highest",
        "cells": cells,
        "touchpoint_segment": pooled,
        "touchpoint": by_tp,
        "by_previous": by_prev,
        "by_previous_note": "the spectrum of the first visit to a touchpoint by the state it "
                            "was reached from (Start or a touchpoint); share = P(previous | "
                            "first visit); segment 'population' mixes segments by population "
                            "shares",
        "wave_change": change,
    }


def _rounded_normal(mu: np.ndarray, sd: float, lo: int, hi: int) -> np.ndarray:
    """P(clip(round(mu + Normal(0, sd)), lo, hi) = v) for v = lo..hi, one row per mu."""
    edges = np.arange(lo - 0.5, hi + 1.0)
    cdf = ndtr((edges[None, :] - np.asarray(mu, dtype=float)[:, None]) / sd)
    cdf[:, 0], cdf[:, -1] = 0.0, 1.0
    return np.diff(cdf, axis=1)


def _outcome_spectra(sim: dict, world: World) -> dict[str, np.ndarray]:
    """Per simulated respondent, the exact distribution of each outcome given the ratings."""
    o = np.arange(11.0)
    overall = _rounded_normal(sim["overall_mean"], OVERALL_SD, 0, 10)
    ces_mu = (CES_RULE["a"] + CES_RULE["w_mean_1to7"] * _mean_1to7(sim["mean"], world.scale)
              + CES_RULE["w_support_visits"] * sim["support_visits"])
    return {"overall": overall,
            "nps": overall @ _rounded_normal(o + NPS_SHIFT, NPS_SD, 0, 10),
            "csat": overall @ _rounded_normal(CSAT_RULE["a"] + CSAT_RULE["w_overall"] * o,
                                              CSAT_RULE["noise_sd"], 1, 5),
            "ces": _rounded_normal(ces_mu, CES_RULE["noise_sd"], 1, 7)}


OUTCOME_SCALES = {"overall": (0, 10), "nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


def _outcome_record(p: dict[str, np.ndarray], **keys: Any) -> dict[str, Any]:
    rec = dict(keys)
    nps = p["nps"]
    rec.update(nps=float(100 * (nps[9:].sum() - nps[:7].sum())),
               promoters=float(nps[9:].sum()), passives=float(nps[7:9].sum()),
               detractors=float(nps[:7].sum()))
    for name, (lo, hi) in OUTCOME_SCALES.items():
        rec[f"{name}_mean"] = float(p[name] @ np.arange(lo, hi + 1))
        rec[f"{name}_p"] = [float(v) for v in p[name]]
    return rec


def _outcome_truth(world: World, p_conversion: float) -> dict[str, Any]:
    waves = _waves(world.n_waves)
    cells = len(SEGMENTS) * world.n_waves
    per_cell = -(-TRUTH_DRAWS // cells)
    seg = np.repeat(np.arange(len(SEGMENTS)), per_cell * world.n_waves)
    wave = np.tile(np.repeat(np.arange(world.n_waves), per_cell), len(SEGMENTS))
    sim = _simulate(np.random.default_rng(TRUTH_SEED), seg, wave, world)
    spectra = _outcome_spectra(sim, world)
    pop = np.array([POPULATION_SHARES[s] for s in SEGMENTS])
    records, pop_rows = [], []
    cell_p = {}
    for j, s in enumerate(SEGMENTS):
        for w, wv in enumerate(waves):
            sel = (seg == j) & (wave == w)
            cell_p[j, w] = {k: v[sel].mean(0) for k, v in spectra.items()}
            nps = spectra["nps"][sel]
            score = 100 * (nps[:, 9:].sum(1) - nps[:, :7].sum(1))
            records.append(_outcome_record(cell_p[j, w], segment=s, wave=wv,
                                           mc_se_nps=float(score.std() / np.sqrt(sel.sum())),
                                           draws=int(sel.sum())))
    for w, wv in enumerate(waves):
        mix = {k: sum(pop[j] * cell_p[j, w][k] for j in range(len(SEGMENTS)))
               for k in spectra}
        se = float(np.sqrt(sum((pop[j] * records[j * world.n_waves + w]["mc_se_nps"]) ** 2
                               for j in range(len(SEGMENTS)))))
        pop_rows.append(_outcome_record(mix, wave=wv, mc_se_nps=se))
    rule = _overall_rule(world)
    return {
        "overall": {
            "scale": [0, 10], **rule,
            "rule": "overall = clip(round(a + w_peak*peak + w_end*end + w_mean*mean "
                    "+ Normal(0, noise_sd)), 0, 10)",
            "peak_end": world.peak_end,
            "peak": "the rating furthest from the scale midpoint among the respondent's "
                    "ratings; ties go to the more negative rating",
            "end": "the rating of the last rated touchpoint in journey order (latest first "
                   "visit; ties in answered_at resolved by the order of the ratings file)",
            "mean": "the mean of the respondent's ratings",
            "note": "the linear rule holds for the latent value; rounding adds variance "
                    "1/12 and clipping at 0 and 10 is rare",
        },
        "nps": {"rule": f"nps = clip(round(overall + {NPS_SHIFT} + Normal(0, {NPS_SD})), 0, 10)",
                "definition": "NPS = 100 * (share of 9-10 - share of 0-6)"},
        "csat": {"scale": [1, 5], **CSAT_RULE,
                 "rule": "csat = clip(round(a + w_overall*overall + Normal(0, noise_sd)), 1, 5)"},
        "ces": {"scale": [1, 7], **CES_RULE,
                "rule": "ces = clip(round(a + w_mean_1to7*mean rating on 1-7 + "
                        "w_support_visits*number of visits to support touchpoints "
                        "+ Normal(0, noise_sd)), 1, 7); higher = easier"},
        "converted": {"rule": "1 when the journey ended in Conversion, else 0",
                      "probability": p_conversion},
        "method": f"Monte Carlo over journeys and ratings ({per_cell * cells:,} draws, "
                  f"{per_cell:,} per segment x wave, seed {TRUTH_SEED}); the noise terms of "
                  "overall, nps, csat and ces integrated exactly (rounded, clipped normals)",
        "by_segment_wave": records,
        "by_wave": pop_rows,
        "by_wave_note": "population: segments mixed by their population shares; "
                        "<outcome>_p lists the probability of each value from scale min to max",
    }


@lru_cache(maxsize=8)
def _population_truth(world: World) -> dict[str, Any]:
    chain = chain_truth()
    tps = list(TOUCHPOINTS)
    truth = {
        "generator": {"function": "cxresearch.datasets.make_study",
                      "version": GENERATOR_VERSION, "peak_end": world.peak_end,
                      "wave_effect": world.wave_effect, "scale": list(world.scale),
                      "n_waves": world.n_waves,
                      "note": "population truth: independent of seed and sample size"},
        "journey_map": {"stages": list(STAGES), "channels": sorted({c for _, c in
                                                                    TOUCHPOINTS.values()}),
                        "touchpoints": {t: {"stage": s, "channel": c}
                                        for t, (s, c) in TOUCHPOINTS.items()}},
        "segments": {"names": list(SEGMENTS), "population_shares": dict(POPULATION_SHARES),
                     "sample_shares": dict(SAMPLE_SHARES), "oversampled": OVERSAMPLED,
                     "weights": "post-stratification: weight = population share x n / "
                                "respondents in the segment, so weighted segment shares equal "
                                "the population shares (mean weight 1)"},
        "waves": {"names": _waves(world.n_waves),
                  "assignment": "each respondent in a wave with equal probability"},
        "journeys": {
            "states": [START, *tps, CONVERSION, DROP_OFF],
            "definition": "first-order Markov chain, the same for every segment and wave; "
                          "Conversion and Drop-off are absorbing and not written as events; "
                          "the outcome 'converted' says which was reached",
            "transitions": copy.deepcopy(TRANSITIONS),
            "drop_off": {t: TRANSITIONS[t].get(DROP_OFF, 0.0) for t in tps},
            **chain,
            "removal_definition": "removal_effect = 1 - P_removed / P_full, P = probability "
                                  "of Conversion from Start; removing a touchpoint redirects "
                                  "its transitions to Drop-off",
        },
        "emotion": _emotion_truth(world, chain["first_visit_from"]),
        "codes": {c: {"parent": par, "touchpoint": t, "prevalence": p, "effect": e}
                  for c, (par, t, p, e, _) in CODES.items()},
        "codes_definition": "each code appears, independently, for a respondent's first visit "
                            "to its touchpoint with its prevalence and adds its effect "
                            "(logits) to that rating; every presence is written to codings "
                            f"(about {PERSONAL_SHARE:.0%} of excerpts hold an e-mail address "
                            "or phone number)",
        "outcomes": _outcome_truth(world, chain["conversion_probability"]),
        "comments": {"share": COMMENT_SHARE,
                     "rule": "one comment at a random rated touchpoint; sentiment class "
                             "from the rating's position p on the scale (0-1): very "
                             "negative < 0.2 <= negative < 0.45 <= neutral < 0.55 <= "
                             "positive < 0.8 <= very positive",
                     "languages": {"es": ["ES", "MX"], "en": ["GB", "US"]}},
    }
    return json.loads(json.dumps(truth))  # plain JSON types only


# ---------------------------------------------------------------- write_study

README = """# {name}

A synthetic customer-experience study written by `cxresearch.datasets.make_study`
({n:,} respondents, seed {seed}, generator version {version}). Regenerate with
`cxresearch demo-data --respondents {n} --seed {seed} --out <folder>`.

Every number here comes from planted parameters, listed in `truth.json`:

- `touchpoints.csv` - the journey map: {n_tp} touchpoints in 5 stages (discovery,
  purchase, delivery, support, advocacy) and 3 channels (online, store, phone).
- `events.csv` - one row per touchpoint visit (`case_id` = `respondent_id`). Journeys
  are a first-order Markov chain from Start to Conversion or Drop-off with loops
  (support_chat <-> call_centre, delivery -> support -> delivery) and drop-offs
  concentrated at checkout. Events sharing a timestamp are in journey order.
  truth: `journeys` (transition matrix, drop-off per touchpoint, exact removal effects).
- `ratings.csv` - valence ({lo}-{hi}) of the first visit to each touchpoint, an
  ordered logit with touchpoint, segment, interaction, respondent, code and path
  effects; delivery improves by {wave_effect} logits from the second wave on, checkout
  does not change (the null touchpoint). truth: `emotion` (parameters and the exact
  spectrum, mean, bottom and top box of every touchpoint x segment x wave).
- `outcomes.csv` - overall (0-10, {rule}), nps, csat, ces, converted.
  truth: `outcomes` (rules and NPS per segment x wave).
- `respondents.csv` - 4 segments (first_timer over-sampled; `weight` restores the
  population shares), wave, age band, country and language.
- `codes.csv`, `codings.csv` - a two-level codebook; coded excerpts in Spanish or
  English, a few with an e-mail address or phone number. truth: `codes` (touchpoint,
  prevalence, effect; four codes have no effect).
- `comments.csv` - open answers of about 40% of respondents whose sentiment follows
  the rating at that touchpoint.
"""


def write_study(study: SyntheticStudy, out: str | Path) -> Path:
    """Write the tables (CSV, UTF-8), ``study.yml``, ``truth.json`` and ``README.md``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in study.tables.items():
        df.to_csv(out / f"{name}.csv", index=False, encoding="utf-8",
                  date_format="%Y-%m-%d %H:%M:%S")
    (out / "study.yml").write_text(yaml.safe_dump(study.config, sort_keys=False,
                                                  allow_unicode=True), encoding="utf-8")
    (out / "truth.json").write_text(json.dumps(study.truth, indent=1, ensure_ascii=False),
                                    encoding="utf-8")
    syn, world = study.config["synthetic"], study.world
    rule = ("peak-end rule" if world.peak_end else "mean rating only")
    (out / "README.md").write_text(README.format(
        name=study.config["name"], n=syn["n_respondents"], seed=syn["seed"],
        version=syn["version"], n_tp=len(study.touchpoints), lo=world.scale[0],
        hi=world.scale[1], wave_effect=world.wave_effect, rule=rule), encoding="utf-8")
    return out
