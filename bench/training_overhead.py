"""Does watching slow training down? train.py's step time with the dashboard off, on with no
viewer, and on with one and three viewers at the default rate, side by side.

Each configuration runs the real `train.py` (its default CPU configuration) for `--iters`
iterations with `--log_interval=1`, and the time of every iteration is read from its stdout
(`iter N: loss X, time Yms`). The first `--skip` iterations and every eval iteration are left
out: the question is what watching costs while training runs, so the viewers' pages are open and
loaded before training starts, and the first seconds (the run appearing and its charts being drawn
for the first time, a cost paid once) fall in the skipped part.

Configurations take turns for `--rounds` rounds, so that a drift of the machine falls on all of
them, each round starting one configuration later than the one before (over four rounds each runs
first, second, third and last once: none always follows a quiet pause or a busy one). Besides the
medians over all rounds, each configuration is compared with "dashboard off" of the same round (the
median of those per-round differences, and their range): this machine's speed drifts by several
per cent between minutes.

"on" means train.py logs every iteration to its metrics database and a real dashboard server
(started as users start it, so at its default priority) tails it; viewers are headless Chromium
tabs (separate browser contexts) on the run's page, on the same machine, sharing its cores with
training as on a laptop. The CPU time of the server and of the browser during each configuration is
printed beside it.

Even so, separate runs minutes apart differ by more than the effect asked about. A second table
therefore compares states within one long run: "server paused" (SIGSTOP), "on, no viewer" and "on,
1 viewer" take turns in windows of `--window` seconds, shuffled in each of `--cycles` cycles, and
each state is compared with "server paused" of its own cycle (mean of the per-cycle differences,
with a 95 % bootstrap interval). See windows().

    python bench/training_overhead.py [--iters 200] [--rounds 4] [--skip 40] [--cycles 8] [--window 12]
                                      [--settle 4] [--server-args "--nice=0"]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from chromium import CHROMIUM_ARGS, cpu_seconds, table  # noqa: E402
from helpers import free_port, start_server, stop_process  # noqa: E402

ITER = re.compile(r"^iter (\d+): loss [-+0-9.naif]+, time ([0-9.]+)ms")
CONFIGS = (("dashboard off", False, 0), ("on, no viewer", True, 0), ("on, 1 viewer", True, 1), ("on, 3 viewers", True, 3))


def train(runs_dir: Path, name: str, iters: int, dashboard: bool, port: int, eval_interval: int) -> list[tuple[int, float]]:
    """Run train.py; (iteration, ms) of each iteration it printed."""
    args = [sys.executable, "train.py", f"--max_iters={iters}", "--log_interval=1", f"--eval_interval={eval_interval}",
            f"--out_dir={runs_dir / name}", f"--dashboard={dashboard}", "--dashboard_autostart=False",
            f"--dashboard_port={port}"]
    out = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [(int(m.group(1)), float(m.group(2))) for m in map(ITER.match, out.splitlines()) if m]


def browser_cpu() -> dict[int, float]:
    """CPU seconds so far of each Chromium process, by pid (processes come and go with the viewers' contexts)."""
    return {p.pid: cpu_seconds([p]) for p in psutil.Process().children(recursive=True) if "chrom" in name_of(p)}


def name_of(process: psutil.Process) -> str:
    """The process's name, lower case; "" for one that ended meanwhile (a closed viewer's)."""
    try:
        return process.name().lower()
    except psutil.Error:
        return ""


def browser_cpu_since(before: dict[int, float]) -> float:
    """CPU seconds the browser used since `before`, counting only processes alive at both ends or started since."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in browser_cpu().items())


@dataclass
class Dashboard:
    runs_dir: Path
    port: int
    server: subprocess.Popen
    server_proc: psutil.Process
    browser: object  # Playwright's Browser


@contextmanager
def running_dashboard(p, server_args: str) -> Iterator[Dashboard]:
    """An empty runs folder, a real dashboard server on it and a headless Chromium; all stopped at the end."""
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        runs_dir.mkdir()
        port = free_port()
        server = start_server(runs_dir, port, *server_args.split())
        try:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                yield Dashboard(runs_dir, port, server, psutil.Process(server.pid), browser)
            finally:
                browser.close()
        finally:
            os.killpg(server.pid, signal.SIGCONT)  # a server paused by windows() answers the SIGTERM that stops it
            stop_process(server)


def rounds(p, args) -> None:
    """Each configuration in a train.py run of its own, the configurations taking turns (the table of rounds)."""
    times: dict[str, list[float]] = {name: [] for name, _, _ in CONFIGS}
    round_medians: dict[str, list[float]] = {name: [] for name, _, _ in CONFIGS}
    cpu: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _, _ in CONFIGS}  # (wall, server, browser) s
    with running_dashboard(p, args.server_args) as d:
        for r in range(args.rounds):
            for name, dashboard, viewers in CONFIGS[r % len(CONFIGS):] + CONFIGS[:r % len(CONFIGS)]:
                run_name = f"r{r}-{name.replace(' ', '').replace(',', '-')}"
                contexts = [d.browser.new_context(viewport={"width": 1440, "height": 900}) for _ in range(viewers)]
                for context in contexts:  # the page waits for the run to appear, then follows it live
                    page = context.new_page()
                    page.goto(f"http://127.0.0.1:{d.port}/?run={run_name}")
                    page.wait_for_function("() => window.ngdPush && window.ngdPush.pulses > 0", timeout=60_000)
                time.sleep(2.0 if viewers else 0.0)  # loaded and settled: watching starts with training
                t0, server0, browser0 = time.monotonic(), cpu_seconds([d.server_proc]), browser_cpu()
                steps = train(d.runs_dir, run_name, args.iters, dashboard, d.port, args.eval_interval)
                cpu[name].append((time.monotonic() - t0, cpu_seconds([d.server_proc]) - server0, browser_cpu_since(browser0)))
                for context in contexts:
                    context.close()
                kept = [ms for it, ms in steps if it >= args.skip and it % args.eval_interval != 0]
                times[name] += kept
                round_medians[name].append(float(np.median(kept)))
                print(f"round {r + 1}, {name}: median {round_medians[name][-1]:.1f} ms", file=sys.stderr, flush=True)

    base = np.median(times[CONFIGS[0][0]])
    base_rounds = np.asarray(round_medians[CONFIGS[0][0]])
    rows = []
    for name, _, _ in CONFIGS:
        t = np.asarray(times[name])
        wall, server_s, browser_s = np.sum(cpu[name], axis=0)
        paired = 100 * (np.asarray(round_medians[name]) / base_rounds - 1)
        rows.append([name, f"{len(t)}", f"{np.median(t):.1f}", f"{t.mean():.1f}", f"{np.percentile(t, 90):.1f}",
                     f"{100 * (np.median(t) / base - 1):+.1f} %",
                     f"{np.median(paired):+.1f} % ({paired.min():+.1f} to {paired.max():+.1f})",
                     f"{100 * server_s / wall:.1f} %", f"{100 * browser_s / wall:.1f} %"])
    server_note = f" (server flags: {args.server_args})" if args.server_args else ""
    print(f"\ntrain.py, default CPU configuration: ms per iteration ({args.rounds} rounds x {args.iters} iterations, "
          f"first {args.skip} and eval iterations left out){server_note}\n")
    print(table(["configuration", "iterations", "median ms", "mean ms", "p90 ms", "median vs off",
                 "vs off in the same round: median (range)", "server CPU (of a core)", "browser CPU (of a core)"], rows))
    print("\ngoal: <= 2 % slower with no viewer, <= 5 % with one viewer (2 cores shared by training, server and browsers).")



WINDOW_STATES = ("server paused", "on, no viewer", "on, 1 viewer")


def read_iterations(proc: subprocess.Popen, seen: list[tuple[float, int, float]]) -> None:
    """(monotonic time the line arrived, iteration, ms) of each iteration train.py prints, until it ends."""
    for line in proc.stdout:
        m = ITER.match(line)
        if m:
            seen.append((time.monotonic(), int(m.group(1)), float(m.group(2))))


def bootstrap_interval(values: np.ndarray, n: int = 20_000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of the mean of `values` (percentile bootstrap)."""
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(n, len(values)), replace=True).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def windows(p, args) -> None:
    """One long train.py run; the states take turns in windows of a few seconds, in a shuffled order per cycle,
    and each cycle's windows are compared with each other. A drift of the machine over minutes then falls
    within a cycle's half minute on all states alike: the table of rounds cannot tell 3 % from noise here.

    "server paused" is the server stopped with SIGSTOP (train.py still logs, which costs it about 3 us a step:
    bench/log_overhead.py); "on, 1 viewer" opens a tab on the run at the start of its window and closes it at
    the end. The first --settle seconds of every window (the page loading, the server catching up after a
    pause) are left out."""
    import random

    order = random.Random(0)
    with running_dashboard(p, args.server_args) as d:
        cmd = [sys.executable, "-u", "train.py", "--max_iters=1000000", "--log_interval=1", "--eval_interval=1000000",
               f"--out_dir={d.runs_dir / 'windows'}", "--dashboard=True", "--dashboard_autostart=False",
               f"--dashboard_port={d.port}"]
        trainer = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        seen: list[tuple[float, int, float]] = []
        reader = threading.Thread(target=read_iterations, args=(trainer, seen), daemon=True)
        reader.start()
        spans: list[tuple[int, str, float, float, float, float]] = []  # (cycle, state, from, to, server s, browser s)
        try:
            while len(seen) < args.skip:
                if trainer.poll() is not None:
                    raise RuntimeError(f"train.py ended with {trainer.returncode} before its first {args.skip} iterations")
                time.sleep(0.2)
            for cycle in range(args.cycles):
                states = list(WINDOW_STATES)
                order.shuffle(states)
                for state in states:
                    start = time.monotonic()
                    context = None
                    if state == "server paused":
                        os.killpg(d.server.pid, signal.SIGSTOP)
                    elif state == "on, 1 viewer":
                        context = d.browser.new_context(viewport={"width": 1440, "height": 900})
                        page = context.new_page()
                        page.goto(f"http://127.0.0.1:{d.port}/?run=windows")
                        page.wait_for_function("() => window.ngdPush && window.ngdPush.pulses > 0", timeout=30_000)
                    time.sleep(max(0.0, start + args.settle - time.monotonic()))
                    kept_from, server0, browser0 = time.monotonic(), cpu_seconds([d.server_proc]), browser_cpu()
                    time.sleep(max(0.0, start + args.window - time.monotonic()))
                    kept_to = time.monotonic()
                    spans.append((cycle, state, kept_from, kept_to, cpu_seconds([d.server_proc]) - server0,
                                  browser_cpu_since(browser0)))
                    if context is not None:
                        if page.evaluate("() => window.ngdPush.pulses") < 2:
                            raise RuntimeError("the viewer's tab got no updates during its window")
                        context.close()
                    if state == "server paused":
                        os.killpg(d.server.pid, signal.SIGCONT)
                    kept = [ms for t, _, ms in list(seen) if kept_from <= t < kept_to]
                    print(f"cycle {cycle + 1}, {state}: median {np.median(kept):.1f} ms over {len(kept)} iterations, "
                          f"browser {100 * spans[-1][5] / (kept_to - kept_from):.1f} % of a core", file=sys.stderr, flush=True)
        finally:
            trainer.terminate()
            trainer.wait()


    times = np.array([t for t, _, _ in seen])
    ms = np.array([m for _, _, m in seen])
    median: dict[tuple[int, str], float] = {}
    rows = []
    for state in WINDOW_STATES:
        mine = [s for s in spans if s[1] == state]
        step_ms = [ms[(times >= a) & (times < b)] for _, _, a, b, _, _ in mine]
        for (cycle, _, _, _, _, _), kept in zip(mine, step_ms):
            median[cycle, state] = float(np.median(kept))
        every = np.concatenate(step_ms)
        kept_s = sum(b - a for _, _, a, b, _, _ in mine)
        if state == WINDOW_STATES[0]:
            diff_cell = "(the base)"
        else:
            diff = np.array([100 * (median[c, state] / median[c, WINDOW_STATES[0]] - 1) for c in range(args.cycles)])
            lo, hi = bootstrap_interval(diff)
            diff_cell = f"{diff.mean():+.1f} % ({lo:+.1f} to {hi:+.1f})"
        rows.append([state, f"{len(every)}", f"{np.median(every):.1f}", f"{np.mean(every):.1f}", diff_cell,
                     f"{100 * sum(s[4] for s in mine) / kept_s:.1f} %", f"{100 * sum(s[5] for s in mine) / kept_s:.1f} %"])
    print(f"\ntrain.py, default CPU configuration, one run: {args.cycles} cycles of {len(WINDOW_STATES)} windows of "
          f"{args.window:.0f} s in a shuffled order, the first {args.settle:.0f} s of each window left out\n")
    print(table(["state", "iterations", "median ms", "mean ms", "vs server paused, same cycle: mean (95 % interval)",
                 "server CPU (of a core)", "browser CPU (of a core)"], rows))
    print("\ngoal: <= 2 % slower with no viewer, <= 5 % with one viewer.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4, help="rounds of separate runs (0: none)")
    parser.add_argument("--skip", type=int, default=40)
    parser.add_argument("--eval-interval", type=int, default=250)
    parser.add_argument("--cycles", type=int, default=8, help="cycles of windows within one run (0: none)")
    parser.add_argument("--window", type=float, default=12.0, help="seconds of one window")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds left out at the start of each window")
    parser.add_argument("--server-args", default="", help="extra flags for the dashboard server, e.g. --nice=0")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        if args.rounds:
            rounds(p, args)
        if args.cycles:
            windows(p, args)


if __name__ == "__main__":
    main()
