"""
How well the forecast predicts a run's final val loss from its beginning, on real runs of train.py.

    python bench/forecast.py                    # trains both runs below (CPU, minutes), then forecasts
    python bench/forecast.py --keep DIR         # the same, and keeps the runs in DIR for --runs later
    python bench/forecast.py --runs DIR [DIR …] # forecasts runs already trained (their metrics.sqlite)

The runs: train.py's default (python_char, 2000 iterations) and the Tiny Shakespeare CPU
configuration of bench/parity_shakespeare.py. Both evaluate every 100 iterations here
(--eval_interval=100, instead of 250) so that 20 % of a run holds more than two evals; --max_iters
shortens the Shakespeare run on a busy machine (its learning-rate schedule is shortened with it).

For each run and each cut (the first 20 %, 40 %, 60 % of max_iters) every method sees only the
points logged up to the cut and forecasts the val loss at max_iters; the table gives the error
against the val loss actually reached and whether the 90 % band covered it. The methods are the
models of analytics.convergence.forecast_val_loss, each forced, then the default, which picks one
by how well it predicted the run's newest evals (its band widened by that error).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nanogpt_dash.analytics import forecast_val_loss  # noqa: E402
from nanogpt_dash.analytics.convergence import VAL_MODELS  # noqa: E402
from nanogpt_dash.store import RunReader  # noqa: E402

CUTS = (0.2, 0.4, 0.6)
SHAKESPEARE_INPUT = REPO / "data" / "shakespeare_char" / "input.txt"


def train_commands(root: Path, shakespeare_iters: int) -> dict[str, list[str]]:
    common = ["--dashboard_autostart=False", "--eval_interval=100"]
    return {
        "default": [sys.executable, "train.py", f"--out_dir={root / 'default'}", *common],
        "shakespeare": [
            sys.executable, "train.py", "config/train_shakespeare_char.py", "--device=cpu", "--compile=False",
            "--eval_iters=20", "--log_interval=10", "--block_size=64", "--batch_size=12", "--n_layer=4",
            "--n_head=4", "--n_embd=128", f"--max_iters={shakespeare_iters}", f"--lr_decay_iters={shakespeare_iters}",
            "--dropout=0.0", "--sample_tokens=0", f"--out_dir={root / 'shakespeare'}", *common,
        ],
    }


def read_run(run_dir: Path) -> tuple[dict, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The run's config and {key: (step, value)} of every scalar it logged."""
    with RunReader(run_dir) as reader:
        config = reader.meta().config
        parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for batch in reader.iter_scalars():
            keys = np.asarray(batch.key, dtype=object)
            for key in set(batch.key):
                rows = keys == key
                parts.setdefault(key, []).append((batch.step[rows], batch.value[rows]))
    return config, {k: (np.concatenate([p[0] for p in v]), np.concatenate([p[1] for p in v])) for k, v in parts.items()}


def methods(config: dict, series: dict, cut_step: int, max_iters: int) -> dict[str, tuple[float, float, float] | None]:
    """Each method's (forecast, low, high) of the val loss at max_iters, from the points up to cut_step."""
    ts, tv = series["train/loss"]
    vs, vv = series["val/loss"]
    t_in, v_in = ts <= cut_step, vs <= cut_step
    out: dict[str, tuple[float, float, float] | None] = {}

    def keep(f) -> tuple[float, float, float] | None:
        return (f.value, f.low, f.high) if f is not None else None

    for model in VAL_MODELS:
        out[model] = keep(forecast_val_loss(ts[t_in], tv[t_in], vs[v_in], vv[v_in], max_iters, config, model=model))
    chosen = forecast_val_loss(ts[t_in], tv[t_in], vs[v_in], vv[v_in], max_iters, config)
    out[f"default: chose {chosen.method}" if chosen is not None else "default"] = keep(chosen)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--runs", type=Path, nargs="*", help="run directories already trained (skip training)")
    parser.add_argument("--keep", type=Path, help="train the runs into this directory and keep them there")
    parser.add_argument("--max_iters", type=int, default=2000, help="iterations of the Shakespeare run (default 2000)")
    args = parser.parse_args()

    tmp = None
    run_dirs = args.runs
    if not run_dirs:
        if not SHAKESPEARE_INPUT.is_file() and not (REPO / "data" / "shakespeare_char" / "train.bin").is_file():
            print("error: Tiny Shakespeare not found: run `python data/shakespeare_char/prepare.py --input PATH` "
                  "first (it needs input.txt or the network)", file=sys.stderr)
            return 2
        if args.keep is not None:
            root = args.keep
            root.mkdir(parents=True, exist_ok=True)
        else:
            tmp = tempfile.TemporaryDirectory(prefix="bench-forecast-")
            root = Path(tmp.name)
        run_dirs = []
        for name, cmd in train_commands(root, args.max_iters).items():
            print("training:", " ".join(cmd[1:]), flush=True)
            t0 = time.perf_counter()
            done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
                print(f"error: train.py exited with status {done.returncode}", file=sys.stderr)
                return 1
            print(f"  {time.perf_counter() - t0:.0f} s", flush=True)
            run_dirs.append(root / name)

    header = ("run", "cut", "method", "forecast", "90% band", "final val", "error", "covered")
    rows = []
    for run_dir in run_dirs:
        config, series = read_run(run_dir)
        max_iters = int(config["max_iters"])
        vs, vv = series["val/loss"]
        final_at = np.flatnonzero(vs == vs.max())[-1]
        truth = float(vv[final_at])
        for cut in CUTS:
            for name, result in methods(config, series, int(cut * max_iters), max_iters).items():
                if result is None:
                    rows.append((run_dir.name, f"{cut:.0%}", name, "no fit", "", f"{truth:.4f}", "", ""))
                    continue
                value, low, high = result
                rows.append((run_dir.name, f"{cut:.0%}", name, f"{value:.4f}", f"{low:.3f}–{high:.3f}", f"{truth:.4f}",
                             f"{(value - truth) / truth:+.1%}", "yes" if low <= truth <= high else "no"))
        print(f"{run_dir.name}: max_iters {max_iters}, {len(vs)} evals, final val loss {truth:.4f} at step {int(vs[final_at])}")
    width = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, tuple("-" * w for w in width), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, width)).rstrip())
    print("\ngoal: within 5 % from 40 % of the run, band covering the truth")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
