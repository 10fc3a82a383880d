"""Emotion along the journey: the emotional journey map and the journey-map grid."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from cxresearch.plots.common import DIVERGING, SEGMENT_PALETTE, interval_columns


def journey_curve(cells: pd.DataFrame, *, group: str | None = "segment", prob: float = 0.9,
                  estimate: str = "mean", scale: tuple[int, int] | None = None,
                  title: str = "Emotional journey") -> Figure:
    """Posterior mean emotion per touchpoint in stage order, one line (and band) per group.

    ``cells`` has touchpoint, stage, stage_order, the estimate and its interval
    columns, and optionally ``group``.
    """
    low, high = interval_columns(cells, prob)
    order = (cells.drop_duplicates("touchpoint").sort_values("stage_order", kind="stable")
             [["touchpoint", "stage"]])  # stage order, then the frame's own order
    x = {tp: i for i, tp in enumerate(order["touchpoint"])}
    groups = [(None, cells)] if group is None or group not in cells else list(
        cells.groupby(group, sort=True))
    colours = sns.color_palette(SEGMENT_PALETTE, len(groups))
    fig, ax = plt.subplots(figsize=(max(7, 0.9 * len(x) + 2), 4.6))
    offsets = np.linspace(-0.12, 0.12, len(groups)) if len(groups) > 1 else [0.0]
    for (name, part), colour, dx in zip(groups, colours, offsets, strict=True):
        part = part.assign(x=part["touchpoint"].map(x) + dx).sort_values("x")
        ax.plot(part["x"], part[estimate], "o-", color=colour, label=name, lw=1.8)
        ax.vlines(part["x"], part[low], part[high], color=colour, alpha=0.6, lw=2)
    if scale is not None:
        ax.axhline((scale[0] + scale[1]) / 2, color="#777", ls="--", lw=1)
        ax.set_ylim(scale[0] - 0.2, scale[1] + 0.2)
    labels = [f"{tp}\n({stage})" for tp, stage in order.itertuples(index=False)]
    ax.set_xticks(range(len(x)), labels, rotation=35, ha="right", fontsize="small")
    ax.set_ylabel(f"mean rating ({prob:.0%} interval)")
    ax.set_title(title)
    if group is not None and len(groups) > 1:
        ax.legend(title=group, fontsize="small", frameon=False, bbox_to_anchor=(1.01, 1),
                  loc="upper left")
    fig.tight_layout()
    return fig


def journey_grid(cells: pd.DataFrame, *, estimate: str = "mean",
                 scale: tuple[int, int] | None = None,
                 title: str = "Journey map: emotion by stage and channel") -> Figure:
    """The stages x channels grid coloured by emotion, each tile naming its touchpoints.

    ``cells`` has touchpoint, stage, stage_order, channel and the estimate (one row
    per touchpoint; several touchpoints may share a tile and are averaged).
    """
    stages = (cells.drop_duplicates("stage").sort_values("stage_order")["stage"].tolist())
    channels = sorted(cells["channel"].fillna("").unique())
    value = cells.pivot_table(index="channel", columns="stage", values=estimate,
                              aggfunc="mean").reindex(index=channels, columns=stages)
    value = value.astype("float64")
    names = (cells.groupby(["channel", "stage"])
             .apply(lambda g: "\n".join(f"{t} {v:.1f}" for t, v in
                                         zip(g["touchpoint"], g[estimate], strict=True)),
                    include_groups=False)
             .unstack().reindex(index=channels, columns=stages).fillna(""))
    fig, ax = plt.subplots(figsize=(1.9 * len(stages) + 2, 1.2 * len(channels) + 1.5))
    centre = (scale[0] + scale[1]) / 2 if scale else None
    sns.heatmap(value, annot=names.to_numpy(), fmt="", cmap=DIVERGING, center=centre,
                vmin=scale[0] if scale else None, vmax=scale[1] if scale else None,
                linewidths=1, linecolor="white", cbar_kws={"label": f"{estimate} rating"},
                annot_kws={"fontsize": "small"}, ax=ax)
    ax.grid(False)
    ax.set_xlabel("stage")
    ax.set_ylabel("channel")
    ax.set_title(title)
    fig.tight_layout()
    return fig
