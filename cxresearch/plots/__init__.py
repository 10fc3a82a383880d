"""The pictures CX researchers expect, drawn with matplotlib and seaborn.

One module per area; every function takes tidy frames (raw shares or posterior
summaries) and returns the matplotlib Figure, so notebooks show it (``show``) and
tests can inspect it.
"""

from cxresearch.plots.common import show
from cxresearch.plots.ratings import raw_shares, spectrum

__all__ = ["raw_shares", "show", "spectrum"]
