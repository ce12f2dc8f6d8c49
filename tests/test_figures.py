import math

import numpy as np

from nanogpt_dash.ui.figures import CHARTS, Points, build_figure, build_patch, plain_values, run_color, trace


def points(steps, values=None):
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values if values is not None else steps * 0.5, dtype=np.float32)
    return Points(steps, values, np.full(len(steps), 1_700_000_000.0))


def test_patch_carries_exactly_the_k_new_points_of_each_trace():
    patch = build_patch([(0, points([10, 11, 12])), (1, points([])), (2, points([12]))]).to_plotly_json()
    extended = {(op["location"][1], op["location"][2]): op["params"]["value"] for op in patch["operations"]}
    assert extended[(0, "x")] == [10, 11, 12] and extended[(0, "y")] == [5.0, 5.5, 6.0]
    assert len(extended[(0, "customdata")]) == 3
    assert extended[(2, "x")] == [12]
    assert not any(index == 1 for index, _ in extended), "no operation for a trace with nothing new"
    assert all(op["operation"] == "Extend" for op in patch["operations"])


def test_no_new_points_means_no_update():
    assert build_patch([(0, points([])), (1, points([]))]) is None


def test_full_figure_has_one_trace_per_run_and_metric_with_hover_details():
    chart = CHARTS[0]
    fig = build_figure(chart, [trace("run-a", "A", "train/loss", points([0, 1])), trace("run-a", "A", "val/loss", points([0]))])
    first = fig["data"][0]
    assert [t["name"] for t in fig["data"]] == ["A · train", "A · val"]
    assert first["x"] == [0, 1] and first["customdata"][0].startswith("20")
    assert "step %{x}" in first["hovertemplate"] and "%{customdata}" in first["hovertemplate"]
    assert first["line"]["color"] == fig["data"][1]["line"]["color"] == run_color("run-a")
    assert fig["layout"]["uirevision"] == chart.name


def test_non_finite_values_become_gaps_not_errors():
    assert plain_values(np.array([1.0, math.nan, math.inf, -math.inf], dtype=np.float32)) == [1.0, None, None, None]


def test_run_colour_is_stable_and_from_the_palette():
    assert run_color("alpha") == run_color("alpha")
    assert run_color("alpha").startswith("#")
