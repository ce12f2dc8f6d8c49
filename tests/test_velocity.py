import numpy as np
import pytest

from nanogpt_dash.analytics import eta_seconds, step_time_percentiles, velocity


def test_constant_rate_run_has_exact_speed_and_eta():
    step = np.arange(0, 1001)
    wall = 500.0 + step * 0.25  # 4 it/s
    v = velocity(step, wall, max_iters=5000, tokens_per_step=1536, now=wall[-1], started=500.0)
    assert v.iters_per_sec == pytest.approx(4.0)
    assert v.tokens_per_sec == pytest.approx(4 * 1536)
    assert v.eta_s == pytest.approx((5000 - 1000) / 4.0)
    assert v.elapsed_s == pytest.approx(250.0)
    assert v.step_time.p50_ms == pytest.approx(250.0) and v.step_time.p99_ms == pytest.approx(250.0)


def test_finished_run_has_no_eta_and_elapsed_ends_at_its_last_point():
    step = np.arange(100)
    v = velocity(step, step * 1.0, max_iters=1000, running=False, now=10_000.0)
    assert v.eta_s is None and v.elapsed_s == 99.0


def test_step_time_percentiles_come_from_iter_ms_when_logged():
    ms = np.r_[np.full(98, 10.0), 100.0, np.nan]
    p = step_time_percentiles(ms)
    assert p.p50_ms == 10.0 and p.count == 99 and p.p99_ms > 10.0
    assert eta_seconds(10, None, 3.0) is None and eta_seconds(2000, 1000, 3.0) == 0.0


def test_the_time_left_does_not_jump_when_an_eval_pauses_training():
    import numpy as np

    from nanogpt_dash.analytics.progress import iteration_rate, steady_rate

    # 10 it/s, with a 5 s eval every 250 iterations (as train.py's default does)
    step = np.arange(1000)
    wall = step / 10.0 + 5.0 * (step // 250)
    just_after_eval, before_eval = 760, 990
    # the predicted end (now + time left) seen just after an eval and 230 iterations later
    ends = [wall[s] + (2000 - s) / steady_rate(step[:s + 1], wall[:s + 1]) for s in (just_after_eval, before_eval)]
    naive = [wall[s] + (2000 - s) / iteration_rate(step[:s + 1], wall[:s + 1]) for s in (just_after_eval, before_eval)]
    assert abs(naive[0] - naive[1]) > 60, "the speed of the last 50 iterations swings with each eval"
    assert abs(ends[0] - ends[1]) < 15, ends
    overall = 1000 / wall[-1]
    assert abs(steady_rate(step, wall) - overall) / overall < 0.05, "evals count in the time left"
