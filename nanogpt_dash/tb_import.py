"""`python -m nanogpt_dash import-tb LOGDIR`: TensorBoard event files into runs.

TensorBoard's own reader does the reading (`tensorboard` must be installed; TensorFlow is not
needed). As in TensorBoard, a *run* is a directory that holds event files directly; each becomes
one run directory under the runs directory, named by its path below LOGDIR (`exp1/train` ->
`exp1-train`). Scalars keep their tags, steps and wall times; text summaries become `sample`
events. Event files are read in name order (the order TensorBoard uses) into one segment, so every
point written is imported as it was written.
"""

from __future__ import annotations

import importlib.util
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from .errors import NanogptDashError
from .store import DB_NAME, RunWriter

BATCH_ROWS = 100_000
RECORD_FRAMING_BYTES = 16  # TFRecord: length (8), its CRC (4), the data, the data's CRC (4)


class TbImportError(NanogptDashError):
    """A TensorBoard log directory could not be imported."""


@dataclass(frozen=True)
class ImportResult:
    run_id: str
    source: Path
    run_dir: Path
    scalars: int
    samples: int
    skipped: str | None = None  # why nothing was imported


def tb_run_dirs(logdir: str | Path) -> list[Path]:
    """Directories under logdir (itself included) that hold event files directly, sorted."""
    root = Path(logdir)
    if not root.is_dir():
        raise TbImportError(f"{root} is not a directory; pass a TensorBoard log directory (the one given to --logdir)")
    return sorted({p.parent for p in root.rglob("*tfevents*") if p.is_file()})


def run_id_for(logdir: Path, tb_dir: Path) -> str:
    """The run id of a TensorBoard run directory: its path below logdir with '/' turned into '-'."""
    parts = tb_dir.resolve().relative_to(logdir.resolve()).parts or (logdir.resolve().name,)
    return "-".join(part.lstrip(".") or "_" for part in parts)


def import_logdir(logdir: str | Path, runs_dir: str | Path, progress: TextIO | None = None) -> list[ImportResult]:
    """Import every TensorBoard run under logdir into runs_dir; runs already there are skipped."""
    logdir, runs_dir = Path(logdir), Path(runs_dir)
    tb_dirs = tb_run_dirs(logdir)
    if not tb_dirs:
        raise TbImportError(f"no event files (*tfevents*) under {logdir}; is it the directory TensorBoard was given?")
    _require_tensorboard()
    files = {d: sorted(p for p in d.iterdir() if p.is_file() and "tfevents" in p.name) for d in tb_dirs}
    bar = _Progress(sum(f.stat().st_size for fs in files.values() for f in fs), progress)
    results = []
    for tb_dir in tb_dirs:
        run_id = run_id_for(logdir, tb_dir)
        run_dir = runs_dir / run_id
        if (run_dir / DB_NAME).exists():
            bar.advance(sum(f.stat().st_size for f in files[tb_dir]))
            results.append(ImportResult(run_id, tb_dir, run_dir, 0, 0,
                                        skipped=f"{run_dir} exists; remove it to import {tb_dir} again"))
            continue
        results.append(import_run(files[tb_dir], run_dir, source=tb_dir, on_progress=bar.advance))
    bar.done()
    if progress is not None:
        for r in results:
            line = f"skipped {r.run_id}: {r.skipped}" if r.skipped else \
                f"imported {r.run_id}: {r.scalars:,} scalars, {r.samples:,} text samples -> {r.run_dir}"
            print(line, file=progress)
    return results


def import_run(event_files: list[Path], run_dir: str | Path, *, source: Path | None = None,
               on_progress: Callable[[int], None] | None = None) -> ImportResult:
    """Import the event files of one TensorBoard run (in the given order) into a new run directory."""
    from google.protobuf.message import DecodeError
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event

    run_dir = Path(run_dir)
    source = source or (event_files[0].parent if event_files else run_dir)
    sink = _Sink(run_dir, source)
    plugins: dict[str, str] = {}  # tag -> plugin, from the metadata of the tag's first value
    consumed = 0
    try:
        for path in event_files:
            for record in RawEventFileLoader(str(path)).Load():
                try:
                    event = Event.FromString(record)
                except DecodeError as e:
                    raise TbImportError(f"{path}: a record is not a TensorBoard event ({e}); "
                                        f"is it an event file? {run_dir} keeps what came before it") from e
                if event.HasField("summary"):
                    for value in event.summary.value:
                        _take(value, event, plugins, sink)
                consumed += len(record) + RECORD_FRAMING_BYTES
                if len(sink.rows) >= BATCH_ROWS:
                    sink.flush()
                    if on_progress is not None:
                        on_progress(consumed)
                        consumed = 0
        sink.close()
    finally:
        sink.abandon()
    if on_progress is not None:
        on_progress(consumed)
    if not sink.total and not sink.samples:
        return ImportResult(run_dir.name, source, run_dir, 0, 0,
                            skipped="its event files hold no scalars or text summaries (only those are imported)")
    return ImportResult(run_dir.name, source, run_dir, sink.total, sink.samples)


def _take(value: Any, event: Any, plugins: dict[str, str], sink: "_Sink") -> None:
    tag = value.tag
    if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
        plugins[tag] = value.metadata.plugin_data.plugin_name
    kind = value.WhichOneof("value")
    if kind == "simple_value":  # what torch's SummaryWriter.add_scalar writes
        sink.scalar(event.step, event.wall_time, tag, value.simple_value)
    elif kind == "tensor":
        plugin = plugins.get(tag)
        if plugin == "scalars":
            sink.scalar(event.step, event.wall_time, tag, _tensor_scalar(value.tensor))
        elif plugin == "text":
            sink.sample(event.step, event.wall_time, tag, _tensor_text(value.tensor))


def _tensor_scalar(tensor: Any) -> float:
    if tensor.float_val:
        return float(tensor.float_val[0])
    if tensor.double_val:
        return float(tensor.double_val[0])
    from tensorboard.util.tensor_util import make_ndarray

    return float(make_ndarray(tensor).reshape(-1)[0])


def _tensor_text(tensor: Any) -> str:
    if tensor.string_val:
        return "\n".join(s.decode("utf-8", errors="replace") for s in tensor.string_val)
    from tensorboard.util.tensor_util import make_ndarray

    return "\n".join(s.decode("utf-8", errors="replace") if isinstance(s, bytes) else str(s)
                     for s in make_ndarray(tensor).reshape(-1))


class _Sink:
    """Batches rows into one new run file; the segment opens at the first wall time seen."""

    def __init__(self, run_dir: Path, source: Path) -> None:
        self.run_dir = run_dir
        self.source = source
        self.rows: list[tuple[int, float, str, float]] = []
        self.events: list[tuple[int, float, str, dict]] = []
        self.total = 0
        self.samples = 0
        self.last_wall_time: float | None = None
        self._writer: RunWriter | None = None

    def scalar(self, step: int, wall_time: float, tag: str, value: float) -> None:
        self.rows.append((step, wall_time, tag, value))

    def sample(self, step: int, wall_time: float, tag: str, text: str) -> None:
        self.events.append((step, wall_time, "sample", {"text": text, "tag": tag}))
        self.samples += 1

    def flush(self) -> None:
        if not self.rows and not self.events:
            return
        if self._writer is None:
            first = min(batch[0][1] for batch in (self.rows, self.events) if batch)
            self._writer = RunWriter(self.run_dir)
            self._writer.begin_segment(
                run_id=self.run_dir.name, name=self.run_dir.name, start_step=0,
                config={"imported_from": str(self.source.resolve()), "format": "tensorboard"},
                model_args={}, host=socket.gethostname(), pid=0, started=first,
            )
        self._writer.write(self.rows, self.events)
        self.last_wall_time = max([batch[-1][1] for batch in (self.rows, self.events) if batch]
                                  + [self.last_wall_time or 0.0])
        self.total += len(self.rows)
        self.rows, self.events = [], []

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.set_status("finished", at=self.last_wall_time)
            self._writer.close()
            self._writer = None

    def abandon(self) -> None:
        if self._writer is not None:  # an error mid-import: leave the file marked as such
            self._writer.set_status("crashed")
            self._writer.close()
            self._writer = None


class _Progress:
    """A one-line progress bar on a terminal (bytes of event files read); silent elsewhere."""

    def __init__(self, total_bytes: int, stream: TextIO | None) -> None:
        self.total = max(total_bytes, 1)
        self.bytes = 0
        self.started = time.monotonic()
        self.stream = stream if stream is not None and stream.isatty() else None
        self._last_draw = 0.0

    def advance(self, nbytes: int) -> None:
        self.bytes += nbytes
        now = time.monotonic()
        if self.stream is not None and now - self._last_draw > 0.2:
            self._last_draw = now
            self._draw(now)

    def done(self) -> None:
        if self.stream is not None:
            self._draw(time.monotonic())
            self.stream.write("\n")

    def _draw(self, now: float) -> None:
        fraction = min(1.0, self.bytes / self.total)
        filled = int(30 * fraction)
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%}  {now - self.started:5.1f} s")
        self.stream.flush()


def _require_tensorboard() -> None:
    if importlib.util.find_spec("tensorboard") is None:
        raise TbImportError("import-tb reads event files with TensorBoard's reader: pip install tensorboard")
