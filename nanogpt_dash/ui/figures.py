"""Pure functions from series to Plotly figures and to incremental updates (Patch)."""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from dash import Patch

# Tableau 10: distinct, readable on white, and colour-blind friendlier than the Plotly default.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    keys: tuple[str, ...]
    log_y: bool = False


CHARTS = (
    Chart("loss", "Loss", ("train/loss", "val/loss", "train/eval_loss")),
    Chart("lr", "Learning rate", ("lr",)),
    Chart("grad_norm", "Gradient norm (before clipping)", ("grad_norm",)),
    Chart("throughput", "Throughput (tokens/s)", ("tokens_per_sec",)),
)

KEY_STYLE = {
    "train/loss": dict(label="train", dash="solid", mode="lines"),
    "val/loss": dict(label="val", dash="dash", mode="lines+markers"),
    "train/eval_loss": dict(label="train (eval)", dash="dot", mode="lines+markers"),
}

HOVER = "<b>%{fullData.name}</b><br>step %{x}<br>%{customdata}<br>%{y:.6g}<extra></extra>"


def run_color(run_id: str) -> str:
    """A colour that is the same for a run in every chart, every session and every server."""
    return PALETTE[zlib.crc32(run_id.encode()) % len(PALETTE)]


@dataclass(frozen=True)
class Points:
    """New or all points of one trace: steps, values and wall-clock times (seconds)."""

    step: np.ndarray
    value: np.ndarray
    wall_time: np.ndarray

    def __len__(self) -> int:
        return len(self.step)


def timestamps(wall_time: np.ndarray) -> list[str]:
    """Local wall-clock time of each point, for the hover box."""
    return [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) for t in wall_time.tolist()]


def plain_values(value: np.ndarray) -> list[float | None]:
    """JSON-safe values: NaN and +-Inf become gaps (None) rather than breaking the chart."""
    out = value.astype(np.float64).tolist()
    if not np.isfinite(value).all():
        out = [v if math.isfinite(v) else None for v in out]
    return out


def trace(run_id: str, run_name: str, key: str, points: Points) -> dict:
    style = KEY_STYLE.get(key, dict(label=key, dash="solid", mode="lines"))
    return {
        "type": "scattergl" if len(points) > 5000 else "scatter",
        "name": f"{run_name} · {style['label']}",
        "legendgroup": run_id,
        "mode": style["mode"],
        "x": points.step.tolist(),
        "y": plain_values(points.value),
        "customdata": timestamps(points.wall_time),
        "hovertemplate": HOVER,
        "line": {"color": run_color(run_id), "dash": style["dash"], "width": 1.6},
        "marker": {"size": 4},
        "meta": {"run": run_id, "key": key},
    }


def build_figure(chart: Chart, traces: Sequence[dict]) -> dict:
    """The full figure of one chart (first load, run change, resume)."""
    return {
        "data": list(traces),
        "layout": {
            "title": {"text": chart.title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
            "margin": {"l": 50, "r": 10, "t": 36, "b": 36},
            "xaxis": {"title": {"text": "step"}, "automargin": True},
            "yaxis": {"type": "log" if chart.log_y else "linear", "automargin": True, "exponentformat": "e"},
            "legend": {"orientation": "h", "y": -0.18, "font": {"size": 11}},
            "hovermode": "closest",
            "uirevision": chart.name,  # keep the user's zoom across updates
            "template": "plotly_white",
        },
    }


def build_patch(new_points: Sequence[tuple[int, Points]]) -> Patch | None:
    """An update that appends each (trace index, points) pair; None when there is nothing new."""
    patch = Patch()
    changed = False
    for index, points in new_points:
        if not len(points):
            continue
        changed = True
        patch["data"][index]["x"].extend(points.step.tolist())
        patch["data"][index]["y"].extend(plain_values(points.value))
        patch["data"][index]["customdata"].extend(timestamps(points.wall_time))
    return patch if changed else None
