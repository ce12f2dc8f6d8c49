"""Pure functions from prepared series to Plotly figures and to incremental updates.

A chart draws S series, one per (run, metric). Its traces come in blocks, so that an update can
address a trace by index without the browser telling us what it has (see TraceLayout):

    0 .. S-1      the line of each series (faint while smoothing is on)
    S .. 2S-1     the smoothed line of each series, only while smoothing is on
    next S        the superseded points of earlier segments, only when asked for
    then          one trace of markers per (series, kind of non-finite value) that has any
    then          one trace of anomaly markers per severity that has any (all runs of the chart)

A role nobody asked for has no traces: one run's loss chart has 3 traces, not 12. Each
browser redraw costs time in proportion to the traces it holds.

Live points travel as `dcc.Graph.extendData`: one Plotly.extendTraces per chart and tick, and a
few bytes per point. Every trace carries the same arrays (x, y, customdata) so that one call
can extend them all. Nothing else about a trace changes until the chart is rebuilt.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..views import DOWNSAMPLE_ABOVE, X_MODES, Points, Shown, chart_y

# Okabe & Ito's palette ("Color Universal Design", 2002): its colours stay apart for the common
# colour-vision deficiencies (protanopia, deuteranopia, tritanopia), which Tableau 10's do not.
# Two of its eight are left out as run colours: yellow (#F0E442) is 1.2:1 against a white chart,
# a line that cannot be seen; black (#000000) vanishes on the dark theme's background and reads as
# an axis or annotation on the light one. Orange and sky blue are under 3:1 on white: every
# line also has its name in the legend and hover box, and the Compare page adds a dash per run.
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9"
PALETTE = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY)
# marker symbol and height (in the chart's 0..1 overlay axis) of each kind of non-finite value
ERROR_MARKERS = {"NaN": ("x", 0.96), "+Inf": ("triangle-up", 0.96), "-Inf": ("triangle-down", 0.04)}
# marker symbol and colour of an anomaly by severity: the symbol is the cue for who cannot tell the colours apart
ANOMALY_MARKERS = {"critical": ("star", "#d62728"), "warning": ("diamond-open", "#b35c00")}
# the detector's events drawn at their point on a metric's chart (a non-finite value is already marked
# at the chart's edge; plateaus, over-fitting and stalls are stretches or states, not points)
POINT_ANOMALIES = ("spike", "grad_explosion", "throughput_drop", "val_divergence")
# Every redraw of a chart pays for its layout: margins are fixed (automatic ones cost a second
# layout pass), tick labels are not measured for overflow, and the look of Plotly's "plotly_white"
# template is spelled out (a template is merged into the figure on every redraw, and is 7 KB).
MARGIN = {"l": 62, "r": 12, "t": 36, "b": 40}
GRID = "#EBF0F8"
AXIS = {"automargin": False, "ticklabeloverflow": "allow", "zeroline": False, "ticks": "",
        "gridcolor": GRID, "linecolor": GRID}
LOOK = {"font": {"color": "#2a3f5f"}, "paper_bgcolor": "white", "plot_bgcolor": "white",
        "hoverlabel": {"align": "left"}}


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
    "train/loss": dict(label="train loss", dash="solid", mode="lines"),
    "val/loss": dict(label="val loss", dash="dash", mode="lines+markers"),
    "train/eval_loss": dict(label="train loss (eval)", dash="dot", mode="lines+markers"),
}
# what people call the metrics train.py logs, in legends and hover boxes
LABELS = {"lr": "learning rate", "grad_norm": "grad norm", "tokens_per_sec": "tokens/s", "iter_ms": "step time (ms)",
          "mfu": "MFU"}

# One hover box per chart for the hovered x, listing every series there (hovermode "x unified"):
# "run-a · train loss 2.6526  step 344 · 2026-11-28 17:02:11". Non-finite markers say what they mark.
HOVER = ("%{fullData.name} <b>%{y:.6g}</b>  <span style='color:#777'>step %{customdata[0]} · %{customdata[1]}</span>"
         "<extra></extra>")
ANOMALY_HOVER = "<b>%{customdata[2]}</b> at step %{customdata[0]}: %{customdata[3]}<extra></extra>"
ERROR_HOVER = "%{fullData.name} at step %{customdata[0]} <span style='color:#777'>(%{customdata[1]})</span><extra></extra>"


@dataclass(frozen=True)
class TraceLayout:
    """Where each trace of a chart sits (see the module docstring)."""

    series: int
    smooth: bool = False
    superseded: bool = False
    errors: tuple[tuple[int, str], ...] = ()  # (series index, kind), in trace order
    marks: tuple[str, ...] = ()  # severities with a trace of anomaly markers, in trace order

    def line(self, i: int) -> int:
        return i

    def smoothed(self, i: int) -> int:
        if not self.smooth:
            raise ValueError("this chart has no smoothed traces: smoothing is off")
        return self.series + i

    def error(self, i: int, kind: str) -> int | None:
        """The trace of series i's markers of `kind`, or None when the chart has none (a rebuild adds it)."""
        try:
            position = self.errors.index((i, kind))
        except ValueError:
            return None
        return self.series * (1 + self.smooth + self.superseded) + position

    def mark(self, severity: str) -> int | None:
        """The trace of the anomaly markers of `severity`, or None when the chart has none (a rebuild adds it)."""
        try:
            position = self.marks.index(severity)
        except ValueError:
            return None
        return self.series * (1 + self.smooth + self.superseded) + len(self.errors) + position


def run_color(run_id: str, ordinal: int | None = None) -> str:
    """A run's colour, the same in every chart, session and server: chosen by its number in the runs
    folder (RunMeta.ordinal), so any six consecutive runs differ; runs from before numbering by a hash."""
    if ordinal is not None:
        return PALETTE[ordinal % len(PALETTE)]
    return PALETTE[zlib.crc32(run_id.encode()) % len(PALETTE)]


def metric_label(key: str) -> str:
    """A metric's human name: 'train loss', 'grad norm', 'tokens/s'; unknown keys as logged."""
    return KEY_STYLE[key]["label"] if key in KEY_STYLE else LABELS.get(key, key)


def series_label(run_name: str, key: str) -> str:
    return f"{run_name} · {metric_label(key)}"


def timestamps(wall_time: np.ndarray) -> list[str]:
    """Local wall-clock time of each point, for the hover box."""
    if not len(wall_time):
        return []
    offset = time.localtime(float(wall_time[-1])).tm_gmtoff
    local = ((np.asarray(wall_time) + offset) * 1000).astype("datetime64[ms]")
    return np.char.replace(np.datetime_as_string(local, unit="s"), "T", " ").tolist()


def hover_data(step: np.ndarray, wall_time: np.ndarray) -> list[list]:
    """customdata of each point: [step, local time]."""
    return [list(pair) for pair in zip(np.asarray(step).tolist(), timestamps(wall_time))]


def line_type(points: int) -> str:
    """SVG ("scatter") for every line the charts draw, WebGL only past DOWNSAMPLE_ABOVE points (a series
    shown whole, never the Live page's: it downsamples there). New points can be appended to an SVG line
    (assets/charts.js) while a WebGL one is redrawn whole on every update, and without a GPU the
    browser emulates WebGL on the CPU: one tab on a run of 9,000 steps took one and a half cores."""
    return "scattergl" if points > DOWNSAMPLE_ABOVE else "scatter"


def line_trace(run_id: str, run_name: str, key: str, shown: Shown, smoothing: float, color: str) -> dict:
    style = KEY_STYLE.get(key, dict(label=key, dash="solid", mode="lines"))
    return {
        "type": line_type(len(shown.x)), "name": series_label(run_name, key),
        "legendgroup": run_id, "mode": style["mode"],
        "x": shown.x, "y": chart_y(shown.y), "customdata": hover_data(shown.step, shown.wall_time),
        "hovertemplate": HOVER, "line": {"color": color, "dash": style["dash"], "width": 1.6},
        "marker": {"size": 4}, "opacity": 0.3 if smoothing > 0 else 1.0,
        "meta": {"run": run_id, "key": key, "role": "line", "total": shown.total},
    }


def smooth_trace(run_id: str, run_name: str, key: str, shown: Shown, color: str) -> dict:
    """The smoothed line of a series (empty for a series that is not smoothed: eval points, schedules)."""
    at = shown.smooth_at
    has = at is not None and shown.smooth is not None
    return {
        "type": line_type(len(at.x) if has else 0),
        "name": f"{series_label(run_name, key)} (smoothed)", "legendgroup": run_id, "mode": "lines", "showlegend": False,
        "x": at.x if has else [], "y": chart_y(shown.smooth) if has else [],
        "customdata": hover_data(at.step, at.wall_time) if has else [],
        "hovertemplate": HOVER,
        "line": {"color": color, "dash": KEY_STYLE.get(key, {}).get("dash", "solid"), "width": 2.2},
        "meta": {"run": run_id, "key": key, "role": "smooth"},
    }


def superseded_trace(run_id: str, run_name: str, key: str, old: Shown | None, color: str) -> dict:
    """Points of earlier segments that a resume replaced (dotted and faint; empty when there are none)."""
    has = old is not None and len(old.x) > 0
    return {
        "type": "scatter", "name": f"{series_label(run_name, key)} (superseded)", "legendgroup": run_id,
        "mode": "lines", "showlegend": has,
        "x": old.x if has else [], "y": chart_y(old.y) if has else [],
        "customdata": hover_data(old.step, old.wall_time) if has else [],
        "hovertemplate": HOVER, "line": {"color": color, "dash": "dot", "width": 1}, "opacity": 0.45,
        "meta": {"run": run_id, "key": key, "role": "superseded"},
    }


def error_trace(run_id: str, run_name: str, key: str, kind: str, points: Points, color: str) -> dict:
    """Markers, above (NaN, +Inf) or below (-Inf) the plot area, where a value was not finite.

    The name says the kind, not a count: a count would go stale as markers arrive by extendData
    (the page's alert above the charts keeps the live count).
    """
    symbol, height = ERROR_MARKERS[kind]
    return {
        "type": "scatter", "name": f"{series_label(run_name, key)}: {kind}", "legendgroup": run_id,
        "mode": "markers", "yaxis": "y2", "hovertemplate": ERROR_HOVER,
        "x": points.x, "y": np.full(len(points.x), height, dtype=np.float32),
        "customdata": hover_data(points.step, points.wall_time),
        "marker": {"color": "#d62728", "size": 9, "symbol": symbol, "line": {"width": 1, "color": color}},
        "meta": {"run": run_id, "key": key, "role": "errors", "kind": kind},
    }


def anomaly_customdata(step: np.ndarray, wall_time: np.ndarray, labels: Sequence[str],
                       messages: Sequence[str]) -> list[list]:
    """customdata of each anomaly marker: [step, local time, what (run · kind), one-line message]."""
    return [[*point, label, message] for point, label, message in zip(hover_data(step, wall_time), labels, messages)]


def anomaly_trace(severity: str, x: np.ndarray, y: np.ndarray, customdata: list) -> dict:
    """The anomaly markers of one severity on a chart, at each event's step and value (see ANOMALY_MARKERS)."""
    symbol, color = ANOMALY_MARKERS[severity]
    return {
        "type": "scatter", "name": f"anomaly ({severity})", "mode": "markers", "hovertemplate": ANOMALY_HOVER,
        "x": x, "y": chart_y(y), "customdata": customdata,
        "marker": {"color": color, "size": 12, "symbol": symbol, "line": {"width": 2, "color": color}},
        "meta": {"role": "anomalies", "severity": severity},
    }


def build_figure(chart: Chart, traces: Sequence[dict], x_mode: str = "step", log_y: bool = False,
                 note: str | None = None) -> dict:
    """The full figure of one chart (first load, run or view change, zoom, resume)."""
    title = chart.title + (f"  <span style='font-size:11px;color:#888'>{note}</span>" if note else "")
    return {
        "data": list(traces),
        "layout": {
            "title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
            "margin": MARGIN,
            "xaxis": {"title": {"text": X_MODES.get(x_mode, x_mode), "standoff": 4, "font": {"size": 12}},
                      "type": "date" if x_mode == "wall" else "linear", **AXIS},
            # a log axis over a narrow range labels every minor tick: keep to a handful
            "yaxis": {"type": "log" if log_y else "linear", "exponentformat": "e", **AXIS, **({"nticks": 6} if log_y else {}),
                      **({"tickformat": chart.tickformat} if chart.tickformat else {})},
            "yaxis2": {"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True},
            "legend": {"orientation": "h", "x": 0, "y": -0.3, "yanchor": "top", "font": {"size": 11}},
            "hovermode": "x unified",
            # down the right edge, so that on a phone the toolbar does not cover a long title
            "modebar": {"orientation": "v"},
            "uirevision": chart.name,  # keep the user's zoom across updates
            **LOOK,
        },
    }


@dataclass
class TraceUpdate:
    """New points for one trace: x, y and customdata ([step, time]) of each."""

    index: int
    x: np.ndarray
    y: np.ndarray
    customdata: list


def extend_data(updates: Sequence[TraceUpdate]) -> list | None:
    """The `extendData` of a dcc.Graph that appends each trace's new points; None when nothing is new."""
    updates = [u for u in updates if len(u.x)]
    if not updates:
        return None
    return [{"x": [u.x for u in updates], "y": [u.y for u in updates], "customdata": [u.customdata for u in updates]},
            [u.index for u in updates]]


