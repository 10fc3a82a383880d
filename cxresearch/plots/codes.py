"""Qualitative codes: forest plot of code effects, code x touchpoint and co-occurrence maps."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from cxresearch.plots.common import DIVERGING, interval_columns

NEGATIVE, POSITIVE, UNSURE = "#c0392b", "#2166ac", "#888888"


def effects_forest(effects: pd.DataFrame, *, top: int | None = 30, title: str | None = None,
                   xlabel: str = "effect on the rating (logits)") -> Figure:
    """Code effects ranked by |mean| (largest on top) with their equal-tailed intervals.

    ``effects`` is :meth:`CausesResult.effects` (columns code, touchpoint, mean and an
    ``eti.._low``/``eti.._high`` pair). Red: the interval lies below 0; blue: above;
    grey: it covers 0.
    """
    lo, hi = interval_columns(effects)
    prob = lo.removeprefix("eti").removesuffix("_low")
    frame = effects.assign(_k=effects["mean"].abs()).sort_values("_k", ascending=False)
    frame = frame.head(top) if top else frame
    labels = (frame["code"].astype(str) + " @ " + frame["touchpoint"].astype(str)
              if "touchpoint" in frame else frame["code"].astype(str))
    colour = np.where(frame[hi] < 0, NEGATIVE, np.where(frame[lo] > 0, POSITIVE, UNSURE))
    y = np.arange(len(frame))[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(frame) + 1.5))
    ax.hlines(y, frame[lo], frame[hi], colors=colour, lw=2)
    ax.scatter(frame["mean"], y, c=colour, zorder=3, s=30)
    ax.axvline(0, color="#333", lw=1)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"{xlabel}; {prob}% equal-tailed interval")
    ax.set_title(title or "Codes ranked by their association with the rating")
    fig.tight_layout()
    return fig


def code_touchpoint_heatmap(frame: pd.DataFrame, value: str = "share", *,
                            touchpoints: list[str] | None = None, top: int | None = 30,
                            title: str | None = None, fmt: str | None = None) -> Figure:
    """A code x touchpoint grid coloured by ``value`` (e.g. ``share`` or ``respondents``
    of :func:`cxresearch.mixed.code_mentions`, or ``mean`` of the effects).

    Columns follow ``touchpoints`` (journey order) when given; rows are the ``top``
    codes by total |value|. Values of both signs get a diverging palette centred on 0.
    """
    grid = frame.pivot_table(index="code", columns="touchpoint", values=value, aggfunc="sum")
    if touchpoints is not None:
        grid = grid.reindex(columns=[t for t in touchpoints if t in grid.columns])
    order = grid.abs().sum(axis=1).sort_values(ascending=False).index
    grid = grid.loc[order[:top] if top else order]
    diverging = bool((grid.min().min() < 0) and (grid.max().max() > 0))
    fig, ax = plt.subplots(figsize=(0.9 * grid.shape[1] + 3.5, 0.4 * grid.shape[0] + 2))
    kwargs = {"cmap": DIVERGING, "center": 0.0} if diverging else {"cmap": "Blues"}
    fmt = fmt or (".0%" if value == "share" else ".2g")
    sns.heatmap(grid, annot=grid.shape[0] * grid.shape[1] <= 400, fmt=fmt, linewidths=0.5,
                ax=ax, cbar_kws={"label": value}, **kwargs)
    ax.grid(False)
    ax.set_xlabel("touchpoint")
    ax.set_ylabel("code")
    ax.set_title(title or f"Codes by touchpoint: {value}")
    fig.tight_layout()
    return fig


def cooccurrence_heatmap(pairs: pd.DataFrame, value: str = "jaccard", *, top: int = 20,
                         title: str | None = None) -> Figure:
    """Codes mentioned by the same respondents: a symmetric code x code grid of ``value``
    (``jaccard``, ``lift`` or ``n_both`` of :func:`cxresearch.mixed.cooccurrence`) for
    the ``top`` most mentioned codes."""
    counts = pd.concat([pairs[["code_a", "n_a"]].set_axis(["code", "n"], axis=1),
                        pairs[["code_b", "n_b"]].set_axis(["code", "n"], axis=1)])
    codes = (counts.groupby("code")["n"].max().sort_values(ascending=False)
             .index[:top].tolist())
    grid = pd.DataFrame(np.nan, index=codes, columns=codes)
    keep = pairs[pairs["code_a"].isin(codes) & pairs["code_b"].isin(codes)]
    for a, b, v in zip(keep["code_a"], keep["code_b"], keep[value], strict=True):
        grid.loc[a, b] = grid.loc[b, a] = v
    fig, ax = plt.subplots(figsize=(0.45 * len(codes) + 3.5, 0.45 * len(codes) + 2.5))
    kwargs = ({"cmap": DIVERGING, "center": 1.0} if value == "lift" else {"cmap": "Blues"})
    sns.heatmap(grid, mask=np.eye(len(codes), dtype=bool), annot=len(codes) <= 10,
                fmt=".2f", linewidths=0.5, ax=ax, cbar_kws={"label": value}, **kwargs)
    ax.grid(False)
    ax.set_title(title or f"Codes mentioned by the same respondents ({value})")
    fig.tight_layout()
    return fig
