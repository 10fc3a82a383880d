"""Causes of emotion: which qualitative codes go with better or worse ratings, where.

**Model.** The rating ``y`` of one item (valence by default) at touchpoint ``t``
follows a cumulative logit whose linear predictor adds, for every code the
respondent mentions *at that touchpoint*, that code's effect there::

    P(y <= lo + k - 1) = logistic(kappa_k - eta),   k = 1..K-1
    eta = alpha[t] + sum over adjust keys a of gamma_a[level] + sum_c x[c, t] * effect[c, t]
    effect[c, t] = beta[c] + delta[c, t]

``x[c, t]`` is 1 when the respondent has a (linked) coding of code ``c`` at
touchpoint ``t``. ``alpha`` (touchpoint intercepts) and ``gamma`` (segment by
default) are sum-to-zero effects with learned standard deviations (partial pooling
across touchpoints); the cutpoints ``kappa`` are induced by the category
probabilities of the average touchpoint for a respondent who mentions nothing,
``pi ~ Dirichlet(2, ..., 2)``. A code's effect is shared across the touchpoints
where it is mentioned (``beta[c]``) with a touchpoint-specific deviation
``delta[c, t] ~ Normal(0, sd_specific)``, ``sd_specific ~ HalfNormal(0.5)``, only
for codes mentioned at two touchpoints or more (for a code at one touchpoint the
two are not separable, and ``effect = beta``).

**Shrinkage across codes** (``shrinkage``): many codes, few mentions each, most
with little or no effect. ``"normal"`` (default) is a hierarchical normal with a
learned scale, ``beta[c] ~ Normal(0, sd_code)``, ``sd_code ~ HalfNormal(1)``:
codes with few mentions are pulled towards 0 by as much as the spread of all code
effects suggests (centred for codes with >= 50 mentions, non-centred for the rest).
``"horseshoe"`` is the regularised horseshoe (Piironen & Vehtari 2017):
``beta[c] = z[c] * tau * lambda~[c]`` with ``lambda[c] ~ HalfCauchy(1)``,
``tau ~ HalfCauchy(tau0)``, ``tau0 = p0 / (C - p0) * 2 / sqrt(n)`` (``p0`` expected
codes with an effect, default a third of them; ``n`` the median number of raters
per code; 2 the pseudo-sd of the logit) and a slab ``c^2 ~ InvGamma(2, 8)`` (a
Student-t slab, 4 df, scale 2 logits) that keeps large effects finite: it pulls
null codes harder to 0 and suits codebooks of hundreds of codes, but samples 2-3
times slower and, on the synthetic studies, left fewer intervals clear of 0
(``benchmarks/recovery_causes.py``). Diagnostics (``ok``) cover the effects, the
cutpoints and the scales, not the horseshoe's local scales ``lambda``.

**Sufficient statistics.** The ratings are aggregated to counts per touchpoint x
adjust levels x code-presence pattern x category and fitted with a multinomial
likelihood, so the cost grows with the number of distinct cells (bounded by the
touchpoints, segments and the code combinations actually observed), not with
the number of respondents. Ratings are unweighted: the effects are conditional
associations, which survey weights do not change if the model holds. Which blocks
are centred is data (``pm.Data`` weights), like the counts, so refits of the same
codes and touchpoints reuse the compiled model (seconds instead of a compilation).
:func:`prior_predictive` draws the effects and their implied shifts of the mean
rating from the priors.

**Which codes.** A code enters at a touchpoint when at least ``min_mentions``
raters of that touchpoint mention it there and at least ``min_mentions`` do not;
the others are listed in ``result.data["left_out"]``. Codings must be linked to a
respondent and a touchpoint (:func:`cxresearch.mixed.link_codings`).

Effects are associations in the logit of the rating, adjusted for touchpoint and
segment: causal only as far as mentioning a code is as good as random given
those, which observational data cannot show. Intervals are equal-tailed; their
probability is in the column names (``eti90_low``/``eti90_high``).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from cxresearch.models.base import FitResult, SamplerConfig, fit_cached, interval, sample
from cxresearch.models.inputs import item_scale
from cxresearch.models.ordinal import category_probs, counts_loglik, dirichlet_cutpoints
from cxresearch.schema import journey_order

SHRINKAGE = ("horseshoe", "normal")
SEPARATOR = " @ "
CENTRED_MIN_N = 50  # ratings in the median level for a centred touchpoint/adjust block
PSEUDO_SD = 2.0  # pseudo standard deviation of a logit outcome (Piironen & Vehtari 2017)


@dataclass(frozen=True)
class CausesPriors:
    """Priors, on the logit scale.

    ``concentration``: Dirichlet of the category probabilities inducing the cutpoints.
    ``touchpoint_sd``/``adjust_sd``: HalfNormal scales of the sds of the touchpoint and
    adjustment effects. ``code_sd``: HalfNormal scale of ``sd_code`` ("normal").
    ``expected_effects``: horseshoe ``p0`` (None: a third of the codes, at least 1).
    ``slab_scale``/``slab_df``: the horseshoe's slab. ``specific_sd``: HalfNormal
    scale of the sd of touchpoint-specific deviations of a code's effect.
    """

    concentration: float = 2.0
    touchpoint_sd: float = 1.0
    adjust_sd: float = 1.0
    code_sd: float = 1.0
    expected_effects: float | None = None
    slab_scale: float = 2.0
    slab_df: float = 4.0
    specific_sd: float = 0.5


@dataclass(frozen=True)
class CausesConfig:
    """What to fit.

    item: the rating item (None: ``valence`` if rated, else the most frequent).
    adjust: respondents columns adjusted for (sum-to-zero effects; one-level keys are
    skipped). shrinkage: ``"horseshoe"`` or ``"normal"``. min_mentions: raters who
    must mention (and not mention) a code at a touchpoint for it to be modelled there.
    prob: probability of the reported intervals (not part of the fit).
    """

    item: str | None = None
    adjust: tuple[str, ...] = ("segment",)
    shrinkage: str = "normal"
    min_mentions: int = 5
    priors: CausesPriors = CausesPriors()
    sampler: SamplerConfig = SamplerConfig()
    prob: float = 0.9

    def __post_init__(self) -> None:
        adjust = (self.adjust,) if isinstance(self.adjust, str) else tuple(self.adjust)
        object.__setattr__(self, "adjust", adjust)
        if self.shrinkage not in SHRINKAGE:
            raise ValueError(f"shrinkage must be one of {SHRINKAGE}, not {self.shrinkage!r}")
        if "touchpoint" in adjust:
            raise ValueError("touchpoint is always in the model; adjust names respondents "
                             "columns")
        if self.min_mentions < 1:
            raise ValueError("min_mentions must be at least 1")
        if not 0 < self.prob < 1:
            raise ValueError("prob must be between 0 and 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- data

def causes_data(study: Any, config: CausesConfig = CausesConfig(),
                linked: Any = None) -> dict[str, Any]:
    """The model's input: counts per cell x category and the modelled code x touchpoint
    pairs ("terms"), as a JSON-serialisable dict (what the fit is cached on)."""
    from cxresearch.mixed import _ratings, link_codings

    linked = linked if linked is not None else link_codings(study)
    ratings_all = study.ratings
    rated, item = _ratings(study, config.item)
    if item is None or rated.empty:
        raise ValueError("no ratings to explain")
    raw = ratings_all[ratings_all["item"].astype(str) == item] if "item" in ratings_all \
        else ratings_all
    lo, hi = item_scale(study, raw, item)
    K = hi - lo + 1
    if K < 3:
        raise ValueError(f"an ordinal model needs at least 3 categories, the scale is {lo}-{hi}")
    y = rated["rating"].to_numpy() - lo
    if ((y < 0) | (y >= K) | (y != np.round(y))).any():
        raise ValueError(f"ratings of {item!r} outside the scale {lo}-{hi} or not whole")
    rated = rated.assign(y=y.astype(int))
    notes: list[str] = []
    people = study.respondents
    adjust = []
    if config.adjust and people.empty:
        notes.append(f"no respondents table: not adjusted for {', '.join(config.adjust)}")
    for key in config.adjust if not people.empty else ():
        if key not in people:
            raise ValueError(f"adjust key {key!r} is not a respondents column")
        level = dict(zip(people["respondent_id"].astype(str), people[key].astype("str"),
                         strict=True))
        rated[key] = rated["respondent_id"].map(level)
        lost = rated[key].isna()
        if lost.any():
            notes.append(f"{int(lost.sum())} ratings without {key} (respondent unknown or "
                         f"{key} missing) not used")
            rated = rated[~lost]
        if rated[key].nunique() > 1:
            adjust.append(key)
        else:
            notes.append(f"adjust key {key!r} has one level here: not adjusted for")
    touchpoints = journey_order(study.touchpoints, rated["touchpoint"].unique())
    # code presence per rating, and the terms (code x touchpoint) worth modelling
    codings = linked.linked[["respondent_id", "touchpoint", "code"]].drop_duplicates()
    mentioned = len(codings)
    codings = codings.merge(rated[["respondent_id", "touchpoint"]], how="inner")
    if len(codings) < mentioned:
        notes.append(f"{mentioned - len(codings)} mentions (respondent x touchpoint x code) "
                     "at touchpoints their respondent did not rate not used")
    mentions = codings.groupby(["code", "touchpoint"]).size().rename("mentions").reset_index()
    raters = rated.groupby("touchpoint").size()
    mentions["raters"] = mentions["touchpoint"].map(raters).astype(int)
    ok = ((mentions["mentions"] >= config.min_mentions)
          & (mentions["raters"] - mentions["mentions"] >= config.min_mentions))
    terms = mentions[ok].sort_values(["code", "touchpoint"]).reset_index(drop=True)
    left_out = mentions[~ok].sort_values(["code", "touchpoint"])
    if len(left_out):
        notes.append(f"{len(left_out)} code x touchpoint pairs left out: fewer than "
                     f"{config.min_mentions} raters mentioning (or not mentioning) them")
    if terms.empty:
        raise ValueError(f"no code is mentioned by at least {config.min_mentions} raters of "
                         "a touchpoint: nothing to model")
    codes = sorted(terms["code"].unique())
    term_id = {(c, t): i for i, (c, t) in enumerate(zip(terms["code"], terms["touchpoint"],
                                                        strict=True))}
    codings["term"] = [term_id.get(k, -1) for k in zip(codings["code"], codings["touchpoint"],
                                                        strict=True)]
    codings = codings[codings["term"] >= 0].sort_values("term")
    pattern = (codings.groupby(["respondent_id", "touchpoint"])["term"]
               .agg(lambda s: ",".join(map(str, s))).rename("pattern").reset_index())
    rated = rated.merge(pattern, on=["respondent_id", "touchpoint"], how="left")
    rated["pattern"] = rated["pattern"].fillna("")
    keys = ["touchpoint", *adjust, "pattern"]
    table = (rated.groupby([*keys, "y"]).size().unstack("y", fill_value=0)
             .reindex(columns=range(K), fill_value=0))
    cells = table.index.to_frame(index=False)
    levels = {"touchpoint": touchpoints}
    levels |= {k: sorted(rated[k].unique().tolist()) for k in adjust}
    return {
        "item": item, "scale": [lo, hi], "adjust": adjust, "levels": levels,
        "cells": {"touchpoint": [touchpoints.index(t) for t in cells["touchpoint"]],
                  **{k: [levels[k].index(v) for v in cells[k]] for k in adjust},
                  "pattern": [[int(i) for i in p.split(",")] if p else []
                              for p in cells["pattern"]]},
        "counts": table.to_numpy(dtype=int).tolist(),
        "terms": {"code": terms["code"].tolist(), "touchpoint": terms["touchpoint"].tolist(),
                  "mentions": terms["mentions"].astype(int).tolist(),
                  "raters": terms["raters"].astype(int).tolist()},
        "codes": codes,
        "left_out": {"code": left_out["code"].tolist(),
                     "touchpoint": left_out["touchpoint"].tolist(),
                     "mentions": left_out["mentions"].astype(int).tolist()},
        "ratings": int(len(rated)), "notes": notes + list(linked.notes),
        "unlinked_codings": int(len(linked.unlinked)),
    }


# ---------------------------------------------------------------- model

def _design(data: dict[str, Any]) -> np.ndarray:
    x = np.zeros((len(data["counts"]), len(data["terms"]["code"])))
    for i, pattern in enumerate(data["cells"]["pattern"]):
        x[i, pattern] = 1.0
    return x


def _tau0(data: dict[str, Any], priors: CausesPriors) -> float:
    n_codes = len(data["codes"])
    p0 = priors.expected_effects or max(1.0, n_codes / 3)
    p0 = min(p0, n_codes - 0.5) if n_codes > 1 else 1.0
    raters = np.median(data["terms"]["raters"])
    return float(p0 / max(n_codes - p0, 0.5) * PSEUDO_SD / np.sqrt(raters))


def _centred(data: dict[str, Any], key: str) -> bool:
    """Centred when the median level holds >= CENTRED_MIN_N ratings (the likelihood
    pins the effects and centred mixes best), else non-centred."""
    counts = np.asarray(data["counts"]).sum(1)
    per_level = np.bincount(data["cells"][key], weights=counts,
                            minlength=len(data["levels"][key]))
    return bool(np.median(per_level) >= CENTRED_MIN_N)


def _code_mentions(data: dict[str, Any]) -> np.ndarray:
    codes = data["codes"]
    return np.bincount([codes.index(c) for c in data["terms"]["code"]],
                       weights=data["terms"]["mentions"], minlength=len(codes))


def _partly_centred(name: str, dist, sd, centred: np.ndarray | bool, dims: str):
    """``effect ~ dist(0, sd)`` written centred where ``centred`` (weight 1) and
    non-centred elsewhere (weight 0): ``raw ~ dist(0, sd**w)``, ``effect = sd**(1-w) raw``.

    The weights are data (``pm.Data``), so fits whose centring differs share one
    compiled model.
    """
    import pymc as pm

    w = pm.Data(f"centring_{name}", np.asarray(centred, dtype=float))
    raw = dist(f"z_{name}", sigma=sd ** w, dims=dims)
    return pm.Deterministic(f"effect_{name}" if name != "code" else "code_effect",
                            sd ** (1 - w) * raw, dims=dims)


def _build_model(data: dict[str, Any], config: CausesConfig):
    import pymc as pm
    import pytensor.tensor as pt

    lo, hi = data["scale"]
    K = hi - lo + 1
    pri = config.priors
    terms, codes = data["terms"], data["codes"]
    code_of = np.array([codes.index(c) for c in terms["code"]])
    n_tp = np.bincount(code_of, minlength=len(codes))
    specific = np.flatnonzero(n_tp[code_of] > 1)
    labels = [f"{c}{SEPARATOR}{t}" for c, t in zip(terms["code"], terms["touchpoint"],
                                                    strict=True)]
    coords = {"touchpoint": data["levels"]["touchpoint"], "code": codes, "term": labels,
              "category": list(range(lo, hi + 1)), "cutpoint": list(range(1, K))}
    for key in data["adjust"]:
        coords[key] = data["levels"][key]
    if len(specific):
        coords["specific_term"] = [labels[i] for i in specific]
    cells = data["cells"]
    with pm.Model(coords=coords) as model:
        counts = pm.Data("counts", np.asarray(data["counts"], dtype=float))
        x = pm.Data("x", _design(data))
        kappa = dirichlet_cutpoints(K, pri.concentration)
        eta = 0.0
        for key in ["touchpoint", *data["adjust"]]:
            scale = pri.touchpoint_sd if key == "touchpoint" else pri.adjust_sd
            sd = pm.HalfNormal(f"sd_{key}", sigma=scale)
            block = _partly_centred(key, pm.ZeroSumNormal, sd, _centred(data, key), key)
            index = pm.Data(f"cell_{key}", np.asarray(cells[key], dtype=np.int64))
            eta = eta + block[index]
        if config.shrinkage == "normal":
            sd_code = pm.HalfNormal("sd_code", sigma=pri.code_sd)
            # centred for codes with >= CENTRED_MIN_N mentions (their likelihood is
            # sharp), non-centred for the rest (their prior dominates)
            centred = _code_mentions(data) >= CENTRED_MIN_N
            beta = _partly_centred("code", pm.Normal, sd_code, centred, "code")
        else:
            z_code = pm.Normal("z_code", 0.0, 1.0, dims="code")
            tau = pm.HalfCauchy("tau", beta=pm.Data("tau0", _tau0(data, pri)))
            lam = pm.HalfCauchy("lambda", beta=1.0, dims="code")
            c2 = pm.InverseGamma("slab", alpha=pri.slab_df / 2,
                                 beta=pri.slab_df * pri.slab_scale ** 2 / 2)
            lam_t = pt.sqrt(c2 * lam ** 2 / (c2 + tau ** 2 * lam ** 2))
            beta = pm.Deterministic("code_effect", z_code * tau * lam_t, dims="code")
        effect = beta[code_of]
        if len(specific):
            sd_spec = pm.HalfNormal("sd_specific", sigma=pri.specific_sd)
            z_spec = pm.Normal("z_specific", 0.0, 1.0, dims="specific_term")
            effect = pt.set_subtensor(effect[specific], effect[specific] + sd_spec * z_spec)
        effect = pm.Deterministic("effect", effect, dims="term")
        eta = eta + pt.dot(x, effect)
        counts_loglik(counts, kappa, eta)
    return model


def _report_vars(data: dict[str, Any], config: CausesConfig) -> list[str]:
    names = ["cutpoints", "effect_touchpoint", "sd_touchpoint", "effect", "code_effect"]
    names += [f"{p}_{k}" for k in data["adjust"] for p in ("sd", "effect")]
    names += ["sd_code"] if config.shrinkage == "normal" else ["tau"]
    codes = data["codes"]
    per_code = np.bincount([codes.index(c) for c in data["terms"]["code"]],
                           minlength=len(codes))
    return names + (["sd_specific"] if (per_code > 1).any() else [])


def _structure_key(data: dict[str, Any], config: CausesConfig) -> str:
    # everything but the pm.Data values (counts, design, cell indexes, centring weights,
    # tau0): fits that differ only in those, even in their number of cells, share one
    # compiled model
    blob = {"config": {k: v for k, v in config.to_dict().items() if k not in ("sampler", "prob")},
            "levels": data["levels"], "scale": data["scale"], "terms": data["terms"]["code"],
            "term_tp": data["terms"]["touchpoint"]}
    return "causes-" + hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def fit_causes(study: Any, config: CausesConfig = CausesConfig(), seed: int = 0,
               use_cache: bool = True, linked: Any = None) -> CausesResult:
    """Fit the causes model (see the module docstring) to a study's ratings and codings.

    ``linked`` (optional) is the :class:`cxresearch.mixed.Linked` of the study, to
    avoid linking twice. Fits are cached by (config, cell counts, seed).
    """
    data = causes_data(study, config, linked)
    full = config.to_dict()
    key_config = {k: v for k, v in full.items() if k != "prob"}

    def draw() -> xr.DataTree:
        model = _build_model(data, config)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="pymc")
            return sample(model, config.sampler, seed, reuse_key=_structure_key(data, config))

    result = fit_cached(CausesResult, key_config, data, seed, draw,
                        var_names=_report_vars(data, config), use_cache=use_cache)
    result.config = full
    return result


def prior_predictive(study: Any, config: CausesConfig = CausesConfig(), draws: int = 500,
                     seed: int = 0, linked: Any = None) -> xr.DataTree:
    """Draws from the prior (group ``prior``): cutpoints, touchpoint effects, code
    effects, the term effects ``effect`` and the implied ``shift`` of each term's
    mean rating at its touchpoint (present vs absent)."""
    import pymc as pm

    data = causes_data(study, config, linked)
    model = _build_model(data, config)
    names = [v for v in _report_vars(data, config) if not v.startswith("sd_")]
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Potential.*")
        idata = pm.sample_prior_predictive(draws=draws, var_names=names, random_seed=seed)
    prior = idata["prior"].to_dataset()
    shift = _shifts(data, prior["cutpoints"].values, prior["effect_touchpoint"].values,
                    prior["effect"].values)
    prior["shift"] = (("chain", "draw", "term"), shift)
    idata["prior"] = xr.DataTree(prior)
    return idata


def _shifts(data: dict[str, Any], kappa: np.ndarray, alpha: np.ndarray,
            effect: np.ndarray) -> np.ndarray:
    """Change of the mean rating at each term's touchpoint when the code is present,
    for a respondent of average adjustment levels (draw axes first)."""
    lo, hi = data["scale"]
    values = np.arange(lo, hi + 1, dtype=float)
    tps = data["levels"]["touchpoint"]
    t_idx = np.array([tps.index(t) for t in data["terms"]["touchpoint"]])
    base = alpha[..., t_idx]

    def mean(eta: np.ndarray) -> np.ndarray:
        return category_probs(expit(kappa[..., None, :] - eta[..., None])) @ values

    return mean(base + effect) - mean(base)


# ---------------------------------------------------------------- results

class CausesResult(FitResult):
    """A fitted causes model: code effects per touchpoint, ranked, with intervals.

    Effects are in logits of the rating (positive: mentioners rate higher, other
    things in the model equal); ``shift`` translates one into points of the mean
    rating at its touchpoint. Intervals are equal-tailed with the probability in
    the column names (``eti90_low``/``eti90_high`` for prob 0.9).
    """

    model: ClassVar[str] = "causes"

    def _prob(self, prob: float | None) -> float:
        return float(prob if prob is not None else self.config.get("prob", 0.9))

    def _draws(self, name: str) -> np.ndarray:
        da = self.posterior[name]
        rest = [d for d in da.dims if d not in ("chain", "draw")]
        return da.transpose("chain", "draw", *rest).values.reshape(-1, *da.shape[2:])

    def effects(self, prob: float | None = None) -> pd.DataFrame:
        """One row per modelled code x touchpoint, ranked by |posterior mean|.

        Columns: rank, code, touchpoint, mentions (raters mentioning it there), raters,
        mean, sd, the interval, prob_positive = P(effect > 0), and shift_mean with its
        interval: the change in the touchpoint's mean rating when the code is present.
        """
        prob = self._prob(prob)
        terms = self.data["terms"]
        draws = self._draws("effect")
        shift = _shifts(self.data, self._draws("cutpoints"), self._draws("effect_touchpoint"),
                        draws)
        out = pd.DataFrame({"code": terms["code"], "touchpoint": terms["touchpoint"],
                            "mentions": terms["mentions"], "raters": terms["raters"]})
        for name, value in interval(draws, prob).items():
            out[name] = value
        out["prob_positive"] = (draws > 0).mean(0)
        for name, value in interval(shift, prob).items():
            if name != "sd":
                out[f"shift_{name}"] = value
        out = out.assign(_k=out["mean"].abs()).sort_values("_k", ascending=False,
                                                             kind="stable")
        out = out.drop(columns="_k").reset_index(drop=True)
        out.insert(0, "rank", np.arange(1, len(out) + 1))
        out.attrs["interval"] = f"{prob:.0%} equal-tailed posterior intervals"
        return out

    def code_effects(self, prob: float | None = None) -> pd.DataFrame:
        """The shared part of each code's effect (``beta``), over its touchpoints."""
        prob = self._prob(prob)
        draws = self._draws("code_effect")
        out = pd.DataFrame({"code": self.data["codes"]})
        terms = pd.DataFrame(self.data["terms"])
        out["touchpoints"] = out["code"].map(terms.groupby("code")["touchpoint"].agg(", ".join))
        out["mentions"] = out["code"].map(terms.groupby("code")["mentions"].sum())
        for name, value in interval(draws, prob).items():
            out[name] = value
        out["prob_positive"] = (draws > 0).mean(0)
        return out.assign(_k=out["mean"].abs()).sort_values("_k", ascending=False).drop(
            columns="_k").reset_index(drop=True)

    def parameters(self, prob: float | None = None) -> pd.DataFrame:
        """Cutpoints, touchpoint and adjustment effects and scales (latent scale)."""
        prob = self._prob(prob)
        post = self.posterior
        names = [v for v in post.data_vars if v == "cutpoints" or v == "tau"
                 or v.startswith(("sd_", "effect_"))]
        frames = []
        for name in names:
            da = post[name]
            flat = self._draws(name).reshape(-1, int(np.prod(da.shape[2:], dtype=int)))
            dims = [d for d in da.dims if d not in ("chain", "draw")]
            level = [str(v) for v in da[dims[0]].values] if dims else [""]
            frame = pd.DataFrame({"parameter": name, "level": level})
            for col, value in interval(flat, prob).items():
                frame[col] = value
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)
