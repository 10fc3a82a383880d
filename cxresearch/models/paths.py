"""Journeys as an absorbing Markov chain: transitions, drop-off, conversion, attribution.

**Transitions** (:func:`fit_paths`). Journeys are a first-order chain from ``Start``
through the touchpoints to the absorbing ``Conversion`` or ``Drop-off``; the data are
the transition counts ``n[a, b]`` of :func:`cxresearch.journeys.transitions` (from an
event log, a study or aggregated path counts). Each row of the transition matrix gets
a Dirichlet prior and, the model being conjugate, its posterior is exact::

    P[a, .] ~ Dirichlet(concentration + n[a, .])   over the row's support

so the draws are independent draws from the exact posterior (numpy, no MCMC): R-hat
is 1 and the effective sample size is the number of draws by construction, which is
what the diagnostics say. The support of a row (``support="observed"``, default) is
the destinations seen from that state plus ``Drop-off`` from every touchpoint (any
journey may be abandoned anywhere, so no drop-off rate is pinned at 0);
``support="all"`` allows every touchpoint, ``Conversion`` and ``Drop-off`` (self-loops
only when some repeat occurs in the data). ``concentration`` 1: every split of a row
is equally plausible a priori.

Per posterior draw, with ``Q`` the transitions between transient states (Start and
the touchpoints), ``c`` the one-step conversion probabilities and ``N = (I - Q)^-1``:

* conversion probability from Start ``P = (N c)[Start]``;
* drop-off probability of a touchpoint: its transition to ``Drop-off`` (per visit);
* visit probability of ``j`` (reached at least once) ``h_j = N[Start, j] / N[j, j]``;
* removal effect (Markov attribution) of ``j``: the share of conversions lost when
  ``j`` is removed, i.e. its incoming transitions redirected to ``Drop-off``:
  ``1 - P_removed / P = h_j x_j / P`` with ``x = N c`` (a journey converts without
  ``j`` unless it reaches ``j`` and converts from there); attribution shares are the
  removal effects normalised to sum to 1 (ChannelAttribution's convention).

The point estimates (``point`` columns) are the same quantities at the empirical
shares; at those, ``P`` equals the observed share of converting journeys.

**Variants** (:func:`fit_variants`). Conversion per path variant with partial pooling:
a hierarchical beta-binomial, collapsed. Variants are grouped by their last touchpoint
(``group="last"``; in a first-order chain a journey's conversion depends only on where
it ends) or form one group (``group=None``)::

    m ~ Normal(0, 1.5),  sd ~ HalfNormal(1.5)       typical group, spread of groups
    logit(mu_g) ~ Normal(m, sd)                       typical variant of group g
    log(kappa) ~ Normal(log 20, 1.5)                  pooling strength (journeys' worth)
    p_v ~ Beta(kappa mu_g, kappa (1 - mu_g))          conversion of variant v in group g
    y_v ~ Binomial(n_v, p_v)

NUTS samples ``m``, ``sd``, ``mu_g`` and ``kappa`` from the beta-binomial likelihood of
every variant (aggregated to the distinct (group, journeys, conversions) triples, so cost
does not grow with the number of variants), centred or non-centred as the data suggest
(:func:`_centred`), and ``p_v`` of the reported (most frequent) variants is drawn
exactly from ``Beta(kappa mu_g + y_v, kappa (1 - mu_g) + n_v - y_v)``: a variant with
``n_v`` journeys moves from its group's ``mu_g`` towards its raw rate by
``n_v / (n_v + kappa)``, so rare variants are shrunk. ``mu_g`` is the conversion of a
typical *variant* of the group (variants weigh equally), not of a typical journey.

**Emotion by arriving path** (:func:`fit_arrival_emotion`). Each rating is joined to
the rated respondent's journey (``case_id == respondent_id``) and gets
``arrived_from``: the state before the *first* visit to the rated touchpoint
(``Start`` when the journey, or session, began there). The ordinal emotion model of
:mod:`cxresearch.models.emotion` is then fitted on cells touchpoint x arrived_from (its
counts variant; partial pooling of both keys and their interaction), and
:func:`arrival_effects` contrasts each arrival with the other arrivals at the same
touchpoint.

Intervals are equal-tailed; their probability is in the column names
(``eti90_low`` / ``eti90_high``).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from cxresearch import journeys
from cxresearch.journeys import CONVERSION, DROP_OFF, START
from cxresearch.models.base import (
    FitResult,
    SamplerConfig,
    fit_cached,
    interval,
    interval_names,
    sample,
)
from cxresearch.schema import PATH_SEPARATOR, journey_order

__all__ = ["PathConfig", "PathResult", "VariantConfig", "VariantResult", "arrival_config",
           "arrival_effects", "arrival_ratings", "chain_quantities", "fit_arrival_emotion",
           "fit_paths", "fit_variants", "transition_counts"]

SUPPORTS = ("observed", "all")
ARRIVED_FROM = "arrived_from"
MODEL_VERSION = 1  # part of the cache key: bump when the code changes the numbers
_JOURNEY_OPTIONS = ("session_gap", "collapse_repeats", "conversion_touchpoints", "outcomes",
                    "conversion_outcome")


# ---------------------------------------------------------------- absorbing-chain algebra

def _absorb(P: np.ndarray) -> dict[str, np.ndarray]:
    """Chain quantities for transition matrices ``P`` (..., 1 + T, T + 2): rows Start and
    the T touchpoints, columns the touchpoints, Conversion, Drop-off."""
    T = P.shape[-1] - 2
    k = T + 1
    Q = np.zeros(P.shape[:-2] + (k, k))
    Q[..., :, 1:] = P[..., :, :T]
    c = P[..., :, T]
    N = np.linalg.inv(np.eye(k) - Q)
    x = np.einsum("...ij,...j->...i", N, c)  # conversion probability from each state
    p = x[..., 0]
    diag = np.diagonal(N, axis1=-2, axis2=-1)[..., 1:]
    visit = N[..., 0, 1:] / diag
    with np.errstate(divide="ignore", invalid="ignore"):
        removal = visit * x[..., 1:] / p[..., None]
        share = removal / removal.sum(-1, keepdims=True)
    return {"conversion": p, "visit_probability": visit, "removal_effect": removal,
            "removal_share": share, "dropoff": P[..., 1:, T + 1],
            "conversion_from": x[..., 1:]}


def chain_quantities(matrix: pd.DataFrame) -> dict[str, Any]:
    """Exact quantities of one absorbing chain given as a transition matrix.

    ``matrix`` has rows ``Start`` and the touchpoints and columns the touchpoints,
    ``Conversion`` and ``Drop-off`` (as :func:`cxresearch.journeys.transition_matrix`
    with ``shares=True``); each row sums to 1 (a touchpoint row without transitions
    is taken as all Drop-off). Returns the conversion probability from Start and,
    per touchpoint (Series), the drop-off probability, the visit probability, the
    conversion probability from it, the removal effect and the attribution share.
    """
    tps = [c for c in matrix.columns if c not in (CONVERSION, DROP_OFF)]
    P = matrix.reindex(index=[START, *tps], columns=[*tps, CONVERSION, DROP_OFF],
                       fill_value=0.0).to_numpy(dtype=float)
    P = _complete_rows(P)
    out = _absorb(P)
    series = {k: pd.Series(v, index=pd.Index(tps, name="touchpoint"), name=k)
              for k, v in out.items() if k != "conversion"}
    return {"conversion_probability": float(out["conversion"]), **series}


def _complete_rows(P: np.ndarray) -> np.ndarray:
    """Rows summing to 0 (a touchpoint never left) become all Drop-off; rows normalised."""
    P = P.copy()
    empty = P.sum(-1) <= 0
    empty[0] = False
    P[empty, -1] = 1.0
    total = P.sum(-1, keepdims=True)
    if total[0, 0] <= 0:
        raise ValueError("the Start row has no transitions: there are no journeys")
    return P / total


# ---------------------------------------------------------------- data

def transition_counts(data: Any, **options: Any) -> pd.DataFrame:
    """Transition counts (``from``, ``to``, ``count``) of ``data``: a transitions frame as
    is, otherwise :func:`cxresearch.journeys.transitions` of it (an event log, a study,
    an events frame or aggregated paths; ``options`` are passed on)."""
    if isinstance(data, pd.DataFrame) and {"from", "to", "count"} <= set(data.columns):
        if options:
            raise ValueError(f"options {sorted(options)} apply to journeys, not to a "
                             "transitions frame")
        return data[["from", "to", "count"]].copy()
    return journeys.transitions(data, **options)[["from", "to", "count"]]


def _order(data: Any, found: set[str]) -> list[str]:
    """Touchpoints in journey-map order (stage order, then file order), others by name."""
    tp = getattr(data, "touchpoints", None)
    return journey_order(tp if isinstance(tp, pd.DataFrame) else None, found)


def _prepare(counts: pd.DataFrame, order: list[str], config: PathConfig) -> dict[str, Any]:
    frame = counts.assign(**{"from": counts["from"].astype(str), "to": counts["to"].astype(str)})
    n = pd.to_numeric(frame["count"], errors="coerce")
    if n.isna().any() or (n < 0).any() or (n % 1 != 0).any():
        raise ValueError("transition counts must be whole numbers >= 0")
    bad_from = sorted(set(frame["from"]) & {CONVERSION, DROP_OFF})
    bad_to = sorted(set(frame["to"]) & {START})
    if bad_from or bad_to:
        raise ValueError(f"absorbing states cannot be left ({bad_from}) and Start cannot be "
                         f"entered ({bad_to})")
    tps = order
    rows, cols = [START, *tps], [*tps, CONVERSION, DROP_OFF]
    matrix = (frame.assign(count=n.astype("int64"))
              .pivot_table(index="from", columns="to", values="count", aggfunc="sum",
                           fill_value=0)
              .reindex(index=rows, columns=cols, fill_value=0))
    C = matrix.to_numpy(dtype=np.int64)
    if C[0].sum() == 0:
        raise ValueError("no journeys: the transition counts have no Start row")
    T = len(tps)
    support = C > 0
    support[1:, T + 1] = True  # every touchpoint may lose the journey
    if config.support == "all":
        support[1:, :] = True
        support[0, :T] = True
        if not any(C[i + 1, i] for i in range(T)):  # no repeats in the data: no self-loops
            support[np.arange(1, T + 1), np.arange(T)] = False
    notes = []
    if C[:, T].sum() == 0:
        notes.append("no journey converted: conversion probability is 0 and removal effects "
                     "are undefined (NaN); check the conversion signal")
    return {"touchpoints": tps, "from": rows, "to": cols, "counts": C.tolist(),
            "support": support.tolist(), "journeys": int(C[0].sum()),
            "conversions": int(C[:, T].sum()), "notes": notes}


# ---------------------------------------------------------------- path model

@dataclass(frozen=True)
class PathConfig:
    """The path model's prior and draws.

    ``concentration``: Dirichlet concentration per allowed destination of a row.
    ``support``: ``"observed"`` or ``"all"`` (see the module docstring). ``sampler``:
    only ``chains`` x ``draws`` matter (exact draws, no tuning). ``prob``: probability
    of the reported intervals (not part of the fit).
    """

    concentration: float = 1.0
    support: str = "observed"
    sampler: SamplerConfig = SamplerConfig()
    prob: float = 0.9

    def __post_init__(self) -> None:
        if self.support not in SUPPORTS:
            raise ValueError(f"support must be one of {SUPPORTS}, not {self.support!r}")
        if not self.concentration > 0:
            raise ValueError("concentration must be positive")
        if not 0 < self.prob < 1:
            raise ValueError("prob must be between 0 and 1")


def _exact_diagnostics(idata: xr.DataTree) -> dict[str, Any]:
    post = idata["posterior"]
    chains, draws = int(post.sizes["chain"]), int(post.sizes["draw"])
    return {"max_rhat": 1.0, "min_ess_bulk": float(chains * draws),
            "min_ess_tail": float(chains * draws), "divergences": 0, "chains": chains,
            "draws": draws, "method": "exact independent draws (conjugate posterior)"}


def _draw_paths(data: dict[str, Any], config: dict[str, Any], seed: int) -> xr.DataTree:
    C = np.asarray(data["counts"], dtype=float)
    support = np.asarray(data["support"], dtype=bool)
    sampler = SamplerConfig(**config["sampler"])
    rng = np.random.default_rng([seed, 20])
    alpha = np.where(support, config["concentration"] + C, 0.0)
    shape = (sampler.chains, sampler.draws)
    g = rng.standard_gamma(np.broadcast_to(alpha, shape + alpha.shape))
    P = g / g.sum(-1, keepdims=True)
    q = _absorb(P)
    cd, tp = ("chain", "draw"), ("touchpoint",)
    post = xr.Dataset(
        {"transition": ((*cd, "from", "to"), P), "conversion": (cd, q["conversion"]),
         **{k: ((*cd, *tp), q[k]) for k in ("dropoff", "visit_probability",
                                            "removal_effect", "removal_share",
                                            "conversion_from")}},
        coords={"chain": np.arange(shape[0]), "draw": np.arange(shape[1]),
                "from": data["from"], "to": data["to"], "touchpoint": data["touchpoints"]})
    stats = xr.Dataset({"diverging": (cd, np.zeros(shape, dtype=bool))},
                       coords={"chain": post["chain"], "draw": post["draw"]})
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})


@dataclass
class PathResult(FitResult):
    """A fitted path model: transitions, drop-off, conversion and removal effects.

    Every summary has the posterior ``mean``, ``sd``, the equal-tailed interval
    (``eti90_low``/``eti90_high`` for prob 0.9) and the ``point`` estimate at the
    empirical transition shares; counts say how much data stand behind each row.
    """

    model: ClassVar[str] = "paths"

    def __post_init__(self) -> None:  # exact draws: diagnostics true by construction
        seconds = self.diagnostics.get("seconds")
        self.diagnostics = _exact_diagnostics(self.idata) | (
            {"seconds": seconds} if seconds is not None else {})

    # -- plumbing
    @property
    def touchpoints(self) -> list[str]:
        return list(self.data["touchpoints"])

    @property
    def counts(self) -> pd.DataFrame:
        """Transition counts as a matrix (rows Start and touchpoints)."""
        return pd.DataFrame(self.data["counts"], index=pd.Index(self.data["from"], name="from"),
                            columns=pd.Index(self.data["to"], name="to"))

    def _prob(self, prob: float | None) -> float:
        return float(prob if prob is not None else self.config.get("prob", 0.9))

    @property
    def point(self) -> dict[str, Any]:
        """The chain quantities at the empirical transition shares."""
        return chain_quantities(self.counts.astype(float))

    def _summary(self, name: str, prob: float | None) -> pd.DataFrame:
        with warnings.catch_warnings():  # removal effects are NaN when nothing converts
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            stats = interval(self.posterior[name], self._prob(prob))
        return xr.Dataset(stats).to_dataframe().reset_index()

    def draws(self, name: str) -> xr.DataArray:
        """Posterior draws of ``transition``, ``conversion``, ``dropoff``,
        ``visit_probability``, ``removal_effect``, ``removal_share`` or ``conversion_from``."""
        return self.posterior[name]

    # -- public summaries
    def matrix(self, estimate: str = "mean") -> pd.DataFrame:
        """The transition matrix: posterior ``mean`` or the ``point`` (empirical shares)."""
        if estimate == "point":
            total = self.counts.sum(axis=1).replace(0, np.nan)
            return self.counts.div(total, axis=0).fillna(0.0)
        return self.posterior["transition"].mean(("chain", "draw")).to_pandas()

    def transitions(self, prob: float | None = None) -> pd.DataFrame:
        """Per allowed (from, to): ``count``, ``point`` (empirical share), posterior mean,
        sd and interval of the transition probability."""
        frame = self._summary("transition", prob)
        support = pd.DataFrame(self.data["support"], index=self.data["from"],
                               columns=self.data["to"]).stack()
        frame = frame[support.to_numpy()].reset_index(drop=True)
        frame.insert(2, "count", self.counts.stack().to_numpy()[support.to_numpy()])
        frame.insert(3, "point", self.matrix("point").stack().to_numpy()[support.to_numpy()])
        return frame

    def dropoff(self, prob: float | None = None) -> pd.DataFrame:
        """Per touchpoint, most drop-off first: ``visits`` (transitions out of it),
        ``drop_offs``, ``point`` (= drop_offs / visits) and the posterior of the
        probability that a visit is the journey's last, without conversion."""
        frame = self._summary("dropoff", prob)
        visits = self.counts.sum(axis=1).iloc[1:].to_numpy()
        frame.insert(1, "visits", visits)
        frame.insert(2, "drop_offs", self.counts[DROP_OFF].iloc[1:].to_numpy())
        frame.insert(3, "point", self.point["dropoff"].to_numpy())
        return frame.sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)

    def conversion(self, prob: float | None = None) -> pd.DataFrame:
        """One row: journeys, conversions, ``observed`` share converting, ``point`` (the
        chain at the empirical shares) and the posterior of P(Conversion | Start)."""
        stats = interval(self.posterior["conversion"], self._prob(prob))
        row = {"journeys": self.data["journeys"], "conversions": self.data["conversions"],
               "observed": self.data["conversions"] / self.data["journeys"],
               "point": self.point["conversion_probability"]}
        return pd.DataFrame([row | {k: float(v) for k, v in stats.items()}])

    def removal_effects(self, prob: float | None = None) -> pd.DataFrame:
        """Per touchpoint, largest first: the removal effect (share of conversions lost
        without the touchpoint) and the attribution share (removal effects normalised),
        each with ``point``, mean, sd and interval; ``visit_probability`` (posterior
        mean) and ``attributed_conversions`` (share x observed conversions)."""
        effect = self._summary("removal_effect", prob)
        share = self._summary("removal_share", prob)
        point = self.point
        effect.insert(1, "point", point["removal_effect"].to_numpy())
        share.insert(1, "point", point["removal_share"].to_numpy())
        share = share.rename(columns={c: f"share_{c}" for c in share.columns
                                      if c != "touchpoint"})
        out = effect.merge(share, on="touchpoint")
        out["visit_probability"] = self.posterior["visit_probability"].mean(
            ("chain", "draw")).to_numpy()
        out["attributed_conversions"] = out["share_mean"] * self.data["conversions"]
        return out.sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)

    def reading(self, touchpoint: str, prob: float | None = None) -> str:
        """A plain-language sentence on one touchpoint's removal effect."""
        row = self.removal_effects(prob).set_index("touchpoint").loc[touchpoint]
        lo, hi = interval_names(self._prob(prob))
        return (f"Removing {touchpoint} would cost about {row['mean']:.0%} of conversions "
                f"({self._prob(prob):.0%} interval {row[lo]:.0%} to {row[hi]:.0%}).")


def fit_paths(data: Any, config: PathConfig = PathConfig(), *, seed: int = 0,
              use_cache: bool = True, **options: Any) -> PathResult:
    """Fit the path model (module docstring) to the transition counts of ``data``.

    ``data``: an EventLog, a Study (its event log and ``converted`` outcomes, or its
    aggregated paths), an events frame, a paths frame (``path, conversions, nulls``)
    or a transitions frame (``from, to, count``). ``options`` go to
    :func:`cxresearch.journeys.transitions` (``session_gap``, ``collapse_repeats``,
    ``conversion_touchpoints``, ``outcomes``, ``conversion_outcome``). Cached by
    (config, counts, seed).
    """
    unknown = set(options) - set(_JOURNEY_OPTIONS)
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}")
    counts = transition_counts(data, **options)
    found = (set(counts["from"]) | set(counts["to"])) - {START, CONVERSION, DROP_OFF}
    prep = _prepare(counts, _order(data, {str(t) for t in found}), config)
    prep["options"] = {k: (v if k != "outcomes" else "given") for k, v in options.items()}
    conf = asdict(config) | {"version": MODEL_VERSION}
    key_conf = {k: v for k, v in conf.items() if k != "prob"}
    result = fit_cached(PathResult, key_conf, prep, seed,
                        lambda: _draw_paths(prep, conf, seed),
                        var_names=["conversion" if prep["conversions"] else "dropoff"],
                        use_cache=use_cache)
    result.config = conf
    return result


# ---------------------------------------------------------------- variants

@dataclass(frozen=True)
class VariantConfig:
    """The variant model.

    ``group``: ``"last"`` (default) pools variants within groups sharing their last
    touchpoint, the groups' means pooled in turn (in a first-order chain a journey's
    conversion depends only on where it ends, so this is where variants resemble each
    other); ``None`` pools all variants towards one mean. ``top``: how many variants to
    report (most frequent first; all variants inform the pooling). Priors (normal mean
    and sd): ``mu_prior`` of the logit of a typical group's mean, ``group_sd`` the
    half-normal scale of the sd of the group means (logits), ``kappa_prior`` of
    ``log kappa``. ``centred``: parametrisation of the group means (None: chosen from
    the data, see :func:`_centred`). ``prob``: interval probability (not part of the fit).
    """

    group: str | None = "last"
    top: int = 20
    mu_prior: tuple[float, float] = (0.0, 1.5)
    group_sd: float = 1.5
    kappa_prior: tuple[float, float] = (float(np.log(20.0)), 1.5)
    centred: bool | None = None
    sampler: SamplerConfig = SamplerConfig(target_accept=0.95)
    prob: float = 0.9

    def __post_init__(self) -> None:
        if self.group not in (None, "last"):
            raise ValueError(f"group must be 'last' or None, not {self.group!r}")
        if self.top < 1:
            raise ValueError("top must be at least 1")
        if not 0 < self.prob < 1:
            raise ValueError("prob must be between 0 and 1")


ALL_VARIANTS = "all variants"


def _variant_data(variants: pd.DataFrame, config: VariantConfig) -> dict[str, Any]:
    v = variants[variants["journeys"] > 0]
    if v.empty:
        raise ValueError("no journeys: there are no path variants")
    v = v.sort_values(["journeys", "path"], ascending=[False, True], kind="stable")
    path = v["path"].astype(str)
    group = (path.str.rsplit(PATH_SEPARATOR, n=1).str[-1] if config.group == "last"
             else pd.Series(ALL_VARIANTS, index=v.index))
    v = v.assign(group=group)
    groups = sorted(v["group"].unique())
    pairs = (v.groupby(["group", "journeys", "conversions"]).size().rename("variants")
             .reset_index())
    pairs["group"] = pd.Index(groups).get_indexer(pairs["group"])
    per_group = v.groupby("group").agg(variants=("path", "size"), journeys=("journeys", "sum"),
                                       conversions=("conversions", "sum")).reindex(groups)
    shown = v.head(config.top)
    return {"groups": groups, "group_variants": per_group["variants"].astype(int).tolist(),
            "group_journeys": per_group["journeys"].astype(int).tolist(),
            "group_conversions": per_group["conversions"].astype(int).tolist(),
            "pairs": pairs[["group", "journeys", "conversions", "variants"]].astype(int)
            .values.tolist(),
            "paths": shown["path"].astype(str).tolist(),
            "variant_group": pd.Index(groups).get_indexer(shown["group"]).tolist(),
            "journeys": shown["journeys"].astype(int).tolist(),
            "conversions": shown["conversions"].astype(int).tolist(),
            "total_variants": len(v), "total_journeys": int(v["journeys"].sum()),
            "total_conversions": int(v["conversions"].sum())}


def _centred(data: dict[str, Any]) -> bool:
    """Centred group means when the data pin them more tightly than they differ: the
    between-group variance of the groups' empirical logits (net of sampling noise)
    exceeds their mean sampling variance (binomial, on the group totals); else
    non-centred. Measured (2 x 1000 draws, min bulk ESS): centred 1,214 vs non-centred
    400 on a 1,500-respondent synthetic study (groups ending at a touchpoint that never
    converts sit far from the others); non-centred 504 vs centred 179 on
    ChannelAttribution's paths (groups alike)."""
    n = np.asarray(data["group_journeys"], dtype=float)
    r = (np.asarray(data["group_conversions"], dtype=float) + 0.5) / (n + 1)
    if len(n) < 2:
        return False
    noise = 1 / ((n + 1) * r * (1 - r))
    between = np.var(np.log(r / (1 - r)), ddof=1) - noise.mean()
    return bool(between > noise.mean())


def _variant_model(data: dict[str, Any], config: dict[str, Any]):
    import pymc as pm
    import pytensor.tensor as pt

    pairs = np.asarray(data["pairs"], dtype=float)
    g, n, y, w = pairs[:, 0].astype(int), pairs[:, 1], pairs[:, 2], pairs[:, 3]
    G = len(data["groups"])
    with pm.Model(coords={"group": data["groups"]}) as model:
        m = pm.Normal("logit_mu_mean", *config["mu_prior"])
        if G > 1 and config["centred"]:
            sd = pm.HalfNormal("sd_group", config["group_sd"])
            logit_mu = pm.Normal("logit_mu", m, sd, dims="group")
        elif G > 1:
            sd = pm.HalfNormal("sd_group", config["group_sd"])
            z = pm.Normal("z_group", 0.0, 1.0, dims="group")
            logit_mu = m + sd * z
        else:
            logit_mu = pt.stack([m])
        mu = pm.Deterministic("mu", pm.math.sigmoid(logit_mu), dims="group")
        log_kappa = pm.Normal("log_kappa", *config["kappa_prior"])
        kappa = pm.Deterministic("kappa", pt.exp(log_kappa))
        a, b = kappa * mu[g], kappa * (1 - mu[g])

        def betaln(x, z):
            return pt.gammaln(x) + pt.gammaln(z) - pt.gammaln(x + z)

        # beta-binomial log-likelihood of each distinct (group, n, y), times its variants
        pm.Potential("loglik", (w * (betaln(y + a, n - y + b) - betaln(a, b))).sum())
    return model


def _draw_variants(data: dict[str, Any], config: dict[str, Any], seed: int) -> xr.DataTree:
    sampler = SamplerConfig(**config["sampler"])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="pymc")
        idata = sample(_variant_model(data, config), sampler, seed,
                       nutpie_options={"adaptation": "low_rank"})
    post = idata["posterior"].to_dataset()
    mu = post["mu"].transpose("chain", "draw", "group").values[..., data["variant_group"]]
    kappa = post["kappa"].values[..., None]
    n = np.asarray(data["journeys"], dtype=float)
    y = np.asarray(data["conversions"], dtype=float)
    rng = np.random.default_rng([seed, 21])
    p = rng.beta(kappa * mu + y, kappa * (1 - mu) + n - y)
    dims = ("chain", "draw", "variant")
    post = post.assign(conversion=(dims, p),
                       data_weight=(dims, np.broadcast_to(n / (n + kappa), p.shape).copy()))
    idata["posterior"] = xr.DataTree(post.assign_coords(variant=data["paths"]))
    return idata


@dataclass
class VariantResult(FitResult):
    """Conversion per path variant, raw and partially pooled (``variants()``), and the
    pooled conversion of a typical variant per group (``pooled()``)."""

    model: ClassVar[str] = "path_variants"

    def _prob(self, prob: float | None) -> float:
        return float(prob if prob is not None else self.config.get("prob", 0.9))

    def variants(self, prob: float | None = None) -> pd.DataFrame:
        """Per reported variant (most journeys first): ``group``, ``journeys``,
        ``conversions``, ``raw`` (conversions / journeys), ``pooled_mean`` (posterior mean
        of its group's typical conversion), the posterior of its conversion probability
        and ``data_weight`` (posterior mean of n / (n + kappa): 1 = no shrinkage)."""
        stats = interval(self.posterior["conversion"], self._prob(prob))
        groups = np.asarray(self.data["groups"], dtype=object)
        where = np.asarray(self.data["variant_group"], dtype=int)
        frame = pd.DataFrame({"path": self.data["paths"], "group": groups[where],
                              "journeys": self.data["journeys"],
                              "conversions": self.data["conversions"]})
        frame["steps"] = frame["path"].str.count(PATH_SEPARATOR.strip()) + 1
        frame["raw"] = frame["conversions"] / frame["journeys"]
        frame["pooled_mean"] = self.posterior["mu"].mean(("chain", "draw")).to_numpy()[where]
        for k, v in stats.items():
            frame[k] = np.asarray(v)
        frame["data_weight"] = self.posterior["data_weight"].mean(("chain", "draw")).to_numpy()
        return frame

    def pooled(self, prob: float | None = None) -> pd.DataFrame:
        """Per group: ``variants``, ``journeys``, ``conversions``, ``observed`` (the
        unweighted mean of its variants' raw rates) and the posterior of ``mu``, the
        conversion of a typical variant of the group; then one row ``kappa`` (pooling
        strength, in journeys)."""
        pairs = np.asarray(self.data["pairs"], dtype=float)
        G = len(self.data["groups"])
        rate = pairs[:, 2] / pairs[:, 1] * pairs[:, 3]
        observed = (np.bincount(pairs[:, 0].astype(int), rate, G)
                    / np.bincount(pairs[:, 0].astype(int), pairs[:, 3], G))
        stats = interval(self.posterior["mu"], self._prob(prob))
        frame = pd.DataFrame({"parameter": "mu", "group": self.data["groups"],
                              "variants": self.data["group_variants"],
                              "journeys": self.data["group_journeys"],
                              "conversions": self.data["group_conversions"],
                              "observed": observed,
                              **{k: np.asarray(v) for k, v in stats.items()}})
        kappa = {k: float(v) for k, v in interval(self.posterior["kappa"],
                                                  self._prob(prob)).items()}
        row = pd.DataFrame([{"parameter": "kappa", "group": "", "variants":
                             self.data["total_variants"], "journeys":
                             self.data["total_journeys"], "conversions":
                             self.data["total_conversions"], "observed": np.nan, **kappa}])
        return pd.concat([frame, row], ignore_index=True)


def fit_variants(data: Any, config: VariantConfig = VariantConfig(), *, seed: int = 0,
                 use_cache: bool = True, **options: Any) -> VariantResult:
    """Fit conversion per path variant with partial pooling (module docstring).

    ``data``: anything :func:`cxresearch.journeys.variants` accepts (an event log, a
    study, an events frame, aggregated paths) or its output; ``options`` go to it.
    """
    unknown = set(options) - set(_JOURNEY_OPTIONS)
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}")
    if isinstance(data, pd.DataFrame) and {"path", "journeys", "conversions"} <= set(
            data.columns) and not options:
        variants = data
    else:
        variants = journeys.variants(data, **options)
    prep = _variant_data(variants, config)
    conf = asdict(config) | {"version": MODEL_VERSION}
    conf["mu_prior"], conf["kappa_prior"] = list(conf["mu_prior"]), list(conf["kappa_prior"])
    if conf["centred"] is None:
        conf["centred"] = _centred(prep)
    key_conf = {k: v for k, v in conf.items() if k != "prob"}
    names = ["logit_mu_mean", "log_kappa", "mu", "conversion"] + (
        ["sd_group"] if len(prep["groups"]) > 1 else [])
    result = fit_cached(VariantResult, key_conf, prep, seed,
                        lambda: _draw_variants(prep, conf, seed), var_names=names,
                        use_cache=use_cache)
    result.config = conf
    return result


# ---------------------------------------------------------------- emotion by arriving path

def _rated_log(study: Any, ids: list[str]) -> Any:
    """The study's event log restricted to the rated respondents (or its events frame)."""
    log = getattr(study, "event_log", None)
    if log is not None:
        return log.subset(ids)
    events = getattr(study, "events", None)
    if isinstance(events, pd.DataFrame) and len(events):
        return events[events["case_id"].astype(str).isin(set(ids))]
    raise ValueError("emotion by arriving path needs an event log (journeys with timestamps)")


@dataclass
class _Arrivals:
    ratings: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def arrival_ratings(study: Any, item: str | None = "valence", *, session_gap: str | None = None,
                    collapse_repeats: bool = False) -> pd.DataFrame:
    """The ratings (of ``item``; None keeps all) with ``arrived_from``: the state before the
    first visit to the rated touchpoint in the respondent's journey (``case_id ==
    respondent_id``; ``Start`` when a journey or, with ``session_gap``, a session began
    there). Ratings without a visit to their touchpoint are left out and counted in
    ``frame.attrs["notes"]``."""
    return _arrivals(study, item, session_gap, collapse_repeats).ratings


def _arrivals(study: Any, item: str | None, session_gap: str | None,
              collapse_repeats: bool) -> _Arrivals:
    ratings = study.ratings
    if item is not None and "item" in ratings:
        ratings = ratings[ratings["item"] == item]
    if ratings.empty:
        raise ValueError(f"no ratings of item {item!r}")
    ids = sorted(set(ratings["respondent_id"].astype(str)))
    walks = journeys.paths(_rated_log(study, ids), session_gap=session_gap,
                           collapse_repeats=collapse_repeats, conversion_touchpoints=())
    steps = walks[["case_id", "session", "path"]].assign(
        touchpoint=walks["path"].str.split(PATH_SEPARATOR, regex=False)).drop(columns="path")
    steps = steps.explode("touchpoint", ignore_index=True)
    steps["pos"] = steps.groupby(["case_id", "session"]).cumcount()
    steps[ARRIVED_FROM] = (steps.groupby(["case_id", "session"])["touchpoint"].shift(1)
                           .fillna(START).astype(str))
    first = (steps.sort_values(["case_id", "session", "pos"], kind="stable")
             .drop_duplicates(["case_id", "touchpoint"])
             .rename(columns={"case_id": "respondent_id"})
             [["respondent_id", "touchpoint", ARRIVED_FROM]])
    keyed = ratings.assign(respondent_id=ratings["respondent_id"].astype(str),
                           touchpoint=ratings["touchpoint"].astype(str))
    out = keyed.merge(first, on=["respondent_id", "touchpoint"], how="left", validate="m:1")
    notes = []
    lost = out[ARRIVED_FROM].isna()
    if lost.any():
        no_log = ~out["respondent_id"].isin(set(walks["case_id"]))
        notes.append(f"{int((lost & no_log).sum())} ratings of respondents without events and "
                     f"{int((lost & ~no_log).sum())} ratings of touchpoints not in the "
                     "respondent's journey not used (no arriving path)")
    out = out[~lost].reset_index(drop=True)
    out.attrs["notes"] = notes
    return _Arrivals(out, notes)


def arrival_config(draws: int = 2000, tune: int = 1000, **options: Any):
    """The default emotion configuration for :func:`fit_arrival_emotion`.

    Cells touchpoint x arrived_from; every block non-centred, target_accept 0.95 and
    twice the usual draws: the sd of the touchpoint x arrival interaction (few observed
    cells, most combinations never happen) mixes slowly. Measured on the demo study
    (1,500 respondents, 25 observed cells of 81): "auto" centring and 1,000 draws gave
    R-hat 1.010, bulk ESS 216 and 4 divergences; this configuration R-hat 1.004, bulk
    ESS 630, no divergences, in 23 s. ``options`` go to ``EmotionConfig``.
    """
    from cxresearch.models.emotion import EmotionConfig

    options = {"cells": ("touchpoint", ARRIVED_FROM), "parametrisation": "non-centred",
               "sampler": SamplerConfig(draws=draws, tune=tune, target_accept=0.95)} | options
    return EmotionConfig(**options)


def fit_arrival_emotion(study: Any, config: Any = None, *, seed: int = 0,
                        use_cache: bool = True, session_gap: str | None = None,
                        collapse_repeats: bool = False):
    """Fit the emotion model on cells touchpoint x arrived_from (module docstring).

    ``config``: an :class:`~cxresearch.models.emotion.EmotionConfig` (default
    :func:`arrival_config`); ``arrived_from`` is added to its ``cells`` if missing, which
    may add respondent columns; the counts variant only (``respondent_effects=False``).
    Each rating becomes its own pseudo-respondent carrying its respondent's columns
    (segment, weight, ...) and its ``arrived_from``, which is how the emotion model
    (whose cell keys are respondent columns) takes a per-rating key. Returns the
    :class:`~cxresearch.models.emotion.EmotionResult`; ``result.extra["notes"]`` says
    which ratings were left out.
    """
    from cxresearch.models.emotion import fit_emotion

    config = config or arrival_config()
    if ARRIVED_FROM not in config.cells:
        config = replace(config, cells=(*config.cells, ARRIVED_FROM))
    if config.respondent_effects:
        raise ValueError("emotion by arriving path uses the counts variant "
                         "(respondent_effects=False): ratings become pseudo-respondents")
    arrivals = _arrivals(study, config.item, session_gap, collapse_repeats)
    rated = arrivals.ratings
    pseudo = rated["respondent_id"] + "#" + rated["touchpoint"] + "#" + np.arange(
        len(rated)).astype(str)
    people = study.respondents.assign(respondent_id=study.respondents["respondent_id"]
                                      .astype(str)).drop_duplicates("respondent_id")
    persons = (rated[["respondent_id", ARRIVED_FROM]].assign(_pseudo=pseudo.to_numpy())
               .merge(people, on="respondent_id", how="inner"))
    persons = persons.assign(respondent_id=persons.pop("_pseudo"))
    view = SimpleNamespace(ratings=rated.assign(respondent_id=pseudo.to_numpy()),
                           respondents=persons, touchpoints=study.touchpoints,
                           config=getattr(study, "config", {}))
    result = fit_emotion(view, config, seed=seed, use_cache=use_cache)
    result.extra["notes"] = arrivals.notes
    return result


def arrival_effects(result: Any, prob: float | None = None) -> pd.DataFrame:
    """Emotion at each touchpoint by the state it was reached from, from a fit of
    :func:`fit_arrival_emotion`.

    One row per (touchpoint, arrived_from) with ratings and per quantity:
    ``mean_rating`` (the cell's posterior mean rating), ``difference`` (that mean
    minus the mean of the other arrivals at the touchpoint, mixed by their raters'
    weights) and ``latent_difference`` (the same contrast of the cells' linear
    predictors, logits for the logit link: comparable with a planted path effect);
    with ``n`` (ratings), ``share`` (of the touchpoint's ratings), ``observed`` (sample
    mean rating, weighted; NaN for the latent contrast) and ``prob_lower`` (P(the
    arrival's value is lower); NaN for ``mean_rating``). Touchpoints reached from a
    single state have no contrast rows.
    """
    prob = float(prob if prob is not None else result.config.get("prob", 0.9))
    data = result.data
    cells = pd.DataFrame(data["cells"])
    counts = np.asarray(data["counts"], dtype=float)
    wc = np.asarray(data["weighted_counts"], dtype=float)
    values = np.arange(data["scale"][0], data["scale"][1] + 1)
    cells["n"] = counts.sum(1).astype(int)
    cells["weight"] = wc.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cells["observed"] = (wc @ values) / wc.sum(1)
    post = result.posterior
    p = post["p"].transpose("chain", "draw", "cell", "category").values
    mean = (p @ values).reshape(-1, p.shape[2])
    eta = post["eta"].transpose("chain", "draw", "cell").values.reshape(-1, p.shape[2])
    other_keys = [k for k in data["keys"] if k not in ("touchpoint", ARRIVED_FROM)]
    rows = []
    for _, part in cells[cells["n"] > 0].groupby(["touchpoint", *other_keys], sort=False):
        # the arrivals at this touchpoint (cells of other keys are kept apart)
        idx = part.index.to_numpy()
        w = part["weight"].to_numpy(dtype=float)
        for j, i in enumerate(idx):
            base = {**{k: part.at[i, k] for k in ["touchpoint", ARRIVED_FROM, *other_keys]},
                    "n": int(part.at[i, "n"]), "share": float(w[j] / w.sum())}
            rows.append(base | {"quantity": "mean_rating", **interval(mean[:, i], prob),
                                "observed": part.at[i, "observed"], "prob_lower": np.nan})
            rest = np.delete(np.arange(len(idx)), j)
            if not len(rest) or w[rest].sum() <= 0:
                continue
            mix = w[rest] / w[rest].sum()
            obs_rest = float(part["observed"].to_numpy()[rest] @ mix)
            for name, draws, observed in (
                    ("difference", mean, part.at[i, "observed"] - obs_rest),
                    ("latent_difference", eta, np.nan)):
                diff = draws[:, i] - draws[:, idx[rest]] @ mix
                rows.append(base | {"quantity": name, **interval(diff, prob),
                                    "observed": observed, "prob_lower": float((diff < 0).mean())})
    return pd.DataFrame(rows)
