"""Peak-end: forest plot of the weights and the overall evaluation against peak and end."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from cxresearch.plots.common import interval_columns

MODEL_LABELS = {"peak_end": "peak-end model", "mean_only": "mean-only model"}


def weights_forest(weights: pd.DataFrame, truth: Mapping[str, float] | None = None, *,
                   title: str | None = None, xlabel: str = "weight (overall points per "
                   "rating point; per touchpoint for length)") -> Figure:
    """Posterior mean and interval of each weight, one row per term (and model).

    ``weights``: :meth:`PeakEndResult.weights` (one or both models concatenated; the
    interval probability is read from the column names). ``truth``: term -> planted
    value (e.g. :func:`cxresearch.models.peak_end.truth_weights`), drawn as crosses.
    """
    low, high = interval_columns(weights)
    pct = low[3:-4]
    frame = weights.copy()
    if "model" not in frame:
        frame["model"] = "peak_end"
    terms = list(dict.fromkeys(frame["term"]))
    models = list(dict.fromkeys(frame["model"]))
    colours = dict(zip(models, sns.color_palette("colorblind", len(models)), strict=True))
    offset = dict(zip(models, np.linspace(-0.15, 0.15, len(models)) if len(models) > 1
                      else [0.0], strict=True))
    fig, ax = plt.subplots(figsize=(7.5, 0.7 * len(terms) + 1.6))
    ypos = {t: len(terms) - 1 - i for i, t in enumerate(terms)}
    for row in frame.itertuples(index=False):
        y = ypos[row.term] + offset[row.model]
        ax.plot([getattr(row, low), getattr(row, high)], [y, y], color=colours[row.model],
                lw=2.5, solid_capstyle="round")
        ax.plot(row.mean, y, "o", color=colours[row.model], ms=6)
    for m in models:
        ax.plot([], [], "o-", color=colours[m], label=f"{MODEL_LABELS.get(m, m)} "
                f"(mean, {pct}% interval)")
    if truth:
        shown = [t for t in terms if t in truth]
        ax.plot([truth[t] for t in shown], [ypos[t] for t in shown], "x", color="#c00",
                ms=10, mew=2.5, label="planted value", zorder=5)
    ax.axvline(0, color="#333", lw=1)
    ax.set_yticks(list(ypos.values()), list(ypos))
    ax.set_xlabel(xlabel)
    ax.set_title(title or "Peak-end weights")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False, ncol=2,
              fontsize="small")
    fig.tight_layout()
    return fig


def overall_scatter(features: pd.DataFrame, lines: Mapping[str, pd.DataFrame] | None = None,
                    *, outcome: str = "overall", terms: tuple[str, ...] = ("peak", "end"),
                    seed: int = 0, title: str | None = None) -> Figure:
    """The outcome against each of ``terms`` (jittered points), with the fitted line.

    ``lines``: term -> :meth:`PeakEndResult.partial_line` (the expected outcome along
    the term with the other predictors at their means, with its interval band).
    """
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, len(terms), figsize=(5 * len(terms), 4), sharey=True,
                             squeeze=False)
    n = len(features)
    alpha = float(np.clip(300 / max(n, 1), 0.08, 0.6))
    for ax, term in zip(axes[0], terms, strict=True):
        x = features[term].to_numpy(dtype=float) + rng.uniform(-0.2, 0.2, n)
        y = features[outcome].to_numpy(dtype=float) + rng.uniform(-0.2, 0.2, n)
        ax.scatter(x, y, s=8, alpha=alpha, color="#4c72b0", linewidths=0)
        if lines and term in lines:
            line = lines[term]
            low, high = interval_columns(line)
            ax.fill_between(line[term], line[low], line[high], color="#dd8452", alpha=0.35,
                            label=f"{low[3:-4]}% interval")
            ax.plot(line[term], line["mean"], color="#dd8452", lw=2,
                    label="fitted (others at their means)")
            ax.legend(loc="upper left", fontsize="small", frameon=False)
        ax.set_xlabel(f"{term} rating (jittered)")
    axes[0][0].set_ylabel(f"{outcome} (jittered)")
    fig.suptitle(title or f"{outcome} against the peak and the end of the journey")
    fig.tight_layout()
    return fig
