import numpy as np
import pytest

from nanogpt_dash.analytics import (find_plateaus, fit_power_law, forecast, forecast_val_loss, generalization_gap, lr_area,
                                    nanogpt_lr, slope_per_1k)
from nanogpt_dash.analytics.convergence import LR_LINES


def test_forecast_of_an_exact_power_law_is_within_one_percent():
    step = np.arange(1, 2001)
    loss = 1.2 + 3.0 * step ** -0.4
    f = forecast(step, loss, 10_000)
    truth = 1.2 + 3.0 * 10_000 ** -0.4
    assert abs(f.value - truth) / truth < 0.01
    assert f.low <= f.value <= f.high and f.curve_step[-1] == 10_000


def test_forecast_band_covers_a_noisy_power_law():
    rng = np.random.default_rng(0)
    step = np.arange(1, 4001)
    loss = 1.5 + 2.0 * (step / 100) ** -0.5 + rng.normal(0, 0.03, len(step))
    f = forecast(step, loss, 10_000)
    truth = 1.5 + 2.0 * 100 ** -0.5
    assert f.low <= truth <= f.high and f.high - f.low < 0.2


def test_power_law_fit_recovers_its_parameters():
    x = np.linspace(10, 1000, 200)
    fit = fit_power_law(x, 0.8 + 5.0 * x ** -0.7)
    assert (fit.offset, fit.scale, fit.exponent) == pytest.approx((0.8, 5.0, 0.7), rel=1e-3)


def test_plateau_in_the_middle_of_a_decay_is_found_within_half_a_window():
    rng = np.random.default_rng(3)
    step = np.arange(6000)
    effective = np.where(step < 2000, step, np.where(step < 3500, 2000, step - 1500))
    loss = 1.0 + 3.0 * (1 + effective / 50) ** -0.6 + rng.normal(0, 0.01, len(step))
    plateaus = find_plateaus(step, loss, window_steps=500, rel_drop=0.01)
    assert len(plateaus) == 1
    assert abs(plateaus[0].start_step - 2000) < 250 and abs(plateaus[0].end_step - 3500) < 250


def test_slope_of_a_line_per_thousand_steps():
    step = np.arange(5000)
    assert slope_per_1k(step, 3.0 - step * 2e-4, smoothing=0.0) == pytest.approx(-0.2)


def test_overfitting_when_val_rises_while_train_falls():
    train_step = np.arange(3000)
    train = 2.0 - train_step * 2e-4
    val_step = np.arange(0, 3000, 250)
    val = np.r_[np.linspace(2.1, 1.7, 8), [1.75, 1.8, 1.85, 1.9]]
    gap = generalization_gap(train_step, train, val_step, val)
    assert gap.overfitting and "over-fitting" in gap.message and gap.trend_per_1k > 0
    healthy = generalization_gap(train_step, train, val_step, np.linspace(2.1, 1.5, 12))
    assert not healthy.overfitting


def test_nanogpt_schedule_and_its_area():
    lr = nanogpt_lr({"learning_rate": 1e-3, "min_lr": 1e-4, "warmup_iters": 100, "lr_decay_iters": 2000,
                     "max_iters": 2000})
    assert lr(np.array([100, 2000, 5000])) == pytest.approx([1e-3, 1e-4, 1e-4])
    area = lr_area(lr, 2000)
    assert area(np.array([2000.0]))[0] == pytest.approx(np.sum(lr(np.arange(2001))))


def test_val_forecast_follows_the_evals_when_the_gap_to_train_keeps_changing():
    # train flattens while val keeps falling: a constant val-train gap would stay far too high
    step = np.arange(1, 2001)
    train = 1.6 + 2.0 * (step / 10) ** -0.6
    evals = np.arange(100, 2001, 100)
    val = 0.9 + 3.0 * (evals / 10) ** -0.35
    known = step <= 800
    f = forecast_val_loss(step[known], train[known], evals[evals <= 800], val[evals <= 800], 2000)
    assert f.method == "val in steps"
    assert abs(f.value - val[-1]) / val[-1] < 0.02 and f.low <= val[-1] <= f.high
    assert forecast_val_loss(step[known], train[known], evals[evals <= 800], val[evals <= 800], 2000,
                             model="train in steps + val gap").value > val[-1] * 1.05


def test_val_forecast_uses_the_dense_train_loss_while_there_are_few_evals():
    step = np.arange(1, 401)
    train = 1.2 + 3.0 * step ** -0.4
    evals = np.array([100, 200, 300, 400])
    f = forecast_val_loss(step, train, evals, 1.3 + 3.0 * evals ** -0.4, 2000)
    truth = 1.3 + 3.0 * 2000 ** -0.4
    assert f.method == "train in steps + val gap" and abs(f.value - truth) / truth < 0.01


COSINE = {"learning_rate": 1e-3, "min_lr": 1e-4, "warmup_iters": 100, "lr_decay_iters": 2000, "max_iters": 2000}


def test_losses_falling_straight_in_the_lr_area_are_carried_on_as_the_learning_rate_decays():
    # train and val both fall in a straight line in the learning rate's running sum, a constant gap apart:
    # the cosine schedule bends both curves in steps, and the forecast follows the bend
    area = lr_area(nanogpt_lr(COSINE), 2000)
    step = np.arange(1, 2001)
    train = 2.6 - 1.0 * area(step) / area(2000)
    evals = np.arange(100, 2001, 100)
    val = 2.5 - 1.0 * area(evals) / area(2000)
    known = step <= 800
    f = forecast_val_loss(step[known], train[known], evals[evals <= 800], val[evals <= 800], 2000, COSINE)
    assert f.method == LR_LINES
    assert abs(f.value - val[-1]) / val[-1] < 0.01 and f.low <= val[-1] <= f.high


def test_lr_area_forecast_lies_between_a_gap_that_stays_and_one_that_keeps_widening():
    # train.py's default run: the val - train gap widened until 40 % of the run, then stayed
    area = lr_area(nanogpt_lr(COSINE), 2000)
    a = lambda s: area(np.asarray(s, dtype=np.float64)) / area(2000)  # noqa: E731
    step = np.arange(1, 2001)
    train = 2.6 - 1.2 * a(step)
    evals = np.arange(100, 2001, 100)
    gap = -0.5 * np.minimum(a(evals), a(800))
    val = 2.6 - 1.2 * a(evals) + gap
    known, seen = step <= 800, evals <= 800
    stays = forecast_val_loss(step[known], train[known], evals[seen], val[seen], 2000, COSINE,
                              model="train linear in LR area + val gap")
    widens = forecast_val_loss(step[known], train[known], evals[seen], val[seen], 2000, COSINE,
                               model="val linear in LR area")
    f = forecast_val_loss(step[known], train[known], evals[seen], val[seen], 2000, COSINE, model=LR_LINES)
    assert widens.value < f.value < stays.value
    assert f.value == pytest.approx((stays.value + widens.value) / 2)
    assert f.low <= min(stays.low, widens.low) and f.high >= max(stays.high, widens.high)
    assert widens.value < val[-1] < stays.value and f.low <= val[-1] <= f.high


def test_lr_area_forecast_is_used_when_too_few_evals_to_back_test_and_the_schedule_is_known():
    area = lr_area(nanogpt_lr(COSINE), 2000)
    step = np.arange(1, 401)
    train = 2.6 - area(step) / area(2000)
    evals = np.array([100, 200, 300, 400])
    f = forecast_val_loss(step, train, evals, train[evals - 1] - 0.1, 2000, COSINE)
    assert f.method == LR_LINES and f.value == pytest.approx(1.5, rel=0.01)
    assert forecast_val_loss(step, train, evals, train[evals - 1] - 0.1, 2000).method == "train in steps + val gap"
