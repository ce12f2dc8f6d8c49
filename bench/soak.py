"""A day of training in minutes: does the dashboard's memory stay bounded while a run logs for 24 h?

A writer in this process logs 10 times a second × 20 metrics (17.28M points per simulated day)
through the real `nanogpt_dash.tracking.Run`, sped up `--speedup` times: the default 160 runs the
day in 9 minutes. Steps are explicit and advance at the simulated rate; `Run.log()` stamps each
row with the real `time.time()`, so the wall-clock axis is compressed by the same factor (only
the step axis, the default, reads as a real day). A real server process (`python -m nanogpt_dash
serve`) serves the run to real headless Chromium at `/?run=<id>`, at the page's default 5 updates/s.

Every simulated hour (`--sample-every`) it records: points written, the server's RSS (psutil on
the pid that /health reports), the page's `performance.memory.usedJSHeapSize`, the memory (PSS) of
the Chromium processes, how many points the loss chart holds (`data[0].x.length`) and how far the
chart's newest point is behind the newest logged step.

What compression changes: the server sees `speedup` times as many new points per tick, so the
downsampled charts are re-sampled in full `speedup` times as often as in real time, and the
poller reads `speedup` times as many rows per poll. Memory per point is the same; CPU is not.

    python bench/soak.py [--hours 24] [--speedup 160] [--sample-every 1.0]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from chromium import CHROMIUM_ARGS as BASE_CHROMIUM_ARGS, LOSS_CHART_HAS_POINTS_JS  # noqa: E402
from helpers import free_port, start_server, stop_process  # noqa: E402
from nanogpt_dash.net import probe_health  # noqa: E402
from nanogpt_dash.tracking import Run  # noqa: E402
from nanogpt_dash.ui.pages import metrics_needed  # noqa: E402

LOGS_PER_S = 10
METRICS = ("train/loss", "lr", "grad_norm", "tokens_per_sec",
           *(f"layer{i}/{kind}" for i in range(8) for kind in ("grad_norm", "update_ratio")))
RUN_ID = "soak"
CHROMIUM_ARGS = [*BASE_CHROMIUM_ARGS, "--enable-precise-memory-info"]  # exact JS heap sizes
PAGE_JS = """
() => {
    const el = document.querySelector('#chart-loss .js-plotly-plot');
    const trace = el && el.data && el.data[0];
    const xs = trace ? trace.x : [];
    const badge = document.getElementById('connection');
    return {heap: performance.memory ? performance.memory.usedJSHeapSize : null, points: xs.length,
            last: xs.length ? Number(xs[xs.length - 1]) : null, connection: badge ? badge.textContent : null};
}
"""
RSS_GOAL_MB, RSS_REQUIREMENT_MB, HEAP_GOAL_MB = 300, 1024, 150
STORE_BYTES_PER_POINT = 12  # the server's LiveStore: int32 step, float32 value, float32 time


class Writer(threading.Thread):
    """Logs LOGS_PER_S × len(METRICS) values per simulated second, `speedup` simulated seconds per second."""

    def __init__(self, run: Run, speedup: float, total_steps: int, first_step: int) -> None:
        super().__init__(name="soak-writer", daemon=True)
        self.tracker, self.speedup, self.total_steps = run, speedup, total_steps
        self.steps = first_step
        self.started = 0.0
        self.stop = threading.Event()

    def sim_seconds(self) -> float:
        return self.steps / LOGS_PER_S

    def run(self) -> None:
        self.started = time.monotonic()
        while self.steps < self.total_steps and not self.stop.is_set():
            due = min(self.total_steps, int((time.monotonic() - self.started) * self.speedup * LOGS_PER_S))
            for step in range(self.steps, min(due, self.steps + 2_000)):  # a bounded burst when behind
                self.log(step)
            self.steps = max(self.steps, min(due, self.steps + 2_000))
            time.sleep(0.005)

    def log(self, step: int) -> None:
        decay = math.exp(-step / 200_000)
        metrics = {key: 0.01 * (i + 1) + decay + 0.02 * math.sin(step * 0.37 + i) for i, key in enumerate(METRICS)}
        metrics["train/loss"] = 1.3 + 3.0 * decay + 0.05 * math.sin(step * 0.91)
        self.tracker.log(metrics, step=step)


@dataclass
class Sample:
    sim_h: float
    real_s: float
    written: int
    server_mb: float
    heap_mb: float | None
    browser_mb: float
    chart_points: int
    lag_s: float | None
    connection: str | None


def chromium_pss_mb() -> float:
    """Memory of the Chromium processes started under this one: PSS, so shared pages are counted once in all."""
    total = 0
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name().lower():
                total += child.memory_full_info().pss
        except psutil.Error:
            continue
    return total / 2**20


def take_sample(page, server: psutil.Process, writer: Writer, began: float) -> Sample:
    state = page.evaluate(PAGE_JS)
    steps = writer.steps
    lag = (steps - 1 - state["last"]) / LOGS_PER_S if state["last"] is not None and steps else None
    return Sample(
        sim_h=writer.sim_seconds() / 3600, real_s=time.monotonic() - began, written=steps * len(METRICS),
        server_mb=server.memory_info().rss / 2**20,
        heap_mb=state["heap"] / 2**20 if state["heap"] is not None else None,
        browser_mb=chromium_pss_mb(), chart_points=state["points"], lag_s=lag, connection=state["connection"],
    )


def table(samples: list[Sample]) -> str:
    header = (f"| {'sim h':>6} | {'real s':>6} | {'points written':>14} | {'server RSS MB':>13} | {'JS heap MB':>10} "
              f"| {'Chromium PSS MB':>15} | {'loss chart pts':>14} | {'chart lag (sim s)':>17} | {'badge':<14} |")
    lines = [header, "|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|"]
    for s in samples:
        heap = f"{s.heap_mb:10.1f}" if s.heap_mb is not None else f"{'-':>10}"
        lag = f"{s.lag_s:17,.0f}" if s.lag_s is not None else f"{'-':>17}"
        lines.append(f"| {s.sim_h:6.2f} | {s.real_s:6.0f} | {s.written:>14,} | {s.server_mb:13.0f} | {heap} "
                     f"| {s.browser_mb:15.0f} | {s.chart_points:>14,} | {lag} | {str(s.connection):<14} |")
    return "\n".join(lines)


def summary(samples: list[Sample], warm_h: float) -> list[str]:
    warm = next((s for s in samples if s.sim_h >= warm_h), samples[0])
    end = samples[-1]
    grown = end.server_mb - warm.server_mb
    kept = sum(1 for m in METRICS if m in metrics_needed()) / len(METRICS)  # the server holds only what the page shows
    held = int((end.written - warm.written) * kept)
    series = held * STORE_BYTES_PER_POINT / 2**20
    peak = max(s.server_mb for s in samples)
    heaps = [s.heap_mb for s in samples if s.heap_mb is not None]
    verdict = ("met" if peak <= RSS_GOAL_MB
               else "requirement met, goal missed" if peak <= RSS_REQUIREMENT_MB else "REQUIREMENT MISSED")
    lines = [
        f"server RSS after warm-up ({warm.sim_h:.1f} sim h): {warm.server_mb:.0f} MB; at the end ({end.sim_h:.1f} sim h): "
        f"{end.server_mb:.0f} MB; growth {grown:+.0f} MB, of which the stored series explain {series:.0f} MB "
        f"({STORE_BYTES_PER_POINT} B × {held:,} points held of {end.written - warm.written:,} written); "
        f"unexplained {grown - series:+.0f} MB",
        f"max server RSS: {peak:.0f} MB (goal ≤ {RSS_GOAL_MB} MB, requirement ≤ {RSS_REQUIREMENT_MB} MB: {verdict})",
    ]
    if heaps:
        heap_verdict = "met" if max(heaps) <= HEAP_GOAL_MB else "MISSED"
        lines.append(f"max JS heap: {max(heaps):.1f} MB (goal ≤ {HEAP_GOAL_MB} MB: {heap_verdict}); "
                     f"first {heaps[0]:.1f} MB, last {heaps[-1]:.1f} MB")
    lines.append(f"loss chart points in the browser: max {max(s.chart_points for s in samples):,}, "
                 f"at the end {end.chart_points:,}; max chart lag {max((s.lag_s or 0) for s in samples):,.0f} sim s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours of training")
    parser.add_argument("--speedup", type=float, default=160.0, help="simulated seconds per real second")
    parser.add_argument("--sample-every", type=float, default=None, help="simulated hours between samples (default hours/24)")
    parser.add_argument("--warm-up", type=float, default=None, help="simulated hours counted as warm-up (default hours/12)")
    args = parser.parse_args()
    sample_every = args.sample_every or args.hours / 24
    warm_h = args.warm_up if args.warm_up is not None else args.hours / 12
    total_steps = int(args.hours * 3600 * LOGS_PER_S)
    planned_s = args.hours * 3600 / args.speedup
    deadline_s = planned_s * 1.3 + 60  # a writer that cannot keep up is reported, not waited for

    from playwright.sync_api import sync_playwright

    samples: list[Sample] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        run = Run(runs_dir / RUN_ID, name="soak", config={"max_iters": total_steps})
        run.log({key: 0.0 for key in METRICS}, step=0)
        run.flush()
        port = free_port()
        proc = start_server(runs_dir, port)
        writer = Writer(run, args.speedup, total_steps, first_step=1)  # step 0 is logged already
        try:
            server = psutil.Process(probe_health("127.0.0.1", port)["pid"])
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/?run={RUN_ID}")
                page.wait_for_function(LOSS_CHART_HAS_POINTS_JS, timeout=60_000)
                began = time.monotonic()
                samples.append(take_sample(page, server, writer, began))
                writer.start()
                next_h = sample_every
                while writer.is_alive() and time.monotonic() - began < deadline_s:
                    time.sleep(0.25)
                    if writer.sim_seconds() / 3600 >= next_h - 1e-9:
                        samples.append(take_sample(page, server, writer, began))
                        next_h = (math.floor(samples[-1].sim_h / sample_every + 1e-9) + 1) * sample_every
                writer.stop.set()
                writer.join(10)
                time.sleep(2.0)  # let the last points reach the chart
                samples.append(take_sample(page, server, writer, began))
                browser.close()
        finally:
            writer.stop.set()
            run.finish(timeout=30)
            stop_process(proc)

    written = samples[-1].written
    real = samples[-1].real_s
    print(f"\nsoak: {args.hours:g} simulated hours at {LOGS_PER_S} logs/s × {len(METRICS)} metrics, "
          f"speedup {args.speedup:g} (planned {planned_s:.0f} s, took {real:.0f} s; the wall-clock axis is compressed "
          f"{args.speedup:g}×, steps are real)")
    print(f"points written: {written:,} of {total_steps * len(METRICS):,} planned "
          f"({written / max(real, 1e-9):,.0f} points/s)\n")
    print(table(samples))
    print()
    for line in summary(samples, warm_h):
        print(line)
    print(f"\ngoals: server RSS ≤ {RSS_GOAL_MB} MB (requirement ≤ {RSS_REQUIREMENT_MB} MB) and flat apart from the "
          f"series themselves; JS heap ≤ {HEAP_GOAL_MB} MB.")
    print("compression makes the server re-sample the charts speedup× as often as in real time, so the lag and CPU "
          "seen here are pessimistic; memory per point is not. Timings include whatever else ran on this machine.")


if __name__ == "__main__":
    main()
