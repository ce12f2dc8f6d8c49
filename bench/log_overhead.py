"""How long does logging 4 scalars cost the training loop? nanogpt_dash vs TensorBoard (vs trackio).

Each library logs the same 4 scalars per step inside the same loop; between steps the loop does
a small matmul, like a (very fast) training step, so background writers compete as in real life.
Only the logging call is timed, after an unmeasured 1,000-step warm-up of each library (the first
Run in a process pays one-time costs once: a ~0.1 s stall was seen there). Then: how long until
every row is on disk after finish()/close().

    python bench/log_overhead.py [--steps 20000]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import nanogpt_dash  # noqa: E402


def timed_loop(log: Callable[[int, dict], None], steps: int) -> np.ndarray:
    a = torch.randn(64, 64)
    times = np.empty(steps)
    clock = time.perf_counter_ns
    for step in range(steps):
        a @ a  # the "training step"
        metrics = {"train/loss": 1.0 / (step + 1), "lr": 1e-3, "grad_norm": 0.5, "tokens_per_sec": 1e5}
        t0 = clock()
        log(step, metrics)
        times[step] = clock() - t0
    return times / 1000.0  # µs


def bench_nanogpt_dash(root: Path, steps: int) -> tuple[np.ndarray, float]:
    run = nanogpt_dash.init(root / "nanogpt_dash")
    times = timed_loop(lambda step, m: run.log(m, step=step), steps)
    t0 = time.perf_counter()
    run.finish()
    return times, time.perf_counter() - t0


def bench_tensorboard(root: Path, steps: int) -> tuple[np.ndarray, float]:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(root / "tensorboard"))

    def log(step: int, metrics: dict) -> None:
        for key, value in metrics.items():
            writer.add_scalar(key, value, step)

    times = timed_loop(log, steps)
    t0 = time.perf_counter()
    writer.close()
    return times, time.perf_counter() - t0


def bench_trackio(root: Path, steps: int) -> tuple[np.ndarray, float]:
    import os

    os.environ.setdefault("TRACKIO_DIR", str(root / "trackio"))
    import trackio

    trackio.init(project="log-overhead")
    times = timed_loop(lambda step, m: trackio.log(m, step=step), steps)
    t0 = time.perf_counter()
    trackio.finish()
    return times, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    args = parser.parse_args()

    contenders = [("nanogpt_dash Run.log", bench_nanogpt_dash), ("TensorBoard SummaryWriter", bench_tensorboard)]
    if importlib.util.find_spec("trackio"):
        contenders.append(("trackio.log", bench_trackio))
    else:
        print("trackio is not installed: its row is skipped (pip install trackio to include it)")

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, bench in contenders:
            # a short unmeasured pass first: one-time costs (imports, first file creation) are not per-step costs
            bench(Path(tmp) / "warm-up", 1_000)
            times, durable_s = bench(Path(tmp), args.steps)
            results.append((name, times, durable_s))

    ours = results[0][1].mean()
    print(f"\nlogging 4 scalars per step, {args.steps:,} steps, µs per step (torch {torch.__version__}, python {sys.version.split()[0]})\n")
    header = f"| {'library':<26} | {'mean µs':>8} | {'p50 µs':>7} | {'p99 µs':>7} | {'max µs':>8} | {'× ours':>7} | {'durable after finish':>20} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, times, durable_s in results:
        print(f"| {name:<26} | {times.mean():8.2f} | {np.percentile(times, 50):7.2f} | {np.percentile(times, 99):7.2f} "
              f"| {times.max():8.1f} | {times.mean() / ours:7.1f} | {durable_s * 1000:17.1f} ms |")
    print("\ngoal for nanogpt_dash: mean <= 5 µs, p99 <= 50 µs")


if __name__ == "__main__":
    main()
