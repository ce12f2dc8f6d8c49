"""The Live page's charts as pure functions: the runs and view a tab shows, and what it has
(its cursor) → the full figures or the new points (extendData) it lacks, and its cursor after.

A chart is rebuilt in full on first load, on a change of runs or view, on zoom (full resolution
for the visible range), when a run resumes, when a downsampled chart has grown enough to be
sampled again, when a series logs its first value of a kind of non-finite value, and when a chart
gets its first anomaly of a severity; otherwise only new points are sent, as extendData.

Anomalies come from the server's detector (ui/pages/analysis.RunAnalyses): per run, a list of
events that only grows, so a chart's cursor holds how many of each run's events it has seen, and
new ones travel as extendData of the chart's anomaly markers, like new points.
"""

from __future__ import annotations

import math
import time
from typing import Mapping, Sequence

import numpy as np
from dash import no_update

from ..analytics import AnomalyEvent
from ..live import LiveStore
from ..views import (DOWNSAMPLE_ABOVE, SHORT_TAIL, X_MODES, EmaState, budget_for_width, chart_y, ema, from_axis, nonfinite_points, prepare,
                     relative_unit, x_values)
from .figures import (ANOMALY_MARKERS, CHARTS, ERROR_MARKERS, POINT_ANOMALIES, Chart, TraceLayout, TraceUpdate,
                      anomaly_customdata, anomaly_trace, build_figure, error_trace, extend_data, hover_data, line_trace,
                      run_color, smooth_trace, superseded_trace)


UNSMOOTHED = frozenset({"lr", "val/loss", "train/eval_loss"})


def view_state(x_mode: object, smoothing: object, options: object, width: object) -> dict:
    """The charts' view from what the browser sent: anything malformed falls back to its default."""
    opts = [o for o in options if isinstance(o, str)] if isinstance(options, list) else []
    return {
        "x": x_mode if isinstance(x_mode, str) and x_mode in X_MODES else "step",
        "smooth": round(number_in(smoothing, 0.0, 0.99, 0.0), 4),
        "log": "log" in opts,
        "superseded": "superseded" in opts,
        "budget": budget_for_width(int(number_in(width, 0, 100_000, 0)) or None),
    }


def number_in(value: object, low: float, high: float, default: float) -> float:
    """`value` as a float clipped to [low, high]; `default` for anything that is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return default
    try:
        number = float(value)
    except ValueError:
        return default
    return min(high, max(low, number)) if math.isfinite(number) else default


Events = Mapping[str, Sequence[AnomalyEvent]]


def chart_updates(store: LiveStore, selected: list[str], cursor: dict | None, view: dict | None = None,
                  zooms: dict | None = None, events: Events | None = None) -> tuple[list, list, dict]:
    """Per chart, what its `figure` and its `extendData` receive, and the cursor after it.

    `events` holds each selected run's anomalies as RunAnalyses.detected gives them (a list that
    only grows); those of a chart's metrics are drawn as markers at their point.

    A chart gets either a full figure (extendData: no_update) or new points as extendData, never
    both: dcc.Graph duplicates or drops points when one answer brings a Patch of the figure and
    extendData together, so nothing here is ever patched. `zooms` holds each chart's x
    range as the browser last set it (None: the overview). A zoom is applied when it differs from
    the one the cursor has seen, not when it triggered the call: the answer to the triggering
    request may have been dropped, and the next request must apply it.
    """
    view = view or view_state(None, None, None, None)
    zooms = zooms or {}
    events = {run_id: (events or {}).get(run_id, ()) for run_id in selected}
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
                  # a first load applies the zoom it was given (a URL's); a change of axis starts from
                  # the ranges the browser holds, which were in the old axis' units
                  "zooms": dict(cursor["zooms"]) if same_axis else ({} if not valid_cursor(cursor) else dict(zooms))}
    else:  # a new cursor: the one that came in stays as the browser has it
        cursor = {**cursor, "charts": dict(cursor["charts"]), "zooms": dict(cursor["zooms"])}
    figures, extends = [], []
    full_view = view
    for chart in CHARTS:
        view = chart_view(chart, full_view)
        series = trace_keys(chart, selected)
        state = cursor["charts"].get(chart.name)
        if not valid_chart_state(state, len(series), len(selected), view):
            state = None
        zoom = state["zoom"] if state else carried.get(chart.name)
        if zooms.get(chart.name) != cursor["zooms"].get(chart.name):
            zoom = parse_zoom(zooms.get(chart.name), view["x"])
            cursor["zooms"][chart.name] = zooms.get(chart.name)
        update = None
        if state is not None and not zoom_needs_rebuild(state, zoom) and not grown_too_large(state, view):
            update = chart_tick(store, chart, series, view, {**state, "zoom": zoom}, events)
        if update is None:
            figure, state = full_chart(store, chart, series, view, zoom, events)
            update = (figure, no_update, state)
        figure, extend, cursor["charts"][chart.name] = update
        figures.append(figure)
        extends.append(extend)
    return figures, extends, cursor


def smoothed(key: str) -> bool:
    """Whether smoothing applies to a metric: to noisy per-step series, never to sparse evals or schedules."""
    return key not in UNSMOOTHED and not key.startswith("val/")


def chart_view(chart: Chart, view: dict) -> dict:
    """The view as one chart applies it: a chart of unsmoothed metrics (the learning rate) is never smoothed."""
    return view if any(smoothed(k) for k in chart.keys) else {**view, "smooth": 0.0}


def valid_cursor(cursor: object) -> bool:
    """The cursor comes from the browser: anything of another shape (an older page, a tampered one) is ignored."""
    return (isinstance(cursor, dict) and isinstance(cursor.get("runs"), list) and isinstance(cursor.get("view"), dict)
            and isinstance(cursor.get("charts"), dict) and isinstance(cursor.get("zooms"), dict))


def valid_chart_state(state: object, n_series: int, n_runs: int, view: dict) -> bool:
    if not isinstance(state, dict):
        return False
    sent, emas, seen, marks = state.get("sent"), state.get("ema"), state.get("seen"), state.get("marks")
    return (isinstance(sent, list) and len(sent) == n_series and all(isinstance(n, int) and n >= 0 for n in sent)
            and isinstance(state.get("err"), list) and all(isinstance(e, list) and len(e) == 2 for e in state["err"])
            and isinstance(seen, list) and len(seen) == n_runs and all(isinstance(n, int) and n >= 0 for n in seen)
            and isinstance(marks, list) and all(m in ANOMALY_MARKERS for m in marks)
            and (view["smooth"] == 0 or (isinstance(emas, list) and len(emas) == n_series))
            and isinstance(state.get("grown"), int) and "zoom" in state and "downsampled" in state)


def parse_zoom(x_range: object, x_mode: str) -> list | None:
    """A browser x range (numbers, or date strings on a wall-clock axis) in the units of views.x_values; None if unreadable."""
    if not isinstance(x_range, (list, tuple)) or len(x_range) != 2:
        return None
    try:
        low, high = from_axis(x_mode, x_range[0]), from_axis(x_mode, x_range[1])
    except (TypeError, ValueError):
        return None
    return [low, high] if np.isfinite(low) and np.isfinite(high) and low < high else None


def trace_keys(chart: Chart, selected: list[str]) -> list[tuple[str, str]]:
    """The (run, metric) of each series of a chart, in trace order."""
    return [(run_id, key) for run_id in selected for key in chart.keys]


def trace_layout(state: dict, n_series: int, view: dict) -> TraceLayout:
    return TraceLayout(n_series, smooth=view["smooth"] > 0, superseded=view["superseded"],
                       errors=tuple((i, kind) for i, kind in state["err"]), marks=tuple(state["marks"]))


def runs_of(series: list[tuple[str, str]]) -> list[str]:
    return list(dict.fromkeys(run_id for run_id, _ in series))


def anomaly_points(store: LiveStore, chart: Chart, runs: list[str], events: Events, seen: list[int], x_mode: str,
                   unit: str) -> dict[str, tuple[np.ndarray, np.ndarray, list]]:
    """Per severity, (x, y, customdata) of the markers of the events of `chart`'s metrics past `seen` (per run)."""
    found: dict[str, list[tuple[float, float, list]]] = {}
    for run_id, start in zip(runs, seen):
        marked = [e for e in events.get(run_id, ())[start:]
                  if e.kind in POINT_ANOMALIES and e.key in chart.keys and np.isfinite(e.value)]
        if not marked:
            continue
        name, begin, tokens = run_context(store, run_id)
        step = np.array([e.step for e in marked], dtype=np.int64)
        wall = np.array([e.wall_time for e in marked], dtype=np.float64)
        x = x_values(x_mode, step, wall, tokens, begin, unit)
        labels = [f"{name} · {e.kind}" if len(runs) > 1 else e.kind for e in marked]
        custom = anomaly_customdata(step, wall, labels, [e.message for e in marked])
        for k, e in enumerate(marked):
            found.setdefault(e.severity, []).append((float(x[k]), e.value, custom[k]))
    return {severity: (np.array([p[0] for p in points]), np.array([p[1] for p in points]), [p[2] for p in points])
            for severity, points in found.items()}


def color_of(store: LiveStore, run_id: str) -> str:
    """The run's colour on every page (by its number in the runs folder, see figures.run_color)."""
    run = store.get(run_id)
    return run_color(run_id, run.meta.ordinal if run is not None and run.meta is not None else None)


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
               zoom: list | None, events: Events) -> tuple[dict, dict]:
    lines, smooths, olds, errors = [], [], [], []
    sent, emas, err = [], [], []
    downsampled = False
    views = [store.view(run_id, key) for run_id, key in series]
    span = max((float(v.wall_time[-1]) - run_context(store, r)[1] for v, (r, _) in zip(views, series) if len(v.step)),
               default=0.0)
    unit = relative_unit(span)
    for i, (run_id, key) in enumerate(series):
        name, start, tokens = run_context(store, run_id)
        v = views[i]
        x = x_values(view["x"], v.step, v.wall_time, tokens, start, unit)
        smoothing = view["smooth"] if smoothed(key) else 0.0
        shown, ema_state = prepare(x, v.value, v.step, v.wall_time, budget=view["budget"], smoothing=smoothing,
                                   x_range=tuple(zoom) if zoom else None)
        color = color_of(store, run_id)
        lines.append(line_trace(run_id, name, key, shown, smoothing, color))
        if view["smooth"] > 0:
            smooths.append(smooth_trace(run_id, name, key, shown, color))
            emas.append([ema_state.last, ema_state.count])
        if view["superseded"]:
            s = store.superseded(run_id, key)
            old, _ = prepare(x_values(view["x"], s.step, s.wall_time, tokens, start, unit), s.value, s.step, s.wall_time,
                             budget=view["budget"])
            olds.append(superseded_trace(run_id, name, key, old, color))
        for kind, points in shown.nonfinite.items():
            errors.append(error_trace(run_id, name, key, kind, points, color))
            err.append([i, kind])
        sent.append(int(v.end))
        downsampled |= shown.downsampled
    runs = runs_of(series)
    seen = [len(events.get(run_id, ())) for run_id in runs]
    found = anomaly_points(store, chart, runs, events, [0] * len(runs), view["x"], unit)
    marks = [severity for severity in ANOMALY_MARKERS if severity in found]
    anomalies = [anomaly_trace(severity, *found[severity]) for severity in marks]
    note = "downsampled (MinMaxLTTB): zoom in for every point" if downsampled else None
    figure = build_figure(chart, lines + smooths + olds + errors + anomalies, view["x"], view["log"], note)
    if view["x"] == "relative":
        figure["layout"]["xaxis"]["title"]["text"] = f"time since start ({unit})"
    figure["layout"]["uirevision"] = f"{chart.name}:{view['x']}:{view['log']}"
    # new points name the figure they extend: the browser holds points for a figure not drawn yet
    # and drops points for one already replaced (assets/charts.js)
    rev = time.time_ns() // 1000
    figure["layout"]["meta"] = {"rev": rev}
    if zoom:
        figure["layout"]["xaxis"]["range"] = list(zoom)  # x units are Plotly's (epoch ms on a date axis)
    empty = not any(len(line["x"]) for line in lines)
    if empty:
        waiting = "waiting for the first step…" if series else "no run selected"
        figure["layout"]["annotations"] = [{"text": waiting, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                            "showarrow": False, "font": {"size": 13, "color": "#6c757d"}}]
        figure["layout"]["xaxis"]["showticklabels"] = figure["layout"]["yaxis"]["showticklabels"] = False
    state = {"sent": sent, "err": err, "zoom": zoom, "downsampled": downsampled, "grown": 0, "rev": rev, "empty": empty,
             "unit": unit, "seen": seen, "marks": marks}
    if emas:
        state["ema"] = emas
    return figure, state


def chart_tick(store: LiveStore, chart: Chart, series: list[tuple[str, str]], view: dict, state: dict,
               events: Events) -> tuple | None:
    """(figure, extendData, state) for the points the browser lacks; None when the chart must be rebuilt."""
    layout = trace_layout(state, len(series), view)
    sent, emas = list(state["sent"]), [list(e) for e in state.get("ema", [])]
    updates, grown = [], 0
    for i, (run_id, key) in enumerate(series):
        v = store.view(run_id, key, start=sent[i])
        sent[i] = int(v.end)
        if not len(v.step):
            continue
        if state.get("empty"):
            return None  # the first points replace the "waiting" note
        if len(v.step) > max(view["budget"] // 4, SHORT_TAIL):
            # a burst (a run that finished loading, a tab that was asleep): draw it anew, downsampled,
            # rather than send the browser every point of it
            return None
        _, start, tokens = run_context(store, run_id)
        x = x_values(view["x"], v.step, v.wall_time, tokens, start, state.get("unit", "h"))
        custom = hover_data(v.step, v.wall_time)
        updates.append(TraceUpdate(layout.line(i), x, chart_y(v.value), custom))
        if layout.smooth and smoothed(key):
            smooth, ema_state = ema(v.value, view["smooth"], EmaState(*emas[i]))
            emas[i] = [ema_state.last, ema_state.count]
            updates.append(TraceUpdate(layout.smoothed(i), x, chart_y(smooth), custom))
        for kind, points in nonfinite_points(x, v.value, v.step, v.wall_time).items():
            index = layout.error(i, kind)
            if index is None:
                return None  # the first value of a new kind needs a trace of its own
            height = np.full(len(points.x), ERROR_MARKERS[kind][1], dtype=np.float32)
            updates.append(TraceUpdate(index, points.x, height, hover_data(points.step, points.wall_time)))
        grown = max(grown, int(len(v.step)))  # the growth of the fastest trace decides when to resample
    runs = runs_of(series)
    if any(n > len(events.get(run_id, ())) for run_id, n in zip(runs, state["seen"])):
        return None  # the run's detector started again (a resume): draw its markers anew
    found = anomaly_points(store, chart, runs, events, state["seen"], view["x"], state.get("unit", "h"))
    for severity, (x, y, custom) in found.items():
        index = layout.mark(severity)
        if index is None:
            return None  # the first anomaly of a severity needs a trace of its own
        updates.append(TraceUpdate(index, x, chart_y(y), custom))
    seen = [len(events.get(run_id, ())) for run_id in runs]
    extend = extend_data(updates)
    state = {**state, "sent": sent, "grown": state["grown"] + grown, "seen": seen}
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
