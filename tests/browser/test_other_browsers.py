"""Smoke tests in Firefox (firefox-esr over WebDriver BiDi) and WebKit (WebKitGTK through Selenium).

Chromium carries the deep browser tests; these check that the other engines load every page with no
console error and that the live chart gains points while a run trains. Each skips without its
browser, and fails instead when CI is set.
"""

from __future__ import annotations

import os
import time

import pytest

from browsing import SteadyWriter
from other_browsers import Firefox, WebKit, firefox_path, webkit_missing

LOSS_POINTS = """(() => {
    const el = document.querySelector('#chart-loss .js-plotly-plot');
    const t = el && el.data && el.data.find(t => t.meta && t.meta.key === 'train/loss' && t.meta.role === 'line');
    return t ? t.x.length : -1;
})()"""

# What each page shows once it has loaded from the trained runs: a JS expression that turns true.
PAGES = {
    "/?run=lr-a": LOSS_POINTS + " > 0",
    "/model?runs=lr-a": """(() => {
        const root = document.getElementById('model-graph');
        for (const el of root ? [root, ...root.querySelectorAll('div')] : []) {
            if (el._cyreg && el._cyreg.cy) return el._cyreg.cy.nodes().length > 0;
        }
        return false;
    })()""",
    "/analysis?runs=lr-a": "(document.querySelector('#analysis-summary') || {innerText: ''}).innerText.includes('train/loss')",
    "/compare?runs=lr-a,lr-b": """(() => {
        const el = document.querySelector('#chart-compare-overlay .js-plotly-plot');
        return !!(el && el.data && el.data.filter(t => t.meta && t.meta.role === 'line').length === 2);
    })()""",
}


def missing(name: str) -> str | None:
    if name == "firefox":
        return None if firefox_path() else "firefox-esr (apt-get install -y firefox-esr)"
    return webkit_missing()


@pytest.fixture(scope="module", params=["firefox", "webkit"])
def other_browser(request):
    name = request.param
    lack = missing(name)
    if lack is not None:
        message = f"{name} smoke tests need {lack}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    browser = Firefox() if name == "firefox" else WebKit()
    yield browser
    browser.close()


@pytest.fixture
def view(other_browser):
    other_browser.forget_errors()
    return other_browser


def wait_until(view, expression: str, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if view.evaluate(expression):
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; errors so far: {view.errors}")


def test_every_page_loads_without_console_errors(trained_runs, view):
    port, _ = trained_runs
    for path, loaded in PAGES.items():
        view.goto(view.url(port, path))
        wait_until(view, loaded, what=f"{path} to show its content")
        time.sleep(1.0)  # callbacks that answer after the first render
        assert view.errors == [], f"{path}: {view.errors}"


def test_live_loss_chart_gains_points_while_a_run_trains(runs_dir, server, view):
    port, _ = server
    with SteadyWriter(runs_dir / "live", interval=0.05):
        view.goto(view.url(port, "/?run=live"))
        wait_until(view, LOSS_POINTS + " > 5", what="the first points")
        first = view.evaluate(LOSS_POINTS)
        wait_until(view, f"{LOSS_POINTS} >= {first + 20}", timeout=30, what="the chart to gain points")
        wait_until(view, "document.querySelector('#connection').innerText === 'live'", timeout=30, what="the 'live' badge")
    assert view.errors == []


def test_a_console_error_reaches_the_test(server, view):
    """The collectors must see what they are there to see: errors logged and thrown after load."""
    port, _ = server
    view.goto(view.url(port, "/"))
    wait_until(view, "!!document.querySelector('#connection')", what="the shell")
    view.evaluate("(console.error('probe: logged'), setTimeout(() => { throw new Error('probe: thrown'); }), true)")
    deadline = time.monotonic() + 10
    while len([e for e in view.errors if "probe" in e]) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [e for e in view.errors if "probe: logged" in e] and [e for e in view.errors if "probe: thrown" in e], view.errors
