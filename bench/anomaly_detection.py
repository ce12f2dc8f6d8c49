"""
How well the anomaly detector finds what it should and stays quiet otherwise, on synthetic curves
with anomalies injected at known steps.

    python bench/anomaly_detection.py [--curves N] [--clean-steps N]

Loss curves: 1.5 + 2.5 * (1 + step/200) ** -0.5 plus Gaussian noise of several levels (and one
heavy-tailed level, Student's t with 5 degrees of freedom). Spikes of 5, 8, 12 and 20 MAD of the
noise are added at known steps; a detected spike counts as true when it lies within 2 steps of one.

"MAD" is the raw median absolute deviation of the noise, as the issue states the goal: for Gaussian
noise 1 MAD = 0.6745 σ, so a 5-MAD spike is 3.37 σ; the detector's threshold (spike_z) is in σ
(MAD × 1.4826). For the t5 noise the MAD is measured on the noise itself (0.563 σ).

The column "NP bound" is the best recall any detector can have at the goal's false-alarm rate
(1 per 100k steps) for a one-step spike of that size: the Neyman–Pearson test of "spike of known
size here" against "noise", with the noise's distribution and the curve's level known exactly.
A real detector, which must estimate both, can only do worse.
Gradient norms: log-normal noise with explosions of 5x, 10x and 50x. Plateaus: the curve's
progress stops for 1,000 steps. False alarms are counted on curves with nothing injected.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nanogpt_dash.analytics import AnomalySettings, detect, find_plateaus  # noqa: E402

MAD_PER_SIGMA = 0.6745  # of Gaussian noise
GOAL_FA_PER_STEP = 1e-5
SPIKE_MADS = (5, 8, 12, 20)
EXPLOSIONS = (5, 10, 50)
NOISE = (("gauss 0.01", 0.01, None), ("gauss 0.03", 0.03, None), ("gauss 0.10", 0.10, None), ("t5 0.03", 0.03, 5))
STEPS = 20_000
TOLERANCE = 2


def base_curve(steps: np.ndarray) -> np.ndarray:
    return 1.5 + 2.5 * (1 + steps / 200.0) ** -0.5


def noise(rng: np.random.Generator, n: int, sigma: float, df: int | None) -> np.ndarray:
    if df is None:
        return rng.normal(0, sigma, n)
    t = rng.standard_t(df, n)
    return t * sigma / np.sqrt(df / (df - 2))  # same standard deviation as the Gaussian level


def noise_mad(sigma: float, df: int | None) -> float:
    """The median absolute deviation of the bench's noise of standard deviation `sigma`."""
    if df is None:
        return MAD_PER_SIGMA * sigma
    x = noise(np.random.default_rng(12345), 2_000_000, sigma, df)
    return float(np.median(np.abs(x - np.median(x))))


def noise_pdf(df: int | None):
    """The density of the bench's noise with unit standard deviation."""
    if df is None:
        return lambda x: np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    scale = math.sqrt(df / (df - 2))  # t_df / scale has unit standard deviation
    norm = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2)) * scale
    return lambda x: norm * (1 + (x * scale) ** 2 / df) ** (-(df + 1) / 2)


def np_bound(size_sigma: float, alpha: float, df: int | None = None) -> float:
    """Neyman–Pearson: the highest recall of a one-step spike of `size_sigma` standard deviations at a
    false-alarm rate of `alpha` per step, in noise of known distribution around a known level.

    The best test flags x where the likelihood ratio pdf(x - size) / pdf(x) is largest until the
    flagged region holds `alpha` of the noise; recall is the spike's probability on that region.
    For Gaussian noise that region is x > z(1 - alpha), with recall Φ(size − z(1 − alpha))."""
    if df is None:
        return 1.0 - NormalDist().cdf(NormalDist().inv_cdf(1.0 - alpha) - size_sigma)
    pdf = noise_pdf(df)
    x = np.linspace(-60.0, 60.0 + size_sigma, 2_400_001)
    dx = x[1] - x[0]
    null, alt = pdf(x) * dx, pdf(x - size_sigma) * dx
    order = np.argsort(-(alt / null))
    flagged = np.cumsum(null[order]) <= alpha
    return float(alt[order][flagged].sum())


def injected_steps(rng: np.random.Generator, count: int, n: int, gap: int = 400) -> np.ndarray:
    slots = rng.choice(np.arange(1000 // gap + 1, n // gap - 1), size=count, replace=False)
    return np.sort(slots * gap + rng.integers(0, gap // 2, size=count))


def matched(found: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which found events hit a true one, and which true ones were found (within TOLERANCE steps)."""
    if not len(found) or not len(truth):
        return np.zeros(len(found), bool), np.zeros(len(truth), bool)
    d = np.abs(found[:, None] - truth[None, :]) <= TOLERANCE
    return d.any(axis=1), d.any(axis=0)


def bench_spikes(rng: np.random.Generator, curves: int, settings: AnomalySettings) -> list[tuple]:
    rows = []
    step = np.arange(STEPS)
    for label, sigma, df in NOISE:
        mad = noise_mad(sigma, df)
        tp = fp = 0
        found_by_size = {m: [0, 0] for m in SPIKE_MADS}
        for _ in range(curves):
            value = base_curve(step) + noise(rng, STEPS, sigma, df)
            at = injected_steps(rng, 4 * len(SPIKE_MADS), STEPS)
            sizes = np.resize(np.array(SPIKE_MADS), len(at))
            rng.shuffle(sizes)
            value[at] += sizes * mad
            events = detect({"train/loss": (step, value, step * 1.0)}, settings)
            hit_found, hit_truth = matched(np.array([e.step for e in events if e.kind == "spike"]), at)
            tp += int(hit_found.sum())
            fp += int((~hit_found).sum())
            for m in SPIKE_MADS:
                found_by_size[m][0] += int(hit_truth[sizes == m].sum())
                found_by_size[m][1] += int((sizes == m).sum())
        precision = tp / (tp + fp) if tp + fp else float("nan")
        for m in SPIKE_MADS:
            found, total = found_by_size[m]
            rows.append(("spike", label, f"{m} MAD = {m * mad / sigma:.2f} σ", precision, found / total,
                         np_bound(m * mad / sigma, GOAL_FA_PER_STEP, df)))
    return rows


def bench_explosions(rng: np.random.Generator, curves: int, settings: AnomalySettings) -> list[tuple]:
    step = np.arange(STEPS)
    tp = fp = 0
    by_size = {f: [0, 0] for f in EXPLOSIONS}
    for _ in range(curves):
        grad = np.exp(rng.normal(np.log(0.5), 0.25, STEPS))
        at = injected_steps(rng, 4 * len(EXPLOSIONS), STEPS)
        sizes = np.resize(np.array(EXPLOSIONS), len(at))
        grad[at] *= sizes
        events = detect({"grad_norm": (step, grad, step * 1.0)}, settings)
        hit_found, hit_truth = matched(np.array([e.step for e in events if e.kind == "grad_explosion"]), at)
        tp += int(hit_found.sum())
        fp += int((~hit_found).sum())
        for f in EXPLOSIONS:
            by_size[f][0] += int(hit_truth[sizes == f].sum())
            by_size[f][1] += int((sizes == f).sum())
    precision = tp / (tp + fp) if tp + fp else float("nan")
    return [("grad_explosion", "lognormal 0.25", f"{f}x", precision, by_size[f][0] / by_size[f][1], "")
            for f in EXPLOSIONS]


def flat_truth(step: np.ndarray, clean: np.ndarray) -> list[tuple[int, int]]:
    """Where the noise-free curve itself is a plateau by the detector's definition (intervals of steps)."""
    return [(p.start_step, p.end_step) for p in find_plateaus(step, clean)]


def bench_plateaus(rng: np.random.Generator, curves: int) -> list[tuple]:
    """Recall: the injected plateau is found. Precision: a found plateau overlaps a flat stretch of the
    noise-free curve (the injected one, or where the decay itself has become slower than the threshold)."""
    rows = []
    n = 8000
    step = np.arange(n)
    for label, sigma, df in NOISE:
        tp = fp = found = total = 0
        for _ in range(curves):
            start = int(rng.integers(1500, 5500))
            progress = np.where(step < start, step, np.where(step < start + 1000, start, step - 1000))
            clean = 1.5 + 2.5 * (1 + progress / 50.0) ** -0.6
            end = start + 1500
            truth = flat_truth(step[:end], clean[:end])
            plateaus = find_plateaus(step[:end], (clean + noise(rng, n, sigma, df))[:end])
            real = [p for p in plateaus if any(p.start_step <= b and p.end_step >= a for a, b in truth)]
            tp += len(real)
            fp += len(plateaus) - len(real)
            found += any(p.start_step < start + 1000 and p.end_step > start for p in plateaus)
            total += 1
        rows.append(("plateau", label, "1000 steps", tp / (tp + fp) if tp + fp else float("nan"), found / total, ""))
    return rows


def threshold_tradeoff(rng: np.random.Generator, curves: int, clean_steps: int) -> list[tuple]:
    """Recall of 5-MAD spikes against false alarms on clean noise as the threshold moves (Gaussian 0.03)."""
    rows = []
    step = np.arange(STEPS)
    clean_step = np.arange(clean_steps)
    for z in (2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5):
        settings = AnomalySettings(spike_z=z)
        found = total = 0
        for _ in range(curves):
            value = base_curve(step) + noise(rng, STEPS, 0.03, None)
            at = injected_steps(rng, 16, STEPS)
            value[at] += 5 * MAD_PER_SIGMA * 0.03
            events = detect({"train/loss": (step, value, step * 1.0)}, settings)
            found += int(matched(np.array([e.step for e in events if e.kind == "spike"]), at)[1].sum())
            total += len(at)
        clean = base_curve(clean_step) + noise(rng, clean_steps, 0.03, None)
        fa = sum(e.kind == "spike" for e in detect({"train/loss": (clean_step, clean, clean_step * 1.0)}, settings))
        bound = np_bound(5 * MAD_PER_SIGMA, fa / clean_steps) if fa else ""
        rows.append((f"{z} σ = {z / MAD_PER_SIGMA:.1f} MAD", found / total, fa / clean_steps * 1e5, bound))
    return rows


def limits() -> list[tuple]:
    """The NP bound at the goal's false-alarm rate by spike size in Gaussian noise, and the size the goal needs."""
    z = NormalDist().inv_cdf(1.0 - GOAL_FA_PER_STEP)
    needed = z + NormalDist().inv_cdf(0.9)
    rows = [(f"{m} MAD", f"{m * MAD_PER_SIGMA:.2f} σ", np_bound(m * MAD_PER_SIGMA, GOAL_FA_PER_STEP)) for m in (5, 8)]
    rows.append(("5 σ (5 MAD scaled by 1.4826)", "5.00 σ", np_bound(5.0, GOAL_FA_PER_STEP)))
    rows.append((f"{needed / MAD_PER_SIGMA:.1f} MAD: the least for recall 0.9", f"{needed:.2f} σ", np_bound(needed, GOAL_FA_PER_STEP)))
    return rows


def false_alarms(rng: np.random.Generator, clean_steps: int, settings: AnomalySettings) -> list[tuple]:
    rows = []
    step = np.arange(clean_steps)
    for label, sigma, df in NOISE:
        value = base_curve(step) + noise(rng, clean_steps, sigma, df)
        grad = np.exp(rng.normal(np.log(0.5), 0.25, clean_steps))
        events = detect({"train/loss": (step, value, step * 1.0), "grad_norm": (step, grad, step * 1.0)}, settings)
        spikes = sum(e.kind == "spike" for e in events)
        explosions = sum(e.kind == "grad_explosion" for e in events)
        rows.append((label, clean_steps, spikes / clean_steps * 1e5, explosions / clean_steps * 1e5))
    return rows


def table(header: tuple, rows: list[tuple]) -> str:
    cells = [tuple(f"{c:.3f}" if isinstance(c, float) else str(c) for c in r) for r in [header, *rows]]
    width = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, width)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in width))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--curves", type=int, default=10, help="curves per noise level (default 10)")
    parser.add_argument("--clean-steps", type=int, default=500_000, help="clean steps per noise level (default 500k)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = AnomalySettings()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    print(f"settings: spike_z={settings.spike_z} σ (= {settings.spike_z / MAD_PER_SIGMA:.1f} MAD), "
          f"noise window {settings.window}, level window {settings.level_window}, "
          f"explosion ×{settings.explosion_factor} and z>{settings.explosion_z}")
    print(f"{args.curves} curves × {STEPS} steps per noise level; goal: precision and recall >= 0.9 for spikes "
          f">= 5 MAD, <= 1 false alarm per 100k clean steps\n")
    rows = bench_spikes(rng, args.curves, settings) + bench_explosions(rng, args.curves, settings) \
        + bench_plateaus(rng, args.curves)
    print(table(("kind", "noise", "size", "precision", "recall", "NP bound"), rows))
    print(f"\nNP bound: the best recall possible at {GOAL_FA_PER_STEP * 1e5:g} false alarm per 100k steps for a one-step "
          "spike of that size (noise distribution and level known)")
    print()
    print(table(("noise", "clean steps", "spike FA/100k", "explosion FA/100k"),
                false_alarms(rng, args.clean_steps, settings)))
    print()
    print("spike threshold against recall of 5-MAD spikes and false alarms (gauss 0.03):")
    print(table(("spike_z", "recall 5 MAD", "FA/100k", "NP bound at that FA"),
                threshold_tradeoff(rng, args.curves, args.clean_steps // 5)))
    print(f"\nthe goal's limit in Gaussian noise: best possible recall at {GOAL_FA_PER_STEP * 1e5:g} false alarm per 100k steps")
    print(table(("spike", "in σ", "NP bound"), limits()))
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
