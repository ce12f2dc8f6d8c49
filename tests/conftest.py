"""Shared fixtures: temp run directories and a real dashboard server on a free port."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import free_port, start_server, stop_process


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    return path


@pytest.fixture
def server(runs_dir: Path):
    """A real dashboard server on a free port, serving runs_dir: yields (port, process)."""
    port = free_port()
    proc = start_server(runs_dir, port)
    yield port, proc
    stop_process(proc)
