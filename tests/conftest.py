"""Shared fixtures: temp run directories, free loopback ports, and running the real train.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    return path
