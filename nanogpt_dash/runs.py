"""Finding runs in a runs directory and saying what state each is in."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import NanogptDashError
from .store import DB_NAME, RunMeta, RunReader, StoreError, find_run_dirs

STALLED_AFTER_S = 30.0
LOSS_KEY = "train/loss"


class RunNotFound(NanogptDashError):
    """A run id or path names no run."""


def effective_status(meta: RunMeta, now: float | None = None, stalled_after: float = STALLED_AFTER_S) -> str:
    """The recorded status, except that a 'running' run whose heartbeat has gone quiet is 'stalled'."""
    now = time.time() if now is None else now
    if meta.status == "running" and now - meta.heartbeat > stalled_after:
        return "stalled"
    return meta.status


def is_run_id(text: str) -> bool:
    """A run id is one plain directory name: no separators, no '..', nothing hidden."""
    return bool(text) and text == Path(text).name and not text.startswith(".")


def resolve_run(runs_dir: str | Path, run: str, *, allow_path: bool = False) -> Path:
    """The directory of run id `run` under runs_dir (or, with allow_path, a path to a run directory)."""
    if is_run_id(run) and (Path(runs_dir) / run / DB_NAME).is_file():
        return Path(runs_dir) / run
    if allow_path and (Path(run) / DB_NAME).is_file():
        return Path(run)
    known = ", ".join(p.name for p in find_run_dirs(runs_dir)) or "none"
    raise RunNotFound(f"run '{run}' not found in {runs_dir}/ (known: {known})")


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    name: str
    status: str
    last_step: int | None
    last_loss: float | None
    path: Path


def summarize(run_dir: Path, now: float | None = None) -> RunSummary:
    """One run's summary. Its id is the folder's name, the name `export` and the dashboard take,
    even when the folder was renamed after the run recorded another id."""
    with RunReader(run_dir) as reader:
        meta = reader.meta()
        last = reader.last_values([LOSS_KEY]).get(LOSS_KEY)
    return RunSummary(
        run_id=run_dir.name, name=meta.name, status=effective_status(meta, now),
        last_step=last[0] if last else None, last_loss=last[1] if last else None, path=run_dir,
    )


def list_runs(runs_dir: str | Path) -> tuple[list[RunSummary], list[tuple[Path, str]]]:
    """Summaries of readable runs, and (path, reason) for run files that cannot be read now."""
    summaries, problems = [], []
    for run_dir in find_run_dirs(runs_dir):
        try:
            summaries.append(summarize(run_dir))
        except StoreError as e:
            problems.append((run_dir, str(e)))
    return summaries, problems


def format_loss(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if math.isfinite(value) else str(value)
