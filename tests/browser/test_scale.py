"""A million points per metric in real Chromium: downsampled overview, spikes kept, zoom to full resolution,
and the browser-memory purge."""

import math

import numpy as np
import pytest

from nanogpt_dash.store import RunWriter, ScalarRow

from browsing import SteadyWriter
from helpers import free_port, start_server, stop_process

N = 1_000_000
SPIKE_STEP, SPIKE = 777_777, 50.0


@pytest.fixture(scope="module")
def million(tmp_path_factory):
    """A finished run with 1,000,000 points of each of the four charted metrics, one spike and one NaN."""
    runs_dir = tmp_path_factory.mktemp("scale") / "runs"
    writer = RunWriter(runs_dir / "million")
    writer.begin_segment(run_id="million", name="million", start_step=0, config={"max_iters": N}, model_args={},
                         host="test", pid=0)
    loss = (2.0 + np.random.default_rng(0).normal(0, 0.05, N)).tolist()
    loss[SPIKE_STEP] = SPIKE
    loss[123_456] = math.nan
    start = 1_700_000_000.0
    for chunk in range(0, N, 100_000):
        rows = []
        for i in range(chunk, chunk + 100_000):
            t = start + i * 0.1
            rows += (ScalarRow(i, t, "train/loss", loss[i]), ScalarRow(i, t, "lr", 1e-3),
                     ScalarRow(i, t, "grad_norm", 1.0), ScalarRow(i, t, "tokens_per_sec", 1e4))
        writer.write(rows, [])
    writer.set_status("finished")
    writer.close()
    port = free_port()
    server = start_server(runs_dir, port)
    yield port
    stop_process(server)


def test_a_million_points_load_downsampled_with_the_spike_and_zoom_to_full_resolution(million, open_page):
    view = open_page()
    view.page.goto(f"http://127.0.0.1:{million}/?run=million", timeout=60_000)
    view.wait_until(lambda: (view.trace() or {}).get("total") == N, timeout=60, what="the overview")
    overview = view.trace()
    assert len(overview["x"]) <= 4001, "downsampled to the chart's pixel budget"
    assert max(y for y in overview["y"] if y is not None) == SPIKE, "the one-sample spike survives"
    assert overview["x"][-1] == N - 1, "the newest point is always included"
    errors = view.trace(role="errors")
    assert errors["x"] == [123_456] and errors["name"].endswith("NaN")
    assert "train/loss: 1 NaN (last at step 123,456)" in view.page.inner_text("#alerts")

    view.relayout("loss", {"xaxis.range": [500_000, 502_000]})
    view.wait_until(lambda: view.trace()["x"][:1] == [500_000], timeout=30, what="the zoomed range")
    assert view.trace()["x"] == list(range(500_000, 502_001)), "every point of the visible range"

    view.relayout("loss", {"xaxis.autorange": True})
    view.wait_until(lambda: len(view.trace()["x"]) <= 4001 and view.trace()["x"][0] == 0, timeout=60,
                    what="the overview after a double-click")
    assert view.errors == []


@pytest.mark.parametrize("limit, notice", [("heap_limit_mb=1", "Browser memory passed 1 MB"),
                                           ("points_limit=40", "The charts passed 40 points")],
                         ids=["heap (Chromium only)", "points (every browser)"])
def test_past_a_memory_limit_the_oldest_points_are_purged_and_the_newest_stay(runs_dir, server, open_page, limit, notice):
    port, _ = server
    with SteadyWriter(runs_dir / "purge", interval=0.02) as writer:
        view = open_page()
        view.follow(port, "purge", points=50, what="points before the purge")
        view.page.goto(f"http://127.0.0.1:{port}/?run=purge&{limit}")
        view.wait_until(lambda: notice in view.page.inner_text("#memory"), timeout=20, what="the purge notice")
        # a full redraw (the first width measurement, say) may bring the points back; the next purge
        # comes after a 10 s cool-down
        view.wait_until(lambda: (view.trace() or {"x": [0]})["x"][:1] not in ([], [0]), timeout=30,
                        what="a chart without its oldest points")
        kept = view.trace()["x"]
        logged = writer.step
        view.wait_until(lambda: view.trace()["x"][-1] >= logged, timeout=20, what="points logged after the purge")
    assert kept[0] > 0, "the oldest points were dropped"
    assert view.errors == []


def test_pushed_points_do_not_pile_up_in_dash_undo_history(runs_dir, server, open_page):
    # Dash records the old value of every callback input changed outside a callback response in
    # store.history.past and never trims it: every push's points stayed in memory (a leak found
    # with heap snapshots: 30 -> 123 MB in 250 s at 10 pushes/s while the charts held 4.4k points)
    port, _ = server
    with SteadyWriter(runs_dir / "history", interval=0.005):
        view = open_page()
        view.page.goto(f"http://127.0.0.1:{port}/?run=history&rate=10")
        view.wait_until(lambda: view.page.evaluate("() => (window.ngdCharts || {}).applied || 0") >= 40, timeout=60,
                        what="40 pushes applied")
        past = view.page.evaluate("() => window.store.getState().history.past.length")
    assert past <= 3, f"{past} pushes kept in Dash's undo history"
    assert view.errors == []
