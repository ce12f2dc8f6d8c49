"""How long does the default `python train.py` take on this CPU? The README's figure comes from here.

Times the default config's pieces (a training iteration, an evaluation of eval_iters batches on each
split, a 200-token sample) and adds them up for max_iters=2000 with 9 evaluations. Reports CPU time
(process_time) next to wall-clock time: on a machine shared with other jobs the wall clock measures
the queue, while CPU time still measures the work. Run it once per thread count:

    python bench/default_run_time.py [--threads 1 2] [--iters 40]
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from model import GPT, GPTConfig  # noqa: E402

MAX_ITERS, EVALS, EVAL_BATCHES, SAMPLE_TOKENS = 2000, 9, 2 * 50, 200
B, T = 12, 128


def measure(threads: int, iters: int) -> dict[str, float]:
    """CPU and wall seconds per training iteration, per evaluation, per sample, with `threads` threads."""
    torch.set_num_threads(threads)
    torch.manual_seed(1337)
    data_dir = REPO / "data" / "python_char"
    meta = pickle.loads((data_dir / "meta.pkl").read_bytes())
    data = np.memmap(data_dir / "train.bin", dtype=np.uint16, mode="r")
    model = GPT(GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=T, bias=False,
                          vocab_size=meta["vocab_size"], dropout=0.0))
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(len(data) - T, (B,))
        x = torch.stack([torch.from_numpy(data[i:i + T].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + T].astype(np.int64)) for i in ix])
        return x, y

    def train_step() -> None:
        _, loss = model(*batch())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def timed(work, repeat: int) -> tuple[float, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(repeat):
            work()
        return (time.process_time() - cpu) / repeat, (time.perf_counter() - wall) / repeat

    timed(train_step, 5)  # warm-up: allocator, first-call dispatch
    step = timed(train_step, iters)
    model.eval()
    with torch.no_grad():
        evaluation = timed(lambda: [model(*batch()) for _ in range(EVAL_BATCHES)], 1)
        sample = timed(lambda: model.generate(torch.zeros((1, 1), dtype=torch.long), SAMPLE_TOKENS,
                                              temperature=0.8, top_k=50), 1)
    return {"step_cpu": step[0], "step_wall": step[1], "eval_cpu": evaluation[0] + sample[0],
            "eval_wall": evaluation[1] + sample[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, torch.get_num_threads()])
    parser.add_argument("--iters", type=int, default=40, help="training iterations timed per thread count")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; default run = {MAX_ITERS} iterations "
          f"+ {EVALS} evaluations")
    print(f"{'threads':>7}  {'ms/iter CPU':>11}  {'ms/iter wall':>12}  {'s/eval CPU':>10}  {'s/eval wall':>11}  "
          f"{'run, CPU min':>12}  {'run, wall min':>13}")
    for threads in args.threads:
        m = measure(threads, args.iters)
        run_cpu = (MAX_ITERS * m["step_cpu"] + EVALS * m["eval_cpu"]) / 60
        run_wall = (MAX_ITERS * m["step_wall"] + EVALS * m["eval_wall"]) / 60
        print(f"{threads:>7}  {m['step_cpu'] * 1000:>11.0f}  {m['step_wall'] * 1000:>12.0f}  {m['eval_cpu']:>10.1f}  "
              f"{m['eval_wall']:>11.1f}  {run_cpu:>12.1f}  {run_wall:>13.1f}")


if __name__ == "__main__":
    main()
