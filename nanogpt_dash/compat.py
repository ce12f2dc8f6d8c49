"""`DashboardBroadcaster`: the basic dashboard's API, backed by a tracking run.

A train.py written against the basic dashboard keeps working after one changed import:

    from nanogpt_dash.compat import DashboardBroadcaster

`log_metrics({'iter', 'loss', 'elapsed', ...})` becomes `Run.log` at step `iter`; statuses and the
completion message become events; the server is ours (started if none answers).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

from .launch import ensure_dashboard
from .tracking import Run, TrackingError

RENAMED = {"loss": "train/loss", "elapsed": "elapsed_s"}
FAILURE_WORDS = ("error", "crash", "fail", "exception")
INTERRUPT_WORDS = ("interrupt", "keyboard", "sigint", "sigterm", "signal", "cancel", "stop")


class DashboardBroadcaster:
    """Drop-in for the basic dashboard's broadcaster; every call is safe to make from a training loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8050, out_dir: str | Path = "runs/broadcast",
                 name: str | None = None, config: Mapping[str, Any] | None = None, **_ignored: Any) -> None:
        self.host, self.port = host, port
        self.run = Run(out_dir, name=name, config=config)
        self._step = 0

    def start_server(self) -> None:
        ensure_dashboard(Path(self.run.out_dir).parent, self.run.run_id, port=self.port, host=self.host)

    def log_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Log a dict with 'iter' (the step), 'loss', 'elapsed' and any other numbers."""
        step = metrics.get("iter", metrics.get("step", self._step))
        self._step = step + 1 if isinstance(step, int) else self._step + 1
        values = {RENAMED.get(k, k): v for k, v in metrics.items() if k not in ("iter", "step")}
        self._safe(self.run.log, values, step=step)

    def log_status(self, status: str, message: str = "") -> None:
        self._safe(self.run.event, "status", {"status": str(status), "message": str(message)}, step=self._step)

    def send_completion_status(self, message: str = "Training completed") -> None:
        self._safe(self.run.event, "completed", {"message": str(message), "time": time.time()}, step=self._step)
        self.run.finish("finished")

    def shutdown(self, reason: str = "finished", message: str = "") -> None:
        self._safe(self.run.event, "shutdown", {"reason": str(reason), "message": str(message)}, step=self._step)
        self.run.finish(status_for_reason(reason))

    def _safe(self, method, *args: Any, **kwargs: Any) -> None:
        try:
            method(*args, **kwargs)
        except TrackingError:
            pass  # a call after completion: the basic dashboard ignored those too


def status_for_reason(reason: str) -> str:
    words = str(reason).lower()
    if any(w in words for w in FAILURE_WORDS):
        return "crashed"
    if any(w in words for w in INTERRUPT_WORDS):
        return "interrupted"
    return "finished"
