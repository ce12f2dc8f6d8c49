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


def timed(fn, *args) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, points) of fn(*args) -> points."""
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, n


def read_only(path: Path) -> int:
    return sum(len(Event.FromString(record).summary.value) for record in RawEventFileLoader(str(path)).Load())


def accumulate(run_dir: Path) -> int:
    acc = event_accumulator.EventAccumulator(str(run_dir), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])


def import_all(logdir: Path, runs_dir: Path) -> int:
    results = import_logdir(logdir, runs_dir, progress=None)
    return results[0].scalars


def check_stored(run_dir: Path, expected: int) -> None:
    with RunReader(run_dir) as reader:
        stored = sum(len(batch) for batch in reader.iter_scalars())
    if stored != expected:
        raise SystemExit(f"import-tb stored {stored:,} scalars of {expected:,}")


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
            ("TensorBoard reader alone (parse only)", *timed(read_only, path)),
            ("TensorBoard EventAccumulator (all scalars kept)", *timed(accumulate, logdir / "bench")),
            ("nanogpt_dash import-tb (read + write to SQLite)", *timed(import_all, logdir, Path(tmp) / "runs")),
        ]
        check_stored(Path(tmp) / "runs" / "bench", rows[-1][3])
    width = max(len(r[0]) for r in rows)
    print(f"\n| {'what':<{width}} | points | wall s | CPU s | points/s (wall) | points/CPU s |")
    print(f"|{'-' * (width + 2)}|-------:|-------:|------:|----------------:|-------------:|")
    for name, wall, cpu, n in rows:
        print(f"| {name:<{width}} | {n:,} | {wall:.2f} | {cpu:.2f} | {n / wall:,.0f} | {n / cpu:,.0f} |")
    print("\nCPU seconds are this process's own: on a shared machine they vary less than wall time.")


if __name__ == "__main__":
    main()
