import math

import numpy as np
import pytest

from nanogpt_dash.views import DOWNSAMPLE_ABOVE, budget_for_width, downsample, ema, prepare, x_values


def hand_ema(values, weight):
    """TensorBoard's smoothing, written out the slow way."""
    last, n, out = 0.0, 0, []
    for v in values:
        if not math.isfinite(v):
            out.append(math.nan)
            continue
        last = last * weight + (1 - weight) * v
        n += 1
        out.append(last / (1 - weight ** n))
    return np.array(out)


@pytest.mark.parametrize("weight", [0.0, 0.6, 0.9, 0.99])
def test_ema_matches_a_hand_computed_debiased_ema(weight):
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 1.0, 500)
    values[[10, 50]] = [math.nan, math.inf]
    smoothed, _ = ema(values, weight)
    np.testing.assert_allclose(smoothed, hand_ema(values, weight), rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize("cut", [3, 123, 295])
def test_ema_continues_across_updates_exactly(cut):
    values = np.linspace(5, 1, 300) + np.sin(np.arange(300))
    whole, _ = ema(values, 0.95)
    first, state = ema(values[:cut], 0.95)
    middle, state = ema(values[cut:cut + 2], 0.95, state)  # a short live tail
    rest, _ = ema(values[cut + 2:], 0.95, state)
    np.testing.assert_allclose(np.concatenate([first, middle, rest]), whole, rtol=1e-9)


def test_a_single_sample_spike_survives_downsampling_a_million_points():
    rng = np.random.default_rng(1)
    y = rng.normal(2.0, 0.01, 1_000_000).astype(np.float32)
    y[654_321] = 50.0
    y[123_456] = -30.0
    index = downsample(y, 2000)
    assert len(index) <= 2001
    assert 654_321 in index and 123_456 in index
    assert index[-1] == len(y) - 1, "the newest point is always included"


def test_prepare_downsamples_only_past_the_threshold_and_counts_non_finite():
    n = DOWNSAMPLE_ABOVE + 5000
    x = np.arange(n)
    y = np.ones(n)
    y[[100, 200, 300]] = [math.nan, math.inf, -math.inf]
    shown, _ = prepare(x, y, x, x.astype(float), budget=1000)
    assert shown.downsampled and shown.total == n and len(shown.x) <= 1001
    assert shown.nonfinite["NaN"].x.tolist() == [100] and shown.nonfinite["+Inf"].step.tolist() == [200]
    small, _ = prepare(x[:500], y[:500], x[:500], x[:500].astype(float), budget=1000)
    assert not small.downsampled and len(small.x) == 500


def test_a_zoomed_range_comes_back_at_full_resolution():
    n = 1_000_000
    x = np.arange(n)
    y = np.random.default_rng(2).normal(size=n)
    shown, _ = prepare(x, y, x, x.astype(float), budget=2000, x_range=(500_000, 505_000))
    assert shown.x.tolist() == list(range(500_000, 505_001)), "every point of the visible range"
    np.testing.assert_array_equal(shown.y, y[500_000:505_001])


def test_smoothing_is_computed_before_downsampling():
    n = 50_000
    y = np.random.default_rng(3).normal(size=n)
    full, _ = ema(y, 0.9)
    shown, _ = prepare(np.arange(n), y, np.arange(n), np.zeros(n), budget=1000, smoothing=0.9)
    np.testing.assert_allclose(shown.smooth, full[shown.smooth_at.x])
    assert len(shown.smooth_at.x) <= 1001, "the smoothed line is downsampled on its own"


def test_x_axis_modes():
    step = np.array([0, 10, 20])
    wall = np.array([1000.0, 1000.0 + 1800, 1000.0 + 3600])
    assert x_values("step", step, wall, 512, 1000.0).tolist() == [0, 10, 20]
    assert x_values("tokens", step, wall, 512, 1000.0).tolist() == [0, 5120, 10240]
    assert x_values("relative", step, wall, 512, 1000.0).tolist() == [0.0, 0.5, 1.0]
    assert np.diff(x_values("wall", step, wall, 512, 1000.0)).tolist() == [1_800_000.0, 1_800_000.0]


def test_budget_follows_the_chart_width():
    assert budget_for_width(300) == 1000 and budget_for_width(800) == 1600 and budget_for_width(5000) == 4000


def test_time_since_start_picks_its_unit_from_the_span():
    from nanogpt_dash.views import relative_unit

    assert [relative_unit(s) for s in (5, 179, 180, 2 * 3600, 3 * 3600, 48 * 3600)] == ["s", "s", "min", "min", "h", "h"]
    step, wall = np.arange(3), np.array([1000.0, 1060.0, 1120.0])
    assert x_values("relative", step, wall, None, 1000.0, "min").tolist() == [0.0, 1.0, 2.0]
    assert x_values("relative", step, wall, None, 1000.0, "s").tolist() == [0.0, 60.0, 120.0]
