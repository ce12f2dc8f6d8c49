"""train.py starts (or finds) the dashboard by itself, and a broken dashboard never stops training."""

import http.server
import os
import re
import signal
import subprocess
import sys
import threading

from nanogpt_dash.__main__ import main
from nanogpt_dash.net import PORT_SEARCH, probe_health

from helpers import REPO, TINY_TRAIN_ARGS, free_port, run_train, start_server, stop_process, wait_for_health


def kill_dashboard(port: int) -> None:
    """Stop the detached server train.py started; it may still be starting (a cold machine imports slowly)."""
    try:
        health = wait_for_health(port, timeout=60)
    except TimeoutError:
        return
    os.kill(health["pid"], signal.SIGTERM)


def servers_of(runs_dir, port: int) -> list[int]:
    """Ports from `port` on where a nanogpt_dash server of runs_dir answers."""
    wanted = str(runs_dir.resolve())
    return [p for p in range(port, port + PORT_SEARCH) if (probe_health("127.0.0.1", p) or {}).get("runs_dir") == wanted]


def dashboard_health(port: int, runs_dir) -> dict:
    """train.py exits without waiting for the server it started, so wait here; say why if it never answers."""
    try:
        return wait_for_health(port, timeout=60)
    except TimeoutError as e:
        log = runs_dir / ".dashboard.log"
        raise AssertionError(f"the server must still answer after training exits ({e}); its log:\n"
                             f"{log.read_text()[-3000:] if log.exists() else '(no log)'}") from e


def test_train_starts_a_dashboard_that_outlives_training(runs_dir):
    port = free_port()
    try:
        result = run_train(runs_dir / "auto", "--max_iters=5", f"--dashboard_port={port}")
        assert result.returncode == 0, result.stderr
        assert f"starting the dashboard at http://127.0.0.1:{port}/?run=auto" in result.stdout
        health = dashboard_health(port, runs_dir)
        assert health["runs_dir"] == str(runs_dir.resolve()) and health["runs"] == 1
    finally:
        kill_dashboard(port)


def test_a_second_training_reuses_the_running_dashboard(runs_dir):
    port = free_port()
    proc = start_server(runs_dir, port)
    try:
        result = run_train(runs_dir / "second", "--max_iters=2", f"--dashboard_port={port}")
        assert result.returncode == 0, result.stderr
        assert f"dashboard at http://127.0.0.1:{port}/?run=second" in result.stdout
        assert "starting the dashboard" not in result.stdout
    finally:
        stop_process(proc)


class _NotOurs(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args):
        pass


def test_training_completes_when_the_port_is_taken_by_another_server(runs_dir):
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotOurs)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    port = other.server_address[1]
    new_port = None
    try:
        result = run_train(runs_dir / "busy", "--max_iters=5", f"--dashboard_port={port}")
        assert result.returncode == 0, result.stderr
        assert "iter 5: loss" in result.stdout or "iter 0: loss" in result.stdout
        moved = re.search(r"used by another program; starting one on port (\d+)", result.stdout)
        assert moved, result.stdout
        new_port = int(moved.group(1))
    finally:
        other.shutdown()
        if new_port:
            kill_dashboard(new_port)


def test_one_dashboard_per_runs_folder_when_the_port_serves_another_folder(tmp_path):
    """Issue 14's reproduction: the port held by another folder's dashboard; two trainings and a bare serve."""
    other_runs, runs = tmp_path / "other" / "runs", tmp_path / "runs"
    other_runs.mkdir(parents=True)
    port = free_port()
    other = start_server(other_runs, port)
    ours = None
    try:
        first = run_train(runs / "lr=3e-4+wd", "--max_iters=2", f"--dashboard_port={port}")
        assert first.returncode == 0, first.stderr
        started = re.search(r"starting the dashboard at http://127\.0\.0\.1:(\d+)/\?run=lr%3D3e-4%2Bwd ", first.stdout)
        assert started and "used by a nanogpt_dash server for another runs directory" in first.stdout, first.stdout
        ours = int(started.group(1))
        still = re.search(rf"^dashboard still running at http://127\.0\.0\.1:{ours}/\?run=lr%3D3e-4%2Bwd \(pid (\d+)\); "
                          rf"stop it with: python -m nanogpt_dash stop --runs {re.escape(str(runs))}$", first.stdout, re.M)
        assert still, first.stdout
        pid = int(still.group(1))
        assert dashboard_health(ours, runs)["pid"] == pid

        second = run_train(runs / "second", "--max_iters=2", f"--dashboard_port={port}")
        assert second.returncode == 0, second.stderr
        assert f"nanogpt_dash: dashboard at http://127.0.0.1:{ours}/?run=second\n" in second.stdout
        assert "starting" not in second.stdout

        bare = subprocess.run([sys.executable, "-m", "nanogpt_dash"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert bare.returncode == 0, bare.stderr
        assert f"already serving runs/ at http://127.0.0.1:{ours}/ (pid {pid})" in bare.stdout

        assert servers_of(runs, port) == [ours]
        assert main(["stop", "--runs", str(runs), "--port", str(port)]) == 0
        assert servers_of(runs, port) == []
        assert probe_health("127.0.0.1", port)["runs_dir"] == str(other_runs.resolve()), "the other folder's is untouched"
    finally:
        stop_process(other)
        if ours and servers_of(runs, ours):
            kill_dashboard(ours)


def test_two_trainings_started_together_share_one_dashboard(runs_dir):
    port = free_port()
    cmds = [[sys.executable, "train.py", *TINY_TRAIN_ARGS, f"--out_dir={runs_dir / name}", "--max_iters=3",
             f"--dashboard_port={port}"] for name in ("a", "b")]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in cmds]
    try:
        outs = [proc.communicate(timeout=240) for proc in procs]
        assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in outs]
        health = dashboard_health(port, runs_dir)
        for out, _ in outs:
            assert f"dashboard still running at http://127.0.0.1:{port}/" in out and f"(pid {health['pid']})" in out, out
        assert servers_of(runs_dir, port) == [port]
    finally:
        kill_dashboard(port)
