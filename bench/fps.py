"""Frames per second in Chromium while the four charts update at 10 Hz.

A real server process and real headless Chromium (Debian's). In the page, a requestAnimationFrame
loop records the interval between frames for `--seconds`; a frame that comes late means the main
thread was busy (a callback answer being applied, Plotly redrawing, a React re-render). Rows:

- a blank page: the most frames this browser gives at all (the ceiling of every other row);
- the dashboard at 10 updates/s on a finished run (no writer: ticks that bring nothing new);
- the dashboard at 10 updates/s while a writer thread logs train/loss, lr, grad_norm and
  tokens_per_sec at `--steps-per-sec`;
- the same on a run that already holds `--big-points` points per metric (written beforehand with
  store.RunWriter), so every chart is downsampled and is re-sampled as it grows. The writer
  resumes that run (a second segment), as train.py does with init_from='resume'.

Headless Chromium with --disable-gpu composites in software and paces requestAnimationFrame with
a 60 Hz timer, not a display: no row can pass 60 fps, and the blank-page row shows the ceiling.
A slow frame here is main-thread time (scripting, layout, SVG); the raster work that a GPU would
take over is off the main thread in both cases.

    python bench/fps.py [--seconds 20] [--steps-per-sec 50] [--big-points 200000]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from chromium import CHROMIUM_ARGS, cpu_seconds, deadline, table  # noqa: E402
from helpers import free_port, start_server, stop_process  # noqa: E402
from nanogpt_dash.store import RunWriter, ScalarRow  # noqa: E402
from nanogpt_dash.tracking import Run  # noqa: E402

CHARTS = ("loss", "lr", "grad_norm", "throughput")
SLOW_FRAME_MS = 1000.0 / 30
WARM_UP_S = 3.0

# Frame intervals from requestAnimationFrame, chart redraws (Plotly's 'plotly_afterplot' event, which
# follows every full draw: a new figure or an extendTraces) and long tasks (> 50 ms) on the main thread.
START_JS = """
(charts) => {
    const state = {intervals: [], redraws: 0, appends: 0, longTasks: [], running: true};
    window.fps = state;
    charts.forEach(c => {
        const div = document.querySelector(`#chart-${c} .js-plotly-plot`);
        if (!div) return;
        div.on("plotly_afterplot", () => { if (state.running) state.redraws++; });
        div.on("ngd_appended", () => { if (state.running) state.appends++; });
    });
    let last = null;
    function frame(t) {
        if (!state.running) return;
        if (last !== null) state.intervals.push(t - last);
        last = t;
        requestAnimationFrame(frame);
    }
    requestAnimationFrame(frame);
    try {
        state.observer = new PerformanceObserver(list => list.getEntries().forEach(e => state.longTasks.push(e.duration)));
        state.observer.observe({type: "longtask"});
    } catch (e) { state.longTasks = null; }
}
"""
STOP_JS = """
() => {
    const s = window.fps;
    s.running = false;
    if (s.observer) s.observer.disconnect();
    return {intervals: s.intervals, redraws: s.redraws, appends: s.appends, longTasks: s.longTasks,
            visibility: document.visibilityState};
}
"""
CHARTS_READY_JS = """
(charts) => charts.every(c => {
    const el = document.querySelector(`#chart-${c} .js-plotly-plot`);
    return el && el.data && el.data[0] && el.data[0].x && el.data[0].x.length > 0;
})
"""


@dataclass
class Result:
    name: str
    intervals_ms: np.ndarray
    seconds: float
    redraws: int | None
    appends: int | None
    long_tasks: list[float] | None
    browser_cpu: float
    server_cpu: float | None
    machine_cpu: float


class PacedWriter:
    """A training stand-in: logs the four charted metrics at a steady rate from a thread."""

    def __init__(self, run: Run, steps_per_sec: float, first_step: int = 0) -> None:
        self.run = run
        self.period = 1.0 / steps_per_sec
        self.step = first_step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="paced-writer", daemon=True)

    def __enter__(self) -> "PacedWriter":
        self._thread.start()
        return self

    def _loop(self) -> None:
        rng = np.random.default_rng(0)
        next_at = time.monotonic()
        while not self._stop.is_set():
            s = self.step
            self.run.log({"train/loss": 4.0 / (1 + 1e-3 * s) + 0.05 * rng.standard_normal(),
                          "lr": 6e-4 * (0.55 + 0.45 * math.cos(s / 5000)), "grad_norm": 1.0 + 0.2 * rng.random(),
                          "tokens_per_sec": 2.5e4 + 1e3 * rng.standard_normal()}, step=s)
            self.step += 1
            next_at += self.period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def write_history(run_dir: Path, points: int, chunk: int = 50_000) -> None:
    """`points` steps of the four charted metrics, written straight into the run file."""
    writer = RunWriter(run_dir)
    writer.begin_segment(run_id=run_dir.name, name=run_dir.name, start_step=0, config={}, model_args={},
                         host="bench", pid=os.getpid())
    rng = np.random.default_rng(1)
    start = time.time() - points * 0.05
    for lo in range(0, points, chunk):
        steps = np.arange(lo, min(points, lo + chunk))
        times = start + 0.05 * steps
        columns = {
            "train/loss": 4.0 / (1 + 1e-3 * steps) + 0.05 * rng.standard_normal(len(steps)),
            "lr": 6e-4 * (0.55 + 0.45 * np.cos(steps / 5000)),
            "grad_norm": 1.0 + 0.2 * rng.random(len(steps)),
            "tokens_per_sec": 2.5e4 + 1e3 * rng.standard_normal(len(steps)),
        }
        rows = [ScalarRow(int(s), float(t), key, float(v))
                for key, values in columns.items() for s, t, v in zip(steps, times, values)]
        writer.write(rows, [])
    writer.set_status("finished")
    writer.close()


def browser_processes() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name().lower()]




def measure(name: str, page, seconds: float, server: psutil.Process | None) -> Result:
    """Frame intervals of `page` over `seconds`, with the CPU used meanwhile."""
    procs = browser_processes()
    watched = procs + ([server] if server else [])
    before = {p.pid: cpu_seconds([p]) for p in watched}
    psutil.cpu_percent(None)
    t0 = time.monotonic()
    page.evaluate(START_JS, list(CHARTS))
    time.sleep(seconds)
    data = page.evaluate(STOP_JS)
    elapsed = time.monotonic() - t0
    machine = psutil.cpu_percent(None)

    def percent(ps: list[psutil.Process]) -> float:
        return 100.0 * sum(cpu_seconds([p]) - before[p.pid] for p in ps) / elapsed

    if data["visibility"] != "visible":
        print(f"warning: {name}: the page was {data['visibility']}, so it ticked slower than asked", file=sys.stderr)
    return Result(name, np.asarray(data["intervals"]), elapsed, data["redraws"], data["appends"], data["longTasks"], percent(procs),
                  percent([server]) if server else None, machine)


def open_dashboard(browser, port: int, run_id: str, rate: str):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{port}/?run={run_id}")
    page.wait_for_function(CHARTS_READY_JS, arg=list(CHARTS), timeout=60_000)
    page.select_option("#rate", rate)
    time.sleep(WARM_UP_S)
    return context, page



def row(r: Result) -> list[str]:
    iv = r.intervals_ms
    cells = [r.name, str(len(iv))]
    if len(iv):
        cells += [f"{1000 / np.median(iv):.1f}", f"{1000 / np.percentile(iv, 95):.1f}", f"{len(iv) / r.seconds:.1f}",
                  f"{100 * np.mean(iv > SLOW_FRAME_MS):.1f}%", f"{100 * iv[iv > SLOW_FRAME_MS].sum() / iv.sum():.0f}%",
                  f"{iv.max():.0f}"]
    else:
        cells += ["-"] * 6
    cells.append(f"{r.redraws / r.seconds:.1f}" if r.redraws is not None else "-")
    cells.append(f"{r.appends / r.seconds:.1f}" if r.appends is not None else "-")
    cells.append(f"{len(r.long_tasks)} / {sum(r.long_tasks):.0f}" if r.long_tasks is not None else "-")
    cells += [f"{r.browser_cpu:.0f}", f"{r.server_cpu:.0f}" if r.server_cpu is not None else "-", f"{r.machine_cpu:.0f}"]
    return cells




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per row")
    parser.add_argument("--steps-per-sec", type=float, default=50.0, help="writer rate in the live rows")
    parser.add_argument("--big-points", type=int, default=200_000, help="points per metric of the downsampled run")
    parser.add_argument("--rate", default="10", help="the page's updates/s (the #rate select)")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="abort after this long in all")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        t0 = time.monotonic()
        write_history(runs_dir / "big", args.big_points)
        history_s = time.monotonic() - t0
        with Run(runs_dir / "idle") as idle:
            for step in range(1000):
                idle.log({"train/loss": 4.0 / (1 + 1e-3 * step), "lr": 6e-4, "grad_norm": 1.0,
                          "tokens_per_sec": 2.5e4}, step=step)
        live = Run(runs_dir / "live")
        live.log({"train/loss": 4.0, "lr": 6e-4, "grad_norm": 1.0, "tokens_per_sec": 2.5e4}, step=0)
        live.flush()

        port = free_port()
        server = start_server(runs_dir, port)
        with deadline(args.max_seconds, lambda: stop_process(server)):
            try:
                server_proc = psutil.Process(server.pid)
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)

                    context = browser.new_context(viewport={"width": 1440, "height": 900})
                    page = context.new_page()
                    page.set_content("<!doctype html><title>blank</title><p>blank</p>")
                    results.append(measure("blank page (rAF ceiling of this browser)", page, min(args.seconds, 5), None))
                    context.close()

                    context, page = open_dashboard(browser, port, "idle", args.rate)
                    results.append(measure(f"idle: finished run, {args.rate} Hz, no writer", page, args.seconds, server_proc))
                    context.close()

                    with PacedWriter(live, args.steps_per_sec, 1):
                        context, page = open_dashboard(browser, port, "live", args.rate)
                        name = f"live: {args.rate} Hz, writer {args.steps_per_sec:g} steps/s"
                        results.append(measure(name, page, args.seconds, server_proc))
                        context.close()

                    with (Run(runs_dir / "big", resume_step=args.big_points) as run,
                          PacedWriter(run, args.steps_per_sec, args.big_points)):
                        time.sleep(1.5)  # the server sees the new segment before the page loads
                        context, page = open_dashboard(browser, port, "big", args.rate)
                        name = f"live: {args.rate} Hz, writer {args.steps_per_sec:g} steps/s, {args.big_points // 1000}k-point history"
                        results.append(measure(name, page, args.seconds, server_proc))
                        context.close()
                    browser.close()
            finally:
                live.finish()
                stop_process(server)

    print(f"\nframes in headless Chromium (--disable-gpu), {args.seconds:g} s per dashboard row, viewport 1440x900; "
          f"{args.big_points:,}-point history written in {history_s:.1f} s\n")
    header = ["page", "frames", "median fps", "p5 fps", "mean fps", "frames > 33 ms", "time in them", "worst ms",
              "redraws/s", "appends/s", "long tasks n / ms", "browser CPU %", "server CPU %", "machine CPU %"]
    print(table(header, [row(r) for r in results]))
    print(f"\ngoal: median >= 55 fps with the charts updating at {args.rate} Hz.")
    print("p5 fps = 1000 / the 95th percentile frame interval. 'time in them' = the share of the measured time spent in "
          "frames > 33 ms (the median counts frames, so a few long frames hide behind many short ones).")
    print(f"redraws/s counts chart redraws over all four charts ({args.rate} Hz x 4 = {4 * int(args.rate)} at most); "
          "appends/s: chart updates drawn onto the lines without a redraw (assets/charts.js); "
          "long tasks: main-thread tasks > 50 ms, their number and total ms.")
    print("Headless Chromium paces frames with a 60 Hz software timer (see the blank-page row): 60 fps is the cap, "
          "and a slow frame is main-thread time.")
    print(f"CPU %: 100 = one core for the browser (all its processes) and the server; machine = all "
          f"{psutil.cpu_count()} cores, everything running on it.")


if __name__ == "__main__":
    main()
