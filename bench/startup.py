"""How long until a dashboard on a big runs folder answers, and until the newest run's charts can show?

For 1, 10 and 30 runs of 100k steps x 4 metrics, start a real `python -m nanogpt_dash serve` and time
(from the process start) when `/health` first answers and when the newest run's data is loaded in
LiveStore (what its first chart needs), in wall-clock seconds and in CPU seconds the server process
had used by then (the second does not depend on what else the machine is running). A server that lists runs still loading in `/health`
("loading") is asked until the newest run has left that list; an older server loads every run
before it answers at all, so its answer is also the time its newest run is loaded.

    python bench/startup.py                      # this checkout
    python bench/startup.py --before ../main     # and another checkout of the code, side by side
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nanogpt_dash.store import RunWriter, ScalarRow  # noqa: E402

KEYS = ("train/loss", "val/loss", "lr", "grad_norm")


def make_runs(root: Path, runs: int, steps: int) -> Path:
    """runs_dir with `runs` runs of `steps` x 4 metrics (kept between invocations); run k is k minutes newer than run 0."""
    store = root / f"all-{steps}"
    store.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for k in range(runs):
        run_dir = store / f"run{k:02d}"
        if not (run_dir / "done").exists():
            writer = RunWriter(run_dir)
            writer.begin_segment(run_id=run_dir.name, name=run_dir.name, start_step=0, config={"max_iters": steps},
                                 model_args={}, host="bench", pid=os.getpid(), started=now - 3600)
            chunk = 25_000
            for start in range(0, steps, chunk):
                rows = [ScalarRow(s, now - 3600 + s * 0.01, key, 1.0 / (s + 1))
                        for s in range(start, min(steps, start + chunk)) for key in KEYS]
                writer.write(rows, [])
            writer.set_status("finished")
            writer.close()
            (run_dir / "done").write_text("")
        when = now - 3600 + 60 * k
        os.utime(run_dir / "metrics.sqlite", (when, when))
    view = root / f"view-{runs}x{steps}"
    view.mkdir(exist_ok=True)
    for k in range(runs):  # the newest `runs` of the pool
        link = view / f"run{runs - 1 - k:02d}"
        if not link.exists():
            link.symlink_to(store / f"run{runs - 1 - k:02d}", target_is_directory=True)
    return view


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError):
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(repo: Path, runs_dir: Path, runs: int, newest: str, limit_s: float) -> tuple:
    """((wall, cpu) at the first /health answer, (wall, cpu) when the newest run is loaded) for one server start."""
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "nanogpt_dash", "serve", "--runs", str(runs_dir), "--port", str(port)],
                            cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    first = loaded = None
    try:
        while time.monotonic() - started < limit_s and proc.poll() is None:
            answer = health(port)
            now = time.monotonic() - started
            if answer is not None:
                first = first if first is not None else (now, cpu_seconds(proc.pid))
                if "loading" not in answer:
                    loaded = first  # this server loads everything before it answers
                elif answer.get("runs") == runs and newest not in answer["loading"]:
                    loaded = (now, cpu_seconds(proc.pid))
                if loaded is not None:
                    break
            time.sleep(0.05)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return first, loaded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="another checkout (e.g. main) to measure side by side")
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 10, 30])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/nanogpt_dash-startup-bench"))
    parser.add_argument("--limit", type=float, default=240.0, help="give up on one start after this many seconds")
    args = parser.parse_args()

    pool = max(args.runs)
    make_runs(args.data, pool, args.steps)
    versions = [("after", REPO)] + ([("before", args.before.resolve())] if args.before else [])
    lines = []
    for runs in args.runs:
        runs_dir = make_runs(args.data, runs, args.steps)
        newest = f"run{runs - 1:02d}"
        for label, repo in versions:
            first, loaded = measure(repo, runs_dir, runs, newest, args.limit)
            row = (f"{runs}", label, fmt(first, 0), fmt(loaded, 0), fmt(first, 1), fmt(loaded, 1))
            lines.append(row)
            print("  " + "  ".join(row), file=sys.stderr, flush=True)
    header = ("runs", "code", "/health answers", "newest run loaded", "server CPU s at /health", "... at newest loaded")
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    print(f"\n{args.steps:,} steps x {len(KEYS)} metrics per run; seconds from process start (goal: 2 s and 3 s)")
    for row in [header, *lines]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


def fmt(pair: tuple[float, float] | None, which: int) -> str:
    return "no answer" if pair is None else f"{pair[which]:.2f} s"


if __name__ == "__main__":
    sys.exit(main())
