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


def survey_weights(people: pd.DataFrame, notes: list[str]) -> np.ndarray | None:
    """The respondents' survey weights (column ``weight``), in table order; None when the
    table has none. A blank weight counts as the mean of the known ones; both are said
    in ``notes``. Negative weights are an error."""
    if "weight" not in people.columns:
        notes.append("the respondents table has no weight column: unweighted")
        return None
    w = pd.to_numeric(people["weight"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    blank = np.isnan(w)
    if blank.all():
        notes.append("every respondent's weight is blank: unweighted")
        return None
    if (w[~blank] < 0).any():
        raise ValueError(f"respondent weights must not be negative ({int((w < 0).sum())} "
                         "respondents have one)")
    if blank.any():
        fill = float(w[~blank].mean())
        notes.append(f"{int(blank.sum())} respondents without a weight count with the mean "
                     f"weight ({fill:.3g})")
        w = np.where(blank, fill, w)
    return w


def respondent_weights(study: Any, ids: pd.Series | pd.Index | list[str], notes: list[str]
                       ) -> np.ndarray | None:
    """The survey weight of the respondent behind each answer (:func:`survey_weights`
    looked up by ``ids``); None when there are no weights. An id that the respondents
    table lacks is an error."""
    people = study.respondents.drop_duplicates("respondent_id")
    w = survey_weights(people, notes)
    if w is None:
        return None
    table = pd.Series(w, index=people["respondent_id"].astype(str).to_numpy())
    found = table.reindex(pd.Index(ids).astype(str))
    if found.isna().any():
        missing = found.index[found.isna()].unique()[:5]
        raise ValueError(f"{int(found.isna().sum())} answers come from respondents not in the "
                         f"respondents table, so without a weight (e.g. {', '.join(missing)}); "
                         "fit with weighted=False or add them")
    return found.to_numpy(dtype=float)
