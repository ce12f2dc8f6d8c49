"""How fast a run goes: iterations and tokens per second, elapsed time, ETA, step-time percentiles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE_WINDOW_S = 60.0  # the current speed is measured over about the last minute of wall-clock time
MIN_RATE_POINTS = 2


@dataclass(frozen=True)
class StepTimes:
    """Percentiles of the time per optimizer step, in milliseconds."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    count: int


@dataclass(frozen=True)
class Velocity:
    iters_per_sec: float | None
    tokens_per_sec: float | None
    elapsed_s: float | None
    eta_s: float | None
    step_time: StepTimes | None


def current_rate(step: np.ndarray, wall_time: np.ndarray, window_s: float = RATE_WINDOW_S) -> float | None:
    """Iterations per second over the last `window_s` seconds of points (evals and pauses included)."""
    step, wall_time = np.asarray(step), np.asarray(wall_time, dtype=np.float64)
    if len(step) < MIN_RATE_POINTS:
        return None
    start = int(np.searchsorted(wall_time, wall_time[-1] - window_s, side="left"))
    start = min(start, len(step) - MIN_RATE_POINTS)
    dt = float(wall_time[-1] - wall_time[start])
    ds = float(step[-1] - step[start])
    return ds / dt if dt > 0 and ds > 0 else None


def step_durations_ms(step: np.ndarray, wall_time: np.ndarray) -> np.ndarray:
    """Milliseconds per step between consecutive points; gaps across a resume (step not increasing) are left out."""
    step, wall_time = np.asarray(step, dtype=np.float64), np.asarray(wall_time, dtype=np.float64)
    ds, dt = np.diff(step), np.diff(wall_time)
    ok = (ds > 0) & (dt >= 0)
    return dt[ok] / ds[ok] * 1000.0


def step_time_percentiles(durations_ms: np.ndarray) -> StepTimes | None:
    """p50/p90/p99 of step durations (finite values only); None when there are none."""
    d = np.asarray(durations_ms, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not len(d):
        return None
    p50, p90, p99 = np.percentile(d, [50, 90, 99])
    return StepTimes(float(p50), float(p90), float(p99), len(d))


def eta_seconds(step: int, max_iters: int | None, iters_per_sec: float | None) -> float | None:
    """Seconds left to reach `max_iters` at the current rate (0 once reached)."""
    if max_iters is None or not iters_per_sec or iters_per_sec <= 0:
        return None
    return max(0.0, (max_iters - step) / iters_per_sec)


def velocity(step: np.ndarray, wall_time: np.ndarray, *, max_iters: int | None = None,
             tokens_per_step: int | None = None, iter_ms: np.ndarray | None = None,
             started: float | None = None, now: float | None = None, running: bool = True) -> Velocity:
    """Speed of a run from the steps and times of its per-iteration metric (e.g. train/loss).

    `iter_ms` (logged by train.py) gives the step-time percentiles when present; otherwise they come
    from the spacing of the points. Elapsed runs to `now` while the run is running.
    """
    step, wall_time = np.asarray(step), np.asarray(wall_time, dtype=np.float64)
    rate = current_rate(step, wall_time)
    tokens = rate * tokens_per_step if rate is not None and tokens_per_step else None
    elapsed = None
    if len(wall_time):
        origin = started if started is not None else float(wall_time[0])
        end = now if running and now is not None else float(wall_time[-1])
        elapsed = max(0.0, end - origin)
    eta = eta_seconds(int(step[-1]), max_iters, rate) if running and len(step) else None
    durations = np.asarray(iter_ms, dtype=np.float64) if iter_ms is not None and len(iter_ms) else step_durations_ms(step, wall_time)
    return Velocity(rate, tokens, elapsed, eta, step_time_percentiles(durations))
