"""Outcome models: NPS, CSAT, CES per group, change between groups, touchpoint drivers.

**Outcomes per group** (:func:`fit_outcome`). The answers of one outcome are
counted per group (any respondent columns, e.g. segment x wave) and category:
detractors (0-6) / passives (7-8) / promoters (9-10) for NPS, every point of the
scale for CSAT, CES or any outcome on a known scale. The counts ``y_g`` follow a
hierarchical Dirichlet-multinomial whose mean is shifted per group along the scale
(``pooling="ordinal"``, the default)::

    cutpoints ~ Normal(0, 3), ordered           the shared shape of the spectrum
    eta_g = sigma * z_g, z ~ ZeroSumNormal(1)   group location (logits), pooled
    sigma ~ HalfNormal(1)                        (2 groups: eta ~ ZeroSumNormal(1))
    pi_g = cumulative-logit spectrum(cutpoints - eta_g)
    log kappa ~ Normal(log 20, 1.5)             concentration around pi_g
    theta_g ~ Dirichlet(kappa * pi_g)           the spectrum of group g
    y_g ~ Multinomial(n_g, theta_g)

So groups are pooled towards each other in location (by ``sigma``, learnt from how
much the groups differ) and towards a common shape (by ``kappa``), while
``theta_g`` stays free to take any shape the data show. ``pooling="dirichlet"`` is
the plain exchangeable version (``theta_g ~ Dirichlet(kappa * mu)``, one shared
``mu``); it cannot express that groups differ by a shift along an ordered scale and
over-shrinks group means (synthetic studies, 4 seeds x 8 segment x wave cells: 90%
intervals of the CSAT / CES means covered the truth in 81% / 66% of cells, against
97% / 88% for ``ordinal``).
``pooling="none"``: every group its own ``Dirichlet(1)`` prior (exact, no MCMC).

NUTS samples the shared parameters from the marginal (Dirichlet-multinomial)
likelihood; ``theta_g`` is then drawn exactly from its conjugate conditional
``Dirichlet(kappa * pi_g + y_g)`` at every draw (a collapsed sampler: no
``theta`` funnel, cost independent of the number of respondents). Group
locations are centred when the groups clearly differ relative to their
sampling error, non-centred otherwise (``centred`` overrides). NPS = 100 *
(P(promoter) - P(detractor)); the mean, the top-2-box and the bottom-2-box share
(two highest / two lowest points) follow from ``theta_g``.

**Survey weights** (``weighted=True``, the default; ``respondents.weight``, see
:func:`cxresearch.models.inputs.respondent_weights`): within each group the counts are the weighted
counts rescaled to Kish's effective sample size ``n_eff = (sum w)^2 / sum w^2``,
so the shares are the weighted shares and the precision is that of ``n_eff``
respondents (a pseudo-likelihood; design effects other than weighting are ignored).

**Direction.** Higher NPS and CSAT are better. For effort (CES) conventions differ:
"how much effort did it take" (lower is better, the default here) or "the company
made it easy" (higher is better). The direction comes from ``OutcomeConfig.better``,
else ``better: higher|lower`` in the outcome's scale in ``study.yml``, else the
default (``lower`` for ``ces``, ``higher`` otherwise); every change table states it.

**Drivers** (:func:`fit_drivers`) — see its docstring.

Intervals are equal-tailed; their probability is in the column names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from cxresearch.models.base import FitResult, SamplerConfig, fit_cached, interval, sample
from cxresearch.models.inputs import kish, respondent_weights
from cxresearch.schema import label_key

NPS_CATEGORIES = ("detractor", "passive", "promoter")
# +1: higher is better when higher outcome values are better; -1: the reverse; 0: neither
ORIENTATION = {"nps": 1, "promoters": 1, "detractors": -1, "passives": 0,
               "mean": 1, "top2_box": 1, "bottom2_box": -1}
DEFAULT_BETTER = {"ces": "lower"}
POOLING = ("ordinal", "dirichlet", "none")
ALL = "all"
SEPARATOR = " | "
EPS = 1e-9  # floor of a category probability in the ordinal base
CUTPOINT_SD = 3.0  # ordinal base: cutpoints ~ Normal(0, 3), ordered
GROUP_SD = 1.0  # ordinal base: sd of group locations ~ HalfNormal(1) (logits)
CENTRED_FROM = 4.0  # between-group over within-group variance of the means: centred above


# ---------------------------------------------------------------- shared helpers

def _scales(study: Any) -> dict[str, dict]:
    """Scale entries of the study config (``{"min", "max"}`` plus optional ``better``)."""
    return dict((getattr(study, "config", None) or {}).get("scales", {}) or {})


def _attach_sample_stats(posterior: xr.Dataset) -> xr.DataTree:
    """A DataTree for exact (non-MCMC) draws: nothing diverges."""
    stats = xr.Dataset({"diverging": (("chain", "draw"),
                                      np.zeros((posterior.sizes["chain"],
                                                posterior.sizes["draw"]), dtype=bool))},
                       coords={"chain": posterior["chain"], "draw": posterior["draw"]})
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})


# ---------------------------------------------------------------- outcomes per group

@dataclass(frozen=True)
class OutcomeConfig:
    """How to fit an outcome per group.

    ``kind``: ``"nps"`` (detractor/passive/promoter from 0-10) or ``"scale"`` (every
    point of the scale); default ``"nps"`` for the outcome ``nps``, else ``"scale"``.
    ``scale``: (min, max), default from ``study.yml``. ``better``: ``"higher"`` or
    ``"lower"`` (see the module docstring). ``kappa_prior``: mean and sd of
    ``log kappa``, the concentration of each group's spectrum around its pooled mean
    (kappa 20 lets shares differ from it by about +-0.1; 95% prior range 1-380).
    ``pooling``: ``"ordinal"``, ``"dirichlet"`` or ``"none"`` (module docstring).
    ``centred``: force the centred (True) or non-centred (False) group locations;
    None chooses from the data.
    """

    pooling: str = "ordinal"  # "ordinal", "dirichlet" or "none"
    weighted: bool = True
    kind: str | None = None
    scale: tuple[int, int] | None = None
    better: str | None = None
    kappa_prior: tuple[float, float] = (float(np.log(20.0)), 1.5)
    centred: bool | None = None
    # sampling is cheap next to compiling: more draws and small steps (few-group
    # hierarchies have funnels)
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(draws=2000,
                                                                         target_accept=0.99))


def _norm_by(by: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if by is None:
        return ()
    return (by,) if isinstance(by, str) else tuple(by)


def _resolve_outcome(study: Any, outcome: str, config: OutcomeConfig) -> dict[str, Any]:
    kind = config.kind or ("nps" if outcome == "nps" else "scale")
    if kind not in ("nps", "scale"):
        raise ValueError(f"kind must be 'nps' or 'scale', not {kind!r}")
    entry = _scales(study).get(outcome, {})
    if kind == "nps":
        scale = (0, 10)
        better = config.better or "higher"
        if better != "higher":
            raise ValueError("NPS is better when higher; 'better' cannot be changed for NPS")
    else:
        if config.scale is not None:
            scale = tuple(int(v) for v in config.scale)
        elif {"min", "max"} <= set(entry):
            scale = (int(entry["min"]), int(entry["max"]))
        else:
            raise ValueError(f"no scale for outcome {outcome!r}: give it in study.yml "
                             "(scales: {outcome: {min: .., max: ..}}) or OutcomeConfig.scale")
        better = config.better or entry.get("better") or DEFAULT_BETTER.get(outcome, "higher")
        if scale[1] - scale[0] < 2:
            raise ValueError(f"scale {scale} of {outcome!r} needs at least 3 points")
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', not {better!r}")
    if config.pooling not in POOLING:
        raise ValueError(f"pooling must be one of {POOLING}, not {config.pooling!r}")
    return {"kind": kind, "scale": list(scale), "better": better}


def outcome_counts(study: Any, outcome: str = "nps", by: str | tuple[str, ...] | None = None,
                   config: OutcomeConfig | None = None) -> dict[str, Any]:
    """The model's input: answers counted per group and category, with notes.

    Every answer not counted (missing value, missing group) is counted in ``notes``;
    values off the scale or not whole raise ``ValueError``.
    """
    config = config or OutcomeConfig()
    by = _norm_by(by)
    spec = _resolve_outcome(study, outcome, config)
    lo, hi = spec["scale"]
    answers = study.outcomes
    answers = answers[answers["outcome"] == outcome]
    if answers.empty:
        known = sorted(study.outcomes["outcome"].unique())
        raise ValueError(f"no answers for outcome {outcome!r}; the study has {known}")
    notes = []
    value = pd.to_numeric(answers["value"], errors="coerce")
    blank = value.isna()
    if blank.any():
        notes.append(f"{int(blank.sum())} {outcome} answers without a value not counted")
    answers, value = answers[~blank], value[~blank].to_numpy(dtype=float)
    bad = (value < lo) | (value > hi) | (value != np.round(value))
    if bad.any():
        raise ValueError(f"{int(bad.sum())} {outcome} answers are not whole numbers in "
                         f"{lo}-{hi} (e.g. {value[bad][:3].tolist()})")
    frame = pd.DataFrame({"respondent_id": answers["respondent_id"].to_numpy(), "value": value})
    people = study.respondents.drop_duplicates("respondent_id")
    missing_cols = [c for c in by if c not in people.columns]
    if missing_cols:
        raise ValueError(f"group columns {missing_cols} not in the respondents table "
                         f"(columns: {list(people.columns)})")
    for col in by:
        frame[col] = frame["respondent_id"].map(people.set_index("respondent_id")[col])
    if by:
        nogroup = frame[list(by)].isna().any(axis=1)
        if nogroup.any():
            notes.append(f"{int(nogroup.sum())} {outcome} answers from respondents without "
                         f"{'/'.join(by)} (or not in the respondents table) not counted")
        frame = frame[~nogroup]
        for col in by:
            frame[col] = frame[col].astype(str)
    dup = frame["respondent_id"].duplicated().sum()
    if dup:
        notes.append(f"{int(dup)} repeated {outcome} answers by the same respondent, each "
                     "counted")
    weights = respondent_weights(study, frame["respondent_id"], notes) if config.weighted else None
    weighted = weights is not None
    weights = weights if weighted else np.ones(len(frame))
    if spec["kind"] == "nps":
        cat = np.searchsorted([6.5, 8.5], frame["value"].to_numpy())
        categories = list(NPS_CATEGORIES)
    else:
        cat = (frame["value"].to_numpy() - lo).astype(int)
        categories = list(range(lo, hi + 1))
    K = len(categories)
    keys = (frame[list(by)].apply(tuple, axis=1) if by
            else pd.Series([(ALL,)] * len(frame), index=frame.index))
    groups = sorted(set(keys), key=lambda k: [label_key(v) for v in k])
    labels = [SEPARATOR.join(k) for k in groups]
    index = {k: i for i, k in enumerate(groups)}
    g = keys.map(index).to_numpy(dtype=int)
    raw = np.zeros((len(groups), K))
    np.add.at(raw, (g, cat), 1.0)
    wsum = np.zeros((len(groups), K))
    np.add.at(wsum, (g, cat), weights)
    n_eff = np.array([kish(weights[g == i]) for i in range(len(groups))])
    if weighted:
        empty = wsum.sum(1) <= 0
        if empty.any():
            raise ValueError(f"groups {[labels[i] for i in np.flatnonzero(empty)]} have "
                             "a total weight of 0")
        counts = wsum / wsum.sum(1, keepdims=True) * n_eff[:, None]
        notes.append("weighted: counts are weighted counts rescaled to Kish's effective "
                     "sample size per group")
    else:
        counts = raw
    return {"outcome": outcome, **spec, "by": list(by), "categories": categories,
            "groups": labels, "keys": [list(k) for k in groups],
            "counts": counts.tolist(), "n": raw.sum(1).astype(int).tolist(),
            "n_eff": counts.sum(1).tolist(), "notes": notes}


def _quantities(theta: xr.DataArray, data: dict) -> dict[str, xr.DataArray]:
    """NPS and shares, or mean and box shares, from spectra with a ``category`` dim."""
    if data["kind"] == "nps":
        prom, pas, det = (theta.isel(category=i) for i in (2, 1, 0))
        return {"nps": 100 * (prom - det), "promoters": prom, "passives": pas,
                "detractors": det}
    values = xr.DataArray(np.arange(data["scale"][0], data["scale"][1] + 1, dtype=float),
                          dims="category")
    return {"mean": (theta * values).sum("category"),
            "top2_box": theta.isel(category=[-2, -1]).sum("category"),
            "bottom2_box": theta.isel(category=[0, 1]).sum("category")}


def _ordinal_spectrum(cut, eta, xp):
    """Cumulative-logit category probabilities: P(Y <= k) = logistic(cut_k - eta)."""
    if xp is np:
        from scipy.special import expit as sigmoid
        cdf = sigmoid(cut[..., None, :] - eta[..., :, None])
        pad = np.zeros(cdf.shape[:-1] + (1,))
        cdf = np.concatenate([pad, cdf, pad + 1.0], axis=-1)
        p = np.diff(cdf, axis=-1)
    else:
        cdf = xp.sigmoid(cut[None, :] - eta[:, None])
        pad = xp.zeros((eta.shape[0], 1))
        cdf = xp.concatenate([pad, cdf, pad + 1.0], axis=1)
        p = cdf[:, 1:] - cdf[:, :-1]
    return (p + EPS) / (1 + p.shape[-1] * EPS)


def _centred(data: dict, config: dict) -> bool:
    """Centred group locations when the data pin them down better than they differ.

    The group means of the category index vary between groups by ``var(m_g)``; each
    is known to ``se_g^2``. A ratio above ``CENTRED_FROM`` (groups clearly differ)
    makes the centred form the better geometry; otherwise the non-centred one.
    """
    if config.get("centred") is not None:
        return bool(config["centred"])
    y = np.asarray(data["counts"], dtype=float)
    n = y.sum(1)
    k = np.arange(y.shape[1])
    m = y @ k / n
    se2 = (y @ k**2 / n - m**2) / n
    return bool(np.var(m, ddof=1) > CENTRED_FROM * max(se2.mean(), 1e-12))


def _outcome_model(data: dict, config: dict, centred: bool):
    import pymc as pm
    import pytensor.tensor as pt
    from pytensor.tensor.special import gammaln

    y = np.asarray(data["counts"], dtype=float)
    G, K = y.shape
    n = y.sum(1)
    coords = {"category": [str(c) for c in data["categories"]], "group": data["groups"],
              "cutpoint": list(range(1, K))}
    with pm.Model(coords=coords) as model:
        y = pm.Data("counts", y, dims=("group", "category"))
        n = pm.Data("n", n, dims="group")
        log_kappa = pm.Normal("log_kappa", *config["kappa_prior"])
        if config["pooling"] == "ordinal":
            cut = pm.Normal("cutpoints", 0.0, CUTPOINT_SD, dims="cutpoint",
                            transform=pm.distributions.transforms.ordered,
                            initval=np.linspace(-1.5, 1.5, K - 1))
            # group locations sum to zero (the cutpoints carry the overall level)
            if G > 2:
                sigma = pm.HalfNormal("sigma_group", GROUP_SD)
                if centred:
                    eta = pm.ZeroSumNormal("eta", sigma, dims="group")
                else:
                    z = pm.ZeroSumNormal("z_group", 1.0, dims="group")
                    eta = pm.Deterministic("eta", sigma * z, dims="group")
            elif G == 2:  # one contrast says nothing about a scale: a fixed prior
                eta = pm.ZeroSumNormal("eta", GROUP_SD, dims="group")
            else:
                eta = pt.zeros(1)
            base = pm.Deterministic("base", _ordinal_spectrum(cut, eta, pt),
                                    dims=("group", "category"))
        else:
            mu = pm.Dirichlet("mu", np.ones(K), dims="category")
            base = pt.repeat(mu[None, :], G, axis=0)
        alpha = pt.exp(log_kappa) * base
        a0 = alpha.sum(1)
        # Dirichlet-multinomial log-likelihood of every group's counts (constants dropped);
        # written out because weighted counts are not whole numbers
        loglik = gammaln(a0) - gammaln(n + a0) + (gammaln(y + alpha) - gammaln(alpha)).sum(1)
        pm.Potential("dirichlet_multinomial", loglik.sum())
    return model


def _dirichlet_draws(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    g = rng.gamma(alpha)
    return g / g.sum(-1, keepdims=True)


def _prior_draws(config: dict, categories: list[str], groups: int,
                 rng: np.random.Generator, draws: int = 1000) -> xr.Dataset:
    """Prior predictive of a new group's spectrum (numpy draws from the model's priors).

    The ordered cutpoint prior is the law of sorted iid Normal(0, 3) draws.
    """
    K, pooling = len(categories), config["pooling"]
    out = xr.Dataset(coords={"chain": [0], "draw": np.arange(draws), "category": categories})
    if pooling == "none":
        alpha = np.ones((1, draws, K))
    else:
        log_kappa = rng.normal(*config["kappa_prior"], size=(1, draws))
        out["log_kappa"] = (("chain", "draw"), log_kappa)
        if pooling == "dirichlet":
            base = rng.dirichlet(np.ones(K), size=(1, draws))
        else:
            cut = np.sort(rng.normal(0.0, CUTPOINT_SD, size=(1, draws, K - 1)), axis=-1)
            sigma = (np.abs(rng.normal(0.0, GROUP_SD, size=(1, draws))) if groups > 2
                     else np.full((1, draws), GROUP_SD if groups == 2 else 0.0))
            eta = sigma * rng.standard_normal((1, draws))
            base = _ordinal_spectrum(cut, eta[..., None], np)[..., 0, :]
        alpha = np.exp(log_kappa)[..., None] * base
    out["theta_new"] = (("chain", "draw", "category"), _dirichlet_draws(rng, alpha))
    return out


def _draw_outcome(data: dict, config: dict, seed: int) -> xr.DataTree:
    y = np.asarray(data["counts"], dtype=float)
    sampler = SamplerConfig(**config["sampler"])
    rng = np.random.default_rng([seed, 1])
    cats = [str(c) for c in data["categories"]]
    dims = ("chain", "draw", "group", "category")
    if config["pooling"] != "none":
        centred = config["pooling"] == "ordinal" and y.shape[0] > 2 and _centred(data, config)
        # the structure (not the counts) names the compiled model: refits skip compiling
        key = (f"cxresearch.outcome:{config['pooling']}:{y.shape}:{centred}:"
               f"{config['kappa_prior']}")
        idata = sample(_outcome_model(data, config, centred), sampler, seed, reuse_key=key)
        post = idata["posterior"].to_dataset().assign_coords(group=data["groups"],
                                                             category=cats)
        kappa = np.exp(post["log_kappa"].values)[..., None, None]
        base = (post["base"].values if "base" in post
                else post["mu"].values[:, :, None, :])
        alpha = kappa * base
    else:
        shape = (sampler.chains, sampler.draws)
        alpha = np.ones(shape + y.shape)
        post = xr.Dataset(coords={"chain": np.arange(shape[0]), "draw": np.arange(shape[1])})
        idata = None
    # the exact conditional of every group's spectrum given the shared parameters
    theta = _dirichlet_draws(rng, alpha + y[None, None])
    post = post.assign(theta=(dims, theta)).assign_coords(group=data["groups"], category=cats)
    if idata is None:
        idata = _attach_sample_stats(post)
    else:
        idata["posterior"] = post
    idata["prior"] = _prior_draws(config, cats, len(data["groups"]), rng)
    return idata


@dataclass
class OutcomeResult(FitResult):
    """An outcome fitted per group: ``groups()``, ``spectrum()``, ``change(a, b)``."""

    model = "outcome"

    @property
    def outcome(self) -> str:
        return self.data["outcome"]

    @property
    def better(self) -> str:
        return self.data["better"]

    def _theta(self) -> xr.DataArray:
        return self.posterior["theta"]

    def _observed(self) -> dict[str, np.ndarray]:
        y = np.asarray(self.data["counts"], dtype=float)
        shares = xr.DataArray(y / y.sum(1, keepdims=True), dims=("group", "category"))
        return {k: v.values for k, v in _quantities(shares, self.data).items()}

    def _keys_frame(self) -> pd.DataFrame:
        by = self.data["by"]
        frame = pd.DataFrame(self.data["keys"], columns=by or ["_"])
        frame = frame[by] if by else frame.iloc[:, :0]
        frame.insert(len(by), "group", self.data["groups"])
        frame["n"] = self.data["n"]
        frame["n_eff"] = self.data["n_eff"]
        return frame

    def groups(self, prob: float = 0.9) -> pd.DataFrame:
        """One row per group x quantity: n, n_eff, observed value, posterior mean, sd, interval.

        Quantities: ``nps`` (-100..100), ``promoters``, ``passives``, ``detractors``
        (shares) for NPS; ``mean``, ``top2_box``, ``bottom2_box`` (shares of the two
        highest / lowest points) otherwise. ``observed`` is the raw (weighted, when
        weighted) value; ``n_eff`` the (Kish effective) count the model used.
        """
        keys = self._keys_frame()
        observed = self._observed()
        frames = []
        for name, draws in _quantities(self._theta(), self.data).items():
            stats = interval(draws, prob)
            part = keys.copy()
            part.insert(len(self.data["by"]) + 1, "quantity", name)
            part["observed"] = observed[name]
            for col, value in stats.items():
                part[col] = value.values
            frames.append(part)
        out = pd.concat(frames, ignore_index=True)
        out.insert(0, "outcome", self.outcome)
        return out

    def spectrum(self, prob: float = 0.9) -> pd.DataFrame:
        """One row per group x category: the posterior share of that category."""
        theta = self._theta()
        stats = interval(theta, prob)
        keys = self._keys_frame().drop(columns=["n_eff"])
        y = np.asarray(self.data["counts"], dtype=float)
        frames = []
        for k, cat in enumerate(self.data["categories"]):
            part = keys.copy()
            part["category"] = cat
            part["observed"] = y[:, k] / y.sum(1)
            for col, value in stats.items():
                part[col] = value.isel(category=k).values
            frames.append(part)
        out = pd.concat(frames, ignore_index=True)
        out.insert(0, "outcome", self.outcome)
        return out

    def _group(self, key: str | tuple | list | dict) -> str:
        labels, by = self.data["groups"], self.data["by"]
        if isinstance(key, dict):
            key = tuple(str(key[c]) for c in by)
        label = SEPARATOR.join(str(k) for k in key) if isinstance(key, tuple | list) else key
        if label not in labels:
            raise KeyError(f"no group {key!r}; groups ({'/'.join(by) or 'none'}): {labels}")
        return label

    def draws(self, quantity: str | None = None) -> xr.DataArray:
        """Posterior draws (chain, draw, group) of one quantity (default NPS or mean)."""
        quantity = quantity or ("nps" if self.data["kind"] == "nps" else "mean")
        found = _quantities(self._theta(), self.data)
        if quantity not in found:
            raise KeyError(f"quantity must be one of {list(found)}, not {quantity!r}")
        return found[quantity]

    def change(self, a: str | tuple | dict, b: str | tuple | dict, quantity: str | None = None,
               prob: float = 0.9) -> pd.DataFrame:
        """The posterior of ``b - a`` for one quantity, its interval and P(improved).

        Groups are named by label (``"2025-H1"``, ``"loyalist | 2025-H1"``), tuple
        or dict of the ``by`` columns. ``improved_if`` states the direction: for a
        quantity where higher is better, P(improved) = P(b - a > 0), else
        P(b - a < 0); passives have no direction (P(improved) is NaN).
        """
        ga, gb = self._group(a), self._group(b)
        draws = self.draws(quantity)
        quantity = quantity or ("nps" if self.data["kind"] == "nps" else "mean")
        diff = (draws.sel(group=gb) - draws.sel(group=ga)).values.ravel()
        sign = ORIENTATION[quantity] * (1 if self.better == "higher" else -1)
        if sign == 0:
            p_improved, rule = float("nan"), "no direction (neither more nor fewer is better)"
        else:
            p_improved = float(np.mean(sign * diff > 0))
            rule = (f"b - a {'>' if sign > 0 else '<'} 0 "
                    f"({'higher' if sign > 0 else 'lower'} {quantity} is better)")
        observed = self._observed()[quantity]
        labels = self.data["groups"]
        row = {"outcome": self.outcome, "quantity": quantity, "a": ga, "b": gb,
               "observed_a": observed[labels.index(ga)],
               "observed_b": observed[labels.index(gb)],
               "observed_change": observed[labels.index(gb)] - observed[labels.index(ga)],
               **interval(diff, prob), "p_improved": p_improved, "improved_if": rule,
               "better": self.better}
        return pd.DataFrame([row])

    def prior_summary(self, prob: float = 0.9) -> pd.DataFrame:
        """Prior predictive check: the prior of a new group's quantities (mean, interval)."""
        theta = self.idata["prior"].to_dataset()["theta_new"]
        rows = [{"quantity": k, **{c: float(v) for c, v in interval(d, prob).items()}}
                for k, d in _quantities(theta, self.data).items()]
        return pd.DataFrame(rows)


def fit_outcome(study: Any, outcome: str = "nps",
                by: str | tuple[str, ...] | None = ("wave",),
                config: OutcomeConfig | None = None, seed: int = 0,
                use_cache: bool = True) -> OutcomeResult:
    """Fit one outcome per group (``by`` = respondent columns; ``None`` = one group).

    ``study`` is anything with ``respondents`` and ``outcomes`` tables and a
    ``config`` with ``scales`` (a loaded Study or a synthetic study).
    """
    config = config or OutcomeConfig()
    data = outcome_counts(study, outcome, by, config)
    conf = asdict(config) | {"kind": data["kind"], "scale": data["scale"],
                             "better": data["better"]}
    conf["kappa_prior"] = list(conf["kappa_prior"])
    G = len(data["groups"])
    var_names = {"ordinal": ["cutpoints", *(["sigma_group"] if G > 2 else []),
                             *(["eta"] if G > 1 else []), "log_kappa", "theta"],
                 "dirichlet": ["mu", "log_kappa", "theta"], "none": ["theta"]}[config.pooling]
    return fit_cached(OutcomeResult, conf, data, seed,
                      lambda: _draw_outcome(data, conf, seed), var_names=var_names,
                      use_cache=use_cache)


# ---------------------------------------------------------------- touchpoint drivers

@dataclass(frozen=True)
class DriversConfig:
    """How to fit touchpoint drivers of an outcome.

    ``item``: the rating item (default ``valence`` when present, else the most
    frequent). ``prior``: ``"horseshoe"`` (regularised horseshoe, Piironen & Vehtari
    2017, with ``expected_drivers`` relevant predictors a priori and a Normal(0,
    ``slab_scale``) slab) or ``"normal"`` (Normal(0, tau) with tau ~ HalfNormal(0.5),
    one tau for rating terms and one for visited terms). ``visited``: include the
    visited indicators. ``min_rated``: touchpoints rated by fewer respondents are
    left out (and listed in ``notes``).
    """

    item: str | None = None
    prior: str = "horseshoe"
    visited: bool = True
    weighted: bool = True
    min_rated: int = 10
    expected_drivers: float = 3.0
    slab_scale: float = 1.0
    # the horseshoe's funnels need small steps; each step is a small matrix product
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(draws=2000,
                                                                         target_accept=0.99))


def _pick_item(ratings: pd.DataFrame, item: str | None) -> str:
    items = ratings["item"].value_counts()
    if item is None:
        item = "valence" if "valence" in items.index else str(items.index[0])
    if item not in items.index:
        raise ValueError(f"no ratings of item {item!r}; items: {list(items.index)}")
    return item


def driver_table(study: Any, outcome: str = "nps",
                 config: DriversConfig | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Respondent x touchpoint ratings next to the outcome, and the model's input.

    Returns the wide frame (one row per respondent with an outcome answer: the
    outcome, the weight and one column per touchpoint, NaN = not rated) and the
    data dict (sufficient statistics, per-touchpoint scaling, ``notes``).
    """
    config = config or DriversConfig()
    notes: list[str] = []
    answers = study.outcomes[study.outcomes["outcome"] == outcome]
    if answers.empty:
        known = sorted(study.outcomes["outcome"].unique())
        raise ValueError(f"no answers for outcome {outcome!r}; the study has {known}")
    value = pd.to_numeric(answers["value"], errors="coerce")
    if value.isna().any():
        notes.append(f"{int(value.isna().sum())} {outcome} answers without a value not used")
    answers = answers.assign(value=value).dropna(subset=["value"])
    y = answers.groupby("respondent_id", sort=True)["value"].mean()
    if len(y) < len(answers):
        notes.append(f"{len(answers) - len(y)} repeated {outcome} answers averaged per "
                     "respondent")
    people = study.respondents
    if len(people):
        without = (~people["respondent_id"].isin(y.index)).sum()
        if without:
            notes.append(f"{int(without)} respondents without a {outcome} answer are not in "
                         "the regression (there is nothing to explain)")
    ratings = study.ratings
    item = _pick_item(ratings, config.item)
    other = (ratings["item"] != item).sum()
    if other:
        notes.append(f"{int(other)} ratings of other items than {item!r} not used")
    ratings = ratings[ratings["item"] == item]
    rated_elsewhere = ~ratings["respondent_id"].isin(y.index)
    if rated_elsewhere.any():
        notes.append(f"{int(rated_elsewhere.sum())} {item} ratings from respondents without "
                     f"a {outcome} answer not used")
    ratings = ratings[~rated_elsewhere]
    cells = ratings.groupby(["respondent_id", "touchpoint"])["value"]
    repeated = int((cells.size() > 1).sum())
    if repeated:
        notes.append(f"{repeated} respondent x touchpoint cells with several {item} ratings: "
                     "their mean is used")
    wide = cells.mean().astype(float).unstack("touchpoint").reindex(y.index)
    order = [t for t in getattr(study, "touchpoints", pd.DataFrame()).get(
        "touchpoint", pd.Series(dtype=str)) if t in wide.columns]
    wide = wide[order + sorted(c for c in wide.columns if c not in order)]
    n_rated = wide.notna().sum()
    sd = wide.std(ddof=0)
    keep = (n_rated >= config.min_rated) & (sd > 0)
    if (~keep).any():
        notes.append(f"touchpoints left out (fewer than {config.min_rated} raters or no "
                     f"variation): {', '.join(map(str, wide.columns[~keep]))}")
    wide = wide.loc[:, keep]
    nothing = wide.notna().sum(axis=1) == 0
    if nothing.any():
        notes.append(f"{int(nothing.sum())} respondents rated none of the touchpoints: kept "
                     "(all their touchpoints count as not visited)")
    w = respondent_weights(study, y.index, notes) if config.weighted else None
    w = np.ones(len(y)) if w is None else w
    frame = wide.copy()
    frame.insert(0, "weight", w)
    frame.insert(0, outcome, y.to_numpy())
    if len(y) < 5 or wide.shape[1] == 0:
        raise ValueError(f"too little data for drivers of {outcome!r}: {len(y)} respondents, "
                         f"{wide.shape[1]} touchpoints with ratings")
    data = _driver_stats(frame, outcome, config)
    data |= {"item": item, "notes": notes}
    return frame, data


def _driver_stats(frame: pd.DataFrame, outcome: str, config: DriversConfig) -> dict[str, Any]:
    """Design (centred ratings, 0 when not rated; centred visited indicators) and its
    weighted sufficient statistics Z'WZ, Z'Wy, y'Wy with weights summing to Kish's n."""
    R = frame.iloc[:, 2:]
    tps = [str(t) for t in R.columns]
    r = R.to_numpy(dtype=float)
    visited = ~np.isnan(r)
    w = frame["weight"].to_numpy(dtype=float)
    n_eff = kish(w)
    w = w * n_eff / w.sum()
    m = np.nanmean(r, axis=0)
    s = np.nanstd(r, axis=0)
    x = np.where(visited, (r - m) / s, 0.0)
    y = frame[outcome].to_numpy(dtype=float)
    y_mean = float(np.average(y, weights=w))
    y_sd = float(np.sqrt(np.average((y - y_mean) ** 2, weights=w)))
    if y_sd == 0:
        raise ValueError(f"every {outcome} answer is the same: nothing to explain")
    ys = (y - y_mean) / y_sd
    v = visited.astype(float)
    share = np.average(v, axis=0, weights=w)
    cols = [np.ones(len(y)), *x.T] + ([*(v - share).T] if config.visited else [])
    Z = np.column_stack(cols)
    Zw = Z * w[:, None]
    return {"outcome": outcome, "touchpoints": tps, "n": len(y), "n_eff": n_eff,
            "n_rated": visited.sum(0).tolist(), "rating_mean": m.tolist(),
            "rating_sd": s.tolist(), "visit_share": share.tolist(),
            "y_mean": y_mean, "y_sd": y_sd, "ztz": (Zw.T @ Z).tolist(),
            "zty": (Zw.T @ ys).tolist(), "yty": float(ys @ (w * ys))}


def _drivers_model(data: dict, config: dict):
    import pymc as pm
    import pytensor.tensor as pt

    tps = data["touchpoints"]
    T = len(tps)
    terms = ["rating", "visited"] if config["visited"] else ["rating"]
    with pm.Model(coords={"touchpoint": tps, "term": terms}) as model:
        ztz = pm.Data("ztz", np.asarray(data["ztz"]))
        zty = pm.Data("zty", np.asarray(data["zty"]))
        yty = pm.Data("yty", float(data["yty"]))
        N = pm.Data("n_eff", float(data["n_eff"]))
        alpha = pm.Normal("intercept", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        z = pm.Normal("z", 0.0, 1.0, dims=("term", "touchpoint"))
        if config["prior"] == "horseshoe":
            D = len(terms) * T
            p0 = min(config["expected_drivers"], D - 1)
            tau0 = p0 / (D - p0) / pt.sqrt(N)
            tau = pm.HalfStudentT("tau", nu=1, sigma=tau0 * sigma)
            lam = pm.HalfStudentT("lam", nu=1, sigma=1.0, dims=("term", "touchpoint"))
            c2 = pm.InverseGamma("c2", 2.0, 2.0 * config["slab_scale"] ** 2)
            lam_t = pt.sqrt(c2 * lam**2 / (c2 + tau**2 * lam**2))
            beta = pm.Deterministic("beta", z * tau * lam_t, dims=("term", "touchpoint"))
        elif config["prior"] == "normal":
            tau = pm.HalfNormal("tau", 0.5, dims="term")
            beta = pm.Deterministic("beta", z * tau[:, None], dims=("term", "touchpoint"))
        else:
            raise ValueError(f"prior must be 'horseshoe' or 'normal', not {config['prior']!r}")
        theta = pt.concatenate([alpha[None], beta.ravel()])
        rss = yty - 2 * pt.dot(theta, zty) + pt.dot(theta, pt.dot(ztz, theta))
        # Gaussian log-likelihood of the standardised outcome from sufficient statistics
        pm.Potential("gaussian", -N * pt.log(sigma) - rss / (2 * sigma**2))
    return model


@dataclass
class DriversResult(FitResult):
    """Touchpoint drivers of an outcome: ``effects()``."""

    model = "drivers"

    @property
    def outcome(self) -> str:
        return self.data["outcome"]

    def effects(self, prob: float = 0.9, term: str = "rating") -> pd.DataFrame:
        """One row per touchpoint (and term), ranked by posterior mean effect.

        ``term="rating"``: outcome points per one SD of the touchpoint's rating among
        those who rated it (``rating_sd`` converts to per point); ``"visited"``:
        outcome points for having rated (visited) the touchpoint, at its average
        rating, against not; ``"all"``: both. ``p_positive`` = P(effect > 0).
        """
        beta = self.posterior["beta"] * self.data["y_sd"]
        terms = list(beta["term"].values) if term == "all" else [term]
        if not set(terms) <= set(beta["term"].values):
            raise ValueError(f"term must be one of {list(beta['term'].values)} or 'all'")
        frames = []
        for t in terms:
            b = beta.sel(term=t)
            stats = interval(b, prob)
            part = pd.DataFrame({"outcome": self.outcome, "touchpoint": self.data["touchpoints"],
                                 "term": t, **{k: v.values for k, v in stats.items()},
                                 "p_positive": (b > 0).mean(("chain", "draw")).values,
                                 "n_rated": self.data["n_rated"],
                                 "rating_sd": self.data["rating_sd"]})
            part = part.sort_values("mean", ascending=False, ignore_index=True)
            part.insert(2, "rank", np.arange(1, len(part) + 1))
            frames.append(part)
        return pd.concat(frames, ignore_index=True)


def fit_drivers(study: Any, outcome: str = "nps", config: DriversConfig | None = None,
                seed: int = 0, use_cache: bool = True) -> DriversResult:
    """Which touchpoint emotions go with a better or worse outcome (regularised regression).

    The outcome (0-10 NPS answer, CSAT, overall...) is standardised and regressed,
    one row per respondent with an answer, on every touchpoint's rating. Respondents
    rate only the touchpoints they visited, so each touchpoint has two terms: the
    rating, standardised among its raters and set to 0 (the raters' mean) when not
    rated, and a centred visited indicator. Nobody is dropped for a missing rating;
    the rating effect is learnt from raters only and the visited effect compares
    raters at the average rating with non-raters. The Gaussian likelihood is
    evaluated from weighted sufficient statistics (cost independent of the number
    of respondents; weights rescaled to Kish's effective n). Effects are reported
    in outcome points (see :meth:`DriversResult.effects`).
    """
    config = config or DriversConfig()
    _, data = driver_table(study, outcome, config)
    conf = asdict(config)
    return fit_cached(DriversResult, conf, data, seed, lambda: _draw_drivers(data, conf, seed),
                      var_names=["intercept", "sigma", "beta"], use_cache=use_cache)


def _draw_drivers(data: dict, config: dict, seed: int) -> xr.DataTree:
    # the structure (not the statistics) names the compiled model: refits skip compiling
    key = (f"cxresearch.drivers:{config['prior']}:{len(data['touchpoints'])}:"
           f"{config['visited']}:{config['expected_drivers']}:{config['slab_scale']}")
    idata = sample(_drivers_model(data, config), SamplerConfig(**config["sampler"]), seed,
                   reuse_key=key)
    post = idata["posterior"].to_dataset()
    idata["posterior"] = post.assign_coords(touchpoint=data["touchpoints"])
    return idata
