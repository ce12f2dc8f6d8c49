"""Seconds per chart image (PNG and SVG): our warm kaleido Chromium beside kaleido's default one-shot call.

"cold" is the first image of a fresh process's renderer (Chromium start included); "warm" is the
median of the next --repeat images; "4 at once" renders the four charts of a run in one call (two
tabs, as the server and the CLI use) and reports seconds per image. kaleido's default (`kaleido.calc_fig_sync` with no
server started, what `plotly.io.to_image` does) starts and stops a Chromium for every image.

    python bench/export_figures.py [--repeat 10] [--oneshot 3] [--points 20000]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nanogpt_dash.images import (CHARTS, ChartView, ImageOptions, Renderer, chart_figure, chromium_path,  # noqa: E402
                                 print_theme, series_from_files)
from nanogpt_dash.tracking import Run  # noqa: E402

GOAL_WARM_S = 0.5


def make_run(runs_dir: Path, points: int) -> Path:
    with Run(runs_dir / "bench", config={"batch_size": 12, "block_size": 64, "gradient_accumulation_steps": 1}) as run:
        for step in range(points):
            run.log({"train/loss": 4 * math.exp(-step / (points / 4)) + 0.05 * math.sin(step), "lr": 6e-4,
                     "grad_norm": 1 + 0.1 * math.cos(step), "tokens_per_sec": 9000 + step % 100}, step=step)
    return runs_dir / "bench"


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--oneshot", type=int, default=3)
    parser.add_argument("--points", type=int, default=20_000)
    args = parser.parse_args()
    import kaleido

    chromium = chromium_path()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = make_run(Path(tmp) / "runs", args.points)
        figures = [print_theme(chart_figure(chart, series_from_files([run_dir], chart.keys), ChartView(smoothing=0.6)))
                   for chart in CHARTS]
    loss = figures[0]
    rows = []
    for fmt in ("png", "svg"):
        options = ImageOptions(format=fmt, width=900, height=500, scale=2)
        renderer = Renderer(tabs=2)  # as the server and the CLI use it
        cold = timed(lambda: renderer.render(loss, options))
        warm = statistics.median(timed(lambda: renderer.render(loss, options)) for _ in range(args.repeat))
        batch = statistics.median(timed(lambda: renderer.render_many([(f, options) for f in figures]))
                                  for _ in range(max(1, args.repeat // 2))) / len(figures)
        renderer.stop()
        opts = {"format": fmt, "width": 900, "height": 500, "scale": 2}
        oneshot = [timed(lambda: kaleido.calc_fig_sync(loss, opts=opts, kopts={"path": chromium, "mathjax": False}))
                   for _ in range(args.oneshot)]
        rows.append((fmt, cold, warm, batch, oneshot[0], statistics.median(oneshot)))

    print(f"chart images, {args.points:,} points per metric, 900x500 (PNG at scale 2), print theme; "
          f"median of {args.repeat} warm, {args.oneshot} one-shot")
    header = ("format", "ours cold s", "ours warm s", "ours 4 at once, s/image", "kaleido one-shot first s",
              "kaleido one-shot median s", f"warm <= {GOAL_WARM_S} s")
    table = [header] + [(fmt, f"{c:.2f}", f"{w:.3f}", f"{b:.3f}", f"{o1:.2f}", f"{om:.2f}",
                         "yes" if w <= GOAL_WARM_S else "NO") for fmt, c, w, b, o1, om in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


if __name__ == "__main__":
    main()
