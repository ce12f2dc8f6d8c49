"""One dashboard per runs folder: the lock file, stale files, and finding a server by its /health."""

import json
import os
import signal
import subprocess
import sys

import pytest

from nanogpt_dash.lockfile import LOCK_NAME, Dashboard, LockError, claim, find_dashboard, scan_ports, stop_command

from helpers import REPO, free_port, start_server, stop_process


def test_a_lock_file_that_nobody_holds_is_stale(runs_dir):
    port = free_port()
    (runs_dir / LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "host": "127.0.0.1", "port": port}))
    assert find_dashboard(runs_dir, port=port) is None


def test_a_claimed_folder_cannot_be_claimed_again_until_released(runs_dir):
    port = free_port()
    lock = claim(runs_dir, port=port)
    try:
        assert lock.holder is None and lock.where == Dashboard(os.getpid(), "127.0.0.1", port)
        found = find_dashboard(runs_dir, port=port)
        assert found == Dashboard(os.getpid(), "127.0.0.1", port) and not found.ready, "held, but nothing answers yet"
        second = claim(runs_dir, port=free_port())
        assert second.holder == lock.where and second.where is None
    finally:
        lock.release()
    assert find_dashboard(runs_dir, port=port) is None
    assert (runs_dir / LOCK_NAME).read_text() == ""


def test_a_killed_servers_lock_is_ignored_and_a_new_server_takes_the_folder(runs_dir):
    first = start_server(runs_dir, free_port())
    stop_process(first, signal.SIGKILL)
    assert json.loads((runs_dir / LOCK_NAME).read_text())["pid"] == first.pid, "the killed server's file is still there"
    assert find_dashboard(runs_dir, port=free_port()) is None
    port = free_port()
    second = start_server(runs_dir, port)
    try:
        found = find_dashboard(runs_dir, port=free_port())
        assert found.pid == second.pid and found.port == port and found.ready
        assert found.health["runs_dir"] == str(runs_dir.resolve())
    finally:
        stop_process(second)


def test_a_second_server_for_the_same_folder_defers_to_the_first(server, runs_dir):
    port, proc = server
    result = subprocess.run([sys.executable, "-m", "nanogpt_dash", "serve", "--runs", str(runs_dir), "--port", str(free_port())],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (f"nanogpt_dash is already serving {runs_dir}/ at http://127.0.0.1:{port}/ (pid {proc.pid}); "
            f"stop it with: python -m nanogpt_dash stop --runs {runs_dir}") in result.stdout


def test_the_port_scan_finds_a_server_by_the_folder_its_health_names(server, runs_dir, tmp_path):
    port, proc = server
    found = scan_ports(runs_dir, "127.0.0.1", port)
    assert (found.pid, found.port, found.ready) == (proc.pid, port, True)
    assert scan_ports(tmp_path / "elsewhere", "127.0.0.1", port) is None


def test_the_stop_command_names_the_folder_only_when_it_is_not_the_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert stop_command("runs") == "python -m nanogpt_dash stop"
    assert stop_command(tmp_path / "runs") == "python -m nanogpt_dash stop"
    assert stop_command("my runs") == "python -m nanogpt_dash stop --runs 'my runs'"


HOLD_WITHOUT_SAYING = """
import fcntl, sys, time
f = open(sys.argv[1], "a+"); fcntl.flock(f, fcntl.LOCK_EX); f.write("not json"); f.flush()
print("held", flush=True); time.sleep(60)
"""


def test_a_lock_held_by_something_that_is_not_a_server_is_an_error_naming_the_file(runs_dir):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WITHOUT_SAYING, str(runs_dir / LOCK_NAME)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert find_dashboard(runs_dir, port=free_port()) is None
        with pytest.raises(LockError, match=f"{runs_dir / LOCK_NAME} is locked by another process"):
            claim(runs_dir, port=free_port())
    finally:
        stop_process(holder)
