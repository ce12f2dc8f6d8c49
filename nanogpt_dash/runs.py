"""Finding runs in a runs directory and saying what state each is in."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from .errors import NanogptDashError
from .store import DB_NAME, RunMeta, RunReader, Segment, StoreError, find_run_dirs

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
    config: dict[str, Any] = field(default_factory=dict)      # the hyperparameters of the latest segment
    model_args: dict[str, Any] = field(default_factory=dict)


def summarize(run_dir: Path, now: float | None = None) -> RunSummary:
    """One run's summary. Its id is the folder's name, the name `export` and the dashboard take,
    even when the folder was renamed after the run recorded another id."""
    with RunReader(run_dir) as reader:
        meta = reader.meta()
        last = reader.last_values([LOSS_KEY]).get(LOSS_KEY)
    return RunSummary(
        run_id=run_dir.name, name=meta.name, status=effective_status(meta, now),
        last_step=last[0] if last else None, last_loss=last[1] if last else None, path=run_dir,
        config=dict(meta.config), model_args=dict(meta.model_args),
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


class CheckpointError(NanogptDashError):
    """A run's checkpoint exists but cannot be read."""


CHECKPOINT_NAME = "ckpt.pt"


def checkpoint_path(run_dir: str | Path) -> Path | None:
    """The run's checkpoint: ckpt.pt in the run directory, else the newest one its events name."""
    local = Path(run_dir) / CHECKPOINT_NAME
    if local.is_file():
        return local
    with RunReader(run_dir) as reader:
        saved = reader.events_since(0, kind="checkpoint")
    for event in reversed(saved):
        path = Path(str(event.payload.get("path", "")))
        if path.name and path.is_file():
            return path
    return None


def model_args_for(run_dir: str | Path) -> dict[str, Any]:
    """The run's model args as recorded, else those of its checkpoint (nanoGPT's or ours); {} if neither."""
    with RunReader(run_dir) as reader:
        recorded = reader.meta().model_args
    if recorded:
        return dict(recorded)
    path = checkpoint_path(run_dir)
    if path is None:
        return {}
    stat = path.stat()
    return dict(_checkpoint_model_args(str(path.resolve()), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=64)
def _checkpoint_model_args(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    import torch  # only here: listing runs must not wait for torch to import

    try:
        try:  # mmap: only the pages holding model_args are read, not the weights
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # files from torch's pre-1.6 format cannot be mapped
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a truncated or foreign file
        raise CheckpointError(f"cannot read model args from {path}: {e}; is it a nanoGPT checkpoint?") from e
    args = checkpoint.get("model_args") if isinstance(checkpoint, dict) else None
    if not isinstance(args, dict):
        raise CheckpointError(f"{path} has no 'model_args' dict; nanoGPT and train.py checkpoints have one")
    return args


@dataclass(frozen=True)
class ConfigChange:
    step: int  # where the segment with the new value starts
    key: str
    old: Any  # None when the key was absent before
    new: Any  # None when the key is absent now


def changes_between(segments: Sequence[Segment]) -> list[ConfigChange]:
    """Keys whose value differs from the previous segment's, at the step each new segment starts."""
    changes = []
    for before, after in zip(segments, segments[1:]):
        for key in sorted(before.config.keys() | after.config.keys()):
            old, new = before.config.get(key), after.config.get(key)
            if old != new:
                changes.append(ConfigChange(after.start_step, key, old, new))
    return changes


def config_changes(run_dir: str | Path) -> list[ConfigChange]:
    """Which configuration keys changed at which step, over the run's resumes."""
    with RunReader(run_dir) as reader:
        return changes_between(reader.meta().segments)
