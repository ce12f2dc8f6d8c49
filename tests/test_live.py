import math
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from dash import no_update

from nanogpt_dash.live import QUIET_AFTER_S, LiveStore
from nanogpt_dash.tracking import Run
from nanogpt_dash.ui import ids
from nanogpt_dash.ui.figures import ANOMALY_MARKERS
from nanogpt_dash.ui.live_charts import chart_updates
from nanogpt_dash.ui.pages import live
from nanogpt_dash.ui.pages.analysis import RunAnalyses


def log_steps(run_dir, steps, resume_step=None, value=1.0):
    with Run(run_dir, resume_step=resume_step) as run:
        for step in steps:
            run.log({"train/loss": value, "lr": 0.1}, step=step)


def test_new_runs_are_discovered_and_tailed_past_the_cursor(runs_dir):
    store = LiveStore(runs_dir)
    store.poll()
    assert store.run_ids() == []
    log_steps(runs_dir / "a", range(5))
    store._discovered_at = 0
    store.poll()
    assert store.run_ids() == ["a"]
    assert store.view("a", "train/loss").step.tolist() == [0, 1, 2, 3, 4]
    log_steps(runs_dir / "a", range(5, 8), resume_step=5)
    store.poll()
    view = store.view("a", "train/loss", start=5)
    assert view.step.tolist() == [5, 6, 7] and view.end == 8
    assert store.status("a") == "finished"


def test_resumed_run_hides_superseded_points(runs_dir):
    log_steps(runs_dir / "r", range(10), value=1.0)
    log_steps(runs_dir / "r", range(6, 12), resume_step=6, value=2.0)
    store = LiveStore(runs_dir)
    store.poll()
    view = store.view("r", "train/loss")
    assert view.step.tolist() == list(range(12))
    assert view.value.tolist() == [1.0] * 6 + [2.0] * 6
    assert len(store.view("r", "train/loss", show_superseded=True).step) == 16


def test_a_running_run_with_an_old_heartbeat_is_stalled(runs_dir):
    run = Run(runs_dir / "s")
    run.log({"train/loss": 1.0}, step=0)
    run.flush()
    store = LiveStore(runs_dir, stalled_after=30)
    store.poll()
    assert store.status("s") == "running"
    assert store.status("s", now=time.time() + 60) == "stalled"
    run.finish()


def test_ticks_send_full_figures_first_then_only_new_points(runs_dir):
    run = Run(runs_dir / "a")
    for step in range(3):
        run.log({"train/loss": 1.0, "lr": 0.1}, step=step)
    run.flush()
    store = LiveStore(runs_dir)
    store.poll()
    figures, extends, cursor = chart_updates(store, ["a"], None)
    assert figures[0]["data"][0]["x"].tolist() == [0, 1, 2]
    assert len(figures[0]["data"]) == 3, "one trace per loss metric, none for roles nobody asked for"
    assert all(e is no_update for e in extends)

    figures, extends, cursor = chart_updates(store, ["a"], cursor)
    assert all(f is no_update for f in figures + extends), "nothing new, nothing sent"

    for step in (3, 4):
        run.log({"train/loss": 0.5}, step=step)
    run.flush()
    store.poll()
    figures, extends, cursor = chart_updates(store, ["a"], cursor)
    assert all(f is no_update for f in figures), "new points never resend the figure"
    data, indices = extends[0]
    assert indices == [0] and data["x"][0].tolist() == [3, 4] and data["y"][0].tolist() == [0.5, 0.5]
    assert extends[1] is no_update, "lr had no new points"
    run.finish()


def test_new_nan_values_extend_their_marker_trace_and_are_counted_in_an_alert(runs_dir):
    from nanogpt_dash.ui.live_charts import view_state
    from nanogpt_dash.ui.pages.live import run_alerts

    run = Run(runs_dir / "a")
    run.log({"train/loss": 1.0}, step=0)
    run.flush()
    store = LiveStore(runs_dir)
    store.poll()
    view = view_state("step", 0.5, [], None)
    _, _, cursor = chart_updates(store, ["a"], None, view)
    assert run_alerts(store, ["a"]) == []
    run.log({"train/loss": math.nan}, step=1)
    run.flush()
    store.poll()
    figures, extends, cursor = chart_updates(store, ["a"], cursor, view)
    roles = [(t["meta"]["role"], t["meta"].get("kind")) for t in figures[0]["data"]]
    assert ("errors", "NaN") in roles, "the first NaN rebuilds the chart with a marker trace"
    index = roles.index(("errors", "NaN"))

    run.log({"train/loss": math.nan}, step=2)
    run.log({"train/loss": 0.5}, step=3)
    run.flush()
    store.poll()
    figures, extends, cursor = chart_updates(store, ["a"], cursor, view)
    data, indices = extends[0]
    assert indices == [0, 3, index], "line, smoothed line and NaN markers of train/loss"
    assert data["x"][2].tolist() == [2] and data["customdata"][2][0][0] == 2
    assert figures[0] is no_update, "a figure Patch next to extendData makes dcc.Graph lose or repeat points"
    alert = str(run_alerts(store, ["a"]))
    assert "train/loss: 2 NaN (last at step 2)" in alert
    run.finish()


def test_a_cursor_of_another_shape_gets_full_figures_not_an_exception(runs_dir):
    log_steps(runs_dir / "a", range(3))
    store = LiveStore(runs_dir)
    store.poll()
    _, _, cursor = chart_updates(store, ["a"], None)
    for broken in ({"runs": "a"}, {**cursor, "charts": {"loss": {"sent": {"a\ntrain/loss": 3}}}}, 42):
        figures, _, _ = chart_updates(store, ["a"], broken)
        assert isinstance(figures[0], dict) and figures[0]["data"][0]["x"].tolist() == [0, 1, 2]


def test_a_resume_rebuilds_the_figure_without_the_superseded_points(runs_dir):
    log_steps(runs_dir / "a", range(5))
    store = LiveStore(runs_dir)
    store.poll()
    _, _, cursor = chart_updates(store, ["a"], None)
    log_steps(runs_dir / "a", range(2, 4), resume_step=2, value=0.5)
    store.get("a").meta_read_at = 0
    store.poll()
    figures, _, cursor = chart_updates(store, ["a"], cursor)
    assert figures[0]["data"][0]["x"].tolist() == [0, 1, 2, 3]
    assert figures[0]["data"][0]["y"].tolist() == [1.0, 1.0, 0.5, 0.5]


def replace_file(path, data: bytes) -> None:
    """Swap a file's content the way copies and restores do: a new file moved into place."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def test_a_corrupted_run_file_is_an_error_state_that_heals_by_itself(runs_dir):
    log_steps(runs_dir / "bad", range(5))
    log_steps(runs_dir / "good", range(5))
    store = LiveStore(runs_dir)
    store.poll()
    path = runs_dir / "bad" / "metrics.sqlite"
    original = path.read_bytes()
    replace_file(path, b"this is not a database" + original[22:])
    store.get("bad").meta_read_at = 0
    store.poll()  # must not raise
    assert "not a database" in store.get("bad").error
    assert store.get("good").error is None and store.view("good", "train/loss").step.tolist() == [0, 1, 2, 3, 4]

    replace_file(path, original)
    store.get("bad").meta_read_at = 0
    store.poll()
    assert store.get("bad").error is None
    assert store.view("bad", "train/loss").step.tolist() == [0, 1, 2, 3, 4]
    assert store.status("bad") == "finished"


def test_a_dashboard_started_on_a_corrupt_file_recovers_when_it_is_fixed(runs_dir):
    log_steps(runs_dir / "bad", range(3))
    path = runs_dir / "bad" / "metrics.sqlite"
    original = path.read_bytes()
    path.write_bytes(b"\0" * len(original))
    store = LiveStore(runs_dir)
    store.poll()
    assert store.get("bad").error
    path.write_bytes(original)
    store.poll()
    assert store.get("bad").error is None and len(store.view("bad", "train/loss").step) == 3


def test_a_truncated_run_file_is_an_error_state(runs_dir):
    log_steps(runs_dir / "cut", range(2000))
    path = runs_dir / "cut" / "metrics.sqlite"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])
    store = LiveStore(runs_dir)
    store.poll()
    assert store.get("cut").error


def test_garbage_in_the_values_column_is_reported_and_recovers_when_fixed(runs_dir):
    run = Run(runs_dir / "junk")
    run.log({"train/loss": 1.0}, step=0)
    run.flush()
    store = LiveStore(runs_dir)
    store.poll()
    with sqlite3.connect(runs_dir / "junk" / "metrics.sqlite") as conn:
        conn.execute("INSERT INTO scalars (segment, step, wall_time, key_id, value) VALUES (1, 1, 0, 1, 'garbage')")
    run.log({"train/loss": 0.5}, step=2)
    run.flush()
    store.poll()
    assert "not a number" in store.get("junk").error
    with sqlite3.connect(runs_dir / "junk" / "metrics.sqlite") as conn:
        conn.execute("UPDATE scalars SET value = 0.75 WHERE value = 'garbage'")
    store.poll()
    assert store.get("junk").error is None
    assert store.view("junk", "train/loss").value.tolist() == [1.0, 0.75, 0.5]
    run.finish()


def test_extreme_values_are_kept(runs_dir):
    with Run(runs_dir / "x") as run:
        for step, value in enumerate([1e30, 1e-30, -1e30, 0.0]):
            run.log({"grad_norm": value}, step=step)
    store = LiveStore(runs_dir)
    store.poll()
    values = store.view("x", "grad_norm").value
    assert values[0] == np.float32(1e30) and values[1] == np.float32(1e-30) and values[2] == np.float32(-1e30)


def test_series_memory_is_about_twelve_bytes_a_point(runs_dir):
    from nanogpt_dash.live import Series

    series = Series(origin=1000.0)
    n = 1_000_000
    steps = np.arange(n)
    series.extend(steps, np.ones(n), 1000.0 + steps * 0.1, np.ones(n, dtype=np.int32))
    assert series.nbytes() / n < 12.5
    step, value, wall, segment = series.columns(n - 3, n)
    assert step.tolist() == [n - 3, n - 2, n - 1] and segment.tolist() == [1, 1, 1]
    np.testing.assert_allclose(wall, 1000.0 + step * 0.1, atol=0.01)


def test_superseded_points_are_shown_on_request_as_their_own_trace(runs_dir):
    from nanogpt_dash.ui.live_charts import view_state

    log_steps(runs_dir / "r", range(10), value=1.0)
    log_steps(runs_dir / "r", range(6, 12), resume_step=6, value=2.0)
    store = LiveStore(runs_dir)
    store.poll()
    hidden, _, _ = chart_updates(store, ["r"], None, view_state("step", 0.0, [], None))
    shown, _, _ = chart_updates(store, ["r"], None, view_state("step", 0.0, ["superseded"], None))
    assert not any(t["meta"]["role"] == "superseded" for t in hidden[0]["data"])
    old = [t for t in shown[0]["data"] if t["meta"]["role"] == "superseded" and t["meta"]["key"] == "train/loss"]
    assert old[0]["x"].tolist() == [6, 7, 8, 9]
    assert shown[0]["data"][0]["x"].tolist() == list(range(12)), "the live curve is the same either way"


def test_every_x_axis_mode_builds_a_chart(runs_dir):
    from nanogpt_dash.ui.live_charts import view_state
    from nanogpt_dash.views import X_MODES

    with Run(runs_dir / "r", config={"gradient_accumulation_steps": 2, "batch_size": 4, "block_size": 8}) as run:
        for step in range(5):
            run.log({"train/loss": 1.0}, step=step)
    store = LiveStore(runs_dir)
    store.poll()
    xs = {}
    for mode in X_MODES:
        figures, _, _ = chart_updates(store, ["r"], None, view_state(mode, 0.0, [], None))
        xs[mode] = figures[0]["data"][0]["x"]
        assert figures[0]["layout"]["xaxis"]["type"] == ("date" if mode == "wall" else "linear")
    assert xs["tokens"].tolist() == [0, 64, 128, 192, 256]
    assert xs["relative"][0] >= 0 and all(np.diff(xs["wall"]) >= 0)


def test_browser_x_ranges_become_x_units():
    from nanogpt_dash.ui.live_charts import parse_zoom

    assert parse_zoom([10, 20], "step") == [10.0, 20.0]
    assert parse_zoom(None, "step") is None
    wall = parse_zoom(["2026-01-01 00:00:00", "2026-01-01 01:00:00"], "wall")
    assert wall[1] - wall[0] == 3_600_000.0


def test_a_zoom_whose_answer_was_dropped_is_applied_by_the_next_tick(runs_dir):
    from nanogpt_dash.ui.live_charts import view_state

    run = Run(runs_dir / "big")
    for step in range(12_000):
        run.log({"train/loss": float(step % 7)}, step=step)
    run.flush()
    store = LiveStore(runs_dir)
    store.poll()
    view = view_state("step", 0.0, [], 600)
    overview, _, cursor = chart_updates(store, ["big"], None, view, {})
    assert len(overview[0]["data"][0]["x"]) <= 1201, "about two points per pixel"
    zoom = {"loss": [5000, 5100]}
    chart_updates(store, ["big"], cursor, view, zoom)  # this answer never reaches the browser
    figures, _, cursor = chart_updates(store, ["big"], cursor, view, zoom)  # a plain tick: the same zoom store
    assert figures[0]["data"][0]["x"].tolist() == list(range(5000, 5101))
    figures, _, _ = chart_updates(store, ["big"], cursor, view, zoom)
    assert not isinstance(figures[0], dict), "an applied zoom is not rebuilt again"
    run.finish()


def test_a_view_change_that_keeps_the_x_axis_keeps_the_zoom(runs_dir):
    from nanogpt_dash.ui.live_charts import view_state

    with Run(runs_dir / "big") as run:
        for step in range(12_000):
            run.log({"train/loss": float(step % 7)}, step=step)
    store = LiveStore(runs_dir)
    store.poll()
    zoom = {"loss": [5000, 5100]}
    _, _, cursor = chart_updates(store, ["big"], None, view_state("step", 0.0, [], 600), {})
    _, _, cursor = chart_updates(store, ["big"], cursor, view_state("step", 0.0, [], 600), zoom)
    smoothed, _, cursor = chart_updates(store, ["big"], cursor, view_state("step", 0.5, [], 600), zoom)
    assert smoothed[0]["data"][0]["x"].tolist() == list(range(5000, 5101))
    by_time, _, _ = chart_updates(store, ["big"], cursor, view_state("relative", 0.5, [], 600), zoom)
    assert len(by_time[0]["data"][0]["x"]) <= 1201, "a new x axis starts from the overview"


def test_metrics_the_page_does_not_show_are_not_held_in_memory(runs_dir):
    with Run(runs_dir / "r") as run:
        run.log({"train/loss": 1.0, "layer0/act_std": 0.5}, step=0)
    store = LiveStore(runs_dir, keys={"train/loss"})
    store.poll()
    assert store.keys("r") == ["train/loss"]


def test_keys_ending_in_a_star_keep_every_metric_with_that_prefix(runs_dir):
    with Run(runs_dir / "a") as run:
        run.log({"train/loss": 1.0, "layers/h.0/act_std": 0.5, "params/lm/grad_norm": 2.0, "other": 3.0}, step=0)
    store = LiveStore(runs_dir, keys={"train/loss", "layers/*", "params/*"})
    store.poll()
    assert store.keys("a") == ["layers/h.0/act_std", "params/lm/grad_norm", "train/loss"]


def test_attention_arrays_are_mirrored_and_bounded(runs_dir, monkeypatch):
    from nanogpt_dash import live

    with Run(runs_dir / "a") as run:
        for step in (0, 10, 20):
            run.log({"val/loss": 1.0}, step=step)
            run.log_array("attention", np.full((1, 1, 4, 4), step, np.float16), step=step, meta={"tokens": list("abcd")})
    monkeypatch.setattr(live, "ARRAY_BYTES_KEPT", 2 * 32)  # room for two 4x4 float16 maps
    store = LiveStore(runs_dir)
    store.poll()
    kept = store.arrays("a", "attention")
    assert [a.step for a in kept] == [10, 20] and kept[-1].meta == {"tokens": list("abcd")}
    assert store.arrays("a", "other") == [] and store.arrays("missing", "attention") == []

def test_finite_values_beyond_float32_stay_finite_in_the_store_and_the_charts(runs_dir):
    run = Run(runs_dir / "big")
    for step, value in enumerate([1.0, 1e39, -1e300, 2.0]):
        run.log({"train/loss": value}, step=step)
    run.flush()
    store = LiveStore(runs_dir)
    store.poll()
    values = store.view("big", "train/loss").value
    assert values.tolist() == [1.0, 1e39, -1e300, 2.0]
    assert store.nonfinite("big") == {}, "no value here is NaN or Inf"
    figures, _, cursor = chart_updates(store, ["big"], None)
    line = figures[0]["data"][0]
    assert np.isfinite(line["y"]).all() and line["y"][1] == 1e39
    run.log({"train/loss": 3e38 * 10}, step=4)
    run.flush()
    store.poll()
    _, extends, _ = chart_updates(store, ["big"], cursor)
    data, _ = extends[0]
    assert data["y"][0].tolist() == [3e39]
    run.finish()


def write_rows(run_dir, steps: int, age_s: float = 0.0) -> None:
    with Run(run_dir) as run:
        for step in range(steps):
            run.log({"train/loss": 1.0}, step=step)
    if age_s:
        then = time.time() - age_s
        os.utime(run_dir / "metrics.sqlite", (then, then))


def test_runs_load_in_the_background_newest_first_and_say_loading_until_then(runs_dir, monkeypatch):
    from nanogpt_dash import live

    monkeypatch.setattr(live, "LOAD_SLICE", 100)
    write_rows(runs_dir / "old", 250, age_s=3600)
    write_rows(runs_dir / "new", 250)
    write_rows(runs_dir / "mid", 250, age_s=60)
    store = LiveStore(runs_dir)
    loaded_order = []
    for _ in range(30):
        store.poll(load_budget=0.0)  # one slice per poll
        for run_id in ("new", "mid", "old"):
            if not store.loading(run_id) and run_id not in loaded_order:
                loaded_order.append(run_id)
                assert len(store.view(run_id, "train/loss").step) == 250
        if store.run_ids() and not store.loading_runs():
            break
        assert store.loading_runs() == [r for r in ("new", "mid", "old") if r not in loaded_order]
    assert loaded_order == ["new", "mid", "old"]


def test_start_returns_at_once_and_the_server_answers_while_runs_load(runs_dir, monkeypatch):
    import threading

    from fastapi.testclient import TestClient

    from nanogpt_dash.server import create_app

    write_rows(runs_dir / "a", 10)
    release = threading.Event()
    original = LiveStore._tail

    def slow_tail(self, run, now, *args, **kwargs):
        release.wait(10)  # a huge file being read
        return original(self, run, now, *args, **kwargs)

    monkeypatch.setattr(LiveStore, "_tail", slow_tail)
    made = {}
    maker = threading.Thread(target=lambda: made.update(app=create_app(runs_dir)))
    maker.start()
    maker.join(5)
    try:
        assert "app" in made, "create_app() waited for the runs to load"
        app, store = made["app"]
        client = TestClient(app.server, base_url="http://127.0.0.1:8050")
        deadline = time.monotonic() + 5
        while not store.run_ids() and time.monotonic() < deadline:
            time.sleep(0.01)
        health = client.get("/health").json()
        assert health["runs"] == 1 and health["loading"] == ["a"] and store.loading("a")
        release.set()
        while store.loading("a") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not store.loading("a") and len(store.view("a", "train/loss").step) == 10
        assert client.get("/health").json()["loading"] == []
    finally:
        release.set()
        maker.join(10)
        if "app" in made:
            made["app"][1].stop()


def test_an_idle_store_of_30_runs_and_7_unreadable_files_uses_under_1_percent_cpu(runs_dir):
    for i in range(30):
        write_rows(runs_dir / f"run{i:02d}", 20)
    for i in range(7):
        (runs_dir / f"bad{i}").mkdir()
        (runs_dir / f"bad{i}" / "metrics.sqlite").write_bytes(b"this is not a database" * 100)
    store = LiveStore(runs_dir).start()
    try:
        deadline = time.monotonic() + 30
        while (len(store.run_ids()) < 37 or store.loading_runs()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not store.loading_runs()
        time.sleep(QUIET_AFTER_S + 1)  # past the back-off ramp and the quiet threshold
        clock = time.pthread_getcpuclockid(store._thread.ident)
        cpu0, wall0 = time.clock_gettime(clock), time.monotonic()
        time.sleep(3.0)
        share = (time.clock_gettime(clock) - cpu0) / (time.monotonic() - wall0)
    finally:
        store.stop()
    print(f"idle poller: {share:.2%} of a core")
    assert share < 0.01, f"idle poller used {share:.1%} of a core"
    assert all(store.get(f"bad{i}").error for i in range(7))


def test_smoothing_leaves_eval_points_and_the_schedule_alone_and_ends_near_the_last_value(runs_dir):
    from nanogpt_dash.ui.live_charts import view_state

    with Run(runs_dir / "s") as run:
        rng = np.random.default_rng(0)
        for step in range(400):
            run.log({"train/loss": 3.0 - step / 200 + rng.normal(0, 0.1), "lr": 1e-3 * min(1, step / 50)}, step=step)
            if step % 200 == 0:
                run.log({"val/loss": 3.0 - step / 200}, step=step)
    store = LiveStore(runs_dir)
    store.poll()
    figures, _, _ = chart_updates(store, ["s"], None, view_state("step", 0.9, [], 800))
    by_role = {(t["meta"]["key"], t["meta"]["role"]): t for t in figures[0]["data"]}
    assert len(by_role[("val/loss", "smooth")]["x"]) == 0, "two eval points are never smoothed"
    assert by_role[("val/loss", "line")]["opacity"] == 1.0
    smooth, raw = by_role[("train/loss", "smooth")]["y"], by_role[("train/loss", "line")]["y"]
    # an EMA of weight 0.9 averages about the last 1/(1-0.9) = 10 points: it ends within their range
    assert min(raw[-30:]) <= smooth[-1] <= max(raw[-30:])
    lr_chart = figures[1]["data"]
    assert [t["meta"]["role"] for t in lr_chart] == ["line"], "the learning-rate schedule is never smoothed"
    assert lr_chart[0]["opacity"] == 1.0


def test_time_since_start_is_labelled_in_the_unit_of_the_span(runs_dir):
    from nanogpt_dash.ui.live_charts import view_state

    with Run(runs_dir / "t") as run:
        for step in range(5):
            run.log({"train/loss": 1.0}, step=step)
    store = LiveStore(runs_dir)
    store.poll()
    figures, _, _ = chart_updates(store, ["t"], None, view_state("relative", 0.0, [], 800))
    assert figures[0]["layout"]["xaxis"]["title"]["text"] == "time since start (s)"


def test_a_chart_without_points_says_it_is_waiting_and_is_rebuilt_by_the_first_point(runs_dir):
    from nanogpt_dash.ui.live_charts import view_state

    run = Run(runs_dir / "new")
    run.log({"lr": 1e-3}, step=0)  # the run exists, its loss has no point yet
    run.flush()
    store = LiveStore(runs_dir)
    store.poll()
    view = view_state("step", 0.0, [], 800)
    figures, _, cursor = chart_updates(store, ["new"], None, view)
    assert figures[0]["layout"]["annotations"][0]["text"] == "waiting for the first step…"
    run.log({"train/loss": 2.0}, step=1)
    run.finish()
    store.poll()
    figures, extends, _ = chart_updates(store, ["new"], cursor, view)
    assert figures[0] is not no_update and "annotations" not in figures[0]["layout"], "rebuilt without the note"


def test_a_burst_of_points_redraws_the_chart_instead_of_sending_every_point(runs_dir):
    from nanogpt_dash.ui.live_charts import view_state

    run = Run(runs_dir / "burst")
    for step in range(100):
        run.log({"train/loss": 1.0 / (1 + step)}, step=step)
    run.flush()
    store = LiveStore(runs_dir)
    store.poll()
    view = view_state("step", 0.0, [], 800)  # a budget of 1,600 points: a burst is more than 400 at once
    _, _, cursor = chart_updates(store, ["burst"], None, view)
    for step in range(100, 105):
        run.log({"train/loss": 0.01}, step=step)
    run.flush()
    store.poll()
    figures, extends, cursor = chart_updates(store, ["burst"], cursor, view)
    assert figures[0] is no_update and len(extends[0][0]["x"][0]) == 5, "a few new points are extended"
    for step in range(105, 20_105):  # e.g. a run that finished loading, or a tab that slept
        run.log({"train/loss": 0.01}, step=step)
    run.finish()
    store.poll()
    figures, extends, _ = chart_updates(store, ["burst"], cursor, view)
    assert figures[0] is not no_update and extends[0] is no_update, "drawn anew, downsampled"
    assert len(figures[0]["data"][0]["x"]) <= 4001


def log_noisy_loss(run: Run, steps: range, spike_at: int) -> None:
    rng = np.random.default_rng(steps.start)
    for step in steps:
        run.log({"train/loss": 2.0 + rng.normal(0, 0.02) + (1.0 if step == spike_at else 0.0)}, step=step)


class LivePushes:
    """A run "r" of noisy loss, a LiveStore on it and the Live page's pushes to one tab."""

    def __init__(self, runs_dir: Path) -> None:
        self.run = Run(runs_dir / "r")
        self.store = LiveStore(runs_dir)
        self.analyses = RunAnalyses(self.store)
        self.view = {"page": "/", "runs": ["r"]}

    def push(self, steps: range, cursor: dict | None, spike_at: int = -1, scratch: dict | None = None):
        log_noisy_loss(self.run, steps, spike_at)
        self.run.flush()
        self.store.poll()
        return live.push(self.store, self.view, cursor, {} if scratch is None else scratch, analyses=self.analyses)


def test_a_loss_spike_is_marked_on_the_live_loss_chart_and_later_ones_arrive_as_new_points(runs_dir):
    tab = LivePushes(runs_dir)
    first = tab.push(range(0, 300), None, spike_at=200)
    loss = first.props[ids.chart("loss")]["figure"]
    marks = [t for t in loss["data"] if t["meta"].get("role") == "anomalies"]
    assert len(marks) == 1 and marks[0]["x"].tolist() == [200] and marks[0]["y"][0] > 2.8
    step, _, kind, message = marks[0]["customdata"][0]
    assert (step, kind) == (200, "spike") and "train/loss jumped to" in message
    assert marks[0]["marker"]["symbol"] == ANOMALY_MARKERS[marks[0]["meta"]["severity"]][0]
    assert not any(t["meta"].get("role") == "anomalies" for t in first.props[ids.chart("lr")]["figure"]["data"])

    second = tab.push(range(300, 420), first.cursor, spike_at=400)
    assert ids.chart("loss") not in second.props, "a new anomaly is a new point, not a redraw"
    update, indices, rev = second.feed["points"]["pushes"][-1]["charts"]["loss"]
    at = indices.index(loss["data"].index(marks[0]))
    assert rev == loss["layout"]["meta"]["rev"]
    assert update["x"][at].tolist() == [400] and update["customdata"][at][0][2] == "spike"
    tab.run.finish()


def test_held_key_numbers_wait_for_the_next_points_before_a_round_of_their_own(runs_dir):
    """A round of its own makes the next point wait for the tab's rate: while a run logs, held key numbers
    ride on its pushes, and get their own round only once no data came for KPI_ALONE_AFTER_S."""
    tab = LivePushes(runs_dir)
    first = tab.push(range(0, 10), None)
    assert ids.KPIS in first.props and first.again_in is None
    second = tab.push(range(10, 12), first.cursor)  # within KPI_PERIOD_S of the first
    assert second.feed["points"]["pushes"] and ids.KPIS not in second.props and "kpis" not in second.feed, "held"
    # held: the key numbers went out less than KPI_PERIOD_S ago, and get a round of their own
    # KPI_ALONE_AFTER_S after that
    assert live.KPI_ALONE_AFTER_S - live.KPI_PERIOD_S < second.again_in <= live.KPI_ALONE_AFTER_S
    tab.run.finish()


def test_with_no_tab_shown_the_store_polls_seldom_and_a_tab_shown_wakes_it_at_once(runs_dir, monkeypatch):
    from nanogpt_dash import live as live_module

    monkeypatch.setattr(live_module, "IDLE_POLL_INTERVAL_S", 3600.0)  # "seldom" made "not within this test"
    shown = [None]  # seconds until new rows are of use to a tab shown (None: no tab is shown)
    store = LiveStore(runs_dir)
    polls = []
    real_poll = store.poll
    monkeypatch.setattr(store, "poll", lambda **kw: (polls.append(time.monotonic()), real_poll(**kw)))
    store.watched_by(lambda now: shown[0])
    store.start(interval=0.01)
    try:
        deadline = time.monotonic() + 30
        while not polls and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)
        assert len(polls) == 1, "nobody watches: no poll after the first"
        shown[0] = 0.0
        store.wake()  # what the Channel does when a tab opens or is shown
        while len(polls) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(polls) >= 10, "a shown tab: polled at the full rate again"
        shown[0] = None
        time.sleep(0.5)
        count = len(polls)
        time.sleep(0.5)
        assert len(polls) == count, "the tab hidden again: polls stop"
    finally:
        store.stop()


def test_the_store_polls_when_the_channel_says_new_rows_are_next_of_use(runs_dir):
    from nanogpt_dash.live import IDLE_POLL_INTERVAL_S, POLL_INTERVAL_S

    store = LiveStore(runs_dir)
    for wait, interval in ((None, IDLE_POLL_INTERVAL_S), (0.0, POLL_INTERVAL_S), (0.001, POLL_INTERVAL_S),
                           (0.125, 0.125), (0.2, 0.2), (5.0, IDLE_POLL_INTERVAL_S)):
        store.watched_by(lambda now: wait)
        assert store.poll_interval() == pytest.approx(interval), wait


def test_the_channel_says_the_runs_are_watched_only_while_a_tab_is_shown(runs_dir):
    import asyncio

    from nanogpt_dash.ui.push import Channel, ClientView

    store = LiveStore(runs_dir)
    woken = []
    store.wake = lambda: woken.append(True)
    channel = Channel(store)
    run = Run(runs_dir / "r")
    run.log({"train/loss": 2.0}, step=0)
    run.flush()
    store.poll()  # the store knows the run

    async def tabs():
        now = time.monotonic()
        assert channel.poll_in(now) is None
        hidden = channel.open("a", ClientView(visible=False), None)
        assert channel.poll_in(now) is None and not woken, "a hidden tab is sent nothing: no need to poll for it"
        channel.update("a", ClientView(visible=True, rate_hz=2.0))
        assert channel.poll_in(now) == pytest.approx(0.5 / 4) and woken == [True], \
            "shown: the store polls at once, then four times per update while new rows would go out at once"
        fast = channel.open("b", ClientView(visible=True, rate_hz=8.0), None)
        assert len(woken) == 2 and channel.poll_in(now) == pytest.approx(0.125 / 4), "the store polls for the fastest tab"
        channel.close(hidden)
        # new rows: b's round runs now, and the next may run an update later; until then no poll is of use to it
        run.log({"train/loss": 1.0}, step=1)
        run.flush()
        store.poll()
        assert fast.next_round == pytest.approx(time.monotonic() + 0.125, abs=0.05)
        assert channel.poll_in(time.monotonic()) == pytest.approx(0.125, abs=0.05)
        fast.next_round = time.monotonic() + 0.08  # the pusher's round ended: it says when the next may run
        assert channel.poll_in(time.monotonic()) == pytest.approx(0.08, abs=0.05)
        fast.next_round = time.monotonic() - 1  # its pause is over and no rows came: polls at four per update again
        assert channel.poll_in(time.monotonic()) == pytest.approx(0.125 / 4)
        channel.update("b", ClientView(visible=False))
        assert channel.poll_in(time.monotonic()) is None
        run.finish()

    # a thread of its own: earlier tests in this process (Playwright's sync API) may leave an event loop running here
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, tabs()).result(timeout=30)


def test_each_visit_of_the_live_page_numbers_its_pushes_of_points_anew(runs_dir):
    """A tab back on the Live page after another page starts a new stream: numbered from 1, without the
    pushes of its earlier visit (assets/charts.js starts counting anew when the stream changes)."""
    tab, scratch = LivePushes(runs_dir), {}
    cursor = tab.push(range(0, 10), None, scratch=scratch).cursor
    for start in (10, 20, 30):
        points = tab.push(range(start, start + 10), cursor, scratch=scratch)
        cursor = points.cursor
    assert [p["seq"] for p in points.feed["points"]["pushes"]] == [1, 2, 3]
    first_visit = points.feed["points"]["stream"]
    cursor = tab.push(range(40, 50), {"page": "/model"}, scratch=scratch).cursor  # back from another page
    again = tab.push(range(50, 60), cursor, scratch=scratch).feed["points"]
    assert again["stream"] != first_visit
    assert again["seq"] == 1 and [p["seq"] for p in again["pushes"]] == [1]
    tab.run.finish()
