import math

import numpy as np

from nanogpt_dash.ui.figures import (CHARTS, PALETTE, TraceLayout, TraceUpdate, build_figure, error_trace, extend_data,
                                     line_trace, run_color, smooth_trace)
from nanogpt_dash.views import prepare


def shown(values, smoothing=0.0):
    values = np.asarray(values, dtype=np.float64)
    steps = np.arange(len(values))
    result, _ = prepare(steps, values, steps, np.full(len(values), 1_700_000_000.0), budget=1000, smoothing=smoothing)
    return result


def test_extend_data_carries_exactly_the_k_new_points_of_each_trace():
    updates = [TraceUpdate(0, np.array([10, 11, 12]), np.array([5.0, 5.5, 6.0], dtype=np.float32), [[10, "t"]] * 3),
               TraceUpdate(1, np.array([], dtype=np.int64), np.array([]), []),
               TraceUpdate(3, np.array([12]), np.array([1.0]), [[12, "t"]])]
    data, indices = extend_data(updates)
    assert indices == [0, 3], "no entry for a trace with nothing new"
    assert data["x"][0].tolist() == [10, 11, 12] and data["y"][0].tolist() == [5.0, 5.5, 6.0]
    assert len(data["customdata"][0]) == 3
    assert data["x"][1].tolist() == [12] and len(data["customdata"][1]) == 1
    assert set(data) == {"x", "y", "customdata"}, "every trace extends the same arrays: one Plotly call per chart"


def test_no_new_points_means_no_update():
    assert extend_data([TraceUpdate(0, np.array([]), np.array([]), [])]) is None


def test_a_line_carries_step_and_local_time_for_the_hover_box():
    s = shown([3.0, 2.5, 2.0])
    line = line_trace("run-a", "A", "train/loss", s, smoothing=0.0, color=run_color("run-a", 2))
    assert line["name"] == "A · train loss" and line["x"].tolist() == [0, 1, 2]
    assert line["customdata"][1][0] == 1 and line["customdata"][1][1].startswith("20")
    assert "step %{customdata[0]}" in line["hovertemplate"] and "%{customdata[1]}" in line["hovertemplate"]
    assert line["line"]["color"] == PALETTE[2] and line["opacity"] == 1.0
    fig = build_figure(CHARTS[0], [line])
    assert fig["layout"]["uirevision"] == CHARTS[0].name and len(fig["data"]) == 1


def test_smoothing_fades_the_raw_line_and_draws_the_ema():
    s = shown([3.0, 1.0, 3.0, 1.0], smoothing=0.5)
    assert line_trace("r", "r", "train/loss", s, smoothing=0.5, color=PALETTE[0])["opacity"] < 1
    smooth = smooth_trace("r", "r", "train/loss", s, PALETTE[0])
    assert len(smooth["y"]) == 4 and len(smooth["customdata"]) == 4 and not smooth["showlegend"]


def test_nan_and_inf_are_distinct_marker_traces():
    s = shown([1.0, math.nan, math.inf, -math.inf, math.nan])
    traces = {kind: error_trace("r", "r", "train/loss", kind, points, PALETTE[0]) for kind, points in s.nonfinite.items()}
    assert traces["NaN"]["name"] == "r · train loss: NaN" and traces["NaN"]["x"].tolist() == [1, 4]
    assert traces["+Inf"]["name"] == "r · train loss: +Inf" and traces["-Inf"]["x"].tolist() == [3]
    assert len({t["marker"]["symbol"] for t in traces.values()}) == 3, "each kind has its own symbol"
    assert all(t["yaxis"] == "y2" for t in traces.values()), "drawn at the chart's edge, whatever the y scale"
    assert traces["NaN"]["customdata"][0][0] == 1, "the hover box names the step"


def test_trace_layout_puts_roles_in_blocks():
    layout = TraceLayout(3, smooth=True, superseded=True, errors=((2, "NaN"), (0, "+Inf")))
    assert [layout.line(i) for i in range(3)] == [0, 1, 2]
    assert [layout.smoothed(i) for i in range(3)] == [3, 4, 5]
    assert layout.error(2, "NaN") == 9 and layout.error(0, "+Inf") == 10
    assert layout.error(1, "NaN") is None, "no trace yet: the chart is rebuilt"
    assert TraceLayout(2, errors=((1, "NaN"),)).error(1, "NaN") == 2


def test_run_colour_is_stable_and_from_the_okabe_ito_palette():
    assert [run_color("any", n) for n in range(7)] == list(PALETTE) + [PALETTE[0]], "consecutive runs differ"
    # runs from before numbering: fixed expected values; a colour from Python's per-process hash() would fail here
    assert [run_color(r) for r in ("alpha", "beta", "lr-a", "lr-b")] == ["#CC79A7", "#E69F00", "#0072B2", "#CC79A7"]
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
    assert set(PALETTE) <= okabe_ito and "#F0E442" not in PALETTE, "no yellow: a yellow line on white is invisible"


def test_legends_and_hover_use_human_names_and_the_hover_is_unified():
    from nanogpt_dash.ui.figures import metric_label

    assert [metric_label(k) for k in ("train/loss", "val/loss", "grad_norm", "tokens_per_sec", "lr", "custom/x")] == \
        ["train loss", "val loss", "grad norm", "tokens/s", "learning rate", "custom/x"]
    assert build_figure(CHARTS[0], [])["layout"]["hovermode"] == "x unified"
    assert "<b>%{y:.6g}</b>" in line_trace("r", "R", "grad_norm", shown([1.0]), 0.0, PALETTE[0])["hovertemplate"]


def test_a_log_axis_keeps_to_a_few_ticks_and_the_toolbar_leaves_the_title_free():
    fig = build_figure(CHARTS[3], [], log_y=True)
    assert fig["layout"]["yaxis"]["type"] == "log" and fig["layout"]["yaxis"]["nticks"] == 6
    assert fig["layout"]["modebar"]["orientation"] == "v"


def test_lines_of_every_length_the_live_page_draws_are_svg_so_new_points_append():
    # 5,000 to 10,000 steps used to be WebGL: redrawn whole on each update, and emulated on the CPU
    # without a GPU (one tab on a 9,000-step run took 1.5 cores). Past 10,000 the page downsamples.
    from nanogpt_dash.views import DOWNSAMPLE_ABOVE

    for n in (10, 5_001, 9_000, DOWNSAMPLE_ABOVE, 50_000):
        s = shown(np.linspace(4.0, 1.0, n), smoothing=0.6)
        assert line_trace("r", "R", "train/loss", s, 0.6, PALETTE[0])["type"] == "scatter", n
        assert smooth_trace("r", "R", "train/loss", s, PALETTE[0])["type"] == "scatter", n
