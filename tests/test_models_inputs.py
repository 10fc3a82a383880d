"""What every model shares: the scale and survey-weight lookups, the interval summary."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cxresearch.models.base import interval
from cxresearch.models.inputs import item_scale, kish, respondent_weights, survey_weights


def _study(scales=None, weights=None):
    people = pd.DataFrame({"respondent_id": ["001", "002", "003"]})
    if weights is not None:
        people["weight"] = weights
    return SimpleNamespace(config={"scales": scales or {}}, respondents=people)


def test_scale_from_ratings_then_study_yml():
    rated = pd.DataFrame({"value": [1, 7], "scale_min": [1, 1], "scale_max": [7, 7]})
    assert item_scale(_study({"valence": {"min": 0, "max": 10}}), rated, "valence") == (1, 7)
    bare = pd.DataFrame({"value": [1, 7]})
    assert item_scale(_study({"valence": {"min": 0, "max": 10}}), bare, "valence") == (0, 10)
    with pytest.raises(ValueError, match="scale of 'valence' is unknown"):
        item_scale(_study(), bare, "valence")


def test_mixed_scales_are_an_error():
    rated = pd.DataFrame({"value": [1, 7], "scale_min": [1, 1], "scale_max": [5, 7]})
    with pytest.raises(ValueError, match=r"mix several scales \(scale_max: \[5, 7\]\)"):
        item_scale(_study(), rated, "valence")


def test_kish_effective_size():
    assert kish(np.ones(10)) == pytest.approx(10)
    assert kish(np.array([1.0, 3.0])) == pytest.approx(16 / 10)
    assert kish(np.zeros(3)) == 0


def test_weights_by_id_blank_weights_get_the_mean_and_say_so():
    notes: list[str] = []
    w = respondent_weights(_study(weights=[2.0, np.nan, 0.5]), ["003", "001", "002"], notes)
    assert w.tolist() == [0.5, 2.0, 1.25]
    assert notes == ["1 respondents without a weight count with the mean weight (1.25)"]


def test_no_weights_means_unweighted_and_unknown_ids_are_an_error():
    notes: list[str] = []
    assert respondent_weights(_study(), ["001"], notes) is None
    assert "no weight column" in notes[0]
    assert survey_weights(_study(weights=[np.nan] * 3).respondents, notes) is None
    with pytest.raises(ValueError, match=r"1 answers come from respondents not in .*009"):
        respondent_weights(_study(weights=[1.0, 1.0, 1.0]), ["001", "009"], [])
    with pytest.raises(ValueError, match="must not be negative"):
        respondent_weights(_study(weights=[1.0, -1.0, 1.0]), ["002"], [])


def test_interval_of_numpy_draws_is_over_the_first_axis():
    draws = np.column_stack([np.arange(101.0), np.arange(101.0) * 2])  # 101 draws x 2
    stats = interval(draws, 0.9)
    assert set(stats) == {"mean", "sd", "eti90_low", "eti90_high"}
    assert stats["mean"].tolist() == [50.0, 100.0]
    assert stats["eti90_low"] == pytest.approx([5.0, 10.0])
    assert stats["eti90_high"] == pytest.approx([95.0, 190.0])
    one = interval(np.arange(101.0), 0.8)
    assert (one["eti80_low"], one["eti80_high"]) == pytest.approx((10.0, 90.0))
