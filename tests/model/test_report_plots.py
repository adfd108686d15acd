"""The backtest plots say what they show: labelled axes, errors relative to the zero baseline, a binned scatter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection

from allora_worker.model.report import ROLLING_HOURS, ReportContext, figures
from allora_worker.model.walkforward import WalkForwardResult

ROWS = 6000


@pytest.fixture(scope="module")
def plotted() -> dict[str, object]:
    rng = np.random.default_rng(16)
    index = pd.date_range("2020-01-01", periods=ROWS, freq="h", tz="UTC", name="open_time")
    y = rng.normal(0, 0.05, ROWS) * np.linspace(0.5, 3.0, ROWS)  # volatility that grows: raw MSEs drift
    frame = pd.DataFrame({"y": y, "fold": 0, "zptae_std": 0.05}, index=index)
    frame["ridge"] = y * 0.2 + rng.normal(0, 0.05, ROWS)
    frame["zero"] = 0.0
    frame["drift"] = 0.001
    frame["momentum"] = rng.normal(0, 0.05, ROWS)
    frame["ewma"] = rng.normal(0, 0.02, ROWS)
    result = WalkForwardResult(model_kind="ridge", horizon_hours=168, folds=[], predictions=frame)
    ctx = ReportContext(title="t", data_source="synthetic", data_sha256="0", verdict="v",
                        walk_forward=result, metrics={})
    made = {name: fig for _, name, fig in figures(ctx)}
    return {"figures": made, "frame": frame}


def test_every_axis_has_a_y_label(plotted: dict) -> None:
    for name, fig in plotted["figures"].items():
        for ax in fig.axes:
            assert ax.get_ylabel().strip(), f"{name}: an axis without a y label"


def test_rolling_error_is_each_model_relative_to_zero(plotted: dict) -> None:
    fig = plotted["figures"]["rolling_error.png"]
    (ax,) = fig.axes
    assert ax.get_yscale() == "linear"
    frame = plotted["frame"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert "zero" not in lines  # zero is the reference line, not a curve of its own
    assert lines["zero (baseline)"].get_ydata()[0] == 1.0
    window = frame.iloc[-ROLLING_HOURS:]
    expected = ((window["ridge"] - window["y"]) ** 2).mean() / (window["y"] ** 2).mean()
    assert lines["ridge"].get_ydata()[-1] == pytest.approx(expected)


def test_the_scatter_of_every_row_is_binned(plotted: dict) -> None:
    fig = plotted["figures"]["predicted_vs_realized.png"]
    points = [c for ax in fig.axes for c in ax.collections if isinstance(c, PathCollection)]
    assert all(len(c.get_offsets()) < 2000 for c in points), "thousands of overlapping dots"
    bins = [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]
    assert bins and sum(int(v) for v in bins[0].get_array()) == ROWS  # every row counted once
