"""
Parity check against nanoGPT: train the README's CPU configuration on Tiny Shakespeare and put
the final losses beside nanoGPT's published number.

    python bench/parity_shakespeare.py [--input PATH] [--max_iters N]

nanoGPT's README reports a val loss of about 1.88 after 2000 iterations of this configuration
(a few minutes on a laptop CPU). --max_iters shortens the run for a quick smoke check; the
anchor only applies to the full 2000.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data.shakespeare_char.prepare import prepare  # noqa: E402

NANOGPT_VAL_LOSS = 1.88  # nanoGPT README, CPU configuration, 2000 iterations
FULL_ITERS = 2000
STEP_LINE = re.compile(r"step (\d+): train loss ([\d.naif]+), val loss ([\d.naif]+)")


def train_command(out_dir: Path, max_iters: int) -> list[str]:
    """The nanoGPT README's CPU command line, with the dashboard off and a private out_dir."""
    # eval at the last step too: nanoGPT only evaluates on multiples of eval_interval
    eval_interval = 250 if max_iters % 250 == 0 else max_iters
    return [
        sys.executable, "train.py", "config/train_shakespeare_char.py",
        "--device=cpu", "--compile=False", "--eval_iters=20", "--log_interval=1",
        "--block_size=64", "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128",
        f"--max_iters={max_iters}", f"--lr_decay_iters={max_iters}", "--dropout=0.0",
        f"--eval_interval={eval_interval}", "--dashboard=False", f"--out_dir={out_dir}",
    ]


def last_eval(lines: list[str]) -> tuple[int, float, float] | None:
    """The last `step N: train loss X, val loss Y` line as (N, X, Y), if there was one."""
    for line in reversed(lines):
        m = STEP_LINE.search(line)
        if m:
            return int(m.group(1)), float(m.group(2)), float(m.group(3))
    return None


def run_training(cmd: list[str]) -> tuple[list[str], int, float]:
    """Run train.py, echoing its eval lines; return all output lines, exit code and seconds."""
    t0 = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as proc:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if STEP_LINE.search(line):
                print(line.rstrip("\n"), flush=True)
    return lines, proc.returncode, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description="nanoGPT parity on Tiny Shakespeare (CPU)")
    parser.add_argument("--input", type=Path, default=None,
                        help="local copy of Tiny Shakespeare (default: data/shakespeare_char/"
                             "input.txt, else download)")
    parser.add_argument("--max_iters", type=int, default=FULL_ITERS,
                        help=f"iterations (default {FULL_ITERS}, the anchor's)")
    args = parser.parse_args()

    if not (REPO / "train.py").is_file():
        print(f"error: {REPO / 'train.py'} not found; this benchmark runs the real trainer",
              file=sys.stderr)
        return 2
    try:
        prepare(args.input)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="parity-shakespeare-") as out_dir:
        cmd = train_command(Path(out_dir), args.max_iters)
        print("running:", " ".join(cmd[1:]), flush=True)
        lines, returncode, wall_s = run_training(cmd)

    if returncode != 0:
        print("\n".join(lines[-30:]), file=sys.stderr)
        print(f"error: train.py exited with status {returncode}", file=sys.stderr)
        return 1
    result = last_eval(lines)
    if result is None:
        print("\n".join(lines[-30:]), file=sys.stderr)
        print("error: no 'step N: train loss X, val loss Y' line in train.py's output",
              file=sys.stderr)
        return 1
    step, train_loss, val_loss = result

    anchor = f"{NANOGPT_VAL_LOSS:.2f}" if args.max_iters == FULL_ITERS \
        else f"{NANOGPT_VAL_LOSS:.2f} (at {FULL_ITERS} iters)"
    rows = [
        ("config", "README CPU: 4 layers, 4 heads, 128 wide, block 64, batch 12", "same"),
        ("iterations", f"{step}", f"{FULL_ITERS}"),
        ("final train loss", f"{train_loss:.4f}", "-"),
        ("final val loss", f"{val_loss:.4f}", anchor),
        ("wall time", f"{wall_s:.0f} s", "~3 min (laptop CPU)"),
    ]
    width = [max(len(r[i]) for r in rows + [("", "this repo", "nanoGPT")]) for i in range(3)]
    header = ("", "this repo", "nanoGPT")
    for row in [header, tuple("-" * w for w in width), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, width)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
