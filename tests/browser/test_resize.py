"""Resizing and rotating the Analysis and Compare pages reflows their charts and keeps every point, the zoom and the
selected runs (the Live page's rotation, with a run training, is in test_devices.py)."""

from __future__ import annotations

import pytest

# phone portrait, phone landscape, back to the desktop the page was opened at
SIZES = ((390, 844), (844, 390), (1280, 800))

CHARTS_JS = """(selector) => Array.from(document.querySelectorAll(selector)).map(el => ({
    id: el.closest('[id]').id,
    width: el._fullLayout.width,
    range: el.layout.xaxis.range ? el.layout.xaxis.range.map(Math.round) : null,
    points: el._fullData.map(t => (t.x || []).length),
}))"""

ZOOM_JS = """(selector) => Plotly.relayout(document.querySelector(selector), {'xaxis.range': [20, 40]})"""

PAGES = {
    # path, charts to watch, the chart to zoom (every watched chart follows its zoom), checked run boxes
    "analysis": ("/analysis?runs=lr-a", "#chart-analysis-loss .js-plotly-plot", "#chart-analysis-loss .js-plotly-plot",
                 ()),
    "compare": ("/compare?runs=lr-a,lr-b", "[id*='compare-side'] .js-plotly-plot",
                "[id*='compare-side'][id*='\"lr-a\"'] .js-plotly-plot", ("lr-a", "lr-b")),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_resizing_and_rotating_keeps_every_point_the_zoom_and_the_runs(name, trained_runs, open_page):
    path, watched, zoomed, runs = PAGES[name]
    port, _ = trained_runs
    view = open_page(width=1280, height=800)
    view.page.goto(f"http://127.0.0.1:{port}{path}")

    def charts():
        return view.page.evaluate(CHARTS_JS, watched)

    view.wait_until(lambda: charts() and all(sum(c["points"]) > 10 for c in charts()), timeout=60, what="the charts")
    view.page.wait_for_timeout(1500)  # the first width measurement may redraw the charts once

    def all_zoomed() -> bool:
        return all(c["range"] == [20, 40] for c in charts())

    view.wait_until(lambda: all_zoomed() or view.page.evaluate(ZOOM_JS, zoomed) and False, timeout=30,
                    what="the zoom on every chart")
    view.page.wait_for_timeout(1000)  # the zoom's redraw at full detail
    before, url = charts(), view.page.url
    for width, height in SIZES:
        widths = {c["id"]: c["width"] for c in charts()}
        view.page.set_viewport_size({"width": width, "height": height})
        view.wait_until(lambda: all(c["width"] != widths[c["id"]] for c in charts()), what=f"charts reflowed at {width} px")
        view.page.wait_for_timeout(1000)  # a redraw for the new width, if one comes
        now = charts()
        assert [(c["id"], c["range"], c["points"]) for c in now] == [(c["id"], c["range"], c["points"]) for c in before], \
            f"at {width}x{height} every chart keeps its zoom and its points"
        assert view.page.url == url, "the view in the URL is unchanged"
        for run in runs:
            assert view.page.is_checked(f"#compare-runs input[value='{run}']")
    assert view.errors == []
