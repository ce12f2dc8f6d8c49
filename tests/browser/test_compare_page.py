"""The Compare page in real Chromium on two real train.py runs that differ in learning rate."""

from urllib.parse import parse_qs, urlparse


def overlay_runs(view) -> list[str]:
    return view.page.evaluate("""() => {
        const el = document.querySelector('#chart-compare-overlay .js-plotly-plot');
        return el && el.data ? el.data.filter(t => t.meta && t.meta.role === 'line').map(t => t.meta.run) : [];
    }""")


def side_range(view, run: str):
    return view.page.evaluate("""(run) => {
        for (const el of document.querySelectorAll('.js-plotly-plot')) {
            const g = el.closest('[id]');
            if (g && g.id.includes('compare-side') && g.id.includes('"' + run + '"')) return el.layout.xaxis.range;
        }
        return null;
    }""", run)


def test_two_runs_are_overlaid_and_their_diff_is_the_learning_rate(trained_runs, open_page):
    port, _ = trained_runs
    view = open_page()
    view.page.goto(f"http://127.0.0.1:{port}/compare?runs=lr-a,lr-b&metric=train/loss&smooth=0.5")
    view.wait_until(lambda: sorted(overlay_runs(view)) == ["lr-a", "lr-b"], what="both runs overlaid")
    view.page.locator(".ngd-diff").wait_for()
    keys = view.page.eval_on_selector_all(".ngd-diff tbody tr td:first-child", "els => els.map(e => e.innerText)")
    assert sorted(keys) == ["learning_rate", "out_dir"], "only keys whose values differ (out_dir must)"
    rows = view.page.eval_on_selector_all(".ngd-diff tbody tr", "els => els.map(e => Array.from(e.cells).map(c => c.innerText))")
    lr = next(r for r in rows if r[0] == "learning_rate")
    assert lr[1:] == ["0.001", "0.003"]
    view.page.locator(".dash-spreadsheet td", has_text="lr-b").first.wait_for()
    assert view.errors == []


def test_zooming_one_side_by_side_chart_zooms_the_other(trained_runs, open_page):
    port, _ = trained_runs
    view = open_page()
    view.page.goto(f"http://127.0.0.1:{port}/compare?runs=lr-a,lr-b")
    view.wait_until(lambda: side_range(view, "lr-b") is not None, what="the side-by-side charts")
    view.page.evaluate("""() => {
        for (const el of document.querySelectorAll('.js-plotly-plot')) {
            const g = el.closest('[id]');
            if (g && g.id.includes('compare-side') && g.id.includes('"lr-a"')) { Plotly.relayout(el, {'xaxis.range': [20, 40]}); return; }
        }
    }""")
    view.wait_until(lambda: [round(v) for v in side_range(view, "lr-b")] == [20, 40], what="lr-b to follow lr-a's zoom")
    assert view.errors == []


def test_the_url_reproduces_the_view(trained_runs, open_page):
    port, _ = trained_runs
    view = open_page()
    view.page.goto(f"http://127.0.0.1:{port}/compare?runs=lr-a,lr-b&metric=grad_norm&x=tokens&smooth=0.3")
    view.wait_until(lambda: sorted(overlay_runs(view)) == ["lr-a", "lr-b"], what="both runs overlaid")
    query = parse_qs(urlparse(view.page.url).query)
    assert query["runs"] == ["lr-a,lr-b"] and query["metric"] == ["grad_norm"] and query["x"] == ["tokens"]
    again = open_page()
    again.page.goto(view.page.url)
    again.wait_until(lambda: sorted(overlay_runs(again)) == ["lr-a", "lr-b"], what="the same runs from the URL")
    title = again.page.evaluate("() => document.querySelector('#chart-compare-overlay .js-plotly-plot').layout.xaxis.title.text")
    keys = again.page.evaluate("() => document.querySelector('#chart-compare-overlay .js-plotly-plot').data.map(t => t.meta.key)")
    assert title == "tokens seen" and set(keys) == {"grad_norm"}
    assert again.errors == []


def test_brushing_a_parcoords_axis_filters_the_runs_on_the_page(trained_runs, open_page):
    port, _ = trained_runs
    view = open_page()
    view.page.goto(f"http://127.0.0.1:{port}/compare?runs=lr-a,lr-b,lr-c&metric=val/loss")
    view.wait_until(lambda: sorted(overlay_runs(view)) == ["lr-a", "lr-b", "lr-c"], what="three runs overlaid")
    plot = "document.querySelector('#chart-compare-parcoords .js-plotly-plot')"
    view.wait_until(lambda: view.page.evaluate(f"() => !!({plot} && {plot}.data && {plot}.data.length)"), what="the parcoords")
    labels = view.page.evaluate(f"() => {plot}.data[0].dimensions.map(d => d.label)")
    assert labels == ["learning_rate", "best val loss"], "only the hyperparameter that differs, and the outcome"
    view.page.evaluate(f"() => Plotly.restyle({plot}, {{'dimensions[0].constraintrange': [[0.002, 0.007]]}})")
    view.wait_until(lambda: sorted(overlay_runs(view)) == ["lr-b", "lr-c"], what="lr-a filtered out of the overlay")
    assert "lr-a hidden" in view.page.inner_text("#compare-note")
    assert view.errors == []
