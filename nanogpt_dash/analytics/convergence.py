"""Where a loss curve is heading: slope, plateaus, the train/val gap, a forecast of the final loss."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..views import ema

PLATEAU_WINDOW = 500  # steps the loss is compared over
PLATEAU_REL_DROP = 0.01  # a plateau: less than 1 % improvement over the window
SLOPE_WINDOW_FRACTION = 0.2
MIN_SLOPE_POINTS = 10
FIT_BINS = 80  # dense series are averaged into this many bins before fitting
BOOTSTRAP = 60
BAND_QUANTILES = (0.05, 0.95)
MIN_FIT_POINTS = 5
EXPONENT_RANGE = (0.02, 3.0)


@dataclass(frozen=True)
class Plateau:
    start_step: int
    end_step: int
    level: float


@dataclass(frozen=True)
class Gap:
    """Val minus train loss at each eval, the gap's trend and whether val rises while train falls."""

    step: np.ndarray
    gap: np.ndarray
    trend_per_1k: float | None
    overfitting: bool
    message: str


@dataclass(frozen=True)
class PowerLaw:
    """loss(x) = offset + scale * x ** -exponent"""

    offset: float
    scale: float
    exponent: float

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        return self.offset + self.scale * np.power(np.asarray(x, dtype=np.float64), -self.exponent)


@dataclass(frozen=True)
class Forecast:
    """A forecast of the loss at `target_step`, with a 90 % band, and the curve to draw up to there."""

    target_step: int
    value: float
    low: float
    high: float
    fit: PowerLaw
    curve_step: np.ndarray
    curve: np.ndarray
    curve_low: np.ndarray
    curve_high: np.ndarray
    fitted_points: int
    method: str = "power law"  # what was fitted, in words (forecast_val_loss says which model it chose)


def smoothed(value: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """The debiased EMA used on the Live page's charts (NaN where the value is not finite)."""
    return ema(np.asarray(value, dtype=np.float64), weight)[0]


def slope_per_1k(step: np.ndarray, value: np.ndarray, window_steps: int | None = None,
                 smoothing: float = 0.9) -> float | None:
    """Change of the smoothed loss per 1,000 steps over the recent window (default: last 20 % of steps)."""
    step = np.asarray(step, dtype=np.float64)
    s = smoothed(value, smoothing)
    ok = np.isfinite(s)
    step, s = step[ok], s[ok]
    if len(step) < MIN_SLOPE_POINTS:
        return None
    span = window_steps if window_steps is not None else max(1.0, (step[-1] - step[0]) * SLOPE_WINDOW_FRACTION)
    recent = step >= step[-1] - span
    if recent.sum() < MIN_SLOPE_POINTS:
        recent = np.zeros(len(step), bool)
        recent[-MIN_SLOPE_POINTS:] = True
    x, y = step[recent], s[recent]
    if np.ptp(x) == 0:
        return None
    return float(np.polyfit(x, y, 1)[0] * 1000.0)


def _trailing_slopes(x: np.ndarray, y: np.ndarray, window: int) -> np.ndarray:
    """Least-squares slope of y on x over each trailing window of `window` points (NaN before the first)."""
    out = np.full(len(x), np.nan)
    if len(x) < window:
        return out
    cx, cy = np.cumsum(np.r_[0, x]), np.cumsum(np.r_[0, y])
    cxx, cxy = np.cumsum(np.r_[0, x * x]), np.cumsum(np.r_[0, x * y])
    hi, lo = np.arange(window, len(x) + 1), np.arange(0, len(x) - window + 1)
    sx, sy, sxx, sxy = cx[hi] - cx[lo], cy[hi] - cy[lo], cxx[hi] - cxx[lo], cxy[hi] - cxy[lo]
    den = window * sxx - sx * sx
    with np.errstate(invalid="ignore", divide="ignore"):
        out[window - 1:] = (window * sxy - sx * sy) / den
    return out


def find_plateaus(step: np.ndarray, value: np.ndarray, window_steps: int = PLATEAU_WINDOW,
                  rel_drop: float = PLATEAU_REL_DROP) -> list[Plateau]:
    """Stretches where the loss, fitted by a line over each trailing `window_steps`, improves by less than
    `rel_drop` of its level per window. Each plateau is reported from where its first flat window began;
    flat stretches less than half a window apart are one plateau."""
    step, value = np.asarray(step, dtype=np.float64), np.asarray(value, dtype=np.float64)
    ok = np.isfinite(value)
    step, value = step[ok], value[ok]
    if len(step) < 3:
        return []
    per_point = max(1.0, float(np.median(np.diff(step)))) if len(step) > 1 else 1.0
    window = max(3, int(round(window_steps / per_point)))
    slopes = _trailing_slopes(step - step[0], value, window)
    level = np.abs(_rolling_mean(value, window))
    with np.errstate(invalid="ignore"):
        flat = (-slopes * window_steps) < rel_drop * level
    runs: list[tuple[int, int]] = []
    for first, last in _runs(flat):
        if runs and first - runs[-1][1] <= window // 2:  # noise flickering across the threshold: one plateau
            runs[-1] = (runs[-1][0], last)
        else:
            runs.append((first, last))
    plateaus = []
    for first, last in runs:
        begin = max(0, first - window + 1)
        plateaus.append(Plateau(int(step[begin]), int(step[last]), float(np.mean(value[begin:last + 1]))))
    return plateaus


def _rolling_mean(y: np.ndarray, window: int) -> np.ndarray:
    out = np.full(len(y), np.nan)
    if len(y) >= window:
        c = np.cumsum(np.r_[0, y])
        out[window - 1:] = (c[window:] - c[:-window]) / window
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True values."""
    m = np.r_[False, mask.astype(bool), False]
    edges = np.flatnonzero(m[1:] != m[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def generalization_gap(train_step: np.ndarray, train_value: np.ndarray, val_step: np.ndarray,
                       val_value: np.ndarray, recent_evals: int = 3, smoothing: float = 0.9) -> Gap:
    """Val minus (smoothed) train loss at each eval; over-fitting when, over the last `recent_evals` evals,
    val rises while train falls."""
    train_step, val_step = np.asarray(train_step, dtype=np.float64), np.asarray(val_step, dtype=np.float64)
    val_value = np.asarray(val_value, dtype=np.float64)
    s = smoothed(train_value, smoothing)
    ok = np.isfinite(s)
    vok = np.isfinite(val_value) & (val_step >= (train_step[ok][0] if ok.any() else np.inf))
    if ok.sum() < 2 or not vok.any():
        return Gap(np.empty(0), np.empty(0), None, False, "not enough evals yet")
    at = val_step[vok]
    train_at = np.interp(at, train_step[ok], s[ok])
    gap = val_value[vok] - train_at
    trend = float(np.polyfit(at[-recent_evals:], gap[-recent_evals:], 1)[0] * 1000) if len(at) >= 2 else None
    overfitting, message = False, f"gap {gap[-1]:+.3f}"
    if len(at) > recent_evals:
        v = val_value[vok][-recent_evals - 1:]
        t = train_at[-recent_evals - 1:]
        if np.all(np.diff(v) > 0) and t[-1] < t[0]:
            overfitting = True
            message = (f"over-fitting: val loss rose {v[-1] - v[0]:+.3f} over the last {recent_evals} evals "
                       f"while train loss fell {t[-1] - t[0]:+.3f}")
    if not overfitting and trend is not None:
        message += f", {'widening' if trend > 0 else 'narrowing'} by {abs(trend):.3f} per 1k steps"
    return Gap(at.astype(np.int64), gap, trend, overfitting, message)


def _binned(x: np.ndarray, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means of x and y in up to `bins` bins spaced evenly in log(x), and each bin's point count.

    Log spacing keeps the bins narrow where the curve bends most, so averaging barely biases the fit.
    """
    if len(x) <= bins:
        return x, y, np.ones(len(x))
    edges = np.geomspace(x[0], x[-1] + 1e-9, bins + 1)
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    used = count > 0
    xs = np.bincount(which, weights=x, minlength=bins)[used] / count[used]
    ys = np.bincount(which, weights=y, minlength=bins)[used] / count[used]
    return xs, ys, count[used]


def _solve_linear_part(t: np.ndarray, y: np.ndarray, w: np.ndarray, exponents: np.ndarray, ceiling: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each exponent b: the weighted least-squares offset c in [0, ceiling] and scale a >= 0 of
    y = c + a * t**-b (linear in c and a once b is fixed), and the weighted squared error."""
    p = np.power(t[None, :], -exponents[:, None])
    total = w.sum()
    pm, ym = (p * w).sum(1) / total, (y * w).sum() / total
    var = (((p - pm[:, None]) ** 2) * w).sum(1)
    cov = ((p - pm[:, None]) * (y - ym) * w).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = cov / var
    c = ym - a * pm
    clipped = (c < 0) | (c > ceiling) | ~np.isfinite(c)
    c = np.clip(np.nan_to_num(c, nan=0.0), 0.0, ceiling)
    with np.errstate(invalid="ignore", divide="ignore"):
        a_on_bound = ((p * (y - c[:, None])) * w).sum(1) / ((p * p) * w).sum(1)
    a = np.maximum(np.where(clipped, a_on_bound, a), 0.0)
    sse = (((y - c[:, None] - a[:, None] * p) ** 2) * w).sum(1)
    return c, a, np.nan_to_num(sse, nan=np.inf)


def fit_power_law(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> PowerLaw | None:
    """Weighted least-squares fit of y = offset + scale * x**-exponent with 0 <= offset <= min(y).

    A loss is a cross-entropy, so its floor is not below zero. For a fixed exponent the offset and
    scale have a closed form; the exponent is found by a coarse then a fine search (no iterative
    solver that can wander off or run long). None with fewer than MIN_FIT_POINTS usable points.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = np.ones(len(x)) if weight is None else np.asarray(weight, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (w > 0)
    x, y, w = x[ok], y[ok], w[ok]
    if len(x) < MIN_FIT_POINTS or np.ptp(x) == 0:
        return None
    t = x / x.max()  # scaled so the search does not depend on the units of x
    ceiling = max(0.0, float(y.min()))
    grid = np.geomspace(EXPONENT_RANGE[0], EXPONENT_RANGE[1], 240)
    c, a, sse = _solve_linear_part(t, y, w, grid, ceiling)
    i = int(np.argmin(sse))
    fine = np.linspace(grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)], 60)
    c, a, sse = _solve_linear_part(t, y, w, fine, ceiling)
    j = int(np.argmin(sse))
    exponent = float(fine[j])
    return PowerLaw(float(c[j]), float(a[j]) * float(x.max()) ** exponent, exponent)


def forecast(step: np.ndarray, value: np.ndarray, target_step: int, *, skip_steps: int = 0,
             x_of_step: Callable[[np.ndarray], np.ndarray] | None = None, curve_points: int = 60,
             rng_seed: int = 0, band: bool = True) -> Forecast | None:
    """Forecast the loss at `target_step` from a power law with offset fitted to the points past `skip_steps`.

    `x_of_step` maps steps to the fit's x (default: the step itself; e.g. the learning rate's running
    sum, so a schedule that decays is taken into account). Dense series are averaged into bins first.
    The band: the 5–95 % range of refits to block-bootstrapped (standardised) residuals, widened by
    the change in the forecast when only the later half of the points is fitted. `band=False`: the
    fit alone (low = high = the forecast), for back-tests that need many fits.
    """
    step, value = np.asarray(step, dtype=np.float64), np.asarray(value, dtype=np.float64)
    ok = np.isfinite(value) & (step > skip_steps) & (step > 0)
    step, value = step[ok], value[ok]
    if len(step) < MIN_FIT_POINTS:
        return None
    to_x = x_of_step if x_of_step is not None else (lambda s: np.asarray(s, dtype=np.float64))
    bx, by, count = _binned(step, value, FIT_BINS)
    x = to_x(bx)
    fit = fit_power_law(x, by, count)
    if fit is None:
        return None
    curve_step = np.linspace(bx[0], float(target_step), curve_points)
    curve_x = to_x(curve_step)
    target_x = float(to_x(np.array([float(target_step)]))[0])
    centre = float(fit(target_x))
    if not band:
        curve = fit(curve_x)
        return Forecast(int(target_step), centre, centre, centre, fit, curve_step, curve, curve, curve, len(step))
    resid = (by - fit(x)) * np.sqrt(count)  # standardised: a bin of n points has 1/sqrt(n) of the noise
    rng = np.random.default_rng(rng_seed)
    block = max(1, len(resid) // 10)
    draws, curves = [], []
    for _ in range(BOOTSTRAP):
        starts = rng.integers(0, max(1, len(resid) - block + 1), size=len(resid) // block + 1)
        sample = np.concatenate([resid[s:s + block] for s in starts])[:len(resid)]
        refit = fit_power_law(x, fit(x) + sample / np.sqrt(count), count)
        if refit is not None:
            draws.append(float(refit(target_x)))
            curves.append(refit(curve_x))
    if draws:
        low, high = (float(q) for q in np.quantile(draws, BAND_QUANTILES))
        c_low, c_high = np.quantile(np.array(curves), BAND_QUANTILES, axis=0)
    else:
        low = high = centre
        c_low = c_high = fit(curve_x)
    # noise is not the main risk of an extrapolation, the model is: widen the band by how much the
    # forecast moves when only the later half of the points is fitted
    later = bx >= bx[0] + (bx[-1] - bx[0]) / 2
    half = fit_power_law(x[later], by[later], count[later]) if later.sum() >= MIN_FIT_POINTS else None
    if half is not None:
        shift = np.abs(half(curve_x) - fit(curve_x))
        c_low, c_high = c_low - shift, c_high + shift
        low, high = low - float(shift[-1]), high + float(shift[-1])
    return Forecast(int(target_step), centre, min(low, centre), max(high, centre), fit, curve_step, fit(curve_x),
                    np.minimum(c_low, fit(curve_x)), np.maximum(c_high, fit(curve_x)), len(step))


def nanogpt_lr(config: dict) -> Callable[[np.ndarray], np.ndarray] | None:
    """nanoGPT's learning rate per step (linear warmup, cosine decay to min_lr) from a run's config."""
    try:
        lr, min_lr = float(config["learning_rate"]), float(config.get("min_lr", config["learning_rate"] / 10))
        warmup, decay_iters = int(config.get("warmup_iters", 0)), int(config.get("lr_decay_iters", config["max_iters"]))
        decay = bool(config.get("decay_lr", True))
    except (KeyError, TypeError, ValueError):
        return None

    def schedule(step: np.ndarray) -> np.ndarray:
        s = np.asarray(step, dtype=np.float64)
        if not decay:
            return np.full(s.shape, lr)
        ratio = np.clip((s - warmup) / max(1, decay_iters - warmup), 0.0, 1.0)
        cosine = min_lr + 0.5 * (1.0 + np.cos(math.pi * ratio)) * (lr - min_lr)
        out = np.where(s < warmup, lr * (s + 1) / (warmup + 1), cosine)
        return np.where(s > decay_iters, min_lr, out)

    return schedule


def lr_area(schedule: Callable[[np.ndarray], np.ndarray], max_step: int) -> Callable[[np.ndarray], np.ndarray]:
    """Steps → running sum of the learning rate up to each step (the 'area' under the schedule)."""
    steps = np.arange(0, int(max_step) + 2, dtype=np.float64)
    area = np.cumsum(schedule(steps))

    def to_area(step: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(step, dtype=np.float64), steps, area)

    return to_area


LR_LINES = "mean of val line and train line + gap in LR area"
VAL_MODELS = ("train in steps + val gap", "val in steps", "val in LR area", LR_LINES, "val linear in LR area",
              "train linear in LR area + val gap")
CHOSEN_AMONG = VAL_MODELS[:4]  # the back-test's candidates; the last two are LR_LINES's halves, forced only
HELD_OUT_FRACTION = 1 / 3  # of the evals past warmup, the newest this many are held out to choose a model
MIN_HELD_OUT = 2


def forecast_val_loss(train_step: np.ndarray, train_value: np.ndarray, val_step: np.ndarray, val_value: np.ndarray,
                      max_iters: int, config: dict | None = None, recent_evals: int = 3,
                      model: str | None = None) -> Forecast | None:
    """The val loss at `max_iters`, from the model (CHOSEN_AMONG) that best predicted the run's newest evals.

    - "train in steps + val gap": a power law fitted to the dense train loss, plus the mean val − train
      gap of the last `recent_evals` evals (their spread widens the band). The train loss is logged every
      step, so its shape is known far better than from a handful of evals; but it assumes the gap stays
      as it is. On train.py's default run val kept falling nearly linearly while train flattened, and
      this was +34 % off from 40 % of the run (bench/forecast.py).
    - "val in steps": a power law with offset fitted to the evals themselves: whatever the gap does is in
      their shape.
    - "val in LR area": the same in the learning rate's running sum (nanoGPT's schedule from `config`).
    - LR_LINES, where the schedule is known: loss as a straight line in the learning rate's running sum.
      That sum is how far the optimiser has moved, and laws fitted across schedules take it as the
      progress variable (Tissue et al. 2024, "Scaling law with learning rate annealing"; Luo et al.
      2025, "A multi-power law for loss curve prediction across learning rate schedules"); a straight
      line is their zero-curvature case, the only one a few evals far from the loss floor pin down (a
      power law in the sum bent flat too soon on both bench runs; the laws' annealing term, fitted to
      40 % of one cosine run, came out 10–15× too large). Val = train + gap, and the run does not say
      what the gap will do, so the model is the mean of two lines that differ only in that:
      "train linear in LR area + val gap" (the dense train loss's line plus the gap of the last evals:
      the gap stays) and "val linear in LR area" (a line through the evals past warmup: the gap keeps
      its trend). Its band runs from the lower of their lows to the higher of their highs. A back-test
      over the last evals would pick one of the two by what the gap did over those evals, which says
      little about the rest of the run (train.py's default run: its gap widened up to 40 % of the run,
      then stayed), so only their mean is a candidate; either can be forced.

    No one model fits every run, and a run says which fits it: each candidate is fitted again with the
    newest third of the evals past warmup held out (at least MIN_HELD_OUT), and the one whose forecasts
    of those evals erred least (mean relative error) is used; with too few evals to hold any out,
    LR_LINES if the schedule is known, else the first. The band is the model's own, widened by that
    held-out error grown in proportion to how much farther ahead `max_iters` lies than the held-out
    evals did. `model` forces one of VAL_MODELS.
    """
    config = config or {}
    warmup = int(config.get("warmup_iters", 0) or 0)
    schedule = nanogpt_lr(config)
    area = lr_area(schedule, max_iters) if schedule is not None else None
    ts, tv = np.asarray(train_step, dtype=np.float64), np.asarray(train_value, dtype=np.float64)
    vs, vv = np.asarray(val_step, dtype=np.float64), np.asarray(val_value, dtype=np.float64)
    ok = np.isfinite(vv) & (vs > warmup)
    vs, vv = vs[ok], vv[ok]

    def fitted(name: str, upto: float, target: float, band: bool) -> Forecast | None:
        t_in, v_in = ts <= upto, vs <= upto
        if name == "train in steps + val gap":
            return _gap_added(forecast(ts[t_in], tv[t_in], int(target), skip_steps=warmup, band=band), vs[v_in], vv[v_in],
                              recent_evals)
        if name == "val in steps":
            return forecast(vs[v_in], vv[v_in], target, skip_steps=warmup, band=band)
        if name == "val in LR area" and area is not None:
            return forecast(vs[v_in], vv[v_in], target, skip_steps=warmup, x_of_step=area, band=band)
        if name == "val linear in LR area" and area is not None:
            return _linear(vs[v_in], vv[v_in], target, area)
        if name == "train linear in LR area + val gap" and area is not None:
            return _gap_added(_linear_binned(ts[t_in], tv[t_in], target, area, warmup), vs[v_in], vv[v_in], recent_evals,
                              on_curve=True)
        if name == LR_LINES and area is not None:
            return _midway(_linear(vs[v_in], vv[v_in], target, area),
                           _gap_added(_linear_binned(ts[t_in], tv[t_in], target, area, warmup), vs[v_in], vv[v_in],
                                      recent_evals, on_curve=True))
        return None

    if model is not None:
        if model not in VAL_MODELS:
            raise ValueError(f"unknown forecast model {model!r} (known: {', '.join(VAL_MODELS)})")
        chosen, error, horizon = model, 0.0, 1.0
    else:
        chosen, error, horizon = _back_test(fitted, vs, vv, area is not None)
    f = fitted(chosen, math.inf, float(max_iters), band=True)
    if f is None and model is None and error == 0.0 and chosen != VAL_MODELS[0]:
        chosen = VAL_MODELS[0]  # too few evals to back-test, and too few for LR_LINES's val line
        f = fitted(chosen, math.inf, float(max_iters), band=True)
    if f is None:
        return None
    ahead = max(0.0, float(max_iters) - (float(vs[-1]) if len(vs) else 0.0))
    widen = abs(f.value) * error * ahead / horizon
    return Forecast(f.target_step, f.value, f.low - widen, f.high + widen, f.fit, f.curve_step, f.curve,
                    f.curve_low - widen * _ramp(f.curve_step, vs), f.curve_high + widen * _ramp(f.curve_step, vs),
                    f.fitted_points, chosen)


def _ramp(curve_step: np.ndarray, val_step: np.ndarray) -> np.ndarray:
    """0 up to the newest eval, rising linearly to 1 at the end of the curve: how far ahead each point lies."""
    last = float(val_step[-1]) if len(val_step) else float(curve_step[0])
    span = max(1.0, float(curve_step[-1]) - last)
    return np.clip((curve_step - last) / span, 0.0, 1.0)


def _back_test(fitted: Callable[[str, float, float, bool], Forecast | None], vs: np.ndarray, vv: np.ndarray,
               schedule_known: bool) -> tuple[str, float, float]:
    """(model, its mean relative error on the held-out evals, their mean distance ahead in steps); with too
    few evals to hold any out, LR_LINES where the schedule is known, else the first model (error 0)."""
    held = max(MIN_HELD_OUT, int(len(vs) * HELD_OUT_FRACTION))
    if len(vs) - held < 2:
        return (LR_LINES if schedule_known else VAL_MODELS[0]), 0.0, 1.0
    cut = float(vs[-held - 1])
    best = (VAL_MODELS[0], math.inf)
    for name in CHOSEN_AMONG:
        errors = []
        for step, truth in zip(vs[-held:], vv[-held:]):
            f = fitted(name, cut, float(step), False)
            if f is None:
                break
            errors.append(abs(f.value - truth) / abs(truth))
        if len(errors) == held and float(np.mean(errors)) < best[1]:
            best = (name, float(np.mean(errors)))
    if not math.isfinite(best[1]):
        return VAL_MODELS[0], 0.0, 1.0
    return best[0], best[1], float(np.mean(vs[-held:] - cut))


def _linear(vs: np.ndarray, vv: np.ndarray, target: float, area: Callable[[np.ndarray], np.ndarray],
            curve_points: int = 60) -> Forecast | None:
    """The evals' least-squares line in the learning rate's running sum, carried on to `target`; the band
    from the line's standard error (90 %). `fit` is that line: a PowerLaw with exponent -1 in the running sum."""
    if len(vs) < 3:
        return None
    x = area(vs)
    slope, intercept = (float(c) for c in np.polyfit(x, vv, 1))
    curve_step = np.linspace(float(vs[0]), float(target), curve_points)
    curve_x = area(curve_step)
    curve = intercept + slope * curve_x
    dof = len(vs) - 2
    sigma = math.sqrt(float(np.sum((vv - intercept - slope * x) ** 2)) / dof) if dof > 0 else 0.0
    sxx = float(np.sum((x - x.mean()) ** 2))
    half = 1.645 * sigma * np.sqrt(1.0 / len(vs) + (curve_x - x.mean()) ** 2 / sxx) if sxx > 0 else np.zeros(len(curve_x))
    return Forecast(int(target), float(curve[-1]), float(curve[-1] - half[-1]), float(curve[-1] + half[-1]),
                    PowerLaw(float(intercept), float(slope), -1.0), curve_step, curve, curve - half, curve + half, len(vs))


def _linear_binned(ts: np.ndarray, tv: np.ndarray, target: float, area: Callable[[np.ndarray], np.ndarray],
                   warmup: int) -> Forecast | None:
    """The dense train loss past warmup, averaged into bins, and its line in the learning rate's running sum."""
    ok = np.isfinite(tv) & (ts > warmup)
    if ok.sum() < MIN_FIT_POINTS:
        return None
    bx, by, _ = _binned(ts[ok], tv[ok], FIT_BINS)
    return _linear(bx, by, target, area)


def _gap_added(f: Forecast | None, vs: np.ndarray, vv: np.ndarray, recent_evals: int,
               on_curve: bool = False) -> Forecast | None:
    """A train-loss forecast moved by the mean val − train gap of the last `recent_evals` evals (their spread
    widens the band). The train loss at the evals is its fit's, or, for a fit in another x than steps
    (`on_curve`), read off its curve."""
    vs, vv = vs[-recent_evals:], vv[-recent_evals:]
    if f is None or not len(vs):
        return None
    gaps = vv - (np.interp(vs, f.curve_step, f.curve) if on_curve else f.fit(vs))
    gap, spread = float(gaps.mean()), float(np.ptp(gaps)) / 2 if len(gaps) > 1 else 0.0
    return Forecast(f.target_step, f.value + gap, f.low + gap - spread, f.high + gap + spread,
                    PowerLaw(f.fit.offset + gap, f.fit.scale, f.fit.exponent), f.curve_step, f.curve + gap,
                    f.curve_low + gap - spread, f.curve_high + gap + spread, f.fitted_points)


def _midway(a: Forecast | None, b: Forecast | None) -> Forecast | None:
    """The mean of two forecasts of one target, with a band from the lower of their lows to the higher of their
    highs; curves on a's steps. Both fits are lines in the same x, so their mean is one too."""
    if a is None or b is None:
        return None
    on_a = lambda y: np.interp(a.curve_step, b.curve_step, y)  # noqa: E731
    return Forecast(a.target_step, (a.value + b.value) / 2, min(a.low, b.low), max(a.high, b.high),
                    PowerLaw((a.fit.offset + b.fit.offset) / 2, (a.fit.scale + b.fit.scale) / 2, a.fit.exponent),
                    a.curve_step, (a.curve + on_a(b.curve)) / 2, np.minimum(a.curve_low, on_a(b.curve_low)),
                    np.maximum(a.curve_high, on_a(b.curve_high)), a.fitted_points + b.fitted_points)
