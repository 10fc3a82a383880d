"""Figures are built from tidy frames; these tests read back what was drawn."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from cxresearch import plots  # noqa: E402
from cxresearch.datasets import make_study  # noqa: E402


@pytest.fixture(scope="module")
def cells():
    study = make_study(600, seed=3)
    ratings = study.ratings.merge(study.respondents[["respondent_id", "segment"]])
    means = ratings.groupby(["touchpoint", "segment"])["value"].agg(["mean", "sem"]).reset_index()
    means["eti90_low"] = means["mean"] - 1.645 * means["sem"].fillna(0)
    means["eti90_high"] = means["mean"] + 1.645 * means["sem"].fillna(0)
    return means.merge(study.touchpoints, on="touchpoint")


def test_journey_curve_draws_one_line_per_segment_in_stage_order(cells):
    fig = plots.journey_curve(cells, scale=(1, 7))
    ax = fig.axes[0]
    segments = cells["segment"].nunique()
    assert len([line for line in ax.get_lines() if line.get_label() in
                set(cells["segment"])]) == segments
    order = cells.drop_duplicates("touchpoint").sort_values("stage_order", kind="stable")
    ticks = [t.get_text().split("\n")[0] for t in ax.get_xticklabels()]
    assert ticks == order["touchpoint"].tolist()


def test_journey_grid_puts_every_touchpoint_in_its_stage_and_channel(cells):
    per_tp = cells.groupby(["touchpoint", "stage", "stage_order", "channel"],
                           as_index=False)["mean"].mean()
    fig = plots.journey_grid(per_tp, scale=(1, 7))
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert all(tp in text for tp in per_tp["touchpoint"])
    stages = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert stages == per_tp.drop_duplicates("stage").sort_values("stage_order")["stage"].tolist()


def test_spectrum_bars_sum_to_one_per_touchpoint():
    ratings = pd.DataFrame({"touchpoint": ["a"] * 4 + ["b"] * 2, "value": [1, 2, 4, 7, 5, 5]})
    fig = plots.spectrum(plots.raw_shares(ratings), scale=(1, 7))
    widths = {}
    for bar in fig.axes[0].patches:
        widths[bar.get_y()] = widths.get(bar.get_y(), 0) + bar.get_width()
    assert np.allclose(sorted(widths.values()), [1, 1])


def test_forest_and_over_periods_need_interval_columns():
    frame = pd.DataFrame({"label": ["x", "y"], "mean": [0.3, -0.2], "eti90_low": [0.1, -0.5],
                          "eti90_high": [0.6, 0.1], "wave": ["1", "2"]})
    fig = plots.forest(frame, "label", title="effects")
    ax = fig.axes[0]
    by_height = dict(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()],
                         strict=True))
    assert [by_height[y] for y in sorted(by_height, reverse=True)] == ["x", "y"]  # top first
    assert len(plots.over_periods(frame).axes[0].containers) == 1
    with pytest.raises(ValueError, match="eti80_low"):
        plots.forest(frame, "label", prob=0.8)


def test_over_periods_joins_waves_in_time_order():
    frame = pd.DataFrame({"wave": ["W1", "W10", "W2"], "mean": [10.0, 30.0, 20.0],
                          "eti90_low": [5.0, 25.0, 15.0], "eti90_high": [15.0, 35.0, 25.0]})
    ax = plots.over_periods(frame).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["W1", "W2", "W10"]
    line = ax.containers[0].lines[0]
    assert line.get_xdata().tolist() == [0, 1, 2]
    assert line.get_ydata().tolist() == [10.0, 20.0, 30.0]
