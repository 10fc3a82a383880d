"""Journeys: path flow, transition heat map, drop-off, removal effects, variants, arrivals."""

from __future__ import annotations

from collections import defaultdict

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.ticker import PercentFormatter

from cxresearch.journeys import CONVERSION, DROP_OFF, START, transition_matrix
from cxresearch.plots.common import forest, interval_columns
from cxresearch.schema import PATH_SEPARATOR

__all__ = ["arrival_forest", "dropoff_forest", "path_flow", "removal_forest",
           "transition_heatmap", "variant_conversion"]

MORE = "more steps"
END = "end"
END_COLOURS = {CONVERSION: "#2a9d55", DROP_OFF: "#d1495b", MORE: "#9a9a9a", END: "#9a9a9a"}
# tab20 without its greens, reds and greys (kept for Conversion, Drop-off, more steps)
TOUCHPOINT_COLOURS = [c for i, c in enumerate(plt.get_cmap("tab20").colors)
                      if i not in (4, 5, 6, 7, 14, 15)]
TOUCHPOINT_COLOURS = TOUCHPOINT_COLOURS[::2] + TOUCHPOINT_COLOURS[1::2]  # strong tones first


def _journey_counts(variants: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """Journeys and conversions per row of a variants / paths frame."""
    if "journeys" in variants:
        n = variants["journeys"].to_numpy(dtype=float)
    elif {"conversions", "nulls"} <= set(variants.columns):
        n = (variants["conversions"] + variants["nulls"]).to_numpy(dtype=float)
    else:
        raise ValueError("the frame needs 'journeys' or 'conversions' and 'nulls' "
                         "(as journeys.variants or the tidy paths table)")
    conv = variants["conversions"].to_numpy(dtype=float) if "conversions" in variants else None
    return n, conv


def _flows(variants: pd.DataFrame, max_steps: int):
    """Node sizes per (column, name) and flows between them (first ``max_steps`` steps)."""
    n, conv = _journey_counts(variants)
    nodes: dict[tuple[int, str], float] = defaultdict(float)
    flows: dict[tuple[tuple[int, str], tuple[int, str]], float] = defaultdict(float)
    for path, k, c in zip(variants["path"].astype(str), n, conv if conv is not None
                          else [None] * len(n), strict=True):
        if k <= 0:
            continue
        steps = path.split(PATH_SEPARATOR)[:max_steps + 1]
        shown = steps[:max_steps]
        for i, tp in enumerate(shown):
            nodes[i, tp] += k
            if i + 1 < len(shown):
                flows[(i, tp), (i + 1, shown[i + 1])] += k
        last, col = (len(shown) - 1, shown[-1]), len(shown)
        if len(steps) > max_steps:
            ends = {MORE: k}
        elif c is None:
            ends = {END: k}
        else:
            ends = {CONVERSION: c, DROP_OFF: k - c}
        for name, value in ends.items():
            if value > 0:
                nodes[col, name] += value
                flows[last, (col, name)] += value
    return nodes, flows


def _band(ax, x0: float, y0: tuple[float, float], x1: float, y1: tuple[float, float],
          colour, alpha: float) -> None:
    """A flow band from (x0, y0 top/bottom) to (x1, y1 top/bottom), with S-shaped edges."""
    xm = (x0 + x1) / 2
    verts = [(x0, y0[0]), (xm, y0[0]), (xm, y1[0]), (x1, y1[0]), (x1, y1[1]),
             (xm, y1[1]), (xm, y0[1]), (x0, y0[1]), (x0, y0[0])]
    codes = [MplPath.MOVETO, MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.LINETO,
             MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.CLOSEPOLY]
    ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=colour, edgecolor="none",
                           alpha=alpha))


def path_flow(variants: pd.DataFrame, *, max_steps: int = 4, order: list[str] | None = None,
              label_share: float = 0.03, title: str = "Journey flow") -> Figure:
    """A Sankey-style flow of journeys over their first ``max_steps`` steps.

    ``variants``: ``path`` with ``journeys`` and ``conversions`` (as
    :func:`cxresearch.journeys.variants`) or the tidy paths table (``conversions``,
    ``nulls``). Columns are steps; a node's height is the journeys at that touchpoint
    at that step; bands carry journeys to the next step. Journeys that end branch off
    into ``Conversion`` (green) and ``Drop-off`` (red) nodes in the next column
    (``end`` when the frame has no conversions); those longer than ``max_steps``
    into ``more steps``. Nodes are ordered by ``order`` (e.g. the journey map), else
    by size; only nodes holding at least ``label_share`` of the journeys are labelled.
    """
    if max_steps < 1:
        raise ValueError("max_steps must be at least 1")
    nodes, flows = _flows(variants, max_steps)
    if not nodes:
        raise ValueError("no journeys to draw")
    total = sum(v for (col, _), v in nodes.items() if col == 0)
    columns = sorted({col for col, _ in nodes})
    names = sorted({name for _, name in nodes if name not in END_COLOURS},
                   key=lambda t: (order.index(t) if order and t in order else len(order or ()),
                                  -sum(v for (_, m), v in nodes.items() if m == t), t))
    palette = {name: TOUCHPOINT_COLOURS[i % len(TOUCHPOINT_COLOURS)]
               for i, name in enumerate(names)}
    rank = {name: i for i, name in enumerate([*names, CONVERSION, DROP_OFF, END, MORE])}
    per_column = {c: sorted([name for col, name in nodes if col == c], key=rank.get)
                  for c in columns}
    gap = 0.025
    most = max(len(v) for v in per_column.values())
    scale = (1 - gap * (most - 1)) / max(sum(nodes[c, m] for m in per_column[c])
                                         for c in columns)
    width = 0.14
    pos: dict[tuple[int, str], tuple[float, float]] = {}  # node -> (top, bottom)
    for c in columns:
        top = 1.0
        for name in per_column[c]:
            h = nodes[c, name] * scale
            pos[c, name] = (top, top - h)
            top -= h + gap
    fig, ax = plt.subplots(figsize=(2.3 * len(columns) + 2.5, 6.2))
    # stack each node's bands in the order of the nodes at their other end: few crossings
    start: dict[tuple, float] = {}
    for key, other in ((0, 1), (1, 0)):
        used: dict[tuple[int, str], float] = defaultdict(float)
        for flow in sorted(flows, key=lambda f, k=key, o=other: (f[k], -pos[f[o]][0])):
            start[flow, key] = pos[flow[key]][0] - used[flow[key]]
            used[flow[key]] += flows[flow] * scale
    for (src, dst), value in flows.items():
        h = value * scale
        s_top, d_top = start[(src, dst), 0], start[(src, dst), 1]
        colour = END_COLOURS.get(dst[1], palette.get(src[1]))
        _band(ax, src[0] + width / 2, (s_top, s_top - h), dst[0] - width / 2,
              (d_top, d_top - h), colour, 0.35)
    for (c, name), (top, bottom) in pos.items():
        colour = END_COLOURS.get(name, palette.get(name))
        ax.add_patch(Rectangle((c - width / 2, bottom), width, top - bottom, facecolor=colour,
                               edgecolor="white", lw=0.5))
        if nodes[c, name] >= label_share * total:
            ax.text(c + width / 2 + 0.03, (top + bottom) / 2,
                    f"{name}\n{nodes[c, name]:,.0f} ({nodes[c, name] / total:.0%})",
                    va="center", ha="left", fontsize=7.5)
    ax.set_xlim(-0.4, columns[-1] + 0.9)
    ax.set_ylim(min(b for _, b in pos.values()) - 0.02, 1.04)
    ax.set_xticks(columns, [f"step {c + 1}" if c < max_steps else f"after step {max_steps}"
                            for c in columns])
    ax.tick_params(axis="x", length=0)
    ax.set_yticks([])
    ax.grid(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{title} ({total:,.0f} journeys; band width = journeys)")
    fig.tight_layout()
    return fig


def transition_heatmap(transitions: pd.DataFrame, *, order: list[str] | None = None,
                       title: str = "Transitions (share of each row)") -> Figure:
    """Row shares of the transition counts (``from``, ``to``, ``count``, e.g. from
    :func:`cxresearch.journeys.transitions`): where journeys go next from each state.
    Rows are labelled with their number of transitions; ``order`` orders touchpoints."""
    counts = transition_matrix(transitions, shares=False)
    if order:
        tps = [t for t in order if t in counts.columns] + [
            t for t in counts.columns if t not in order and t not in (CONVERSION, DROP_OFF)]
        counts = counts.reindex(index=[START, *tps], columns=[*tps, CONVERSION, DROP_OFF],
                                fill_value=0)
    totals = counts.sum(axis=1)
    shares = counts.div(totals.replace(0, np.nan), axis=0).fillna(0.0)
    labels = np.where(shares.to_numpy() >= 0.005,
                      np.vectorize(lambda v: f"{100 * v:.0f}")(shares.to_numpy()), "")
    fig, ax = plt.subplots(figsize=(0.75 * shares.shape[1] + 3, 0.5 * shares.shape[0] + 2))
    sns.heatmap(shares, annot=labels, fmt="", cmap="Blues", vmin=0, vmax=1, linewidths=0.5,
                linecolor="white", cbar_kws={"label": "share of the row",
                                             "format": PercentFormatter(1.0)},
                annot_kws={"fontsize": 8}, ax=ax)
    ax.set_yticks(np.arange(len(shares)) + 0.5,
                  [f"{i} (n={int(totals[i]):,})" for i in shares.index], rotation=0)
    ax.set_xticklabels(ax.get_xticklabels(), rotation=40, ha="right")
    ax.set_xlabel("to (%)")
    ax.set_ylabel("from")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _percent_axis(fig: Figure) -> Figure:
    fig.axes[0].xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    return fig


def dropoff_forest(dropoff: pd.DataFrame, *, prob: float = 0.9, observed: str | None = "point",
                   truth: str | None = None,
                   title: str = "Drop-off probability per visit") -> Figure:
    """Drop-off per touchpoint (e.g. ``PathResult.dropoff()``): posterior mean and
    interval, with the observed share (``observed`` column) as an open marker."""
    fig = forest(dropoff, "touchpoint", prob=prob, title=title, zero=None, truth=truth,
                 xlabel=f"P(the journey is lost after a visit), {prob:.0%} interval")
    if observed is not None:
        ax = fig.axes[0]
        ax.plot(dropoff[observed], list(range(len(dropoff)))[::-1], "o", mfc="none",
                color="#c07a00", ms=8, label="observed share")
        ax.legend(loc="lower right", fontsize="small", frameon=False)
    return _percent_axis(fig)


def removal_forest(effects: pd.DataFrame, *, prob: float = 0.9, truth: str | None = None,
                   title: str = "Removal effect per touchpoint") -> Figure:
    """Removal effects (e.g. ``PathResult.removal_effects()``): the share of conversions
    lost when a touchpoint is removed, posterior mean and interval, largest on top."""
    fig = forest(effects, "touchpoint", prob=prob, title=title, truth=truth,
                 xlabel=f"share of conversions lost without the touchpoint, "
                        f"{prob:.0%} interval")
    return _percent_axis(fig)


def _short(path: str, width: int) -> str:
    return path if len(path) <= width else "..." + path[-(width - 3):]


def variant_conversion(variants: pd.DataFrame, *, prob: float = 0.9, width: int = 55,
                       title: str = "Conversion per path variant: raw and pooled") -> Figure:
    """Per variant (e.g. ``VariantResult.variants()``, most journeys on top): the raw
    conversion share (open diamond), the partially pooled posterior mean and interval,
    and the pooled mean of its group (grey tick) the variant is shrunk towards."""
    low, high = interval_columns(variants, prob)
    k = len(variants)
    y = np.arange(k)[::-1]
    fig, ax = plt.subplots(figsize=(9.5, 0.36 * k + 1.6))
    if "pooled_mean" in variants:
        ax.plot(variants["pooled_mean"], y, "|", color="#777", ms=14, mew=2,
                label="group's pooled mean")
    ax.hlines(y, variants[low], variants[high], color="#4c72b0", lw=2.2)
    ax.plot(variants["mean"], y, "o", color="#1f3b73", label=f"pooled, {prob:.0%} interval")
    ax.plot(variants["raw"], y, "D", mfc="none", color="#c07a00", ms=6, label="raw share")
    ax.set_yticks(y, [f"{_short(p, width)}  (n={n:,})" for p, n in
                      zip(variants["path"], variants["journeys"], strict=True)],
                  fontsize="small")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("conversion probability")
    ax.set_title(title)
    height = 0.36 * k + 1.6
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=3, fontsize="small",
               frameon=False)
    fig.tight_layout(rect=(0, 0.35 / height, 1, 1))
    return fig


def arrival_forest(effects: pd.DataFrame, *, quantity: str = "difference", prob: float = 0.9,
                   touchpoints: list[str] | None = None,
                   title: str = "Emotion at a touchpoint by the step before it") -> Figure:
    """Rows of :func:`cxresearch.models.paths.arrival_effects` for one ``quantity``
    (``difference``: mean rating vs the other arrivals at the touchpoint;
    ``mean_rating``; ``latent_difference``), labelled ``touchpoint <- previous (n)``."""
    part = effects[effects["quantity"] == quantity]
    if touchpoints is not None:
        part = part[part["touchpoint"].isin(touchpoints)]
    if part.empty:
        raise ValueError(f"no rows of quantity {quantity!r} to draw")
    part = part.assign(label=part["touchpoint"] + " \u2190 " + part["arrived_from"]
                       + " (n=" + part["n"].astype(str) + ")")
    xlabel = {"difference": "mean rating minus that of the other arrivals",
              "latent_difference": "difference on the latent scale (logits)",
              "mean_rating": "mean rating"}.get(quantity, quantity)
    return forest(part, "label", prob=prob, title=title,
                  zero=None if quantity == "mean_rating" else 0.0,
                  xlabel=f"{xlabel}, {prob:.0%} interval")
