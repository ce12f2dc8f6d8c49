from nanogpt_dash.ui.pages.compare import (apply_restyle, parcoords_figure, run_style, runs_in_ranges,
                                           zoom_from_relayout)
from nanogpt_dash.ui.figures import PALETTE


def configs():
    return {"a": {"learning_rate": 1e-3, "n_layer": 4, "dataset": "x"},
            "b": {"learning_rate": 3e-3, "n_layer": 4, "dataset": "y"},
            "c": {"learning_rate": 6e-3, "n_layer": 4, "dataset": "x"}}


def styles():
    return {r: run_style(i, PALETTE[i]) for i, r in enumerate(configs())}


def test_zoom_and_reset_are_read_from_relayout_data():
    assert zoom_from_relayout({"xaxis.range[0]": 1, "xaxis.range[1]": 5}) == ([1, 5], None, False)
    assert zoom_from_relayout({"xaxis.autorange": True, "yaxis.autorange": True}) == (None, None, True)
    assert zoom_from_relayout({"dragmode": "pan"}) is None and zoom_from_relayout(None) is None


def test_parcoords_has_the_differing_hyperparameters_and_best_val_loss():
    assert parcoords_figure({"a": {}, "b": {}}, {"a": 1.0, "b": 2.0}, styles()) is None, "needs three runs"
    fig = parcoords_figure(configs(), {"a": 1.5, "b": 1.4, "c": 1.6}, styles()).to_plotly_json()
    dims = fig["data"][0]["dimensions"]
    assert [d["label"] for d in dims] == ["dataset", "learning_rate", "best val loss"]
    assert list(dims[0]["ticktext"]) == ["x", "y"] and list(dims[0]["values"]) == [0, 1, 0]


def test_brushing_an_axis_keeps_only_the_runs_inside_it_and_clearing_it_keeps_all():
    fig = parcoords_figure(configs(), {"a": 1.5, "b": 1.4, "c": 1.6}, styles()).to_plotly_json()
    ranges = apply_restyle({}, [{"dimensions[1].constraintrange": [[2e-3, 7e-3]]}, [0]], fig)
    assert ranges == {"learning_rate": [[2e-3, 7e-3]]}
    assert runs_in_ranges(fig, ranges) == ["b", "c"]
    ranges = apply_restyle(ranges, [{"dimensions[2].constraintrange": [1.3, 1.45]}, [0]], fig)
    assert runs_in_ranges(fig, ranges) == ["b"]
    cleared = apply_restyle(ranges, [{"dimensions[1].constraintrange": None, "dimensions[2].constraintrange": None}, [0]], fig)
    assert cleared == {} and runs_in_ranges(fig, cleared) is None


def test_each_run_has_a_dash_pattern_as_well_as_a_colour():
    s = styles()
    assert len({v["dash"] for v in s.values()}) == 3 and s["a"]["color"].startswith("#")
