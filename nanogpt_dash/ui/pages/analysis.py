"""The Analysis page: how fast one run goes, where its loss is heading, what went wrong and when.

The numbers come from nanogpt_dash.analytics (pure functions on arrays). `RunAnalyses` holds, per
run, an incremental anomaly detector fed only the points that arrived since the last refresh, and
the last analysis (recomputed only when the run has new rows), so every callback of every tab
shares one computation per change of data. Clicking an anomaly puts its step in the URL and zooms
both charts to it.
"""

from __future__ import annotations

import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Sequence

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update
from plotly.subplots import make_subplots

from ...analytics import (AnomalyDetector, AnomalyEvent, Forecast, Gap, MetricSummary, Plateau, Velocity,
                          find_plateaus, forecast_val_loss, format_duration, generalization_gap, slope_per_1k, stalled,
                          summarize, time_to_loss, velocity)
from ...live import LiveStore
from ...store import Event
from ...system import CPU_PERCENT, GPU_MEM_MB, GPU_UTIL, RSS_MB
from ...views import prepare
from .. import ids
from ..figures import ANOMALY_MARKERS, BLUE, GREEN, ORANGE, POINT_ANOMALIES, VERMILLION
from ..query import query_runs

PATH = "/analysis"
NAME = "Analysis"
ORDER = 2

LOSS, VAL, TRAIN_EVAL = "train/loss", "val/loss", "train/eval_loss"
DETECTED = (LOSS, VAL, "grad_norm", "tokens_per_sec")
SUMMARISED = (LOSS, VAL, TRAIN_EVAL, "grad_norm", "lr", "tokens_per_sec", "iter_ms", "mfu", CPU_PERCENT, RSS_MB,
              GPU_UTIL, GPU_MEM_MB)
RANKED = ("tokens_per_sec", "iter_ms", "mfu")  # metrics with a best value (besides losses)
METRICS = frozenset(SUMMARISED) | {"sys/gpu_mem_peak_mb"}
SMOOTHING = 0.9
CHART_BUDGET = 2000
MIN_FORECAST_EVALS = 2
LISTED = 200  # newest anomalies listed
SEVERITY_COLORS = {"critical": "danger", "warning": "warning", "info": "info"}
# on the charts each severity has its own marker shape too: colour is never the only cue
GRAPH_CONFIG = {"displaylogo": False, "showSendToCloud": False, "showEditInChartStudio": False}


@dataclass
class RunAnalysis:
    """Everything the page shows about one run at one moment."""

    run_id: str
    name: str
    status: str
    rows: int
    max_iters: int | None
    velocity: Velocity
    slope_per_1k: float | None
    plateaus: list[Plateau]
    gap: Gap
    forecast: Forecast | None
    events: list[AnomalyEvent]
    summaries: list[MetricSummary]
    series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    samples: list[Event]
    started: float | None


@dataclass
class _Tracked:
    version: str
    detector: AnomalyDetector
    cursors: dict[str, int] = field(default_factory=dict)
    analysis: RunAnalysis | None = None


class RunAnalyses:
    """Per run: the anomaly detector fed as data arrives, and the latest analysis.

    One instance serves every page and every tab (ui/app.py build_app makes it), so each point
    of a run goes through the detector once however many tabs show the run.
    """

    def __init__(self, store: LiveStore) -> None:
        self.store = store
        self._runs: dict[str, _Tracked] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str, now: float | None = None) -> RunAnalysis | None:
        """The analysis of a run, recomputed only if the run has new rows (None for an unknown run)."""
        run = self.store.get(run_id)
        if run is None or run.meta is None:
            return None
        with self._lock:
            tracked = self._fed(run_id, run.version)
            if tracked.analysis is not None and tracked.analysis.rows == run.cursor \
                    and tracked.analysis.status == self.store.status(run_id, now):
                return tracked.analysis
            events = list(tracked.detector.events)
        # outside the lock: the Live page's pushes only need the detector, not a fit that takes a while
        analysis = analyze(self.store, run_id, events, now)
        with self._lock:
            tracked.analysis = analysis
        return analysis

    def detected(self, run_id: str) -> tuple[AnomalyEvent, ...]:
        """The events the detector found in a run so far, in the order found: a list that only grows
        while the run's version stays the same (a resume or a replaced file starts it again)."""
        run = self.store.get(run_id)
        if run is None:
            return ()
        with self._lock:
            return tuple(self._fed(run_id, run.version).detector.events)

    def _fed(self, run_id: str, version: str) -> _Tracked:
        """The run's tracked state with the detector fed every point that arrived since the last call."""
        tracked = self._runs.get(run_id)
        if tracked is None or tracked.version != version:
            tracked = self._runs[run_id] = _Tracked(version, AnomalyDetector())
        for key in DETECTED:
            view = self.store.view(run_id, key, start=tracked.cursors.get(key, 0))
            if view is not None and len(view.step):
                tracked.detector.update(key, view.step, view.value, view.wall_time)
            if view is not None:
                tracked.cursors[key] = view.end
        return tracked


def series_of(store: LiveStore, run_id: str, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    view = store.view(run_id, key)
    if view is None:
        return np.empty(0, np.int64), np.empty(0), np.empty(0)
    return view.step, view.value.astype(np.float64), view.wall_time


def analyze(store: LiveStore, run_id: str, detected: list[AnomalyEvent], now: float | None = None) -> RunAnalysis:
    """One run's velocity, convergence, forecast, anomalies (detected plus derived ones) and summaries."""
    now = time.time() if now is None else now
    run = store.get(run_id)
    meta = run.meta
    config = meta.config if meta is not None else {}
    status = store.status(run_id, now)
    series = {key: series_of(store, run_id, key) for key in store.keys(run_id) if key in METRICS}
    empty = (np.empty(0, np.int64), np.empty(0), np.empty(0))
    ts, tv, tw = series.get(LOSS, empty)
    vs, vv, _ = series.get(VAL, empty)
    max_iters = config.get("max_iters") if isinstance(config.get("max_iters"), int) else None
    tokens_per_step = None
    if all(isinstance(config.get(k), int) for k in ("batch_size", "block_size")):
        tokens_per_step = config["batch_size"] * config["block_size"] * int(config.get("gradient_accumulation_steps", 1) or 1)
    iter_ms = series.get("iter_ms", empty)[1]
    started = meta.segments[0].started if meta is not None and meta.segments else None
    running = status in ("running", "stalled")
    speed = velocity(ts, tw, max_iters=max_iters, tokens_per_step=tokens_per_step, iter_ms=iter_ms[-5000:],
                     started=started, now=now, running=running)
    slope = slope_per_1k(ts, tv, smoothing=SMOOTHING) if len(ts) else None
    window = max(100, (max_iters or (int(ts[-1]) if len(ts) else 1000)) // 8)
    plateaus = find_plateaus(ts, tv, window_steps=window) if len(ts) else []
    gap = generalization_gap(ts, tv, vs, vv) if len(ts) and len(vs) else Gap(np.empty(0), np.empty(0), None, False,
                                                                             "no val loss yet")
    fc = None
    if max_iters and len(ts) and np.isfinite(vv).sum() >= MIN_FORECAST_EVALS and ts[-1] < max_iters:
        fc = forecast_val_loss(ts, tv, vs, vv, max_iters, config)
    events = list(detected)
    for p in plateaus:
        events.append(AnomalyEvent("plateau", LOSS, p.start_step, 0.0, "info",
                                   f"loss flat from step {p.start_step} to {p.end_step} (< 1 % better per {window} steps)",
                                   p.level))
    if gap.overfitting:
        events.append(AnomalyEvent("overfitting", VAL, int(gap.step[-1]), 0.0, "warning", gap.message))
    if meta is not None:
        stall = stalled(status if status != "stalled" else "running", meta.heartbeat, now,
                        int(ts[-1]) if len(ts) else None)
        if stall is not None and running:
            events.append(stall)
    events.sort(key=lambda e: e.step)
    summaries = [summarize(key, *series[key][:2]) for key in SUMMARISED if key in series]
    return RunAnalysis(run_id, meta.name if meta is not None else run_id, status, run.cursor, max_iters, speed, slope,
                       plateaus, gap, fc, events, summaries, series, store.events(run_id, "sample"), started)


# -- pure builders -------------------------------------------------------------------------------


def focus_range(analysis: RunAnalysis, step: int | None) -> list[float] | None:
    """The x range that shows `step` with some context on both sides (None: the whole run)."""
    if step is None:
        return None
    ts = analysis.series.get(LOSS, (np.array([0, 1]),))[0]
    span = max(20.0, 0.05 * float(ts[-1] if len(ts) else 1000))
    return [step - span, step + span]


MARKED_KINDS = ("nonfinite", *POINT_ANOMALIES)


def anomaly_markers(events: Sequence[AnomalyEvent], keys: tuple[str, ...], x_of_step=None,
                    name: str = "anomalies") -> dict | None:
    """A Plotly scatter trace (a dict) marking the events of `keys` at their step and value, hover = the message,
    symbol and colour by severity (figures.ANOMALY_MARKERS); None when there are none. `x_of_step` maps steps
    to the chart's x (default: the step)."""
    marked = [e for e in events if e.kind in MARKED_KINDS and e.key in keys]
    if not marked:
        return None
    steps = np.array([e.step for e in marked], dtype=np.float64)
    looks = [ANOMALY_MARKERS.get(e.severity, ANOMALY_MARKERS["warning"]) for e in marked]
    return {"type": "scatter", "mode": "markers", "name": name, "x": list(x_of_step(steps) if x_of_step else steps),
            "y": [e.value if np.isfinite(e.value) else None for e in marked],
            "marker": {"symbol": [symbol for symbol, _ in looks], "color": [color for _, color in looks], "size": 12,
                       "line": {"width": 2, "color": [color for _, color in looks]}},
            "text": [f"{e.severity}: {e.message}" for e in marked], "hovertemplate": "%{text}<extra></extra>",
            "meta": {"role": "anomalies"}}


def loss_figure(analysis: RunAnalysis, focus: int | None = None) -> go.Figure:
    """Train loss (raw faint, smoothed), val loss, the forecast with its band, and anomaly markers."""
    fig = go.Figure()
    if LOSS in analysis.series:
        step, value, wall = analysis.series[LOSS]
        shown, _ = prepare(step.astype(np.float64), value, step, wall, budget=CHART_BUDGET, smoothing=SMOOTHING)
        fig.add_scatter(x=shown.x, y=shown.y, name="train", mode="lines", line={"color": BLUE, "width": 1},
                        opacity=0.3, meta={"key": LOSS, "role": "raw"})
        fig.add_scatter(x=shown.smooth_at.x, y=shown.smooth, name=f"train (smoothed {SMOOTHING})", mode="lines",
                        line={"color": BLUE, "width": 2}, meta={"key": LOSS, "role": "smooth"})
    if VAL in analysis.series:
        step, value, _ = analysis.series[VAL]
        fig.add_scatter(x=step, y=value, name="val", mode="lines+markers", line={"color": ORANGE, "dash": "dash"},
                        meta={"key": VAL, "role": "line"})
    fc = analysis.forecast
    if fc is not None:
        fig.add_scatter(x=np.r_[fc.curve_step, fc.curve_step[::-1]], y=np.r_[fc.curve_high, fc.curve_low[::-1]],
                        fill="toself", fillcolor="rgba(230,159,0,0.18)", line={"width": 0}, hoverinfo="skip",
                        name="forecast 90 % band", meta={"role": "band"})
        fig.add_scatter(x=fc.curve_step, y=fc.curve, name=f"val forecast: {fc.value:.3f} at {fc.target_step}",
                        mode="lines", line={"color": ORANGE, "dash": "dot"}, meta={"role": "forecast"})
    markers = anomaly_markers(analysis.events, (LOSS, VAL))
    if markers is not None:
        fig.add_trace(markers)
    _decorate(fig, focus, focus_range(analysis, focus))
    fig.update_layout(title="Loss", yaxis_title="loss", xaxis_title="step", height=440)
    return fig


def system_figure(analysis: RunAnalysis, focus: int | None = None) -> go.Figure:
    """Step time beside CPU/GPU use and memory, on one step axis: a slow stretch shows its cause."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("step time (ms)", "CPU % (process) · GPU util %", "memory (MB)"))
    # two series share a row: the GPU's is dashed, so that colour is not the only thing telling them apart
    rows = ((1, "iter_ms", "step time", GREEN, "solid"), (2, CPU_PERCENT, "CPU %", BLUE, "solid"),
            (2, GPU_UTIL, "GPU util %", VERMILLION, "dash"), (3, RSS_MB, "RSS", BLUE, "solid"),
            (3, GPU_MEM_MB, "GPU memory", VERMILLION, "dash"))
    for row, key, label, color, dash in rows:
        if key not in analysis.series:
            continue
        step, value, wall = analysis.series[key]
        shown, _ = prepare(step.astype(np.float64), value, step, wall, budget=CHART_BUDGET)
        fig.add_scatter(x=shown.x, y=shown.y, name=label, mode="lines", line={"color": color, "width": 1.5, "dash": dash},
                        row=row, col=1, meta={"key": key})
    for row in (1, 2, 3):
        if not any(k in analysis.series for r, k, *_ in rows if r == row):
            fig.add_annotation(text="not logged by this run", showarrow=False, x=0.5, y=0.5, font={"color": "#6c757d"},
                               xref=f"x{row} domain" if row > 1 else "x domain",
                               yref=f"y{row} domain" if row > 1 else "y domain")
    _decorate(fig, focus, focus_range(analysis, focus))
    fig.update_layout(height=460, showlegend=True)
    fig.update_xaxes(title_text="step", row=3, col=1)
    return fig


def _decorate(fig: go.Figure, focus: int | None, x_range: list[float] | None) -> None:
    fig.update_layout(template="plotly_white", margin={"l": 55, "r": 10, "t": 40, "b": 40},
                      legend={"orientation": "h", "y": -0.2}, uirevision=str(x_range))
    if focus is not None:
        fig.add_vline(x=focus, line={"color": "#d62728", "width": 1, "dash": "dot"})
    if x_range is not None:
        fig.update_xaxes(range=x_range)


def velocity_cards(analysis: RunAnalysis) -> dbc.Row:
    """Speed, elapsed time, ETA and step-time percentiles as small cards."""
    v = analysis.velocity
    st = v.step_time
    items = [
        ("it/s", f"{v.iters_per_sec:.2f}" if v.iters_per_sec else "–"),
        ("tokens/s", f"{v.tokens_per_sec:,.0f}" if v.tokens_per_sec else "–"),
        ("elapsed", format_duration(v.elapsed_s)),
        ("ETA", format_duration(v.eta_s) if analysis.status in ("running", "stalled") else analysis.status),
        ("step time p50 / p90 / p99", f"{st.p50_ms:.0f} / {st.p90_ms:.0f} / {st.p99_ms:.0f} ms" if st else "–"),
    ]
    return dbc.Row([dbc.Col(dbc.Card(dbc.CardBody([html.Div(label, className="small text-muted"),
                                                   html.Div(value, className="fs-5 fw-semibold")]), className="h-100"),
                            xs=6, md=4, xl=True, className="mb-2") for label, value in items], className="g-2")


def convergence_list(analysis: RunAnalysis) -> html.Ul:
    """Slope, plateau, train/val gap and the forecast, in words."""
    items = []
    slope = analysis.slope_per_1k
    items.append(f"smoothed train loss changes {slope:+.3f} per 1k steps (last 20 % of steps)" if slope is not None
                 else "slope: not enough points yet")
    ts = analysis.series.get(LOSS, (np.empty(0),))[0]
    current = [p for p in analysis.plateaus if len(ts) and p.end_step == int(ts[-1])]
    items.append(f"on a plateau since step {current[0].start_step}" if current else
                 f"{len(analysis.plateaus)} earlier plateau(s)" if analysis.plateaus else "no plateau")
    items.append(("⚠ " if analysis.gap.overfitting else "") + f"val − train: {analysis.gap.message}")
    fc = analysis.forecast
    if fc is not None:
        items.append(f"forecast val loss at step {fc.target_step}: {fc.value:.3f} (90 % band {fc.low:.3f}–{fc.high:.3f}; "
                     f"{fc.method}, fitted to {fc.fitted_points} points; chosen by how well it predicted the newest evals)")
    elif analysis.max_iters is None:
        items.append("forecast: the run's config has no max_iters")
    elif len(ts) and ts[-1] >= analysis.max_iters:
        items.append(f"forecast: none needed, the run reached max_iters ({analysis.max_iters})")
    else:
        items.append("forecast: needs the train loss past warmup and two evals")
    return html.Ul([html.Li(i) for i in items], className="mb-0 ngd-convergence")


def anomaly_items(analysis: RunAnalysis, focus: int | None) -> list:
    """One clickable line per event, newest first."""
    if not analysis.events:
        return [html.Div("no anomalies found", className="text-muted small")]
    out = []
    for e in reversed(analysis.events[-LISTED:]):
        out.append(dbc.ListGroupItem([
            dbc.Badge(e.severity, color=SEVERITY_COLORS[e.severity], className="me-2"),
            html.Span(f"step {e.step}", className="fw-semibold me-2"),
            html.Span(e.kind, className="text-muted me-2 small"),
            html.Span(e.message, className="small"),
        ], id={"type": ids.ANA_ANOMALY, "index": e.step}, action=True, active=e.step == focus,
            className="py-1 ngd-anomaly"))
    return [dbc.ListGroup(out, flush=True)]


def _fmt(value: float | None, step: int | None = None) -> str:
    if value is None:
        return "–"
    text = f"{value:.4g}"
    return text if step is None else f"{text} @ {step}"


def summary_table(analysis: RunAnalysis) -> dbc.Table:
    """min / mean / final / best (and the step of the best) of each metric the run logged."""
    head = html.Thead(html.Tr([html.Th(h) for h in ("metric", "min", "mean", "final", "best", "at step", "points")]))
    ranked = [s.key in RANKED or "loss" in s.key for s in analysis.summaries]
    body = html.Tbody([html.Tr([html.Td(s.key), html.Td(_fmt(s.min)), html.Td(_fmt(s.mean)), html.Td(_fmt(s.final)),
                                html.Td(_fmt(s.best) if r else "–", className="fw-semibold"),
                                html.Td(str(s.best_step) if r and s.best_step is not None else "–"),
                                html.Td(f"{s.count}" + (f" ({s.nonfinite} non-finite)" if s.nonfinite else ""))])
                       for s, r in zip(analysis.summaries, ranked)])
    # a table wider than its card scrolls sideways: the scrolling box takes keyboard focus (arrow keys scroll it)
    return html.Div(dbc.Table([head, body], size="sm", striped=True, className="mb-0 small text-nowrap ngd-summary"),
                    className="table-responsive", tabIndex="0", role="region", **{"aria-label": "summary of every metric"})


def time_to_text(analysis: RunAnalysis, target: float | None) -> str:
    """When the smoothed train loss first reached `target`, in words."""
    if target is None:
        return "type a loss to see when the smoothed train loss first reached it"
    if LOSS not in analysis.series:
        return "no train loss yet"
    step, value, wall = analysis.series[LOSS]
    hit = time_to_loss(step, value, wall, target, SMOOTHING, analysis.started)
    if hit is None:
        return f"not reached yet (smoothed train loss is {_fmt(float(np.nanmin(value)) if len(value) else None)} at best)"
    return f"reached {target:g} at step {hit.step}, after {format_duration(hit.elapsed_s)}"


def sample_options(analysis: RunAnalysis) -> list[dict]:
    vs, vv, _ = analysis.series.get(VAL, (np.empty(0), np.empty(0), None))
    out = []
    for e in reversed(analysis.samples):
        at = np.flatnonzero(vs == e.step)
        val = f" · val loss {vv[at[-1]]:.4f}" if len(at) else ""
        out.append({"label": f"step {e.step}{val}", "value": str(e.step)})  # a <select>'s values are text
    return out


def sample_view(analysis: RunAnalysis, step: int | None) -> html.Div:
    """The text sample logged at `step` (default: the newest), with the val loss at that step."""
    if not analysis.samples:
        return html.Div("no text samples logged (train.py logs one at each eval unless --sample_tokens=0)",
                        className="text-muted small")
    chosen = next((e for e in analysis.samples if e.step == step), analysis.samples[-1])
    return html.Pre(str(chosen.payload.get("text", "")), className="ngd-sample mb-0")


# -- page ----------------------------------------------------------------------------------------


def _card(title: str, body, **kwargs) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(html.H2(title, className="h6 mb-0 ngd-card-title")), dbc.CardBody(body, **kwargs)], className="mb-3")


def layout(**query) -> html.Div:
    """The page for the first run of `?runs=` (or the newest run); `?step=N` focuses an event."""
    runs = query_runs(query)
    try:
        focus = int(query["step"]) if query.get("step") not in (None, "") else None
    except ValueError:
        focus = None
    try:
        target = float(query["target"]) if query.get("target") not in (None, "") else None
    except ValueError:
        target = None
    controls = dbc.Row([
        dbc.Col(dbc.InputGroup([html.Label("run", htmlFor=ids.ANA_RUN, className="input-group-text"),
                                dbc.Select(id=ids.ANA_RUN, value=runs[0] if runs else None, options=[])]), xs=12, md=6),
        dbc.Col(dbc.InputGroup([html.Label("time to loss", htmlFor=ids.ANA_TARGET, className="input-group-text"),
                                dbc.Input(id=ids.ANA_TARGET, type="number", value=target, step="any",
                                          placeholder="e.g. 1.5", debounce=True)]), xs=12, md=6),
    ], className="g-2 mb-2")
    return html.Div([
        html.H1("Analysis of a run", className="visually-hidden"),
        dcc.Store(id=ids.ANA_FOCUS, data=focus),
        dcc.Store(id=ids.ANA_LISTED),
        dbc.Container([
            controls,
            html.Div(id=ids.ANA_TIME_TO, className="small text-muted mb-2"),
            html.Div(id=ids.ANA_VELOCITY, className="mb-2"),
            dbc.Row([
                dbc.Col([_card("Convergence", html.Div(id=ids.ANA_CONVERGENCE)),
                         dcc.Graph(id=ids.ANA_LOSS, config=GRAPH_CONFIG, className="mb-3", style={"height": "440px"}),
                         dcc.Graph(id=ids.ANA_SYSTEM, config=GRAPH_CONFIG, className="mb-3")], xs=12, xl=7),
                dbc.Col([_card("Anomalies", html.Div(id=ids.ANA_ANOMALIES), className="p-0 ngd-anomalies",
                               style={"maxHeight": "360px", "overflowY": "auto"}),
                         _card("Text samples", [dbc.Label("sample of step", html_for=ids.ANA_SAMPLE_STEP, className="visually-hidden"),
                                                dbc.Select(id=ids.ANA_SAMPLE_STEP, options=[], className="mb-2"),
                                                html.Div(id=ids.ANA_SAMPLE)]),
                         _card("Summary", html.Div(id=ids.ANA_SUMMARY))], xs=12, xl=5),
            ]),
        ], fluid=True),
    ])


def register(app: Dash, store: LiveStore, analyses: RunAnalyses) -> None:

    @app.callback(Output(ids.ANA_RUN, "options"), Output(ids.ANA_RUN, "value"),
                  Input(ids.DATA, "data"), State(ids.ANA_RUN, "value"), State(ids.ANA_RUN, "options"))
    def run_options(_data, current, options):
        run_ids = store.run_ids()
        new = [{"label": run_id, "value": run_id} for run_id in run_ids]
        value = current if current in run_ids else (max(run_ids, key=lambda r: _created(store, r)) if run_ids else None)
        return (new if new != options else no_update), (value if value != current else no_update)

    @app.callback(
        Output(ids.ANA_VELOCITY, "children"), Output(ids.ANA_CONVERGENCE, "children"),
        Output(ids.ANA_SUMMARY, "children"), Output(ids.ANA_TIME_TO, "children"),
        Input(ids.DATA, "data"), Input(ids.ANA_RUN, "value"), Input(ids.ANA_TARGET, "value"),
    )
    def numbers(_data, run_id, target):
        analysis = analyses.get(run_id) if run_id else None
        if analysis is None:
            return html.Div("no run selected", className="text-muted"), no_update, no_update, ""
        return (velocity_cards(analysis), convergence_list(analysis), summary_table(analysis),
                time_to_text(analysis, float(target) if target not in (None, "") else None))

    @app.callback(
        Output(ids.ANA_LOSS, "figure"), Output(ids.ANA_SYSTEM, "figure"), Output(ids.ANA_ANOMALIES, "children"),
        Output(ids.ANA_LISTED, "data"),
        Input(ids.DATA, "data"), Input(ids.ANA_RUN, "value"), Input(ids.ANA_FOCUS, "data"),
        State(ids.ANA_LISTED, "data"),
    )
    def charts(_data, run_id, focus, listed):
        analysis = analyses.get(run_id) if run_id else None
        if analysis is None:
            return no_update, no_update, no_update, no_update
        # a list replaced while the user clicks it loses the click: resend it only when it changed
        shows = [run_id, focus, zlib.crc32(repr([(e.step, e.kind, e.message) for e in analysis.events[-LISTED:]]).encode())]
        items = anomaly_items(analysis, focus) if shows != listed else no_update
        return (loss_figure(analysis, focus), system_figure(analysis, focus), items,
                shows if shows != listed else no_update)

    @app.callback(Output(ids.ANA_FOCUS, "data"), Input({"type": ids.ANA_ANOMALY, "index": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def focus_event(clicks):
        trigger = callback_context.triggered_id
        if not isinstance(trigger, dict) or not any(clicks or []):
            return no_update
        return int(trigger["index"])

    @app.callback(Output(ids.ANA_SAMPLE_STEP, "options"), Output(ids.ANA_SAMPLE_STEP, "value"),
                  Output(ids.ANA_SAMPLE, "children"),
                  Input(ids.DATA, "data"), Input(ids.ANA_RUN, "value"), Input(ids.ANA_SAMPLE_STEP, "value"))
    def samples(_data, run_id, step):
        analysis = analyses.get(run_id) if run_id else None
        if analysis is None:
            return no_update, no_update, no_update
        options = sample_options(analysis)
        steps = [o["value"] for o in options]
        chosen = step if step in steps else (steps[0] if steps else None)
        return options, (chosen if chosen != step else no_update), sample_view(analysis, int(chosen) if chosen else None)

    # the shell's pusher sends ids.DATA for the page in ids.VIEW: claim it (a tab may come from Live)
    @app.callback(Output(ids.VIEW, "data", allow_duplicate=True), Input(ids.ANA_RUN, "value"),
                  prevent_initial_call="initial_duplicate")
    def to_pusher(run_id):
        return {"page": PATH, "runs": [run_id] if run_id else []}

    @app.callback(Output(ids.QUERY, "data", allow_duplicate=True),
                  Input(ids.ANA_RUN, "value"), Input(ids.ANA_FOCUS, "data"), Input(ids.ANA_TARGET, "value"),
                  prevent_initial_call=True)
    def to_url(run_id, focus, target):
        query = {"runs": run_id} if run_id else {}
        if focus is not None:
            query["step"] = str(focus)
        if target not in (None, ""):
            query["target"] = str(target)
        return query


def _created(store: LiveStore, run_id: str) -> float:
    run = store.get(run_id)
    return run.meta.created if run is not None and run.meta is not None else 0.0
