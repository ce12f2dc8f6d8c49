"""Accessibility of every page in real Chromium: an axe-core audit (WCAG 2.x A and AA) on real
train.py runs in the light and the dark theme, and what axe cannot judge by itself: landmarks, a
visible focus ring, less motion, the theme following the system and a remembered choice.

axe-core comes from the npm registry; .ci/run installs it with
    npm install --no-save --prefix tests/browser axe-core@4.14.1
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browsing import PAGES, open_loaded

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
INSTALL = "npm install --no-save --prefix tests/browser axe-core@4.14.1"
# WCAG 2.0, 2.1 and 2.2, levels A and AA (axe's tags); best practices are not part of the bar
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="session")
def axe_source() -> Path:
    if not AXE.exists():
        message = f"axe-core not found at {AXE}: install it with `{INSTALL}` (from the repository root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} [{v['helpUrl']}]")
        for node in v["nodes"][:8]:
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {' > '.join(map(str, node['target']))}: {summary[:300]}")
        if len(v["nodes"]) > 8:
            lines.append(f"    … and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("name", list(PAGES))
def test_page_has_no_serious_or_critical_axe_violations(name, scheme, axe_source, trained_runs, context):
    port, _ = trained_runs
    page = open_loaded(context, port, name, color_scheme=scheme)
    assert page.get_attribute("html", "data-bs-theme") == scheme, "the theme follows the system's"
    page.add_script_tag(path=str(axe_source))
    result = page.evaluate("(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
                           WCAG)
    blocking = [v for v in result["violations"] if v["impact"] in BLOCKING]
    assert len(result["passes"]) > 10, "axe-core ran its rules"
    assert not blocking, f"axe-core on {name} ({scheme} theme):\n{describe(blocking)}"


@pytest.mark.parametrize("name", list(PAGES))
def test_page_has_one_h1_and_banner_navigation_and_main_landmarks(name, trained_runs, context):
    port, _ = trained_runs
    page = open_loaded(context, port, name)
    found = page.evaluate("""() => ({
        h1: document.querySelectorAll('h1').length,
        main: document.querySelectorAll('main').length,
        nav: document.querySelectorAll('header nav a.nav-link').length,
        lang: document.documentElement.lang,
        levels: Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6')).map(h => Number(h.tagName[1])),
    })""")
    assert (found["h1"], found["main"], found["nav"], found["lang"]) == (1, 1, len(PAGES), "en")
    assert found["levels"][0] == 1 and all(b - a <= 1 for a, b in zip(found["levels"], found["levels"][1:])), \
        f"headings skip a level: {found['levels']}"


def test_the_keyboard_focus_is_drawn_as_a_ring_on_every_kind_of_control(trained_runs, context):
    port, _ = trained_runs
    page = open_loaded(context, port, "live")
    seen = {}
    for _ in range(60):  # Tab through the page: navbar links, selects, checkboxes, the slider, buttons
        page.keyboard.press("Tab")
        ring = page.evaluate("""() => { const el = document.activeElement; if (!el || el === document.body) return null;
            const s = getComputedStyle(el);
            return [el.tagName + (el.getAttribute('role') ? '[' + el.getAttribute('role') + ']' : '') + (el.type ? ':' + el.type : ''),
                    s.outlineStyle, parseFloat(s.outlineWidth)]; }""")
        if ring:
            seen.setdefault(ring[0], ring[1:])
    assert {"A", "SELECT:select-one", "INPUT:checkbox", "SPAN[slider]", "BUTTON:button"} <= set(seen), seen
    faint = {kind: ring for kind, ring in seen.items() if ring[0] == "none" or ring[1] < 2}
    assert not faint, f"focused without a visible ring: {faint}"

    page.reload()
    page.wait_for_function(PAGES["live"][1], timeout=60_000, polling=200)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content", "the first Tab offers to skip the navbar"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.tagName") == "MAIN"


def test_reduced_motion_turns_transitions_off(trained_runs, context):
    port, _ = trained_runs
    durations = """() => ['.form-check-input', '.form-select', '.dash-slider-thumb', '.btn']
        .map(sel => document.querySelector(sel)).filter(Boolean).map(el => getComputedStyle(el).transitionDuration)"""
    moving = open_loaded(context, port, "live", reduced_motion="no-preference").evaluate(durations)
    still = open_loaded(context, port, "live", reduced_motion="reduce").evaluate(durations)
    assert any(d != "0s" for d in moving), "Bootstrap animates these controls by default"
    assert still and all(set(d.split(", ")) == {"0s"} for d in still), still


CHART_TEXT = "() => getComputedStyle(document.querySelector('#chart-loss .main-svg .xtick text')).fill"


def test_the_theme_chosen_in_the_navbar_is_remembered_and_the_charts_follow_it(trained_runs, context):
    port, _ = trained_runs
    page = open_loaded(context, port, "live", color_scheme="light")
    light_text = page.evaluate(CHART_TEXT)
    page.evaluate("() => { document.querySelector('#chart-loss .main-svg').ngdMark = true; }")
    page.select_option("#theme", "dark")
    page.wait_for_function("() => document.documentElement.getAttribute('data-bs-theme') === 'dark'")
    dark_text = page.evaluate(CHART_TEXT)
    # the paper: the dark surface (as the cards), no longer white
    assert dark_text != light_text and page.evaluate(
        "() => getComputedStyle(document.querySelector('#chart-loss .main-svg')).backgroundColor") == "rgb(33, 37, 41)"
    assert page.evaluate("() => document.querySelector('#chart-loss .main-svg').ngdMark === true"), \
        "the chart was recoloured, not drawn again"

    page.reload()  # remembered, and applied before the page's scripts draw anything
    page.wait_for_function(PAGES["live"][1], timeout=60_000, polling=200)
    assert page.get_attribute("html", "data-bs-theme") == "dark" and page.input_value("#theme") == "dark"
    assert page.evaluate(CHART_TEXT) == dark_text

    page.select_option("#theme", "auto")  # back to following the system (light here)
    page.wait_for_function("() => document.documentElement.getAttribute('data-bs-theme') === 'light'")
    page.reload()
    page.wait_for_function(PAGES["live"][1], timeout=60_000, polling=200)
    assert page.get_attribute("html", "data-bs-theme") == "light" and page.input_value("#theme") == "auto"
