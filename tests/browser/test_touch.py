"""Fingers on the charts of a phone: real touch events (Fingers), so Chromium's own handling (touch-action,
scrolling, taps that become clicks) is part of what is tested. The gestures are assets/touch.js's."""

from __future__ import annotations

import pytest
from browsing import DEVICES, PAGES, Fingers, SteadyWriter

PHONE = DEVICES["phone"]

# A chart's plot area (its drag handle) on the screen, its axes' ranges, and whether its traces are
# moved by a gesture that has not been applied yet (an SVG transform on their layers).
CHART_JS = """(selector) => {
    const el = document.querySelector(`${selector} .js-plotly-plot`);
    const box = el.querySelector('.draglayer .nsewdrag').getBoundingClientRect();
    const layers = el.querySelectorAll('.cartesianlayer .subplot > .plot > g, .cartesianlayer .subplot > .overplot > g > g');
    return {left: box.left, top: box.top, width: box.width, height: box.height,
            x: el._fullLayout.xaxis.range.slice(), y: el._fullLayout.yaxis.range.slice(),
            autorange: !!el._fullLayout.xaxis.autorange, moved: Array.from(layers).some(g => g.hasAttribute('transform'))};
}"""


def chart(page, selector: str = "#chart-loss") -> dict:
    return page.evaluate(CHART_JS, selector)


def width(x_range: list[float]) -> float:
    return x_range[1] - x_range[0]


def url_zoom(url: str, name: str = "loss") -> list[float] | None:
    from urllib.parse import parse_qs, urlsplit

    value = parse_qs(urlsplit(url).query).get(f"zoom_{name}")
    return [float(v) for v in value[0].split(",")] if value else None


def bring_to_centre(page, selector: str) -> None:
    """Scroll `selector` to the middle of the screen at once: Bootstrap makes scrolling smooth, and a
    chart still on its way would not be where the fingers land."""
    page.evaluate("(s) => document.querySelector(s).scrollIntoView({block: 'center', behavior: 'instant'})", selector)


def open_phone(open_page, port: int, path: str, ready: str | None = None):
    """A phone's page at `path`, once `ready` (a JS predicate) holds, and fingers for it."""
    view = open_page(**PHONE)
    view.page.goto(f"http://127.0.0.1:{port}{path}")
    if ready:
        view.page.wait_for_function(ready, timeout=60_000, polling=200)
    # the first width measurement redraws the charts a moment after load (see Page.zoom_until_in_url)
    view.page.wait_for_timeout(2000)
    return view, Fingers(view.page)


def test_pinching_out_on_the_live_loss_chart_zooms_x_about_the_pinch_centre_into_the_url_and_points_keep_arriving(
        runs_dir, server, open_page):
    port, _ = server
    with SteadyWriter(runs_dir / "pinch", interval=0.05):
        view, fingers = open_phone(open_page, port, "/?runs=pinch")
        view.wait_until(lambda: view.points(run="pinch") > 60, what="points to zoom into")
        before = chart(view.page)
        # the step under the pinch centre, a third of the way across the plot
        centre_x = before["left"] + before["width"] / 3
        step_at_centre = before["x"][0] + width(before["x"]) / 3
        fingers.pinch(centre_x, before["top"] + before["height"] / 2, gap_from=40, gap_to=160)

        view.wait_until(lambda: url_zoom(view.page.url) is not None, what="the zoom in the URL")
        after = chart(view.page)
        assert not after["autorange"] and 0.15 < width(after["x"]) / width(before["x"]) < 0.4, (before, after)
        # the data that was under the fingers' centre is under it still (the chart grew a little meanwhile)
        assert abs((step_at_centre - after["x"][0]) / width(after["x"]) - 1 / 3) < 0.1, (before, after)
        assert url_zoom(view.page.url) == pytest.approx(after["x"]), view.page.url

        zoomed_at = view.points(run="pinch")
        view.wait_until(lambda: view.points(run="pinch") > zoomed_at + 20, what="points arriving while pinch-zoomed")
        assert chart(view.page)["x"] == pytest.approx(after["x"]), "new points keep the pinched range"
        steps = view.steps(run="pinch")
        assert steps == sorted(set(steps)), "no duplicate point"
    assert view.errors == []


def test_a_one_finger_sideways_drag_pans_x_keeping_its_width_and_applies_once_the_finger_lifts(trained_runs, open_page):
    port, _ = trained_runs
    view, fingers = open_phone(open_page, port, PAGES["live"][0], PAGES["live"][1])
    before = chart(view.page)
    y = before["top"] + before["height"] / 2
    fingers.down((before["left"] + 0.75 * before["width"], y))
    fingers.move((before["left"] + 0.25 * before["width"], y))
    moving = chart(view.page)
    assert moving["moved"] and moving["x"] == before["x"], "while the finger moves the traces follow it, nothing is redrawn"
    fingers.up()

    view.wait_until(lambda: url_zoom(view.page.url) is not None, what="the panned range in the URL")
    after = chart(view.page)
    assert not after["moved"]
    assert width(after["x"]) == pytest.approx(width(before["x"]), rel=0.01), (before, after)
    # half the plot's width to the left: the range moves half its width to the right
    assert after["x"][0] - before["x"][0] == pytest.approx(width(before["x"]) / 2, rel=0.05), (before, after)
    assert view.errors == []


def test_a_vertical_swipe_over_a_chart_scrolls_the_page_and_leaves_the_chart_alone(trained_runs, open_page):
    port, _ = trained_runs
    view, fingers = open_phone(open_page, port, PAGES["live"][0], PAGES["live"][1])
    before = chart(view.page)
    x = before["left"] + before["width"] / 2
    fingers.drag((x, before["top"] + 0.9 * before["height"]), (x, before["top"] + 0.1 * before["height"]))

    view.wait_until(lambda: view.page.evaluate("window.scrollY") > 40, what="the page to scroll")
    view.page.wait_for_timeout(1000)  # what a zoom would take to show
    after = chart(view.page)
    assert after["x"] == before["x"] and after["y"] == before["y"] and after["autorange"], (before, after)
    assert url_zoom(view.page.url) is None
    assert view.errors == []


def test_a_double_tap_on_a_zoomed_chart_autoranges_it_and_the_zoom_leaves_the_url(trained_runs, open_page):
    port, _ = trained_runs
    view, fingers = open_phone(open_page, port, PAGES["live"][0], PAGES["live"][1])
    view.zoom_until_in_url("loss", 10, 40)
    box = chart(view.page)
    x, y = box["left"] + box["width"] / 2, box["top"] + box["height"] / 2
    fingers.tap(x, y)
    view.page.wait_for_timeout(100)
    fingers.tap(x, y)

    view.wait_until(lambda: url_zoom(view.page.url) is None, what="the zoom to leave the URL")
    assert chart(view.page)["autorange"]
    assert view.errors == []


# A Plotly chart with x and y axes on each of the other pages.
CHARTS = {"model": "#model-heatmap", "analysis": "#chart-analysis-loss", "compare": "#chart-compare-overlay"}


@pytest.mark.parametrize("name", list(CHARTS))
def test_a_pinch_zooms_x_about_its_centre_on_every_pages_charts(name, trained_runs, open_page):
    port, _ = trained_runs
    view, fingers = open_phone(open_page, port, PAGES[name][0], PAGES[name][1])
    selector = CHARTS[name]
    bring_to_centre(view.page, f"{selector} .nsewdrag")
    before = chart(view.page, selector)
    centre_x = before["left"] + before["width"] / 2
    fingers.pinch(centre_x, before["top"] + before["height"] / 2, gap_from=40, gap_to=120)

    view.wait_until(lambda: chart(view.page, selector)["x"] != before["x"], what="the x range to change")
    after = chart(view.page, selector)
    assert 0.2 < width(after["x"]) / width(before["x"]) < 0.45, (before, after)
    middle = (before["x"][0] + before["x"][1]) / 2
    assert abs((middle - after["x"][0]) / width(after["x"]) - 0.5) < 0.1, (before, after)
    assert view.errors == []


CYTOSCAPE_ZOOM_JS = """() => {
    const root = document.getElementById('model-graph');
    for (const el of [root, ...root.querySelectorAll('div')]) { if (el._cyreg && el._cyreg.cy) return el._cyreg.cy.zoom(); }
    return null;
}"""


def test_a_pinch_on_the_model_graph_zooms_it_in(trained_runs, open_page):
    # cytoscape.js's own touch handling (userZoomingEnabled, dash-cytoscape's default)
    port, _ = trained_runs
    view, fingers = open_phone(open_page, port, PAGES["model"][0], PAGES["model"][1])
    bring_to_centre(view.page, "#model-graph")
    box = view.page.locator("#model-graph").bounding_box()
    before = view.page.evaluate(CYTOSCAPE_ZOOM_JS)
    fingers.pinch(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, gap_from=40, gap_to=160)

    view.wait_until(lambda: view.page.evaluate(CYTOSCAPE_ZOOM_JS) > 2 * before, what="the graph to zoom in")
    assert view.page.evaluate("visualViewport.scale") == 1, "the graph zooms, not the page"
    assert view.errors == []
