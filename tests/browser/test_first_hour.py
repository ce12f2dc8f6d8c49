"""What a new user sees on the Live page (issue 14): badge, hover, toolbar, empty states, smoothing box, labels."""

from __future__ import annotations

import time

from nanogpt_dash.tracking import Run

from browsing import SteadyWriter


def test_the_badge_says_live_as_soon_as_the_first_data_is_drawn(runs_dir, server, open_page):
    port, _ = server
    with SteadyWriter(runs_dir / "fresh"):
        view = open_page()
        view.follow(port, "fresh")
        drawn = time.monotonic()
        view.wait_until(lambda: view.page.inner_text("#connection") == "live", timeout=5, what="the live badge")
        assert time.monotonic() - drawn < 1.5
        for _ in range(10):  # and it stays so on a healthy connection
            view.page.wait_for_timeout(300)
            assert view.page.inner_text("#connection") == "live"


def test_hover_lists_every_selected_run_with_labelled_values(runs_dir, server, open_page):
    port, _ = server
    for name, scale in (("alpha", 1.0), ("beta", 2.0)):
        with Run(runs_dir / name) as run:
            for step in range(20):
                run.log({"train/loss": scale * 3.0 / (1 + step), "grad_norm": 1.0}, step=step)
    view = open_page()
    view.page.goto(f"http://127.0.0.1:{port}/?runs=alpha,beta")
    view.wait_until(lambda: view.points(run="beta") == 20, what="both runs drawn")
    view.page.evaluate("Plotly.Fx.hover(document.querySelector('#chart-loss .js-plotly-plot'), {xval: 9})")
    text = view.page.text_content("#chart-loss .hoverlayer")
    assert "alpha · train loss 0.3" in text and "beta · train loss 0.6" in text, text
    view.page.evaluate("Plotly.Fx.hover(document.querySelector('#chart-grad_norm .js-plotly-plot'), {xval: 9})")
    assert "grad norm" in view.page.text_content("#chart-grad_norm .hoverlayer")
    assert "grad_norm" not in view.page.text_content("#chart-grad_norm .legend")


def test_the_chart_toolbar_has_nothing_that_talks_to_the_internet(runs_dir, server, open_page):
    port, _ = server
    with Run(runs_dir / "a") as run:
        run.log({"train/loss": 1.0}, step=0)
    view = open_page()
    view.page.goto(f"http://127.0.0.1:{port}/?run=a")
    view.wait_until(lambda: view.points() == 1, what="the chart")
    view.page.hover("#chart-loss")
    titles = view.page.evaluate("Array.from(document.querySelectorAll('.modebar-btn')).map(b => b.getAttribute('data-title'))")
    assert titles and "Download plot as a PNG" in titles
    assert not [t for t in titles if any(w in t.lower() for w in ("cloud", "chart studio", "plotly.com", "edit in"))], titles
    assert not view.page.query_selector(".modebar a[href^='http']"), "no logo link to plotly.com"


def test_an_empty_runs_folder_and_an_unknown_run_say_what_to_do(runs_dir, server, open_page):
    port, _ = server
    view = open_page()
    view.page.goto(f"http://127.0.0.1:{port}/")
    view.wait_until(lambda: "No runs in" in view.page.inner_text("#alerts"), what="the empty-folder note")
    assert "python train.py" in view.page.inner_text("#alerts")
    with Run(runs_dir / "known") as run:
        run.log({"train/loss": 1.0}, step=0)
    view.page.goto(f"http://127.0.0.1:{port}/?run=nosuch")
    view.wait_until(lambda: "Known runs: known" in view.page.inner_text("#alerts"), what="the not-found note")
    assert "Run 'nosuch' not found" in view.page.inner_text("#alerts")
    assert view.errors == []


def test_typing_a_smoothing_value_and_pressing_enter_applies_it(runs_dir, server, open_page):
    port, _ = server
    with Run(runs_dir / "a") as run:
        for step in range(50):
            run.log({"train/loss": 3.0 / (1 + step)}, step=step)
    view = open_page()
    view.page.goto(f"http://127.0.0.1:{port}/?run=a")
    view.wait_until(lambda: view.points() == 50, what="the chart")
    box = view.page.locator("#smoothing input").first
    box.fill("0.3")
    box.press("Enter")
    view.wait_until(lambda: "smooth=0.3" in view.page.url, timeout=10, what="the URL to take the typed value")
    view.wait_until(lambda: view.trace(role="smooth") is not None, timeout=10, what="the smoothed line")


def test_with_two_runs_the_numbers_and_the_sample_say_which_run_and_the_focus_can_change(runs_dir, server, open_page):
    port, _ = server
    for name in ("first", "second"):
        with Run(runs_dir / name, config={"learning_rate": 1e-3 if name == "first" else 3e-4}) as run:
            run.log({"train/loss": 1.0}, step=0)
            run.event("sample", {"text": f"text of {name}"}, step=0)
    view = open_page()
    view.page.goto(f"http://127.0.0.1:{port}/?runs=first,second")
    view.wait_until(lambda: view.page.is_visible("#focus"), what="the focus picker")
    view.wait_until(lambda: "first" in view.page.inner_text("#kpis") and "text of first" in view.page.inner_text("#sample"),
                    what="numbers and sample of the first run")
    view.page.select_option("#focus", "second")
    view.wait_until(lambda: "second" in view.page.inner_text("#kpis") and "text of second" in view.page.inner_text("#sample"),
                    what="numbers and sample of the second run")
    view.page.click("#config >> xpath=.. >> summary")
    view.wait_until(lambda: "learning_rate" in view.page.inner_text("#config") and "0.0003" in view.page.inner_text("#config"),
                    what="the second run's configuration")
    view.wait_until(lambda: "focus=second" in view.page.url, what="the focus in the URL")
