"""The Analysis page in real Chromium, on real train.py runs and on a run with a known loss spike."""

import math

import numpy as np

from nanogpt_dash.tracking import Run

from helpers import register_assets


def text(view, selector: str) -> str:
    return view.page.inner_text(selector) if view.page.query_selector(selector) else ""


def test_analysis_page_fills_in_from_a_real_run_without_console_errors(trained_runs, open_page):
    port, _ = trained_runs
    view = open_page()
    view.page.goto(f"http://127.0.0.1:{port}/analysis?runs=lr-a")
    view.wait_until(lambda: "it/s" in text(view, "#analysis-velocity"), what="the velocity cards")
    view.wait_until(lambda: "train/loss" in text(view, "#analysis-summary"), what="the summary table")
    assert "per 1k steps" in text(view, "#analysis-convergence")
    assert "sys/rss_mb" in text(view, "#analysis-summary"), "train.py's writer thread logged system metrics"
    def chart_keys():
        return view.page.evaluate("""() => { const el = document.querySelector('#chart-analysis-loss .js-plotly-plot');
                                             return el && el.data ? el.data.map(t => t.meta && t.meta.key) : []; }""")

    view.wait_until(lambda: {"train/loss", "val/loss"} <= set(chart_keys()), what="train and val loss on the loss chart")
    view.wait_until(lambda: "step 80" in text(view, "#analysis-sample-step"), what="the newest text sample")
    assert text(view, "#analysis-sample").strip(), "the sample's text is shown"
    view.page.fill("#analysis-target input, input#analysis-target", "3.0")
    view.page.keyboard.press("Enter")
    view.wait_until(lambda: "reached 3" in text(view, "#analysis-time-to") or "not reached" in text(view, "#analysis-time-to"),
                    what="time to loss")
    assert view.errors == []


def test_clicking_an_anomaly_zooms_the_charts_to_its_step_and_puts_it_in_the_url(runs_dir, server, open_page):
    port, _ = server
    register_assets(port)
    rng = np.random.default_rng(0)
    run = Run(runs_dir / "spiky", config={"max_iters": 2000})

    def train(steps, spike):
        for step in steps:
            loss = 1.5 + 2.0 * (1 + step / 100) ** -0.5 + rng.normal(0, 0.02)
            run.log({"train/loss": loss + (1.0 if step == spike else 0.0)}, step=step)
        run.flush()

    train(range(1200), spike=700)
    view = open_page()
    view.page.goto(f"http://127.0.0.1:{port}/analysis?runs=spiky")
    item = view.page.locator(".ngd-anomaly", has_text="step 700")
    item.wait_for(timeout=30_000)
    assert "spike" in item.inner_text()
    # the run goes on: the list is rendered anew with the new events, and that is no click
    train(range(1200, 1400), spike=1300)
    run.log({"val/loss": math.nan}, step=1350)
    run.flush()
    view.page.locator(".ngd-anomaly", has_text="step 1350").wait_for(timeout=30_000)
    assert view.page.locator(".ngd-anomaly", has_text="step 1300").count() == 1
    assert "step=" not in view.page.url and view.page.locator(".ngd-anomaly.active").count() == 0
    item.click()
    view.wait_until(lambda: "step=700" in view.page.url, what="the step in the URL")
    run.finish()

    def x_range():
        return view.page.evaluate("() => document.querySelector('#chart-analysis-loss .js-plotly-plot').layout.xaxis.range")

    view.wait_until(lambda: x_range() is not None and x_range()[0] < 700 < x_range()[1] and x_range()[1] - x_range()[0] < 400,
                    what="the loss chart zoomed to step 700")
    assert view.errors == []
