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
