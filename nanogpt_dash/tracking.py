"""The training-side client: `Run.log()` enqueues, one background thread writes.

The training loop must never wait for us and never die because of us. So `log()` only appends
to a deque, and every failure after that (an unwritable directory, a full disk, a value that is
not a number) becomes one warning per kind of failure while training goes on. Misuse of the API
itself (logging before `init()`, after `finish()`, metrics that are not a dict) raises at once.
"""

from __future__ import annotations

import atexit
import math
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
from .store import RowsRejected, RunWriter, ScalarRow, StoreError, write_arrays
from .system import SystemSampler

FLUSH_INTERVAL_S = 0.02
HEARTBEAT_INTERVAL_S = 2.0
REOPEN_INTERVAL_S = 5.0
WRITE_BATCH = 5_000  # rows per transaction: a nearly full disk still takes some, and progress resumes with space
COLLECT_BUDGET_S = 0.03  # the writer converts queued logs for at most this long before it writes
MAX_PENDING_ROWS = 2_000_000  # converted rows waiting for the disk; beyond that the oldest are dropped and counted
MAX_QUEUED_LOGS = 1_000_000  # log() calls not yet converted; beyond that the oldest are dropped and counted
RETRY_MIN_S = 0.1
RETRY_MAX_S = 5.0
COLLECT_CHUNK = 64
STEP_MIN, STEP_MAX = -(2**63), 2**63 - 1  # what a SQL INTEGER holds
KEY_CACHE_MAX = 10_000


class TrackingError(NanogptDashError):
    """The tracking API was used the wrong way (the message says how to use it)."""


class TrackingWarning(RuntimeWarning):
    """Something went wrong in tracking; training is unaffected."""


class _FileGone(Exception):
    """The run file was deleted or replaced under the writer."""


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
        system_metrics: bool = True,
    ) -> None:
        """`system_metrics`: also log CPU %, RSS and GPU memory every few seconds (nanogpt_dash.system)."""
        self.out_dir = Path(out_dir)
        self.run_id = self.out_dir.resolve().name
        self.name = name
        self.status = "running"
        self.started = time.time()  # before any log() stamps a point, so relative times start at >= 0
        self.warned: set[str] = set()
        self.lost_rows = 0  # rows logged but never written (backlog overflow, rejected rows, finish() timeout)
        self._config = _plain(dict(config or {}))
        self._model_args = _plain(dict(model_args or {}))
        self._start_step = int(resume_step or 0)
        self._flush_interval = flush_interval
        self._queue: deque[tuple[int, float, Any]] = deque()
        self._events: deque[tuple[int, float, str, dict]] = deque()
        self._arrays: deque[tuple[int, float, str, Any, dict]] = deque()
        self._pending_scalars: list[ScalarRow] = []
        self._pending_events: list[tuple[int, float, str, dict]] = []
        self._good_keys: set[str] = set()
        self._shed_rows = 0  # written by the training thread only (queue overflow in log())
        self._shed_counted = 0  # the part of _shed_rows the writer thread has accounted for
        self._unrecorded_loss: dict[str, int] = {}  # reason -> rows, until an event in the file says so
        self._last_step: int | None = None
        self._last_beat = 0.0
        self._loss_reasons: set[str] = set()
        self._writer: RunWriter | None = None
        self._next_open_attempt = 0.0
        self._retry_at = 0.0
        self._backoff = RETRY_MIN_S
        self._closed = False
        self._stop = threading.Event()
        self._stop_deadline = math.inf
        self._idle = threading.Event()
        self._final_status = "finished"
        self._system = SystemSampler() if system_metrics else None
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
        if type(step) is not int or not STEP_MIN <= step <= STEP_MAX:
            step = self._checked_step(step)
            if step is None:
                return
        queue = self._queue
        if len(queue) >= MAX_QUEUED_LOGS:
            self._shed_oldest()
        queue.append((step, time.time(), dict(metrics)))

    def event(self, kind: str, payload: Mapping[str, Any] | None = None, step: int = 0) -> None:
        """Record an event (a text sample, a checkpoint save, an eval) at a step."""
        if self._closed:
            raise TrackingError(f"run '{self.run_id}' is finished; call nanogpt_dash.init() again to log more")
        if type(step) is not int or not STEP_MIN <= step <= STEP_MAX:
            step = self._checked_step(step)
            if step is None:
                return
        self._events.append((step, time.time(), str(kind), dict(payload or {})))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything logged so far is committed. False if that took longer than timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._idle.clear()
            if self._drained():
                return True
            if not self._thread.is_alive():
                return False
            self._idle.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        return self._drained()

    def finish(self, status: str = "finished", timeout: float = 10.0) -> int:
        """Write what is left, mark the run with `status` and stop the writer thread.

        Returns how many logged rows could not be written (0 normally); a warning and an event in
        the run file say why.
        """
        if self._closed:
            return self.lost_rows
        self._closed = True
        self._final_status = status
        self._stop_deadline = time.monotonic() + timeout
        self._stop.set()
        self._thread.join(timeout + 5.0)
        if self._thread.is_alive():
            self._warn("finish-timeout", f"run '{self.run_id}': the metrics writer did not stop within {timeout:.0f} s; "
                       "rows still unwritten may be lost")
        self.status = status
        _exit_watch.unregister(self)
        if self.lost_rows:
            self._warn("lost-total", f"run '{self.run_id}': {self.lost_rows} logged rows could not be written "
                       f"({', '.join(sorted(self._loss_reasons))}); the run file records the loss where it could")
        return self.lost_rows

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.finish(_status_for(exc_type))

    def _checked_step(self, step: Any) -> int | None:
        if isinstance(step, numbers.Integral) and not isinstance(step, bool):
            if STEP_MIN <= int(step) <= STEP_MAX:
                return int(step)
            self._warn("step-range", f"log(step={_short(step)}): a step must fit in 64 bits; that call was skipped")
            return None
        self._warn(f"step-{type(step).__name__}", f"log(step=...) needs an int, got {type(step).__name__}; those rows were skipped")
        return None

    def _shed_oldest(self) -> None:
        try:
            _, _, metrics = self._queue.popleft()
        except IndexError:
            return
        self._shed_rows += len(metrics)
        self._warn("queue-overflow", f"run '{self.run_id}': more than {MAX_QUEUED_LOGS} log() calls are waiting to be "
                   "written; the oldest are dropped (counted, and recorded in the run file)")

    # -- writer thread -----------------------------------------------------------------------

    def _drained(self) -> bool:
        return (not self._queue and not self._events and not self._pending_scalars and not self._pending_events
                and not self._arrays)

    def _write_loop(self) -> None:
        stopped_cleanly = False
        try:
            while True:
                stopping = self._stop.wait(self._flush_interval)
                progressed = False
                try:
                    progressed = self._write_round(stopping)
                except Exception as e:  # a bug here must not end the recording of the whole run
                    self._warn(f"writer-{type(e).__name__}", f"run '{self.run_id}': unexpected error in the metrics writer "
                               f"({type(e).__name__}: {e}); it keeps running, training continues")
                if self._drained():
                    self._idle.set()
                if stopping:
                    if self._drained() or time.monotonic() >= self._stop_deadline:
                        self._account_unwritten("finish() timed out with the disk or file unavailable")
                        self._close_writer()
                        stopped_cleanly = True
                        return
                    if not progressed:
                        time.sleep(min(0.05, max(0.01, self._retry_at - time.monotonic())))
        finally:
            if not stopped_cleanly:
                self._writer_died()

    def _write_round(self, stopping: bool) -> bool:
        """Convert queued logs, then commit pending rows in bounded batches. True if anything was committed."""
        self._open_early()
        self._collect(time.monotonic() + COLLECT_BUDGET_S)
        if self._system is not None:
            self._pending_scalars.extend(self._system.rows(self._pending_scalars))
        self._trim_pending()
        if time.monotonic() < self._retry_at:
            return False
        if not self._ensure_writer():
            return False
        self._write_arrays()
        try:
            if self._pending_scalars or self._pending_events or self._unrecorded_loss:
                return self._write_pending()
            if time.monotonic() - self._last_beat > HEARTBEAT_INTERVAL_S:
                self._writer.heartbeat()
                self._check_in_place()
                self._last_beat = time.monotonic()
        except _FileGone:
            self._recreate()
        except StoreError as e:  # disk full, locked past the timeout: retry later, backing off
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, RETRY_MAX_S)
            self._warn(f"write-{_cause(e)}", f"run '{self.run_id}': cannot write metrics ({e}); will retry, training continues")
        return False

    def _open_early(self) -> None:
        if self._writer is None and (self._queue or self._events):
            self._ensure_writer()

    def _write_pending(self) -> bool:
        pending = self._pending_scalars
        done = 0
        try:
            while done < len(pending) or self._pending_events or self._unrecorded_loss:
                chunk = pending[done:done + WRITE_BATCH]
                recorded = dict(self._unrecorded_loss)
                self._commit(chunk, self._pending_events + self._loss_events())
                done += len(chunk)
                self._pending_events = []
                self._mark_recorded(recorded)
                if self._stop.is_set() and time.monotonic() >= self._stop_deadline:
                    break
        finally:
            del pending[:done]
        self._last_beat = time.monotonic()
        self._backoff = RETRY_MIN_S
        return True

    def _commit(self, rows: list, events: list) -> None:
        """One transaction, checked to have landed in the file that is still there; rejected rows are isolated."""
        try:
            self._writer.write(rows, events)
        except RowsRejected as e:
            self._write_around_rejected(rows, events, e)
        self._check_in_place()

    def _write_around_rejected(self, rows: list, events: list, error: RowsRejected) -> None:
        for event in events:
            try:
                self._writer.write([], [event])
            except RowsRejected as e:
                self._warn("event-rejected", f"run '{self.run_id}': event {event[2]!r} cannot be stored ({e}); it was skipped")
        if len(rows) == 1:
            self._lose(1, "rows SQLite could not store")
            self._warn("row-rejected", f"run '{self.run_id}': a row cannot be stored ({error}); it was skipped")
            return
        if not rows:
            return
        half = len(rows) // 2
        for part in (rows[:half], rows[half:]):
            try:
                self._writer.write(part, [])
            except RowsRejected as e:
                self._write_around_rejected(part, [], e)

    def _check_in_place(self) -> None:
        if not self._writer.still_in_place():
            raise _FileGone()

    def _recreate(self) -> None:
        """The run file vanished under us (folder removed): start the run again in a new file, a new segment."""
        first = self._pending_scalars[0][0] if self._pending_scalars else (self._last_step or 0)
        self._warn("file-gone", f"run '{self.run_id}': {self.out_dir} was deleted or replaced while training was writing "
                   f"to it; recreating it and continuing from step {first} in a new segment (earlier points went with "
                   "the folder)")
        try:
            self._writer.close()
        except Exception:
            pass
        self._writer = None
        self._start_step = first
        self._next_open_attempt = 0.0
        self._pending_events.insert(0, (first, time.time(), "run_file_recreated",
                                        {"reason": f"{self.out_dir} was deleted or replaced during the run",
                                         "first_step": first}))

    def _collect(self, deadline: float) -> None:
        pending = self._pending_scalars
        good_keys = self._good_keys
        handled = 0
        while self._queue:
            handled += 1
            if handled % COLLECT_CHUNK == 0:
                if time.monotonic() > deadline:
                    break
                time.sleep(0)  # hand the GIL back to the training thread between chunks
            step, wall_time, metrics = self._queue.popleft()
            self._last_step = step
            for key, value in metrics.items():
                if type(value) is not float:
                    value = self._to_float(key, value)
                    if value is None:
                        continue
                if key not in good_keys or type(key) is not str:
                    key = self._checked_key(key)
                    if key is None:
                        continue
                # plain tuples, the shape of store.ScalarRow: this loop runs for every logged value
                pending.append((step, wall_time, key, value))
        while self._events:
            self._pending_events.append(self._events.popleft())
        shed = self._shed_rows - self._shed_counted
        if shed:
            self._shed_counted += shed
            self._lose(shed, "log() queue overflow")

    def _checked_key(self, key: Any) -> str | None:
        try:
            name = key if type(key) is str else str(key)
        except Exception as e:
            self._warn("key-str", f"a metric key of type {type(key).__name__} cannot be turned into text ({type(e).__name__}); "
                       "its values were skipped: use str keys")
            return None
        if type(name) is not str:
            self._warn("key-str", f"a metric key of type {type(key).__name__} did not give text from str(); skipped: use str keys")
            return None
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            self._warn("key-encoding", f"metric key {name!r} is not valid UTF-8 text (a lone surrogate?); its values were "
                       "skipped: use printable str keys")
            return None
        if type(key) is str:
            if len(self._good_keys) >= KEY_CACHE_MAX:
                self._good_keys.clear()
            self._good_keys.add(name)
        return name

    def _to_float(self, key: Any, value: Any) -> float | None:
        try:
            if isinstance(value, (numbers.Real, bool)):
                return float(value)
            item = getattr(value, "item", None)  # torch / numpy scalars, one-element tensors
            numel = getattr(value, "numel", None) or getattr(value, "size", None)
            count = numel() if callable(numel) else numel
            if item is not None and count == 1:
                number = item()
                if isinstance(number, (numbers.Real, bool)):
                    return float(number)
        except OverflowError:
            self._warn("value-overflow", f"metric {_short(key)}: {_short(value)} is too large for a float; that value was skipped")
            return None
        except Exception:  # a broken number or tensor-like object must not reach the training loop
            pass
        kind = type(value).__name__
        self._warn(f"value-{kind}", f"metric {_short(key)}: cannot log a {kind} ({_short(value)}); only numbers are recorded")
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
            self._lose(overflow, "unwritten backlog over its bound")
            self._warn("overflow", f"run '{self.run_id}': more than {MAX_PENDING_ROWS} rows are waiting for the disk; "
                       "the oldest are dropped (counted, and recorded in the run file once it is writable)")

    def _lose(self, rows: int, reason: str) -> None:
        self.lost_rows += rows
        self._loss_reasons.add(reason)
        self._unrecorded_loss[reason] = self._unrecorded_loss.get(reason, 0) + rows

    def _mark_recorded(self, recorded: dict[str, int]) -> None:
        for reason, rows in recorded.items():
            left = self._unrecorded_loss.get(reason, 0) - rows
            if left > 0:
                self._unrecorded_loss[reason] = left
            else:
                self._unrecorded_loss.pop(reason, None)

    def _loss_events(self) -> list[tuple[int, float, str, dict]]:
        step = self._last_step or 0
        return [(step, time.time(), "data_lost", {"rows": rows, "reason": reason})
                for reason, rows in self._unrecorded_loss.items()]

    def _account_unwritten(self, reason: str) -> None:
        unwritten = len(self._pending_scalars) + sum(len(m) for _, _, m in list(self._queue))
        if unwritten:
            self._pending_scalars.clear()
            self._queue.clear()
            self._lose(unwritten, reason)
        if self._unrecorded_loss and self._writer is not None:
            try:
                self._writer.write([], self._pending_events + self._loss_events())
                self._pending_events = []
                self._unrecorded_loss.clear()
            except StoreError as e:
                self._warn("loss-unrecorded", f"run '{self.run_id}': cannot record the loss of {self.lost_rows} rows in the run file ({e})")

    def _writer_died(self) -> None:
        """Last resort if the writer loop itself ends abnormally: say so in the run file and on the run."""
        self.status = "crashed"
        self._warn("writer-died", f"run '{self.run_id}': the metrics writer stopped; nothing more will be recorded for this run")
        if self._writer is not None:
            try:
                self._writer.write([], [(self._last_step or 0, time.time(), "writer_stopped", {"reason": "writer thread ended"})])
                self._writer.set_status("crashed")
            except Exception:
                pass
        self._idle.set()

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


def _short(value: Any, limit: int = 60) -> str:
    """A bounded repr that cannot raise (huge ints and broken __repr__ included)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an int of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _cause(error: BaseException) -> str:
    cause = error.__cause__
    return type(cause).__name__ if cause is not None else type(error).__name__


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
