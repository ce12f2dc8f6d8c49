"""Step time of the real train.py with layer statistics off, at the default interval and every step.

    python bench/layer_stats_overhead.py [--iters 200] [--rounds 3] [--threads 1] [--extra --n_layer=6 ...]

Each configuration runs `rounds` times, interleaved so a noisy neighbour hurts all of them alike.
The step time is train.py's own `iter_ms` (forward, backward, optimizer step and, at collection
steps, the statistics), read from the run's metrics file; steps 0-4 are skipped as warm-up.
Attention maps are computed at evals, which are outside `iter_ms` (as eval is for the loss).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nanogpt_dash.store import RunReader  # noqa: E402


def default_interval() -> int:
    for line in (REPO / "train.py").read_text().splitlines():
        if line.startswith("layer_stats_interval"):
            return int(line.split("=")[1].split("#")[0])
    raise SystemExit("train.py has no layer_stats_interval")


def step_times(out_dir: Path, iters: int, interval: int, threads: int, extra: list[str]) -> tuple[np.ndarray, np.ndarray]:
    cmd = [sys.executable, "train.py", f"--out_dir={out_dir}", f"--max_iters={iters}", "--device=cpu",
           f"--eval_interval={iters * 10}", "--eval_iters=1", "--sample_tokens=0", "--log_interval=100000",
           "--dashboard_autostart=False", f"--layer_stats_interval={interval}", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"train.py failed:\n{result.stderr[-2000:]}")
    with RunReader(out_dir) as reader:
        batch = reader.scalars_since(0)
    rows = sorted((int(s), v) for s, k, v in zip(batch.step, batch.key, batch.value) if k == "iter_ms" and s >= 5)
    return np.array([s for s, _ in rows]), np.array([v for _, v in rows])


def paired_extra_ms(steps: np.ndarray, ms: np.ndarray, interval: int) -> list[float]:
    """Each collection step's time minus the median of the 4 steps around it: the same minute, so
    a busy neighbour mostly cancels out."""
    at = {int(s): float(v) for s, v in zip(steps, ms)}
    extra = []
    for s in at:
        if s % interval == 0:
            around = [at[t] for t in (s - 2, s - 1, s + 1, s + 2) if t in at]
            if len(around) >= 3:
                extra.append(at[s] - float(np.median(around)))
    return extra


def direct_cost(threads: int, pairs: int = 30) -> tuple[float, float]:
    """Median ms of a plain training step and of one with every statistic collected, alternating in one
    process on train.py's default model (a busy neighbour slows both alike)."""
    import time

    import torch

    from model import GPT, GPTConfig
    from nanogpt_dash.layer_stats import LayerStats

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):  # GPT() and configure_optimizers() print their sizes
        model = GPT(GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=128, vocab_size=97, bias=False, dropout=0.0))
        optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    stats = LayerStats(model, 1)
    x = torch.randint(0, 97, (12, 128))

    def step(collect: bool) -> float:
        t0 = time.perf_counter()
        if collect:
            row = stats.activations(x)
        _, loss = model(x, x)
        loss.backward()
        if collect:
            row.update(stats.gradients())
            stats.before_update()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if collect:
            row.update(stats.after_update())
        optimizer.zero_grad(set_to_none=True)
        return (time.perf_counter() - t0) * 1000

    for _ in range(3):
        step(False), step(True)
    plain, collected = [], []
    for _ in range(pairs):
        plain.append(step(False))
        collected.append(step(True))
    return float(np.median(plain)), float(np.median(collected))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per run (the machine may be shared)")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more train.py --key=value arguments")
    args = parser.parse_args()
    default = default_interval()
    settings = [("off", 0), (f"default (every {default})", default), ("every step", 1)]
    times: dict[str, list[np.ndarray]] = {name: [] for name, _ in settings}
    extra: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, interval in settings:
                steps, ms = step_times(Path(tmp) / f"{interval}-{r}", args.iters, interval, args.threads, args.extra)
                times[name].append(ms)
                if interval == default:
                    extra += paired_extra_ms(steps, ms, interval)
                print(f"round {r + 1}/{args.rounds}: {name}: mean {times[name][-1].mean():.2f} ms", file=sys.stderr)
    base = np.mean([t.mean() for t in times["off"]])
    print(f"\ntrain.py on CPU, {args.iters} iterations x {args.rounds} interleaved rounds, {args.threads} thread(s), "
          f"extra args: {' '.join(args.extra) or '(train.py defaults)'}")
    print(f"{'layer statistics':<24}{'mean step ms':>14}{'median ms':>12}{'round means ms':>28}{'vs off':>10}")
    for name, _ in settings:
        means = [t.mean() for t in times[name]]
        mean = float(np.mean(means))
        median = float(np.median(np.concatenate(times[name])))
        spread = " / ".join(f"{m:.2f}" for m in means)
        print(f"{name:<24}{mean:>14.2f}{median:>12.2f}{spread:>28}{(mean / base - 1) * 100:>+9.1f}%")
    noise = statistics.pstdev([t.mean() for t in times["off"]]) / base * 100
    print(f"round-to-round spread of 'off' (noise floor): {noise:.1f}%")
    if extra:
        step_ms = float(np.median(np.concatenate(times["off"])))
        cost = float(np.median(extra))
        print(f"paired estimate at the default interval: a collection step costs {cost:+.1f} ms over its neighbours "
              f"(median of {len(extra)}), i.e. {cost / (default * step_ms) * 100:+.2f}% of the step time "
              f"averaged over {default} steps")
    plain, collected = direct_cost(args.threads)
    extra = collected - plain
    print(f"direct, in one process ({args.threads} thread(s), 30 alternating pairs): plain step {plain:.1f} ms, "
          f"step with statistics {collected:.1f} ms: {extra:+.1f} ms per collection = "
          + ", ".join(f"{extra / (n * plain) * 100:+.2f}% at every {n}" for n in sorted({default, 100}))
          + " steps")


if __name__ == "__main__":
    main()
