"""`python -m nanogpt_dash run -- CMD ...`: record an unmodified nanoGPT run from its stdout.

The command runs as a child whose stdout passes through byte for byte (our own messages go to
stderr, so `run -- CMD > log` writes the same log CMD would). Each line is also parsed
(`nanogpt_log`); the numbers go to a tracking run in the command's `out_dir`, next to its
`ckpt.pt`. The run is opened at the first iter/eval line, so a resumed command starts its new
segment at the step it resumed from. The child runs in its own process group: Ctrl-C, SIGTERM
and SIGHUP sent to us are passed to that whole group once, as a terminal would, and we exit with
the child's exit code (128 + N when signal N ended it).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

from .errors import NanogptDashError
from .nanogpt_log import (
    CheckpointSaved, ConfigValue, EvalLine, IterLine, LineParser, ParamCount, Record, Start, TokensPerIter,
)
from .tracking import Run, TrackingWarning

DEFAULT_RUNS = Path("runs")
MAX_LINE_BYTES = 1 << 20
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_LINE_END = re.compile(rb"\r\n|\r|\n")
SELF_TRACKING_MARK = "nanogpt_dash: "  # what nanogpt_dash.launch prints when a script starts its dashboard


class WrapError(NanogptDashError):
    """The wrapped command could not be started."""


class Recorder:
    """Turns nanoGPT records into a tracking run, opened lazily at the first metric."""

    def __init__(self, command: Sequence[str], out_dir: str | Path | None = None, *,
                 dashboard: bool = True, port: int = 8050) -> None:
        self.command = list(command)
        self.fixed_out_dir = Path(out_dir) if out_dir is not None else None
        self.dashboard = dashboard
        self.port = port
        self.config: dict[str, Any] = {}
        self.tokens_per_iter: int | None = None
        self.started = False
        self.step = 0
        self.run: Run | None = None
        self.self_tracking = False
        self.failed = False
        self._parser = LineParser()

    @property
    def out_dir(self) -> Path:
        """The run directory: --out-dir, else the command's out_dir, else runs/<script name>."""
        if self.fixed_out_dir is not None:
            return self.fixed_out_dir
        if isinstance(self.config.get("out_dir"), str) and self.config["out_dir"]:
            return Path(self.config["out_dir"])
        return DEFAULT_RUNS / _script_name(self.command)

    def feed_line(self, text: str) -> None:
        """Parse one line of the child's stdout and record what it says."""
        if self.run is None and text.startswith(SELF_TRACKING_MARK) and not self.self_tracking:
            self.self_tracking = True
            print("nanogpt_dash: the command records itself to the dashboard (it is this project's train.py "
                  "or uses nanogpt_dash); passing its output through without recording it twice", file=sys.stderr)
        if self.self_tracking:
            return
        record = self._parser.parse(text)
        if record is not None:
            self.record(record)

    def record(self, record: Record) -> None:
        """Apply one parsed record: configuration, metrics or a checkpoint event."""
        if isinstance(record, ConfigValue):
            self.config[record.key] = record.value
        elif isinstance(record, TokensPerIter):
            self.tokens_per_iter = record.tokens
            self.config["tokens_per_iter"] = record.tokens
        elif isinstance(record, ParamCount):
            self.config["n_params_millions"] = record.millions
        elif isinstance(record, Start):
            self.started = True
        elif isinstance(record, IterLine):
            metrics: dict[str, float] = {"train/loss": record.loss, "iter_ms": record.time_ms}
            if record.mfu is not None:
                metrics["mfu"] = record.mfu
            if self.tokens_per_iter and record.time_ms > 0:
                metrics["tokens_per_sec"] = self.tokens_per_iter / (record.time_ms / 1000.0)
            self._log(metrics, record.step)
        elif isinstance(record, EvalLine):
            self._log({"train/eval_loss": record.train_loss, "val/loss": record.val_loss}, record.step)
        elif isinstance(record, CheckpointSaved) and self.run is not None:
            path = (Path(record.out_dir) / "ckpt.pt").resolve()
            self.run.event("checkpoint", {"path": str(path)}, step=self.step)

    def finish(self, status: str) -> None:
        """Close the run with `status`; a run that started but logged nothing is still recorded."""
        if self.run is None and self.started and not self.self_tracking:
            self._open(self.step)
        if self.run is not None:
            self.run.finish(status)

    def _log(self, metrics: dict[str, float], step: int) -> None:
        if self.run is None:
            self._open(step)
        self.step = step
        self.run.log(metrics, step=step)

    def _open(self, first_step: int) -> None:
        # the first step printed is the checkpoint's iter_num on resume (0 for a fresh run):
        # earlier points past it become superseded, so the resumed curve continues cleanly
        name = self.config.get("wandb_run_name")  # as in train.py: nanoGPT's configs name their runs here
        self.run = Run(self.out_dir, name=name if isinstance(name, str) and name else None, config=self.config,
                       resume_step=first_step)
        self.run.event("command", {"argv": self.command, "cwd": os.getcwd()}, step=first_step)
        if self.dashboard:
            from .launch import ensure_dashboard

            ensure_dashboard(self.out_dir.resolve().parent, self.run.run_id, port=self.port)


def run_command(command: Sequence[str], out_dir: str | Path | None = None, *, dashboard: bool = True,
                port: int = 8050) -> int:
    """Run `command`, pass its stdout through, record it; returns the exit code to exit with."""
    if not command:
        raise WrapError("no command to run: write python -m nanogpt_dash run -- python train.py [args]")
    recorder = Recorder(command, out_dir, dashboard=dashboard, port=port)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # a piped Python child would otherwise print in 8 KB bursts
    try:
        child = subprocess.Popen(list(command), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                                 process_group=0)
    except OSError as e:
        raise WrapError(f"cannot start {command[0]!r}: {e.strerror}; check the command after '--'") from e
    forwarded: list[int] = []

    def forward(signum: int, frame: object) -> None:
        forwarded.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    try:
        with contextlib.redirect_stdout(sys.stderr):
            _pump(child.stdout.fileno(), recorder)
            returncode = child.wait()
            recorder.finish(_status(returncode, forwarded))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        child.stdout.close()
    return 128 - returncode if returncode < 0 else returncode


def _pump(fd: int, recorder: Recorder) -> None:
    pending = b""
    stdout_ok = True
    while chunk := os.read(fd, 65536):
        if stdout_ok:
            stdout_ok = _write_all(1, chunk)
        lines = _LINE_END.split(pending + chunk)
        pending = lines.pop()
        if len(pending) > MAX_LINE_BYTES:  # a progress bar without newlines: not one of nanoGPT's lines
            pending = b""
        for line in lines:
            _feed(recorder, line)
    if pending:
        _feed(recorder, pending)


def _feed(recorder: Recorder, line: bytes) -> None:
    if recorder.failed:
        return
    try:
        recorder.feed_line(line.decode("utf-8", errors="replace"))
    except Exception as e:  # the command's output must keep flowing whatever happens to the recording
        recorder.failed = True
        warnings.warn(f"nanogpt_dash: stopped recording this run ({type(e).__name__}: {e}); "
                      "the command continues and its output still passes through", TrackingWarning)


def _write_all(fd: int, data: bytes) -> bool:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        return True
    except OSError:  # our stdout closed (`| head`): keep recording, stop echoing
        return False


def _status(returncode: int, forwarded: list[int]) -> str:
    if returncode == 0:
        return "finished"
    if forwarded or returncode in (-signal.SIGINT, -signal.SIGTERM, -signal.SIGHUP, 130):
        return "interrupted"
    return "crashed"


def _script_name(command: Sequence[str]) -> str:
    scripts = [Path(arg).stem for arg in command if arg.endswith(".py") and not arg.startswith("-")]
    # `python train.py config/x.py`: the first .py is the script, later ones are configs
    return scripts[0] if scripts else Path(command[0]).name
