import time

from dash import no_update

from nanogpt_dash.live import LiveStore
from nanogpt_dash.tracking import Run
from nanogpt_dash.ui.live_page import chart_updates


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
    figures, cursor = chart_updates(store, ["a"], None)
    assert figures[0]["data"][0]["x"].tolist() == [0, 1, 2]

    figures, cursor = chart_updates(store, ["a"], cursor)
    assert all(f is no_update for f in figures), "nothing new, nothing sent"

    for step in (3, 4):
        run.log({"train/loss": 0.5}, step=step)
    run.flush()
    store.poll()
    figures, cursor = chart_updates(store, ["a"], cursor)
    operations = figures[0].to_plotly_json()["operations"]
    assert [op["params"]["value"] for op in operations if op["location"] == ["data", 0, "x"]] == [[3, 4]]
    assert figures[1] is no_update, "lr had no new points"
    run.finish()


def test_a_resume_rebuilds_the_figure_without_the_superseded_points(runs_dir):
    log_steps(runs_dir / "a", range(5))
    store = LiveStore(runs_dir)
    store.poll()
    _, cursor = chart_updates(store, ["a"], None)
    log_steps(runs_dir / "a", range(2, 4), resume_step=2, value=0.5)
    store.get("a").meta_read_at = 0
    store.poll()
    figures, cursor = chart_updates(store, ["a"], cursor)
    assert figures[0]["data"][0]["x"].tolist() == [0, 1, 2, 3]
    assert figures[0]["data"][0]["y"].tolist() == [1.0, 1.0, 0.5, 0.5]
