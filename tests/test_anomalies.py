import math

import numpy as np
import pandas as pd

from nanogpt_dash.analytics import AnomalyDetector, AnomalySettings, detect, stalled


def noisy_loss(n: int, sigma: float = 0.02, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    step = np.arange(n)
    value = 1.5 + 2.0 * (1 + step / 100.0) ** -0.5 + rng.normal(0, sigma, n)
    return step, value, 1000.0 + step * 0.1


def test_spike_at_a_known_step_is_found_once():
    step, value, wall = noisy_loss(5000)
    value[3210] += 15 * 0.02
    events = detect({"train/loss": (step, value, wall)})
    assert [(e.kind, e.step) for e in events] == [("spike", 3210)]
    assert events[0].wall_time == wall[3210] and "train/loss jumped" in events[0].message


def test_clean_noise_raises_nothing():
    for seed in range(5):
        step, value, wall = noisy_loss(20_000, seed=seed)
        assert detect({"train/loss": (step, value, wall)}) == []


def test_incremental_updates_give_the_same_events_as_one_pass():
    step, value, wall = noisy_loss(4000)
    value[[700, 2500]] += 0.5
    value[3000] = math.nan
    whole = detect({"train/loss": (step, value, wall)})
    detector = AnomalyDetector()
    for a in range(0, 4000, 37):
        detector.update("train/loss", step[a:a + 37], value[a:a + 37], wall[a:a + 37])
    assert repr(detector.events) == repr(whole), "NaN values compare unequal; their reprs do not"
    assert [(e.kind, e.step) for e in whole] == [("spike", 700), ("spike", 2500), ("nonfinite", 3000)]


def test_a_few_new_points_get_the_same_references_as_pandas_rolling_medians():
    # the live path (a median per new point) against the definition: pandas' rolling medians of the
    # points before each one, for a history as short as one point and batches up to the limit
    from nanogpt_dash.analytics.anomalies import DIFF_MAD_TO_SIGMA, SMALL_BATCH, _rolling_reference

    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 40, 300, 700):
        history = rng.normal(0, 1, n).cumsum()
        level = pd.Series(history).rolling(32, min_periods=2).median().shift(1).to_numpy()
        sigma = pd.Series(history).diff().abs().rolling(256, min_periods=2).median().shift(1).to_numpy() * DIFF_MAD_TO_SIGMA
        for start in sorted({0, max(0, n - 1), max(0, n - 5), max(0, n - SMALL_BATCH), max(0, n - SMALL_BATCH - 1)}):
            got_level, got_sigma = _rolling_reference(history, 256, 32, start=start)
            np.testing.assert_array_equal(got_level, level[start:])
            np.testing.assert_allclose(got_sigma, sigma[start:], rtol=1e-12)


def test_grad_norm_explosion_and_a_run_of_nans_is_one_event():
    rng = np.random.default_rng(1)
    step = np.arange(3000)
    grad = np.exp(rng.normal(0, 0.2, 3000))
    grad[1234] *= 20
    grad[2000:2100] = np.nan
    events = detect({"grad_norm": (step, grad, step * 1.0)})
    assert [(e.kind, e.step, e.severity) for e in events] == [("grad_explosion", 1234, "warning"),
                                                                ("nonfinite", 2000, "critical")]


def test_throughput_drop_is_reported_where_it_starts():
    rng = np.random.default_rng(2)
    tps = 5000 + rng.normal(0, 100, 1000)
    tps[600:640] = 1500
    events = detect({"tokens_per_sec": (np.arange(1000), tps, np.arange(1000.0))})
    assert [(e.kind, e.step) for e in events] == [("throughput_drop", 600)]


def test_val_divergence_needs_consecutive_evals_above_best():
    val = np.array([3.0, 2.5, 2.2, 2.1, 2.3, 2.05, 2.2, 2.3, 2.4])
    events = detect({"val/loss": (np.arange(9) * 100, val, np.arange(9.0))})
    assert [(e.kind, e.step) for e in events] == [("val_divergence", 700)]


def test_stalled_only_when_running_and_silent_past_the_threshold():
    s = AnomalySettings(stall_after_s=60)
    assert stalled("running", 1000.0, 1100.0, 42, s).step == 42
    assert stalled("running", 1000.0, 1030.0, 42, s) is None
    assert stalled("finished", 1000.0, 9000.0, 42, s) is None
