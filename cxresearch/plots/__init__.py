"""The pictures CX researchers expect, drawn with matplotlib and seaborn.

One module per area; every function takes tidy frames (raw shares or posterior
summaries) and returns the matplotlib Figure, so notebooks show it (``show``) and
tests can inspect it.
"""

from cxresearch.plots.common import forest, show
from cxresearch.plots.emotion import journey_curve, journey_grid
from cxresearch.plots.outcomes import over_periods
from cxresearch.plots.ratings import raw_shares, spectrum

__all__ = ["forest", "journey_curve", "journey_grid", "over_periods", "raw_shares", "show",
           "spectrum"]
