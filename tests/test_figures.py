import math

import numpy as np

from nanogpt_dash.ui.figures import (CHARTS, ERRORS, LINE, SMOOTH, TRACES_PER_SERIES, TraceUpdate, build_figure,
                                     build_patch, run_color, series_traces)
from nanogpt_dash.views import prepare


def shown(values, smoothing=0.0):
    values = np.asarray(values, dtype=np.float64)
    steps = np.arange(len(values))
    result, _ = prepare(steps, values, steps, np.full(len(values), 1_700_000_000.0), budget=1000, smoothing=smoothing)
    return result


def test_patch_carries_exactly_the_k_new_points_of_each_trace():
    updates = [TraceUpdate(0, np.array([10, 11, 12]), np.array([5.0, 5.5, 6.0], dtype=np.float32), [[10, "t"]] * 3),
               TraceUpdate(4, np.array([], dtype=np.int64), np.array([])),
               TraceUpdate(8, np.array([12]), np.array([1.0]), [[12, "t"]])]
    patch = build_patch(updates).to_plotly_json()
    extended = {(op["location"][1], op["location"][2]): op["params"]["value"] for op in patch["operations"]}
    assert extended[(0, "x")] == [10, 11, 12] and extended[(0, "y")] == [5.0, 5.5, 6.0]
    assert len(extended[(0, "customdata")]) == 3
    assert extended[(8, "x")] == [12]
    assert not any(index == 4 for index, _ in extended), "no operation for a trace with nothing new"
    assert all(op["operation"] == "Extend" for op in patch["operations"])


def test_no_new_points_means_no_update():
    assert build_patch([TraceUpdate(0, np.array([]), np.array([]))]) is None


def test_each_series_owns_four_traces_with_hover_details():
    s = shown([3.0, 2.5, 2.0])
    traces = series_traces("run-a", "A", "train/loss", s, s.step, None, smoothing=0.0)
    assert len(traces) == TRACES_PER_SERIES
    line = traces[LINE]
    assert line["name"] == "A · train" and line["x"].tolist() == [0, 1, 2]
    assert line["customdata"][1][0] == 1 and line["customdata"][1][1].startswith("20")
    assert "step %{customdata[0]}" in line["hovertemplate"] and "%{customdata[1]}" in line["hovertemplate"]
    assert line["line"]["color"] == run_color("run-a")
    assert traces[SMOOTH]["x"] == [] and not traces[SMOOTH]["showlegend"]
    fig = build_figure(CHARTS[0], traces)
    assert fig["layout"]["uirevision"] == CHARTS[0].name


def test_smoothing_fades_the_raw_line_and_draws_the_ema():
    s = shown([3.0, 1.0, 3.0, 1.0], smoothing=0.5)
    traces = series_traces("r", "r", "train/loss", s, s.step, None, smoothing=0.5)
    assert traces[LINE]["opacity"] < 1 and len(traces[SMOOTH]["y"]) == 4


def test_nan_and_inf_are_distinct_markers_with_a_count():
    s = shown([1.0, math.nan, math.inf, -math.inf, math.nan])
    errors = series_traces("r", "r", "train/loss", s, s.step, None, 0.0)[ERRORS]
    assert errors["name"] == "r · train: 2 NaN, 1 +Inf, 1 -Inf"
    assert sorted(errors["marker"]["symbol"]) == ["triangle-down", "triangle-up", "x", "x"]
    assert errors["yaxis"] == "y2"


def test_run_colour_is_stable_and_from_the_palette():
    assert run_color("alpha") == run_color("alpha")
    assert run_color("alpha").startswith("#")
