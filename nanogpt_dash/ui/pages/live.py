"""The Live page: run selector, view controls, key numbers and the four training charts.

Nothing here polls. The page tells the server its view (ids.VIEW, from the controls and the
URL); the server pushes what the tab lacks with `push` (see ui/push.py): full figures or new
points (ui/live_charts.py), the run list, key numbers, the latest sample and alerts.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass, field

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update
from plotly.io.json import to_json_plotly

from ...analytics import Progress, format_duration, progress
from ...live import LiveStore
from ...runs import changes_between
from ...views import X_MODES
from .. import ids
from ..figures import CHARTS, build_figure
from ..live_charts import chart_updates, color_of, view_state
from ..push import Push
from ..query import query_runs
from .analysis import RunAnalyses

PATH = "/"
NAME = "Live"
ORDER = 0
# the key numbers refresh at most once a second: faster cannot be read (and each refresh, even of
# text alone, has the browser lay out and paint the cards)
KPI_PERIOD_S = 1.0
# held key numbers get a round of their own once no data has come for this long since they were
# last sent: a round, like any push, makes the next point wait for the tab's rate, and while a run
# logs faster than this they ride on its pushes anyway
KPI_ALONE_AFTER_S = 1.5
MAX_RUNS = 20  # runs drawn at once on one page
RESEND = 3  # pushes of points that each push repeats
FIRST = "(first)"  # the focus select's value for "the first selected run"

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
    focus: str = ""

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
                   zoom=zoom, focus=query.get("focus") if isinstance(query.get("focus"), str) else "")


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
        dbc.CardHeader(html.H2("Runs", className="h6 mb-0 ngd-card-title")),
        dbc.CardBody(dbc.Checklist(id=ids.RUN_SELECT, options=[], value=view.runs, className="ngd-runs")),
    ], className="mb-3")
    options = (["log"] if view.log else []) + (["superseded"] if view.superseded else [])
    view_card = dbc.Card([
        dbc.CardHeader(html.H2("View", className="h6 mb-0 ngd-card-title")),
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
    sample_card = dbc.Card([dbc.CardHeader(html.H2("Latest sample", className="h6 mb-0 ngd-card-title")), dbc.CardBody(html.Div(id=ids.SAMPLE))], className="mb-3")
    config_card = dbc.Card(dbc.CardBody(html.Details([
        html.Summary("Configuration", className="fw-semibold"),
        html.Div(id=ids.CONFIG, className="mt-2"),
    ])), className="mb-3")
    focus = html.Div([
        dbc.Label("Key numbers of", html_for=ids.FOCUS, className="small mb-0 me-2 text-nowrap"),
        dbc.Select(id=ids.FOCUS, value=view.focus or None, options=[], size="sm", className="ngd-focus-select"),
    ], id=ids.FOCUS_ROW, className="d-flex align-items-center mb-2", hidden=True)
    return html.Div([
        html.H1("Live training", className="visually-hidden"),
        dcc.Store(id=ids.WIDTH),
        dcc.Store(id=ids.RESYNC),
        dcc.Store(id=ids.ZOOM, data=view.zoom),
        dbc.Container([
            dbc.Row([
                # on a phone the numbers and charts come first, the controls below them
                dbc.Col([runs_card, view_card, sample_card, config_card], xs=12, lg=3, className="order-2 order-lg-1"),
                dbc.Col([html.Div(id=ids.ALERTS), focus, html.Div(id=ids.KPIS, className="mb-2"),
                         dbc.Row(charts)], xs=12, lg=9, className="order-1 order-lg-2"),
            ]),
        ], fluid=True),
    ])


def register(app: Dash, store: LiveStore, analyses: RunAnalyses) -> None:
    # what the server needs to know of this tab's view (ui/push.py sends what it lacks)
    app.clientside_callback(
        ClientsideFunction("ngd", "liveView"),
        Output(ids.VIEW, "data", allow_duplicate=True), Output(ids.QUERY, "data", allow_duplicate=True),
        Input(ids.RUN_SELECT, "value"), Input(ids.X_MODE, "value"), Input(ids.SMOOTHING, "value"),
        Input(ids.VIEW_OPTIONS, "value"), Input(ids.ZOOM, "data"), Input(ids.WIDTH, "data"), Input(ids.RESYNC, "data"),
        Input(ids.FOCUS, "value"),
        prevent_initial_call="initial_duplicate",
    )
    # new points need no callback: they come in the shell's feed (ids.FEED), which assets/charts.js
    # reads as it arrives and draws (not dcc.Graph.extendData: each new extendData made dcc.Graph
    # apply every earlier one again); it sets ids.RESYNC when it missed some
    # relayoutData is an event, not a state: the first autosize after a zoom overwrites it. Keep
    # each chart's x range in a store that only x-axis events change.
    app.clientside_callback(
        ClientsideFunction("ngd", "collectZoom"),
        Output(ids.ZOOM, "data"), *[Input(ids.chart(c.name), "relayoutData") for c in CHARTS], State(ids.ZOOM, "data"),
        prevent_initial_call=True,
    )


def push(store: LiveStore, view: dict, cursor: dict | None, scratch: dict, *, analyses: RunAnalyses) -> Push:
    """What one tab of this page lacks: charts (with the anomalies `analyses` found), run list, key numbers,
    sample and alerts (see ui/push.py)."""
    if isinstance(cursor, dict) and cursor.get("page") == PATH:
        cursor = dict(cursor)
    else:  # the page is new to the tab: its pushes of points are a new stream (charts.js numbers them anew)
        cursor = {"page": PATH, "stream": time.time_ns() // 1000}
        scratch.pop("recent", None)  # pushes of the tab's earlier visit
    if view.get("resync") != cursor.get("resync"):  # the browser missed points: draw every chart anew
        cursor["resync"] = view.get("resync")
        cursor.pop("charts", None)
    now = time.time()
    props: dict[str, dict] = {}
    run_ids = store.run_ids()
    wanted = [r for r in view.get("runs") or [] if isinstance(r, str)] if isinstance(view.get("runs"), list) else []
    selected = [r for r in dict.fromkeys(wanted) if store.get(r)][:MAX_RUNS]
    missing = [r for r in dict.fromkeys(wanted) if not store.get(r)][:MAX_RUNS]
    # a run asked for but not (yet) in the folder stays in the list, so that the selection keeps
    # it (a checklist drops values it has no option for) and it is drawn once it appears
    options = json.loads(to_json_plotly([run_option(store, run_id, now) for run_id in run_ids]
                                        + [missing_option(run_id) for run_id in missing]))
    if only_if_changed(cursor, "options", options) is not no_update:
        props[ids.RUN_SELECT] = {"options": options}
    # the newest run when the page was opened without any (not while the page's view is still
    # unknown: the shell may announce the page before the page announces its runs)
    if not selected and run_ids and view.get("runs") == []:
        selected = [newest_run(store, run_ids)]
        props.setdefault(ids.RUN_SELECT, {})["value"] = selected
    chosen = view.get("focus") if view.get("focus") in selected else None
    focus = chosen or (selected[0] if selected else None)
    # the first run is the default, not a choice: its option has the value FIRST, so that a run that
    # appears in the selection later does not find the focus pinned to another one
    focus_options = [{"label": run_name(store, r), "value": r if i else FIRST} for i, r in enumerate(selected)]
    if only_if_changed(cursor, "focus", [focus_options, chosen]) is not no_update:
        props[ids.FOCUS] = {"options": focus_options,
                            "value": chosen if chosen and chosen != (selected or [None])[0] else FIRST}
        props[ids.FOCUS_ROW] = {"hidden": len(selected) < 2}
    state = view_state(view.get("x"), view.get("smooth"), view.get("options"), view.get("width"))
    zooms = view.get("zoom") if isinstance(view.get("zoom"), dict) else {}
    events = {run_id: analyses.detected(run_id) for run_id in selected}
    figures, extends, charts = chart_updates(store, selected, cursor.get("charts"), state, zooms, events)
    points, feed = {}, {}
    for chart, figure, extend in zip(CHARTS, figures, extends):
        if figure is not no_update:
            props[ids.chart(chart.name)] = {"figure": figure}
        elif extend is not no_update:
            points[chart.name] = [*extend, charts["charts"][chart.name]["rev"]]
    if points:
        # each push also carries the few before it, so that one the browser passed over is in the
        # next; assets/charts.js applies those it has not seen, and past a longer gap asks for the
        # charts anew
        seq = cursor.get("seq", 0) + 1
        cursor["seq"] = seq
        recent = [item for item in scratch.get("recent", []) if item["seq"] > seq - RESEND]
        recent.append({"seq": seq, "charts": points})
        scratch["recent"] = recent
        feed["points"] = {"stream": cursor.get("stream"), "seq": seq, "pushes": recent}
    cursor["charts"] = charts
    kpis = key_numbers(store, focus, cursor)
    if isinstance(kpis, KpiTexts):
        feed["kpis"] = kpis.texts
        kpis = no_update
    alerts = empty_state(store, selected, missing) + run_alerts(store, selected)
    for component, value in ((ids.KPIS, kpis), (ids.SAMPLE, latest_sample(store, focus, cursor)),
                             (ids.ALERTS, only_if_changed(cursor, "alerts", alerts)),
                             (ids.CONFIG, only_if_changed(cursor, "config", configuration(store, focus)))):
        if value is not no_update:
            props[component] = {"children": value}
    # held key numbers ride on the next push that new data brings; a round of their own only when
    # none came (KPI_ALONE_AFTER_S)
    held = cursor.pop("kpis_held", False)
    again_in = max(0.0, cursor.get("kpis_at", 0.0) + KPI_ALONE_AFTER_S - time.time()) if held else None
    return Push(props=props, cursor=cursor, again_in=again_in, feed=feed or None)


def only_if_changed(cursor: dict, name: str, component) -> object:
    """The component, or no_update when the browser already shows the same (per the cursor)."""
    signature = _checksum(component)
    if cursor.get(name) == signature:
        return no_update
    cursor[name] = signature
    return component


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
        html.Span(className="ngd-swatch", style={"backgroundColor": color_of(store, run_id)}),
        html.Span(name, className="ngd-run-name", title=run.error if run is not None and run.error else run_id),
        dbc.Badge(status, color=STATUS_COLORS.get(status, "light"), className="ms-2 ngd-status"),
    ])
    return {"label": label, "value": run_id}


def missing_option(run_id: str) -> dict:
    label = html.Span([html.Span(run_id, className="ngd-run-name"),
                       dbc.Badge("not found", color="warning", text_color="dark", className="ms-2 ngd-status")])
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


# -- key numbers and samples ----------------------------------------------------------------


@dataclass(frozen=True)
class KpiTexts:
    """New text for some key-number cards the tab shows: [[card index, text], ...]. The feed carries
    it and assets/kpis.js writes it into the cards. A new `children` of a Dash component re-mounts
    every component under it (38 here: 1.8 % of a core at one refresh a second, as much as drawing
    every new chart point); a text written into the page costs next to nothing."""

    texts: list[list]


def key_numbers(store: LiveStore, run_id: str | None, cursor: dict):
    """What the key-number cards need when they are due: the cards, KpiTexts for the numbers that
    changed, or no_update.

    They refresh at most every KPI_PERIOD_S: numbers that change ten times a second cannot be read.
    """
    now = time.time()
    if now - cursor.get("kpis_at", 0.0) < KPI_PERIOD_S:
        cursor["kpis_held"] = True  # push() asks to be run again when they are due
        return no_update
    cursor.pop("kpis_held", None)
    if run_id is None:
        update = only_if_changed(cursor, "kpis", html.Div("Select a run to see its numbers.", className="text-muted"))
    else:
        update = kpi_update(kpi_items(store, run_id), cursor)
    if update is not no_update:
        cursor["kpis_at"] = now
    return update


def kpi_items(store: LiveStore, run_id: str) -> list[tuple]:
    """(label, value) of each key-number card of `run_id`."""
    p: Progress = progress(store, run_id)
    step = "–" if p.step is None else (f"{p.step:,}" + (f" / {p.max_iters:,}" if p.max_iters else ""))
    return [
        (run_label(store, run_id), dbc.Badge(p.status, color=STATUS_COLORS.get(p.status, "light"))),
        ("step", step),
        ("train loss", _number(p.train_loss)),
        ("best val loss", _best_and_latest(p.best_val_loss, p.val_loss)),
        ("iterations/s", _number(p.iters_per_sec, ".2f")),
        ("tokens/s", _number(p.tokens_per_sec, ",.0f")),
        ("elapsed", format_duration(p.elapsed_s)),
        ("ETA", format_duration(p.eta_s)),
    ]


def kpi_cards(items: list[tuple]) -> dbc.Row:
    return dbc.Row([
        dbc.Col(html.Div([html.Div(label, className="ngd-kpi-label"), html.Div(value, className="ngd-kpi-value")],
                         className="ngd-kpi"), xs=4, md=3, xxl=True, className="mb-2")
        for label, value in items
    ], className="g-2")


def kpi_update(items: list[tuple], cursor: dict):
    """The cards when the tab shows other cards (other labels, another run) or a value that is not
    plain text changed (the status badge, the best val loss with the latest under it); else KpiTexts
    of the values that changed; else no_update. The cursor keeps a checksum of each label and value shown."""
    labels = [_checksum(label) for label, _ in items]
    values = [_checksum(value) for _, value in items]
    shown = cursor.get("kpis")
    cursor["kpis"] = {"labels": labels, "values": values}
    if not isinstance(shown, dict) or shown.get("labels") != labels or not isinstance(shown.get("values"), list) \
            or len(shown["values"]) != len(values):
        return kpi_cards(items)
    changed = [i for i, (old, new) in enumerate(zip(shown["values"], values)) if old != new]
    if not changed:
        return no_update
    if not all(isinstance(items[i][1], str) for i in changed):
        return kpi_cards(items)
    return KpiTexts([[i, items[i][1]] for i in changed])


def _checksum(component) -> int:
    return zlib.crc32(to_json_plotly(component).encode())


def _best_and_latest(best: float | None, latest: float | None):
    """The best val loss, and under it the latest eval's when that is not the best (the run is past its best)."""
    if latest is None or latest == best:
        return _number(best)
    return html.Span([_number(best), html.Span(f"now {_number(latest)}", className="ngd-kpi-sub")])


def latest_sample(store: LiveStore, run_id: str | None, cursor: dict):
    """The focused run's newest text sample, labelled with the run, when it changed; else no_update."""
    samples = store.events(run_id, "sample") if run_id else []
    newest = [run_id, samples[-1].id if samples else None]
    if cursor.get("sample") == newest:
        return no_update
    cursor["sample"] = newest
    if run_id is None:
        return html.Div("No run selected.", className="text-muted small")
    if not samples:
        return [run_label(store, run_id), html.Div("No text sample yet: train.py writes one at each eval.",
                                                   className="text-muted small mt-1")]
    sample = samples[-1]
    return [html.Div([run_label(store, run_id), html.Span(f" · step {sample.step:,}", className="small text-muted")]),
            html.Pre(str(sample.payload.get("text", "")), className="ngd-sample mb-0 mt-1")]


def run_name(store: LiveStore, run_id: str) -> str:
    run = store.get(run_id)
    return run.meta.name if run is not None and run.meta is not None else run_id


def run_label(store: LiveStore, run_id: str) -> html.Span:
    """A run's colour swatch and name: what says which run a card is about."""
    return html.Span([html.Span(className="ngd-swatch", style={"backgroundColor": color_of(store, run_id)}),
                      html.Span(run_name(store, run_id), className="ngd-run-name fw-semibold")], title=run_id)


def empty_state(store: LiveStore, selected: list[str], missing: list[str]) -> list:
    """What to say when there is nothing to draw yet, and why."""
    known = store.run_ids()
    notes = []
    if missing:
        names = ", ".join(f"'{r}'" for r in missing)
        listing = ", ".join(known[:20]) + (" …" if len(known) > 20 else "") if known else "none yet"
        notes.append(dbc.Alert([html.B(f"Run {names} not found in {store.runs_dir}/. "),
                                html.Span(f"Known runs: {listing}. Pick one in the list on the left.")],
                               color="warning", className="py-2 small ngd-not-found"))
    if not known:
        notes.append(dbc.Alert([html.B(f"No runs in {store.runs_dir}/ yet. "), "Start one with ",
                                html.Code("python train.py"), f" (it writes to {store.runs_dir}/<name>/); it appears "
                                "here by itself within a second."], color="info", className="py-2 small ngd-empty"))
    for run_id in selected:
        if store.loading(run_id):
            notes.append(dbc.Alert(f"Loading run '{run_name(store, run_id)}' …: its charts fill in as it is read.",
                                   color="info", className="py-2 small ngd-loading"))
    return notes


def configuration(store: LiveStore, run_id: str | None) -> list:
    """The focused run's hyperparameters, model args and what changed at each resume."""
    run = store.get(run_id) if run_id else None
    if run is None or run.meta is None:
        return [html.Div("No run selected.", className="text-muted small")]
    meta = run.meta

    def table(values: dict) -> html.Pre:
        # one component, not three a row: the page's components all run on every update the server
        # pushes, and a nanoGPT config has forty-odd keys. As Python, the lines go into config/*.py as they are.
        return html.Pre("\n".join(f"{key} = {value!r}" for key, value in sorted(values.items())),
                        className="ngd-config small mb-0")

    parts = [run_label(store, run_id)]
    parts += [html.Div("hyperparameters", className="ngd-kpi-label mt-2"),
              table(meta.config) if meta.config else html.Div("none recorded", className="text-muted small")]
    parts += [html.Div("model", className="ngd-kpi-label mt-2"),
              table(meta.model_args) if meta.model_args else html.Div("no model args recorded", className="text-muted small")]
    changes = changes_between(meta.segments)
    if changes:
        parts += [html.Div("changed on resume", className="ngd-kpi-label mt-2"),
                  html.Ul([html.Li(f"step {c.step:,}: {c.key} {c.old!r} → {c.new!r}") for c in changes],
                          className="small ps-3 mb-0 ngd-config-changes")]
    return parts


def _number(value: float | None, fmt: str = ".4f") -> str:
    return "–" if value is None else format(value, fmt)
