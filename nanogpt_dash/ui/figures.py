"""Pure functions from prepared series to Plotly figures and to incremental updates (Patch).

Every (run, metric) pair owns TRACES_PER_SERIES consecutive traces, in this order: the line
(faint when smoothing is on), the smoothed line, markers for NaN/±Inf values, and the superseded
points of earlier segments (empty unless asked for). Fixed positions let a Patch address a trace
by index without the browser telling us what it has.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from dash import Patch

from ..views import X_MODES, Shown

# Tableau 10: distinct, readable on white, and colour-blind friendlier than the Plotly default.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
TRACES_PER_SERIES = 4
LINE, SMOOTH, ERRORS, SUPERSEDED = range(TRACES_PER_SERIES)
ERROR_SYMBOLS = {"NaN": ("x", 0.96), "+Inf": ("triangle-up", 0.96), "-Inf": ("triangle-down", 0.04)}


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    keys: tuple[str, ...]
    tickformat: str | None = None


CHARTS = (
    Chart("loss", "Loss", ("train/loss", "val/loss", "train/eval_loss")),
    Chart("lr", "Learning rate", ("lr",)),
    Chart("grad_norm", "Gradient norm (before clipping)", ("grad_norm",)),
    Chart("throughput", "Throughput (tokens/s)", ("tokens_per_sec",), tickformat="~s"),
)

KEY_STYLE = {
    "train/loss": dict(label="train", dash="solid", mode="lines"),
    "val/loss": dict(label="val", dash="dash", mode="lines+markers"),
    "train/eval_loss": dict(label="train (eval)", dash="dot", mode="lines+markers"),
}

HOVER = "<b>%{fullData.name}</b><br>step %{customdata[0]}<br>%{customdata[1]}<br>%{y:.7g}<extra></extra>"
SMOOTH_HOVER = "<b>%{fullData.name}</b><br>x %{x}<br>%{y:.7g}<extra></extra>"
ERROR_HOVER = "<b>%{fullData.name}</b><br>x %{x}<extra></extra>"


def run_color(run_id: str) -> str:
    """A colour that is the same for a run in every chart, every session and every server."""
    return PALETTE[zlib.crc32(run_id.encode()) % len(PALETTE)]


def timestamps(wall_time: np.ndarray) -> list[str]:
    """Local wall-clock time of each point, for the hover box."""
    if not len(wall_time):
        return []
    offset = time.localtime(float(wall_time[-1])).tm_gmtoff
    local = ((wall_time + offset) * 1000).astype("datetime64[ms]")
    return np.char.replace(np.datetime_as_string(local, unit="s"), "T", " ").tolist()


def hover_data(step: np.ndarray, wall_time: np.ndarray) -> list[list]:
    return [list(pair) for pair in zip(step.tolist(), timestamps(wall_time))]


def error_name(label: str, shown_counts: dict[str, int]) -> str:
    counts = ", ".join(f"{n} {kind}" for kind, n in shown_counts.items() if n)
    return f"{label}: {counts}" if counts else f"{label}: no NaN/Inf"


def series_traces(run_id: str, run_name: str, key: str, shown: Shown, step: np.ndarray,
                  superseded: Shown | None, smoothing: float) -> list[dict]:
    """The TRACES_PER_SERIES traces of one (run, metric)."""
    style = KEY_STYLE.get(key, dict(label=key, dash="solid", mode="lines"))
    color = run_color(run_id)
    label = f"{run_name} · {style['label']}"
    gl = "scattergl" if len(shown.x) > 5000 else "scatter"
    line = {
        "type": gl, "name": label, "legendgroup": run_id, "mode": style["mode"],
        "x": shown.x, "y": shown.y.astype(np.float32), "customdata": hover_data(step, shown.wall_time),
        "hovertemplate": HOVER, "line": {"color": color, "dash": style["dash"], "width": 1.6},
        "marker": {"size": 4}, "opacity": 0.3 if smoothing > 0 else 1.0,
        "meta": {"run": run_id, "key": key, "role": "line", "total": shown.total},
    }
    smooth = {
        "type": gl, "name": f"{label} (smoothed)", "legendgroup": run_id, "mode": "lines", "showlegend": False,
        "x": shown.smooth_x if shown.smooth is not None else [],
        "y": shown.smooth.astype(np.float32) if shown.smooth is not None else [],
        "hovertemplate": SMOOTH_HOVER, "line": {"color": color, "dash": style["dash"], "width": 2.2},
        "meta": {"run": run_id, "key": key, "role": "smooth"},
    }
    counts = {kind: len(xs) for kind, xs in shown.nonfinite.items()}
    errors = {
        "type": "scatter", "name": error_name(label, counts), "legendgroup": run_id, "mode": "markers",
        "showlegend": any(counts.values()), "yaxis": "y2", "hovertemplate": ERROR_HOVER,
        "x": np.concatenate([xs for xs in shown.nonfinite.values()]) if any(counts.values()) else [],
        "y": [ERROR_SYMBOLS[kind][1] for kind, xs in shown.nonfinite.items() for _ in range(len(xs))],
        "marker": {"color": "#d62728", "size": 9, "line": {"width": 1, "color": color},
                   "symbol": [ERROR_SYMBOLS[kind][0] for kind, xs in shown.nonfinite.items() for _ in range(len(xs))]},
        "meta": {"run": run_id, "key": key, "role": "errors", "counts": counts},
    }
    old = superseded if superseded is not None and len(superseded.x) else None
    hidden = {
        "type": "scatter", "name": f"{label} (superseded)", "legendgroup": run_id, "mode": "lines",
        "showlegend": old is not None, "x": old.x if old else [], "y": old.y.astype(np.float32) if old else [],
        "hovertemplate": "<b>%{fullData.name}</b><br>%{x}<br>%{y:.7g}<extra></extra>",
        "line": {"color": color, "dash": "dot", "width": 1}, "opacity": 0.45,
        "meta": {"run": run_id, "key": key, "role": "superseded"},
    }
    return [line, smooth, errors, hidden]


def build_figure(chart: Chart, traces: Sequence[dict], x_mode: str = "step", log_y: bool = False,
                 note: str | None = None) -> dict:
    """The full figure of one chart (first load, run or view change, zoom, resume)."""
    title = chart.title + (f"  <span style='font-size:11px;color:#888'>{note}</span>" if note else "")
    return {
        "data": list(traces),
        "layout": {
            "title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
            "margin": {"l": 55, "r": 10, "t": 36, "b": 36},
            "xaxis": {"title": {"text": X_MODES.get(x_mode, x_mode), "standoff": 6, "font": {"size": 12}},
                      "automargin": True, "zeroline": False,
                      "type": "date" if x_mode == "wall" else "linear"},
            "yaxis": {"type": "log" if log_y else "linear", "automargin": True, "zeroline": False,
                      "exponentformat": "e", **({"tickformat": chart.tickformat} if chart.tickformat else {})},
            "yaxis2": {"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True},
            "legend": {"orientation": "h", "x": 0, "y": -0.3, "yanchor": "top", "font": {"size": 11}},
            "hovermode": "closest",
            "uirevision": chart.name,  # keep the user's zoom across updates
            "template": "plotly_white",
        },
    }


@dataclass
class TraceUpdate:
    """New points for one trace, in the shape of its x, y and customdata arrays."""

    index: int
    x: np.ndarray
    y: np.ndarray | list
    customdata: list | None = None
    symbols: list[str] | None = None
    name: str | None = None


def build_patch(updates: Sequence[TraceUpdate]) -> Patch | None:
    """An update that appends each trace's new points; None when there is nothing new."""
    patch = Patch()
    changed = False
    for u in updates:
        if u.name is not None:
            patch["data"][u.index]["name"] = u.name
            patch["data"][u.index]["showlegend"] = True
            changed = True
        if not len(u.x):
            continue
        changed = True
        patch["data"][u.index]["x"].extend(list(u.x))
        patch["data"][u.index]["y"].extend(list(u.y))
        if u.customdata is not None:
            patch["data"][u.index]["customdata"].extend(u.customdata)
        if u.symbols is not None:
            patch["data"][u.index]["marker"]["symbol"].extend(u.symbols)
    return patch if changed else None
