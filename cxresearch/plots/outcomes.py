"""Outcomes over time: NPS (or any outcome) per period with intervals."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from cxresearch.plots.common import SEGMENT_PALETTE, interval_columns
from cxresearch.schema import period_order


def over_periods(groups: pd.DataFrame, *, period: str = "wave", group: str | None = None,
                 prob: float = 0.9, estimate: str = "mean", ylabel: str = "NPS",
                 title: str = "NPS by period") -> Figure:
    """Estimate and interval per period, one line per ``group`` (e.g. segment) if given."""
    low, high = interval_columns(groups, prob)
    periods = period_order(groups[period])
    x = {p: i for i, p in enumerate(periods)}
    parts = [(None, groups)] if group is None else list(groups.groupby(group, sort=True))
    colours = sns.color_palette(SEGMENT_PALETTE, len(parts))
    offsets = np.linspace(-0.1, 0.1, len(parts)) if len(parts) > 1 else [0.0]
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(periods) + 2), 4))
    for (name, part), colour, dx in zip(parts, colours, offsets, strict=True):
        part = part.assign(_x=part[period].astype(str).map(x)).sort_values("_x")
        xs = part["_x"] + dx
        ax.errorbar(xs, part[estimate], yerr=[part[estimate] - part[low],
                                              part[high] - part[estimate]],
                    fmt="o-", color=colour, capsize=4, label=name)
    ax.set_xticks(range(len(periods)), periods)
    ax.set_xlabel(period)
    ax.set_ylabel(f"{ylabel} ({prob:.0%} interval)")
    ax.set_title(title)
    if group is not None:
        ax.legend(title=group, fontsize="small", frameon=False, bbox_to_anchor=(1.01, 1),
                  loc="upper left")
    fig.tight_layout()
    return fig
