import math
import sqlite3
import time

import numpy as np
from dash import no_update

from nanogpt_dash.live import LiveStore
from nanogpt_dash.tracking import Run
from nanogpt_dash.ui.live_charts import chart_updates


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
