"""The Model page in real Chromium, on a real train.py run that is still training."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import REPO, TINY_TRAIN_ARGS, stop_process

N_LAYER = 3

CY = """(id) => {
    const root = document.getElementById(id);
    if (!root) return null;
    for (const el of [root, ...root.querySelectorAll('div')]) { if (el._cyreg && el._cyreg.cy) return el._cyreg.cy; }
    return null;
}"""


def graph(page, what: str):
    """Evaluate `what` (a JS expression over `cy`) against the page's cytoscape instance."""
    return page.evaluate(f"() => {{ const cy = ({CY})('model-graph'); if (!cy) return null; return {what}; }}")


def block_ids(page) -> list[str]:
    return graph(page, "cy.nodes().map(n => n.id()).filter(id => /^transformer\\.h\\.\\d+$/.test(id))") or []


def plot(page, graph_id: str, what: str):
    return page.evaluate(f"() => {{ const el = document.querySelector('#{graph_id} .js-plotly-plot');"
                         f" if (!el || !el.data || !el.data.length) return null; return {what}; }}")


@pytest.fixture
def training(runs_dir):
    """A real train.py run, still training while the test looks at it."""
    args = [a for a in TINY_TRAIN_ARGS if not a.startswith(("--n_layer", "--eval_interval"))]
    proc = subprocess.Popen(
        [sys.executable, "train.py", *args, f"--n_layer={N_LAYER}", "--eval_interval=40", "--layer_stats_interval=5",
         "--max_iters=5000", f"--out_dir={runs_dir / 'tiny'}", "--dashboard_autostart=False"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    yield proc
    stop_process(proc)


def test_model_page_shows_the_runs_gpt_and_its_statistics_fill_in_while_it_trains(server, training, open_page):
    port, _ = server
    p = open_page()
    page = p.page
    # the way a user arrives: the address train.py prints, then the navbar's Model link
    page.goto(f"http://127.0.0.1:{port}/?run=tiny")
    p.wait_until(lambda: "runs=tiny" in (page.get_attribute("#nav-model", "href") or ""), timeout=60,
                 what="the navbar's Model link to carry the run")
    page.click("#nav-model")

    # one block per layer; block 0 starts expanded, the others collapsed
    p.wait_until(lambda: len(block_ids(page)) == N_LAYER, timeout=60, what="one graph block per n_layer")
    assert block_ids(page) == [f"transformer.h.{i}" for i in range(N_LAYER)]
    assert graph(page, "cy.getElementById('transformer.h.0.attn.heads').nonempty()")

    # click a node: the detail panel shows its parameter tensors and shapes (c_attn: 3 * n_embd x n_embd)
    box = page.locator("#model-graph").bounding_box()
    pos = graph(page, "cy.getElementById('transformer.h.0.attn.c_attn').renderedPosition()")
    page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])
    p.wait_until(lambda: "transformer.h.0.attn.c_attn.weight" in page.inner_text("#model-detail"), what="node details")
    detail = page.inner_text("#model-detail")
    assert "(96, 32)" in detail and "3,072" in detail

    # the heatmaps and the attention grid fill in while training goes on
    p.wait_until(lambda: (plot(page, "model-heatmap", "el.data[0].y.length") or 0) == N_LAYER, timeout=90,
                 what="the residual-stream heatmap")
    first = plot(page, "model-heatmap", "el.data[0].x.length")
    p.wait_until(lambda: plot(page, "model-heatmap", "el.data[0].x.length") > first, timeout=90,
                 what="new heatmap columns while training")
    p.wait_until(lambda: plot(page, "model-attn-grid", "el.data.length") == N_LAYER * 2, timeout=90,
                 what="the layer x head attention grid")
    evals = page.inner_text("#model-attn-label")
    p.wait_until(lambda: page.inner_text("#model-attn-label") != evals, timeout=120, what="a newer eval's attention")
    ticks = plot(page, "model-attn-grid", "el.layout.xaxis6.ticktext")
    assert ticks and all(isinstance(t, str) for t in ticks), "the probe text on the axes"

    # colour the graph by a statistic: a legend with numbers appears
    page.select_option("#model-stat", "act_std")
    p.wait_until(lambda: page.locator("#model-legend-scale").count() == 1, what="the colour legend")
    assert any(ch.isdigit() for ch in page.inner_text("#model-legend-scale"))

    # switching to gpt2-xl and collapsing every block: 48 block nodes, nothing overlapping, still legible
    page.select_option("#model-source", "preset:gpt2-xl")
    p.wait_until(lambda: len(block_ids(page)) == 48, timeout=60, what="gpt2-xl's 48 blocks")
    assert "1,557,611,200" in page.inner_text("#model-totals")
    page.click("#model-collapse-all")
    p.wait_until(lambda: graph(page, "cy.nodes().length") == 48 + 6, what="a collapsed gpt2-xl")
    page.click("#model-fit")
    page.wait_for_timeout(500)
    zoom = graph(page, "cy.zoom()")
    assert zoom * 18 >= 8, f"block labels at {zoom * 18:.1f} px after fitting"
    overlaps = graph(page, """(() => { const bs = cy.nodes().map(n => n.renderedBoundingBox()); let k = 0;
        for (let i = 0; i < bs.length; i++) for (let j = i + 1; j < bs.length; j++) {
            const a = bs[i], b = bs[j];
            if (a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2) k++; }
        return k; })()""")
    assert overlaps == 0
    assert not p.errors, p.errors


def test_explorer_names_the_bad_field_and_a_run_without_model_args_gets_a_placeholder(server, runs_dir, open_page):
    from nanogpt_dash.tracking import Run

    with Run(runs_dir / "bare") as run:  # logged through nanogpt_dash.init without model_args
        run.log({"train/loss": 1.0}, step=0)
    port, _ = server
    p = open_page(width=390, height=844)
    page = p.page
    page.goto(f"http://127.0.0.1:{port}/?run=bare")
    p.wait_until(lambda: "runs=bare" in (page.get_attribute("#nav-model", "href") or ""), timeout=60,
                 what="the navbar's Model link to carry the run")
    page.click("#nav-model")
    p.wait_until(lambda: "has no model arguments" in page.inner_text("#model-note"), timeout=30, what="the placeholder")
    assert "model_args" in page.inner_text("#model-note")
    assert graph(page, "cy.nodes().length") == 0

    page.select_option("#model-source", "preset:shakespeare-char")
    p.wait_until(lambda: len(block_ids(page)) == 6, timeout=30, what="the baby GPT's 6 blocks")
    assert "10,745,088" in page.inner_text("#model-totals") and "10,646,784" in page.inner_text("#model-totals")
    page.fill("#model-field-n_head", "5")
    page.press("#model-field-n_head", "Enter")
    p.wait_until(lambda: "n_embd: 384 is not divisible by n_head=5" in page.inner_text("#model-note"), timeout=30,
                 what="the message naming the field")
    assert "Traceback" not in page.content()
    assert not p.errors, p.errors
