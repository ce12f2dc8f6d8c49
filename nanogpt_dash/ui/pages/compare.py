"""The Compare page: 2–10 runs overlaid and side by side, their configuration diff, a sortable summary
and, for three runs or more, the differing hyperparameters against best val loss (parcoords).

Brushing a parcoords axis keeps only the runs inside every brushed range for the overlay, the side
by side charts and the summary. Zooming one side-by-side chart zooms all of them. The selection
(runs, metric, x axis, smoothing, target loss, diff mode) lives in the URL.
"""

from __future__ import annotations

import math
import time
from typing import Mapping, Sequence

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import ALL, Dash, Input, Output, Patch, State, callback_context, dash_table, dcc, html, no_update

from ...analytics import AnomalyEvent, config_diff, summarize, time_to_loss
from ...analytics.summary import MISSING
from ...live import LiveStore
from ...views import X_MODES, prepare, x_values
from .. import ids
from ..live_charts import color_of
from ..query import query_runs
from .analysis import RunAnalyses, anomaly_markers

PATH = "/compare"
NAME = "Compare"
ORDER = 3
MAX_RUNS = 10
DEFAULT_METRIC = "train/loss"
METRICS = frozenset({"train/loss", "val/loss", "train/eval_loss", "lr", "grad_norm", "tokens_per_sec", "iter_ms", "mfu"})
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")  # the second cue beside colour
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star", "hexagon", "pentagon", "triangle-down")
BUDGET = 2000
# config keys that say where or how a run was watched, not how it trained: left out of the parcoords
NOT_HYPERPARAMETERS = frozenset({"out_dir", "init_from", "always_save_checkpoint", "eval_interval", "eval_iters",
                                 "eval_only", "log_interval", "sample_tokens", "dashboard", "dashboard_port",
                                 "dashboard_autostart", "run_name", "device", "compile", "backend", "layer_stats_interval"})
MAX_AXES = 12
GRAPH_CONFIG = {"displaylogo": False, "showSendToCloud": False, "showEditInChartStudio": False}
SUMMARY_COLUMNS = [("run", "run", "text"), ("status", "status", "text"), ("best_val", "best val loss", "numeric"),
                   ("best_val_step", "at step", "numeric"), ("final_train", "final train loss", "numeric"),
                   ("tokens_per_sec", "tokens/s (median)", "numeric"), ("time_to_target", "time to target (s)", "numeric"),
                   ("step_to_target", "step at target", "numeric"), ("steps", "last step", "numeric")]


def run_style(index: int, color: str) -> dict:
    """The run's colour (the same on every page) plus a dash pattern and a marker by position: colour is never the only cue."""
    return {"color": color, "dash": DASHES[index % len(DASHES)], "symbol": SYMBOLS[index % len(SYMBOLS)]}


def _x(store: LiveStore, run_id: str, mode: str, step: np.ndarray, wall: np.ndarray) -> np.ndarray:
    run = store.get(run_id)
    config = run.meta.config if run is not None and run.meta is not None else {}
    start = run.meta.segments[0].started if run is not None and run.meta is not None and run.meta.segments else 0.0
    tokens = None
    if all(isinstance(config.get(k), int) for k in ("batch_size", "block_size")):
        tokens = config["batch_size"] * config["block_size"] * int(config.get("gradient_accumulation_steps", 1) or 1)
    return x_values(mode, step, wall, tokens, start)


def metric_traces(store: LiveStore, runs: list[str], metric: str, x_mode: str, smoothing: float,
                  styles: dict[str, dict], events: Mapping[str, Sequence[AnomalyEvent]] | None = None) -> list[dict]:
    """The traces of one metric for each run: raw (faint when smoothing) and smoothed, same x alignment, and
    markers at the run's anomalies of that metric (`events`: per run, as RunAnalyses.detected gives them)."""
    traces = []
    for run_id in runs:
        view = store.view(run_id, metric)
        if view is None or not len(view.step):
            continue
        x = _x(store, run_id, x_mode, view.step, view.wall_time)
        shown, _ = prepare(x, view.value.astype(np.float64), view.step, view.wall_time, budget=BUDGET,
                           smoothing=smoothing)
        style = styles[run_id]
        line = {"color": style["color"], "dash": style["dash"], "width": 1.5}
        traces.append(go.Scatter(x=shown.x, y=shown.y, name=run_id, mode="lines", line=line,
                                 opacity=0.3 if smoothing > 0 else 1.0, legendgroup=run_id,
                                 showlegend=smoothing <= 0, meta={"run": run_id, "key": metric, "role": "line"}))
        if smoothing > 0 and shown.smooth is not None:
            traces.append(go.Scatter(x=shown.smooth_at.x, y=shown.smooth, name=run_id, mode="lines",
                                     line={**line, "width": 2.2}, legendgroup=run_id,
                                     meta={"run": run_id, "key": metric, "role": "smooth"}))
        # an event's step is one of the metric's steps: its x is that point's
        markers = anomaly_markers((events or {}).get(run_id, ()), (metric,), lambda s: np.interp(s, view.step, x),
                                  name=f"{run_id}: anomalies")
        if markers is not None:
            traces.append(go.Scatter(markers, legendgroup=run_id))
    return traces


def _axes(fig: go.Figure, metric: str, x_mode: str) -> go.Figure:
    fig.update_layout(template="plotly_white", margin={"l": 55, "r": 10, "t": 36, "b": 40},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.3}, yaxis_title=metric,
                      xaxis_title=X_MODES[x_mode])
    if x_mode == "wall":
        fig.update_xaxes(type="date")
    return fig


def overlay_figure(store: LiveStore, runs: list[str], metric: str, x_mode: str, smoothing: float,
                   styles: dict[str, dict], events: Mapping[str, Sequence[AnomalyEvent]] | None = None) -> go.Figure:
    """All runs' curves of `metric` on one chart, with their anomalies."""
    fig = go.Figure(metric_traces(store, runs, metric, x_mode, smoothing, styles, events))
    fig.update_layout(title=f"{metric}: {len(runs)} runs overlaid", uirevision=f"{metric}{x_mode}")
    _axes(fig, metric, x_mode)
    fig.update_layout(height=460, margin={"b": 110})
    return fig


def side_figure(store: LiveStore, run_id: str, metric: str, x_mode: str, smoothing: float, style: dict,
                x_range: list | None = None, y_range: list | None = None,
                events: Sequence[AnomalyEvent] = ()) -> go.Figure:
    """One run's chart of `metric` (and its anomalies) for the side-by-side row; the shared zoom is applied if given."""
    fig = go.Figure(metric_traces(store, [run_id], metric, x_mode, smoothing, {run_id: style}, {run_id: events}))
    fig.update_layout(title={"text": run_id, "font": {"size": 13}}, height=280, showlegend=False,
                      uirevision=f"{metric}{x_mode}")
    _axes(fig, metric, x_mode)
    fig.update_layout(margin={"l": 50, "r": 8, "t": 32, "b": 36})
    if x_range:
        fig.update_xaxes(range=x_range)
    if y_range:
        fig.update_yaxes(range=y_range)
    return fig


def zoom_from_relayout(relayout: dict | None) -> tuple[list | None, list | None, bool] | None:
    """(x range, y range, reset) from a chart's relayoutData; None when it holds no zoom or reset."""
    if not relayout:
        return None
    if relayout.get("xaxis.autorange") or relayout.get("autosize") is None and relayout.get("yaxis.autorange"):
        return None, None, True
    x = [relayout["xaxis.range[0]"], relayout["xaxis.range[1]"]] if "xaxis.range[0]" in relayout else relayout.get("xaxis.range")
    y = [relayout["yaxis.range[0]"], relayout["yaxis.range[1]"]] if "yaxis.range[0]" in relayout else relayout.get("yaxis.range")
    if x is None and y is None:
        return None
    return x, y, False


def summary_rows(store: LiveStore, runs: list[str], target: float | None) -> list[dict]:
    """One row per run: best val loss (and where), final train loss, median tokens/s, time to target, status."""
    rows = []
    now = time.time()
    for run_id in runs:
        row: dict = {"run": run_id, "status": store.status(run_id, now)}
        val, train, tps = store.view(run_id, "val/loss"), store.view(run_id, "train/loss"), store.view(run_id, "tokens_per_sec")
        if val is not None and len(val.step):
            s = summarize("val/loss", val.step, val.value)
            row.update(best_val=_round(s.best), best_val_step=s.best_step)
        if train is not None and len(train.step):
            s = summarize("train/loss", train.step, train.value)
            row.update(final_train=_round(s.final), steps=s.final_step)
            if target is not None:
                run = store.get(run_id)
                started = run.meta.segments[0].started if run and run.meta and run.meta.segments else None
                hit = time_to_loss(train.step, train.value, train.wall_time, target, 0.9, started)
                if hit is not None:
                    row.update(time_to_target=round(hit.elapsed_s, 1), step_to_target=hit.step)
        if tps is not None and len(tps.value):
            finite = tps.value[np.isfinite(tps.value)]
            if len(finite):
                row["tokens_per_sec"] = round(float(np.median(finite)))
        rows.append(row)
    return rows


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None and math.isfinite(value) else None


def diff_table(configs: dict[str, dict], show_all: bool, styles: dict[str, dict]) -> html.Div:
    """The hyperparameters that differ (or all), one column per run."""
    rows = config_diff(configs, show_all=show_all)
    if not rows:
        return html.Div("the runs' configurations are identical", className="text-muted small")
    # the run's colour as a swatch beside its name: coloured text would fail contrast for half the palette
    swatch = {r: html.Span(className="ngd-swatch", style={"backgroundColor": styles[r]["color"]}) for r in configs}
    head = html.Thead(html.Tr([html.Th("key")] + [html.Th([swatch[r], r]) for r in configs]))
    body = html.Tbody([html.Tr([html.Td(row.key, className="fw-semibold" if row.differs else None)]
                               + [html.Td(str(row.values[r])) for r in configs],
                               className="ngd-diff-row" + (" table-warning" if row.differs and show_all else ""))
                       for row in rows])
    return html.Div(dbc.Table([head, body], size="sm", className="mb-0 ngd-diff"), className="table-responsive",
                    tabIndex="0", role="region", **{"aria-label": "configurations of the runs"})


def _numeric(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def parcoords_figure(configs: dict[str, dict], best_val: dict[str, float | None], styles: dict[str, dict],
                     constraints: dict[str, list] | None = None) -> go.Figure | None:
    """Differing hyperparameters (numeric ones; text ones as categories) and best val loss, one line per run."""
    runs = [r for r in configs if best_val.get(r) is not None]
    if len(runs) < 3:
        return None
    dims = []
    for row in [r for r in config_diff({r: configs[r] for r in runs}) if r.key not in NOT_HYPERPARAMETERS][:MAX_AXES - 1]:
        values = [row.values[r] for r in runs]
        numbers = [_numeric(v) for v in values]
        if all(n is not None for n in numbers):
            dims.append({"label": row.key, "values": numbers})
        else:
            labels = sorted({str(v) for v in values})
            dims.append({"label": row.key, "values": [labels.index(str(v)) for v in values],
                         "tickvals": list(range(len(labels))), "ticktext": labels})
    dims.append({"label": "best val loss", "values": [best_val[r] for r in runs]})
    for d in dims:
        if constraints and d["label"] in constraints:
            d["constraintrange"] = constraints[d["label"]]
    colors = [styles[r]["color"] for r in runs]
    fig = go.Figure(go.Parcoords(
        dimensions=dims,
        line={"color": list(range(len(runs))), "colorscale": [[i / max(1, len(runs) - 1), c] for i, c in enumerate(colors)]},
        meta={"runs": runs},
    ))
    fig.update_layout(template="plotly_white", margin={"l": 70, "r": 70, "t": 60, "b": 30}, height=340)
    return fig


def apply_restyle(ranges: dict[str, list], restyle: list | None, figure: dict | None) -> dict[str, list]:
    """The brushed ranges per axis label after a parcoords restyleData event (a cleared brush removes its axis)."""
    out = dict(ranges or {})
    if not restyle or not figure or not figure.get("data"):
        return out
    dims = figure["data"][0].get("dimensions", [])
    changes = restyle[0] if isinstance(restyle, list) and restyle and isinstance(restyle[0], dict) else {}
    for name, value in changes.items():
        if not name.startswith("dimensions[") or not name.endswith("].constraintrange"):
            continue
        index = int(name[len("dimensions["):name.index("]")])
        if index >= len(dims):
            continue
        label = dims[index]["label"]
        value = value[0] if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list) \
            and value[0] and isinstance(value[0][0], list) else value
        if value:
            out[label] = value
        else:
            out.pop(label, None)
    return out


def runs_in_ranges(figure: dict | None, ranges: dict[str, list]) -> list[str] | None:
    """The runs of a parcoords figure inside every brushed range (None when nothing is brushed)."""
    if not figure or not figure.get("data") or not ranges:
        return None
    trace = figure["data"][0]
    runs = (trace.get("meta") or {}).get("runs") or []
    keep = np.ones(len(runs), bool)
    for dim in trace.get("dimensions", []):
        brushed = ranges.get(dim["label"])
        if not brushed:
            continue
        if not isinstance(brushed[0], (list, tuple)):
            brushed = [brushed]
        values = np.asarray(dim["values"], dtype=np.float64)
        inside = np.zeros(len(runs), bool)
        for lo, hi in brushed:
            inside |= (values >= lo) & (values <= hi)
        keep &= inside
    return [r for r, k in zip(runs, keep) if k]


def _same_dimensions(a: dict, b: dict) -> bool:
    strip = lambda t: [{k: v for k, v in d.items() if k != "constraintrange"} for d in t.get("dimensions", [])]  # noqa: E731
    return strip(a) == strip(b) and (a.get("meta") or {}).get("runs") == (b.get("meta") or {}).get("runs")


# -- page ----------------------------------------------------------------------------------------


def layout(**query) -> html.Div:
    """The page for `?runs=a,b,…&metric=…&x=…&smooth=…&target=…&all=1`."""
    runs = query_runs(query)[:MAX_RUNS]
    metric = query.get("metric") or DEFAULT_METRIC
    x_mode = query.get("x") if query.get("x") in X_MODES else "step"
    try:
        smooth = min(0.99, max(0.0, float(query.get("smooth", 0.6))))
    except (TypeError, ValueError):
        smooth = 0.6
    try:
        target = float(query["target"]) if query.get("target") not in (None, "") else None
    except ValueError:
        target = None
    controls = dbc.Card(dbc.CardBody([
        # native controls (checkboxes, selects): each has a label that screen readers announce, and
        # they work by keyboard and touch in every browser (Dash 4's dcc.Dropdown hides a focusable
        # input from screen readers, which axe-core reports as a serious violation)
        html.Fieldset([
            html.Legend("runs (2–10)", className="small mb-1 ngd-legend"),
            dbc.Checklist(id=ids.CMP_RUNS, value=runs, options=[{"label": r, "value": r} for r in runs],
                          inline=True, className="ngd-cmp-runs"),
        ], className="mb-2"),
        dbc.Row([
            dbc.Col([dbc.Label("metric", html_for=ids.CMP_METRIC, className="small mb-1"),
                     dbc.Select(id=ids.CMP_METRIC, value=metric, options=[{"label": metric, "value": metric}])], xs=12, md=4),
            dbc.Col([dbc.Label("x axis", html_for=ids.CMP_X, className="small mb-1"),
                     dbc.Select(id=ids.CMP_X, value=x_mode, options=[{"label": v, "value": k} for k, v in X_MODES.items()])],
                    xs=6, md=3),
            dbc.Col([dbc.Label("smoothing", html_for=ids.CMP_SMOOTH, className="small mb-1"),
                     dcc.Slider(id=ids.CMP_SMOOTH, min=0, max=0.99, step=0.01, value=round(smooth, 2),
                                marks={0: "0", 0.5: "0.5", 0.99: "0.99"}, updatemode="mouseup")], xs=6, md=5),
        ], className="g-2"),
    ]), className="mb-3")
    return html.Div([
        html.H1("Compare runs", className="visually-hidden"),
        dcc.Store(id=ids.CMP_FILTER),
        dcc.Store(id=ids.CMP_ZOOM),  # the side-by-side charts' shared range per metric and x axis
        dbc.Container([
            controls,
            html.Div(id=ids.CMP_NOTE),
            dcc.Graph(id=ids.CMP_OVERLAY, config=GRAPH_CONFIG, className="mb-3", style={"height": "460px"}),
            html.H2("Side by side (zoom one, all follow)", className="h6 mt-2"),
            dbc.Row(id=ids.CMP_SIDE_ROW, className="g-2 mb-3"),
            dbc.Row([
                dbc.Col(dbc.Card([dbc.CardHeader([html.H2("Configuration", className="h6 mb-0 ngd-card-title d-inline-block"),
                                                  dbc.Switch(id=ids.CMP_DIFF_ALL, label="show all keys",
                                                             value=query.get("all") == "1", className="d-inline-block ms-3 small")]),
                                  dbc.CardBody(html.Div(id=ids.CMP_DIFF))], className="mb-3"), xs=12, xl=5),
                dbc.Col(dbc.Card([dbc.CardHeader(html.Div([
                    html.H2("Summary", className="h6 mb-0 ngd-card-title me-3"),
                    dbc.InputGroup([
                        html.Label("target loss", htmlFor=ids.CMP_TARGET, className="input-group-text"),
                        dbc.Input(id=ids.CMP_TARGET, type="number", value=target, step="any", debounce=True,
                                  placeholder="e.g. 1.5")], size="sm", className="flex-grow-1 w-auto")],
                    className="d-flex align-items-center")),
                    dbc.CardBody(dash_table.DataTable(
                        id=ids.CMP_SUMMARY, sort_action="native", sort_by=[{"column_id": "best_val", "direction": "asc"}],
                        columns=[{"id": c, "name": n, "type": t} for c, n, t in SUMMARY_COLUMNS], data=[],
                        style_table={"overflowX": "auto"}, style_cell={"fontSize": 13, "padding": "4px", "fontFamily": "system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif"},
                        style_header={"fontWeight": "600"}))], className="mb-3"), xs=12, xl=7),
            ]),
            html.Div([html.H2("Hyperparameters that differ, against best val loss (drag along an axis to filter the runs "
                              "shown above)", className="h6 mt-2"),
                      # a phone scrolls the axes sideways rather than squeezing them together
                      html.Div(dcc.Graph(id=ids.CMP_PARCOORDS, config=GRAPH_CONFIG, style={"minWidth": "760px"},
                                         className="mb-3"), style={"overflowX": "auto"})],
                     id=ids.CMP_PARCOORDS_BOX, style={"display": "none"}),
        ], fluid=True),
    ])


def register(app: Dash, store: LiveStore, analyses: RunAnalyses) -> None:
    def styles_for(runs: list[str]) -> dict[str, dict]:
        return {r: run_style(i, color_of(store, r)) for i, r in enumerate(runs)}

    def selected(runs: list | None) -> list[str]:
        return [r for r in (runs or []) if store.get(r) is not None][:MAX_RUNS]

    @app.callback(Output(ids.CMP_RUNS, "options"), Output(ids.CMP_METRIC, "options"),
                  Input(ids.DATA, "data"), State(ids.CMP_RUNS, "value"),
                  State(ids.CMP_RUNS, "options"), State(ids.CMP_METRIC, "options"))
    def options(_data, runs, run_options, metric_options):
        run_ids = store.run_ids()
        picked = selected(runs)
        new_runs = [{"label": r, "value": r, "disabled": len(picked) >= MAX_RUNS and r not in picked} for r in run_ids]
        keys = sorted({k for r in (picked or run_ids) for k in store.keys(r)})
        new_metrics = [{"label": k, "value": k} for k in keys] or [{"label": DEFAULT_METRIC, "value": DEFAULT_METRIC}]
        return (new_runs if new_runs != run_options else no_update,
                new_metrics if new_metrics != metric_options else no_update)

    @app.callback(
        Output(ids.CMP_OVERLAY, "figure"), Output(ids.CMP_SIDE_ROW, "children"), Output(ids.CMP_NOTE, "children"),
        Input(ids.DATA, "data"), Input(ids.CMP_RUNS, "value"), Input(ids.CMP_METRIC, "value"), Input(ids.CMP_X, "value"),
        Input(ids.CMP_SMOOTH, "value"), Input(ids.CMP_FILTER, "data"), State(ids.CMP_ZOOM, "data"),
    )
    def charts(_data, runs, metric, x_mode, smoothing, kept, zoom):
        runs = selected(runs)
        styles = styles_for(runs)
        kept = (kept or {}).get("runs")
        shown = [r for r in runs if kept is None or r in kept]
        note = None
        if len(runs) < 2:
            note = dbc.Alert("pick at least two runs to compare", color="info", className="py-2")
        elif kept is not None and len(shown) < len(runs):
            note = dbc.Alert(f"parallel-coordinates filter: showing {len(shown)} of {len(runs)} runs "
                             f"({', '.join(r for r in runs if r not in shown)} hidden)", color="secondary", className="py-2")
        x_mode = x_mode if x_mode in X_MODES else "step"
        smoothing = float(smoothing or 0)
        events = {r: analyses.detected(r) for r in shown}
        overlay = overlay_figure(store, shown, metric, x_mode, smoothing, styles, events)
        width = max(3, 12 // max(1, min(len(shown), 4)))
        side = [dbc.Col(dcc.Graph(id={"type": ids.CMP_SIDE, "index": r}, config=GRAPH_CONFIG,
                                  figure=side_figure(store, r, metric, x_mode, smoothing, styles[r],
                                                     *(zoom or {}).get(f"{metric}|{x_mode}", (None, None)),
                                                     events=events[r])),
                        xs=12, md=6, lg=width) for r in shown]
        return overlay, side, note

    @app.callback(Output({"type": ids.CMP_SIDE, "index": ALL}, "figure"), Output(ids.CMP_ZOOM, "data"),
                  Input({"type": ids.CMP_SIDE, "index": ALL}, "relayoutData"), State(ids.CMP_ZOOM, "data"),
                  State(ids.CMP_METRIC, "value"), State(ids.CMP_X, "value"), prevent_initial_call=True)
    def sync_zoom(relayouts, shared, metric, x_mode):
        trigger = callback_context.triggered_id
        if not isinstance(trigger, dict):
            return [no_update] * len(relayouts), no_update
        ids_in_order = [o["id"]["index"] for o in callback_context.outputs_list[0]]
        source = relayouts[ids_in_order.index(trigger["index"])]
        zoom = zoom_from_relayout(source)
        if zoom is None:
            return [no_update] * len(relayouts), no_update
        x, y, reset = zoom
        shared = dict(shared or {})
        shared[f"{metric}|{x_mode}"] = (None, None) if reset else (x, y)
        out = []
        for run_id in ids_in_order:
            if run_id == trigger["index"]:
                out.append(no_update)
                continue
            patch = Patch()
            if reset:
                patch["layout"]["xaxis"]["autorange"] = True
                patch["layout"]["yaxis"]["autorange"] = True
            if x is not None:
                patch["layout"]["xaxis"]["range"] = x
                patch["layout"]["xaxis"]["autorange"] = False
            if y is not None:
                patch["layout"]["yaxis"]["range"] = y
                patch["layout"]["yaxis"]["autorange"] = False
            out.append(patch)
        return out, shared

    @app.callback(Output(ids.CMP_DIFF, "children"), Input(ids.DATA, "data"), Input(ids.CMP_RUNS, "value"),
                  Input(ids.CMP_DIFF_ALL, "value"))
    def diff(_data, runs, show_all):
        runs = selected(runs)
        if len(runs) < 2:
            return html.Div("pick at least two runs", className="text-muted small")
        configs = {r: store.get(r).meta.config if store.get(r).meta else {} for r in runs}
        return diff_table(configs, bool(show_all), styles_for(runs))

    @app.callback(Output(ids.CMP_SUMMARY, "data"), Input(ids.DATA, "data"), Input(ids.CMP_RUNS, "value"),
                  Input(ids.CMP_TARGET, "value"), Input(ids.CMP_FILTER, "data"))
    def summary(_data, runs, target, brushed):
        kept = (brushed or {}).get("runs")
        runs = [r for r in selected(runs) if kept is None or r in kept]
        return summary_rows(store, runs, float(target) if target not in (None, "") else None)

    @app.callback(Output(ids.CMP_PARCOORDS, "figure"), Output(ids.CMP_PARCOORDS_BOX, "style"),
                  Input(ids.DATA, "data"), Input(ids.CMP_RUNS, "value"), State(ids.CMP_FILTER, "data"),
                  State(ids.CMP_PARCOORDS, "figure"))
    def parcoords(_data, runs, brushed, current):
        runs = selected(runs)
        configs = {r: store.get(r).meta.config if store.get(r).meta else {} for r in runs}
        best = {row["run"]: row.get("best_val") for row in summary_rows(store, runs, None)}
        fig = parcoords_figure(configs, best, styles_for(runs), (brushed or {}).get("ranges"))
        if fig is None:
            return {"data": [], "layout": {}}, {"display": "none"}
        new = fig.to_plotly_json()
        if current and current.get("data") and _same_dimensions(current["data"][0], new["data"][0]):
            return no_update, {"display": "block"}
        return fig, {"display": "block"}

    @app.callback(Output(ids.CMP_FILTER, "data"), Input(ids.CMP_PARCOORDS, "restyleData"),
                  Input(ids.CMP_RUNS, "value"), State(ids.CMP_FILTER, "data"), State(ids.CMP_PARCOORDS, "figure"),
                  prevent_initial_call=True)
    def brush(restyle, _runs, brushed, figure):
        if callback_context.triggered_id == ids.CMP_RUNS:
            return None
        ranges = apply_restyle((brushed or {}).get("ranges", {}), restyle, figure)
        return {"ranges": ranges, "runs": runs_in_ranges(figure, ranges)}

    # the shell's pusher sends ids.DATA for the page in ids.VIEW: claim it (a tab may come from Live)
    @app.callback(Output(ids.VIEW, "data", allow_duplicate=True), Input(ids.CMP_RUNS, "value"),
                  prevent_initial_call="initial_duplicate")
    def to_pusher(runs):
        return {"page": PATH, "runs": list(runs or [])}

    @app.callback(Output(ids.QUERY, "data", allow_duplicate=True),
                  Input(ids.CMP_RUNS, "value"), Input(ids.CMP_METRIC, "value"), Input(ids.CMP_X, "value"),
                  Input(ids.CMP_SMOOTH, "value"), Input(ids.CMP_TARGET, "value"), Input(ids.CMP_DIFF_ALL, "value"),
                  prevent_initial_call=True)
    def to_url(runs, metric, x_mode, smoothing, target, show_all):
        query = {"runs": ",".join(runs or []), "metric": metric or DEFAULT_METRIC, "x": x_mode or "step",
                 "smooth": str(smoothing if smoothing is not None else 0)}
        if target not in (None, ""):
            query["target"] = str(target)
        if show_all:
            query["all"] = "1"
        return query
