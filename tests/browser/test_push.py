"""Server push in real Chromium: tabs agree, a hidden tab sleeps and catches up, the view lives in the URL."""

from __future__ import annotations

import time

from nanogpt_dash.net import probe_health
from nanogpt_dash.ui import ids

from browsing import SteadyWriter
from helpers import free_port, start_server, stop_process


def test_two_tabs_of_one_page_end_with_identical_points(runs_dir, server, open_page):
    port, _ = server
    with SteadyWriter(runs_dir / "shared", interval=0.02) as writer:
        first, second = open_page(), open_page()
        first.page.goto(f"http://127.0.0.1:{port}/?run=shared")
        time.sleep(1.0)
        second.page.goto(f"http://127.0.0.1:{port}/?run=shared")
        for view in (first, second):
            view.wait_until(lambda: view.points() > 20, what="the first points")
        time.sleep(2.0)
    logged = writer.step
    for view in (first, second):
        view.has_every_step(logged)
    assert first.errors == second.errors == []


def test_a_tab_busy_for_seconds_gets_every_point_once(runs_dir, server, open_page):
    # pushes arrive while the page's main thread is busy and are handed to the page all at once
    port, _ = server
    with SteadyWriter(runs_dir / "busy", interval=0.02) as writer:
        view = open_page()
        view.follow(port, "busy", points=20)
        seq = view.page.evaluate("window.ngdCharts.seq")
        view.page.evaluate("() => { const t = performance.now(); while (performance.now() - t < 4000) {} }")
        view.wait_until(lambda: view.page.evaluate("window.ngdCharts.seq") > seq + 15, what="the pushes sent meanwhile")
    logged = writer.step
    view.has_every_step(logged)
    assert view.errors == []


def test_back_on_the_live_page_after_another_page_every_point_arrives_once(runs_dir, server, open_page):
    # the Live page's pushes start anew (a new stream) each time the tab opens it: the first of them
    # is not taken for one the tab already had from its previous visit
    port, _ = server
    with SteadyWriter(runs_dir / "away", interval=0.02) as writer:
        view = open_page()
        view.follow(port, "away", points=20)
        view.page.click(f"#{ids.nav('/model')}")
        view.page.wait_for_timeout(2000)
        view.page.click(f"#{ids.nav('/')}")
        view.wait_until(lambda: view.points() > 0, what="the charts again")
        view.page.wait_for_timeout(2000)
    view.has_every_step(writer.step, "no point lost or duplicated after coming back")
    assert view.errors == []


def test_a_tab_hidden_past_the_idle_timeout_disconnects_and_resumes_when_shown(runs_dir, open_page):
    port = free_port()
    server = start_server(runs_dir, port, "--idle-timeout", "3")
    try:
        with SteadyWriter(runs_dir / "sleepy", interval=0.05) as writer:
            view = open_page()
            view.follow(port, "sleepy", points=10)
            view.wait_until(lambda: probe_health("127.0.0.1", port)["clients"] == 1, what="the tab's WebSocket")
            view.page.evaluate("""() => { Object.defineProperty(document, 'visibilityState', {get: () => 'hidden', configurable: true});
                document.dispatchEvent(new Event('visibilitychange')); }""")
            view.wait_until(lambda: probe_health("127.0.0.1", port)["clients"] == 0, timeout=30,
                            what="the idle timeout to close the hidden tab's WebSocket")
            asleep = view.points()
            time.sleep(1.0)
            assert view.points() == asleep, "a hidden tab is sent nothing"
            view.page.evaluate("() => { delete document.visibilityState; document.dispatchEvent(new Event('visibilitychange')); }")
            view.wait_until(lambda: view.points() > asleep + 20, timeout=30, what="updates after the tab is shown")
            view.wait_until(lambda: view.page.inner_text("#connection") == "live", timeout=15, what="'live' again")
        logged = writer.step
        view.has_every_step(logged, "no gap and no duplicate across the sleep")
    finally:
        stop_process(server)


def test_the_view_round_trips_through_the_url_and_the_back_button(runs_dir, server, open_page):
    port, _ = server
    with SteadyWriter(runs_dir / "alpha"), SteadyWriter(runs_dir / "beta"):
        view = open_page()
        view.page.goto(f"http://127.0.0.1:{port}/?runs=alpha,beta&x=wall&smooth=0.6&log=1")
        view.wait_until(lambda: view.points(run="beta") > 0, what="both runs drawn")
        assert view.page.locator("#run-select input:checked").count() == 2
        assert view.page.input_value("#x-mode") == "wall"
        assert view.page.evaluate("document.querySelector('#chart-loss .js-plotly-plot').layout.yaxis.type") == "log"
        assert view.trace(role="smooth") is not None, "smoothing from the URL"

        view.page.select_option("#x-mode", "step")
        view.page.locator("#view-options input").first.uncheck()
        view.wait_until(lambda: "x=" not in view.page.url and "log=" not in view.page.url, what="the URL to follow")
        assert "runs=alpha,beta" in view.page.url and "smooth=0.6" in view.page.url

        view.page.reload()
        view.wait_until(lambda: view.points(run="beta") > 0, what="the page after a reload")
        assert view.page.input_value("#x-mode") == "step"
        assert view.page.evaluate("document.querySelector('#chart-loss .js-plotly-plot').layout.yaxis.type") == "linear"

        view.zoom_until_in_url("loss", 2, 8)
        zoomed = view.page.url
        view.page.goto(f"http://127.0.0.1:{port}/?run=alpha")  # the URL train.py prints
        view.wait_until(lambda: view.points(run="alpha") > 0, what="the older ?run= form")
        assert view.page.locator("#run-select input:checked").count() == 1
        view.page.go_back()
        view.wait_until(lambda: view.page.url == zoomed and view.points(run="beta") > 0, what="the previous view")
        view.wait_until(lambda: view.page.evaluate(
            "document.querySelector('#chart-loss .js-plotly-plot').layout.xaxis.range.map(Math.round).join(',')") == "2,8",
            what="the zoom restored")
        assert view.errors == []


def test_a_browser_without_a_shared_worker_is_told_it_gets_no_live_updates(runs_dir, server, browser):
    # Dash opens its WebSocket from a SharedWorker; without one (Chrome on Android until 2026) nothing is pushed
    port, _ = server
    context = browser.new_context()
    try:
        context.add_init_script("delete window.SharedWorker;")
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("() => (document.querySelector('#connection') || {}).innerText === 'no live updates'", timeout=30_000)
        notice = page.inner_text("#notice")
        assert "SharedWorker" in notice and "Open the dashboard in" in notice, notice
    finally:
        context.close()
    page = browser.new_page()  # a browser that has one: no notice
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("() => (document.querySelector('#connection') || {}).innerText === 'live'", timeout=30_000)
        assert page.inner_text("#notice") == ""
    finally:
        page.close()
