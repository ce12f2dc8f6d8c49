"""One dashboard per runs directory: its server holds `runs/.dashboard.lock`, which says where it listens.

The lock is an advisory `flock` held for the server's lifetime, so the kernel releases it when the
server dies however it dies; a file left behind by a killed server is therefore recognised as stale.
What the file says (pid, port) is trusted only while the lock is held, and a server counts as
ready only when its /health names the same runs directory and pid (under TLS: when its port is bound).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import NanogptDashError
from .net import PORT_SEARCH, check_loopback, free_port_from, port_is_free, probe_health, url_for

try:
    import fcntl
except ImportError:  # Windows: no flock; only /health can tell which server serves which folder
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".dashboard.lock"
ACQUIRE_RETRY_S = 1.0  # readers take a shared lock for microseconds; a starting server waits them out
UNREADABLE_HOLDER_S = 5.0
DEFAULT_RUNS = Path("runs")


class LockError(NanogptDashError):
    """A runs directory's lock is held by something that is not a dashboard server."""


@dataclass(frozen=True)
class Dashboard:
    """A dashboard server of one runs directory, as found by `find_dashboard`."""

    pid: int
    host: str
    port: int | None  # None until the starting server has chosen its port
    scheme: str = "http"
    health: dict[str, Any] | None = field(default=None, compare=False)  # None while it is starting

    @property
    def ready(self) -> bool:
        return self.health is not None

    def url(self, run_id: str | None = None) -> str:
        """The page's address (opening run_id if given); the server's port must be known."""
        if self.port is None:
            raise ValueError(f"the dashboard (pid {self.pid}) has not chosen a port yet")
        return url_for(self.host, self.port, run_id).replace("http", self.scheme, 1)


class DashboardLock:
    """The lock on a runs directory that makes its server the only one. Servers get it from `claim`."""

    def __init__(self, runs_dir: Path, file: IO[str] | None, holder: Dashboard | None, problem: str | None) -> None:
        self.runs_dir = runs_dir
        self._file = file
        self.holder = holder    # another live server of runs_dir (then we hold nothing)
        self.problem = problem  # why the lock could not be taken, when we serve without it
        self.notes: list[str] = []  # what the user should know before serving starts
        self.where: Dashboard | None = None  # this server's address, once recorded

    @classmethod
    def acquire(cls, runs_dir: str | Path) -> DashboardLock:
        """Take the runs directory's lock, or say in `holder` which live server holds it."""
        runs_dir = Path(runs_dir)
        if fcntl is None:
            return cls(runs_dir, None, None, "file locks are not available on this platform")
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
            file = open(runs_dir / LOCK_NAME, "a+", encoding="utf-8")
        except OSError as e:
            return cls(runs_dir, None, None, f"cannot write {runs_dir / LOCK_NAME} ({e.strerror})")
        deadline = time.monotonic() + ACQUIRE_RETRY_S
        while True:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _from_lock(runs_dir) if time.monotonic() >= deadline else None
                if holder is not None:
                    file.close()
                    return cls(runs_dir, None, holder, None)
                if time.monotonic() >= deadline + UNREADABLE_HOLDER_S:
                    file.close()
                    raise LockError(f"{runs_dir / LOCK_NAME} is locked by another process that does not say which "
                                    "server it is; stop that process (see: fuser -v FILE) and start again")
                time.sleep(0.02)  # readers, or a holder that is exiting or writing its file right now
        lock = cls(runs_dir, file, None, None)
        lock._write({"pid": os.getpid()})
        return lock

    def record(self, host: str, port: int, scheme: str = "http") -> None:
        """Say where this server listens, for trainings and `stop`/`status` to find it."""
        self.where = Dashboard(os.getpid(), host, port, scheme)
        self._write({"pid": os.getpid(), "host": host, "port": port, "scheme": scheme,
                     "runs_dir": str(self.runs_dir.resolve()), "started": time.time()})

    def release(self) -> None:
        """Empty the file and let go of the lock (the file stays: unlinking a locked file races)."""
        if self._file is not None:
            self._file.truncate(0)
            self._file.close()
            self._file = None

    def __enter__(self) -> DashboardLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _write(self, info: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.truncate(0)
            self._file.write(json.dumps(info))
            self._file.flush()


def claim(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 8050, scheme: str = "http") -> DashboardLock:
    """Make this process runs_dir's server: take its lock, choose a free port from `port` on, record both.

    If a server of runs_dir is running already, the result's `holder` names it and nothing is taken.
    """
    check_loopback(host)
    lock = DashboardLock.acquire(runs_dir)
    if lock.holder is not None:
        return lock
    try:
        lock.holder = scan_ports(runs_dir, host, port)  # one that holds no lock: an older version's
        if lock.holder is not None:
            lock.release()
            return lock
        if lock.problem:
            lock.notes.append(f"{lock.problem}; a second dashboard for {runs_dir}/ will not be prevented")
        if not port_is_free(host, port):
            taken_by = "a nanogpt_dash server of another runs directory" if probe_health(host, port) else "another program"
            new_port = free_port_from(host, port + 1)
            lock.notes.append(f"port {port} is in use by {taken_by}; using port {new_port} instead")
            port = new_port
        lock.record(host, port, scheme)
    except BaseException:
        lock.release()
        raise
    return lock


def find_dashboard(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 8050) -> Dashboard | None:
    """The server of runs_dir: the lock's holder, else one whose /health names runs_dir on ports port.. nearby."""
    return _from_lock(Path(runs_dir)) or scan_ports(runs_dir, host, port)


def scan_ports(runs_dir: str | Path, host: str, port: int) -> Dashboard | None:
    """A ready server of runs_dir on one of the ports from `port` on (servers that hold no lock included)."""
    wanted = str(Path(runs_dir).resolve())
    for candidate in range(port, port + PORT_SEARCH):
        if port_is_free(host, candidate):
            continue
        health = probe_health(host, candidate)
        if health is not None and health.get("runs_dir") == wanted and isinstance(health.get("pid"), int):
            return Dashboard(health["pid"], host, candidate, health=health)
    return None


def stop_dashboard(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 8050,
                   timeout: float = 10.0) -> tuple[Dashboard, bool] | None:
    """SIGTERM runs_dir's server and wait for it to go. Returns (server, killed: needed SIGKILL), or None."""
    found = find_dashboard(runs_dir, host, port)
    if found is None:
        return None
    os.kill(found.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(found, runs_dir, host, port):
            return found, False
        time.sleep(0.1)
    try:
        os.kill(found.pid, signal.SIGKILL)
    except ProcessLookupError:
        return found, False
    return found, True


def stop_command(runs_dir: str | Path) -> str:
    """The command that stops runs_dir's server, with --runs only when it is not ./runs."""
    if Path(runs_dir).resolve() == DEFAULT_RUNS.resolve():
        return "python -m nanogpt_dash stop"
    return f"python -m nanogpt_dash stop --runs {shlex.quote(str(runs_dir))}"


def _gone(found: Dashboard, runs_dir: str | Path, host: str, port: int) -> bool:
    now = find_dashboard(runs_dir, host, port)
    return now is None or now.pid != found.pid


def _from_lock(runs_dir: Path) -> Dashboard | None:
    path = runs_dir / LOCK_NAME
    try:
        with open(path, encoding="utf-8") as file:
            if fcntl is not None and not _held(file):
                return None  # a killed server's file: stale
            text = file.read()
    except OSError:
        return None
    try:
        info = json.loads(text)
        pid = int(info["pid"])
    except (ValueError, KeyError, TypeError):
        return None  # being written this very moment, or foreign: the port scan may still find it
    host, port, scheme = info.get("host", "127.0.0.1"), info.get("port"), info.get("scheme", "http")
    if not isinstance(port, int):
        return Dashboard(pid, host, None, scheme)
    if scheme != "http":  # probe_health speaks plain http; the held lock already says whose server it is
        return Dashboard(pid, host, port, scheme, {} if not port_is_free(host, port) else None)
    health = probe_health(host, port)
    ours = health is not None and health.get("runs_dir") == str(runs_dir.resolve()) and health.get("pid") == pid
    return Dashboard(pid, host, port, scheme, health if ours else None)


def _held(file: IO[str]) -> bool:
    try:
        fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(file, fcntl.LOCK_UN)
    return False
