"""Per-metric summaries, time to a target loss, efficiency, and the configuration diff of runs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..views import ema

HIGHER_IS_BETTER = ("tokens_per_sec", "iters_per_sec", "mfu", "accuracy", "acc")
MISSING = "—"  # shown where a run's config lacks a key


@dataclass(frozen=True)
class MetricSummary:
    key: str
    count: int
    nonfinite: int
    min: float | None
    min_step: int | None
    max: float | None
    max_step: int | None
    mean: float | None
    final: float | None
    final_step: int | None
    best: float | None
    best_step: int | None


@dataclass(frozen=True)
class TimeToLoss:
    step: int
    elapsed_s: float


@dataclass(frozen=True)
class Efficiency:
    tokens_per_sec: float | None  # median over the run
    mfu: float | None  # median, where the device's peak FLOP/s is known
    peak_cuda_mem_mb: float | None


@dataclass(frozen=True)
class ConfigRow:
    key: str
    values: dict[str, Any]  # run id → value (MISSING where the run has no such key)
    differs: bool


def higher_is_better(key: str) -> bool:
    """Whether a bigger value of this metric is the better one (throughput, MFU, accuracy)."""
    name = key.rsplit("/", 1)[-1]
    return any(name == k or name.endswith(k) for k in HIGHER_IS_BETTER)


def summarize(key: str, step: np.ndarray, value: np.ndarray) -> MetricSummary:
    """Min, max, mean, final and best (with their steps) over the finite values of one metric."""
    step, value = np.asarray(step), np.asarray(value, dtype=np.float64)
    finite = np.isfinite(value)
    nonfinite = int((~finite).sum())
    if not finite.any():
        return MetricSummary(key, len(value), nonfinite, *([None] * 9))
    s, v = step[finite], value[finite]
    i_min, i_max = int(np.argmin(v)), int(np.argmax(v))
    i_best = i_max if higher_is_better(key) else i_min
    return MetricSummary(key, len(value), nonfinite, float(v[i_min]), int(s[i_min]), float(v[i_max]), int(s[i_max]),
                         float(v.mean()), float(v[-1]), int(s[-1]), float(v[i_best]), int(s[i_best]))


def time_to_loss(step: np.ndarray, value: np.ndarray, wall_time: np.ndarray, target: float,
                 smoothing: float = 0.9, started: float | None = None) -> TimeToLoss | None:
    """First step where the smoothed loss is at or below `target`, and the seconds it took; None if never."""
    step, wall_time = np.asarray(step), np.asarray(wall_time, dtype=np.float64)
    s = ema(np.asarray(value, dtype=np.float64), smoothing)[0] if smoothing > 0 else np.asarray(value, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        hits = np.flatnonzero(s <= target)
    if not len(hits):
        return None
    i = int(hits[0])
    origin = started if started is not None else float(wall_time[0])
    return TimeToLoss(int(step[i]), float(wall_time[i] - origin))


def _median(values: np.ndarray | None) -> float | None:
    if values is None:
        return None
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else None


def efficiency(tokens_per_sec: np.ndarray | None = None, mfu: np.ndarray | None = None,
               gpu_mem_mb: np.ndarray | None = None) -> Efficiency:
    """Median tokens/s and MFU, and the peak GPU memory, from whichever of these series a run logged."""
    peak = None
    if gpu_mem_mb is not None and len(gpu_mem_mb):
        m = np.asarray(gpu_mem_mb, dtype=np.float64)
        m = m[np.isfinite(m)]
        peak = float(m.max()) if len(m) else None
    return Efficiency(_median(tokens_per_sec), _median(mfu), peak)


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in config.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, name + "."))
        else:
            out[name] = v
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return a == b


def config_diff(configs: Mapping[str, Mapping[str, Any]], show_all: bool = False) -> list[ConfigRow]:
    """Hyperparameters of several runs side by side: only those that differ unless `show_all`.

    Nested dicts are compared key by key (`a.b`); a key one run lacks counts as a difference.
    """
    flat = {run: _flatten(cfg) for run, cfg in configs.items()}
    keys = sorted({k for cfg in flat.values() for k in cfg})
    rows = []
    for key in keys:
        values = {run: cfg.get(key, MISSING) for run, cfg in flat.items()}
        vs = list(values.values())
        differs = any(not _same(vs[0], v) for v in vs[1:])
        if differs or show_all:
            rows.append(ConfigRow(key, values, differs))
    return rows
