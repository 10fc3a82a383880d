"""What the models take from a study besides its tables: an item's scale and survey weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def item_scale(study: Any, ratings: pd.DataFrame, item: str) -> tuple[int, int]:
    """The (min, max) of ``item``: from ``scale_min``/``scale_max`` in its ratings, else the
    ``scales`` of study.yml; an error if the ratings mix scales or none is known."""
    found = []
    for col in ("scale_min", "scale_max"):
        values = ratings[col].dropna().unique() if col in ratings else []
        if len(values) > 1:
            raise ValueError(f"ratings of {item!r} mix several scales ({col}: "
                             f"{sorted(values.tolist())})")
        found.extend(int(v) for v in values)
    if len(found) == 2:
        return found[0], found[1]
    scales = (getattr(study, "config", None) or {}).get("scales") or {}
    if item in scales:
        return int(scales[item]["min"]), int(scales[item]["max"])
    raise ValueError(f"the scale of {item!r} is unknown: give scale_min/scale_max in the "
                     "ratings or scales in study.yml")


def kish(w: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (0 when every weight is 0)."""
    w = np.asarray(w, dtype=float)
    w2 = float((w**2).sum())
    return float(w.sum() ** 2 / w2) if w2 > 0 else 0.0


def respondent_weights(study: Any, ids: pd.Series | np.ndarray, notes: list[str]
                       ) -> np.ndarray:
    """The survey weight (``respondents.weight``) of each id, for weighted models.

    Without a weight column every weight is 1; ids with no weight (not in the
    respondents table, or blank) count with weight 1. Both are said in ``notes``.
    Negative weights are an error.
    """
    people = study.respondents
    ids = pd.Series(np.asarray(ids, dtype=object)).astype(str)
    if "weight" not in people.columns:
        notes.append("the respondents table has no weight column: unweighted")
        return np.ones(len(ids))
    table = (people.drop_duplicates("respondent_id")
             .assign(respondent_id=lambda p: p["respondent_id"].astype(str))
             .set_index("respondent_id")["weight"])
    w = pd.to_numeric(ids.map(table), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    blank = np.isnan(w)
    if blank.any():
        notes.append(f"{int(blank.sum())} answers from respondents without a weight count "
                     "with weight 1")
        w = np.where(blank, 1.0, w)
    if (w < 0).any():
        raise ValueError(f"respondent weights must not be negative ({int((w < 0).sum())} "
                         "answers have one)")
    return w
