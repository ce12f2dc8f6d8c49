"""Ten viewers on one run: time from `Run.log()` to the point in each browser's chart, at 5 and 10 Hz.

A real server process and real headless Chromium (Debian's) with one browser context per viewer.
Dash 4's WebSocket callbacks go through a SharedWorker, which pages of one context share; separate
contexts give each viewer its own worker and its own WebSocket, as ten people's browsers would
(the server's /health `clients` count is checked and printed). All viewers watch the same run at
the default 5 updates/s, then at 10. A writer in this process logs one step (train/loss) at random
intervals of 0.25-0.6 s; each page records `Date.now()` when a new step is drawn in its loss chart
(Plotly's afterplot/react events and charts.js's ngd_appended, with a 50 ms poll behind them), on the same clock as the
`time.time()` taken just before `Run.log()`. Server, browser and machine CPU are sampled meanwhile.

    python bench/viewers.py [--viewers 10] [--samples 60] [--all-metrics]
"""

from __future__ import annotations

import argparse
import random
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
from nanogpt_dash.net import probe_health  # noqa: E402
from nanogpt_dash.tracking import Run  # noqa: E402

GOAL_P95_MS = 250.0
WARM_UP_STEPS = 8  # logged at each rate before measuring: the first phase measured worse without them
DRAIN_TIMEOUT_S = 10.0  # after the last log(), how long a page may take to draw it before it counts as missing
LOSS_READY_JS = """
() => {
    const el = document.querySelector('#chart-loss .js-plotly-plot');
    return el && el.data && el.data[0] && el.data[0].x.length > 0;
}
"""
# First sighting of each step in the loss line, with the server's clock on the push that brought
# it (the server's time.time() on the feed that brought it: assets/push.js keeps it). Plotly emits
# afterplot/react once an update is drawn; the poll only catches what the events would miss
# (counted, to show that it does not matter).
WATCH_JS = """
() => {
    window.seen = {};
    window.seenByPoll = 0;
    const el = document.querySelector('#chart-loss .js-plotly-plot');
    const answered = () => window.ngdPush.serverTime;
    let known = 0;
    const scan = (byPoll) => {
        const xs = el.data && el.data[0] ? el.data[0].x : [];
        if (xs.length < known) known = 0;  // a rebuilt chart: first sightings are kept
        if (xs.length === known) return;
        const now = Date.now(), server = answered();
        for (let i = known; i < xs.length; i++) {
            if (!(xs[i] in window.seen)) { window.seen[xs[i]] = [now, server]; if (byPoll) window.seenByPoll++; }
        }
        known = xs.length;
    };
    el.on('plotly_afterplot', () => scan(false));
    el.on('plotly_react', () => scan(false));
    el.on('ngd_appended', () => scan(false));  // points drawn onto the lines without a redraw (assets/charts.js)
    scan(false);
    setInterval(() => scan(true), 50);
}
"""


@dataclass
class Seen:
    """One viewer's latencies, ms: in all, and the part until the server answered the request that brought it."""

    total: np.ndarray
    server: np.ndarray
    missing: int
    by_poll: int


@dataclass
class Phase:
    hz: int
    latencies_ms: list[np.ndarray]  # per viewer
    server_ms: np.ndarray  # log() to the tick callback's answer, all viewers
    missing: list[int]
    by_poll: int
    seconds: float
    server_cpu: float
    server_cpu_peak: float
    browser_cpu: float
    machine_cpu: float
    clients: int | None
    requests_per_viewer_s: float | None  # WebSocket messages the server received, per viewer and second


class CpuSampler:
    """Average and peak (1 s windows) CPU of a process, with the browsers' and the machine's beside it."""

    def __init__(self, server: psutil.Process) -> None:
        self.server = server
        self.browsers = [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name().lower()]
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def __enter__(self) -> "CpuSampler":
        self.t0 = time.monotonic()
        self.server0, self.browsers0 = cpu_seconds([self.server]), cpu_seconds(self.browsers)
        psutil.cpu_percent(None)
        self._thread.start()
        return self

    def _loop(self) -> None:
        last_t, last_cpu = time.monotonic(), cpu_seconds([self.server])
        while not self._stop.wait(1.0):
            t, cpu = time.monotonic(), cpu_seconds([self.server])
            self.peak = max(self.peak, 100.0 * (cpu - last_cpu) / (t - last_t))
            last_t, last_cpu = t, cpu

    def __exit__(self, *exc: object) -> None:
        self.machine = psutil.cpu_percent(None)
        self.seconds = time.monotonic() - self.t0
        self.server_avg = 100.0 * (cpu_seconds([self.server]) - self.server0) / self.seconds
        self.browsers_avg = 100.0 * (cpu_seconds(self.browsers) - self.browsers0) / self.seconds
        self._stop.set()
        self._thread.join(2)




def log_samples(run: Run, first_step: int, samples: int, all_metrics: bool) -> dict[int, float]:
    """Log `samples` steps at random intervals; the time.time() taken just before each log()."""
    logged = {}
    for step in range(first_step, first_step + samples):
        time.sleep(random.uniform(0.25, 0.6))  # independent of the tick phase
        metrics = {"train/loss": 4.0 / (1 + 0.01 * step)}
        if all_metrics:
            metrics.update({"lr": 6e-4, "grad_norm": 1.0 + 0.01 * (step % 7), "tokens_per_sec": 2.5e4 + step})
        logged[step] = time.time()
        run.log(metrics, step=step)
    return logged


def wait_until_drawn(pages: list, step: int, timeout: float) -> None:
    """Until every page has drawn `step`, or `timeout` seconds; what is still missing is counted as such."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    end = time.monotonic() + timeout
    for page in pages:
        try:
            page.wait_for_function("(step) => step in window.seen", arg=str(step), polling=50,
                                   timeout=max(100.0, 1000.0 * (end - time.monotonic())))
        except PlaywrightTimeout:
            pass


def seen_by(page, logged: dict[int, float]) -> Seen:
    seen, by_poll = page.evaluate("[window.seen, window.seenByPoll]")
    total, server = [], []
    for step, t in logged.items():
        if str(step) in seen:
            shown, answered = seen[str(step)]
            total.append(shown - 1000.0 * t)
            if answered is not None:
                server.append(1000.0 * (answered - t))
    return Seen(np.asarray(total), np.asarray(server), len(logged) - len(total), by_poll)



def stats(ms: np.ndarray) -> list[str]:
    """p50, p95, max."""
    if not len(ms):
        return ["-", "-", "-"]
    return [f"{x:.0f}" for x in (np.percentile(ms, 50), np.percentile(ms, 95), ms.max())]




def print_tables(phases: list[Phase], viewers: int, samples: int, all_metrics: bool) -> None:
    what = "train/loss, lr, grad_norm, tokens_per_sec" if all_metrics else "train/loss"
    print(f"\n{viewers} viewers (one browser context each), one run, {samples} steps per rate logging {what}; "
          "latency from log() to drawn in each viewer's loss chart, ms\n")
    header = ["viewer"] + [f"{p.hz} Hz {c}" for p in phases for c in ("p50", "p95", "max", "missing")]
    rows = [[str(v + 1)] + [c for p in phases for c in (*stats(p.latencies_ms[v]), str(p.missing[v]))]
            for v in range(viewers)]
    print(table(header, rows))

    print()
    header = ["rate", "latencies", "p50 ms", "p95 ms", "max ms", "of which until answered p50 / p95", "worst viewer p95",
              "viewers p95 <= 250", "missing",
              "received/s per viewer", "server CPU % avg / peak 1 s", "browsers CPU %", "machine CPU %",
              "WebSockets"]
    rows = []
    for p in phases:
        every = np.concatenate(p.latencies_ms) if any(len(ms) for ms in p.latencies_ms) else np.asarray([])
        p95s = [np.percentile(ms, 95) for ms in p.latencies_ms if len(ms)]
        server = (f"{np.percentile(p.server_ms, 50):.0f} / {np.percentile(p.server_ms, 95):.0f}"
                  if len(p.server_ms) else "-")
        rows.append([f"{p.hz} Hz" + (" (default)" if p.hz == 5 else ""), str(len(every)), *stats(every), server,
                     f"{max(p95s):.0f}" if p95s else "-", f"{sum(x <= GOAL_P95_MS for x in p95s)} / {viewers}",
                     str(sum(p.missing)),
                     f"{p.requests_per_viewer_s:.1f}" if p.requests_per_viewer_s is not None else "-",
                     f"{p.server_cpu:.0f} / {p.server_cpu_peak:.0f}", f"{p.browser_cpu:.0f}",
                     f"{p.machine_cpu:.0f}", str(p.clients) if p.clients is not None else "-"])
    print(table(header, rows))
    print(f"\ngoal: p95 <= {GOAL_P95_MS:.0f} ms for every viewer. CPU %: 100 = one core (server, browsers), "
          f"machine = all {psutil.cpu_count()} cores. Browsers = every Chromium process of the {viewers} viewers.")
    print("'until answered': log() to the server's clock on the push that brought the step (its feed's "
          "'at'): the writer's batching, the LiveStore's poll (when a tab's next update may go, and every 50 ms while a tab could take new rows at once), the wait for the tab's rate and the push itself. "
          "The rest is the WebSocket, Dash and Plotly in the browser.")
    print("requests/s per viewer: WebSocket messages the server received from each viewer (pushed, not polled: "
          "only Dash's heartbeats and the viewer's own actions).")
    polled = sum(p.by_poll for p in phases)
    if polled:
        print(f"{polled} steps were first seen by the 50 ms poll rather than a Plotly event (up to 50 ms late).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--samples", type=int, default=60, help="steps logged per rate")
    parser.add_argument("--rates", default="5,10", help="updates/s to measure, in order")
    parser.add_argument("--all-metrics", action="store_true", help="log the four charted metrics per step")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="abort after this long in all")
    parser.add_argument("--server-args", default="", help="extra flags for the dashboard server, e.g. --nice=0")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    phases: list[Phase] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        run = Run(runs_dir / "shared")
        run.log({"train/loss": 4.0, "lr": 6e-4, "grad_norm": 1.0, "tokens_per_sec": 2.5e4}, step=0)
        run.flush()
        port = free_port()
        server = start_server(runs_dir, port, *args.server_args.split())
        with deadline(args.max_seconds, lambda: stop_process(server)):
            try:
                server_proc = psutil.Process(server.pid)
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                    pages, errors = [], []
                    for _ in range(args.viewers):
                        context = browser.new_context(viewport={"width": 1440, "height": 900})
                        page = context.new_page()
                        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                        page.on("pageerror", lambda e: errors.append(str(e)))
                        page.set_default_timeout(60_000)
                        page.goto(f"http://127.0.0.1:{port}/?run=shared")
                        pages.append(page)
                    for page in pages:
                        page.wait_for_function(LOSS_READY_JS, timeout=60_000)
                        page.evaluate(WATCH_JS)
                    step = 1
                    for hz in (int(r) for r in args.rates.split(",")):
                        for page in pages:
                            page.select_option("#rate", str(hz))
                        step += len(log_samples(run, step, WARM_UP_STEPS, args.all_metrics))  # not measured
                        before = probe_health("127.0.0.1", port, timeout=5)
                        with CpuSampler(server_proc) as cpu:
                            logged = log_samples(run, step, args.samples, args.all_metrics)
                            wait_until_drawn(pages, max(logged), DRAIN_TIMEOUT_S)
                        after = probe_health("127.0.0.1", port, timeout=5)
                        step += args.samples
                        seen = [seen_by(page, logged) for page in pages]
                        asks = (None if before is None or after is None else
                                (after["websocket_messages"] - before["websocket_messages"]) / cpu.seconds / len(pages))
                        phases.append(Phase(hz, [v.total for v in seen], np.concatenate([v.server for v in seen]),
                                            [v.missing for v in seen], sum(v.by_poll for v in seen), cpu.seconds,
                                            cpu.server_avg, cpu.peak, cpu.browsers_avg, cpu.machine,
                                            before.get("clients") if before else None, asks))
                    browser.close()
            finally:
                run.finish()
                stop_process(server)
    print_tables(phases, args.viewers, args.samples, args.all_metrics)
    if errors:
        print(f"{len(errors)} errors in the pages' consoles, the first: {errors[0]}")


if __name__ == "__main__":
    main()
