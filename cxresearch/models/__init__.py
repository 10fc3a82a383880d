"""Bayesian models, one module per question, sharing :mod:`cxresearch.models.base`.

- :mod:`~cxresearch.models.emotion`: emotion per touchpoint and segment (ordinal, on counts)
- :mod:`~cxresearch.models.outcomes`: NPS, CSAT, CES per group, change, touchpoint drivers
- :mod:`~cxresearch.models.peak_end`: does the peak and the end drive the overall verdict?
- :mod:`~cxresearch.models.paths`: transitions, drop-off, conversion per variant, removal
  effects, emotion by the path that led to a touchpoint
- :mod:`~cxresearch.models.causes`: which qualitative codes go with better or worse emotion
"""

from cxresearch.models.base import FitResult, SamplerConfig, configure
from cxresearch.models.causes import CausesConfig, CausesResult, fit_causes
from cxresearch.models.emotion import EmotionConfig, EmotionResult, fit_emotion
from cxresearch.models.outcomes import (
    DriversConfig,
    DriversResult,
    OutcomeConfig,
    OutcomeResult,
    fit_drivers,
    fit_outcome,
)
from cxresearch.models.paths import (
    PathConfig,
    PathResult,
    VariantConfig,
    VariantResult,
    fit_arrival_emotion,
    fit_paths,
    fit_variants,
)
from cxresearch.models.peak_end import PeakEndConfig, PeakEndResult, fit_peak_end

__all__ = [
    "CausesConfig", "CausesResult", "DriversConfig", "DriversResult", "EmotionConfig",
    "EmotionResult", "FitResult", "OutcomeConfig", "OutcomeResult", "PathConfig", "PathResult",
    "PeakEndConfig", "PeakEndResult", "SamplerConfig", "VariantConfig", "VariantResult",
    "configure", "fit_arrival_emotion", "fit_causes", "fit_drivers", "fit_emotion",
    "fit_outcome", "fit_paths", "fit_peak_end", "fit_variants",
]
