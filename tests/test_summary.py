import math

import numpy as np

from nanogpt_dash.analytics import MetricSummary, config_diff, efficiency, summarize, time_to_loss
from nanogpt_dash.analytics.summary import MISSING


def test_summary_has_best_and_where_it_happened():
    s = summarize("val/loss", np.array([0, 100, 200, 300]), np.array([3.0, 2.0, math.nan, 2.5]))
    assert s == MetricSummary("val/loss", 4, 1, 2.0, 100, 3.0, 0, 2.5, 2.5, 300, 2.0, 100)
    assert summarize("tokens_per_sec", np.arange(3), np.array([1.0, 5.0, 2.0])).best_step == 1


def test_time_to_loss_is_the_first_crossing_of_the_smoothed_loss():
    step = np.arange(100)
    loss = 3.0 - step * 0.02
    t = time_to_loss(step, loss, 50.0 + step * 2.0, target=2.0, smoothing=0.0)
    assert (t.step, t.elapsed_s) == (50, 100.0)
    assert time_to_loss(step, loss, step * 1.0, target=0.5) is None


def test_config_diff_lists_exactly_the_changed_keys():
    a = {"learning_rate": 1e-3, "batch_size": 12, "n_layer": 4, "dropout": 0.0}
    b = {"learning_rate": 3e-3, "batch_size": 12, "n_layer": 6, "dropout": 0.0, "bias": True}
    rows = config_diff({"a": a, "b": b})
    assert [r.key for r in rows] == ["bias", "learning_rate", "n_layer"]
    assert rows[0].values == {"a": MISSING, "b": True}
    assert len(config_diff({"a": a, "b": b}, show_all=True)) == 5
    assert config_diff({"a": {"x": 1}, "b": {"x": True}})[0].key == "x", "True is not the same setting as 1"


def test_efficiency_medians_and_peak_memory():
    e = efficiency(np.array([1.0, 2.0, 100.0]), None, np.array([10.0, 30.0, math.nan]))
    assert (e.tokens_per_sec, e.mfu, e.peak_cuda_mem_mb) == (2.0, None, 30.0)
