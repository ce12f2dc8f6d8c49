"""Test helpers: free loopback ports, the real train.py, real dashboard server processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# A GPT small enough that 30 iterations take a few seconds on one CPU core.
TINY_TRAIN_ARGS = [
    "--device=cpu", "--n_layer=2", "--n_head=2", "--n_embd=32", "--block_size=32", "--batch_size=4",
    "--eval_iters=2", "--eval_interval=10", "--log_interval=10", "--sample_tokens=16",
    "--warmup_iters=5", "--lr_decay_iters=100",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_train(out_dir: Path, *args: str, timeout: float = 240, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real train.py from the repository root with the tiny model and extra --key=value args."""
    cmd = [sys.executable, "train.py", *TINY_TRAIN_ARGS, f"--out_dir={out_dir}", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def run_torchrun(out_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real train.py under torchrun, two CPU processes (gloo), with the tiny model and extra args."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "train.py",
           *TINY_TRAIN_ARGS, f"--out_dir={out_dir}", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def torchrun_failure(result: subprocess.CompletedProcess) -> str:
    """What a failed torchrun printed that says why: the ranks' own output, not the launcher's report.

    torchrun ends with a long report of its own (a traceback through its launcher and a table of
    exit codes); what a rank printed before dying comes first and would be cut from a plain tail."""
    ranks, _, report = result.stderr.partition("torch/distributed/elastic/multiprocessing/api.py")
    first_line = report.split("\n", 1)[0]
    return (f"exit code {result.returncode}; the launcher: ...{first_line}\n"
            f"ranks' stderr (end):\n{ranks[-4000:]}\nstdout (end):\n{result.stdout[-1500:]}")


def wait_for_health(port: int, timeout: float = 60) -> dict:
    from nanogpt_dash.net import probe_health

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = probe_health("127.0.0.1", port)
        if health is not None:
            return health
        time.sleep(0.2)
    raise TimeoutError(f"no nanogpt_dash server answered on port {port} within {timeout} s")


def start_server(runs_dir: Path, port: int, *extra: str) -> subprocess.Popen:
    """A real `python -m nanogpt_dash serve` process; stop it with stop_process(). Its output goes to a log file
    (a pipe nobody reads would block a chatty server)."""
    log_path = runs_dir.parent / f"server-{port}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nanogpt_dash", "serve", "--runs", str(runs_dir), "--port", str(port), *extra],
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_health(port)
    except TimeoutError as e:
        stop_process(proc)
        raise TimeoutError(f"{e}; server log:\n{log_path.read_text()[-2000:]}") from e
    return proc


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def register_assets(port: int) -> None:
    """Ask for the layout once: until the first /_dash-layout request a fresh server's pages lack
    assets/*.js (ngd.js), so a first tab gets "reading 'syncUrl'" errors and no URL sync. Remove
    once the server sets Dash up before it answers health checks."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-layout", timeout=30) as response:
        response.read()


def run_coroutine(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API keeps an event loop in the test thread."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
