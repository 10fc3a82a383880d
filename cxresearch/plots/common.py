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
