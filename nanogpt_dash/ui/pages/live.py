"""The live page: run selector, view controls, key numbers and the four training charts.

One callback owns the charts. The browser keeps its cursor (how many points of each run's metric
it has, the smoothing state, the zoom) in a dcc.Store that the callback reads as State and
returns with the update it sends, so a dropped or superseded response can never lose points:
the next tick simply resends them. A chart is rebuilt in full on first load, on a change of
runs or view, on zoom (full resolution for the visible range), when a run resumes, when a
downsampled chart has grown enough to be sampled again, and when a series logs its first value
of a kind of non-finite value; every other tick sends only new points, as extendData. The
page's clock is assets/ticker.js.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass, field

import dash_bootstrap_components as dbc
import numpy as np
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update
from plotly.io.json import to_json_plotly

from ...analytics import Progress, format_duration, progress
from ...live import LiveStore
from ...views import (DOWNSAMPLE_ABOVE, X_MODES, EmaState, budget_for_width, ema, from_axis, nonfinite_points, prepare,
                     x_values)
from .. import ids
from ..query import query_runs
from ..figures import (CHARTS, ERROR_MARKERS, Chart, TraceLayout, TraceUpdate, build_figure, error_trace, extend_data,
                      hover_data, line_trace, run_color, smooth_trace, superseded_trace)

PATH = "/"
NAME = "Live"
ORDER = 0
HEAP_LIMIT_MB = 512
PURGE_COOLDOWN_MS = 10_000  # let the garbage collector catch up before purging again
KPI_PERIOD_S = 0.5

# Dash renderer hooks (JavaScript): each answer to the charts' tick reaches assets/ticker.js
# directly, with no Dash callback to run for it in every browser on every tick.
RENDERER_HOOKS = {
    "request_post": "function(payload) { if (window.ngdTicker && String(payload.output).indexOf(%s) >= 0) "
                    "{ window.ngdTicker.answered(); } }" % json.dumps(f"{ids.HEARTBEAT}.data"),
}

# the metrics this page draws or summarises
METRICS = frozenset(key for chart in CHARTS for key in chart.keys) | {"train/loss", "val/loss", "tokens_per_sec"}

# Plotly's toolbar without its logo and without anything that uploads to Plotly's cloud
GRAPH_CONFIG = {"displaylogo": False, "showSendToCloud": False, "showEditInChartStudio": False,
                "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio"]}


@dataclass(frozen=True)
class ViewQuery:
    """The page's view as the URL query holds it: `?runs=a,b&x=tokens&smooth=0.6&log=1&superseded=1&zoom_loss=10,90`.

    assets/ngd.js (liveQuery) writes the same parameters; anything unreadable falls back to the default.
    """

    runs: list[str] = field(default_factory=list)
    x: str = "step"
    smooth: float = 0.0
    log: bool = False
    superseded: bool = False
    zoom: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, query: dict) -> "ViewQuery":
        try:
            smooth = min(0.99, max(0.0, float(query.get("smooth", 0))))
        except (TypeError, ValueError):
            smooth = 0.0
        zoom = {}
        for chart in CHARTS:
            bounds = str(query.get(f"zoom_{chart.name}", "")).split(",")
            if len(bounds) == 2 and all(bounds):
                zoom[chart.name] = bounds
        return cls(runs=query_runs(query), x=query.get("x") if query.get("x") in X_MODES else "step",
                   smooth=round(smooth, 2), log=query.get("log") == "1", superseded=query.get("superseded") == "1",
                   zoom=zoom)


STATUS_COLORS = {
    "running": "success", "finished": "secondary", "crashed": "danger", "interrupted": "warning",
    "stalled": "warning", "error": "danger", "unknown": "light",
}


def layout(**query) -> html.Div:
    """The page, with the runs and view of the URL query (see ViewQuery)."""
    view = ViewQuery.parse(query)
    charts = [
        dbc.Col(dcc.Graph(id=ids.chart(c.name), figure=build_figure(c, []), config=GRAPH_CONFIG,
                          className="ngd-chart"), xs=12, xl=6, className="mb-3")
        for c in CHARTS
    ]
    runs_card = dbc.Card([
        dbc.CardHeader("Runs"),
        dbc.CardBody(dbc.Checklist(id=ids.RUN_SELECT, options=[], value=view.runs, className="ngd-runs")),
    ], className="mb-3")
    options = (["log"] if view.log else []) + (["superseded"] if view.superseded else [])
    view_card = dbc.Card([
        dbc.CardHeader("View"),
        dbc.CardBody([
            dbc.Label("x axis", html_for=ids.X_MODE, className="small mb-1"),
            dbc.Select(id=ids.X_MODE, value=view.x, size="sm", className="mb-2",
                       options=[{"label": label, "value": mode} for mode, label in X_MODES.items()]),
            dbc.Label("smoothing", html_for=ids.SMOOTHING, className="small mb-0"),
            dcc.Slider(id=ids.SMOOTHING, min=0, max=0.99, step=0.01, value=view.smooth,
                       marks={0: "0", 0.5: "0.5", 0.99: "0.99"}, tooltip={"placement": "bottom"}, updatemode="mouseup"),
            dbc.Checklist(id=ids.VIEW_OPTIONS, className="mt-2 small", switch=True, value=options, options=[
                {"label": "log scale (y)", "value": "log"},
                {"label": "show superseded points", "value": "superseded"},
            ]),
        ]),
    ], className="mb-3")
    sample_card = dbc.Card([dbc.CardHeader("Latest sample"), dbc.CardBody(html.Pre(id=ids.SAMPLE, className="ngd-sample mb-0"))],
                           className="mb-3")
    return html.Div([
        dcc.Store(id=ids.PULSE),
        dcc.Store(id=ids.CURSOR),
        dcc.Store(id=ids.HEARTBEAT),
        dcc.Store(id=ids.WIDTH),
        dcc.Store(id=ids.ZOOM, data=view.zoom),
        dbc.Container([
            dbc.Row([
                # on a phone the numbers and charts come first, the controls below them
                dbc.Col([runs_card, view_card, sample_card], xs=12, lg=3, className="order-2 order-lg-1"),
                dbc.Col([html.Div(id=ids.ALERTS), html.Div(id=ids.MEMORY), html.Div(id=ids.KPIS, className="mb-2"),
                         dbc.Row(charts)], xs=12, lg=9, className="order-1 order-lg-2"),
            ]),
        ], fluid=True),
    ])


def register(app: Dash, store: LiveStore) -> None:
    @app.callback(
        Output(ids.RUN_SELECT, "options"), Output(ids.RUN_SELECT, "value"),
        Input(ids.WATCH, "n_intervals"), State(ids.RUN_SELECT, "value"), State(ids.RUN_SELECT, "options"),
    )
    def update_runs(_n, current, options):
        now = time.time()
        run_ids = store.run_ids()
        new_options = json.loads(to_json_plotly([run_option(store, run_id, now) for run_id in run_ids]))
        selected = [r for r in (current or []) if r in run_ids]
        if not selected and run_ids:
            selected = [newest_run(store, run_ids)]
        return (new_options if new_options != options else no_update,
                selected if selected != (current or []) else no_update)

    chart_outputs = ([Output(ids.chart(c.name), "figure") for c in CHARTS]
                     + [Output(ids.chart(c.name), "extendData") for c in CHARTS])

    @app.callback(
        *chart_outputs, Output(ids.CURSOR, "data"), Output(ids.KPIS, "children"), Output(ids.SAMPLE, "children"),
        Output(ids.ALERTS, "children"), Output(ids.HEARTBEAT, "data"),
        Input(ids.PULSE, "data"), Input(ids.RUN_SELECT, "value"), Input(ids.X_MODE, "value"),
        Input(ids.SMOOTHING, "value"), Input(ids.VIEW_OPTIONS, "value"), Input(ids.WIDTH, "data"), Input(ids.ZOOM, "data"),
        State(ids.CURSOR, "data"),
    )
    def tick(_n, selected, x_mode, smoothing, options, width, *rest):
        zooms, incoming = rest
        selected = [r for r in (selected or []) if store.get(r)]
        view = view_state(x_mode, smoothing, options, width)
        figures, extends, cursor = chart_updates(store, selected, incoming, view, zooms or {})
        focus = cursor["runs"][0] if cursor["runs"] else None
        kpis = key_numbers(store, focus, cursor)
        sample = latest_sample(store, focus, cursor)
        # re-rendering unchanged HTML costs every browser a React pass per tick: send changes only
        alerts = only_if_changed(cursor, "alerts", run_alerts(store, selected))
        # every prop that changes costs each browser a store update: an idle tick changes only the
        # heartbeat, which is always sent (an answer without outputs never reaches RENDERER_HOOKS)
        return (*figures, *extends, no_update if cursor == incoming else cursor, kpis, sample, alerts, time.time())

    app.clientside_callback(
        ClientsideFunction("ngd", "liveQuery"),
        Output(ids.QUERY, "data", allow_duplicate=True),
        Input(ids.RUN_SELECT, "value"), Input(ids.X_MODE, "value"), Input(ids.SMOOTHING, "value"),
        Input(ids.VIEW_OPTIONS, "value"), Input(ids.ZOOM, "data"),
        prevent_initial_call="initial_duplicate",
    )

    # assets/ticker.js asks for updates (the pulse store) and hears of each answer (RENDERER_HOOKS);
    # the connection badge follows the time since the last answer as this browser saw it (client
    # and server clocks may differ).
    app.clientside_callback(
        """
        function(nWatch, shownLabel, shownColor) {
            const ticker = window.ngdTicker;
            const nc = dash_clientside.no_update;
            if (!ticker) { return [nc, nc]; }
            const age = ticker.lastAnswer ? Date.now() - ticker.lastAnswer : null;
            let label = "connecting", color = "secondary";
            if (age !== null && age < Math.max(1500, 3 * ticker.interval())) { label = "live"; color = "success"; }
            else if (age !== null && age < 10000) { label = "reconnecting…"; color = "warning"; }
            else if (age !== null) { label = "server unreachable"; color = "danger"; }
            // an unchanged prop sent anyway still costs a store update and a re-render
            return [label === shownLabel ? nc : label, color === shownColor ? nc : color];
        }
        """,
        Output(ids.CONNECTION, "children"), Output(ids.CONNECTION, "color"),
        Input(ids.WATCH, "n_intervals"), State(ids.CONNECTION, "children"), State(ids.CONNECTION, "color"),
    )

    # relayoutData is an event, not a state: the first autosize after a zoom overwrites it. Keep
    # each chart's x range in a store that only x-axis events change.
    app.clientside_callback(
        """
        function(...args) {
            const names = %s;
            const zoom = Object.assign({}, args[names.length] || {});
            const trig = (dash_clientside.callback_context.triggered || []).map(t => t.prop_id);
            let changed = false;
            names.forEach((name, i) => {
                const r = args[i];
                if (!r || !trig.includes(`chart-${name}.relayoutData`)) { return; }
                let next;
                if (r["xaxis.autorange"]) { next = null; }
                else if ("xaxis.range[0]" in r) { next = [r["xaxis.range[0]"], r["xaxis.range[1]"]]; }
                else if (Array.isArray(r["xaxis.range"])) { next = r["xaxis.range"]; }
                else { return; }
                zoom[name] = next;
                changed = true;
            });
            return changed ? zoom : dash_clientside.no_update;
        }
        """ % json.dumps([c.name for c in CHARTS]),
        Output(ids.ZOOM, "data"), *[Input(ids.chart(c.name), "relayoutData") for c in CHARTS], State(ids.ZOOM, "data"),
        prevent_initial_call=True,
    )

    app.clientside_callback(
        """
        function(n, known) {
            const el = document.getElementById("chart-loss");
            const width = el ? Math.round(el.getBoundingClientRect().width / 100) * 100 : null;
            return (width && width !== known) ? width : dash_clientside.no_update;
        }
        """,
        Output(ids.WIDTH, "data"), Input(ids.WATCH, "n_intervals"), State(ids.WIDTH, "data"),
    )

    # Past the heap limit (512 MB, or ?heap_limit_mb=N), drop the older half of every trace in the
    # browser. The server's cursor is unaffected: new points keep being appended at the end.
    app.clientside_callback(
        """
        function(n, ...figures) {
            const nc = dash_clientside.no_update;
            const mem = performance.memory;
            const param = new URLSearchParams(window.location.search).get("heap_limit_mb");
            const limitMb = param ? parseFloat(param) : %d;
            const calm = window.ngdLastPurge && Date.now() - window.ngdLastPurge < %d;
            if (!mem || calm || mem.usedJSHeapSize < limitMb * 1048576) { return [nc, ...figures.map(() => nc)]; }
            window.ngdLastPurge = Date.now();
            let dropped = 0;
            const trimmed = figures.map(fig => {
                if (!fig || !fig.data) { return nc; }
                const data = fig.data.map(t => {
                    const n = (t.x || []).length, cut = Math.floor(n / 2);
                    if (n < 2) { return t; }
                    dropped += cut;
                    const out = Object.assign({}, t, {x: t.x.slice(cut), y: t.y.slice(cut)});
                    if (Array.isArray(t.customdata)) { out.customdata = t.customdata.slice(cut); }
                    if (t.marker && Array.isArray(t.marker.symbol)) {
                        out.marker = Object.assign({}, t.marker, {symbol: t.marker.symbol.slice(cut)});
                    }
                    return out;
                });
                return Object.assign({}, fig, {data: data});
            });
            window.ngdPurges = (window.ngdPurges || 0) + 1;
            const msg = `Browser memory passed ${limitMb} MB: dropped the oldest ${dropped.toLocaleString()} points ` +
                        `from the charts (purge ${window.ngdPurges}). Nothing is lost on the server: reload to see them again.`;
            return [msg, ...trimmed];
        }
        """ % (HEAP_LIMIT_MB, PURGE_COOLDOWN_MS),
        Output(ids.MEMORY, "children"), *[Output(ids.chart(c.name), "figure", allow_duplicate=True) for c in CHARTS],
        Input(ids.WATCH, "n_intervals"), *[State(ids.chart(c.name), "figure") for c in CHARTS],
        prevent_initial_call=True,
    )


def only_if_changed(cursor: dict, name: str, component) -> object:
    """The component, or no_update when the browser already shows the same (per the cursor)."""
    signature = zlib.crc32(to_json_plotly(component).encode())
    if cursor.get(name) == signature:
        return no_update
    cursor[name] = signature
    return component


def view_state(x_mode: str | None, smoothing: float | None, options: list | None, width: int | None) -> dict:
    return {
        "x": x_mode if x_mode in X_MODES else "step",
        "smooth": float(min(0.99, max(0.0, smoothing or 0.0))),
        "log": "log" in (options or []),
        "superseded": "superseded" in (options or []),
        "budget": budget_for_width(width),
    }


def newest_run(store: LiveStore, run_ids: list[str]) -> str:
    def created(run_id: str) -> float:
        run = store.get(run_id)
        return run.meta.created if run is not None and run.meta is not None else 0.0

    return max(run_ids, key=created)


def run_option(store: LiveStore, run_id: str, now: float) -> dict:
    run = store.get(run_id)
    status = "error" if run is not None and run.error else store.status(run_id, now)
    name = run.meta.name if run is not None and run.meta is not None else run_id
    label = html.Span([
        html.Span(className="ngd-swatch", style={"backgroundColor": run_color(run_id)}),
        html.Span(name, className="ngd-run-name", title=run.error if run is not None and run.error else run_id),
        dbc.Badge(status, color=STATUS_COLORS.get(status, "light"), className="ms-2 ngd-status"),
    ])
    return {"label": label, "value": run_id}


def run_alerts(store: LiveStore, selected: list[str]) -> list:
    alerts = []
    for run_id in selected:
        run = store.get(run_id)
        if run is not None and run.error:
            alerts.append(dbc.Alert([
                html.B(f"Run '{run_id}' cannot be read right now. "),
                html.Span(f"{run.error}. The charts keep its last good data; other runs are unaffected, and it "
                          "recovers by itself once the file is readable again."),
            ], color="danger", className="py-2 small"))
        found = store.nonfinite(run_id)
        if found:
            name = run.meta.name if run is not None and run.meta is not None else run_id
            parts = [f"{key}: " + ", ".join(f"{n:,} {kind}" for kind, n in counts.items()) + f" (last at step {last:,})"
                     for key, (counts, last) in sorted(found.items())]
            alerts.append(dbc.Alert([html.B(f"Run '{name}' logged values that are not finite. "),
                                     html.Span("; ".join(parts) + ". They are drawn as red markers at the chart's edge.")],
                                    color="warning", className="py-2 small ngd-nonfinite"))
    return alerts


# -- charts ---------------------------------------------------------------------------------


def chart_updates(store: LiveStore, selected: list[str], cursor: dict | None, view: dict | None = None,
                  zooms: dict | None = None) -> tuple[list, list, dict]:
    """Per chart, what its `figure` and its `extendData` receive, and the cursor after it.

    A chart gets either a full figure (extendData: no_update) or new points as extendData, never
    both: dcc.Graph duplicates or drops points when one answer brings a Patch of the figure and
    extendData together, so nothing here is ever patched. `zooms` holds each chart's x
    range as the browser last set it (None: the overview). A zoom is applied when it differs from
    the one the cursor has seen, not when it triggered the call: the answer to the triggering
    request may have been dropped, and the next request must apply it.
    """
    view = view or view_state(None, None, None, None)
    zooms = zooms or {}
    versions = {r: store.get(r).version for r in selected}
    fresh = (not valid_cursor(cursor) or cursor.get("runs") != selected or cursor.get("versions") != versions
             or cursor.get("view") != view)
    carried: dict[str, list | None] = {}
    if fresh:
        # Plotly keeps the user's zoom while the x axis stays the same (same uirevision): so do we
        same_axis = valid_cursor(cursor) and all(cursor["view"].get(k) == view[k] for k in ("x", "log"))
        if same_axis:
            carried = {name: state["zoom"] for name, state in cursor["charts"].items() if state}
        cursor = {"runs": selected, "versions": versions, "view": view, "sample": None,
                  "charts": {c.name: None for c in CHARTS},
                  "zooms": dict(cursor["zooms"] if same_axis else zooms)}
    else:  # a new cursor: the one that came in stays as the browser has it
        cursor = {**cursor, "charts": dict(cursor["charts"]), "zooms": dict(cursor["zooms"])}
    figures, extends = [], []
    for chart in CHARTS:
        series = trace_keys(chart, selected)
        state = cursor["charts"].get(chart.name)
        if not valid_chart_state(state, len(series), view):
            state = None
        zoom = state["zoom"] if state else carried.get(chart.name)
        if zooms.get(chart.name) != cursor["zooms"].get(chart.name):
            zoom = parse_zoom(zooms.get(chart.name), view["x"])
            cursor["zooms"][chart.name] = zooms.get(chart.name)
        update = None
        if state is not None and not zoom_needs_rebuild(state, zoom) and not grown_too_large(state, view):
            update = chart_tick(store, series, view, {**state, "zoom": zoom})
        if update is None:
            figure, state = full_chart(store, chart, series, view, zoom)
            update = (figure, no_update, state)
        figure, extend, cursor["charts"][chart.name] = update
        figures.append(figure)
        extends.append(extend)
    return figures, extends, cursor


def valid_cursor(cursor: object) -> bool:
    """The cursor comes from the browser: anything of another shape (an older page, a tampered one) is ignored."""
    return (isinstance(cursor, dict) and isinstance(cursor.get("runs"), list) and isinstance(cursor.get("view"), dict)
            and isinstance(cursor.get("charts"), dict) and isinstance(cursor.get("zooms"), dict))


def valid_chart_state(state: object, n_series: int, view: dict) -> bool:
    if not isinstance(state, dict):
        return False
    sent, emas = state.get("sent"), state.get("ema")
    return (isinstance(sent, list) and len(sent) == n_series and all(isinstance(n, int) and n >= 0 for n in sent)
            and isinstance(state.get("err"), list) and all(isinstance(e, list) and len(e) == 2 for e in state["err"])
            and (view["smooth"] == 0 or (isinstance(emas, list) and len(emas) == n_series))
            and isinstance(state.get("grown"), int) and "zoom" in state and "downsampled" in state)


def parse_zoom(x_range: list | None, x_mode: str) -> list | None:
    """A browser x range (numbers, or date strings on a wall-clock axis) in the units of views.x_values."""
    if not x_range:
        return None
    return [from_axis(x_mode, x_range[0]), from_axis(x_mode, x_range[1])]


def trace_keys(chart: Chart, selected: list[str]) -> list[tuple[str, str]]:
    """The (run, metric) of each series of a chart, in trace order."""
    return [(run_id, key) for run_id in selected for key in chart.keys]


def trace_layout(state: dict, n_series: int, view: dict) -> TraceLayout:
    return TraceLayout(n_series, smooth=view["smooth"] > 0, superseded=view["superseded"],
                       errors=tuple((i, kind) for i, kind in state["err"]))


def run_context(store: LiveStore, run_id: str) -> tuple[str, float, int | None]:
    """(display name, start time, tokens per step) of a run."""
    run = store.get(run_id)
    meta = run.meta if run is not None else None
    if meta is None:
        return run_id, 0.0, None
    start = meta.segments[0].started if meta.segments else meta.created
    return meta.name, start, tokens_per_step(meta.config)


def tokens_per_step(config: dict) -> int | None:
    try:
        return int(config["gradient_accumulation_steps"]) * int(config["batch_size"]) * int(config["block_size"])
    except (KeyError, TypeError, ValueError):
        return None


def full_chart(store: LiveStore, chart: Chart, series: list[tuple[str, str]], view: dict,
               zoom: list | None) -> tuple[dict, dict]:
    lines, smooths, olds, errors = [], [], [], []
    sent, emas, err = [], [], []
    downsampled = False
    for i, (run_id, key) in enumerate(series):
        name, start, tokens = run_context(store, run_id)
        v = store.view(run_id, key)
        x = x_values(view["x"], v.step, v.wall_time, tokens, start)
        shown, ema_state = prepare(x, v.value, v.step, v.wall_time, budget=view["budget"], smoothing=view["smooth"],
                                   x_range=tuple(zoom) if zoom else None)
        lines.append(line_trace(run_id, name, key, shown, view["smooth"]))
        if view["smooth"] > 0:
            smooths.append(smooth_trace(run_id, name, key, shown))
            emas.append([ema_state.last, ema_state.count])
        if view["superseded"]:
            s = store.superseded(run_id, key)
            old, _ = prepare(x_values(view["x"], s.step, s.wall_time, tokens, start), s.value, s.step, s.wall_time,
                             budget=view["budget"])
            olds.append(superseded_trace(run_id, name, key, old))
        for kind, points in shown.nonfinite.items():
            errors.append(error_trace(run_id, name, key, kind, points))
            err.append([i, kind])
        sent.append(int(v.end))
        downsampled |= shown.downsampled
    note = "downsampled (MinMaxLTTB): zoom in for every point" if downsampled else None
    figure = build_figure(chart, lines + smooths + olds + errors, view["x"], view["log"], note)
    figure["layout"]["uirevision"] = f"{chart.name}:{view['x']}:{view['log']}"
    state = {"sent": sent, "err": err, "zoom": zoom, "downsampled": downsampled, "grown": 0}
    if emas:
        state["ema"] = emas
    return figure, state


def chart_tick(store: LiveStore, series: list[tuple[str, str]], view: dict, state: dict) -> tuple | None:
    """(figure, extendData, state) for the points the browser lacks; None when the chart must be rebuilt."""
    layout = trace_layout(state, len(series), view)
    sent, emas = list(state["sent"]), [list(e) for e in state.get("ema", [])]
    updates, grown = [], 0
    for i, (run_id, key) in enumerate(series):
        v = store.view(run_id, key, start=sent[i])
        sent[i] = int(v.end)
        if not len(v.step):
            continue
        _, start, tokens = run_context(store, run_id)
        x = x_values(view["x"], v.step, v.wall_time, tokens, start)
        custom = hover_data(v.step, v.wall_time)
        updates.append(TraceUpdate(layout.line(i), x, v.value.astype(np.float32), custom))
        if layout.smooth:
            smooth, ema_state = ema(v.value, view["smooth"], EmaState(*emas[i]))
            emas[i] = [ema_state.last, ema_state.count]
            updates.append(TraceUpdate(layout.smoothed(i), x, smooth.astype(np.float32), custom))
        for kind, points in nonfinite_points(x, v.value, v.step, v.wall_time).items():
            index = layout.error(i, kind)
            if index is None:
                return None  # the first value of a new kind needs a trace of its own
            height = np.full(len(points.x), ERROR_MARKERS[kind][1], dtype=np.float32)
            updates.append(TraceUpdate(index, points.x, height, hover_data(points.step, points.wall_time)))
        grown = max(grown, int(len(v.step)))  # the growth of the fastest trace decides when to resample
    extend = extend_data(updates)
    state = {**state, "sent": sent, "grown": state["grown"] + grown}
    if layout.smooth:
        state["ema"] = emas
    return no_update, (no_update if extend is None else extend), state


def zoom_needs_rebuild(state: dict, zoom: list | None) -> bool:
    """A new x range needs data from the server only if the chart lacks points for it."""
    return zoom != state["zoom"] and (state["downsampled"] or state["zoom"] is not None)


def grown_too_large(state: dict, view: dict) -> bool:
    """True when a chart must be sampled again to keep the browser's points bounded."""
    if state["downsampled"] or state["zoom"] is not None:
        return state["grown"] > view["budget"] // 4
    return any(n > DOWNSAMPLE_ABOVE for n in state["sent"])


# -- key numbers and samples ----------------------------------------------------------------


def key_numbers(store: LiveStore, run_id: str | None, cursor: dict):
    """The key-number cards when they are due and changed, else no_update.

    They refresh at most every KPI_PERIOD_S: numbers that change ten times a second cannot be
    read, and re-rendering the cards costs the browser more than a chart update.
    """
    now = time.time()
    if now - cursor.get("kpis_at", 0.0) < KPI_PERIOD_S:
        return no_update
    cards = kpi_cards(store, run_id) if run_id else html.Div("Select a run to see its numbers.", className="text-muted")
    cards = only_if_changed(cursor, "kpis", cards)
    if cards is not no_update:
        cursor["kpis_at"] = now
    return cards


def kpi_cards(store: LiveStore, run_id: str) -> dbc.Row:
    p: Progress = progress(store, run_id)
    step = "–" if p.step is None else (f"{p.step:,}" + (f" / {p.max_iters:,}" if p.max_iters else ""))
    items = [
        ("status", dbc.Badge(p.status, color=STATUS_COLORS.get(p.status, "light"))),
        ("step", step),
        ("train loss", _number(p.train_loss)),
        ("best val loss", _number(p.best_val_loss)),
        ("iterations/s", _number(p.iters_per_sec, ".2f")),
        ("tokens/s", _number(p.tokens_per_sec, ",.0f")),
        ("elapsed", format_duration(p.elapsed_s)),
        ("ETA", format_duration(p.eta_s)),
    ]
    return dbc.Row([
        dbc.Col(html.Div([html.Div(label, className="ngd-kpi-label"), html.Div(value, className="ngd-kpi-value")],
                         className="ngd-kpi"), xs=6, md=3, xxl=True, className="mb-2")
        for label, value in items
    ], className="g-2")


def latest_sample(store: LiveStore, run_id: str | None, cursor: dict):
    samples = store.events(run_id, "sample") if run_id else []
    if not samples:
        newest = None
        text = "No text sample yet: train.py writes one at each eval."
    else:
        newest = samples[-1].id
        text = f"step {samples[-1].step}:\n{samples[-1].payload.get('text', '')}"
    if cursor.get("sample") == newest and newest is not None:
        return no_update
    cursor["sample"] = newest
    return text


def _number(value: float | None, fmt: str = ".4f") -> str:
    return "–" if value is None else format(value, fmt)
