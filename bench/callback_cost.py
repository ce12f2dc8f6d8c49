"""What one chart update costs the server: callback time and bytes, at 10 runs × 1M points × 4 metrics.

Ten runs of 1,000,000 logged steps each (train/loss, lr, grad_norm, tokens_per_sec: 40M points)
are written as real run files (`RunWriter`, one `metrics.sqlite` per run, plain tuples in the
shape of `ScalarRow`, as tracking.py writes them) and loaded the way the server loads them,
`LiveStore(runs_dir).poll()`. With `--direct` the store is filled in memory instead (`Series.extend`
with numpy arrays and a made-up `RunMeta`), which skips the minutes SQLite takes; the output says
which one ran.

Then the charts' callback logic itself, `live_page.chart_updates`, is timed for a first load, for
updates with 1 and 10 new points per series (appended with `Series.extend` under the run's lock,
as the poller does), for the periodic re-downsample rebuild, for a zoom to 1% of the x range and
for a first load with smoothing 0.9. Every result is serialized as Dash serializes a callback
response (`to_json_plotly` of `{"multi": true, "response": {...}}`, outputs that are `no_update`
left out) to count the bytes on the WebSocket: the four figures or new points (extendData) plus the cursor, which
the browser also sends back with every request. One more row times the rest of the same Dash
callback (KPI cards, text sample, alerts), which runs on every tick too.

Times are wall-clock on whatever else the machine is doing: run it on a quiet machine.

    python bench/callback_cost.py [--runs 10] [--points 1000000] [--reps 20] [--heavy-reps 5] [--direct]
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dash import Patch, no_update  # noqa: E402
from plotly.io.json import to_json_plotly  # noqa: E402

from nanogpt_dash.live import LiveRun, LiveStore, Series  # noqa: E402
from nanogpt_dash.store import RunMeta, RunWriter, Segment  # noqa: E402
from nanogpt_dash.ui import ids  # noqa: E402
from nanogpt_dash.ui.figures import CHARTS  # noqa: E402
from nanogpt_dash.ui.live_charts import chart_updates, view_state  # noqa: E402
from nanogpt_dash.ui.pages.live import kpi_cards, kpi_items, latest_sample, run_alerts  # noqa: E402

KEYS = ("train/loss", "lr", "grad_norm", "tokens_per_sec")
LOG_EVERY_S = 0.1  # the synthetic runs log 10 times a second
WRITE_BATCH_STEPS = 50_000
CONFIG = {"batch_size": 12, "block_size": 1024, "gradient_accumulation_steps": 40}
GOAL_MS, GOAL_BYTES = 50.0, 10_000
TICK_HZ = 5  # the page's default update rate


# -- synthetic runs -------------------------------------------------------------------------


def metrics(run: int, step: np.ndarray, total: int) -> dict[str, np.ndarray]:
    """Plausible training curves (noisy decaying loss, cosine lr, spiky grad norm) for steps `step`."""
    rng = np.random.default_rng([run, int(step[0]) if len(step) else 0])
    t = step / max(1, total)
    return {
        "train/loss": 1.2 + 3.0 * np.exp(-6.0 * t) + 0.05 * rng.standard_normal(len(step)) + 0.01 * run,
        "lr": 6e-4 * 0.5 * (1.0 + np.cos(np.pi * t)),
        "grad_norm": rng.lognormal(-0.5, 0.4, len(step)),
        "tokens_per_sec": 1.2e5 + 4e3 * rng.standard_normal(len(step)),
    }


def run_id(i: int) -> str:
    return f"run-{i:02d}"


def write_run_files(runs_dir: Path, runs: int, points: int) -> None:
    for i in range(runs):
        writer = RunWriter(runs_dir / run_id(i))
        writer.begin_segment(run_id=run_id(i), name=f"synthetic {i}", start_step=0,
                             config={**CONFIG, "max_iters": points}, model_args={}, host="bench", pid=0)
        start = time.time()
        for lo in range(0, points, WRITE_BATCH_STEPS):
            step = np.arange(lo, min(points, lo + WRITE_BATCH_STEPS))
            wall = (start + step * LOG_EVERY_S).tolist()
            values = {k: v.tolist() for k, v in metrics(i, step, points).items()}
            steps = step.tolist()
            rows = [(s, t, key, values[key][j]) for j, (s, t) in enumerate(zip(steps, wall)) for key in KEYS]
            writer.write(rows, [])
        writer.close()


def fill_directly(store: LiveStore, runs: int, points: int) -> None:
    """The same data as write_run_files, put straight into the store's series (no SQLite)."""
    now = time.time()
    for i in range(runs):
        segment = Segment(id=1, start_step=0, started=now, heartbeat=now, ended=None, status="running",
                          host="bench", pid=0, config={**CONFIG, "max_iters": points})
        meta = RunMeta(run_id=run_id(i), name=f"synthetic {i}", created=now, model_args={}, segments=(segment,))
        live = LiveRun(run_id=run_id(i), path=store.runs_dir / run_id(i), meta=meta)
        for lo in range(0, points, WRITE_BATCH_STEPS):
            append(live, lo, min(points, lo + WRITE_BATCH_STEPS) - lo, points)
        store._runs[live.run_id] = live  # no public way to add a run without a file: this mode exists to skip files


def append(live: LiveRun, first_step: int, n: int, total: int) -> None:
    """n new points of every metric of a run, added as the poller adds them: under the run's lock."""
    step = np.arange(first_step, first_step + n)
    origin = live.meta.created
    wall = origin + step * LOG_EVERY_S
    segment = np.ones(n, np.int32)
    with live.lock:
        for key, value in metrics(int(live.run_id[-2:]), step, total).items():
            series = live.series.get(key)
            if series is None:
                series = live.series[key] = Series(origin)
            series.extend(step, value, wall, segment)


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    callback_ms: list[float] = field(default_factory=list)
    json_ms: list[float] = field(default_factory=list)
    chart_bytes: list[int] = field(default_factory=list)
    cursor_bytes: list[int] = field(default_factory=list)
    rebuilt: list[int] = field(default_factory=list)
    charts: bool = True

    def add(self, callback_ms: float, json_ms: float, chart_bytes: int, cursor_bytes: int, rebuilt: int) -> None:
        self.callback_ms.append(callback_ms)
        self.json_ms.append(json_ms)
        self.chart_bytes.append(chart_bytes)
        self.cursor_bytes.append(cursor_bytes)
        self.rebuilt.append(rebuilt)


def response_bytes(outputs: dict[str, dict[str, object]]) -> int:
    """Bytes of a Dash callback response holding these {component id: {prop: value}} outputs."""
    kept = {cid: {prop: v for prop, v in props.items() if v is not no_update} for cid, props in outputs.items()}
    kept = {cid: props for cid, props in kept.items() if props}
    return len(to_json_plotly({"multi": True, "response": kept}).encode()) if kept else 0


def timed_update(store: LiveStore, selected: list[str], cursor: dict | None, view: dict,
                 zooms: dict | None = None) -> tuple[dict, tuple[float, float, int, int, int]]:
    """One chart update as the tick callback makes it; the cursor comes back through JSON like Dash's State."""
    t0 = time.perf_counter()
    figures, extends, cursor = chart_updates(store, selected, cursor, view, zooms)
    t1 = time.perf_counter()
    chart_bytes = response_bytes({ids.chart(c.name): {"figure": f, "extendData": e}
                                  for c, f, e in zip(CHARTS, figures, extends)})
    cursor_json = to_json_plotly(cursor)
    t2 = time.perf_counter()
    rebuilt = sum(isinstance(f, dict) and not isinstance(f, Patch) for f in figures)
    return json.loads(cursor_json), ((t1 - t0) * 1e3, (t2 - t1) * 1e3, chart_bytes, len(cursor_json.encode()), rebuilt)


def measure(store: LiveStore, runs: int, points: int, reps: int, heavy_reps: int, width: int) -> list[Row]:
    selected = store.run_ids()[:runs]
    plain = view_state("step", 0.0, [], width)
    first = Row("first load (4 full figures)")
    inc1, inc10 = Row("update, 1 new point per series"), Row("update, 10 new points per series")
    rebuild = Row("periodic re-downsample rebuild")
    zoom = Row("zoom the loss chart to 1% of the range")
    smooth_first, smooth_inc = Row("first load, smoothing 0.9"), Row("update, 1 new point per series, smoothing 0.9")
    rest = Row("+ KPI cards, sample, alerts (same callback)", charts=False)
    next_step = {r: points for r in selected}

    def grow(n: int) -> None:
        for r in selected:
            append(store.get(r), next_step[r], n, points)
            next_step[r] += n

    def ticks(cursor: dict, view: dict, n_new: int, patches: Row, rebuilds: Row, want_patches: int, want_rebuilds: int) -> dict:
        deadline = time.monotonic() + 600
        while (len(patches.callback_ms) < want_patches or len(rebuilds.callback_ms) < want_rebuilds) \
                and time.monotonic() < deadline:
            grow(n_new)
            cursor, sample = timed_update(store, selected, cursor, view)
            (rebuilds if sample[-1] else patches).add(*sample)
        return cursor

    for _ in range(heavy_reps):
        cursor, sample = timed_update(store, selected, None, plain)
        first.add(*sample)
    cursor = ticks(cursor, plain, 1, inc1, rebuild, reps, 0)
    cursor = ticks(cursor, plain, 10, inc10, rebuild, reps, heavy_reps)

    lo = points * 0.5
    zoomed = {"loss": [lo, lo + points * 0.01]}  # the page's zoom store: each chart's x range
    for _ in range(heavy_reps):
        _, sample = timed_update(store, selected, copy.deepcopy(cursor), plain, zoomed)
        zoom.add(*sample)

    for _ in range(reps):
        focus = selected[0]
        t0 = time.perf_counter()
        parts = {"kpis": kpi_cards(kpi_items(store, focus)), "sample": latest_sample(store, focus, cursor),
                 "alerts": run_alerts(store, selected)}
        t1 = time.perf_counter()
        size = len(to_json_plotly({"multi": True, "response": {k: {"children": v} for k, v in parts.items()}}).encode())
        rest.add((t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3, size, 0, 0)

    smooth = view_state("step", 0.9, [], width)
    for _ in range(heavy_reps):
        cursor, sample = timed_update(store, selected, None, smooth)
        smooth_first.add(*sample)
    ticks(cursor, smooth, 1, smooth_inc, Row("smoothed rebuilds (not reported)"), reps, 0)
    return [first, inc1, inc10, rebuild, zoom, smooth_first, smooth_inc, rest]


# -- report ---------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    header = (f"| {'update':<46} | {'reps':>4} | {'callback p50 ms':>15} | {'p95 ms':>8} | {'to_json p50 ms':>14} "
              f"| {'charts bytes p50':>16} | {'cursor bytes':>12} | {'rebuilt':>7} |")
    lines = [header, "|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|"]
    for r in rows:
        if not r.callback_ms:
            lines.append(f"| {r.name:<46} | {0:>4} | {'-':>15} | {'-':>8} | {'-':>14} | {'-':>16} | {'-':>12} | {'-':>7} |")
            continue
        ms = np.asarray(r.callback_ms)
        lines.append(
            f"| {r.name:<46} | {len(ms):>4} | {np.percentile(ms, 50):15.1f} | {np.percentile(ms, 95):8.1f} "
            f"| {np.median(r.json_ms):14.1f} | {int(np.median(r.chart_bytes)):>16,} "
            + (f"| {int(np.median(r.cursor_bytes)):>12,} | {int(np.median(r.rebuilt)):>5}/4 |" if r.charts
               else f"| {'-':>12} | {'-':>7} |"))
    return "\n".join(lines)


def steady_state(rows: list[Row], runs: int, budget: int) -> str:
    """What a live page costs on average: mostly small updates, and a full rebuild every so many ticks."""
    patch, rebuild = rows[1], rows[3]
    if not patch.callback_ms or not rebuild.callback_ms:
        return ""
    per_tick = LOG_EVERY_S ** -1 / TICK_HZ  # new points per series per tick
    every = int(budget // 4 // per_tick) + 1  # grown_too_large: more than budget/4 new points in one trace
    ms = (np.median(rebuild.callback_ms) + (every - 1) * np.median(patch.callback_ms)) / every
    size = (np.median(rebuild.chart_bytes) + (every - 1) * np.median(patch.chart_bytes)) / every
    return (f"\nsteady state, every run logging {1 / LOG_EVERY_S:.0f} times/s, page at {TICK_HZ} updates/s: "
            f"{per_tick:.0f} new points per series per tick, all 4 charts rebuilt every {every} ticks "
            f"({every / TICK_HZ:.1f} s);\non average {ms:.0f} ms of chart callback per tick "
            f"({ms * TICK_HZ / 10:.1f}% of one core) and {size / 1000:,.0f} KB per tick ({size * TICK_HZ / 1e6:.2f} MB/s) "
            "(update row measured with 1 point per series)")


def mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--points", type=int, default=1_000_000, help="logged steps per run (each logs 4 metrics)")
    parser.add_argument("--reps", type=int, default=20, help="repetitions of the cheap rows")
    parser.add_argument("--heavy-reps", type=int, default=5, help="repetitions of full rebuilds")
    parser.add_argument("--width", type=int, default=800, help="chart width in px the browser reports (sets the budget)")
    parser.add_argument("--direct", action="store_true", help="fill the LiveStore in memory instead of through SQLite")
    args = parser.parse_args()

    process = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        runs_dir.mkdir()
        store = LiveStore(runs_dir)
        write_s = 0.0
        if not args.direct:
            t0 = time.perf_counter()
            write_run_files(runs_dir, args.runs, args.points)
            write_s = time.perf_counter() - t0
        rss_before = process.memory_info().rss
        t0 = time.perf_counter()
        if args.direct:
            fill_directly(store, args.runs, args.points)
        else:
            store.poll()
        load_s = time.perf_counter() - t0
        rss_loaded = process.memory_info().rss
        peak_loading = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        points, held = store.points(), store.nbytes()

        rows = measure(store, args.runs, args.points, args.reps, args.heavy_reps, args.width)
        rss_end = process.memory_info().rss

    source = ("filled in memory (--direct: Series.extend, no SQLite)" if args.direct
              else f"real run files: written in {write_s:.0f} s, loaded by LiveStore.poll() in {load_s:.0f} s")
    budget = view_state("step", 0.0, [], args.width)["budget"]
    print(f"\nchart callback cost: {args.runs} runs × {args.points:,} steps × {len(KEYS)} metrics = "
          f"{args.runs * args.points * len(KEYS):,} points, {source}")
    print(f"chart width {args.width} px → {budget:,} points per trace; ms are chart_updates() alone, "
          f"bytes the Dash response (no_update left out)\n")
    print(table(rows))
    print(steady_state(rows, args.runs, budget))
    print(f"\ngoals: an incremental update ≤ {GOAL_MS:.0f} ms and ≤ {GOAL_BYTES / 1000:.0f} KB (charts + cursor; the cursor "
          "goes both ways: the browser sends it back as State with every request)")
    for r in rows[1:3]:
        if r.callback_ms:
            ms, size = np.percentile(r.callback_ms, 95), np.median(np.add(r.chart_bytes, r.cursor_bytes))
            print(f"  {r.name}: p95 {ms:.1f} ms ({'met' if ms <= GOAL_MS else 'MISSED'}), "
                  f"{size / 1000:.1f} KB ({'met' if size <= GOAL_BYTES else 'MISSED'})")
    print(f"\nserver memory: LiveStore holds {points:,} points in {mb(held)} = {held / max(1, points):.1f} bytes/point")
    grown = rss_loaded - rss_before
    print(f"process RSS: {mb(rss_before)} before loading, {mb(rss_loaded)} after ({mb(grown)} for {points:,} points, "
          f"{grown / max(1, points):.1f} bytes/point), peak {mb(peak_loading)} while loading, "
          f"{mb(rss_end)} after the measurements")
    print("timings are wall-clock and include whatever else ran on this machine.")


if __name__ == "__main__":
    main()
