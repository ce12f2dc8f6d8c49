"""What an idle tab costs its browser: main-thread time per second of one tab on a finished run.

A real server process and real headless Chromium (Debian's). One tab opens a finished run of the
four charted metrics, settles for `--settle` seconds, then Chromium's own counters
(DevTools Performance.getMetrics: TaskDuration, ScriptDuration, LayoutDuration) are read before
and after `--seconds` of doing nothing. Rows: the dashboard at the default rate and at 10/s, and a
blank page beside them (the floor of any page in this browser).

    python bench/idle_tab.py [--seconds 20] [--settle 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from chromium import CHROMIUM_ARGS, LOSS_CHART_HAS_POINTS_JS, table  # noqa: E402
from helpers import free_port, start_server, stop_process  # noqa: E402
from nanogpt_dash.tracking import Run  # noqa: E402

GOAL_MS_PER_S = 10.0


def metrics(cdp) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def measure(page, seconds: float) -> list[str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
    before, t0 = metrics(cdp), time.monotonic()
    time.sleep(seconds)
    after, elapsed = metrics(cdp), time.monotonic() - t0
    per_s = {k: 1000.0 * (after[k] - before[k]) / elapsed for k in ("TaskDuration", "ScriptDuration", "LayoutDuration",
                                                                     "RecalcStyleDuration")}
    return [f"{per_s['TaskDuration']:.1f}", f"{per_s['ScriptDuration']:.1f}",
            f"{per_s['LayoutDuration'] + per_s['RecalcStyleDuration']:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=5.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        with Run(runs_dir / "done") as run:
            for step in range(2000):
                run.log({"train/loss": 4.0 / (1 + 1e-3 * step), "lr": 6e-4, "grad_norm": 1.0, "tokens_per_sec": 1e4},
                        step=step)
        port = free_port()
        server = start_server(runs_dir, port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto("about:blank")
                time.sleep(args.settle)
                rows.append(["blank page (floor)", *measure(page, args.seconds)])
                page.close()
                for rate in ("5", "10"):
                    page = browser.new_page(viewport={"width": 1440, "height": 900})
                    page.goto(f"http://127.0.0.1:{port}/?run=done")
                    page.wait_for_function(LOSS_CHART_HAS_POINTS_JS, timeout=60_000)
                    page.select_option("#rate", rate)
                    time.sleep(args.settle)
                    label = f"dashboard, finished run, {rate}/s" + (" (default)" if rate == "5" else "")
                    rows.append([label, *measure(page, args.seconds)])
                    page.close()
                browser.close()
        finally:
            stop_process(server)
    print(f"\nmain-thread time of one idle tab, ms per second ({args.seconds:g} s after {args.settle:g} s to settle)\n")
    print(table(["page", "all tasks ms/s", "script ms/s", "style + layout ms/s"], rows))
    print(f"\ngoal: <= {GOAL_MS_PER_S:g} ms/s for an idle tab of the dashboard.")


if __name__ == "__main__":
    main()
