"""The pictures CX researchers expect, drawn with matplotlib and seaborn.

One module per area; every function takes tidy frames (raw shares or posterior
summaries) and returns the matplotlib Figure, so notebooks show it (``show``) and
tests can inspect it.
"""

from cxresearch.plots.codes import code_touchpoint_heatmap, cooccurrence_heatmap, effects_forest
from cxresearch.plots.common import forest, interval_columns, show
from cxresearch.plots.emotion import journey_curve, journey_grid
from cxresearch.plots.journeys import (
    arrival_forest,
    dropoff_forest,
    path_flow,
    removal_forest,
    transition_heatmap,
    variant_conversion,
)
from cxresearch.plots.outcomes import over_periods
from cxresearch.plots.peak_end import overall_scatter, weights_forest
from cxresearch.plots.ratings import raw_shares, spectrum

__all__ = [
    "arrival_forest", "code_touchpoint_heatmap", "cooccurrence_heatmap", "dropoff_forest",
    "effects_forest", "forest", "interval_columns", "journey_curve", "journey_grid",
    "over_periods", "overall_scatter", "path_flow", "raw_shares", "removal_forest", "show",
    "spectrum", "transition_heatmap", "variant_conversion", "weights_forest",
]
