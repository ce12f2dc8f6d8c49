"""The live page: run selector, key numbers and the four training charts, updated incrementally.

The browser keeps the read cursor (how many points of each run's metric it already has) in a
dcc.Store that the tick callback reads as State and returns with the points it sends, so a
dropped or superseded response can never lose points: the next tick simply resends them.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html, no_update
from plotly.io.json import to_json_plotly

from ..analytics import Progress, format_duration, progress
from ..live import LiveStore
from . import ids
from .figures import CHARTS, Chart, Points, build_figure, build_patch, run_color, trace

DEFAULT_RATE_HZ = 5
MAX_RATE_HZ = 10

STATUS_COLORS = {
    "running": "success", "finished": "secondary", "crashed": "danger", "interrupted": "warning",
    "stalled": "warning", "error": "danger", "unknown": "light",
}


def layout() -> html.Div:
    charts = [
        dbc.Col(dcc.Graph(id=ids.chart(c.name), figure=build_figure(c, []), config={"displaylogo": False},
                          className="ngd-chart"), xs=12, xl=6, className="mb-3")
        for c in CHARTS
    ]
    rate = dbc.InputGroup([
        dbc.InputGroupText("updates/s"),
        dbc.Select(id=ids.RATE, value=str(DEFAULT_RATE_HZ),
                   options=[{"label": str(hz), "value": str(hz)} for hz in range(1, MAX_RATE_HZ + 1)]),
    ], size="sm", className="ngd-rate")
    navbar = dbc.Navbar(dbc.Container([
        dbc.NavbarBrand("nanogpt_dash", className="fw-bold"),
        html.Div([dbc.Badge("connecting", id=ids.CONNECTION, color="secondary", className="me-3 ngd-connection"), rate],
                 className="d-flex align-items-center"),
    ], fluid=True), color="dark", dark=True, className="mb-3")
    runs_card = dbc.Card([
        dbc.CardHeader("Runs"),
        dbc.CardBody(dbc.Checklist(id=ids.RUN_SELECT, options=[], value=[], className="ngd-runs")),
    ], className="mb-3")
    sample_card = dbc.Card([dbc.CardHeader("Latest sample"), dbc.CardBody(html.Pre(id=ids.SAMPLE, className="ngd-sample mb-0"))],
                           className="mb-3")
    return html.Div([
        dcc.Location(id=ids.URL),
        dcc.Interval(id=ids.TICK, interval=1000 // DEFAULT_RATE_HZ),
        dcc.Interval(id=ids.WATCH, interval=500),
        dcc.Interval(id=ids.RUN_POLL, interval=1000),
        dcc.Store(id=ids.CURSOR),
        dcc.Store(id=ids.HEARTBEAT),
        navbar,
        dbc.Container([
            dbc.Row([
                dbc.Col([runs_card, sample_card], xs=12, lg=3),
                dbc.Col([html.Div(id=ids.KPIS, className="mb-2"), dbc.Row(charts)], xs=12, lg=9),
            ]),
        ], fluid=True),
    ])


def register(app: Dash, store: LiveStore) -> None:
    @app.callback(
        Output(ids.RUN_SELECT, "options"), Output(ids.RUN_SELECT, "value"),
        Input(ids.RUN_POLL, "n_intervals"), Input(ids.URL, "search"),
        State(ids.RUN_SELECT, "value"), State(ids.RUN_SELECT, "options"),
    )
    def update_runs(_n, search, current, options):
        now = time.time()
        run_ids = store.run_ids()
        new_options = json.loads(to_json_plotly([run_option(store, run_id, now) for run_id in run_ids]))
        selected = [r for r in (current or []) if r in run_ids]
        if not selected and run_ids:
            wanted = parse_qs((search or "").lstrip("?")).get("run", [])
            selected = [r for r in wanted if r in run_ids] or [newest_run(store, run_ids)]
        return (new_options if new_options != options else no_update,
                selected if selected != (current or []) else no_update)

    chart_outputs = [Output(ids.chart(c.name), "figure") for c in CHARTS]

    @app.callback(
        *chart_outputs, Output(ids.CURSOR, "data"), Output(ids.KPIS, "children"), Output(ids.SAMPLE, "children"),
        Output(ids.HEARTBEAT, "data"),
        Input(ids.TICK, "n_intervals"), Input(ids.RUN_SELECT, "value"),
        State(ids.CURSOR, "data"),
    )
    def tick(_n, selected, cursor):
        figures, cursor = chart_updates(store, [r for r in (selected or []) if store.get(r)], cursor)
        focus = cursor["runs"][0] if cursor["runs"] else None
        kpis = kpi_cards(store, focus) if focus else html.Div("Select a run to see its numbers.", className="text-muted")
        sample = latest_sample(store, focus, cursor)
        return (*figures, cursor, kpis, sample, time.time())

    app.clientside_callback(
        """
        function(rate, nWatch, heartbeat) {
            // Count a server answer as the moment we received it: client and server clocks may differ.
            const now = Date.now();
            const trig = (dash_clientside.callback_context.triggered || []).map(t => t.prop_id);
            if (trig.includes("heartbeat.data")) { window.ngdLastSeen = now; }
            const hz = Math.min(10, Math.max(1, parseInt(rate || "5")));
            const interval = document.visibilityState === "hidden" ? 2000 : Math.round(1000 / hz);
            const age = window.ngdLastSeen ? now - window.ngdLastSeen : null;
            let label = "connecting", color = "secondary";
            if (age !== null && age < Math.max(1500, 3 * interval)) { label = "live"; color = "success"; }
            else if (age !== null && age < 10000) { label = "reconnecting…"; color = "warning"; }
            else if (age !== null) { label = "server unreachable"; color = "danger"; }
            return [interval, label, color];
        }
        """,
        Output(ids.TICK, "interval"), Output(ids.CONNECTION, "children"), Output(ids.CONNECTION, "color"),
        Input(ids.RATE, "value"), Input(ids.WATCH, "n_intervals"), Input(ids.HEARTBEAT, "data"),
    )


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


def chart_updates(store: LiveStore, selected: list[str], cursor: dict | None) -> tuple[list, dict]:
    """Full figures when the selection or a run's segments changed, else patches of the new points."""
    versions = {r: store.get(r).version for r in selected}
    if cursor is None or cursor.get("runs") != selected or cursor.get("versions") != versions:
        return full_figures(store, selected, versions)
    sent = cursor["sent"]
    figures = []
    for chart in CHARTS:
        new_points = []
        for index, (run_id, key) in enumerate(trace_keys(chart, selected)):
            view = store.view(run_id, key, start=sent[run_id].get(key, 0))
            new_points.append((index, Points(view.step, view.value, view.wall_time)))
            sent[run_id][key] = view.end
        patch = build_patch(new_points)
        figures.append(no_update if patch is None else patch)
    return figures, {**cursor, "sent": sent}


def full_figures(store: LiveStore, selected: list[str], versions: dict[str, int]) -> tuple[list, dict]:
    sent: dict[str, dict[str, int]] = {r: {} for r in selected}
    figures = []
    for chart in CHARTS:
        traces = []
        for run_id, key in trace_keys(chart, selected):
            view = store.view(run_id, key)
            run = store.get(run_id)
            name = run.meta.name if run is not None and run.meta is not None else run_id
            traces.append(trace(run_id, name, key, Points(view.step, view.value, view.wall_time)))
            sent[run_id][key] = view.end
        figures.append(build_figure(chart, traces))
    return figures, {"runs": selected, "versions": versions, "sent": sent, "sample": None}


def trace_keys(chart: Chart, selected: list[str]) -> list[tuple[str, str]]:
    """The (run, metric) of each trace of a chart, in trace order."""
    return [(run_id, key) for run_id in selected for key in chart.keys]


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
