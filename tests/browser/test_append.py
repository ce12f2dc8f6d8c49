"""Live points appended to the lines' SVG paths instead of a Plotly redraw (assets/charts.js), in real Chromium:
the point is drawn where Plotly would draw it, the view keeps following the run without recording a zoom,
Plotly's own state catches up before anyone hovers, and a point outside the axes still gets a redraw."""

import math
import threading
import time

from nanogpt_dash.tracking import Run

# the line path of the loss chart's train/loss trace: its last vertex, and where Plotly puts the last point
LAST_VERTEX_JS = """
() => {
    const el = document.querySelector('#chart-loss .js-plotly-plot');
    const index = el.data.findIndex(t => t.meta && t.meta.key === 'train/loss' && t.meta.role === 'line');
    const group = [...el.querySelectorAll('.scatterlayer .trace')].find(g => g.__data__[0].trace.index === index);
    const paths = group.querySelectorAll('path.js-line, path.ngd-tail');
    const d = paths[paths.length - 1].getAttribute('d');
    const vertex = d.split(/[ML]/).filter(Boolean).pop().split(',').map(Number);
    const t = el.data[index], xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis, n = t.x.length;
    return {vertex: vertex, expected: [xa.c2p(t.x[n - 1]), ya.c2p(t.y[n - 1])], points: n,
            calc: el.calcdata.find(cd => cd[0].trace.index === index).length,
            range: xa.range, lastX: t.x[n - 1], yRange: el._fullLayout.yaxis.range,
            tails: el.querySelectorAll('path.ngd-tail').length};
}
"""


class NoisyWriter:
    """Logs a loss that wanders within [1.5, 2.5] (the first steps span [1, 3]), one step every `interval` s."""

    def __init__(self, run_dir, interval: float = 0.1) -> None:
        self.run = Run(run_dir)
        self.interval = interval
        self.step = 0
        self.spike: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def log(self, loss: float) -> None:
        self.run.log({"train/loss": loss, "lr": 1e-3, "grad_norm": 1.0, "tokens_per_sec": 1e4}, step=self.step)
        self.step += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            loss, self.spike = (self.spike, None) if self.spike is not None else (2.0 + 0.5 * math.sin(self.step), None)
            self.log(loss)
            time.sleep(self.interval)

    def __enter__(self) -> "NoisyWriter":
        for loss in (1.0, 3.0) * 20:
            self.log(loss)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.run.finish()


def test_points_within_the_axes_are_appended_where_plotly_would_draw_them(runs_dir, server, open_page):
    port, _ = server
    with NoisyWriter(runs_dir / "noisy"):
        view = open_page()
        view.follow(port, "noisy", points=60, timeout=60, what="the first live points")
        appended = view.page.evaluate("window.ngdCharts.appended")
        view.wait_until(lambda: view.page.evaluate("window.ngdCharts.appended") > appended + 10, timeout=30,
                        what="pushes appended without a redraw")
        # a moment after an append (a redraw comes now and then, when x runs out of room)
        seen = {}
        view.wait_until(lambda: (seen.update(view.page.evaluate(LAST_VERTEX_JS)) or seen["calc"] < seen["points"]),
                        timeout=30, what="appended points that Plotly's own state does not know yet")
        line = seen
        # drawn: the path ends at the newest point
        assert abs(line["vertex"][0] - line["expected"][0]) < 0.5 and abs(line["vertex"][1] - line["expected"][1]) < 0.5
        assert line["tails"] > 0
        # following the run: x has room ahead of the newest step, and that is not a zoom
        assert line["range"][1] > line["lastX"]
        assert "zoom_loss" not in view.page.url
        assert view.errors == []


def test_the_chart_is_redrawn_before_the_pointer_reaches_it_and_for_a_point_off_the_axes(runs_dir, server, open_page):
    port, _ = server
    with NoisyWriter(runs_dir / "noisy") as writer:
        view = open_page()
        view.follow(port, "noisy", points=60, timeout=60, what="the first live points")
        view.wait_until(lambda: view.page.evaluate(LAST_VERTEX_JS)["calc"] < view.points(), timeout=30,
                        what="appended points")
        box = view.page.locator("#chart-loss .js-plotly-plot").bounding_box()
        view.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        # hover sees every point: Plotly drew the chart from its data, and redraws while the pointer stays
        view.wait_until(lambda: (lambda s: s["calc"] == s["points"])(view.page.evaluate(LAST_VERTEX_JS)), timeout=5,
                        what="Plotly's state to hold every point")
        assert view.page.evaluate(LAST_VERTEX_JS)["tails"] == 0, "Plotly's lines hold the appended points now"
        points = view.points()
        view.wait_until(lambda: view.points() > points + 5, timeout=30, what="more points")
        line = view.page.evaluate(LAST_VERTEX_JS)
        assert line["calc"] >= line["points"] - 3  # at most the push that arrived since the last redraw

        view.page.mouse.move(1, 1)
        writer.spike = 50.0
        view.wait_until(lambda: view.page.evaluate(LAST_VERTEX_JS)["yRange"][1] > 50, timeout=30,
                        what="the y axis to take in the spike")
        assert view.errors == []


def test_a_fast_run_leaves_room_for_the_next_seconds_and_is_seldom_redrawn(runs_dir, server, open_page):
    # 20 steps a second against a span of a few hundred: room for a fifth of the span alone would
    # redraw every chart about once a second
    from browsing import SteadyWriter

    port, _ = server
    with SteadyWriter(runs_dir / "fast", interval=0.05):
        view = open_page()
        view.follow(port, "fast", points=60, timeout=60, what="the first live points")
        view.page.wait_for_timeout(3000)  # the pace is known
        before = view.page.evaluate("({...window.ngdCharts})")
        view.page.wait_for_timeout(6000)
        after = view.page.evaluate("({...window.ngdCharts})")
        line = view.page.evaluate(LAST_VERTEX_JS)
    appended, redrawn = after["appended"] - before["appended"], after["redrawn"] - before["redrawn"]
    assert appended > 4 * redrawn, f"{appended} appends, {redrawn} redraws in 6 s"
    assert redrawn <= 8, f"{redrawn} redraws of 4 charts in 6 s"
    assert line["range"][1] - line["lastX"] >= 0.2 * line["lastX"], "x has room ahead"
    assert view.errors == []
