"""Bayesian models, one module per question, sharing :mod:`cxresearch.models.base`."""

from cxresearch.models.emotion import (
    EmotionConfig,
    EmotionPriors,
    EmotionResult,
    emotion_counts,
    fit_emotion,
    prior_predictive,
)

__all__ = ["EmotionConfig", "EmotionPriors", "EmotionResult", "emotion_counts", "fit_emotion",
           "prior_predictive"]
