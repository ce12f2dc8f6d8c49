"""The Model page's pure builders: graph elements, colours by statistic, details, heatmaps, attention."""

import math

import numpy as np
import pytest

from nanogpt_dash.architecture import PRESETS, activation_key, describe, param_key
from nanogpt_dash.ui.model_graph import (
    MAX_ROWS, ROW_PX, ColourScale, attention_focus, attention_grid, colour_scale, elements, heatmap_figure,
    node_detail, node_values, positions, stat_keys, text_colour, value_at,
)
from nanogpt_dash.architecture import view


def nodes_of(els):
    return [e for e in els if "source" not in e["data"]]


def test_one_block_node_per_layer_when_collapsed():
    arch = describe(PRESETS["cpu-default"])
    els = elements(arch, expanded=[])
    blocks = [e["data"]["id"] for e in nodes_of(els) if e["classes"] == "block"]
    assert blocks == [f"transformer.h.{i}" for i in range(4)]
    ids = {e["data"]["id"] for e in nodes_of(els)}
    assert all(e["data"]["source"] in ids and e["data"]["target"] in ids for e in els if "source" in e["data"])


def test_an_expanded_block_is_a_compound_node_holding_its_parts():
    arch = describe(PRESETS["cpu-default"])
    els = nodes_of(elements(arch, expanded=[1]))
    parent = [e for e in els if e["data"]["id"] == "transformer.h.1"]
    assert parent[0]["classes"] == "block expanded" and "position" not in parent[0]
    children = [e["data"]["id"] for e in els if e["data"].get("parent") == "transformer.h.1"]
    assert len(children) == 10 and "transformer.h.1.mlp.gelu" in children


def test_gpt2_xl_collapsed_wraps_into_columns_that_fit():
    v = view(describe(PRESETS["gpt2-xl"]), [])
    pos = positions(v)
    assert max(y for _, y in pos.values()) <= MAX_ROWS * ROW_PX
    assert len({x for x, _ in pos.values()}) >= 2
    assert len(set(pos.values())) == len(pos), "no two nodes on the same spot"


def test_expanded_nodes_never_overlap():
    v = view(describe(PRESETS["gpt2"]), [0, 5, 11])
    pos = positions(v)
    assert len(set(pos.values())) == len(pos)


def series(pairs):
    steps, values = zip(*pairs)
    return np.array(steps), np.array(values, dtype=float)


def test_node_values_take_the_latest_point_at_or_before_the_step():
    arch = describe(PRESETS["cpu-default"])
    stats = {activation_key(0, "act_std"): series([(0, 1.0), (50, 2.0)]),
             activation_key(1, "act_std"): series([(50, 3.0)])}
    assert node_values(arch, [], "act_std", stats, 49) == {"transformer.h.0": 1.0}
    assert node_values(arch, [1], "act_std", stats, 50) == {"transformer.h.0": 2.0, "transformer.h.1.add_2": 3.0}
    assert value_at(stats[activation_key(1, "act_std")], 10) is None


def test_parameter_statistics_colour_modules_and_a_collapsed_block_shows_the_mean_of_its_weights():
    arch = describe(PRESETS["cpu-default"])
    stats = {param_key("transformer.h.0.attn.c_attn.weight", "grad_norm"): series([(0, 1.0)]),
             param_key("transformer.h.0.mlp.c_fc.weight", "grad_norm"): series([(0, 3.0)]),
             param_key("transformer.h.0.ln_1.weight", "grad_norm"): series([(0, 5.0)]),
             param_key("transformer.wte.weight", "grad_norm"): series([(0, 7.0)])}
    collapsed = node_values(arch, [], "grad_norm", stats, 0)
    assert collapsed == {"transformer.h.0": 3.0, "transformer.wte": 7.0, "lm_head": 7.0}
    expanded = node_values(arch, [0], "grad_norm", stats, 0)
    assert expanded["transformer.h.0.attn.c_attn"] == 1.0 and expanded["transformer.h.0.ln_1"] == 5.0


def test_colour_scale_is_viridis_with_log_for_ratios_and_ignores_non_finite():
    scale = colour_scale("update_ratio", [1e-4, 1e-2, math.inf, 0.0, math.nan])
    assert scale == ColourScale(1e-4, 1e-2, True)
    assert scale.position(1e-3) == pytest.approx(0.5)
    assert scale.colour(1e-4) == "rgb(68, 1, 84)" and scale.colour(1e-2) == "rgb(253, 231, 37)"
    assert [label for _, label in scale.ticks(3)] == ["0.0001", "0.001", "0.01"]
    assert colour_scale("act_std", [math.nan]) is None
    assert text_colour("rgb(68, 1, 84)") == "#ffffff" and text_colour("rgb(253, 231, 37)") == "#000000"


def test_node_detail_lists_parameter_shapes_counts_and_share():
    arch = describe(PRESETS["gpt2"])
    d = node_detail(arch, "transformer.h.0.attn.c_attn")
    assert [(t.name, t.shape, t.count) for t in d.tensors] == [
        ("transformer.h.0.attn.c_attn.weight", "(2304, 768)", "1,769,472"),
        ("transformer.h.0.attn.c_attn.bias", "(2304,)", "2,304")]
    assert d.summary[0] == ("parameters", "1,771,776 (1.42% of 124,439,808)")
    block = node_detail(arch, "transformer.h.3")
    assert block.summary[0][1].startswith("7,087,872 ")  # 12 C^2 + 13 C with biases
    lm = node_detail(arch, "lm_head")
    assert lm.tensors[0].note == "tied to transformer.wte.weight: counted there"
    with pytest.raises(KeyError):
        node_detail(arch, "transformer.h.12.ln_1")


def test_heatmap_rows_are_layers_in_order_and_log_statistics_use_log10():
    stats = {activation_key(i, "act_std"): series([(0, 1.0 + i), (10, 2.0 + i)]) for i in (1, 0, 2)}
    stats["train/loss"] = series([(0, 4.0)])
    fig = heatmap_figure("act_std", stats)
    trace = fig["data"][0]
    assert trace["y"] == ["h.0", "h.1", "h.2"] and trace["x"] == [0, 10]
    assert trace["z"] == [[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]]
    ratios = {param_key("transformer.h.0.attn.c_attn.weight", "update_ratio"): series([(0, 1e-3), (5, math.inf)])}
    trace = heatmap_figure("update_ratio", ratios)["data"][0]
    assert trace["z"] == [[pytest.approx(-3.0), None]] and trace["customdata"] == [[1e-3, None]]
    assert stat_keys(list(stats), "act_mean") == []


def test_a_zoom_on_a_heatmap_lasts_while_steps_arrive_and_a_new_statistic_starts_unzoomed():
    # the page rebuilds these figures as steps arrive; Plotly keeps a user's zoom across figures
    # with the same uirevision and forgets it when uirevision changes
    early = {activation_key(0, "act_std"): series([(0, 1.0)])}
    later = {activation_key(0, "act_std"): series([(0, 1.0), (50, 1.5)]),
             activation_key(0, "act_mean"): series([(0, 0.1), (50, 0.2)])}
    assert heatmap_figure("act_std", early)["layout"]["uirevision"] == heatmap_figure("act_std", later)["layout"]["uirevision"]
    assert heatmap_figure("act_std", later)["layout"]["uirevision"] != heatmap_figure("act_mean", later)["layout"]["uirevision"]
    maps = np.random.default_rng(0).random((2, 2, 4, 4)).astype(np.float16)
    focus = [attention_focus(maps, list("abcd"), layer, head, step)["layout"]["uirevision"]
             for layer, head, step in ((0, 1, 10), (0, 1, 20), (1, 1, 20))]
    assert focus[0] == focus[1] != focus[2]


def test_attention_grid_has_one_map_per_layer_and_head_with_probe_text():
    maps = np.random.default_rng(0).random((2, 3, 5, 5)).astype(np.float16)
    fig = attention_grid(maps, list("ab c\n"), step=10, label_every=1)
    assert len(fig["data"]) == 6
    assert fig["layout"]["xaxis4"]["ticktext"] == ["a", "b", "␣", "c", "↵"]
    focus = attention_focus(maps, list("ab c\n"), 1, 2, step=10)
    assert focus["data"][0]["z"][0][0] == pytest.approx(float(maps[1, 2, 0, 0]), abs=1e-3)
    with pytest.raises(IndexError, match="outside this model"):
        attention_focus(maps, list("ab c\n"), 2, 0, step=10)


def test_a_portrait_view_gets_fewer_taller_columns():
    from nanogpt_dash.ui.model_graph import rows_for

    v = view(describe(PRESETS["gpt2-xl"]), [])
    landscape = len({x for x, _ in positions(v, rows_for(620 / 700)).values()})
    portrait = len({x for x, _ in positions(v, rows_for(600 / 330)).values()})
    assert portrait < landscape and rows_for(None) == MAX_ROWS


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours."""
    def luminance(c: str) -> float:
        channels = [int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_every_part_of_the_dark_graph_has_a_dark_fill_under_a_legible_label():
    from nanogpt_dash.ui.model_graph import DARK_KIND_COLOURS, DARK_TEXT, KIND_COLOURS, NO_VALUE

    assert set(DARK_KIND_COLOURS) == set(KIND_COLOURS)
    for kind, fill in DARK_KIND_COLOURS.items():
        assert contrast(DARK_TEXT, fill) >= 4.5, f"{kind}: {contrast(DARK_TEXT, fill):.1f}:1"
    for theme, (fill, label) in NO_VALUE.items():
        assert contrast(label, fill) >= 4.5, theme


def test_the_graph_has_a_stylesheet_per_theme_and_a_statistics_colours_come_last_in_both():
    from nanogpt_dash.ui.model_graph import DARK_STYLESHEET, STYLESHEET, stylesheets

    plain = stylesheets({})
    assert plain == {"light": STYLESHEET, "dark": DARK_STYLESHEET}
    coloured = stylesheets({"transformer.wte": "#440154"})
    for theme in ("light", "dark"):
        last = coloured[theme][-1]
        assert last["selector"] == 'node[id = "transformer.wte"]'
        assert last["style"] == {"background-color": "#440154", "color": "#ffffff"}
    assert coloured["light"][-2]["style"]["background-color"] != coloured["dark"][-2]["style"]["background-color"]


def test_attention_grid_names_the_layers_on_the_left_clear_of_the_colour_bar_and_keeps_square_maps():
    from nanogpt_dash.ui.model_graph import attention_grid_size

    maps = np.random.default_rng(0).random((2, 3, 5, 5)).astype(np.float16)
    fig = attention_grid(maps, list("ab c\n"), step=10)
    assert [fig["layout"][a]["title"]["text"] for a in ("yaxis", "yaxis4")] == ["layer 0", "layer 1"]
    assert not any("layer" in a.get("text", "") for a in fig["layout"].get("annotations", []))
    assert (fig["layout"]["width"], fig["layout"]["height"]) == attention_grid_size(2, 3)
    width, height = attention_grid_size(2, 3)
    assert width - 64 - 70 > height - 60 - 30, "three heads wide, two layers high"
