"""The cumulative-link core shared by the ordinal models (emotion, causes).

P(Y <= k) = F(cutpoint_k - eta), F the logistic (``logit``) or normal (``probit``) cdf.
The cutpoints come from a Dirichlet prior on the category probabilities at eta = 0
(Betancourt 2019), which keeps them ordered and weakly informative on any scale.
"""

from __future__ import annotations

import numpy as np

LINKS = ("logit", "probit")


def link_quantile(p: np.ndarray, link: str) -> np.ndarray:
    """F^-1(p) in numpy."""
    from scipy.special import logit, ndtri

    return logit(p) if link == "logit" else ndtri(p)


def link_cdf(link: str):
    """F as a numpy function."""
    from scipy.special import expit, ndtr

    return expit if link == "logit" else ndtr


def category_probs(cdf: np.ndarray) -> np.ndarray:
    """P(category) from the cumulative probabilities at the K-1 cutpoints (last axis)."""
    ones = np.ones(cdf.shape[:-1] + (1,))
    return np.diff(np.concatenate([0 * ones, cdf, ones], axis=-1), axis=-1)


def cdf_tensor(x, link: str):
    """F in pytensor."""
    import pytensor.tensor as pt

    return pt.sigmoid(x) if link == "logit" else 0.5 * (1 + pt.erf(x / np.sqrt(2.0)))


def dirichlet_cutpoints(K: int, concentration: float, link: str = "logit"):
    """In a PyMC model: ``category_probs ~ Dirichlet(concentration)`` over the K
    categories and the ``cutpoints`` (K-1) they imply; returns the cutpoints."""
    import pymc as pm
    import pytensor.tensor as pt

    pi = pm.Dirichlet("category_probs", a=np.full(K, concentration), dims="category")
    cum = pt.clip(pt.cumsum(pi)[:-1], 1e-12, 1 - 1e-12)
    inverse = (pt.log(cum) - pt.log1p(-cum) if link == "logit"
               else np.sqrt(2.0) * pt.erfinv(2 * cum - 1))
    return pm.Deterministic("cutpoints", inverse, dims="cutpoint")


def counts_loglik(counts, cutpoints, eta, link: str = "logit") -> None:
    """In a PyMC model: the multinomial log-likelihood of ``counts`` (cells x K, may be
    fractional, e.g. Kish-rescaled) given the cells' linear predictors ``eta``."""
    import pymc as pm
    import pytensor.tensor as pt

    cdf = cdf_tensor(cutpoints[None, :] - eta[:, None], link)
    p = pt.concatenate([cdf[:, :1], cdf[:, 1:] - cdf[:, :-1], 1 - cdf[:, -1:]], axis=1)
    pm.Potential("loglik", (counts * pt.log(pt.clip(p, 1e-300, 1.0))).sum())
