"""The scale and survey-weight lookups every model shares."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cxresearch.models.inputs import item_scale, kish, respondent_weights


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


def test_weights_by_id_with_every_fallback_said():
    notes: list[str] = []
    w = respondent_weights(_study(weights=[2.0, np.nan, 0.5]), ["003", "001", "002", "009"],
                           notes)
    assert w.tolist() == [0.5, 2.0, 1.0, 1.0]  # blank and unknown ids count with weight 1
    assert notes == ["2 answers from respondents without a weight count with weight 1"]
    notes = []
    assert respondent_weights(_study(), ["001"], notes).tolist() == [1.0]
    assert "no weight column" in notes[0]
    with pytest.raises(ValueError, match="must not be negative"):
        respondent_weights(_study(weights=[1.0, -1.0, 1.0]), ["002"], [])
