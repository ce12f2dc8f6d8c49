"""Points per second: `import-tb` beside TensorBoard's own loading of the same event file.

    python bench/import_tb.py [--points 1000000] [--tags 4]

Writes one event file the way torch's SummaryWriter.add_scalar does (one Event with one
simple_value per call; built directly from TensorBoard's protos and record writer, since
SummaryWriter itself needs ~70 s for a million calls), then times:
  - reading it with TensorBoard's reader alone (records parsed into Event protos),
  - TensorBoard's EventAccumulator keeping every scalar (size_guidance 0), then Scalars() per tag,
  - `import_logdir` into a fresh runs directory (read, parse, batched SQLite writes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tensorboard.backend.event_processing import event_accumulator  # noqa: E402
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader  # noqa: E402
from tensorboard.compat.proto.event_pb2 import Event  # noqa: E402
from tensorboard.compat.proto.summary_pb2 import Summary  # noqa: E402
from tensorboard.summary.writer.record_writer import RecordWriter  # noqa: E402

from nanogpt_dash.store import RunReader  # noqa: E402
from nanogpt_dash.tb_import import import_logdir  # noqa: E402

TAGS = ("train/loss", "val/loss", "lr", "grad_norm", "tokens_per_sec", "mfu", "iter_ms", "train/eval_loss")


def write_log(run_dir: Path, points: int, tags: int) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "events.out.tfevents.1700000000.bench.1.0"
    with open(path, "wb") as f:
        writer = RecordWriter(f)
        writer.write(Event(wall_time=1_700_000_000.0, file_version="brain.Event:2").SerializeToString())
        for i in range(points):
            step, tag = divmod(i, tags)
            value = Summary.Value(tag=TAGS[tag], simple_value=1.0 / (1 + step))
            event = Event(wall_time=1_700_000_000.0 + step * 0.01, step=step, summary=Summary(value=[value]))
            writer.write(event.SerializeToString())
    return path


def time_reader(path: Path) -> tuple[float, int]:
    t = time.perf_counter()
    n = 0
    for record in RawEventFileLoader(str(path)).Load():
        n += len(Event.FromString(record).summary.value)
    return time.perf_counter() - t, n


def time_accumulator(run_dir: Path) -> tuple[float, int]:
    t = time.perf_counter()
    acc = event_accumulator.EventAccumulator(str(run_dir), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    n = sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])
    return time.perf_counter() - t, n


def time_import(logdir: Path, runs_dir: Path) -> tuple[float, int]:
    t = time.perf_counter()
    results = import_logdir(logdir, runs_dir, progress=None)
    elapsed = time.perf_counter() - t
    with RunReader(results[0].run_dir) as reader:
        stored = sum(len(batch) for batch in reader.iter_scalars())
    assert stored == results[0].scalars
    return elapsed, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=4, choices=range(1, len(TAGS) + 1))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        logdir = Path(tmp) / "tb"
        t = time.perf_counter()
        path = write_log(logdir / "bench", args.points, args.tags)
        print(f"wrote {args.points:,} scalars ({args.tags} tags, {path.stat().st_size / 1e6:.1f} MB) "
              f"in {time.perf_counter() - t:.1f} s")
        rows = [
            ("TensorBoard reader alone (parse only)", *time_reader(path)),
            ("TensorBoard EventAccumulator (all scalars kept)", *time_accumulator(logdir / "bench")),
            ("nanogpt_dash import-tb (read + write to SQLite)", *time_import(logdir, Path(tmp) / "runs")),
        ]
    width = max(len(r[0]) for r in rows)
    print(f"\n| {'what':<{width}} | points | seconds | points/s |")
    print(f"|{'-' * (width + 2)}|-------:|--------:|---------:|")
    for name, seconds, n in rows:
        print(f"| {name:<{width}} | {n:,} | {seconds:.2f} | {n / seconds:,.0f} |")


if __name__ == "__main__":
    main()
