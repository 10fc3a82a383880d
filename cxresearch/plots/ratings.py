"""Ratings: the spectrum of answers over the scale."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from cxresearch.plots.common import DIVERGING


def spectrum(shares: pd.DataFrame, *, label: str = "touchpoint", scale: tuple[int, int],
             labels: dict[int, str] | None = None, title: str | None = None) -> Figure:
    """Diverging stacked bars: the share of every category of the scale per row.

    ``shares`` has columns ``label``, ``category`` and ``share`` (shares of a row sum
    to 1); rows keep the order in which their labels first appear. Negative
    categories stack to the left of zero, positive ones to the right, and the
    neutral midpoint (odd scales) is split across zero.
    """
    lo, hi = scale
    cats = list(range(lo, hi + 1))
    table = (shares.pivot_table(index=label, columns="category", values="share", sort=False)
             .reindex(columns=cats, fill_value=0.0).fillna(0.0))
    mid = (lo + hi) / 2
    colours = sns.color_palette(DIVERGING, len(cats))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(table) + 1.6))
    y = np.arange(len(table))[::-1]
    left_total = table[[c for c in cats if c < mid]].sum(axis=1) + (
        table[int(mid)] / 2 if mid in cats else 0)
    start = -left_total.to_numpy()
    for colour, cat in zip(colours, cats, strict=True):
        width = table[cat].to_numpy()
        name = labels.get(cat, str(cat)) if labels else str(cat)
        ax.barh(y, width, left=start, color=colour, edgecolor="white", label=name)
        start = start + width
    ax.axvline(0, color="#333", lw=1)
    ax.set_yticks(y, table.index)
    ax.set_xlabel("share of answers (negative left, positive right)")
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{abs(v):.0%}"))
    ax.legend(title="rating", ncol=len(cats), bbox_to_anchor=(0.5, -0.12 - 0.2 / len(table)),
              loc="upper center", frameon=False, fontsize="small")
    ax.set_title(title or "Spectrum of ratings")
    fig.tight_layout()
    return fig


def raw_shares(ratings: pd.DataFrame, by: str = "touchpoint",
               order: list[str] | None = None) -> pd.DataFrame:
    """Observed share of each rating value per ``by`` group (weights not applied)."""
    counts = ratings.groupby([by, "value"]).size().rename("n").reset_index()
    counts["share"] = counts["n"] / counts.groupby(by)["n"].transform("sum")
    counts = counts.rename(columns={"value": "category"})
    if order is not None:
        counts[by] = pd.Categorical(counts[by], categories=order, ordered=True)
        counts = counts.sort_values([by, "category"])
        counts[by] = counts[by].astype(str)
    return counts

