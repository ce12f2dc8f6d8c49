"""From a full-resolution series to what a chart shows: x axis, smoothing, downsampling, errors.

Everything here is pure numpy over arrays and is computed on full-resolution data; downsampling
is the last step and only decides which points are sent.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tsdownsample import MinMaxLTTBDownsampler

X_MODES = {"step": "step", "tokens": "tokens seen", "wall": "wall-clock time", "relative": "time since start"}
# the unit of "time since start", picked from the span shown: seconds, minutes or hours
RELATIVE_UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}
DOWNSAMPLE_ABOVE = 10_000
MIN_BUDGET, MAX_BUDGET = 1_000, 4_000
SHORT_TAIL = 16

_downsampler = MinMaxLTTBDownsampler()


@dataclass(frozen=True)
class EmaState:
    """Where a debiased EMA stands after some points: the biased accumulator and the finite count."""

    last: float = 0.0
    count: int = 0


FLOAT32_MAX = float(np.finfo(np.float32).max)


def chart_y(values: np.ndarray) -> np.ndarray:
    """Values as sent to a chart: float32 (half the bytes), or float64 if a finite value would overflow float32."""
    values = np.asarray(values)
    if values.dtype == np.float32:
        return values
    magnitude = np.abs(values)
    if np.any((magnitude > FLOAT32_MAX) & np.isfinite(magnitude)):
        return values.astype(np.float64, copy=False)
    return values.astype(np.float32)


def budget_for_width(width_px: int | None) -> int:
    """Points per trace for a chart this many pixels wide: about two per pixel, 1k to 4k."""
    if not width_px:
        return 2 * MIN_BUDGET
    return int(min(MAX_BUDGET, max(MIN_BUDGET, 2 * width_px)))


def ema(values: np.ndarray, weight: float, state: EmaState = EmaState()) -> tuple[np.ndarray, EmaState]:
    """TensorBoard's debiased exponential moving average, continued from `state`.

    last = weight * last + (1 - weight) * v over finite values, shown as last / (1 - weight**n).
    Non-finite values are not averaged in; their smoothed value is NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(values), np.nan)
    finite = np.isfinite(values)
    x = values[finite].copy()
    if not len(x):
        return out, state
    if weight <= 0.0:
        out[finite] = x
        return out, EmaState(float(x[-1]), state.count + len(x))
    if len(x) <= SHORT_TAIL:  # a live update of a few points: plain arithmetic beats pandas' overhead
        last, count = state.last, state.count
        for i, v in enumerate(x):
            last = weight * last + (1.0 - weight) * v
            count += 1
            x[i] = last / (1.0 - weight ** count)
        out[finite] = x
        return out, EmaState(last, count)
    # the EMA of the new values alone, started at zero (pandas' adjust=True is exactly that, debiased)
    fresh = pd.Series(x).ewm(alpha=1.0 - weight, adjust=True).mean().to_numpy()
    log_w = math.log(weight)
    if state.count == 0:
        out[finite] = fresh
        return out, EmaState(float(fresh[-1] * -math.expm1(len(x) * log_w)), len(x))
    j = np.arange(1, len(x) + 1, dtype=np.float64)
    decay = np.exp(j * log_w)
    biased = decay * state.last + (1.0 - decay) * fresh
    out[finite] = biased / -np.expm1((state.count + j) * log_w)
    return out, EmaState(float(biased[-1]), state.count + len(x))


def downsample(y: np.ndarray, n_out: int) -> np.ndarray:
    """Indices of at most ~n_out points that keep the shape and every spike (MinMaxLTTB); newest always in."""
    n = len(y)
    if n <= n_out:
        return np.arange(n)
    index = _downsampler.downsample(np.ascontiguousarray(y), n_out=n_out, parallel=False)
    index = np.asarray(index, dtype=np.int64)
    if index[-1] != n - 1:
        index = np.append(index, n - 1)
    return index


def relative_unit(span_s: float) -> str:
    """The unit that reads best for a span of time: '2.5 min', not '0.04 hours'."""
    return "s" if span_s < 180 else ("min" if span_s < 3 * 3600 else "h")


def x_values(mode: str, step: np.ndarray, wall_time: np.ndarray, tokens_per_step: int | None, start: float,
             unit: str = "h") -> np.ndarray:
    """The x coordinate of each point for an x-axis mode (see X_MODES); `unit` for "relative" (RELATIVE_UNITS)."""
    if mode == "tokens" and tokens_per_step:
        return step.astype(np.float64) * tokens_per_step
    if mode == "wall":
        # Plotly reads epoch milliseconds as UTC: shift them so the axis shows this machine's local time
        return (wall_time + utc_offset_s(start)) * 1000.0
    if mode == "relative":
        return (wall_time - start) / RELATIVE_UNITS.get(unit, 3600.0)
    return step


def from_axis(mode: str, value: float | str) -> float:
    """Turn a Plotly axis range value back into the x units of `x_values`."""
    if mode == "wall" and isinstance(value, str):
        return pd.Timestamp(value).tz_localize("UTC").timestamp() * 1000.0
    return float(value)


def utc_offset_s(at: float) -> float:
    local = time.localtime(at)
    return float(local.tm_gmtoff)


@dataclass(frozen=True)
class Points:
    """Where some points of a series sit: x, step and wall time of each."""

    x: np.ndarray
    step: np.ndarray
    wall_time: np.ndarray


NONFINITE_KINDS = ("NaN", "+Inf", "-Inf")


def nonfinite_points(x: np.ndarray, value: np.ndarray, step: np.ndarray, wall_time: np.ndarray) -> dict[str, Points]:
    """The points of each kind of non-finite value that occurs (kinds that do not occur are left out)."""
    masks = {"NaN": np.isnan(value), "+Inf": value == math.inf, "-Inf": value == -math.inf}
    return {kind: Points(x[m], step[m], wall_time[m]) for kind, m in masks.items() if m.any()}


@dataclass(frozen=True)
class Shown:
    """What one trace sends: x, y, step and wall time of each point, and where values were not finite."""

    x: np.ndarray
    y: np.ndarray
    step: np.ndarray
    wall_time: np.ndarray
    smooth: np.ndarray | None  # the smoothed line, downsampled on its own
    smooth_at: Points | None  # where the smoothed line's points sit
    nonfinite: dict[str, Points]
    total: int
    downsampled: bool


def prepare(x: np.ndarray, value: np.ndarray, step: np.ndarray, wall_time: np.ndarray, *, budget: int, smoothing: float = 0.0,
            x_range: tuple[float, float] | None = None, ema_state: EmaState = EmaState()) -> tuple[Shown, EmaState]:
    """Smooth at full resolution, cut to the visible range, then downsample past DOWNSAMPLE_ABOVE points."""
    value = np.asarray(value, dtype=np.float64)
    smooth, state = ema(value, smoothing, ema_state) if smoothing > 0 else (None, EmaState())
    if x_range is not None:
        inside = (x >= x_range[0]) & (x <= x_range[1])
        x, value, step, wall_time = x[inside], value[inside], step[inside], wall_time[inside]
        smooth = smooth[inside] if smooth is not None else None
    finite = np.isfinite(value)
    nonfinite = nonfinite_points(x, value, step, wall_time)
    total = len(x)
    downsampled = total > DOWNSAMPLE_ABOVE
    smooth_at = Points(x, step, wall_time) if smooth is not None else None
    if downsampled:
        # downsample the finite points; non-finite ones are drawn as markers of their own
        keep = np.flatnonzero(finite)
        if smooth is not None:
            i = keep[downsample(smooth[keep], budget)]
            smooth, smooth_at = smooth[i], Points(x[i], step[i], wall_time[i])
        index = keep[downsample(value[keep], budget)]
        x, value, step, wall_time = x[index], value[index], step[index], wall_time[index]
    return Shown(x, value, step, wall_time, smooth, smooth_at, nonfinite, total, downsampled), state
