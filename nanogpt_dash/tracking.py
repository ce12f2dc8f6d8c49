"""The training-side client: `Run.log()` enqueues, one background thread writes.

The training loop must never wait for us and never die because of us. So `log()` only appends
to a deque, and every failure after that (an unwritable directory, a full disk, a value that is
not a number) becomes one warning per kind of failure while training goes on. Misuse of the API
itself (logging before `init()`, after `finish()`, metrics that are not a dict) raises at once.
"""

from __future__ import annotations

import atexit
import numbers
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections import deque
from pathlib import Path
from typing import Any, Mapping

from .errors import NanogptDashError
from .store import RunWriter, ScalarRow, StoreError, write_arrays

FLUSH_INTERVAL_S = 0.02
HEARTBEAT_INTERVAL_S = 2.0
REOPEN_INTERVAL_S = 5.0
MAX_PENDING_ROWS = 2_000_000
COLLECT_CHUNK = 64


class TrackingError(NanogptDashError):
    """The tracking API was used the wrong way (the message says how to use it)."""


class TrackingWarning(RuntimeWarning):
    """Something went wrong in tracking; training is unaffected."""


class Run:
    """One training process's handle on a run directory (`out_dir`).

    Reopening an existing run directory continues the same run in a new segment: pass
    `resume_step` (the checkpoint's iter_num) when resuming; without it the new segment starts
    at step 0 and every earlier point is superseded (kept, hidden by default).
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        model_args: Mapping[str, Any] | None = None,
        resume_step: int | None = None,
        flush_interval: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.run_id = self.out_dir.resolve().name
        self.name = name
        self.status = "running"
        self.started = time.time()  # before any log() stamps a point, so relative times start at >= 0
        self.warned: set[str] = set()
        self._config = _plain(dict(config or {}))
        self._model_args = _plain(dict(model_args or {}))
        self._start_step = int(resume_step or 0)
        self._flush_interval = flush_interval
        self._queue: deque[tuple[int, float, Any]] = deque()
        self._events: deque[tuple[int, float, str, dict]] = deque()
        self._arrays: deque[tuple[int, float, str, Any, dict]] = deque()
        self._pending_scalars: list[ScalarRow] = []
        self._pending_events: list[tuple[int, float, str, dict]] = []
        self._writer: RunWriter | None = None
        self._next_open_attempt = 0.0
        self._closed = False
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._final_status = "finished"
        self._thread = threading.Thread(target=self._write_loop, name="nanogpt_dash-writer", daemon=True)
        self._thread.start()
        _exit_watch.register(self)

    # -- training thread ---------------------------------------------------------------------

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        """Record scalar metrics for a step. Returns at once; values are written in the background."""
        if self._closed:
            raise TrackingError(f"run '{self.run_id}' is finished; call nanogpt_dash.init() again to log more")
        if not isinstance(metrics, Mapping):
            raise TrackingError(f"log() takes a dict of metrics, got {type(metrics).__name__}: log({{'loss': x}}, step=i)")
        self._queue.append((step, time.time(), dict(metrics)))

    def event(self, kind: str, payload: Mapping[str, Any] | None = None, step: int = 0) -> None:
        """Record an event (a text sample, a checkpoint save, an eval) at a step."""
        if self._closed:
            raise TrackingError(f"run '{self.run_id}' is finished; call nanogpt_dash.init() again to log more")
        self._events.append((step, time.time(), str(kind), dict(payload or {})))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything logged so far is committed. False if that took longer than timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._idle.clear()
            if self._drained():
                return True
            self._idle.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        return self._drained()

    def finish(self, status: str = "finished", timeout: float = 10.0) -> None:
        """Write what is left, mark the run with `status` and stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._final_status = status
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._warn("finish-timeout", f"run '{self.run_id}': not all metrics were written within {timeout:.0f} s")
        self.status = status
        _exit_watch.unregister(self)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.finish(_status_for(exc_type))

    # -- writer thread -----------------------------------------------------------------------

    def _drained(self) -> bool:
        return (not self._queue and not self._events and not self._pending_scalars and not self._pending_events
                and not self._arrays)

    def _write_loop(self) -> None:
        last_beat = 0.0
        while True:
            stopping = self._stop.wait(self._flush_interval)
            self._collect()
            if self._ensure_writer():
                self._write_arrays()
                try:
                    if self._pending_scalars or self._pending_events:
                        self._writer.write(self._pending_scalars, self._pending_events)
                        self._pending_scalars, self._pending_events = [], []
                        last_beat = time.monotonic()
                    elif time.monotonic() - last_beat > HEARTBEAT_INTERVAL_S:
                        self._writer.heartbeat()
                        last_beat = time.monotonic()
                except Exception as e:  # disk full, locked past the timeout, file removed: retry later
                    self._warn(f"write-{type(e).__name__}", f"run '{self.run_id}': cannot write metrics ({e}); will retry, training continues")
            self._trim_pending()
            if self._drained():
                self._idle.set()
            if stopping:
                self._close_writer()
                return

    def _collect(self) -> None:
        pending = self._pending_scalars
        handled = 0
        while self._queue:
            handled += 1
            if handled % COLLECT_CHUNK == 0:
                time.sleep(0)  # hand the GIL back to the training thread between chunks
            step, wall_time, metrics = self._queue.popleft()
            if not isinstance(step, numbers.Integral):
                self._warn(f"step-{type(step).__name__}", f"log(step=...) needs an int, got {type(step).__name__}; those rows were skipped")
                continue
            step = int(step)
            for key, value in metrics.items():
                if type(value) is not float:
                    value = self._to_float(key, value)
                    if value is None:
                        continue
                # plain tuples, the shape of store.ScalarRow: this loop runs for every logged value
                pending.append((step, wall_time, key if type(key) is str else str(key), value))
        while self._events:
            self._pending_events.append(self._events.popleft())

    def _to_float(self, key: Any, value: Any) -> float | None:
        if isinstance(value, (numbers.Real, bool)):
            return float(value)
        item = getattr(value, "item", None)  # torch / numpy scalars, one-element tensors
        numel = getattr(value, "numel", None) or getattr(value, "size", None)
        try:
            count = numel() if callable(numel) else numel
            if item is not None and count == 1:
                number = item()
                if isinstance(number, (numbers.Real, bool)):
                    return float(number)
        except Exception:  # a broken tensor-like object must not reach the training loop
            pass
        kind = type(value).__name__
        self._warn(f"value-{kind}", f"metric {key!r}: cannot log a {kind} ({value!r:.60}); only numbers are recorded")
        return None

    def _ensure_writer(self) -> bool:
        if self._writer is not None:
            return True
        if time.monotonic() < self._next_open_attempt:
            return False
        try:
            writer = RunWriter(self.out_dir)
            writer.begin_segment(
                run_id=self.run_id, name=self.name, start_step=self._start_step, config=self._config,
                model_args=self._model_args, host=socket.gethostname(), pid=os.getpid(), started=self.started,
            )
        except Exception as e:
            self._next_open_attempt = time.monotonic() + REOPEN_INTERVAL_S
            self._warn("open", f"run '{self.run_id}': cannot open {self.out_dir} for metrics ({e}); keeping them in memory and retrying, training continues")
            return False
        self._writer = writer
        return True

    def _trim_pending(self) -> None:
        overflow = len(self._pending_scalars) - MAX_PENDING_ROWS
        if overflow > 0:
            del self._pending_scalars[:overflow]
            self._warn("overflow", f"run '{self.run_id}': dropped the oldest unwritten metrics to bound memory")

    def _close_writer(self) -> None:
        if self._writer is None:
            return
        try:
            self._writer.set_status(self._final_status)
            self._writer.close()
        except (StoreError, Exception) as e:
            self._warn("close", f"run '{self.run_id}': cannot record final status ({e})")
        self._writer = None

    def _warn(self, kind: str, message: str) -> None:
        if kind in self.warned:
            return
        self.warned.add(kind)
        warnings.warn(message, TrackingWarning, stacklevel=2)

    def log_array(self, kind: str, array: Any, step: int, meta: Mapping[str, Any] | None = None) -> None:
        """Record a whole array (a numpy array; e.g. attention maps) at a step. Returns at once."""
        if self._closed:
            raise TrackingError(f"run '{self.run_id}' is finished; call nanogpt_dash.init() again to log more")
        if getattr(getattr(array, "dtype", None), "kind", None) not in ("b", "i", "u", "f"):
            raise TrackingError(f"log_array() takes a numeric numpy array, got {type(array).__name__}: "
                                "call .cpu().numpy() on a tensor first")
        self._arrays.append((step, time.time(), str(kind), array, dict(meta or {})))

    def _write_arrays(self) -> None:
        # one array at a time, each in its own transaction: a large one never holds up the scalars for long
        while self._arrays:
            row = self._arrays[0]
            try:
                write_arrays(self._writer, [row])
            except Exception as e:
                self._warn(f"array-{type(e).__name__}", f"run '{self.run_id}': cannot write array {row[2]!r} ({e}); will retry, training continues")
                return
            self._arrays.popleft()


def _status_for(exc_type: type[BaseException] | None) -> str:
    if exc_type is None or issubclass(exc_type, SystemExit):
        return "finished"
    if issubclass(exc_type, KeyboardInterrupt):
        return "interrupted"
    return "crashed"


def _plain(value: Any) -> Any:
    """JSON-safe copy of a config value (paths, tuples, numpy scalars become plain types)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


class _ExitWatch:
    """Marks unfinished runs when the process ends: crashed, interrupted (Ctrl-C, SIGTERM) or finished."""

    def __init__(self) -> None:
        self._runs: list[Run] = []
        self._exc_type: type[BaseException] | None = None
        self._installed = False

    def register(self, run: Run) -> None:
        self._runs.append(run)
        if not self._installed:
            self._installed = True
            atexit.register(self._at_exit)
            previous_hook = sys.excepthook

            def excepthook(exc_type, exc, tb):  # type: ignore[no-untyped-def]
                self._exc_type = exc_type
                previous_hook(exc_type, exc, tb)

            sys.excepthook = excepthook
            self._install_sigterm()

    def unregister(self, run: Run) -> None:
        if run in self._runs:
            self._runs.remove(run)

    def _finish_all(self, status: str) -> None:
        for run in list(self._runs):
            run.finish(status, timeout=5.0)

    def _at_exit(self) -> None:
        self._finish_all(_status_for(self._exc_type))

    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # the program handles SIGTERM itself; it will exit through atexit or finish()

        def on_sigterm(signum, frame):  # type: ignore[no-untyped-def]
            self._finish_all("interrupted")
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)


_exit_watch = _ExitWatch()
_current: Run | None = None


def init(
    out_dir: str | Path,
    *,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    model_args: Mapping[str, Any] | None = None,
    resume_step: int | None = None,
) -> Run:
    """Start (or resume) the run stored in `out_dir` and make it the target of `log()`."""
    global _current
    _current = Run(out_dir, name=name, config=config, model_args=model_args, resume_step=resume_step)
    return _current


def log(metrics: Mapping[str, Any], step: int) -> None:
    """Log to the run started by `init()`."""
    if _current is None:
        raise TrackingError("nanogpt_dash.log() was called before nanogpt_dash.init(): call nanogpt_dash.init(out_dir) first")
    _current.log(metrics, step)


def finish(status: str = "finished") -> None:
    """Finish the run started by `init()`."""
    if _current is None:
        raise TrackingError("nanogpt_dash.finish() was called before nanogpt_dash.init(): call nanogpt_dash.init(out_dir) first")
    _current.finish(status)
