"""LiveStore: the dashboard's in-process mirror of every run file under a runs directory.

A poller thread discovers run directories and reads only rows past each run's cursor into
columnar numpy series. Callbacks read from here and never touch SQLite. A run whose file cannot
be read keeps its last good data and carries an error message until it is readable again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .runs import effective_status
from .store import Event, RunMeta, RunReader, StoreError, find_run_dirs, superseded_mask

POLL_INTERVAL_S = 0.05
META_INTERVAL_S = 1.0
DISCOVER_INTERVAL_S = 1.0
EVENTS_KEPT = 200


class Series:
    """One metric of one run: append-only columns in file order (superseded points included)."""

    __slots__ = ("step", "value", "wall_time", "segment", "size")

    def __init__(self) -> None:
        self.size = 0
        self.step = np.empty(256, np.int64)
        self.value = np.empty(256, np.float32)
        self.wall_time = np.empty(256, np.float64)
        self.segment = np.empty(256, np.int32)

    def extend(self, step: np.ndarray, value: np.ndarray, wall_time: np.ndarray, segment: np.ndarray) -> None:
        end = self.size + len(step)
        if end > len(self.step):
            capacity = max(end, 2 * len(self.step))
            for name in ("step", "value", "wall_time", "segment"):
                old = getattr(self, name)
                grown = np.empty(capacity, old.dtype)
                grown[: self.size] = old[: self.size]
                setattr(self, name, grown)
        self.step[self.size:end] = step
        self.value[self.size:end] = value
        self.wall_time[self.size:end] = wall_time
        self.segment[self.size:end] = segment
        self.size = end


@dataclass(frozen=True)
class SeriesView:
    """A read-only slice of a Series: points [start, end) of the file order, visibility applied."""

    step: np.ndarray
    value: np.ndarray
    wall_time: np.ndarray
    end: int


@dataclass
class LiveRun:
    run_id: str
    path: Path
    reader: RunReader | None = None
    meta: RunMeta | None = None
    series: dict[str, Series] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    cursor: int = 0
    event_cursor: int = 0
    error: str | None = None
    meta_read_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def version(self) -> int:
        """Changes when earlier points may have become superseded (a new segment started)."""
        return len(self.meta.segments) if self.meta else 0


class LiveStore:
    """All runs under `runs_dir`, kept current by `poll()` (called by a thread from `start()`)."""

    def __init__(self, runs_dir: str | Path, stalled_after: float = 30.0) -> None:
        self.runs_dir = Path(runs_dir)
        self.stalled_after = stalled_after
        self._runs: dict[str, LiveRun] = {}
        self._lock = threading.Lock()
        self._discovered_at = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- reading (callbacks) -----------------------------------------------------------------

    def run_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._runs)

    def get(self, run_id: str) -> LiveRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def status(self, run_id: str, now: float | None = None) -> str:
        run = self.get(run_id)
        if run is None or run.meta is None:
            return "unknown"
        return effective_status(run.meta, now, self.stalled_after)

    def keys(self, run_id: str) -> list[str]:
        run = self.get(run_id)
        if run is None:
            return []
        with run.lock:
            return sorted(run.series)

    def view(self, run_id: str, key: str, start: int = 0, show_superseded: bool = False) -> SeriesView | None:
        """Points of `key` from file position `start` on; superseded ones hidden unless asked."""
        run = self.get(run_id)
        if run is None:
            return None
        with run.lock:
            series = run.series.get(key)
            if series is None:
                return SeriesView(np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0), start)
            end = series.size
            step = series.step[start:end].copy()
            value = series.value[start:end].copy()
            wall_time = series.wall_time[start:end].copy()
            segment = series.segment[start:end]
            keep = None
            if not show_superseded and run.meta is not None and len(run.meta.segments) > 1:
                keep = ~superseded_mask(segment, step, run.meta.segments)
        if keep is not None:
            step, value, wall_time = step[keep], value[keep], wall_time[keep]
        return SeriesView(step, value, wall_time, end)

    def events(self, run_id: str, kind: str | None = None) -> list[Event]:
        run = self.get(run_id)
        if run is None:
            return []
        with run.lock:
            return [e for e in run.events if kind is None or e.kind == kind]

    def points(self) -> int:
        with self._lock:
            runs = list(self._runs.values())
        return sum(s.size for run in runs for s in run.series.values())

    # -- tailing (poller thread) -------------------------------------------------------------

    def start(self, interval: float = POLL_INTERVAL_S) -> "LiveStore":
        self.poll()
        self._thread = threading.Thread(target=self._loop, args=(interval,), name="nanogpt_dash-live", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.poll()

    def poll(self) -> None:
        """Discover new run directories (about once a second) and read new rows of every run."""
        now = time.monotonic()
        if now - self._discovered_at >= DISCOVER_INTERVAL_S:
            self._discovered_at = now
            for path in find_run_dirs(self.runs_dir):
                with self._lock:
                    if path.name not in self._runs:
                        self._runs[path.name] = LiveRun(run_id=path.name, path=path)
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            self._tail(run, now)

    def _tail(self, run: LiveRun, now: float) -> None:
        try:
            if run.reader is None:
                run.reader = RunReader(run.path)
            if run.meta is None or now - run.meta_read_at >= META_INTERVAL_S:
                meta = run.reader.meta()
                with run.lock:
                    run.meta, run.meta_read_at = meta, now
            batch = run.reader.scalars_since(run.cursor)
            events = run.reader.events_since(run.event_cursor) if len(batch) or not run.events else []
        except StoreError as e:
            self._fail(run, str(e))
            return
        with run.lock:
            if len(batch):
                self._append(run, batch)
                run.cursor = batch.cursor
            if events:
                run.events.extend(events)
                del run.events[:-EVENTS_KEPT]
                run.event_cursor = events[-1].id
            run.error = None

    @staticmethod
    def _append(run: LiveRun, batch) -> None:
        keys = np.asarray(batch.key, dtype=object)
        for key in dict.fromkeys(batch.key):
            rows = keys == key
            series = run.series.get(key)
            if series is None:
                series = run.series[key] = Series()
            series.extend(batch.step[rows], batch.value[rows], batch.wall_time[rows], batch.segment[rows])

    @staticmethod
    def _fail(run: LiveRun, message: str) -> None:
        with run.lock:
            run.error = message
        if run.reader is not None:
            run.reader.close()
            run.reader = None
