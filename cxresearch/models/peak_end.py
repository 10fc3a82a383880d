"""Peak-end: is the remembered overall evaluation driven by the peak and the end?

**Features** (:func:`peak_end_features`), per respondent, from the ratings of one
item (default ``valence``) and one outcome (default ``overall``):

* ``peak``: the rating furthest from the scale midpoint; ties (equally far above and
  below) go to the more negative rating;
* ``end``: the rating of the last rated touchpoint in journey order;
* ``mean``: the mean of the respondent's ratings;
* ``length``: the number of ratings used (rated touchpoints), the journey length the
  model uses; ``n_events`` (visits in the event log, when there is one) is shown only;
* ``overall``: the outcome.

*Journey order* of a respondent's ratings: by the first visit to each rated
touchpoint in the event log (``case_id`` = ``respondent_id``; the log ordered by
timestamp, visits sharing a timestamp in log order, as process-mining tools do) when
the log holds a visit to every touchpoint they rated; else by ``answered_at`` when
every rating has one; else by the order of the ratings table. Remaining ties (two
ratings of one touchpoint, equal ``answered_at``) keep the order of the ratings
table. On the synthetic studies this is the generator's definition of "end".
``order_from`` says which rule ordered each respondent. Respondents with fewer than
``min_ratings`` (2) ratings, without the outcome, or with several answers to it are
excluded and counted in ``frame.attrs["notes"]`` / ``frame.attrs["excluded"]``.

**Models** (:func:`fit_peak_end`). Row-level (one row per respondent: peak-end needs
each person's own sequence), normal linear regressions of the outcome::

    peak-end:  overall_i ~ Normal(a + w_peak*peak_i + w_end*end_i + w_mean*mean_i
                                  + w_length*length_i, noise_sd)
    mean-only: overall_i ~ Normal(a + w_mean*mean_i + w_length*length_i, noise_sd)

The baseline keeps ``length`` (when ``include_length``), so the comparison isolates
what peak and end add. A normal likelihood rather than an ordered logit: the 0-10
evaluation has 11 nearly equally spaced points, and the weights stay on the rating
scale ("one rating point more at the peak is w_peak points of overall"), directly
comparable with a planted rule; rounding to whole points adds a variance of 1/12.
Both regressions are fitted on standardised predictors and outcome (z-scores with the
sample's mean and sd) and reported back on the original scales (``weight``, ``a``,
``noise_sd`` in the posterior). Priors, on the standardised scale (see
:class:`PeakEndPriors`): intercept ~ Normal(0, 1), slopes ~ Normal(0, 1) (a slope of
1 moves overall by one sd per sd of the predictor: larger is implausible), residual
sd ~ HalfNormal(1). :func:`prior_predictive` draws from them. The two regressions
share no parameter and sit in one PyMC model as independent blocks: their posteriors
are exactly those of two separate fits, sampled in one run, cached as one fit. Each is
sampled in the QR parametrisation (the coefficients of the orthogonal factor of the
predictors; the prior stays on the slopes), because peak, end and mean are strongly
correlated; R-hat and ESS are taken over the reported quantities (both models'
weights, ``a`` and ``noise_sd``). Survey weights are not used: the rule is a relation
within persons, estimated among the respondents.

**Comparison.** PSIS-LOO (ArviZ) of each model from its pointwise log-likelihood
(computed from the posterior and the stored data, so it is reproducible from the
cache), ``elpd_diff`` = elpd(peak-end) - elpd(mean-only) with the standard error of
the difference, and Pareto-k diagnostics.

**Verdict** (:meth:`PeakEndResult.decision`: ``"supported"``, ``"not supported"`` or
``"inconclusive"``), with ``k = decision_se`` (2):

* *inconclusive* when the sampler did not converge or any Pareto k exceeds its
  threshold (the LOO estimate is then unreliable);
* *supports* the peak-end rule when ``elpd_diff > k * se`` and the 90% interval of the
  peak or of the end weight lies above 0;
* *does not support* it when ``elpd_diff < -k * se`` (the mean-only model predicts
  better), or when ``elpd_diff <= k * se`` and neither interval lies above 0;
* *inconclusive* otherwise (the two criteria disagree).

Intervals are equal-tailed; their probability is in the column names.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from cxresearch.models.base import FitResult, SamplerConfig, fit_cached, interval, sample
from cxresearch.models.inputs import item_scale

TERMS = ("peak", "end", "mean", "length")
RULE_TERMS = ("peak", "end")
MODELS = ("peak_end", "mean_only")
BASELINE = "baseline_"  # prefix of the mean-only model's variables in the posterior
ORDER_RULES = ("events", "answered_at", "file")
# the quantities reported (original scales); convergence diagnostics are taken over them
REPORTED = ["weight", "a", "noise_sd", f"{BASELINE}weight", f"{BASELINE}a",
            f"{BASELINE}noise_sd"]


# ---------------------------------------------------------------- features

def _seconds(values: pd.Series) -> np.ndarray:
    """Timestamps as float seconds (NaN for missing); time-zone aware ones in UTC."""
    ts = pd.to_datetime(values, errors="coerce")
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ((ts - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)).to_numpy(
        dtype=float, na_value=np.nan)


def _visits(study: Any) -> tuple[pd.DataFrame, pd.Series] | None:
    """Step of the first visit per (case, touchpoint) and events per case (None: no log).

    Steps number a case's events in journey order: by timestamp, then by position in
    the log (``seq``, else row order), so visits sharing a timestamp keep log order.
    """
    log = getattr(study, "event_log", None)
    if log is not None:
        first = log.sql("SELECT case_id, touchpoint, min(step) AS first_step FROM ("
                        "SELECT case_id, touchpoint, row_number() OVER (PARTITION BY case_id "
                        "ORDER BY timestamp, seq) AS step FROM events) GROUP BY ALL")
        counts = log.sql("SELECT case_id, count(*) AS n_events FROM events GROUP BY case_id")
        return first, counts.set_index("case_id")["n_events"]
    try:
        events = getattr(study, "events", None)
    except AttributeError:
        events = None
    if events is None or not len(events):
        return None
    ev = pd.DataFrame({"case_id": events["case_id"].astype(str).to_numpy(),
                       "touchpoint": events["touchpoint"].astype(str).to_numpy(),
                       "timestamp": pd.to_datetime(events["timestamp"]).to_numpy(),
                       "seq": (events["seq"].to_numpy() if "seq" in events
                               else np.arange(len(events)))})
    ev = ev.sort_values(["case_id", "timestamp", "seq"], kind="stable")
    ev["step"] = ev.groupby("case_id").cumcount()
    first = (ev.groupby(["case_id", "touchpoint"], sort=False)["step"].min()
             .rename("first_step").reset_index())
    return first, ev.groupby("case_id").size().rename("n_events")


def peak_end_features(study: Any, item: str = "valence", outcome: str = "overall", *,
                      min_ratings: int = 2) -> pd.DataFrame:
    """Per respondent: peak, end, mean, length, n_events, overall and ``order_from``.

    See the module docstring for the definitions and the journey-order rule.
    ``frame.attrs`` holds ``notes`` (every exclusion and rule applied, in words),
    ``excluded`` (counts by reason), ``scale`` (of the item), ``item``, ``outcome``.
    """
    if min_ratings < 1:
        raise ValueError("min_ratings must be at least 1")
    ratings = study.ratings
    ratings = ratings[ratings["item"] == item] if "item" in ratings else ratings
    if not len(ratings):
        raise ValueError(f"no ratings of item {item!r}")
    lo, hi = item_scale(study, ratings, item)
    notes: list[str] = []
    r = pd.DataFrame({"respondent_id": ratings["respondent_id"].astype(str).to_numpy(),
                      "touchpoint": ratings["touchpoint"].astype(str).to_numpy(),
                      "value": pd.to_numeric(ratings["value"], errors="coerce").to_numpy(
                          dtype=float, na_value=np.nan),
                      "pos": np.arange(len(ratings))})
    r["answered"] = (_seconds(ratings["answered_at"].reset_index(drop=True))
                     if "answered_at" in ratings else np.nan)
    blank = r["value"].isna()
    if blank.any():
        notes.append(f"{int(blank.sum())} {item} ratings without a value not used")
        r = r[~blank]
    off = (r["value"] < lo) | (r["value"] > hi)
    if off.any():
        raise ValueError(f"{int(off.sum())} {item} ratings fall outside the scale {lo}-{hi}")

    # the outcome: one answer per respondent
    answers = study.outcomes
    answers = answers[answers["outcome"] == outcome]
    o = pd.DataFrame({"respondent_id": answers["respondent_id"].astype(str).to_numpy(),
                      "overall": pd.to_numeric(answers["value"], errors="coerce").to_numpy(
                          dtype=float, na_value=np.nan)}).dropna()
    answers_per = o.groupby("respondent_id").size()
    several = set(answers_per.index[answers_per > 1])
    o = o[~o["respondent_id"].isin(several)].set_index("respondent_id")["overall"]

    # journey order
    visits = _visits(study)
    n_events = None
    if visits is not None:
        first, n_events = visits
        first = first.assign(case_id=first["case_id"].astype(str),
                             touchpoint=first["touchpoint"].astype(str))
        key = pd.MultiIndex.from_arrays([first["case_id"], first["touchpoint"]])
        at = key.get_indexer(pd.MultiIndex.from_arrays([r["respondent_id"], r["touchpoint"]]))
        step = first["first_step"].to_numpy(dtype=float)
        r["visit"] = np.where(at >= 0, step[np.maximum(at, 0)], np.nan)
    else:
        r["visit"] = np.nan
    rid = r["respondent_id"]
    all_visits = r["visit"].notna().groupby(rid).transform("all").to_numpy(dtype=bool)
    all_answered = r["answered"].notna().groupby(rid).transform("all").to_numpy(dtype=bool)
    r["order_from"] = np.select([all_visits, all_answered], ORDER_RULES[:2], ORDER_RULES[2])
    r["key"] = np.select([all_visits, all_answered], [r["visit"], r["answered"]], 0.0)
    r = r.sort_values(["respondent_id", "key", "pos"], kind="stable")

    # per respondent
    mid2 = lo + hi  # twice the midpoint: integer arithmetic for the ties
    dist = np.abs(2 * r["value"] - mid2)
    r["score"] = 2 * dist + (2 * r["value"] < mid2)  # furthest first, then the negative one
    g = r.groupby("respondent_id", sort=True)
    frame = pd.DataFrame({
        "peak": r.loc[g["score"].idxmax(), ["respondent_id", "value"]]
        .set_index("respondent_id")["value"],
        "end": g["value"].last(), "mean": g["value"].mean(),
        "length": g["value"].size().astype("int64"),
        "order_from": g["order_from"].first()})
    frame.index.name = "respondent_id"

    # exclusions (disjoint, in this order), each counted
    rated, answered = set(frame.index), set(o.index)
    too_few = set(frame.index[frame["length"] < min_ratings])
    excluded = {f"several {outcome} answers": len(several),
                f"no {outcome}": len(rated - answered - several),
                f"fewer than {min_ratings} {item} ratings": len(
                    (answered - rated) | (answered & too_few))}
    frame = frame[frame.index.isin(list(answered - too_few))].copy()
    frame["overall"] = o.reindex(frame.index).to_numpy(dtype=float)
    frame.insert(4, "n_events", (n_events.reindex(frame.index).fillna(0).astype("int64")
                                 .to_numpy() if n_events is not None
                                 else pd.array([pd.NA] * len(frame), dtype="Int64")))
    frame = frame.rename(columns={"overall": outcome}).reset_index()

    for reason, count in excluded.items():
        if count:
            notes.append(f"{count} respondents excluded: {reason}")
    used = frame["order_from"].value_counts()
    how = {"events": "first visits in the event log", "answered_at": "answered_at",
           "file": "the order of the ratings table"}
    rules = [f"{how[k]} for {int(used[k])} respondents" for k in ORDER_RULES if k in used]
    if rules:
        notes.append("journey order from " + "; ".join(rules)
                     + " (ratings of the same step or time kept in ratings-table order)")
    if visits is None:
        notes.append("no event log: n_events not available")
    frame.attrs.update(notes=notes, excluded=excluded, scale=(lo, hi), item=item,
                       outcome=outcome, min_ratings=min_ratings)
    return frame


def truth_weights(truth: dict[str, Any]) -> dict[str, float]:
    """The planted overall rule of a synthetic study (``study.truth``) by term.

    ``length`` is 0 (the rule ignores it), ``a`` the intercept and ``noise_sd`` the sd
    of the latent noise (rounding to whole points adds a variance of 1/12 on top).
    """
    rule = truth["outcomes"]["overall"] if "outcomes" in truth else truth
    return {"peak": float(rule["w_peak"]), "end": float(rule["w_end"]),
            "mean": float(rule["w_mean"]), "length": 0.0, "a": float(rule["a"]),
            "noise_sd": float(rule["noise_sd"])}


# ---------------------------------------------------------------- configuration

@dataclass(frozen=True)
class PeakEndPriors:
    """Priors on the standardised scale (predictors and outcome as z-scores).

    ``intercept_sd``: Normal sd of the intercept. ``slope_sd``: Normal sd of every
    slope (1: one sd of overall per sd of the predictor is the plausible limit).
    ``sigma_scale``: HalfNormal scale of the residual sd.
    """

    intercept_sd: float = 1.0
    slope_sd: float = 1.0
    sigma_scale: float = 1.0


@dataclass(frozen=True)
class PeakEndConfig:
    """What to fit and how to decide.

    item / outcome: the rating item and the outcome (0-10 overall evaluation).
    include_length: add the number of rated touchpoints to both models.
    min_ratings: respondents with fewer ratings are excluded (and counted).
    prob: probability of the reported intervals. decision_se: the verdict's threshold
    on elpd_diff in standard errors (prob and decision_se are not part of the fit).
    """

    item: str = "valence"
    outcome: str = "overall"
    include_length: bool = True
    min_ratings: int = 2
    priors: PeakEndPriors = PeakEndPriors()
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    prob: float = 0.9
    decision_se: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.prob < 1:
            raise ValueError("prob must be between 0 and 1")
        if self.min_ratings < 1:
            raise ValueError("min_ratings must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- model

@dataclass
class _Prepared:
    ids: np.ndarray
    X: np.ndarray  # (n, terms), original scale
    y: np.ndarray  # (n,)
    terms: list[str]
    baseline: list[str]
    notes: list[str]
    excluded: dict[str, int]
    scale: tuple[int, int]

    @property
    def x_mean(self) -> np.ndarray:
        return self.X.mean(0)

    @property
    def x_sd(self) -> np.ndarray:
        return self.X.std(0)

    def as_data(self, config: PeakEndConfig) -> dict[str, Any]:
        digest = hashlib.sha256()
        for part in (self.ids.astype(str), self.X, self.y):
            digest.update(np.ascontiguousarray(part).tobytes())
        return {"item": config.item, "outcome": config.outcome, "scale": list(self.scale),
                "terms": self.terms, "baseline_terms": self.baseline, "n": int(len(self.y)),
                "x_mean": self.x_mean.tolist(), "x_sd": self.x_sd.tolist(),
                "y_mean": float(self.y.mean()), "y_sd": float(self.y.std()),
                "notes": self.notes, "excluded": self.excluded,
                "rows_sha256": digest.hexdigest()[:20]}


def _prepare(study: Any, config: PeakEndConfig) -> _Prepared:
    frame = peak_end_features(study, config.item, config.outcome,
                              min_ratings=config.min_ratings)
    notes = list(frame.attrs["notes"])
    if len(frame) < 10:
        raise ValueError(f"only {len(frame)} respondents with {config.min_ratings}+ "
                         f"{config.item} ratings and one {config.outcome} answer: too few to fit")
    terms = [t for t in TERMS if config.include_length or t != "length"]
    X = frame[terms].to_numpy(dtype=float)
    constant = [t for t, sd in zip(terms, X.std(0), strict=True) if sd == 0]
    for t in constant:
        notes.append(f"{t} is the same for every respondent: left out of both models")
    if {"peak", "end"} <= set(constant) or "mean" in constant:
        raise ValueError(f"{', '.join(constant)} do not vary: the peak-end rule cannot be "
                         "tested on these data")
    terms = [t for t in terms if t not in constant]
    baseline = [t for t in terms if t not in RULE_TERMS]
    y = frame[config.outcome].to_numpy(dtype=float)
    if y.std() == 0:
        raise ValueError(f"every respondent gave the same {config.outcome}: nothing to explain")
    return _Prepared(frame["respondent_id"].to_numpy(dtype=str), frame[terms].to_numpy(float),
                     y, terms, baseline, notes, dict(frame.attrs["excluded"]),
                     tuple(frame.attrs["scale"]))


def _qr(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thin QR of ``x`` scaled so that ``x = q @ r`` with ``q``'s columns of unit variance."""
    q, r = np.linalg.qr(x)
    scale = np.sqrt(max(len(x) - 1, 1))
    return q * scale, np.linalg.inv(r / scale)


def _block(pm, name: str, x, y, dim: str, priors: PeakEndPriors, qr: bool, n) -> None:
    """One regression on standardised data: intercept, slopes over ``dim``, residual sd.

    ``qr``: sample the coefficients of the orthogonal ``q`` of ``x = q r`` (flat) and
    put the Normal prior on the slopes ``r^-1 theta`` (a linear map: no Jacobian), so
    correlated predictors (peak, end and mean are) do not slow the sampler down.
    """
    alpha = pm.Normal(f"{name}intercept", 0.0, priors.intercept_sd)
    sigma = pm.HalfNormal(f"{name}sigma", priors.sigma_scale)
    if qr:
        q, r_inv = x
        theta = pm.Flat(f"{name}theta", dims=dim)
        beta = pm.Deterministic(f"{name}slope", r_inv @ theta, dims=dim)
        pm.Potential(f"{name}slope_prior",
                     pm.logp(pm.Normal.dist(0.0, priors.slope_sd), beta).sum())
        mu = alpha + q @ theta
    else:
        beta = pm.Normal(f"{name}slope", 0.0, priors.slope_sd, dims=dim)
        mu = alpha + x @ beta
    pm.Normal(f"overall{'_baseline' if name else ''}", mu, sigma, observed=y, shape=n)


def _build_model(prep: _Prepared, priors: PeakEndPriors, qr: bool = True):
    """Both regressions as independent blocks of one model (``qr=False``: the direct
    parametrisation, the same prior, used for prior predictive draws)."""
    import pymc as pm

    xz = (prep.X - prep.x_mean) / prep.x_sd
    yz = (prep.y - prep.y.mean()) / prep.y.std()
    base = [prep.terms.index(t) for t in prep.baseline]
    with pm.Model(coords={"term": prep.terms, "baseline_term": prep.baseline}) as model:
        y = pm.Data("y", yz)
        y0 = pm.Data("y_baseline", yz)  # one observed variable per data container
        if qr:
            q, r_inv = _qr(xz)
            q0, r0_inv = _qr(xz[:, base])
            x = (pm.Data("q", q), pm.Data("r_inv", r_inv))
            x0 = (pm.Data("q_baseline", q0), pm.Data("r_inv_baseline", r0_inv))
        else:
            x = pm.Data("x", xz)
            x0 = x[:, base]
        _block(pm, "", x, y, "term", priors, qr, y.shape[0])
        _block(pm, BASELINE, x0, y0, "baseline_term", priors, qr, y.shape[0])
    return model


def _structure_key(prep: _Prepared, priors: PeakEndPriors) -> str:
    blob = {"terms": prep.terms, "baseline": prep.baseline, "priors": asdict(priors),
            "parametrisation": "qr"}
    return "peak_end-" + hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _original_scale(post: xr.Dataset, prep_data: dict[str, Any], prefix: str,
                    terms: list[str], dim: str) -> dict[str, xr.DataArray]:
    """Weights, intercept and residual sd on the original scales from the z-scale draws."""
    x_mean = pd.Series(prep_data["x_mean"], index=prep_data["terms"])[terms].to_numpy()
    x_sd = pd.Series(prep_data["x_sd"], index=prep_data["terms"])[terms].to_numpy()
    y_mean, y_sd = prep_data["y_mean"], prep_data["y_sd"]
    weight = post[f"{prefix}slope"] * xr.DataArray(y_sd / x_sd, dims=dim)
    a = y_mean + y_sd * post[f"{prefix}intercept"] - (weight * xr.DataArray(x_mean, dims=dim)
                                                       ).sum(dim)
    return {f"{prefix}weight": weight, f"{prefix}a": a,
            f"{prefix}noise_sd": y_sd * post[f"{prefix}sigma"]}


def _finish(idata: xr.DataTree, prep: _Prepared, data: dict[str, Any]) -> xr.DataTree:
    """Add original-scale quantities to the posterior and the data (original scale)."""
    post = idata["posterior"].to_dataset()
    post = post.assign(_original_scale(post, data, "", prep.terms, "term"))
    post = post.assign(_original_scale(post, data, BASELINE, prep.baseline, "baseline_term"))
    groups = {name: idata[name].to_dataset() for name in idata.children
              if name not in ("posterior", "constant_data", "observed_data")}
    coords = {"respondent": prep.ids.astype(object), "term": prep.terms}
    groups["posterior"] = post
    groups["constant_data"] = xr.Dataset(
        {"predictors": (("respondent", "term"), prep.X)}, coords=coords)
    groups["observed_data"] = xr.Dataset({data["outcome"]: (("respondent",), prep.y)},
                                         coords={"respondent": coords["respondent"]})
    return xr.DataTree.from_dict(groups)


def prior_predictive(study: Any, config: PeakEndConfig = PeakEndConfig(), draws: int = 500,
                     seed: int = 0) -> xr.DataTree:
    """Draws from the priors: group ``prior`` (both models' parameters, with ``weight``,
    ``a`` and ``noise_sd`` on the original scales) and ``prior_predictive``
    (``overall`` and ``overall_baseline`` for every respondent, on the outcome's scale)."""
    import pymc as pm

    prep = _prepare(study, config)
    data = prep.as_data(config)
    with _build_model(prep, config.priors, qr=False):
        idata = pm.sample_prior_predictive(draws=draws, random_seed=seed)
    prior = idata["prior"].to_dataset()
    prior = prior.assign(_original_scale(prior, data, "", prep.terms, "term"))
    prior = prior.assign(_original_scale(prior, data, BASELINE, prep.baseline,
                                         "baseline_term"))
    pp = idata["prior_predictive"].to_dataset()
    pp = pp * data["y_sd"] + data["y_mean"]
    return xr.DataTree.from_dict({"prior": prior, "prior_predictive": pp})


def fit_peak_end(study: Any, config: PeakEndConfig = PeakEndConfig(), seed: int = 0,
                 use_cache: bool = True) -> PeakEndResult:
    """Fit the peak-end and the mean-only regressions (see the module docstring).

    ``study``: anything with ``ratings`` and ``outcomes`` tables (and optionally an
    ``event_log`` or ``events``): a loaded Study or a synthetic one. Cached by
    (config, data, seed); ``use_cache=False`` always samples.
    """
    prep = _prepare(study, config)
    data = prep.as_data(config)
    full = config.to_dict()
    key_config = {k: v for k, v in full.items() if k not in ("prob", "decision_se")}

    def draw() -> xr.DataTree:
        model = _build_model(prep, config.priors)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="pymc")
            idata = sample(model, config.sampler, seed,
                           reuse_key=_structure_key(prep, config.priors))
        return _finish(idata, prep, data)

    result = fit_cached(PeakEndResult, key_config, data, seed, draw, var_names=REPORTED,
                        use_cache=use_cache)
    result.config = full
    return result


# ---------------------------------------------------------------- results

class PeakEndResult(FitResult):
    """Both fitted regressions, their LOO comparison and the verdict.

    Tables: :meth:`weights` (weights on the rating scale with P(>0)),
    :meth:`parameters` (intercept, weights, residual sd of both models),
    :meth:`comparison` (PSIS-LOO), :meth:`decision` / :meth:`verdict`.
    """

    model: ClassVar[str] = "peak_end"

    # -- plumbing
    @property
    def terms(self) -> list[str]:
        return list(self.data["terms"])

    @property
    def baseline_terms(self) -> list[str]:
        return list(self.data["baseline_terms"])

    @property
    def outcome(self) -> str:
        return self.data["outcome"]

    def _prob(self, prob: float | None) -> float:
        return float(prob if prob is not None else self.config.get("prob", 0.9))

    def _prefix(self, model: str) -> str:
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, not {model!r}")
        return "" if model == "peak_end" else BASELINE

    def features(self) -> pd.DataFrame:
        """The data the models were fitted to: one row per respondent."""
        X = self.idata["constant_data"].to_dataset()["predictors"]
        frame = X.to_pandas()[self.terms].rename_axis("respondent_id").reset_index()
        frame["respondent_id"] = frame["respondent_id"].astype(str)
        if "length" in frame:
            frame["length"] = frame["length"].astype("int64")
        frame[self.outcome] = self.idata["observed_data"].to_dataset()[self.outcome].values
        frame.columns.name = None
        return frame

    # -- posterior summaries
    def weights(self, prob: float | None = None, model: str = "peak_end") -> pd.DataFrame:
        """Per term: the weight on the original scales (overall points per rating point;
        per touchpoint for ``length``): mean, sd, equal-tailed interval, ``prob_positive``."""
        prob = self._prob(prob)
        prefix = self._prefix(model)
        draws = self.posterior[f"{prefix}weight"]
        dim = "term" if model == "peak_end" else "baseline_term"
        stats = interval(draws, prob)
        frame = pd.DataFrame({k: np.asarray(v) for k, v in stats.items()})
        frame.insert(0, "term", draws[dim].values.astype(str))
        frame["prob_positive"] = np.asarray((draws > 0).mean(("chain", "draw")))
        frame.insert(0, "model", model)
        return frame

    def parameters(self, prob: float | None = None) -> pd.DataFrame:
        """Intercept ``a``, the weights and ``noise_sd`` of both models (original scales)."""
        prob = self._prob(prob)
        rows = []
        for model in MODELS:
            prefix = self._prefix(model)
            for name in ("a", "noise_sd"):
                stats = interval(self.posterior[f"{prefix}{name}"], prob)
                rows.append({"model": model, "term": name,
                             **{k: float(v) for k, v in stats.items()}})
            rows += self.weights(prob, model).drop(columns="prob_positive").to_dict("records")
        return pd.DataFrame(rows)

    def partial_line(self, term: str, grid: np.ndarray | None = None,
                     prob: float | None = None) -> pd.DataFrame:
        """Expected outcome along ``term`` with the other predictors at their means."""
        if term not in self.terms:
            raise ValueError(f"{term!r} is not a term of this fit ({self.terms})")
        if grid is None:
            lo, hi = self.data["scale"] if term != "length" else (
                self.features()["length"].min(), self.features()["length"].max())
            grid = np.linspace(lo, hi, 25)
        grid = np.asarray(grid, dtype=float)
        x_mean = pd.Series(self.data["x_mean"], index=self.terms)
        w = self.posterior["weight"]
        base = self.posterior["a"] + (w * xr.DataArray(x_mean.to_numpy(), dims="term")).sum(
            "term") - w.sel(term=term) * x_mean[term]
        line = base + w.sel(term=term) * xr.DataArray(grid, dims="x")
        stats = interval(line, self._prob(prob))
        frame = pd.DataFrame({k: np.asarray(v) for k, v in stats.items()})
        frame.insert(0, term, grid)
        return frame

    # -- LOO
    def log_likelihood(self, model: str = "peak_end") -> xr.DataArray:
        """Pointwise log density of each respondent's outcome, (chain, draw, respondent)."""
        from scipy.stats import norm

        prefix = self._prefix(model)
        post = self.posterior
        X = self.idata["constant_data"].to_dataset()["predictors"]
        if model == "mean_only":
            X = X.sel(term=self.baseline_terms).rename(term="baseline_term")
        dim = "term" if model == "peak_end" else "baseline_term"
        mu = post[f"{prefix}a"] + xr.dot(post[f"{prefix}weight"], X, dim=dim)
        y = self.idata["observed_data"].to_dataset()[self.outcome]
        ll = norm.logpdf(y.values[None, None, :], mu.transpose("chain", "draw", "respondent")
                         .values, post[f"{prefix}noise_sd"].values[..., None])
        return xr.DataArray(ll, dims=("chain", "draw", "respondent"),
                            coords={"chain": post["chain"], "draw": post["draw"],
                                    "respondent": y["respondent"]}, name=model)

    def loo(self, model: str = "peak_end"):
        """PSIS-LOO of one model (ArviZ ``ELPDData``, pointwise), computed once."""
        import arviz as az

        cache = self.__dict__.setdefault("_loo", {})
        if model not in cache:
            prefix = self._prefix(model)
            names = [v for v in self.posterior.data_vars
                     if v.startswith(BASELINE) == bool(prefix)]
            tree = xr.DataTree.from_dict({
                "posterior": self.posterior[names],
                "log_likelihood": xr.Dataset({self.outcome: self.log_likelihood(model)})})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache[model] = az.loo(tree, pointwise=True, var_name=self.outcome)
        return cache[model]

    def comparison(self) -> pd.DataFrame:
        """The LOO table, best model first: elpd and its se, effective parameters ``p``,
        ``elpd_diff`` and ``dse`` (its se) against the best, stacking ``weight``, the
        largest Pareto k, the number of k above the threshold ``good_k``."""
        import arviz as az

        if "_comparison" in self.__dict__:
            return self.__dict__["_comparison"].copy()
        loos = {m: self.loo(m) for m in MODELS}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = az.compare(loos, round_to="none")
        rows = []
        for name in table.index:
            lo = loos[name]
            k = np.asarray(lo.pareto_k)
            rows.append({"model": name, "elpd": float(lo.elpd), "se": float(lo.se),
                         "p": float(lo.p), "elpd_diff": float(table.loc[name, "elpd_diff"]),
                         "dse": float(table.loc[name, "dse"]),
                         "weight": float(table.loc[name, "weight"]),
                         "pareto_k_max": float(k.max()), "good_k": float(lo.good_k),
                         "n_k_high": int((k > lo.good_k).sum()), "n": int(lo.n_data_points)})
        self.__dict__["_comparison"] = pd.DataFrame(rows)
        return self.__dict__["_comparison"].copy()

    def advantage(self) -> dict[str, float]:
        """elpd(peak-end) - elpd(mean-only) and the standard error of that difference
        (ArviZ's ``dse``)."""
        comp = self.comparison().set_index("model")
        diff = comp.loc["peak_end", "elpd"] - comp.loc["mean_only", "elpd"]
        return {"elpd_diff": float(diff), "se": float(comp["dse"].max())}

    # -- verdict
    def decision(self, prob: float | None = None) -> dict[str, Any]:
        """The verdict's category and the evidence behind it (module docstring rule)."""
        prob = self._prob(prob)
        k = float(self.config.get("decision_se", 2.0))
        adv = self.advantage()
        w = self.weights(prob).set_index("term")
        lo_col = [c for c in w.columns if c.endswith("_low")][0]
        above = [t for t in RULE_TERMS if t in w.index and w.loc[t, lo_col] > 0]
        comp = self.comparison()
        high_k = int(comp["n_k_high"].sum())
        d, se = adv["elpd_diff"], adv["se"]
        if not self.ok:
            verdict, reason = "inconclusive", "the sampler did not converge"
        elif high_k:
            verdict, reason = "inconclusive", (f"{high_k} Pareto k values above the threshold: "
                                               "the LOO estimate is unreliable")
        elif d > k * se and above:
            verdict, reason = "supported", (
                "the model with peak and end predicts the evaluation better and the "
                f"{' and '.join(above)} weight{'s are' if len(above) > 1 else ' is'} "
                "reliably positive")
        elif d < -k * se:
            verdict, reason = "not supported", "the mean-only model predicts better"
        elif d <= k * se and not above:
            verdict, reason = "not supported", ("peak and end add no predictive accuracy and "
                                                "neither weight is reliably positive")
        else:
            verdict, reason = "inconclusive", ("predictive accuracy (LOO) and the weights "
                                               "point in different directions")
        return {"verdict": verdict, "reason": reason, "elpd_diff": d, "se": se,
                "threshold_se": k, "positive_terms": above, "high_pareto_k": high_k,
                "prob": prob}

    def verdict(self, prob: float | None = None) -> str:
        """The decision in one plain-language paragraph, with its numbers."""
        dec = self.decision(prob)
        w = self.weights(prob).set_index("term")
        lo_col, hi_col = [c for c in w.columns if c.startswith("eti")]
        pct = f"{100 * dec['prob']:g}%"
        parts = [f"{t} {w.loc[t, 'mean']:.2f} ({pct} interval {w.loc[t, lo_col]:.2f} to "
                 f"{w.loc[t, hi_col]:.2f})" for t in ("peak", "end", "mean") if t in w.index]
        lead = {"supported": "The data support the peak-end rule",
                "not supported": "The data do not support the peak-end rule",
                "inconclusive": "The test of the peak-end rule is inconclusive"}[dec["verdict"]]
        return (f"{lead}: {dec['reason']}. Adding peak and end to a mean-only model changes "
                f"the expected log predictive density by {dec['elpd_diff']:.1f} "
                f"(SE {dec['se']:.1f}; the rule needs more than {dec['threshold_se']:g} SE). "
                f"Weights on the {self.outcome} scale per rating point: " + "; ".join(parts)
                + ".")
