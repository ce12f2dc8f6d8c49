"""Browser-test tools: a recording page, and a training stand-in that logs steadily."""

from __future__ import annotations

import threading
import time
from pathlib import Path


class Page:
    """A fresh browser context and page that records console errors and every request URL.
    `options` go to the context as they are (a device of DEVICES: touch, a viewport of its own)."""

    def __init__(self, browser, width: int = 1440, height: int = 900, **options) -> None:
        self.context = browser.new_context(**{"viewport": {"width": width, "height": height}, **options})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append((r.method, r.url)))

    def trace(self, chart: str = "loss", run: str | None = None, key: str = "train/loss", role: str = "line") -> dict | None:
        """One trace of a chart as the browser holds it, found by its meta (run, metric, role)."""
        return self.page.evaluate(
            """([chart, run, key, role]) => {
                const el = document.querySelector(`#chart-${chart} .js-plotly-plot`);
                if (!el || !el.data) return null;
                const t = el.data.find(t => t.meta && (run === null || t.meta.run === run) && t.meta.key === key && t.meta.role === role);
                return t ? {x: Array.from(t.x), y: Array.from(t.y), name: t.name, color: t.line && t.line.color, total: t.meta.total} : null;
            }""", [chart, run, key, role])

    def points(self, chart: str = "loss", run: str | None = None, key: str = "train/loss") -> int:
        trace = self.trace(chart, run, key)
        return len(trace["x"]) if trace else -1

    def steps(self, chart: str = "loss", run: str | None = None, key: str = "train/loss") -> list[int]:
        return self.trace(chart, run, key)["x"]

    def follow(self, port: int, run: str, points: int = 0, timeout: float = 30.0,
               what: str = "the first points") -> None:
        """Open `run`'s Live page by the URL train.py prints; wait for its loss chart to hold more than `points`."""
        self.page.goto(f"http://127.0.0.1:{port}/?run={run}")
        self.wait_until(lambda: self.points() > points, timeout=timeout, what=what)

    def has_every_step(self, logged: int, why: str = "no point lost or duplicated") -> None:
        """Wait for the loss chart to hold `logged` points, then check they are steps 0..logged-1, once each."""
        self.wait_until(lambda: self.points() == logged, timeout=30, what="every logged point")
        assert self.steps() == list(range(logged)), why

    def relayout(self, chart: str, update: dict) -> None:
        """What a zoom, pan or double-click does: a Plotly relayout on the chart."""
        self.page.evaluate("([chart, update]) => Plotly.relayout(document.querySelector(`#chart-${chart} .js-plotly-plot`), update)",
                           [chart, update])

    def zoom_until_in_url(self, chart: str, lo: float, hi: float) -> None:
        """Zoom `chart`'s x axis to [lo, hi] and wait for the URL to say so.

        The first width measurement redraws the charts a moment after load and can swallow a
        relayout made meanwhile: wait for it, and zoom again while the URL has not followed."""
        self.page.wait_for_timeout(2000)
        wanted = f"zoom_{chart}={lo:g},{hi:g}"

        def zoomed() -> bool:
            if wanted not in self.page.url:
                self.relayout(chart, {"xaxis.range": [lo, hi]})
                self.page.wait_for_timeout(1000)
            return wanted in self.page.url

        self.wait_until(zoomed, what=f"{wanted} in the URL")

    def wait_until(self, condition, timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            self.page.wait_for_timeout(100)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def close(self) -> None:
        self.context.close()


class SteadyWriter:
    """A training stand-in that logs one step every `interval` seconds from a thread."""

    def __init__(self, run_dir: Path, interval: float = 0.05) -> None:
        from nanogpt_dash.tracking import Run

        self.run = Run(run_dir)
        self.interval = interval
        self.step = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "SteadyWriter":
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run.log({"train/loss": 4.0 / (1 + 0.01 * self.step), "lr": 1e-3, "grad_norm": 1.0,
                          "tokens_per_sec": 1e4}, step=self.step)
            self.step += 1
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.run.finish()


class Fingers:
    """A touch screen on a page: real touch events sent over CDP (Input.dispatchTouchEvent), which
    Chromium handles as a finger's (hit testing, touch-action, scrolling, taps that become clicks),
    unlike touch events made in JavaScript. Points are CSS px from the viewport's top left."""

    def __init__(self, page) -> None:
        self.page = page
        self.cdp = page.context.new_cdp_session(page)
        self.at: list[tuple[float, float]] = []

    def _send(self, kind: str) -> None:
        points = [] if kind == "touchEnd" else [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(self.at)]
        self.cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    def down(self, *points: tuple[float, float]) -> None:
        self.at = list(points)
        self._send("touchStart")

    def move(self, *points: tuple[float, float], steps: int = 12) -> None:
        """Slide the fingers that are down in straight lines to `points`, a step every 30 ms, and rest there."""
        start = self.at
        for k in range(1, steps + 1):
            self.at = [(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps) for (x0, y0), (x1, y1) in zip(start, points)]
            self._send("touchMove")
            self.page.wait_for_timeout(30)
        for _ in range(3):  # a finger at rest: Chromium resamples moves to frames, and this lets it reach the end
            self._send("touchMove")
            self.page.wait_for_timeout(50)

    def up(self) -> None:
        self._send("touchEnd")
        self.at = []

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        self.down(start)
        self.move(end)
        self.up()

    def pinch(self, x: float, y: float, gap_from: float, gap_to: float) -> None:
        """Two fingers side by side about (x, y), `gap_from` px apart, moved until they are `gap_to` apart."""
        self.down((x - gap_from / 2, y), (x + gap_from / 2, y))
        self.move((x - gap_to / 2, y), (x + gap_to / 2, y))
        self.up()

    def tap(self, x: float, y: float) -> None:
        self.down((x, y))
        self.up()


# Context options of the devices the browser tests emulate (Playwright's new_context).
DEVICES = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 3},
    "tablet": {"viewport": {"width": 768, "height": 1024}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}

# Each page on the trained_runs fixture's runs, and what shows that it has drawn what a user
# would see (an audit or a measurement then sees it too).
RUNS = "lr-a,lr-b"

PAGES = {
    "live": ("/?runs=" + RUNS, """() => {
        const el = document.querySelector('#chart-loss .js-plotly-plot');
        return !!(el && el.data && el.data.some(t => t.x && t.x.length > 10))
            && document.querySelectorAll('#kpis .ngd-kpi').length > 0 && !!document.querySelector('#run-select .ngd-status'); }"""),
    "model": ("/model?runs=lr-a", """() => {
        const el = document.querySelector('#model-heatmap .js-plotly-plot');
        return !!(el && el.data && el.data.length) && !!document.querySelector('#model-graph canvas')
            && !!document.querySelector('#model-totals dl'); }"""),
    "analysis": ("/analysis?runs=lr-a", """() => !!document.querySelector('#analysis-summary table')
        && !!document.querySelector('#analysis-velocity .card') && !!document.querySelector('#analysis-sample pre')"""),
    "compare": ("/compare?runs=" + RUNS, """() => !!document.querySelector('.ngd-diff')
        && document.querySelectorAll('[id*="compare-side"] .js-plotly-plot').length === 2
        && document.querySelectorAll('#compare-runs input').length === 3"""),
}


def open_loaded(context, port: int, name: str, **options):
    path, ready = PAGES[name]
    page = context(**options).new_page()
    page.goto(f"http://127.0.0.1:{port}{path}")
    page.wait_for_function(ready, timeout=60_000, polling=200)
    return page
