"""Used by train.py: find the dashboard serving a runs directory, or start one that outlives training.

Nothing here may stop training: every failure becomes one warning.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

from .lockfile import find_dashboard, stop_command
from .net import free_port_from, port_is_free, probe_health, url_for
from .tracking import TrackingWarning

STARTUP_TIMEOUT_S = 60.0
LOG_NAME = ".dashboard.log"


def ensure_dashboard(runs_dir: str | Path, run_id: str | None = None, port: int = 8050,
                     host: str = "127.0.0.1") -> threading.Thread | None:
    """Print the URL of the dashboard for runs_dir, starting a detached server if none answers.

    Returns the thread that waits for a newly started server (None when one was already there).
    """
    try:
        return _ensure(Path(runs_dir), run_id, port, host)
    except Exception as e:  # the dashboard is a convenience; training must go on
        warnings.warn(f"nanogpt_dash: could not start the dashboard ({e}); training continues",
                      TrackingWarning, stacklevel=2)
        return None


def _ensure(runs_dir: Path, run_id: str | None, port: int, host: str) -> threading.Thread | None:
    found = find_dashboard(runs_dir, host, port)
    if found is not None and found.ready:
        print(f"nanogpt_dash: dashboard at {found.url(run_id)}")
        return None
    if found is not None:  # another training started it a moment ago
        where = f"at {found.url(run_id)}" if found.port is not None else f"(pid {found.pid})"
        print(f"nanogpt_dash: the dashboard for {runs_dir}/ is starting {where}")
        return _wait_in_background(None, runs_dir, run_id, host, port, runs_dir / LOG_NAME)
    if not port_is_free(host, port):
        taken_by = "a nanogpt_dash server for another runs directory" if probe_health(host, port) else "another program"
        port = free_port_from(host, port + 1)
        print(f"nanogpt_dash: the dashboard port is used by {taken_by}; starting one on port {port}")
    runs_dir.mkdir(parents=True, exist_ok=True)
    log_path = runs_dir / LOG_NAME
    package_root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "nanogpt_dash", "serve", "--runs", str(runs_dir), "--host", host, "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # Ctrl-C in the terminal stops training, not the dashboard
        )
    print(f"nanogpt_dash: starting the dashboard at {url_for(host, port, run_id)} (log: {log_path})")
    return _wait_in_background(process, runs_dir, run_id, host, port, log_path)


def print_dashboard_still_running(runs_dir: str | Path, run_id: str | None = None, port: int = 8050,
                                  host: str = "127.0.0.1", starting: threading.Thread | None = None) -> None:
    """At the end of training: say where runs_dir's dashboard is and how to stop it (nothing if none runs).

    `starting` is what `ensure_dashboard` returned: a short training may end before the server it started
    is up, and the user should still learn where it listens, so wait for it (it gives up by itself).
    """
    if starting is not None:
        starting.join(STARTUP_TIMEOUT_S)
    try:
        found = find_dashboard(runs_dir, host, port)
    except Exception as e:  # training has finished; a failed look-up must not end it with a traceback
        warnings.warn(f"nanogpt_dash: could not look for the dashboard ({e})", TrackingWarning, stacklevel=2)
        return
    if found is None:
        return
    where = f"at {found.url(run_id)} " if found.port is not None else ""
    say(f"dashboard still running {where}(pid {found.pid}); stop it with: {stop_command(runs_dir)}")


_say_lock = threading.Lock()


def say(line: str) -> None:
    """One whole line on stdout: the announcer thread and the training thread may print at the same moment."""
    with _say_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _wait_in_background(process: subprocess.Popen | None, runs_dir: Path, run_id: str | None, host: str, port: int,
                        log_path: Path) -> threading.Thread:
    waiter = threading.Thread(target=_announce_when_ready, args=(process, runs_dir, run_id, host, port, log_path),
                              name="nanogpt_dash-launch", daemon=True)
    waiter.start()
    return waiter


def _announce_when_ready(process: subprocess.Popen | None, runs_dir: Path, run_id: str | None, host: str, port: int,
                         log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        found = find_dashboard(runs_dir, host, port)
        if found is not None and found.ready:
            say(f"nanogpt_dash: dashboard ready at {found.url(run_id)}")
            return
        # ours may have exited because another training's server took the folder first: wait for that one
        if found is None and (process is None or process.poll() is not None):
            break
        time.sleep(0.25)
    warnings.warn(f"nanogpt_dash: the dashboard did not come up (see {log_path}); training continues", TrackingWarning)
