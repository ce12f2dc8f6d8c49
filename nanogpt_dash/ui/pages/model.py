"""The Model page: the selected run's GPT as a graph, a configuration explorer, and what every
layer does while it trains (residual-stream statistics, gradients, updates, attention maps).

The graph's elements change only with the configuration or the expanded blocks (so the view
never jumps while a run trains); colours by statistic travel as a stylesheet. Live data comes
from the LiveStore on the shell's push (ids.DATA, relayed as ids.MODEL_PULSE). The pure parts
are in ui/model_graph.py.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
import dash_cytoscape as cyto
import numpy as np
from dash import ClientsideFunction, Dash, Input, Output, State, ctx, dcc, html, no_update

from ...architecture import (
    ACTIVATION_STATS, ATTENTION_KIND, MODEL_FIELDS, PARAM_STATS, PRESET_LABELS, PRESETS, STAT_LABELS,
    Architecture, ArchitectureError, config_dict, describe, human, model_config, parse_stat_key,
)
from ...live import LiveStore
from .. import ids
from ..model_graph import (
    STYLESHEET, ColourScale, Series, attention_focus, rows_for, attention_grid, colour_scale, elements, heatmap_figure, node_detail,
    FOCUS_PX, node_values, stat_keys, steps_of, stylesheets, attention_grid_size,
)
from ..query import query_runs

if TYPE_CHECKING:
    from .analysis import RunAnalyses

PATH = "/model"
NAME = "Model"
ORDER = 1
METRICS = frozenset({"layers/*", "params/*"})  # every layer statistic train.py logs (LiveStore keeps prefixes)

GRAPH_CONFIG = {"displaylogo": False, "showSendToCloud": False, "showEditInChartStudio": False}
LAYOUT = {"name": "preset", "fit": True, "padding": 24}
STATS = ACTIVATION_STATS + PARAM_STATS
DEFAULT_EXPANDED = [0]
KIND = "kind"  # the colour-by choice that colours parts by what they are, not by a statistic
INT_FIELDS = ("n_layer", "n_head", "n_embd", "block_size", "vocab_size")


def _source_value(query: dict) -> str | None:
    runs = query_runs(query)
    if runs:
        return f"run:{runs[0]}"
    if query.get("preset") in PRESETS:
        return f"preset:{query['preset']}"
    return None


def layout(**query: Any) -> html.Div:
    """The page for `?runs=<id>` (that run's model) or `?preset=<name>`."""
    fields = [
        dbc.Col([dbc.Label(name, html_for=ids.model_field(name), className="small mb-0"),
                 dbc.Input(id=ids.model_field(name), type="number", size="sm", debounce=True, min=1, step=1)], xs=6)
        for name in INT_FIELDS
    ]
    fields.append(dbc.Col([dbc.Label("dropout", html_for=ids.model_field("dropout"), className="small mb-0"),
                           dbc.Input(id=ids.model_field("dropout"), type="number", size="sm", debounce=True,
                                     min=0, max=0.99, step=0.05)], xs=6))
    fields.append(dbc.Col(dbc.Checklist(id=ids.model_field("bias"), switch=True, className="mt-2 small",
                                        options=[{"label": "bias", "value": "bias"}], value=[]), xs=12))
    config_card = dbc.Card([
        dbc.CardHeader(html.H2("Model", className="h6 mb-0 ngd-card-title")),
        dbc.CardBody([
            dbc.Label("run or preset", html_for=ids.MODEL_SOURCE, className="small mb-1"),
            dbc.Select(id=ids.MODEL_SOURCE, value=_source_value(query), size="sm", className="mb-2"),
            html.Div(id=ids.MODEL_NOTE),
            dbc.Row(fields, className="g-2 ngd-model-form"),
            html.Div(id=ids.MODEL_TOTALS, className="mt-3"),
        ]),
    ], className="mb-3")
    toolbar = html.Div([
        dbc.ButtonGroup([
            dbc.Button(_icon("−", "zoom out"), id=ids.MODEL_ZOOM_OUT, size="sm", color="secondary", outline=True, title="zoom out"),
            dbc.Button(_icon("+", "zoom in"), id=ids.MODEL_ZOOM_IN, size="sm", color="secondary", outline=True, title="zoom in"),
            dbc.Button("fit", id=ids.MODEL_FIT, size="sm", color="secondary", outline=True, title="fit to screen"),
        ], className="me-2 mb-2"),
        dbc.ButtonGroup([
            dbc.Button("expand all", id=ids.MODEL_EXPAND_ALL, size="sm", color="secondary", outline=True),
            dbc.Button("collapse all", id=ids.MODEL_COLLAPSE_ALL, size="sm", color="secondary", outline=True),
        ], className="mb-2"),
    ], className="d-flex flex-wrap")
    colour_controls = dbc.Row([
        dbc.Col([dbc.Label("colour by", html_for=ids.MODEL_STAT, className="small mb-0"),
                 dbc.Select(id=ids.MODEL_STAT, size="sm", value=KIND,
                            options=[{"label": "kind of part", "value": KIND}]
                            + [{"label": STAT_LABELS[s], "value": s} for s in STATS])], xs=12, md=4),
        # the step slider and its switch show only while there are statistics to step through
        dbc.Col([html.Div([html.Span(id=ids.MODEL_STEP_LABEL, className="small"),
                           dbc.Checklist(id=ids.MODEL_FOLLOW, switch=True, className="small ms-3",
                                         options=[{"label": "follow latest", "value": "follow"}], value=["follow"],
                                         style=HIDDEN)],
                          className="d-flex align-items-center flex-wrap"),
                 html.Div([dbc.Label("step of the statistics", html_for=ids.MODEL_STEP, className="visually-hidden"),
                           dcc.Slider(id=ids.MODEL_STEP, min=0, max=0, step=1, value=0, marks={}, updatemode="drag")],
                          id=ids.MODEL_STEP_BOX, style=HIDDEN)], xs=12, md=5),
        dbc.Col(html.Div(id=ids.MODEL_LEGEND), xs=12, md=3),
    ], className="g-2 mb-2")
    graph = cyto.Cytoscape(
        id=ids.MODEL_GRAPH, elements=[], stylesheet=STYLESHEET, layout=LAYOUT, className="ngd-model-graph",
        minZoom=0.05, maxZoom=3, boxSelectionEnabled=False, autoungrabify=True,
        responsive=True, style={"width": "100%", "height": "min(620px, 72vh)"},
    )
    graph_card = dbc.Card(dbc.CardBody([
        toolbar, colour_controls,
        dbc.Row([
            dbc.Col(graph, xs=12, lg=8, className="mb-2"),
            dbc.Col([html.Div(id=ids.MODEL_DETAIL, className="ngd-detail",
                              children=html.P("Click or tap a part of the model to see what it holds and does.",
                                              className="text-muted")),
                     dbc.Button(id=ids.MODEL_TOGGLE, size="sm", color="primary", outline=True,
                                style={"display": "none"})], xs=12, lg=4),
        ]),
    ]), className="mb-3")
    heatmap_card = dbc.Card([
        dbc.CardHeader(html.Div([
            html.H2("Layer statistics over training", className="h6 mb-0 ngd-card-title me-3"),
            dbc.Label("statistic", html_for=ids.MODEL_HEATMAP_STAT, className="visually-hidden"),
            dbc.Select(id=ids.MODEL_HEATMAP_STAT, size="sm", value="act_std", style={"maxWidth": "16rem"},
                       options=[{"label": STAT_LABELS[s], "value": s} for s in STATS]),
        ], className="d-flex align-items-center flex-wrap")),
        dbc.CardBody(dcc.Graph(id=ids.MODEL_HEATMAP, config=GRAPH_CONFIG, figure=_empty_figure(""))),
    ], className="mb-3")
    attention_card = dbc.Card([
        dbc.CardHeader(html.H2("Attention on the probe text (the first tokens of the validation set)", className="h6 mb-0 ngd-card-title")),
        dbc.CardBody([
            html.P("Each map: a row is a query (the token looking back), a column a key (the token it looks at); "
                   "brightness is the attention probability, and each row sums to 1.", className="small text-muted mb-1"),
            html.Div(id=ids.MODEL_ATTN_LABEL, className="small mb-1"),
            dbc.Label("eval step of the attention maps", html_for=ids.MODEL_ATTN_STEP, className="visually-hidden"),
            dcc.Slider(id=ids.MODEL_ATTN_STEP, min=0, max=0, step=1, value=0, marks={}),
            # the maps keep their natural aspect ratio and shrink to fit (style from the callback);
            # on a wide screen the grid and the chosen head's map sit side by side
            dbc.Row([
                dbc.Col(dcc.Graph(id=ids.MODEL_ATTN_GRID, config=GRAPH_CONFIG, figure=_empty_figure(""), responsive=True,
                                  style=EMPTY_STYLE), xs=12, xl=6),
                dbc.Col([
                    dbc.Row([
                        dbc.Col([dbc.Label("layer", html_for=ids.MODEL_ATTN_LAYER, className="small mb-0"),
                                 dbc.Select(id=ids.MODEL_ATTN_LAYER, size="sm", value="0", options=[])], xs=6, md=3),
                        dbc.Col([dbc.Label("head", html_for=ids.MODEL_ATTN_HEAD, className="small mb-0"),
                                 dbc.Select(id=ids.MODEL_ATTN_HEAD, size="sm", value="0", options=[])], xs=6, md=3),
                    ], className="g-2 mt-2"),
                    dcc.Graph(id=ids.MODEL_ATTN_FOCUS, config=GRAPH_CONFIG, figure=_empty_figure(""), responsive=True,
                              style=EMPTY_STYLE),
                ], xs=12, xl=6),
            ]),
        ]),
    ], className="mb-3")
    return html.Div([
        html.H1("The model and its layers", className="visually-hidden"),
        dcc.Store(id=ids.MODEL_PULSE),
        dcc.Store(id=ids.MODEL_ASPECT),
        dcc.Store(id=ids.MODEL_CONFIG),
        dcc.Store(id=ids.MODEL_EXPANDED, data=DEFAULT_EXPANDED),
        dcc.Store(id=ids.MODEL_HEATMAP_SEEN),
        dcc.Store(id=ids.MODEL_ATTN_SEEN),
        # the graph's stylesheet for each theme, and the theme applied (relayed from the shell):
        # a theme change picks the other stylesheet in the browser, nothing is sent again
        dcc.Store(id=ids.MODEL_STYLES, data=stylesheets({})),
        dcc.Store(id=ids.MODEL_THEME),
        # on a phone the graph comes first, then the explorer; on a wide screen the explorer sits on the left
        dbc.Container(dbc.Row([
            dbc.Col(graph_card, xs=12, lg={"size": 9, "order": 2}),
            dbc.Col(config_card, xs=12, lg={"size": 3, "order": 1}),
            # the layer statistics use the whole width (the explorer above is short)
            dbc.Col(heatmap_card, xs=12, lg={"size": 12, "order": 3}),
            dbc.Col(attention_card, xs=12, lg={"size": 12, "order": 4}),
        ]), fluid=True),
    ])


def _icon(symbol: str, name: str) -> list:
    """A button's content: a symbol for the eye, its name for screen readers (which read "−" as "minus")."""
    return [html.Span(symbol, **{"aria-hidden": "true"}), html.Span(name, className="visually-hidden")]


HIDDEN = {"display": "none"}
EMPTY_STYLE = {"height": "120px"}  # _empty_figure's height, for a graph that takes its size from its box


def scaled(width: int, height: int) -> dict:
    """A graph box at its natural size that shrinks, keeping its aspect ratio, to fit a narrower screen."""
    # height auto: a responsive dcc.Graph would otherwise take 100 % of its column's (stretched) height
    return {"width": "100%", "height": "auto", "maxWidth": f"{width}px", "aspectRatio": f"{width} / {height}"}


def _empty_figure(message: str) -> dict:
    return {"data": [], "layout": {
        "height": 120, "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "paper_bgcolor": "white", "plot_bgcolor": "white",
        "xaxis": {"visible": False}, "yaxis": {"visible": False},
        "annotations": [{"text": message, "showarrow": False, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper",
                         "font": {"size": 13, "color": "#6c757d"}}] if message else []}}


# -- pure helpers of the callbacks ---------------------------------------------------------

def source_options(run_ids: list[str]) -> list[dict]:
    """The run-or-preset choices: runs first, then the presets."""
    runs = [{"label": f"run: {r}", "value": f"run:{r}"} for r in run_ids]
    return runs + [{"label": f"preset: {label}", "value": f"preset:{name}"} for name, label in PRESET_LABELS.items()]


def form_values(values: dict) -> list:
    """The explorer's field values (n_layer ... vocab_size, dropout, bias) for a model_args dict."""
    return [values.get(k) for k in INT_FIELDS] + [values.get("dropout", 0.0), ["bias"] if values.get("bias") else []]


def config_from_form(ints: list, dropout: Any, bias: list | None) -> dict:
    """The form as model_args-style values (validated later by architecture.model_config)."""
    return {**dict(zip(INT_FIELDS, ints)), "dropout": 0.0 if dropout in (None, "") else dropout, "bias": bool(bias)}


def totals_view(config: dict) -> html.Dl:
    """The numbers of a configuration: both parameter counts, as model.py reports them, and FLOPs."""
    arch = describe(model_config(config))
    t = arch.totals
    rows = [
        ("parameters (sum of p.numel())", f"{t.total:,} ({human(t.total)})"),
        ("nanoGPT's count (get_num_params: without wpe)", f"{t.reported:,} ({human(t.reported)})"),
        ("saved by tying lm_head to wte", f"{t.tied_saved:,}"),
        ("forward FLOPs per token", human(arch.forward_flops_per_token)),
        ("training FLOPs per token (6N + 12·L·H·Q·T)", human(arch.training_flops_per_token)),
    ]
    return html.Dl([item for term, value in rows for item in (html.Dt(term), html.Dd(value))], className="ngd-totals mb-0")


def run_stats(store: LiveStore, run_id: str) -> dict[str, Series]:
    """Every layer-statistics series of a run, as (steps, values)."""
    out: dict[str, Series] = {}
    for key in store.keys(run_id):
        if parse_stat_key(key) is None:
            continue
        v = store.view(run_id, key)
        if v is not None and len(v.step):
            out[key] = (v.step, v.value.astype(np.float64))
    return out


def legend(stat: str, scale: ColourScale, count: int) -> html.Div:
    """A colour bar with numbers under it."""
    ticks = scale.ticks(3)
    return html.Div([
        html.Div(f"{STAT_LABELS[stat]}{' (log scale)' if scale.log else ''} · {count} parts", className="small mb-1"),
        html.Div(className="ngd-legend-bar", style={"background": scale.gradient_css()}),
        html.Div([html.Span(label) for _, label in ticks], className="ngd-legend-ticks"),
    ], id="model-legend-scale")


def slider_marks(steps: list[int], most: int = 6) -> dict:
    """Marks for a slider over step indices: a few steps, always the first and the last."""
    if not steps:
        return {}
    every = max(1, math.ceil(len(steps) / most))
    chosen = set(range(0, len(steps), every)) | {len(steps) - 1}
    return {i: str(steps[i]) for i in sorted(chosen)}


def detail_view(arch: Architecture, node_id: str) -> list:
    """The detail panel of one node: numbers, its tensors, its explanation."""
    d = node_detail(arch, node_id)
    table = dbc.Table([
        html.Thead(html.Tr([html.Th("tensor"), html.Th("shape"), html.Th("count"), html.Th("share")])),
        html.Tbody([html.Tr([html.Td(html.Code(t.name)), html.Td(t.shape), html.Td(t.count),
                             html.Td(t.share, title=t.note)]) for t in d.tensors]),
    ], size="sm", className="mb-2") if d.tensors else html.P("No parameters: this step only computes.", className="text-muted")
    children = [
        html.H3(d.title, className="h6 mb-1"),
        html.Code(d.node_id, className="small d-block mb-2"),
        html.Dl([item for k, v in d.summary for item in (html.Dt(k, className="small"), html.Dd(v, className="small mb-1"))]),
        table,
        html.P(d.explanation),
    ]
    return children


def block_of(node_id: str) -> int | None:
    """The block a node id belongs to ('transformer.h.3.ln_1' -> 3), None outside the blocks."""
    parts = node_id.split(".")
    return int(parts[2]) if len(parts) >= 3 and parts[:2] == ["transformer", "h"] and parts[2].isdigit() else None


# -- callbacks -------------------------------------------------------------------------------

def register(app: Dash, store: LiveStore, analyses: RunAnalyses) -> None:  # noqa: ARG001 (no anomalies here)
    field_ids = [ids.model_field(n) for n in INT_FIELDS]

    # The shell's push, relayed into a store of this page: a callback whose Inputs mix the shell's
    # ids with this page's would be fired (and fail) on every other page. The shell pushes on every
    # new row; this page wakes only when its run's statistics, attention maps or the run list change.
    @app.callback(Output(ids.MODEL_PULSE, "data"), Input(ids.DATA, "data"), State(ids.MODEL_SOURCE, "value"),
                  State(ids.MODEL_PULSE, "data"))
    def relay(_data, source, shown):
        run_id = source.partition(":")[2] if isinstance(source, str) and source.startswith("run:") else None
        pulse = page_pulse(store, run_id)
        return no_update if pulse == shown else pulse

    @app.callback(Output(ids.MODEL_SOURCE, "options"), Input(ids.MODEL_PULSE, "data"))
    def sources(_data):
        return source_options(store.run_ids())

    # the form is filled only here, so that the explorer's edits survive every push
    @app.callback(
        [Output(f, "value") for f in field_ids] + [Output(ids.model_field("dropout"), "value"),
                                                   Output(ids.model_field("bias"), "value"),
                                                   Output(ids.MODEL_SOURCE, "value"),
                                                   Output(ids.QUERY, "data", allow_duplicate=True)],
        Output(ids.VIEW, "data", allow_duplicate=True),
        Input(ids.MODEL_SOURCE, "value"), Input(ids.MODEL_PULSE, "data"), State(field_ids[0], "value"),
        prevent_initial_call="initial_duplicate",
    )
    def fill_form(source, _data, n_layer):
        if ctx.triggered_id == ids.MODEL_PULSE and (n_layer not in (None, "") or not source):
            return [no_update] * (len(field_ids) + 5)  # pushes only fill a form still waiting for its run
        chosen = no_update
        if not source:  # no ?runs= or ?preset=: the newest run, else the CPU default
            newest = max(store.run_ids(), key=lambda r: _created(store, r), default=None)
            source = chosen = f"run:{newest}" if newest else "preset:cpu-default"
        kind, _, name = source.partition(":")
        query = {"runs": name} if kind == "run" else {"preset": name}
        values = config_dict(PRESETS[name]) if kind == "preset" and name in PRESETS else _model_args(store, name)
        # the shell's pusher sends ids.DATA to a page without a push function of its own
        return form_values(values) + [chosen, query, {"page": PATH, "runs": [name] if kind == "run" else []}]

    @app.callback(
        Output(ids.MODEL_CONFIG, "data"), Output(ids.MODEL_NOTE, "children"), Output(ids.MODEL_TOTALS, "children"),
        Output(ids.MODEL_EXPANDED, "data", allow_duplicate=True),
        [Input(f, "value") for f in field_ids] + [Input(ids.model_field("dropout"), "value"),
                                                 Input(ids.model_field("bias"), "value"), Input(ids.MODEL_SOURCE, "value")],
        State(ids.MODEL_CONFIG, "data"), prevent_initial_call="initial_duplicate",
    )
    def configure(*args):
        *ints, dropout, bias, source, previous = args
        run_id = source.partition(":")[2] if source and source.startswith("run:") else None
        if run_id is not None and store.get(run_id) is None and any(v in (None, "") for v in ints):
            known = ", ".join(store.run_ids()) or "none yet"
            note = dbc.Alert(f"Run '{run_id}' is not in the runs directory (yet): it appears here as soon as its "
                             f"training writes to it. Known runs: {known}.", color="info", className="small")
            return None, note, None, no_update
        if run_id is not None and not _model_args(store, run_id) and any(v in (None, "") for v in ints):
            note = dbc.Alert([html.B(f"Run '{run_id}' has no model arguments. "),
                              "It was logged without them: pass model_args to nanogpt_dash.init(out_dir, "
                              "model_args=...) to see its model here. Pick a preset to explore a GPT meanwhile."],
                             color="info", className="small")
            return None, note, None, no_update
        try:
            config = config_dict(model_config(config_from_form(ints, dropout, bias)))
        except ArchitectureError as e:
            return no_update, dbc.Alert(str(e), color="danger", className="small", id="model-error"), no_update, no_update
        stats_run = None
        if run_id is not None:
            args_ = _model_args(store, run_id)
            try:
                stats_run = run_id if args_ and config_dict(model_config(args_)) == config else None
            except ArchitectureError:
                stats_run = None
        note = None
        if run_id is not None and stats_run is None:
            note = dbc.Alert("Edited: this is no longer the run's model, so its statistics are hidden.",
                             color="secondary", className="small")
        expanded = no_update
        if not previous or (previous.get("config") or {}).get("n_layer") != config["n_layer"]:
            expanded = DEFAULT_EXPANDED
        return {"config": config, "run": stats_run}, note, totals_view(config), expanded

    # the graph box's height / width, once per page load: a phone gets fewer, taller columns
    app.clientside_callback(ClientsideFunction("ngdModel", "aspect"), Output(ids.MODEL_ASPECT, "data"),
                            Input(ids.MODEL_GRAPH, "id"))

    @app.callback(Output(ids.MODEL_GRAPH, "elements"), Output(ids.MODEL_GRAPH, "layout"),
                  Input(ids.MODEL_CONFIG, "data"), Input(ids.MODEL_EXPANDED, "data"), Input(ids.MODEL_ASPECT, "data"))
    def draw(model, expanded, aspect):
        if not model or not model.get("config"):
            return [], LAYOUT
        arch = describe(model_config(model["config"]))
        return elements(arch, expanded or [], max_rows=rows_for(aspect)), dict(LAYOUT)

    # the theme the page shows (assets/theme.js tells the shell's store), into this page's store,
    # and the graph's stylesheet for it: the canvas cannot be recoloured by CSS
    app.clientside_callback(ClientsideFunction("ngdTheme", "relay"), Output(ids.MODEL_THEME, "data"),
                            Input(ids.THEME_APPLIED, "data"))
    app.clientside_callback(ClientsideFunction("ngdTheme", "pick"), Output(ids.MODEL_GRAPH, "stylesheet"),
                            Input(ids.MODEL_STYLES, "data"), Input(ids.MODEL_THEME, "data"))

    @app.callback(
        Output(ids.MODEL_STYLES, "data"), Output(ids.MODEL_LEGEND, "children"),
        Output(ids.MODEL_STEP, "max"), Output(ids.MODEL_STEP, "marks"), Output(ids.MODEL_STEP, "value"),
        Output(ids.MODEL_FOLLOW, "value"), Output(ids.MODEL_STEP_LABEL, "children"),
        Output(ids.MODEL_FOLLOW, "style"), Output(ids.MODEL_STEP_BOX, "style"),
        Input(ids.MODEL_STAT, "value"), Input(ids.MODEL_STEP, "value"), Input(ids.MODEL_FOLLOW, "value"),
        Input(ids.MODEL_PULSE, "data"), Input(ids.MODEL_CONFIG, "data"), Input(ids.MODEL_EXPANDED, "data"),
    )
    def colour(stat, index, follow, _data, model, expanded):
        run_id = (model or {}).get("run")
        if stat in (None, "", KIND) or run_id is None or not model.get("config"):
            label = "" if run_id else "statistics need a run's own model"
            return stylesheets({}), None, 0, {}, 0, no_update, label, HIDDEN, HIDDEN
        series = run_stats(store, run_id)
        keys = stat_keys(list(series), stat)
        steps = steps_of({k: series[k] for k in keys})
        if not steps:
            return (stylesheets({}), html.Div("no values logged yet (train.py: layer_stats_interval)", className="small text-muted"),
                    0, {}, 0, no_update, "no statistics yet", HIDDEN, HIDDEN)
        moved_by_hand = ctx.triggered_id == ids.MODEL_STEP
        follow_value = no_update
        if moved_by_hand and index is not None and index < len(steps) - 1 and follow:
            follow, follow_value = [], []
        index = len(steps) - 1 if follow or index is None else min(int(index), len(steps) - 1)
        step = steps[index]
        arch = describe(model_config(model["config"]))
        values = node_values(arch, expanded or [], stat, series, step)
        scale = colour_scale(stat, list(values.values()))
        colours = {n: scale.colour(v) for n, v in values.items() if scale and math.isfinite(v) and (v > 0 or not scale.log)}
        legend_view = legend(stat, scale, len(colours)) if scale else None
        return (stylesheets(colours), legend_view, len(steps) - 1, slider_marks(steps), index, follow_value,
                f"step {step:,}", {}, {})

    @app.callback(Output(ids.MODEL_DETAIL, "children"), Output(ids.MODEL_TOGGLE, "children"),
                  Output(ids.MODEL_TOGGLE, "style"),
                  Input(ids.MODEL_GRAPH, "tapNodeData"), Input(ids.MODEL_CONFIG, "data"), Input(ids.MODEL_EXPANDED, "data"))
    def detail(node, model, expanded):
        hidden = {"display": "none"}
        if not node or not model or not model.get("config"):
            return no_update, no_update, hidden
        arch = describe(model_config(model["config"]))
        try:
            children = detail_view(arch, node["id"])
        except KeyError:  # a node of the previous configuration
            return (html.P("Click or tap a part of the model to see what it holds and does.", className="text-muted"),
                    "", hidden)
        block = block_of(node["id"])
        if block is None:
            return children, "", hidden
        return children, f"collapse block {block}" if block in (expanded or []) else f"expand block {block}", {}

    @app.callback(Output(ids.MODEL_EXPANDED, "data", allow_duplicate=True),
                  Input(ids.MODEL_TOGGLE, "n_clicks"), Input(ids.MODEL_EXPAND_ALL, "n_clicks"),
                  Input(ids.MODEL_COLLAPSE_ALL, "n_clicks"),
                  State(ids.MODEL_GRAPH, "tapNodeData"), State(ids.MODEL_EXPANDED, "data"), State(ids.MODEL_CONFIG, "data"),
                  prevent_initial_call=True)
    def expand(_toggle, _all, _none, node, expanded, model):
        if not model or not model.get("config"):
            return no_update
        n_layer = model["config"]["n_layer"]
        if ctx.triggered_id == ids.MODEL_EXPAND_ALL:
            return list(range(n_layer))
        if ctx.triggered_id == ids.MODEL_COLLAPSE_ALL:
            return []
        if not _toggle or not node:
            return no_update
        block = block_of(node["id"])
        if block is None:
            return no_update
        expanded = set(expanded or [])
        expanded ^= {block}
        return sorted(expanded)

    for button, function in ((ids.MODEL_ZOOM_IN, "zoomIn"), (ids.MODEL_ZOOM_OUT, "zoomOut"), (ids.MODEL_FIT, "fit")):
        app.clientside_callback(ClientsideFunction("ngdModel", function), Output(button, "title"),
                                Input(button, "n_clicks"), State(ids.MODEL_GRAPH, "id"), prevent_initial_call=True)

    @app.callback(Output(ids.MODEL_HEATMAP, "figure"), Output(ids.MODEL_HEATMAP_SEEN, "data"),
                  Input(ids.MODEL_HEATMAP_STAT, "value"), Input(ids.MODEL_PULSE, "data"), Input(ids.MODEL_CONFIG, "data"),
                  State(ids.MODEL_HEATMAP_SEEN, "data"))
    def heatmap(stat, pulse, model, seen):
        run_id = (model or {}).get("run")
        signature = [run_id, stat, pulse]
        if signature == seen:
            return no_update, no_update
        if run_id is None:
            return _empty_figure("Layer statistics are shown for a run's own model: choose a run above."), signature
        series = run_stats(store, run_id)
        if not stat_keys(list(series), stat):
            return _empty_figure("No layer statistics yet: train.py logs them every layer_stats_interval steps "
                                 "(0 turns them off)."), signature
        return heatmap_figure(stat, series), signature

    @app.callback(
        Output(ids.MODEL_ATTN_GRID, "figure"), Output(ids.MODEL_ATTN_FOCUS, "figure"),
        Output(ids.MODEL_ATTN_STEP, "max"), Output(ids.MODEL_ATTN_STEP, "marks"), Output(ids.MODEL_ATTN_STEP, "value"),
        Output(ids.MODEL_ATTN_LABEL, "children"), Output(ids.MODEL_ATTN_LAYER, "options"),
        Output(ids.MODEL_ATTN_HEAD, "options"), Output(ids.MODEL_ATTN_SEEN, "data"),
        Output(ids.MODEL_ATTN_GRID, "style"), Output(ids.MODEL_ATTN_FOCUS, "style"),
        Input(ids.MODEL_ATTN_STEP, "value"), Input(ids.MODEL_ATTN_LAYER, "value"), Input(ids.MODEL_ATTN_HEAD, "value"),
        Input(ids.MODEL_PULSE, "data"), Input(ids.MODEL_CONFIG, "data"),
        State(ids.MODEL_ATTN_SEEN, "data"), State(ids.MODEL_ATTN_STEP, "max"),
    )
    def attention(index, layer, head, _data, model, seen, last_max):
        run_id = (model or {}).get("run")
        maps = store.arrays(run_id, ATTENTION_KIND) if run_id else []
        if not maps:
            message = ("Attention maps are recorded at each eval while layer statistics are on."
                       if run_id else "Attention maps are shown for a run's own model: choose a run above.")
            signature = [run_id, 0]
            if signature == seen:
                return (no_update,) * 11
            return (_empty_figure(message), _empty_figure(""), 0, {}, 0, message, [], [], signature, EMPTY_STYLE, EMPTY_STYLE)
        steps = [m.step for m in maps]
        following = index is None or last_max is None or index >= last_max
        if ctx.triggered_id != ids.MODEL_ATTN_STEP and following:
            index = len(maps) - 1
        index = min(int(index or 0), len(maps) - 1)
        L, H = maps[index].array.shape[:2]
        layer = min(int(layer or 0), L - 1)
        head = min(int(head or 0), H - 1)
        signature = [run_id, maps[-1].id, index, layer, head]
        if signature == seen:
            return (no_update,) * 11
        chosen = maps[index]
        tokens = chosen.meta.get("tokens", [])
        grid = attention_grid(chosen.array, tokens, chosen.step)
        focus = attention_focus(chosen.array, tokens, layer, head, chosen.step)
        text = "".join(tokens)
        label = [html.Span(f"step {chosen.step:,} · {len(steps)} evals · probe: "),
                 html.Code(text[:80] + ("…" if len(text) > 80 else ""))]
        layer_options = [{"label": str(i), "value": str(i)} for i in range(L)]
        head_options = [{"label": str(j), "value": str(j)} for j in range(H)]
        return (grid, focus, len(maps) - 1, slider_marks(steps), index, label, layer_options, head_options, signature,
                scaled(*attention_grid_size(L, H)), scaled(FOCUS_PX, FOCUS_PX))


def page_pulse(store: LiveStore, run_id: str | None) -> dict:
    """What this page redraws on: the run list, and the selected run's statistics and attention maps."""
    pulse: dict = {"runs": store.run_ids()}
    if run_id is not None:
        run = store.get(run_id)
        stats = [k for k in store.keys(run_id) if parse_stat_key(k) is not None]
        ends = [v.end for v in (store.view(run_id, k, last=1) for k in stats) if v is not None]
        maps = store.arrays(run_id, ATTENTION_KIND)
        pulse.update(stats=sum(ends), maps=maps[-1].id if maps else 0,
                     version=run.version if run is not None else None,
                     has_args=bool(_model_args(store, run_id)))
    return pulse


def _created(store: LiveStore, run_id: str) -> float:
    run = store.get(run_id)
    return run.meta.created if run is not None and run.meta is not None else 0.0


def _model_args(store: LiveStore, run_id: str) -> dict:
    run = store.get(run_id)
    if run is None or run.meta is None:
        return {}
    args = dict(run.meta.model_args or {})
    return args if all(k in args for k in MODEL_FIELDS if k not in ("bias", "dropout")) else {}
