"""Numbers derived from a run's series: progress, speed, time left."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..live import LiveStore

SPEED_WINDOW = 50  # iterations used for the current speed
ETA_WINDOW_S = 300.0  # the time left comes from the speed over this long, evals and pauses included
ETA_POINTS = 20_000


@dataclass(frozen=True)
class Progress:
    status: str
    step: int | None
    train_loss: float | None
    best_val_loss: float | None
    iters_per_sec: float | None
    tokens_per_sec: float | None
    elapsed_s: float | None
    eta_s: float | None
    max_iters: int | None
    val_loss: float | None = None  # the latest finite eval


def iteration_rate(step: np.ndarray, wall_time: np.ndarray, window: int = SPEED_WINDOW) -> float | None:
    """Iterations per second over the last `window` logged iterations."""
    if len(step) < 2:
        return None
    step, wall_time = step[-window:], wall_time[-window:]
    dt = float(wall_time[-1] - wall_time[0])
    return float(step[-1] - step[0]) / dt if dt > 0 else None


def steady_rate(step: np.ndarray, wall_time: np.ndarray, window_s: float = ETA_WINDOW_S) -> float | None:
    """Iterations per second over the last `window_s` seconds, evals included: an ETA from the speed of
    the last few iterations jumps with every eval (14 to 21 minutes from one second to the next)."""
    if len(step) < 2:
        return None
    first = int(np.searchsorted(wall_time, wall_time[-1] - window_s))
    first = min(first, len(step) - 2)
    dt = float(wall_time[-1] - wall_time[first])
    return float(step[-1] - step[first]) / dt if dt > 0 else None


def progress(store: LiveStore, run_id: str, now: float | None = None) -> Progress:
    now = time.time() if now is None else now
    run = store.get(run_id)
    status = store.status(run_id, now)
    loss = store.view(run_id, "train/loss", last=SPEED_WINDOW)
    val = store.view(run_id, "val/loss")  # one point per eval: small
    tokens = store.view(run_id, "tokens_per_sec", last=SPEED_WINDOW)
    step = int(loss.step[-1]) if loss is not None and len(loss.step) else None
    train_loss = float(loss.value[-1]) if step is not None else None
    finite_val = val.value[np.isfinite(val.value)] if val is not None else np.empty(0)
    best_val = float(finite_val.min()) if len(finite_val) else None
    latest_val = float(finite_val[-1]) if len(finite_val) else None
    rate = iteration_rate(loss.step, loss.wall_time) if loss is not None else None
    tokens_per_sec = float(np.median(tokens.value[-SPEED_WINDOW:])) if tokens is not None and len(tokens.value) else None

    meta = run.meta if run is not None else None
    max_iters = meta.config.get("max_iters") if meta is not None else None
    elapsed = None
    if meta is not None and meta.segments:
        end = now if status in ("running", "stalled") else max(s.ended or s.heartbeat for s in meta.segments)
        elapsed = sum(max(0.0, (s.ended or (end if s is meta.segments[-1] else s.heartbeat)) - s.started)
                      for s in meta.segments)
    eta = None
    if status == "running" and rate and step is not None and isinstance(max_iters, int):
        recent = store.view(run_id, "train/loss", last=ETA_POINTS)
        eta_rate = steady_rate(recent.step, recent.wall_time) if recent is not None else None
        eta = max(0.0, (max_iters - step) / (eta_rate or rate))
    return Progress(status, step, train_loss, best_val, rate, tokens_per_sec, elapsed, eta,
                    max_iters if isinstance(max_iters, int) else None, latest_val)


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"

