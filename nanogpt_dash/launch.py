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
    health = probe_health(host, port)
    if health is not None and health.get("runs_dir") == str(runs_dir.resolve()):
        print(f"nanogpt_dash: dashboard at {url_for(host, port, run_id)}")
        return None
    if health is not None or not port_is_free(host, port):
        taken_by = "a nanogpt_dash server for another runs directory" if health else "another program"
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
    url = url_for(host, port, run_id)
    print(f"nanogpt_dash: starting the dashboard at {url} (log: {log_path})")
    waiter = threading.Thread(target=_announce_when_ready, args=(process, host, port, url, log_path),
                              name="nanogpt_dash-launch", daemon=True)
    waiter.start()
    return waiter


def _announce_when_ready(process: subprocess.Popen, host: str, port: int, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if probe_health(host, port) is not None:
            print(f"nanogpt_dash: dashboard ready at {url}", flush=True)
            return
        if process.poll() is not None:
            break
        time.sleep(0.25)
    warnings.warn(f"nanogpt_dash: the dashboard did not come up (see {log_path}); training continues", TrackingWarning)
