"""What the browser benchmarks share: Chromium's flags, CPU accounting, a watchdog and table printing."""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import psutil

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# true once the loss chart holds its first point (for page.wait_for_function)
LOSS_CHART_HAS_POINTS_JS = ("() => { const el = document.querySelector('#chart-loss .js-plotly-plot');"
                            " return el && el.data && el.data[0] && el.data[0].x.length > 0; }")


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """User + system CPU seconds of the processes still alive."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


@contextmanager
def deadline(seconds: float, cleanup: Callable[[], None]) -> Iterator[None]:
    """Abort the whole process after `seconds`, running `cleanup` first (stops the server)."""
    def abort() -> None:
        print(f"\n{Path(sys.argv[0]).name}: still running after {seconds:.0f} s; giving up", file=sys.stderr, flush=True)
        cleanup()
        os._exit(3)

    timer = threading.Timer(seconds, abort)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table: the first column left-aligned, the numbers right-aligned."""
    widths = [max(len(c) for c in column) for column in zip(header, *rows)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(r[0].ljust(widths[0]) if i == 0 else c.rjust(w)
                                for i, (c, w) in enumerate(zip(r, widths))) + " |" for r in rows]
    return "\n".join(lines)
