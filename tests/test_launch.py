"""train.py starts (or finds) the dashboard by itself, and a broken dashboard never stops training."""

import http.server
import os
import re
import signal
import threading


from helpers import free_port, run_train, start_server, stop_process, wait_for_health


def kill_dashboard(port: int) -> None:
    """Stop the detached server train.py started; it may still be starting (a cold machine imports slowly)."""
    try:
        health = wait_for_health(port, timeout=60)
    except TimeoutError:
        return
    os.kill(health["pid"], signal.SIGTERM)


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
