"""A fake nanoGPT run under `python -m nanogpt_dash run` appears live on the Live page."""

import os
import signal
import subprocess
import sys

from helpers import REPO


def test_a_wrapped_nanogpt_run_appears_live_and_its_loss_chart_gains_points(runs_dir, server, open_page):
    port, _ = server
    cmd = [sys.executable, "-m", "nanogpt_dash", "run", "--port", str(port), "--",
           sys.executable, str(REPO / "tests" / "fake_nanogpt.py"), f"--out_dir={runs_dir / 'wrapped'}",
           "--max_iters=100000", "--sleep=0.05"]
    wrapper = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        view = open_page()
        view.follow(port, "wrapped", timeout=60, what="the wrapped run's first points")
        first = view.points()
        view.wait_until(lambda: view.points() >= first + 10, timeout=60, what="the loss chart to gain points")
        assert view.steps()[:3] == [0, 1, 2]
        assert view.errors == []
    finally:
        wrapper.send_signal(signal.SIGINT)
        _, stderr = wrapper.communicate(timeout=30)
    assert wrapper.returncode == 128 + signal.SIGINT
    assert f"dashboard at http://127.0.0.1:{port}/?run=wrapped" in stderr.decode()  # the server was found, not started
