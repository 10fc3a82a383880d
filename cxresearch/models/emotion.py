"""Emotion per touchpoint: a hierarchical ordinal model of one rating item.

**Model.** A rating ``y`` on the scale ``lo..hi`` (K categories) in cell ``c`` (by
default touchpoint x segment) follows a cumulative link model::

    P(y <= lo + k - 1 | c) = F(kappa_k - eta_c),   k = 1..K-1,   F = logistic or normal CDF
    eta_c = sum over blocks b of effect_b[level of c in b]

with one block per cell key (main effects) and one per pair of keys (two-way
interactions; no three-way terms). Every block is a sum-to-zero effect
(``pm.ZeroSumNormal``), so the intercept lives only in the cutpoints: effects and
cutpoints are identified separately (an intercept shared between free effects and
cutpoints is a ridge in the posterior, a cause of slow mixing).
The cutpoints are induced by the category probabilities ``pi`` of the average cell
(eta = 0) with a Dirichlet prior (Betancourt 2019): ``kappa_k = F^-1(pi_1 + ... +
pi_k)``. Blocks with at least 5 free effects (touchpoints; touchpoint x segment)
learn their standard deviation: partial pooling. Blocks with fewer (4 segments, 2
waves, segment x wave) get a fixed-scale prior: so few levels cannot teach an sd, and
a learnt sd near zero is a funnel that the sampler cannot cross.

**Parametrisation** (what makes it converge). A pooled block is written
``effect = sd^(1-w) * z``, ``z ~ ZeroSumNormal(sd^w)``: ``w = 1`` is centred (best
when the data pin every level), ``w = 0`` non-centred (best when they do not). With
``parametrisation="auto"`` a pilot on the counts (cell locations by Fisher scoring,
block sds by moments net of sampling noise) sets ``w = I sd^2 / (1 + I sd^2)``
per block, ``I`` the information of a typical level (partial non-centring,
Papaspiliopoulos, Roberts & Skold 2007); when the levels spread no more than their
noise, sd^2 is taken at the noise level ``1/I`` (w = 1/2) or a quarter of the prior
scale squared, whichever is smaller. ``result.data["centring"]`` keeps the weights.
nutpie adapts a low-rank mass matrix (counts model), which follows the remaining
correlation between a block and its sd. The compiled model is reused within a
process for data of the same shape (a refit costs the sampling, about a second).

**Convergence** (``result.ok``, ``result.diagnostics``): R-hat, bulk and tail ESS
over the reported quantities (cell spectra, mean ratings, boxes, cutpoints) and
the divergences; :meth:`EmotionResult.parameters` gives them for every parameter.

**Priors** (logit scale; scales divided by 1.6 for probit; see
:class:`EmotionPriors`): ``pi ~ Dirichlet(2, ..., 2)``; the sd of a pooled main effect
``~ Gamma(2, 2/1)`` (mean 1), of a pooled interaction ``~ Gamma(2, 2/0.5)`` (mean 0.5):
a zero-avoiding prior (Chung et al. 2013) that still allows sds of 0.05 and keeps
the sampler out of the neck of the funnel; fixed blocks ``ZeroSumNormal(1)`` (main)
or ``ZeroSumNormal(0.5)`` (interaction); the sd of the respondent intercept
``~ HalfNormal(1)``. :func:`prior_predictive` draws from them: on a 7-point scale the
prior cell means spread over most of the scale and no category is favoured.

**Two variants.**

* Counts (default, ``respondent_effects=False``): the ratings are aggregated to
  counts per cell x category and fitted with a multinomial likelihood, so the cost
  depends on the number of cells, not of ratings: it scales to millions. The cell
  spectra are the population-averaged (marginal) distributions of the ratings in
  each cell. Use it unless you need within-person comparisons.
* Respondent effects (``respondent_effects=True``): a row-level model with a
  respondent intercept ``u_r ~ Normal(0, sd_respondent)`` (scale-use heterogeneity:
  some people rate everything high). Use it when people rate many touchpoints
  and you need within-person contrasts or the size of scale-use differences; its
  cost grows with the number of ratings. Cell quantities integrate ``u`` out
  (Gauss-Hermite quadrature), so they mean the same as in the counts model.

**Survey weights** (``weighted=True``, the default; ``respondents.weight``, see
:func:`cxresearch.models.inputs.survey_weights`): within each cell the
counts are the weighted counts rescaled to Kish's effective sample size
``n_eff = (sum w)^2 / sum w^2``: the shares are the weighted shares and the
precision is that of ``n_eff`` ratings (a pseudo-likelihood; other design effects are
ignored). The row-level variant weights each rating's log-likelihood the same way.
Pooled summaries (over segments, waves...) mix cells by the sum of the weights of
their ratings, i.e. by the (weighted) population of raters; without weights by the
number of ratings.

Intervals are equal-tailed; their probability is in the column names
(``eti90_low``/``eti90_high``).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from cxresearch.models.base import FitResult, SamplerConfig, fit_cached, interval, sample
from cxresearch.models.inputs import item_scale, survey_weights
from cxresearch.models.ordinal import (
    LINKS,
    category_probs,
    cdf_tensor,
    counts_loglik,
    dirichlet_cutpoints,
    link_cdf,
    link_quantile,
)
from cxresearch.schema import journey_order, label_key

PARAMETRISATIONS = ("auto", "centred", "non-centred")
QUANTITIES = ("mean_rating", "bottom_box", "top_box")
PROBIT_SCALE = 1.6  # a logit effect of 1.6 is about a probit effect of 1
MIN_POOLED_DOF = 5  # blocks with fewer free effects get a fixed-scale prior (no learnt sd)
GH_NODES = 24  # quadrature nodes over the respondent intercept
SEPARATOR = " | "
MODEL_VERSION = 1  # part of the cache key: bump when the model's code changes its numbers
# nutpie, counts model: a low-rank update of the mass matrix follows the correlation
# between an interaction block and its sd (about 2x the ESS of a diagonal one); the
# row-level model keeps the diagonal one (low rank costs 10x the time with a parameter
# per respondent)
NUTPIE_OPTIONS = {"adaptation": "low_rank"}


@dataclass(frozen=True)
class EmotionPriors:
    """Weakly informative priors, on the logit scale (divided by 1.6 for probit).

    ``concentration``: Dirichlet concentration of the category probabilities of the
    average cell, which induce the cutpoints (2: every category plausible, none
    favoured). ``main_sd`` / ``interaction_sd``: the mean of the Gamma(2, 2/s) prior of
    a pooled block's sd, and the sd of a fixed block. ``respondent_sd``: HalfNormal
    scale of the sd of the respondent intercept.
    """

    concentration: float = 2.0
    main_sd: float = 1.0
    interaction_sd: float = 0.5
    respondent_sd: float = 1.0


@dataclass(frozen=True)
class EmotionConfig:
    """What to fit.

    item: the rating item (``ratings.item``). link: ``"logit"`` (cumulative logit) or
    ``"probit"``. cells: the keys of a cell; ``"touchpoint"`` and any respondents
    columns (``segment``, ``wave``, ...), e.g. ``("touchpoint", "wave")``.
    weighted: survey weights from ``respondents.weight``. respondent_effects:
    the row-level variant with a respondent intercept. parametrisation: ``"auto"``
    (centring weights from a pilot on the counts), ``"centred"`` or ``"non-centred"``.
    sampler: nutpie, 2 chains x 2000 draws after 1000 tuning steps, target accept 0.95
    (0.9 left single divergences in small designs). 2 x 1000 draws converge too (ESS
    > 900), but the maximum of the folded R-hat over the several hundred reported
    quantities then passes 1.01 by chance in one fit in ten (72 cells: one in two);
    2000 draws keep it below 1.008 for about a second more of sampling.
    prob: probability of the reported intervals (not part of the fit).
    """

    item: str = "valence"
    link: str = "logit"
    cells: tuple[str, ...] = ("touchpoint", "segment")
    weighted: bool = True
    respondent_effects: bool = False
    priors: EmotionPriors = EmotionPriors()
    parametrisation: str = "auto"
    sampler: SamplerConfig = SamplerConfig(draws=2000, tune=1000, target_accept=0.95)
    prob: float = 0.9

    def __post_init__(self) -> None:
        cells = (self.cells,) if isinstance(self.cells, str) else tuple(self.cells)
        object.__setattr__(self, "cells", cells)
        if self.link not in LINKS:
            raise ValueError(f"link must be one of {LINKS}, not {self.link!r}")
        if self.parametrisation not in PARAMETRISATIONS:
            raise ValueError(f"parametrisation must be one of {PARAMETRISATIONS}")
        if "touchpoint" not in cells or len(set(cells)) != len(cells):
            raise ValueError(f"cells must hold 'touchpoint' once, got {cells}")
        if not 0 < self.prob < 1:
            raise ValueError("prob must be between 0 and 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- data

@dataclass
class _Prepared:
    keys: tuple[str, ...]
    levels: dict[str, list[str]]
    scale: tuple[int, int]
    counts: np.ndarray  # (cells, K) ratings
    wcounts: np.ndarray  # (cells, K) sum of weights
    w2: np.ndarray  # (cells,) sum of squared weights
    touchpoints: dict[str, dict[str, Any]]
    notes: list[str]
    rows: dict[str, np.ndarray] | None = None  # row level: cell, respondent, y, lam
    respondents: list[str] | None = None
    blocks: dict[str, str] = field(default_factory=dict)  # block -> none/fixed/pooled
    centring: dict[str, float] = field(default_factory=dict)  # pooled block -> weight w

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(self.levels[k]) for k in self.keys)

    @property
    def weight(self) -> np.ndarray:
        return self.wcounts.sum(1)

    @property
    def n_eff(self) -> np.ndarray:
        w = self.weight
        return np.divide(w ** 2, self.w2, out=np.zeros_like(w), where=self.w2 > 0)

    @property
    def effective_counts(self) -> np.ndarray:
        """Weighted counts rescaled to each cell's Kish effective sample size."""
        w = self.weight
        scale = np.divide(self.n_eff, w, out=np.zeros_like(w), where=w > 0)
        return self.wcounts * scale[:, None]

    def cell_index(self) -> dict[str, np.ndarray]:
        grid = np.unravel_index(np.arange(int(np.prod(self.shape))), self.shape)
        return dict(zip(self.keys, grid, strict=True))

    def cell_labels(self) -> list[str]:
        idx = self.cell_index()
        return [SEPARATOR.join(self.levels[k][idx[k][c]] for k in self.keys)
                for c in range(len(self.counts))]

    def as_data(self) -> dict[str, Any]:
        idx = self.cell_index()
        data = {"keys": list(self.keys), "levels": self.levels, "scale": list(self.scale),
                "cells": {k: [self.levels[k][i] for i in idx[k]] for k in self.keys},
                "counts": self.counts.astype(int).tolist(),
                "weighted_counts": np.round(self.wcounts, 10).tolist(),
                "n_eff": np.round(self.n_eff, 10).tolist(),
                "touchpoints": self.touchpoints, "notes": self.notes,
                "parametrisation": self.blocks, "centring": self.centring}
        if self.rows is not None:
            digest = hashlib.sha256()
            for name in sorted(self.rows):
                digest.update(name.encode() + np.ascontiguousarray(self.rows[name]).tobytes())
            data["rows"] = {"n": int(len(self.rows["y"])), "respondents": len(self.respondents),
                            "sha256": digest.hexdigest()[:20]}
        return data


def _positions(keys: pd.Series, values: pd.Series) -> np.ndarray:
    """The position of each value among ``keys`` (-1 if absent): Arrow's hash lookup,
    which keeps up with 10^7 string ids (pandas' ``get_indexer`` is 4x slower)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pc.index_in(pa.array(values.astype("str")), value_set=pa.array(keys.astype("str")))
    return pc.fill_null(found, -1).to_numpy().astype(np.int64)


def _journey_map(study: Any, rated: pd.Index) -> tuple[list[str], dict[str, dict[str, Any]]]:
    tp = getattr(study, "touchpoints", None)
    info = {}
    if tp is not None and len(tp):
        for row in tp.drop_duplicates("touchpoint").itertuples(index=False):
            info[str(row.touchpoint)] = {
                "stage": None if pd.isna(getattr(row, "stage", None)) else str(row.stage),
                "stage_order": (None if pd.isna(getattr(row, "stage_order", None))
                                else int(row.stage_order))}
    order = journey_order(tp, rated)
    return order, {t: info.get(t, {"stage": None, "stage_order": None}) for t in order}


def _prepare(study: Any, config: EmotionConfig) -> _Prepared:
    """Aggregate the ratings of ``config.item`` to counts per cell x category."""
    ratings = study.ratings
    if "item" in ratings:
        keep = (ratings["item"] == config.item).to_numpy(dtype=bool, na_value=False)
        ratings = ratings if keep.all() else ratings[keep]
    if not len(ratings):
        raise ValueError(f"no ratings of item {config.item!r}")
    lo, hi = item_scale(study, ratings, config.item)
    K = hi - lo + 1
    if K < 3:
        raise ValueError(f"an ordinal model needs at least 3 categories, the scale is {lo}-{hi}")
    notes: list[str] = []
    people = study.respondents
    pos = _positions(people["respondent_id"], ratings["respondent_id"])
    valid = pos >= 0
    if (~valid).any():
        notes.append(f"{int((~valid).sum())} ratings of respondents missing from the "
                     "respondents table not used")
    value = ratings["value"].to_numpy(dtype=float, na_value=np.nan)
    y = value - lo
    bad = valid & ~((y >= 0) & (y < K) & (y == np.round(y)))
    if bad.any():
        raise ValueError(f"{int(bad.sum())} ratings of {config.item!r} fall outside the scale "
                         f"{lo}-{hi} or are not whole numbers")
    tp_code, tp_names = pd.factorize(ratings["touchpoint"].astype("str"))
    if (valid & (tp_code < 0)).any():
        notes.append(f"{int((valid & (tp_code < 0)).sum())} ratings without a touchpoint "
                     "not used")
    valid &= tp_code >= 0
    order, tp_info = _journey_map(study, pd.Index(tp_names[np.unique(tp_code[valid])]))
    unmapped = [t for t in order if tp_info[t]["stage"] is None]
    if unmapped:
        notes.append(f"touchpoints without a stage in the journey map: {', '.join(unmapped)}")
    codes = {"touchpoint": np.where(valid, pd.Index(order).get_indexer(tp_names)[tp_code], -1)}
    levels = {"touchpoint": order}
    for key in config.cells:
        if key == "touchpoint":
            continue
        if key not in people:
            raise ValueError(f"cell key {key!r} is not a respondents column")
        col = people[key].astype("str")
        missing = people[key].isna().to_numpy()
        uniques = sorted(col[~missing].unique(), key=label_key)  # waves in time order
        person_code = pd.Index(uniques).get_indexer(col)
        person_code[missing] = -1
        row_code = np.where(valid, person_code[np.maximum(pos, 0)], -1)
        used = np.unique(row_code[valid & (row_code >= 0)])
        remap = np.full(len(uniques) + 1, -1)
        remap[used] = np.arange(len(used))
        levels[key] = [str(uniques[i]) for i in used]
        codes[key] = remap[row_code]
        lost = valid & (codes[key] < 0)
        if lost.any():
            notes.append(f"{int(lost.sum())} ratings whose respondent has no {key} not used")
        valid &= codes[key] >= 0
    if not valid.any():
        raise ValueError(f"no usable ratings of item {config.item!r}")
    weight = survey_weights(people, notes) if config.weighted else None
    weight = np.ones(len(people)) if weight is None else weight
    keys = config.cells
    shape = tuple(len(levels[k]) for k in keys)
    cell = np.ravel_multi_index(tuple(codes[k][valid] for k in keys), shape)
    yv = y[valid].astype(np.int64)
    w = weight[pos[valid]]
    flat = cell * K + yv
    size = int(np.prod(shape)) * K
    counts = np.bincount(flat, minlength=size).reshape(-1, K)
    wcounts = np.bincount(flat, weights=w, minlength=size).reshape(-1, K)
    w2 = np.bincount(cell, weights=w * w, minlength=int(np.prod(shape)))
    prep = _Prepared(tuple(keys), levels, (lo, hi), counts, wcounts, w2, tp_info, notes)
    if config.respondent_effects:
        resp_codes, resp_index = np.unique(pos[valid], return_inverse=True)
        scale = np.divide(prep.n_eff, prep.weight, out=np.zeros(len(w2)), where=prep.weight > 0)
        prep.rows = {"cell": cell.astype(np.int64), "respondent": resp_index.astype(np.int64),
                     "y": yv, "lam": w * scale[cell]}
        prep.respondents = people["respondent_id"].astype(str).to_numpy()[resp_codes].tolist()
    prep.blocks = _block_kinds(prep)
    prep.centring = _centring(prep, config)
    return prep


def emotion_counts(study: Any, config: EmotionConfig = EmotionConfig()) -> pd.DataFrame:
    """The model's input: ratings, weighted and effective counts per cell x category."""
    prep = _prepare(study, replace(config, respondent_effects=False))
    idx = prep.cell_index()
    K = prep.counts.shape[1]
    frame = pd.DataFrame({k: np.repeat(np.array(prep.levels[k], dtype=object)[idx[k]], K)
                          for k in prep.keys})
    frame["value"] = np.tile(np.arange(prep.scale[0], prep.scale[1] + 1), len(prep.counts))
    frame["n"] = prep.counts.ravel()
    frame["weighted"] = prep.wcounts.ravel()
    frame["effective"] = prep.effective_counts.ravel()
    frame.attrs["notes"] = prep.notes
    return frame


# ---------------------------------------------------------------- model

def _blocks(keys: tuple[str, ...]) -> list[tuple[str, ...]]:
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:]]
    return [(k,) for k in keys] + pairs


def _block_name(block: tuple[str, ...]) -> str:
    return "_x_".join(block)


def _block_kinds(prep: _Prepared) -> dict[str, str]:
    """Each effect block's prior: "pooled" (learnt sd), "fixed" (fixed sd) or "none".

    A block with fewer than MIN_POOLED_DOF free effects (4 segments: 3; 2 waves: 1)
    gets a fixed-scale prior: so few levels cannot teach their own sd, and a learnt sd
    near zero makes a funnel the sampler cannot cross. A block without free effects
    (a key with one level) is left out.
    """
    out = {}
    for block in _blocks(prep.keys):
        dof = int(np.prod([len(prep.levels[k]) - 1 for k in block]))
        out[_block_name(block)] = ("none" if dof == 0 else "fixed" if dof < MIN_POOLED_DOF
                                   else "pooled")
    return out


def _density(x: np.ndarray, link: str) -> np.ndarray:
    from scipy.special import expit
    from scipy.stats import norm

    if link == "logit":
        e = expit(x)
        return e * (1 - e)
    return norm.pdf(x)


def _centring(prep: _Prepared, config: EmotionConfig) -> dict[str, float]:
    """The centring weight w of each pooled block (1 centred, 0 non-centred).

    A pooled block is written ``effect = sd^(1 - w) * z`` with ``z ~ ZeroSumNormal(sd^w)``
    (partial non-centring, Papaspiliopoulos et al. 2007): the best w depends on how
    strongly the data pin a level compared with the spread of the levels,
    ``w = I sd^2 / (1 + I sd^2)`` with ``I`` the Fisher information of a typical
    level. "auto" estimates both from the counts before sampling (a pilot: cell
    locations by Fisher scoring, block sds by moments net of sampling noise);
    "centred" and "non-centred" fix w at 1 or 0.
    """
    pooled = [b for b in _blocks(prep.keys) if prep.blocks[_block_name(b)] == "pooled"]
    if config.parametrisation != "auto":
        w = 1.0 if config.parametrisation == "centred" else 0.0
        return {_block_name(b): w for b in pooled}
    if not pooled:
        return {}
    F = link_cdf(config.link)
    unit = 1.0 if config.link == "logit" else 1 / PROBIT_SCALE
    counts = prep.effective_counts
    total = counts.sum(0) + 0.5
    inner = link_quantile(np.cumsum(total)[:-1] / total.sum(), config.link)
    kappa = np.concatenate([[-np.inf], inner, [np.inf]])
    n = counts.sum(1)
    eta = np.zeros(len(n))
    for _ in range(25):  # Fisher scoring for each cell's location given pooled cutpoints
        upper, lower = kappa[None, 1:] - eta[:, None], kappa[None, :-1] - eta[:, None]
        pk = np.clip(F(upper) - F(lower), 1e-12, None)
        df = _density(lower, config.link) - _density(upper, config.link)
        info = (df ** 2 / pk).sum(1)
        score = (counts * df / pk).sum(1)
        eta = np.clip(eta + np.divide(score, n * info, out=np.zeros_like(eta), where=n > 0),
                      -4, 4)
    cell_info = n * info
    grid = np.where(n > 0, eta, np.nan).reshape(prep.shape)
    noise = np.where(n > 0, 1 / np.maximum(cell_info, 1e-12), np.nan).reshape(prep.shape)
    has = (n > 0).reshape(prep.shape)
    out = {}
    for block in pooled:
        axes = tuple(i for i, k in enumerate(prep.keys) if k not in block)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m = np.nan_to_num(np.nanmean(grid, axis=axes) if axes else grid.copy())
        m_cells = has.sum(axis=axes) if axes else has.astype(float)
        v = np.nansum(noise, axis=axes) if axes else np.nan_to_num(noise)
        v = np.divide(v, m_cells ** 2, out=np.zeros_like(v, dtype=float), where=m_cells > 0)
        theta = m - m.mean()
        if theta.ndim == 2:
            theta = m - m.mean(0, keepdims=True) - m.mean(1, keepdims=True) + m.mean()
        L, dof = theta.size, int(np.prod([d - 1 for d in theta.shape]))
        level_info = np.nansum(np.where(has, cell_info.reshape(prep.shape), 0), axis=axes) \
            if axes else cell_info.reshape(prep.shape)
        lam = max(float(np.median(level_info)), 1e-6)
        # no spread beyond noise: the sd's posterior then sits near the noise level 1/sqrt(lam)
        # with plenty of data, near its prior with little (w about 1/2 at most)
        prior = (config.priors.main_sd if len(block) == 1 else config.priors.interaction_sd)
        floor = min(1 / lam, (prior * unit / 2) ** 2)
        sd2 = max(((theta ** 2).sum() - dof / L * v.sum()) / dof, floor)
        out[_block_name(block)] = round(float(lam * sd2 / (1 + lam * sd2)), 3)
    return out


def _build_model(prep: _Prepared, config: EmotionConfig,
                 ordered_rows: tuple[np.ndarray, np.ndarray] | None = None):
    """The PyMC model. ``ordered_rows`` (cell index, category index of every rating;
    logit link, counts variant) swaps the counts likelihood for the row-level
    ``pm.OrderedLogistic`` with the same priors: the baseline of the benchmarks."""
    import pymc as pm
    import pytensor.tensor as pt

    lo, hi = prep.scale
    K = hi - lo + 1
    values = np.arange(lo, hi + 1, dtype=float)
    pri, link = config.priors, config.link
    unit = 1.0 if link == "logit" else 1 / PROBIT_SCALE
    idx = prep.cell_index()
    coords = {**{k: prep.levels[k] for k in prep.keys}, "cell": prep.cell_labels(),
              "category": values.astype(int).tolist(), "cutpoint": list(range(1, K))}
    if prep.rows is not None:
        coords["respondent"] = prep.respondents
    with pm.Model(coords=coords) as model:
        kappa = dirichlet_cutpoints(K, pri.concentration, link)
        eta = pt.zeros(len(prep.counts))
        for block in _blocks(prep.keys):
            name = _block_name(block)
            prior = pri.main_sd if len(block) == 1 else pri.interaction_sd
            kind = prep.blocks[name]
            if kind == "none":
                continue
            if kind == "fixed":
                effect = pm.ZeroSumNormal(f"effect_{name}", sigma=prior * unit, dims=block,
                                          n_zerosum_axes=len(block))
                eta = eta + effect[tuple(idx[k] for k in block)]
                continue
            sd = pm.Gamma(f"sd_{name}", alpha=2.0, beta=2.0 / (prior * unit))
            w = pm.Data(f"centring_{name}", np.float64(prep.centring[name]))
            raw = pm.ZeroSumNormal(f"z_{name}", sigma=pt.exp(w * pt.log(sd)), dims=block,
                                   n_zerosum_axes=len(block))
            effect = pm.Deterministic(f"effect_{name}", pt.exp((1 - w) * pt.log(sd)) * raw,
                                      dims=block)
            eta = eta + effect[tuple(idx[k] for k in block)]
        if ordered_rows is not None:
            cell, y = ordered_rows
            pm.OrderedLogistic("y", eta=eta[cell], cutpoints=kappa, observed=y, compute_p=False)
        elif prep.rows is None:
            counts = pm.Data("counts", prep.effective_counts, dims=("cell", "category"))
            counts_loglik(counts, kappa, eta, link)
        else:
            sd_u = pm.HalfNormal("sd_respondent", sigma=pri.respondent_sd * unit)
            z = pm.Normal("z_respondent", 0.0, 1.0, dims="respondent")
            model.add_coord("rating", np.arange(len(prep.rows["y"])))
            rows = {k: pm.Data(f"row_{k}", v, dims="rating") for k, v in prep.rows.items()}
            eta_row = eta[rows["cell"]] + sd_u * z[rows["respondent"]]
            cdf = cdf_tensor(kappa[None, :] - eta_row[:, None], link)
            n = cdf.shape[0]
            ext = pt.concatenate([pt.zeros((n, 1)), cdf, pt.ones((n, 1))], axis=1)
            y = rows["y"]
            p_row = ext[pt.arange(n), y + 1] - ext[pt.arange(n), y]
            pm.Potential("loglik", (rows["lam"] * pt.log(pt.clip(p_row, 1e-300, 1.0))).sum())
    return model


def _derive(post: xr.Dataset, data: dict[str, Any], link: str) -> xr.Dataset:
    """Cell linear predictors, spectra, mean rating and boxes from the parameters' draws.

    Computed after sampling (numpy) rather than in the model graph: the same numbers,
    a smaller graph to compile. With a respondent intercept the spectra average over it
    (Gauss-Hermite quadrature): the population-averaged distribution of each cell.
    """
    keys = data["keys"]
    cells = pd.DataFrame(data["cells"])
    sample_dims = [d for d in post["cutpoints"].dims if d != "cutpoint"]
    eta = (xr.zeros_like(post["cutpoints"].isel(cutpoint=0, drop=True))
           + xr.DataArray(np.zeros(len(cells)), dims="cell"))
    for block in _blocks(tuple(keys)):
        if data["parametrisation"][_block_name(block)] == "none":
            continue
        effect = post[f"effect_{_block_name(block)}"]
        where = {k: xr.DataArray(pd.Index(data["levels"][k]).get_indexer(cells[k]), dims="cell")
                 for k in block}
        eta = eta + effect.isel(where).drop_vars(list(block), errors="ignore")
    eta = eta.transpose(*sample_dims, "cell")
    F = link_cdf(link)
    kappa = post["cutpoints"].transpose(*sample_dims, "cutpoint").values
    e = eta.values
    if "sd_respondent" in post:
        x, wq = np.polynomial.hermite_e.hermegauss(GH_NODES)
        wq = wq / wq.sum()
        sd = post["sd_respondent"].transpose(*sample_dims).values
        shifted = e[..., None] + sd[..., None, None] * x  # (..., cell, node)
        cdf = F(kappa[..., None, None, :] - shifted[..., None])
        p = np.einsum("...gk,g->...k", category_probs(cdf), wq)
    else:
        p = category_probs(F(kappa[..., None, :] - e[..., None]))
    lo, hi = data["scale"]
    values = np.arange(lo, hi + 1)
    coords = {d: post[d] for d in sample_dims if d in post.coords}
    coords |= {"cell": [SEPARATOR.join(str(v) for v in row)
                        for row in cells[keys].itertuples(index=False)],
               "category": values}
    dims = (*sample_dims, "cell")
    return xr.Dataset({"eta": (dims, e), "p": ((*dims, "category"), p),
                       "mean_rating": (dims, p @ values),
                       "bottom_box": (dims, p[..., :2].sum(-1)),
                       "top_box": (dims, p[..., -2:].sum(-1))}, coords=coords)


def _report_vars(prep: _Prepared) -> list[str]:
    """What the convergence diagnostics (and ``ok``) cover: the reported quantities.

    The cell spectra, mean ratings and boxes (every summary, contrast and curve is a
    function of them) and the cutpoints. Hyper-parameters (block sds) and single
    latent effects are not reported and left out: an interaction sd whose true value
    is near zero mixes slowly (bulk ESS 150-250 per 2,000 draws) while the cells it
    shrinks reach 1,500 and more, and the maximum of the folded R-hat over hundreds
    of near-zero effects exceeds 1.01 by chance with two chains.
    :meth:`EmotionResult.parameters` lists R-hat and ESS of every parameter.
    """
    return ["cutpoints", "p", *QUANTITIES]


def _model_vars(prep: _Prepared) -> list[str]:
    names = ["cutpoints", "category_probs"]
    for name, kind in prep.blocks.items():
        names += ([f"effect_{name}"] if kind != "none" else []) + (
            [f"sd_{name}"] if kind == "pooled" else [])
    return names + (["sd_respondent"] if prep.rows is not None else [])


def _structure_key(prep: _Prepared, config: EmotionConfig) -> str:
    graph = ("link", "cells", "respondent_effects", "priors")  # the rest only changes data
    blob = {"config": {k: v for k, v in config.to_dict().items() if k in graph},
            "levels": prep.levels, "K": prep.counts.shape[1], "blocks": prep.blocks,
            "rows": None if prep.rows is None else [len(prep.rows["y"]), prep.respondents]}
    return "emotion-" + hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def prior_predictive(study: Any, config: EmotionConfig = EmotionConfig(), draws: int = 500,
                     seed: int = 0) -> xr.DataTree:
    """Draws from the prior: group ``prior`` (cutpoints, effects, ``p``, cell mean,
    bottom and top box) and ``prior_predictive`` (``counts``: ratings per cell x
    category simulated for the observed number of ratings in each cell)."""
    import pymc as pm

    prep = _prepare(study, config)
    model = _build_model(prep, config)
    names = [v for v in _model_vars(prep) if v in model.named_vars]
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Potential.*")
        idata = pm.sample_prior_predictive(draws=draws, var_names=names, random_seed=seed)
    prior = idata["prior"].to_dataset()
    prior = prior.merge(_derive(prior, prep.as_data(), config.link))
    idata["prior"] = xr.DataTree(prior)
    rng = np.random.default_rng(seed)
    p = prior["p"].values  # (chain, draw, cell, category)
    n = np.broadcast_to(prep.counts.sum(1), p.shape[:-1])
    sim = rng.multinomial(n, p / p.sum(-1, keepdims=True))
    idata["prior_predictive"] = xr.DataTree(xr.Dataset(
        {"counts": (("chain", "draw", "cell", "category"), sim)},
        coords={"cell": prior["cell"], "category": prior["category"]}))
    return idata


def fit_emotion(study: Any, config: EmotionConfig = EmotionConfig(), *, seed: int = 0,
                use_cache: bool = True) -> EmotionResult:
    """Fit the emotion model (see the module docstring) to a study's ratings.

    ``study`` is anything with ``ratings``, ``respondents`` and ``touchpoints``
    tables (a loaded Study or a synthetic one). Fits are cached by (config, cell
    data, seed); ``use_cache=False`` always samples.
    """
    prep = _prepare(study, config)
    full = config.to_dict()
    key_config = {k: v for k, v in full.items() if k != "prob"} | {"version": MODEL_VERSION}

    def draw() -> xr.DataTree:
        model = _build_model(prep, config)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="pymc")
            idata = sample(model, config.sampler, seed, reuse_key=_structure_key(prep, config),
                           nutpie_options=NUTPIE_OPTIONS if prep.rows is None else None)
        post = idata["posterior"].to_dataset()
        idata["posterior"] = xr.DataTree(post.merge(_derive(post, data, config.link)))
        return idata

    data = prep.as_data()
    result = fit_cached(EmotionResult, key_config, data, seed, draw,
                        var_names=_report_vars(prep), use_cache=use_cache)
    result.config = full
    return result


# ---------------------------------------------------------------- results

class EmotionResult(FitResult):
    """A fitted emotion model with tidy summaries per cell, touchpoint and contrast.

    Every summary has the posterior ``mean``, ``sd`` and the equal-tailed interval
    (``eti90_low``/``eti90_high`` for prob 0.9), the number of ratings ``n`` behind it
    and, where it is a share or mean, the ``observed`` (weighted) sample value.
    Quantities: ``mean_rating``, ``bottom_box`` (share in the two lowest categories)
    and ``top_box`` (two highest).
    """

    model: ClassVar[str] = "emotion"

    # -- plumbing
    @property
    def keys(self) -> list[str]:
        return list(self.data["keys"])

    @property
    def scale(self) -> tuple[int, int]:
        lo, hi = self.data["scale"]
        return int(lo), int(hi)

    @property
    def values(self) -> np.ndarray:
        return np.arange(self.scale[0], self.scale[1] + 1)

    def _prob(self, prob: float | None) -> float:
        return float(prob if prob is not None else self.config.get("prob", 0.9))

    def _cells(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.data["cells"])
        counts = np.asarray(self.data["counts"], dtype=float)
        frame["n"] = counts.sum(1).astype(int)
        frame["weight"] = np.asarray(self.data["weighted_counts"], dtype=float).sum(1)
        frame["n_eff"] = np.asarray(self.data["n_eff"], dtype=float)
        return frame

    def _p(self) -> np.ndarray:
        """Posterior draws of the cell spectra, (samples, cells, categories)."""
        p = self.posterior["p"].transpose("chain", "draw", "cell", "category").values
        return p.reshape(-1, *p.shape[2:])

    def _pool(self, keep: list[str], standardise: str | None = None
              ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Spectra pooled over the cell keys not in ``keep``: groups, draws, observed.

        Cells are mixed by the sum of their ratings' weights. With ``standardise``
        (a key in ``keep``) the mixing weights are those of all its levels together,
        so groups that differ only in that key are compared on the same mix.
        """
        cells = self._cells()
        wc = np.asarray(self.data["weighted_counts"], dtype=float)
        keep = list(keep)
        for k in keep:
            if k not in self.keys:
                raise ValueError(f"{k!r} is not a cell key of this fit ({self.keys})")
        ordered = {k: pd.Categorical(cells[k], self.data["levels"][k]) for k in keep}
        group_frame = pd.DataFrame(ordered)
        codes = group_frame.groupby(keep, observed=True, sort=True).ngroup().to_numpy()
        groups = (group_frame.drop_duplicates().sort_values(keep).reset_index(drop=True)
                  .astype({k: str for k in keep}))
        mix = cells["weight"].to_numpy(dtype=float)
        if standardise is not None:
            rest = [k for k in self.keys if k not in keep] + [k for k in keep if k != standardise]
            if rest:
                common = cells.groupby(rest, sort=False)["weight"].transform("sum")
                mix = common.to_numpy(dtype=float)
            else:
                mix = np.ones(len(cells))
        G = len(groups)
        total = np.bincount(codes, weights=mix, minlength=G)
        empty = total[codes] == 0  # a group without ratings: its cells mixed equally
        mix = np.where(empty, 1.0, mix)
        total = np.bincount(codes, weights=mix, minlength=G)
        share = mix / total[codes]
        M = np.zeros((G, len(cells)))
        M[codes, np.arange(len(cells))] = share
        draws = np.einsum("gc,sck->sgk", M, self._p())
        observed = np.zeros((G, wc.shape[1]))
        np.add.at(observed, codes, wc)
        observed = np.divide(observed, observed.sum(1, keepdims=True),
                             out=np.full_like(observed, np.nan),
                             where=observed.sum(1, keepdims=True) > 0)
        groups["n"] = np.bincount(codes, weights=cells["n"], minlength=G).astype(int)
        return groups, draws, observed

    def _quantities(self, spectra: np.ndarray) -> dict[str, np.ndarray]:
        return {"mean_rating": spectra @ self.values, "bottom_box": spectra[..., :2].sum(-1),
                "top_box": spectra[..., -2:].sum(-1)}

    def _long(self, groups: pd.DataFrame, draws: np.ndarray, observed: np.ndarray,
              prob: float, quantities: tuple[str, ...] = QUANTITIES) -> pd.DataFrame:
        q_draws, q_obs = self._quantities(draws), self._quantities(observed)
        parts = []
        for q in quantities:
            part = groups.drop(columns="n").copy()
            part["quantity"] = q
            part = pd.concat([part, pd.DataFrame(interval(q_draws[q], prob))], axis=1)
            part["n"] = groups["n"].to_numpy()
            part["observed"] = q_obs[q]
            parts.append(part)
        return pd.concat(parts, ignore_index=True)

    # -- public summaries
    def cells(self, prob: float | None = None) -> pd.DataFrame:
        """Per cell and quantity: posterior mean, sd, interval, ratings ``n``, ``observed``."""
        groups, draws, observed = self._pool(self.keys)
        return self._long(groups, draws, observed, self._prob(prob))

    def spectrum(self, by: list[str] | tuple[str, ...] | None = None,
                 prob: float | None = None) -> pd.DataFrame:
        """The predictive distribution over the scale: P(value) per cell (or per ``by``
        groups, pooled over the other keys) with its interval and the observed share."""
        groups, draws, observed = self._pool(list(by) if by else self.keys)
        parts = []
        for k, value in enumerate(self.values):
            part = groups.drop(columns="n").copy()
            part["value"] = int(value)
            stats = interval(draws[..., k], self._prob(prob))
            part = pd.concat([part, pd.DataFrame(stats)], axis=1)
            part["n"] = groups["n"].to_numpy()
            part["observed"] = observed[:, k]
            parts.append(part)
        frame = pd.concat(parts, ignore_index=True)
        frame["_group"] = np.tile(np.arange(len(groups)), len(self.values))
        return (frame.sort_values(["_group", "value"], kind="stable").drop(columns="_group")
                .reset_index(drop=True))

    def touchpoint_summary(self, by: str | None = None, prob: float | None = None
                           ) -> pd.DataFrame:
        """Per touchpoint (and ``by``), pooled over the other cell keys with the weights
        of the raters (the population of raters, weighted): mean rating, boxes."""
        keep = ["touchpoint"] + ([by] if by else [])
        groups, draws, observed = self._pool(keep)
        return self._long(groups, draws, observed, self._prob(prob))

    def journey_curve(self, by: str | None = None, prob: float | None = None) -> pd.DataFrame:
        """Posterior mean rating per touchpoint (and ``by``) in stage order, for plotting."""
        frame = self.touchpoint_summary(by, prob)
        frame = frame[frame["quantity"] == "mean_rating"].drop(columns="quantity")
        stage = {t: v["stage"] for t, v in self.data["touchpoints"].items()}
        order = {t: v["stage_order"] for t, v in self.data["touchpoints"].items()}
        position = {t: i for i, t in enumerate(self.data["levels"]["touchpoint"])}
        frame.insert(1, "stage", frame["touchpoint"].map(stage))
        frame.insert(2, "stage_order", frame["touchpoint"].map(order).astype("Int64"))
        frame["_pos"] = frame["touchpoint"].map(position)
        sort = (["stage_order", "_pos"] + ([by] if by else []))
        return frame.sort_values(sort, kind="stable").drop(columns="_pos").reset_index(drop=True)

    def contrast(self, by: str, a: str, b: str, within: list[str] | tuple[str, ...] | None = None,
                 prob: float | None = None) -> pd.DataFrame:
        """b minus a for the levels of cell key ``by`` (e.g. wave "2025-H2" vs "2025-H1").

        One row per group of ``within`` (default: the other cell keys; cells pooled
        over the keys left out, mixed by the same weights for a and b) and quantity:
        the difference's mean, sd and interval, the posterior means of both sides,
        their ratings ``n_a``/``n_b`` and ``prob_b_greater`` = P(b > a) — P(improved)
        for the mean and the top box; for the bottom box a rise is a worsening.
        """
        if by not in self.keys:
            raise ValueError(f"{by!r} is not a cell key of this fit ({self.keys})")
        levels = self.data["levels"][by]
        for level in (a, b):
            if level not in levels:
                raise ValueError(f"{level!r} is not a level of {by} ({levels})")
        within = [k for k in self.keys if k != by] if within is None else list(within)
        if by in within:
            raise ValueError("`within` must not hold `by`")
        groups, draws, _ = self._pool(within + [by], standardise=by)
        q = self._quantities(draws)
        if within:
            base = groups[within].drop_duplicates().reset_index(drop=True)
            index = groups.set_index(within + [by]).index
            ia = index.get_indexer(pd.MultiIndex.from_frame(base.assign(**{by: a})))
            ib = index.get_indexer(pd.MultiIndex.from_frame(base.assign(**{by: b})))
        else:
            base = pd.DataFrame(index=[0])
            ia, ib = [levels.index(a)], [levels.index(b)]
        parts = []
        for name in QUANTITIES:
            diff = q[name][:, ib] - q[name][:, ia]
            part = base.copy()
            part.insert(len(within), "quantity", name)
            part.insert(len(within) + 1, "a", a)
            part.insert(len(within) + 2, "b", b)
            stats = pd.DataFrame(interval(diff, self._prob(prob)))
            part = pd.concat([part.reset_index(drop=True), stats], axis=1)
            part["prob_b_greater"] = (diff > 0).mean(0)
            part["a_mean"] = q[name][:, ia].mean(0)
            part["b_mean"] = q[name][:, ib].mean(0)
            part["n_a"] = groups["n"].to_numpy()[ia]
            part["n_b"] = groups["n"].to_numpy()[ib]
            parts.append(part)
        out = pd.concat(parts, ignore_index=True)
        out.insert(0, "by", by)
        return out

    def parameters(self, prob: float | None = None) -> pd.DataFrame:
        """Cutpoints, effect sds and effects (latent scale), tidy, with R-hat and ESS."""
        import arviz as az

        post = self.posterior
        names = [v for v in post.data_vars
                 if v in ("cutpoints", "sd_respondent") or v.startswith(("sd_", "effect_"))]
        frames = []
        for name in names:
            da = post[name]
            stats = interval(da, self._prob(prob))
            ds = post[[name]]
            stats |= {"r_hat": az.rhat(ds)[name], "ess_bulk": az.ess(ds, method="bulk")[name],
                      "ess_tail": az.ess(ds, method="tail")[name]}
            frame = (xr.Dataset(stats).to_dataframe().reset_index() if da.ndim > 2 else
                     pd.DataFrame({k: [float(v)] for k, v in stats.items()}))
            level_cols = [c for c in frame.columns if c not in stats]
            frame["level"] = (frame[level_cols].astype(str).agg(SEPARATOR.join, axis=1)
                              if level_cols else "")
            frame.insert(0, "parameter", name)
            frames.append(frame[["parameter", "level", *stats]])
        return pd.concat(frames, ignore_index=True)
