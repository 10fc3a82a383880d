"""Shared figure settings and display."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.figure import Figure

sns.set_theme(style="whitegrid", context="notebook")

# Sequential and diverging palettes used across the figures.
DIVERGING = "RdBu"
SEGMENT_PALETTE = "colorblind"


def show(fig: Figure) -> None:
    """Display a figure once in a notebook (and free it)."""
    from IPython.display import display

    display(fig)
    plt.close(fig)


def interval_columns(frame, prob: float | None = None, prefix: str = "") -> tuple[str, str]:
    """The (low, high) column names of an equal-tailed interval in ``frame``.

    With ``prob`` the columns of that probability (``eti90_low``...); without, the one
    ``{prefix}eti.._low``/``_high`` pair the frame holds.
    """
    from cxresearch.models.base import interval_names

    if prob is None:
        found = [c for c in frame.columns if c.startswith(f"{prefix}eti") and c.endswith("_low")]
        if len(found) != 1:
            raise ValueError(f"expected one {prefix}eti.._low/_high column pair, got {found}")
        return found[0], found[0].removesuffix("_low") + "_high"
    low, high = (prefix + name for name in interval_names(prob))
    missing = [c for c in (low, high) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no {', '.join(missing)} columns (interval at {prob:.0%})")
    return low, high


def forest(frame, label: str, *, prob: float = 0.9, estimate: str = "mean",
           title: str = "", xlabel: str = "effect", zero: float | None = 0.0,
           truth: str | None = None) -> Figure:
    """A forest plot: one row per ``label`` with the estimate and its interval.

    Rows are drawn in the frame's order, top to bottom; ``truth`` names a column
    of known values to overlay (recovery checks on synthetic data).
    """
    low, high = interval_columns(frame, prob)
    n = len(frame)
    fig, ax = plt.subplots(figsize=(8, 0.38 * n + 1.4))
    y = list(range(n))[::-1]
    ax.hlines(y, frame[low], frame[high], color="#4c72b0", lw=2.2)
    ax.plot(frame[estimate], y, "o", color="#1f3b73", label=f"{estimate} and {prob:.0%} interval")
    if truth is not None:
        ax.plot(frame[truth], y, "x", color="#c44e52", ms=8, label="truth")
    if zero is not None:
        ax.axvline(zero, color="#555", lw=1, ls="--")
    ax.set_yticks(y, frame[label].astype(str))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small", frameon=False)
    fig.tight_layout()
    return fig
