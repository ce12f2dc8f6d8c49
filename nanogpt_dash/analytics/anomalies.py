"""Anomalies in a run's series, found as the points arrive: spikes, explosions, NaN/Inf, slowdowns, stalls.

`AnomalyDetector.update()` takes only the new points of one metric and keeps what it needs of the
past (a rolling window), so the server can call it on each batch the tailer reads; `detect()` runs
the same detector over whole series at once and gives the same events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Mapping

import numpy as np
import pandas as pd

Severity = Literal["info", "warning", "critical"]
MAD_TO_SIGMA = 1.4826  # MAD * 1.4826 estimates the standard deviation of normal noise
DIFF_MAD_TO_SIGMA = MAD_TO_SIGMA / math.sqrt(2)  # the same from |x[i] - x[i-1]|, whose spread is sqrt(2) times larger


@dataclass(frozen=True)
class AnomalySettings:
    """Thresholds of every detector. Robust z-scores are in standard deviations of the noise, estimated
    robustly (median absolute change between neighbouring points × 1.4826 / √2)."""

    window: int = 256  # points whose step-to-step changes give the noise level
    level_window: int = 32  # points whose median is the level a new point is compared with
    min_history: int = 20  # points needed before a metric can raise a spike
    spike_z: float = 5.0  # loss spike: robust z-score above this (≈ 7.4 MAD; see bench/anomaly_detection.py)
    spike_critical_z: float = 12.0
    explosion_factor: float = 4.0  # grad-norm explosion: above this multiple of its rolling median ...
    explosion_z: float = 5.0  # ... and this robust z-score of log(grad norm)
    throughput_drop: float = 0.5  # throughput below this fraction of its rolling median ...
    throughput_points: int = 5  # ... for this many points in a row
    val_rise: float = 0.03  # val loss more than 3 % above its best ...
    val_evals: int = 2  # ... at this many evals in a row
    stall_after_s: float = 120.0  # no heartbeat for this long while "running"
    merge_steps: int = 10  # events of one kind on one metric this close together are one event


@dataclass(frozen=True)
class AnomalyEvent:
    kind: str  # spike, grad_explosion, nonfinite, throughput_drop, val_divergence, stalled, plateau, overfitting
    key: str
    step: int
    wall_time: float
    severity: Severity
    message: str
    value: float = math.nan


LOSS_KEYS = ("train/loss", "loss")
GRAD_KEYS = ("grad_norm",)
THROUGHPUT_KEYS = ("tokens_per_sec", "iters_per_sec")
VAL_KEYS = ("val/loss",)


SMALL_BATCH = 64  # up to this many new points, medians of their own windows beat pandas' rolling machinery


def _rolling_reference(history: np.ndarray, window: int, level_window: int,
                       start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """For each point from `start` on, from the points before it only: the level (median of the last
    `level_window`) and the noise's standard deviation (from the median step-to-step change over the
    last `window`). NaN where fewer than two points (changes) are there to take a median of.

    Differences cancel the loss curve's trend, so a steep early decay does not pass for noise;
    a short level window keeps the median from lagging far behind that trend.
    """
    changes = np.abs(np.diff(history))  # changes[k - 1]: from point k - 1 to point k
    return (_medians_before(history, level_window, start),
            _medians_before(changes, window, start, first=-1) * DIFF_MAD_TO_SIGMA)


def _medians_before(values: np.ndarray, window: int, start: int, first: int = 0) -> np.ndarray:
    """For each point j >= start of the history: the median of the last `window` values before it,
    values[j - window + first : j + first] (from 0 at most); NaN with fewer than two. `first` is -1
    for step-to-step changes, whose k-th is the change into point k + 1."""
    count = max(0, len(values) - first - start)
    if count > SMALL_BATCH:  # pandas' rolling medians over the whole history
        padded = np.concatenate([np.full(-first, np.nan), values])
        return pd.Series(padded).rolling(window, min_periods=2).median().shift(1).to_numpy()[start:]
    # a few new points (the live case: each push brings a handful): a median per point costs
    # microseconds, where pandas' rolling machinery costs a millisecond whatever the count
    out = np.full(count, np.nan)
    for i, j in enumerate(range(start, start + count)):
        seen = values[max(0, j - window + first):max(0, j + first)]
        if len(seen) >= 2:
            out[i] = np.median(seen)
    return out


@dataclass
class _KeyState:
    tail_value: np.ndarray = field(default_factory=lambda: np.empty(0))
    seen: int = 0
    last_event: dict[str, int] = field(default_factory=dict)
    in_nonfinite: bool = False
    low_run: int = 0
    low_start: tuple[int, float] | None = None
    low_reference: float = math.nan
    low_reported: bool = False
    best_val: float = math.inf
    above_best: int = 0
    val_reported: bool = False


class AnomalyDetector:
    """Finds anomalies in one run, fed the new points of each metric as they arrive."""

    def __init__(self, settings: AnomalySettings = AnomalySettings()) -> None:
        self.settings = settings
        self.events: list[AnomalyEvent] = []
        self._state: dict[str, _KeyState] = {}

    def update(self, key: str, step: np.ndarray, value: np.ndarray, wall_time: np.ndarray) -> list[AnomalyEvent]:
        """Check the new points of `key` (in logged order) and return the events they raise."""
        step = np.asarray(step, dtype=np.int64)
        value = np.asarray(value, dtype=np.float64)
        wall_time = np.asarray(wall_time, dtype=np.float64)
        if not len(step):
            return []
        state = self._state.setdefault(key, _KeyState())
        new: list[AnomalyEvent] = []
        new += self._nonfinite(key, state, step, value, wall_time)
        finite = np.isfinite(value)
        if key in LOSS_KEYS:
            new += self._spikes(key, state, step[finite], value[finite], wall_time[finite])
        elif key in GRAD_KEYS:
            positive = finite & (value > 0)
            new += self._spikes(key, state, step[positive], value[positive], wall_time[positive], log=True)
        elif key in THROUGHPUT_KEYS:
            new += self._throughput(key, state, step[finite], value[finite], wall_time[finite])
        elif key in VAL_KEYS:
            new += self._val(key, state, step[finite], value[finite], wall_time[finite])
        self.events.extend(new)
        return new

    def _emit(self, state: _KeyState, event: AnomalyEvent) -> AnomalyEvent | None:
        last = state.last_event.get(event.kind)
        state.last_event[event.kind] = event.step
        if last is not None and 0 <= event.step - last <= self.settings.merge_steps:
            return None
        return event

    def _nonfinite(self, key: str, state: _KeyState, step: np.ndarray, value: np.ndarray,
                   wall_time: np.ndarray) -> list[AnomalyEvent]:
        out = []
        bad = ~np.isfinite(value)
        for i in range(len(value)):
            if bad[i] and not state.in_nonfinite:
                word = "NaN" if math.isnan(value[i]) else ("+Inf" if value[i] > 0 else "-Inf")
                out.append(AnomalyEvent("nonfinite", key, int(step[i]), float(wall_time[i]), "critical",
                                        f"{key} is {word} at step {int(step[i])}: the run has diverged or overflowed",
                                        float(value[i])))
            state.in_nonfinite = bool(bad[i])
        return out

    def _spikes(self, key: str, state: _KeyState, step: np.ndarray, value: np.ndarray, wall_time: np.ndarray,
                log: bool = False) -> list[AnomalyEvent]:
        s = self.settings
        x = np.log(value) if log else value
        history = np.concatenate([state.tail_value, x])
        offset = len(state.tail_value)
        med, scale = _rolling_reference(history, s.window, s.level_window, start=offset)
        seen_before = state.seen
        state.seen += len(x)
        state.tail_value = history[-(max(s.window, s.level_window) + 1):]
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (x - med) / np.where(scale > 0, scale, np.nan)
        enough = (seen_before + np.arange(len(x))) >= s.min_history
        threshold = s.explosion_z if log else s.spike_z
        hits = np.flatnonzero(enough & (z > threshold))
        if log:
            hits = hits[np.exp(x[hits] - med[hits]) > s.explosion_factor]
        out = []
        for i in hits:
            if log:
                ratio = math.exp(x[i] - med[i])
                e = AnomalyEvent("grad_explosion", key, int(step[i]), float(wall_time[i]),
                                 "critical" if ratio > 10 * s.explosion_factor else "warning",
                                 f"{key} {value[i]:.3g} is {ratio:.1f}× its recent median {math.exp(med[i]):.3g}",
                                 float(value[i]))
            else:
                e = AnomalyEvent("spike", key, int(step[i]), float(wall_time[i]),
                                 "critical" if z[i] > s.spike_critical_z else "warning",
                                 f"{key} jumped to {value[i]:.4g} ({z[i]:.1f} σ above its recent median {med[i]:.4g})",
                                 float(value[i]))
            kept = self._emit(state, e)
            if kept is not None:
                out.append(kept)
        return out

    def _throughput(self, key: str, state: _KeyState, step: np.ndarray, value: np.ndarray,
                    wall_time: np.ndarray) -> list[AnomalyEvent]:
        s = self.settings
        history = np.concatenate([state.tail_value, value])
        offset = len(state.tail_value)
        med = _medians_before(history, s.window, offset)
        seen_before = state.seen
        state.seen += len(value)
        out = []
        for i in range(len(value)):
            low = seen_before + i >= s.min_history and np.isfinite(med[i]) and value[i] < s.throughput_drop * med[i]
            if low:
                if state.low_run == 0:
                    state.low_start = (int(step[i]), float(wall_time[i]))
                    state.low_reference = float(med[i])
                state.low_run += 1
                if state.low_run >= s.throughput_points and not state.low_reported:
                    state.low_reported = True
                    ref = state.low_reference
                    out.append(AnomalyEvent("throughput_drop", key, state.low_start[0], state.low_start[1], "warning",
                                            f"{key} fell to {value[i]:.4g} ({value[i] / ref:.0%} of its recent median "
                                            f"{ref:.4g}) for {state.low_run} points", float(value[i])))
            else:
                state.low_run, state.low_reported = 0, False
        state.tail_value = history[-s.window:]
        return out

    def _val(self, key: str, state: _KeyState, step: np.ndarray, value: np.ndarray,
             wall_time: np.ndarray) -> list[AnomalyEvent]:
        s = self.settings
        out = []
        for i in range(len(value)):
            if value[i] > state.best_val * (1.0 + s.val_rise):
                state.above_best += 1
                if state.above_best >= s.val_evals and not state.val_reported:
                    state.val_reported = True
                    out.append(AnomalyEvent("val_divergence", key, int(step[i]), float(wall_time[i]), "warning",
                                            f"{key} {value[i]:.4g} is {value[i] / state.best_val - 1:.0%} above its best "
                                            f"{state.best_val:.4g} for {state.above_best} evals in a row",
                                            float(value[i])))
            else:
                state.above_best, state.val_reported = 0, False
            state.best_val = min(state.best_val, float(value[i]))
        return out


def stalled(status: str, heartbeat: float, now: float, last_step: int | None,
            settings: AnomalySettings = AnomalySettings()) -> AnomalyEvent | None:
    """A 'running' run whose writer has sent no heartbeat for `stall_after_s` seconds."""
    silent = now - heartbeat
    if status != "running" and status != "stalled" or silent < settings.stall_after_s:
        return None
    return AnomalyEvent("stalled", "heartbeat", int(last_step or 0), heartbeat, "critical",
                        f"no heartbeat for {silent:.0f} s: the training process is hung, paused or gone")


def detect(series: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
           settings: AnomalySettings = AnomalySettings()) -> list[AnomalyEvent]:
    """All events of whole series {key: (step, value, wall_time)}, ordered by step."""
    detector = AnomalyDetector(settings)
    for key, (step, value, wall_time) in series.items():
        detector.update(key, step, value, wall_time)
    return sorted(detector.events, key=lambda e: (e.step, e.kind))
