import math

from nanogpt_dash.analytics import format_duration, iteration_rate, progress
from nanogpt_dash.live import LiveStore
from nanogpt_dash.tracking import Run

import numpy as np


def test_progress_reports_loss_best_val_speed_and_eta(runs_dir):
    run = Run(runs_dir / "p", config={"max_iters": 1000})
    for step in range(100):
        run.log({"train/loss": 3.0 - step * 0.01, "tokens_per_sec": 5000.0}, step=step)
    run.log({"val/loss": 2.5}, step=50)
    run.log({"val/loss": 2.7}, step=75)
    run.log({"val/loss": math.nan}, step=99)
    run.flush()
    store = LiveStore(runs_dir)
    store.poll()
    p = progress(store, "p")
    assert p.status == "running" and p.step == 99 and p.max_iters == 1000
    assert abs(p.train_loss - 2.01) < 1e-5 and p.best_val_loss == 2.5, "NaN never counts as best"
    assert abs(p.val_loss - 2.7) < 1e-6, "the latest finite eval: the run is past its best"
    assert p.tokens_per_sec == 5000.0 and p.iters_per_sec > 0 and p.eta_s is not None
    run.finish()
    store.get("p").meta_read_at = 0
    store.poll()
    assert progress(store, "p").eta_s is None, "no ETA once a run has ended"


def test_iteration_rate_uses_wall_clock_over_recent_steps():
    assert iteration_rate(np.array([0, 10, 20]), np.array([100.0, 101.0, 102.0])) == 10.0
    assert iteration_rate(np.array([5]), np.array([1.0])) is None


def test_durations_read_naturally():
    assert [format_duration(s) for s in (None, 5, 125, 7322)] == ["–", "5s", "2m 05s", "2h 02m"]
