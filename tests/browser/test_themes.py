"""The dark and light themes in real Chromium, for what CSS alone cannot recolour: the Model page's
graph is drawn on a canvas by cytoscape, from a stylesheet chosen for the theme shown."""

from __future__ import annotations

from browsing import open_loaded

from nanogpt_dash.ui import ids
from nanogpt_dash.ui.model_graph import DARK_KIND_COLOURS, DARK_TEXT, KIND_COLOURS

CY = """() => {
    const root = document.getElementById('model-graph');
    if (!root) return null;
    for (const el of [root, ...root.querySelectorAll('div')]) { if (el._cyreg && el._cyreg.cy) return el._cyreg.cy; }
    return null;
}"""
LOOK = f"""() => {{
    const cy = ({CY})();
    const paper = document.querySelector('#model-heatmap .svg-container > .main-svg');
    if (!cy || !paper || !cy.edges().length) return null;
    const wte = cy.getElementById('transformer.wte'), edge = cy.edges()[0];
    return {{fill: wte.style('background-color'), label: wte.style('color'), edge: edge.style('line-color'),
            box: getComputedStyle(document.getElementById('model-graph')).backgroundColor,
            paper: getComputedStyle(paper).backgroundColor,
            theme: document.documentElement.getAttribute('data-bs-theme')}};
}}"""


def rgb(hex_colour: str) -> str:
    """'#1f4b73' as cytoscape and getComputedStyle write it."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r},{g},{b})"


def wait_for_look(page, theme: str) -> dict:
    fill = rgb((DARK_KIND_COLOURS if theme == "dark" else KIND_COLOURS)["embedding"])
    page.wait_for_function(f"() => {{ const l = ({LOOK})(); return !!l && l.theme === '{theme}' && l.fill === '{fill}'; }}",
                           timeout=30_000, polling=100)
    return page.evaluate(LOOK)


def assert_light(look: dict) -> None:
    assert look["fill"] == rgb(KIND_COLOURS["embedding"]) and look["label"] == "rgb(0,0,0)"
    assert look["box"] == "rgb(255, 255, 255)" and look["paper"] == "rgb(255, 255, 255)"


def assert_dark(look: dict) -> None:
    assert look["fill"] == rgb(DARK_KIND_COLOURS["embedding"]) and look["label"] == rgb(DARK_TEXT)
    assert look["edge"] != "rgb(150,150,150)", "edges lighter than on white"
    assert look["box"] == "rgb(33, 37, 41)", "the graph's box is the dark surface, not a white panel"
    assert look["paper"] == "rgb(33, 37, 41)", "the heatmap's paper is the dark surface"


def test_the_model_graph_follows_the_theme_chosen_and_back(trained_runs, context):
    port, _ = trained_runs
    page = open_loaded(context, port, "model", color_scheme="light")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    assert_light(wait_for_look(page, "light"))

    page.select_option(f"#{ids.THEME}", "dark")
    assert_dark(wait_for_look(page, "dark"))
    nodes = page.evaluate(f"() => ({CY})().nodes().length")

    page.select_option(f"#{ids.THEME}", "light")
    assert_light(wait_for_look(page, "light"))
    assert page.evaluate(f"() => ({CY})().nodes().length") == nodes, "a theme change redraws nothing else"

    # chosen on another page: the Model page opens with it
    page.click("#nav-live")
    page.wait_for_selector("#chart-loss .js-plotly-plot")
    page.select_option(f"#{ids.THEME}", "dark")
    page.click("#nav-model")
    assert_dark(wait_for_look(page, "dark"))
    assert not errors, errors


def test_the_model_graph_follows_the_system_while_the_theme_is_auto(trained_runs, context):
    port, _ = trained_runs
    page = open_loaded(context, port, "model", color_scheme="light")
    assert page.input_value(f"#{ids.THEME}") == "auto"
    assert_light(wait_for_look(page, "light"))
    page.emulate_media(color_scheme="dark")  # the system turns dark (at sunset, say)
    assert_dark(wait_for_look(page, "dark"))
    page.emulate_media(color_scheme="light")
    assert_light(wait_for_look(page, "light"))
