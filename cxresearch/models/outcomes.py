"""Outcome models: NPS, CSAT, CES per group, change between groups, touchpoint drivers.

**Outcomes per group** (:func:`fit_outcome`). The answers of one outcome are
counted per group (any respondent columns, e.g. segment x wave) and category:
detractors (0-6) / passives (7-8) / promoters (9-10) for NPS, every point of the
scale for CSAT, CES or any outcome on a known scale. Counts ``y_g`` follow a
hierarchical Dirichlet-multinomial with partial pooling across groups::

    mu ~ Dirichlet(1, ..., 1)                   shared mean spectrum
    log kappa ~ Normal(log 20, 1.5)             shared concentration (pooling strength)
    theta_g ~ Dirichlet(kappa * mu)             the spectrum of group g
    y_g ~ Multinomial(n_g, theta_g)

NUTS samples ``mu`` and ``kappa`` from the marginal (Dirichlet-multinomial)
likelihood, and ``theta_g`` is then drawn exactly from its conjugate conditional
``Dirichlet(kappa * mu + y_g)`` at every draw: a collapsed sampler that has no
funnel, costs the same for 2 groups or 200, and converges cleanly.
``pooling="none"`` gives every group its own ``Dirichlet(1)`` prior (exact draws, no
MCMC). NPS = 100 * (P(promoter) - P(detractor)); the mean, the top-2-box and the
bottom-2-box share (two highest / two lowest points) follow from ``theta_g``.

**Survey weights** (``weighted=True``): within each group the counts are the weighted
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

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from cxresearch.models.base import FitResult, SamplerConfig, fit_cached, interval, sample

NPS_CATEGORIES = ("detractor", "passive", "promoter")
NPS_QUANTITIES = ("nps", "promoters", "passives", "detractors")
SCALE_QUANTITIES = ("mean", "top2_box", "bottom2_box")
# +1: higher is better when higher outcome values are better; -1: the reverse; 0: neither
ORIENTATION = {"nps": 1, "promoters": 1, "detractors": -1, "passives": 0,
               "mean": 1, "top2_box": 1, "bottom2_box": -1}
DEFAULT_BETTER = {"ces": "lower"}
POOLING = ("ordinal", "dirichlet", "none")
ALL = "all"
SEPARATOR = " | "
EPS = 1e-9  # floor of a category probability in the ordinal base


# ---------------------------------------------------------------- shared helpers

def _scales(study: Any) -> dict[str, dict]:
    """Scale entries of the study config (``{"min", "max"}`` plus optional ``better``)."""
    return dict((getattr(study, "config", None) or {}).get("scales", {}) or {})


def _kish(w: np.ndarray) -> float:
    return float(w.sum() ** 2 / (w**2).sum()) if (w**2).sum() > 0 else 0.0


def _respondent_weights(study: Any, ids: pd.Series) -> np.ndarray:
    people = study.respondents
    if "weight" not in people.columns:
        raise ValueError("weighted=True but the respondents table has no 'weight' column")
    w = ids.map(people.drop_duplicates("respondent_id").set_index("respondent_id")["weight"])
    if w.isna().any():
        raise ValueError(f"weighted=True but {int(w.isna().sum())} answers come from "
                         "respondents without a weight (not in the respondents table)")
    w = w.to_numpy(dtype=float)
    if (w < 0).any():
        raise ValueError("respondent weights must not be negative")
    return w


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
    ``log kappa``, the pooling strength (kappa 20 lets group shares differ by about
    +-0.1 around the shared mean; 95% prior range 1-380).
    """

    pooling: str = "ordinal"  # "ordinal", "dirichlet" or "none"
    weighted: bool = False
    kind: str | None = None
    scale: tuple[int, int] | None = None
    better: str | None = None
    kappa_prior: tuple[float, float] = (float(np.log(20.0)), 1.5)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)


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
    weights = (_respondent_weights(study, frame["respondent_id"]) if config.weighted
               else np.ones(len(frame)))
    if spec["kind"] == "nps":
        cat = np.searchsorted([6.5, 8.5], frame["value"].to_numpy())
        categories = list(NPS_CATEGORIES)
    else:
        cat = (frame["value"].to_numpy() - lo).astype(int)
        categories = list(range(lo, hi + 1))
    K = len(categories)
    keys = (frame[list(by)].apply(tuple, axis=1) if by
            else pd.Series([(ALL,)] * len(frame), index=frame.index))
    groups = sorted(set(keys))
    labels = [SEPARATOR.join(k) for k in groups]
    index = {k: i for i, k in enumerate(groups)}
    g = keys.map(index).to_numpy(dtype=int)
    raw = np.zeros((len(groups), K))
    np.add.at(raw, (g, cat), 1.0)
    wsum = np.zeros((len(groups), K))
    np.add.at(wsum, (g, cat), weights)
    n_eff = np.array([_kish(weights[g == i]) for i in range(len(groups))])
    if config.weighted:
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


def _outcome_model(data: dict, config: dict):
    import pymc as pm
    import pytensor.tensor as pt
    from pytensor.tensor.special import gammaln

    y = np.asarray(data["counts"], dtype=float)
    G, K = y.shape
    n = y.sum(1)
    coords = {"category": [str(c) for c in data["categories"]], "group": data["groups"],
              "cutpoint": list(range(1, K))}
    with pm.Model(coords=coords) as model:
        log_kappa = pm.Normal("log_kappa", *config["kappa_prior"])
        if config["pooling"] == "ordinal":
            cut = pm.Normal("cutpoints", 0.0, 3.0, dims="cutpoint",
                            transform=pm.distributions.transforms.ordered,
                            initval=np.linspace(-1.5, 1.5, K - 1))
            sigma = pm.HalfNormal("sigma_group", 1.0)
            # group locations sum to zero (the cutpoints carry the overall location)
            z = pm.ZeroSumNormal("z_group", 1.0, dims="group")
            eta = pm.Deterministic("eta", sigma * z, dims="group")
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


def _prior_alpha(prior: xr.Dataset, pooling: str, rng: np.random.Generator) -> np.ndarray:
    """(chain, draw, category) Dirichlet parameters of a new group under the prior draws."""
    kappa = np.exp(prior["log_kappa"].values)[..., None]
    if pooling == "dirichlet":
        return kappa * prior["mu"].values
    eta = prior["sigma_group"].values * rng.standard_normal(prior["sigma_group"].shape)
    # forward sampling ignores the ordered transform; sorting gives the same prior
    # (the order statistics of iid normals)
    cut = np.sort(prior["cutpoints"].values, axis=-1)
    base = _ordinal_spectrum(cut, eta[..., None], np)[..., 0, :]
    return kappa * base


def _draw_outcome(data: dict, config: dict, seed: int) -> xr.DataTree:
    import pymc as pm

    y = np.asarray(data["counts"], dtype=float)
    sampler = SamplerConfig(**config["sampler"])
    rng = np.random.default_rng([seed, 1])
    cats = [str(c) for c in data["categories"]]
    dims = ("chain", "draw", "group", "category")
    if config["pooling"] != "none":
        model = _outcome_model(data, config)
        idata = sample(model, sampler, seed)
        post = idata["posterior"].to_dataset()
        kappa = np.exp(post["log_kappa"].values)[..., None, None]
        base = (post["base"].values if "base" in post
                else np.broadcast_to(post["mu"].values[:, :, None, :],
                                     post["mu"].shape[:2] + y.shape))
        alpha = kappa * base
        with warnings.catch_warnings():  # the likelihood is a Potential: prior is the prior
            warnings.simplefilter("ignore", UserWarning)
            prior = pm.sample_prior_predictive(draws=1000, model=model, random_seed=seed)
        pr = prior["prior"].to_dataset()
        pr = pr[[v for v in pr.data_vars if v not in ("base", "eta", "z_group")]]
        pr["theta_new"] = (("chain", "draw", "category"),
                           _dirichlet_draws(rng, _prior_alpha(pr, config["pooling"], rng)))
        idata["prior"] = pr.assign_coords(category=cats)
    else:
        shape = (sampler.chains, sampler.draws)
        alpha = np.ones(shape + y.shape)
        post = xr.Dataset(coords={"chain": np.arange(shape[0]), "draw": np.arange(shape[1])})
        idata = None
    theta = _dirichlet_draws(rng, alpha + y[None, None])
    post = post.assign(theta=(dims, theta)).assign_coords(group=data["groups"], category=cats)
    if idata is None:
        idata = _attach_sample_stats(post)
        idata["prior"] = xr.Dataset({"theta_new": (("chain", "draw", "category"),
                                                   _dirichlet_draws(rng, np.ones((1, 1000,
                                                                                  len(cats)))))},
                                    coords={"category": cats})
    else:
        idata["posterior"] = post
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
    var_names = {"ordinal": ["cutpoints", "sigma_group", "eta", "log_kappa", "theta"],
                 "dirichlet": ["mu", "log_kappa", "theta"], "none": ["theta"]}[config.pooling]
    return fit_cached(OutcomeResult, conf, data, seed,
                      lambda: _draw_outcome(data, conf, seed), var_names=var_names,
                      use_cache=use_cache)
