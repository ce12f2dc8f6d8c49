"""LiveStore: the dashboard's in-process mirror of every run file under a runs directory.

A poller thread discovers run directories and reads only rows past each run's cursor into
columnar numpy series. Callbacks read from here and never touch SQLite. A run whose file cannot
be read keeps its last good data and carries an error message until it is readable again.

Startup never waits for the files: runs are discovered at once and loaded in the background,
newest first, a slice at a time between the live runs' updates; until its data is in, a run is
`loading()`. Files that nobody writes are only queried when they change, and files that keep
failing are retried with a back-off, so an idle server costs next to nothing.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .runs import effective_status
from .store import (ArrayRow, Event, RunMeta, RunReader, StoreError, db_path, find_run_dirs, read_arrays,
                    superseded_mask)
from .views import nonfinite_points

POLL_INTERVAL_S = 0.05  # the shortest pause between polls
IDLE_POLL_INTERVAL_S = 1.0  # while no tab is shown: the runs stay within a second of their files, at a 20th of the work
READ_BATCH = 200_000  # rows per query: a huge backlog is read in slices, never all at once
CHUNK = 1 << 15
INT32_MAX = 2**31 - 1
FLOAT32_MAX = float(np.finfo(np.float32).max)
META_INTERVAL_S = 1.0
DISCOVER_INTERVAL_S = 1.0
EVENTS_KEPT = 200
ARRAY_KINDS = ("attention",)  # logged arrays the dashboard mirrors (attention maps of the probe)
ARRAY_BYTES_KEPT = 64 << 20  # per run; past it the oldest arrays are dropped from memory (not from the file)

LOAD_SLICE = 50_000  # rows per query while loading a run in the background
LOAD_BUDGET_S = 0.2  # loading time per poll, so the live runs between slices stay current
QUIET_AFTER_S = 5.0  # a file unchanged this long ...
QUIET_CHECK_S = 0.25  # ... is stat()-ed this often instead of every poll
REFRESH_UNCHANGED_S = 10.0  # and read anyway this often, in case a change hid in the file's timestamps
RETRY_MIN_S, RETRY_MAX_S = 0.1, 5.0  # back-off for a file that keeps failing


class Series:
    """One metric of one run, in file order, stored compactly in fixed-size chunks.

    Per point: the step (int32, widened to int64 only if a step needs it), the value (float32,
    widened to float64 only if a finite value is beyond float32's range) and the wall-clock time
    as float32 seconds since the run's origin: 12 bytes. Segments are
    kept as the positions where each one's points begin, not per point. Chunks never move, so
    growing a series copies nothing.
    """

    __slots__ = ("origin", "size", "_steps", "_values", "_times", "_step_dtype", "_value_dtype", "segment_ids",
                 "segment_starts", "nonfinite", "last_nonfinite_step")

    def __init__(self, origin: float) -> None:
        self.origin = origin
        self.size = 0
        self._steps: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._times: list[np.ndarray] = []
        self._step_dtype = np.int32
        self._value_dtype = np.float32
        self.segment_ids: list[int] = []
        self.segment_starts: list[int] = []
        self.nonfinite: dict[str, int] = {}  # how many NaN, +Inf and -Inf values were logged
        self.last_nonfinite_step: int | None = None

    def extend(self, step: np.ndarray, value: np.ndarray, wall_time: np.ndarray, segment: np.ndarray) -> None:
        if len(step) == 0:
            return
        if self._step_dtype is np.int32 and (step.max() > INT32_MAX or step.min() < -INT32_MAX):
            self._step_dtype = np.int64
            self._steps = [chunk.astype(np.int64) for chunk in self._steps]
        if self._value_dtype is np.float32 and self._overflows_float32(value):
            self._value_dtype = np.float64
            self._values = [chunk.astype(np.float64) for chunk in self._values]
        changes = np.flatnonzero(np.diff(segment)) + 1
        for at in np.concatenate([[0], changes]):
            if not self.segment_ids or self.segment_ids[-1] != segment[at]:
                self.segment_ids.append(int(segment[at]))
                self.segment_starts.append(self.size + int(at))
        bad = ~np.isfinite(value)
        if bad.any():
            for kind, points in nonfinite_points(step[bad], value[bad], step[bad], wall_time[bad]).items():
                self.nonfinite[kind] = self.nonfinite.get(kind, 0) + len(points.step)
            self.last_nonfinite_step = int(step[bad][-1])
        done = 0
        while done < len(step):
            offset = self.size % CHUNK
            if offset == 0:
                self._steps.append(np.empty(CHUNK, self._step_dtype))
                self._values.append(np.empty(CHUNK, self._value_dtype))
                self._times.append(np.empty(CHUNK, np.float32))
            take = min(CHUNK - offset, len(step) - done)
            self._steps[-1][offset:offset + take] = step[done:done + take]
            self._values[-1][offset:offset + take] = value[done:done + take]
            self._times[-1][offset:offset + take] = wall_time[done:done + take] - self.origin
            done += take
            self.size += take

    @staticmethod
    def _overflows_float32(value: np.ndarray) -> bool:
        magnitude = np.abs(value)
        return bool(np.any((magnitude > FLOAT32_MAX) & np.isfinite(magnitude)))

    def columns(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(step, value, wall_time, segment) of points [start, end), as new arrays."""
        first, last = start // CHUNK, (end - 1) // CHUNK + 1 if end > start else start // CHUNK

        def gather(chunks: list[np.ndarray]) -> np.ndarray:
            if end <= start:
                return np.empty(0, chunks[0].dtype if chunks else np.float32)
            pieces = [chunks[i][max(start - i * CHUNK, 0):min(end - i * CHUNK, CHUNK)] for i in range(first, last)]
            return pieces[0].copy() if len(pieces) == 1 else np.concatenate(pieces)

        step = gather(self._steps).astype(np.int64, copy=False)
        value = gather(self._values)
        wall_time = gather(self._times).astype(np.float64) + self.origin
        count = max(0, end - start)
        if len(self.segment_ids) <= 1:
            segment = np.full(count, self.segment_ids[0] if self.segment_ids else 0, np.int32)
        else:
            index = np.searchsorted(self.segment_starts, np.arange(start, start + count), side="right") - 1
            segment = np.asarray(self.segment_ids, dtype=np.int32)[index]
        return step, value, wall_time, segment

    def nbytes(self) -> int:
        return sum(c.nbytes for chunks in (self._steps, self._values, self._times) for c in chunks)


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
    arrays: list[ArrayRow] = field(default_factory=list)
    array_cursor: int = 0
    error: str | None = None
    meta_read_at: float = 0.0
    file_id: tuple[int, int] | None = None
    generation: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded: bool = False  # read to the end of its file at least once
    mtime: float = 0.0  # when discovered: newest files load first
    signature: tuple | None = None  # the file's identity, sizes and times when last queried
    checked_at: float = 0.0
    changed_at: float = 0.0
    failures: int = 0
    retry_at: float = 0.0
    watched: tuple[str, str] = ()  # the run file and its WAL, as plain strings for a cheap os.stat

    @property
    def version(self) -> str:
        """Changes when points already shown may no longer be right: a resume, or a replaced file."""
        return f"{self.generation}.{len(self.meta.segments) if self.meta else 0}"

    def news(self) -> tuple:
        """Changes whenever a reader of this run has something new to see."""
        meta = self.meta
        return (self.cursor, self.event_cursor, self.array_cursor, self.generation, self.error, self.loaded,
                None if meta is None else (meta.status, len(meta.segments)))

    def reset(self) -> None:
        """Forget everything read so far (the file was replaced or shrank); the next poll reads it anew."""
        self.series, self.events, self.arrays = {}, [], []
        self.cursor = self.event_cursor = self.array_cursor = 0
        self.meta, self.meta_read_at = None, 0.0
        self.generation += 1


class LiveStore:
    """All runs under `runs_dir`, kept current by `poll()` (called by a thread from `start()`)."""

    def __init__(self, runs_dir: str | Path, stalled_after: float = 30.0, keys: Iterable[str] | None = None) -> None:
        """`keys`: the metrics to hold in memory (None: all; 'layers/*' keeps every key starting 'layers/').

        The others stay in the run files only.
        """
        self.runs_dir = Path(runs_dir)
        self.stalled_after = stalled_after
        self.kept_keys = frozenset(k for k in keys if not k.endswith("*")) if keys is not None else None
        self.kept_prefixes = tuple(k[:-1] for k in keys if k.endswith("*")) if keys is not None else ()
        self._runs: dict[str, LiveRun] = {}
        self._lock = threading.Lock()
        self._discovered_at = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._watched: Callable[[float], float | None] = lambda now: 0.0
        self._listeners: list[Callable[[set[str]], None]] = []

    # -- reading (callbacks) -----------------------------------------------------------------

    def run_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._runs)

    def get(self, run_id: str) -> LiveRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def loading(self, run_id: str) -> bool:
        """True while a discovered run's data is still being read in (its charts would be incomplete)."""
        run = self.get(run_id)
        return run is not None and not run.loaded and run.error is None

    def loading_runs(self) -> list[str]:
        """Ids of the runs still loading, the next to load first."""
        with self._lock:
            runs = list(self._runs.values())
        return [r.run_id for r in sorted((r for r in runs if not r.loaded and r.error is None), key=lambda r: -r.mtime)]

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

    def view(self, run_id: str, key: str, start: int = 0, show_superseded: bool = False,
             last: int | None = None) -> SeriesView | None:
        """Points of `key` from file position `start` on (or only the `last` n); superseded ones hidden unless asked."""
        run = self.get(run_id)
        if run is None:
            return None
        with run.lock:
            series = run.series.get(key)
            if series is None:
                return SeriesView(np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0), start)
            end = series.size
            if last is not None:
                start = max(start, end - last)
            step, value, wall_time, segment = series.columns(start, end)
            segments = run.meta.segments if run.meta is not None else ()
        if not show_superseded and len(segments) > 1:
            keep = ~superseded_mask(segment, step, segments)
            step, value, wall_time = step[keep], value[keep], wall_time[keep]
        return SeriesView(step, value, wall_time, end)

    def superseded(self, run_id: str, key: str) -> SeriesView | None:
        """Only the superseded points of `key` (shown on request, never mixed into the live curve)."""
        run = self.get(run_id)
        if run is None:
            return None
        with run.lock:
            series = run.series.get(key)
            segments = run.meta.segments if run.meta is not None else ()
            if series is None or len(segments) < 2:
                return SeriesView(np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0), 0)
            step, value, wall_time, segment = series.columns(0, series.size)
        hidden = superseded_mask(segment, step, segments)
        return SeriesView(step[hidden], value[hidden], wall_time[hidden], len(step))

    def nonfinite(self, run_id: str) -> dict[str, tuple[dict[str, int], int]]:
        """For each kept metric of a run that logged NaN or ±Inf: the count of each kind and the last such step."""
        run = self.get(run_id)
        if run is None:
            return {}
        with run.lock:
            return {key: (dict(s.nonfinite), s.last_nonfinite_step) for key, s in run.series.items() if s.nonfinite}

    def events(self, run_id: str, kind: str | None = None) -> list[Event]:
        run = self.get(run_id)
        if run is None:
            return []
        with run.lock:
            return [e for e in run.events if kind is None or e.kind == kind]

    def arrays(self, run_id: str, kind: str) -> list[ArrayRow]:
        """The logged arrays of `kind` held in memory for a run, oldest first."""
        run = self.get(run_id)
        if run is None:
            return []
        with run.lock:
            return [a for a in run.arrays if a.kind == kind]

    def points(self) -> int:
        with self._lock:
            runs = list(self._runs.values())
        return sum(s.size for run in runs for s in run.series.values())

    def nbytes(self) -> int:
        """Bytes held by all series (the dashboard's main memory cost)."""
        with self._lock:
            runs = list(self._runs.values())
        return sum(s.nbytes() for run in runs for s in run.series.values())

    def listen(self, listener: Callable[[set[str]], None]) -> None:
        """Call `listener(run_ids)` from the poller thread after each poll that changed those runs."""
        self._listeners.append(listener)

    def watched_by(self, watched: Callable[[float], float | None]) -> None:
        """`watched(now)`: seconds from `now` (time.monotonic()) until new rows are next of use to a
        tab shown, None while no tab is shown. The store polls then (`interval` apart at the least),
        and once a second while no tab is shown: on a laptop, a dashboard nobody looks at takes next
        to nothing from training. The Channel (ui/push.py) says when each tab's next update may go."""
        self._watched = watched

    def wake(self) -> None:
        """Poll now (a tab was opened or shown), rather than at the end of an idle pause."""
        self._wake.set()

    # -- tailing (poller thread) -------------------------------------------------------------

    def start(self, interval: float = POLL_INTERVAL_S) -> "LiveStore":
        """Start tailing in a background thread; returns at once (runs load in the background)."""
        self._thread = threading.Thread(target=self._loop, args=(interval,), name="nanogpt_dash-live", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # a wake() from here on polls again at once
            self.poll(load_budget=LOAD_BUDGET_S)
            if not self.loading_runs():
                self._wake.wait(self.poll_interval(interval))

    def poll_interval(self, shortest: float = POLL_INTERVAL_S) -> float:
        """Seconds until the next poll, as the tabs shown need it (see watched_by)."""
        wait = self._watched(time.monotonic())
        if wait is None:
            return IDLE_POLL_INTERVAL_S
        return min(IDLE_POLL_INTERVAL_S, max(shortest, wait))

    def poll(self, load_budget: float | None = None) -> None:
        """Discover new run directories (about once a second) and read new rows of every run.

        With `load_budget`, runs not yet loaded get at most that many seconds of reading in this
        call (newest first); without it every run is read to its end.
        """
        now = time.monotonic()
        if now - self._discovered_at >= DISCOVER_INTERVAL_S:
            self._discovered_at = now
            self._discover()
        with self._lock:
            runs = list(self._runs.values())
        before = {run.run_id: run.news() for run in runs}
        for run in runs:
            if run.loaded and self._due(run, now):
                self._tail(run, now)
        self._load(runs, now, load_budget)
        changed = {run.run_id for run in runs if run.news() != before[run.run_id]}
        if changed:
            for listener in self._listeners:
                listener(changed)

    def _discover(self) -> None:
        for path in find_run_dirs(self.runs_dir):
            with self._lock:
                if path.name in self._runs:
                    continue
            run = LiveRun(run_id=path.name, path=path, mtime=_newest_mtime(path))
            with self._lock:
                self._runs.setdefault(path.name, run)

    def _load(self, runs: list[LiveRun], now: float, budget: float | None) -> None:
        """Read runs that are not loaded yet, newest first, for at most `budget` seconds."""
        deadline = None if budget is None else time.monotonic() + budget
        for run in sorted((r for r in runs if not r.loaded), key=lambda r: -r.mtime):
            if not self._due(run, now):
                continue
            while True:
                self._tail(run, now, max_rows=None if deadline is None else LOAD_SLICE)
                if deadline is not None and time.monotonic() >= deadline:
                    return
                if run.loaded or run.error is not None:
                    break

    def _due(self, run: LiveRun, now: float) -> bool:
        """Whether to query a run file now: always while it is written to, else only when it changed
        (or, for a failing file, when its back-off is over)."""
        if run.loaded and run.error is None:
            if self._being_written(run):
                return True
            if now - run.changed_at > QUIET_AFTER_S and now - run.checked_at < QUIET_CHECK_S:
                return False
        elif run.error is not None and now < run.retry_at and now - run.checked_at < QUIET_CHECK_S:
            return False
        run.checked_at = now
        if not run.watched:
            db = db_path(run.path)
            run.watched = (str(db), f"{db}-wal")
        signature = _stat_key(run.watched[0]), _stat_key(run.watched[1])
        if signature != run.signature:
            run.signature, run.changed_at = signature, now
            return True
        if run.error is not None:
            return now >= run.retry_at
        return not run.loaded or now - run.meta_read_at >= REFRESH_UNCHANGED_S

    def _being_written(self, run: LiveRun) -> bool:
        return run.meta is not None and effective_status(run.meta, None, self.stalled_after) == "running"

    def _tail(self, run: LiveRun, now: float, max_rows: int | None = None) -> None:
        """Read what is new in one run (at most `max_rows` scalar rows); any failure marks only this run,
        which retries later."""
        try:
            refresh = run.meta is None or now - run.meta_read_at >= META_INTERVAL_S
            if refresh:
                self._check_identity(run)
            if run.reader is None:
                run.reader = RunReader(run.path)
            if refresh:
                meta = run.reader.meta()
                with run.lock:
                    run.meta, run.meta_read_at = meta, now
            read, at_end = 0, False
            while True:
                limit = READ_BATCH if max_rows is None else min(READ_BATCH, max_rows - read)
                batch = run.reader.scalars_since(run.cursor, limit=limit)
                if len(batch):
                    with run.lock:
                        self._append(run, batch)
                        run.cursor = batch.cursor
                read += len(batch)
                if len(batch) < limit:
                    at_end = True
                    break
                if max_rows is not None and read >= max_rows:
                    break
            if refresh or len(batch):
                events = run.reader.events_since(run.event_cursor)
                if events:
                    with run.lock:
                        run.events.extend(events)
                        del run.events[:-EVENTS_KEPT]
                        run.event_cursor = events[-1].id
                self._tail_arrays(run)
        except StoreError as e:
            self._fail(run, str(e))
            return
        except Exception as e:  # a bug or a surprise in one run file must not stop the others
            self._fail(run, f"unexpected {type(e).__name__}: {e}")
            return
        if at_end and not run.loaded:
            with run.lock:
                run.loaded = True
        run.failures = 0
        if run.error is not None:
            with run.lock:
                run.error = None

    def _append(self, run: LiveRun, batch) -> None:
        keys = np.asarray(batch.key, dtype=object)
        origin = run.meta.created if run.meta is not None else float(batch.wall_time[0])
        for key in dict.fromkeys(batch.key):
            if self.kept_keys is not None and key not in self.kept_keys and not key.startswith(self.kept_prefixes):
                continue
            rows = keys == key
            series = run.series.get(key)
            if series is None:
                series = run.series[key] = Series(origin)
            series.extend(batch.step[rows], batch.value[rows], batch.wall_time[rows], batch.segment[rows])

    @staticmethod
    def _tail_arrays(run: LiveRun) -> None:
        new = [a for kind in ARRAY_KINDS for a in read_arrays(run.reader, kind, run.array_cursor)]
        if not new:
            return
        new.sort(key=lambda a: a.id)
        with run.lock:
            run.arrays.extend(new)
            run.array_cursor = new[-1].id
            total = sum(a.array.nbytes for a in run.arrays)
            while len(run.arrays) > 1 and total > ARRAY_BYTES_KEPT:
                total -= run.arrays.pop(0).array.nbytes

    @staticmethod
    def _check_identity(run: LiveRun) -> None:
        """A run file that was replaced (new inode) or shrank is read again from the start."""
        try:
            st = os.stat(db_path(run.path))
        except OSError as e:
            raise StoreError(f"cannot read {db_path(run.path)}: {e.strerror}") from e
        file_id = (st.st_ino, st.st_size)
        if run.file_id is not None and (file_id[0] != run.file_id[0] or file_id[1] < run.file_id[1]):
            if run.reader is not None:
                run.reader.close()
                run.reader = None
            with run.lock:
                run.reset()
        run.file_id = file_id

    @staticmethod
    def _fail(run: LiveRun, message: str) -> None:
        run.failures += 1
        delay = 0.0 if run.failures == 1 else min(RETRY_MAX_S, RETRY_MIN_S * 2 ** (run.failures - 2))
        run.retry_at = time.monotonic() + delay  # one retry at the next poll, then back off
        with run.lock:
            run.error = message
        if run.reader is not None:
            run.reader.close()
            run.reader = None


def _stat_key(path: str | Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _file_signature(run_dir: Path) -> tuple:
    """What changes when a run file is written, replaced or removed: the file and its WAL's inode, size, time."""
    db = db_path(run_dir)
    return _stat_key(db), _stat_key(db.with_name(db.name + "-wal"))


def _newest_mtime(run_dir: Path) -> float:
    """When the run file last received data (an empty WAL, which a reader may create, does not count)."""
    keys = [k for k in _file_signature(run_dir) if k is not None and k[1] > 0]
    return max((k[2] for k in keys), default=0) / 1e9
