"""The live page in real Chromium: loading, live points, WebSocket transport, recovery, new runs."""

import signal
import subprocess
import sys
import time

from nanogpt_dash.net import probe_health
from nanogpt_dash.ui.figures import run_color

from helpers import REPO, TINY_TRAIN_ARGS, free_port, start_server, stop_process
from browsing import SteadyWriter


def test_page_loads_without_console_errors_or_requests_leaving_the_server(runs_dir, server, open_page):
    port, _ = server
    with SteadyWriter(runs_dir / "quiet"):
        view = open_page()
        view.follow(port, "quiet")
    assert view.errors == []
    outside = [url for _, url in view.requests if not url.startswith(f"http://127.0.0.1:{port}/")]
    assert outside == []


def test_loss_chart_gains_points_while_train_py_runs_over_the_websocket(runs_dir, server, open_page):
    port, _ = server
    out_dir = runs_dir / "live"
    train = subprocess.Popen([sys.executable, "train.py", *TINY_TRAIN_ARGS, f"--out_dir={out_dir}", "--max_iters=400",
                              "--dashboard_autostart=False"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        view = open_page()
        view.follow(port, "live", points=5, timeout=120, what="train.py's first points")
        posts_before = sum(1 for method, url in view.requests if "_dash-update-component" in url)
        before = probe_health("127.0.0.1", port)
        messages_before, sent_before = before["websocket_messages"], before["websocket_sent"]
        first = view.points()
        view.wait_until(lambda: view.points() >= first + 10, timeout=60, what="the chart to gain points")
        posts_after = sum(1 for method, url in view.requests if "_dash-update-component" in url)
        health = probe_health("127.0.0.1", port)
        assert posts_after == posts_before == 0, "callbacks must not go over HTTP POST"
        assert health["websocket_sent"] > sent_before and health["clients"] >= 1
        # pushed, not polled: the browser sends the odd heartbeat, not a request per update
        assert health["websocket_messages"] - messages_before <= 3
        # train.py shares the 2 cores: allow the badge a moment if an answer ran late
        view.wait_until(lambda: view.page.inner_text("#connection") == "live", timeout=30, what="the 'live' badge")
        assert view.errors == []
    finally:
        train.kill()
        train.wait()


def test_killing_and_restarting_the_server_recovers_the_page_without_losing_points(runs_dir, open_page):
    port = free_port()
    server = start_server(runs_dir, port)
    try:
        with SteadyWriter(runs_dir / "steady", interval=0.05) as writer:
            view = open_page()
            view.follow(port, "steady", points=10)
            view.page.evaluate("window.notReloaded = true")
            stream = view.page.evaluate("window.ngdPush.cursor.stream")

            stop_process(server, signal.SIGKILL)
            view.wait_until(lambda: view.page.inner_text("#connection") in ("reconnecting…", "server unreachable"),
                            timeout=30, what="the indicator to notice the outage")
            during_outage = view.points()
            time.sleep(1.0)

            server = start_server(runs_dir, port)
            view.wait_until(lambda: view.points() > during_outage + 20, timeout=30, what="updates to resume")
            view.wait_until(lambda: view.page.inner_text("#connection") == "live", timeout=30, what="'live' again")
            assert view.page.evaluate("window.notReloaded === true"), "recovered without a page reload"
            # the new server went on from the tab's cursor (assets/push.js gives it to Dash on reconnecting)
            assert view.page.evaluate("window.ngdPush.cursor.stream") == stream, "the new server started from the tab's cursor"
        logged = writer.step
        view.has_every_step(logged, "no point lost or duplicated across the restart")
    finally:
        stop_process(server)


def test_the_key_numbers_follow_the_run_as_text_and_its_end_brings_new_cards(runs_dir, server, open_page):
    # once the cards show, their numbers change as text written into them (assets/kpis.js), not as
    # new cards; a change beyond text (the status badge at the run's end) brings new cards
    port, _ = server

    def card(label: str) -> str | None:
        return view.page.evaluate("""label => {
            const kpi = Array.from(document.querySelectorAll('#kpis .ngd-kpi'))
                .find(k => k.querySelector('.ngd-kpi-label').textContent === label);
            return kpi ? kpi.querySelector('.ngd-kpi-value').textContent : null; }""", label)

    def step() -> int:
        return int((card("step") or "-1").replace(",", "").replace("–", "-1"))

    with SteadyWriter(runs_dir / "numbers", interval=0.05) as writer:
        view = open_page()
        view.page.goto(f"http://127.0.0.1:{port}/?run=numbers")
        view.wait_until(lambda: step() >= 0, what="the key numbers")
        assert not view.page.is_visible("#focus"), "one run: no choice of whose numbers to show"
        view.page.evaluate("document.querySelector('#kpis .ngd-kpi-value').ngdMark = 'same cards'")
        first = step()
        view.wait_until(lambda: step() >= first + 20, what="the step card to follow the run")
        assert view.page.evaluate("document.querySelector('#kpis .ngd-kpi-value').ngdMark") == "same cards"
        assert card("numbers") == "running"
    last = writer.step - 1
    view.wait_until(lambda: step() == last and card("numbers") == "finished", what="the run's last step and its end")
    assert view.page.evaluate("document.querySelector('#kpis .ngd-kpi-value').ngdMark") is None, "new cards"
    assert view.errors == []


def test_a_second_concurrent_run_appears_in_the_selector(runs_dir, server, open_page):
    port, _ = server
    with SteadyWriter(runs_dir / "first"):
        view = open_page()
        view.page.goto(f"http://127.0.0.1:{port}/")
        view.wait_until(lambda: "first" in view.page.inner_text("#run-select"), what="the first run")
        with SteadyWriter(runs_dir / "second"):
            view.wait_until(lambda: "second" in view.page.inner_text("#run-select"), timeout=30, what="the second run")
            view.page.locator("#run-select input").nth(1).check()
            view.wait_until(lambda: view.points(run="second") > 0, timeout=30, what="the second run's trace")
        first, second = view.trace(run="first"), view.trace(run="second")
        assert first["name"].startswith("first") and second["name"].startswith("second")
        assert (first["color"], second["color"]) == (run_color("first", 0), run_color("second", 1)), \
            "a colour per run, by its number in the runs folder: two runs in a row never share one"


def test_zooming_a_live_chart_keeps_the_zoom_and_every_point(runs_dir, server, open_page):
    # A zoom makes dcc.Graph replot from its `figure` prop; points that arrived as extendData must be in it.
    port, _ = server
    with SteadyWriter(runs_dir / "zoomed", interval=0.02) as writer:
        view = open_page()
        view.follow(port, "zoomed", points=100, what="points to zoom into")
        view.relayout("loss", {"xaxis.range": [10, 60]})
        zoomed_at = view.points()
        view.wait_until(lambda: view.points() > zoomed_at + 30, what="points arriving while zoomed")
        x_range = view.page.evaluate("document.querySelector('#chart-loss .js-plotly-plot').layout.xaxis.range")
        assert x_range == [10, 60], "new points must not reset the zoom"
    logged = writer.step
    view.has_every_step(logged, "no point lost or duplicated by the zoom")
    assert view.errors == []


def test_live_nan_values_get_markers_whose_count_keeps_up(runs_dir, server, open_page):
    # The first NaN rebuilds the chart with a marker trace; later ones arrive as extendData, and the
    # alert above the charts keeps the count.
    from nanogpt_dash.tracking import Run

    port, _ = server
    run = Run(runs_dir / "nans")
    view = open_page()
    try:
        for step in range(30):
            run.log({"train/loss": 1.0 / (1 + step)}, step=step)
        run.flush()
        view.page.goto(f"http://127.0.0.1:{port}/?run=nans")
        view.wait_until(lambda: view.points() == 30, what="the first points")
        for step in range(30, 90):
            run.log({"train/loss": float("nan") if step % 3 == 0 else 1.0 / (1 + step)}, step=step)
            time.sleep(0.03)
        run.flush()
        view.wait_until(lambda: view.points() == 90, timeout=30, what="every logged point")
        view.wait_until(lambda: (view.trace(role="errors") or {}).get("x") == list(range(30, 90, 3)), timeout=15,
                        what="a marker for every NaN")
        view.wait_until(lambda: "train/loss: 20 NaN (last at step 87)" in view.page.inner_text("#alerts"),
                        timeout=30, what="the count in the alert")
        assert view.steps() == list(range(90)), view.steps()
        assert view.errors == []
    finally:
        run.finish()


def test_a_loss_spike_of_a_run_being_written_gets_a_marker_at_its_step(runs_dir, server, open_page):
    # The first spike redraws the loss chart with a marker trace; a later one arrives as new points
    # of that trace (same figure revision), with its hover text.
    import numpy as np

    from nanogpt_dash.tracking import Run

    port, _ = server
    rng = np.random.default_rng(0)
    run = Run(runs_dir / "spiky")
    view = open_page()

    def log(steps, spikes):
        for step in steps:
            run.log({"train/loss": 2.0 + rng.normal(0, 0.02) + (1.0 if step in spikes else 0.0)}, step=step)
            time.sleep(0.02)
        run.flush()

    def anomalies() -> dict:
        return view.page.evaluate("""() => {
            const el = document.querySelector('#chart-loss .js-plotly-plot');
            const marks = el && el.data ? el.data.filter(t => t.meta && t.meta.role === 'anomalies') : [];
            return {x: marks.flatMap(t => Array.from(t.x)), hover: marks.flatMap(t => t.customdata.map(c => c[2] + ': ' + c[3])),
                    rev: el && el.layout.meta ? el.layout.meta.rev : null};
        }""")

    try:
        log(range(40), spikes=())
        view.page.goto(f"http://127.0.0.1:{port}/?run=spiky")
        view.wait_until(lambda: view.points() == 40, what="the first points")
        assert anomalies()["x"] == []
        log(range(40, 100), spikes=(70,))
        view.wait_until(lambda: anomalies()["x"] == [70], timeout=30, what="a marker at the spike's step")
        first = anomalies()
        assert first["hover"][0].startswith("spike: train/loss jumped to"), first["hover"]
        log(range(100, 160), spikes=(130,))
        view.wait_until(lambda: view.points() == 160, timeout=30, what="every logged point")
        view.wait_until(lambda: anomalies()["x"] == [70, 130], timeout=15, what="a marker at the second spike")
        assert anomalies()["rev"] == first["rev"], "the second marker came as new points, not a redraw"
        assert view.steps() == list(range(160))
        assert view.errors == []
    finally:
        run.finish()


def test_the_server_pushes_at_most_at_the_chosen_rate_nothing_while_hidden_and_catches_up(runs_dir, server, open_page):
    port, _ = server
    with SteadyWriter(runs_dir / "paced", interval=0.02) as writer:
        view = open_page()
        view.follow(port, "paced")
        def pushes_in(seconds: float) -> int:  # pushes and heartbeats
            before = view.page.evaluate("window.ngdPush.pulses")
            view.page.wait_for_timeout(seconds * 1000)
            return view.page.evaluate("window.ngdPush.pulses") - before

        view.page.select_option("#rate", "10")
        view.page.wait_for_timeout(500)
        assert 6 <= pushes_in(3) <= 33, "up to 10 pushes a second while 50 steps a second arrive, never more"
        view.page.select_option("#rate", "2")
        view.page.wait_for_timeout(1000)
        assert 3 <= pushes_in(3) <= 8, "the rate follows the select"
        view.page.evaluate("""() => { Object.defineProperty(document, 'visibilityState', {get: () => 'hidden', configurable: true});
            document.dispatchEvent(new Event('visibilitychange')); }""")
        view.page.wait_for_timeout(1000)
        hidden_points = view.points()
        assert pushes_in(3) == 0, "nothing at all is sent to a hidden tab"
        assert view.points() == hidden_points
        view.page.evaluate("() => { delete document.visibilityState; document.dispatchEvent(new Event('visibilitychange')); }")
        logged = writer.step
        view.wait_until(lambda: view.points() >= logged, timeout=10, what="the catch-up after the tab is shown")
        steps = view.steps()
        assert steps == list(range(len(steps))), "no gap and no duplicate after the catch-up"
        assert view.errors == []
