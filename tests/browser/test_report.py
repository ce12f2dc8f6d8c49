"""The offline report opens by double-click: headless Chromium with the network off draws every chart."""

from __future__ import annotations

import math
from pathlib import Path

from nanogpt_dash.live import LiveStore
from nanogpt_dash.report import capture_view, render_html
from nanogpt_dash.tracking import Run


def test_the_report_opens_offline_and_shows_its_charts_numbers_config_and_sample(runs_dir: Path, tmp_path, open_page):
    with Run(runs_dir / "alpha", name="lr 6e-4", config={"learning_rate": 6e-4, "max_iters": 300}) as run:
        for step in range(300):
            run.log({"train/loss": 3 * math.exp(-step / 100), "lr": 6e-4, "grad_norm": 1.0,
                     "tokens_per_sec": 1000.0}, step=step)
        run.event("sample", {"text": "def </script><b>x</b>"}, step=299)
    store = LiveStore(runs_dir)
    store.poll()
    report = tmp_path / "report.html"
    report.write_text(render_html(capture_view(store, {"runs": "alpha", "smooth": "0.6"})), encoding="utf-8")

    page = open_page()
    page.context.set_offline(True)
    page.context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                       else route.abort())
    page.page.goto(report.as_uri())
    page.page.wait_for_function("document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length >= 5",
                                timeout=30_000)
    charts = page.page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el =>
        [el.layout.title.text, el.data.length, el.data[0].x.length])""")
    assert charts == [["Loss", 2, 300], ["Learning rate", 2, 300], ["Gradient norm (before clipping)", 2, 300],
                      ["Throughput (tokens/s)", 2, 300]]
    text = page.page.inner_text("body")
    assert "lr 6e-4" in text and "299 / 300" in text and "def </script><b>x</b>" in text
    assert page.page.evaluate("document.querySelectorAll('details pre')[1].textContent").count("learning_rate") == 1
    assert [url for _, url in page.requests if not url.startswith("file://")] == []
    assert page.errors == []
