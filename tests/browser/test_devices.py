"""Phones, tablets and desktops: every page fits its screen, and on touch screens every control is big enough for a finger."""

from __future__ import annotations

import pytest
from browsing import DEVICES, PAGES, open_loaded

MIN_TARGET_PX = 44

# Visible elements that reach past the right edge of the screen, outside any scrolling box of their own.
OVERFLOWING_JS = """() => {
    const width = document.documentElement.clientWidth;
    const scrolls = el => { for (let a = el.parentElement; a; a = a.parentElement) {
        const s = getComputedStyle(a); if (['auto', 'scroll', 'hidden', 'clip'].includes(s.overflowX)) return true; } return false; };
    const out = [];
    document.querySelectorAll('body *').forEach(el => {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden') return;
        if (r.right > width + 1 && !scrolls(el)) out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className}`.slice(0, 120));
    });
    return {scrollWidth: document.documentElement.scrollWidth, width: width, elements: out.slice(0, 20)};
}"""

# What a finger hits for each visible control: a checkbox or radio with its label, else the control's own box
# (Plotly's toolbar buttons too: assets/touch.css enlarges them).
TARGETS_JS = """(minimum) => {
    const selector = 'a[href], button, input, select, textarea, [role=button], [role=slider], [role=tab], summary, '
        + '.rc-slider-handle, .dash-dropdown, .Select-control';
    const small = [];
    document.querySelectorAll(selector).forEach(el => {
        let box = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') return;
        if (el.matches('.visually-hidden-focusable:not(:focus)')) return;  // the skip link: keyboards only
        if (el.type === 'checkbox' || el.type === 'radio') {
            const label = el.closest('label') || (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`))
                || el.parentElement;
            if (label) box = label.getBoundingClientRect();
        }
        if (el.type === 'hidden') return;
        if (box.width < minimum || box.height < minimum)
            small.push(`${el.tagName.toLowerCase()}#${el.id}.${String(el.className).slice(0, 40)} `
                       + `${Math.round(box.width)}x${Math.round(box.height)}`);
    });
    return small;
}"""


@pytest.mark.parametrize("device", list(DEVICES))
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_fits_the_screen_without_sideways_scrolling(name, device, trained_runs, context):
    port, _ = trained_runs
    page = open_loaded(context, port, name, **DEVICES[device])
    found = page.evaluate(OVERFLOWING_JS)
    assert found["scrollWidth"] <= found["width"] and not found["elements"], found


@pytest.mark.parametrize("device", ["phone", "tablet"])
@pytest.mark.parametrize("name", list(PAGES))
def test_on_touch_screens_every_control_is_a_finger_sized_target(name, device, trained_runs, context):
    port, _ = trained_runs
    page = open_loaded(context, port, name, **DEVICES[device])
    small = page.evaluate(TARGETS_JS, MIN_TARGET_PX)
    assert small == [], f"{len(small)} controls under {MIN_TARGET_PX} px on a {device}: " + "; ".join(small)


def test_on_a_phone_the_key_numbers_and_the_loss_chart_fill_the_first_screen_and_the_pages_are_at_the_thumb(
        trained_runs, context):
    port, _ = trained_runs
    page = open_loaded(context, port, "live", **DEVICES["phone"])
    boxes = page.evaluate("""() => Object.fromEntries(['#kpis', '#chart-loss', '.ngd-nav'].map(s => {
        const b = document.querySelector(s).getBoundingClientRect(); return [s, [b.top, b.bottom]]; }))""")
    nav_top, screen = boxes[".ngd-nav"][0], DEVICES["phone"]["viewport"]["height"]
    assert boxes[".ngd-nav"][1] == screen and nav_top > screen - 80, f"the page links are a bar at the bottom: {boxes}"
    for essential in ("#kpis", "#chart-loss"):
        assert 0 <= boxes[essential][0] and boxes[essential][1] <= nav_top, f"{essential} is not all on the first screen: {boxes}"
    texts = page.inner_text("#kpis")
    assert all(word in texts.lower() for word in ("step", "best val loss", "eta", "finished")), texts


def test_rotating_a_phone_reflows_the_charts_and_keeps_the_zoomed_points_the_zoom_and_the_runs(runs_dir, server, open_page):
    from browsing import SteadyWriter

    port, _ = server
    with SteadyWriter(runs_dir / "rot", interval=0.05):
        view = open_page(width=390, height=844)
        view.page.goto(f"http://127.0.0.1:{port}/?runs=rot")
        view.wait_until(lambda: view.points(run="rot") > 40, what="points before the zoom")
        view.zoom_until_in_url("loss", 5, 25)
        # a zoomed chart holds the zoomed window at full detail and the newest points after it
        in_view = [s for s in view.steps(run="rot") if 5 <= s <= 25]
        assert in_view == list(range(5, 26))
        for width, height in ((844, 390), (390, 844)):  # landscape, and back
            before = view.steps(run="rot")[-1]
            plot_width = view.page.evaluate("document.querySelector('#chart-loss .js-plotly-plot')._fullLayout.width")
            view.page.set_viewport_size({"width": width, "height": height})
            view.wait_until(lambda: view.page.evaluate(
                "document.querySelector('#chart-loss .js-plotly-plot')._fullLayout.width") != plot_width,
                what=f"the loss chart reflowed to {width} px")
            view.wait_until(lambda: view.steps(run="rot")[-1] > before + 10, what="new points after the rotation")
            steps = view.steps(run="rot")
            assert [s for s in steps if 5 <= s <= 25] == in_view, "the zoomed window keeps every point"
            assert steps == sorted(set(steps)), "no duplicate"
            x_range = view.page.evaluate("document.querySelector('#chart-loss .js-plotly-plot').layout.xaxis.range")
            assert [round(v) for v in x_range] == [5, 25] and "zoom_loss=5,25" in view.page.url and "runs=rot" in view.page.url
            assert view.page.is_checked("#run-select input[value='rot']")
    assert view.errors == []


def test_on_a_phone_every_key_number_fits_its_card(runs_dir, server, context):
    from nanogpt_dash.tracking import Run

    port, _ = server
    run = Run(runs_dir / "long", config={"max_iters": 100_000})
    for step in range(9_194):  # the step card reads "9,193 / 100,000", wider than a third of a phone
        run.log({"train/loss": 4.0 / (1 + 1e-3 * step), "iters_per_sec": 15.1, "tokens_per_sec": 10_021.0}, step=step)
    run.flush()
    page = context(**DEVICES["phone"]).new_page()
    page.goto(f"http://127.0.0.1:{port}/?run=long")
    page.wait_for_function("() => (document.querySelector('#kpis') || {innerText: ''}).innerText.includes('100,000')", timeout=60_000)
    clipped = page.evaluate("""() => [...document.querySelectorAll('#kpis .ngd-kpi-value')]
        .filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.innerText)""")
    assert clipped == [], f"key numbers wider than their cards: {clipped}"
    run.finish()
