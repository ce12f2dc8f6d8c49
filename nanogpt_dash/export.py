"""Writing a run's scalars out in long form: run, segment, step, wall_time, key, value, superseded."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import IO, Iterator

from .errors import NanogptDashError
from .store import RunReader, superseded_mask

FORMATS = ("csv", "json")
COLUMNS = ("run", "segment", "step", "wall_time", "key", "value", "superseded")


class ExportError(NanogptDashError):
    """An export was asked for in a form we do not write."""


def iter_rows(run_dir: Path) -> Iterator[tuple]:
    """Every scalar row of a run, oldest first, with its superseded flag."""
    with RunReader(run_dir) as reader:
        meta = reader.meta()
        for batch in reader.iter_scalars():
            hidden = superseded_mask(batch.segment, batch.step, meta.segments)
            for i in range(len(batch)):
                yield (meta.run_id, int(batch.segment[i]), int(batch.step[i]), float(batch.wall_time[i]),
                       batch.key[i], float(batch.value[i]), bool(hidden[i]))


def write_scalars(run_dir: Path, fmt: str, out: IO[str]) -> int:
    """Write the run's scalars to `out` as csv or json; returns the number of rows."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    rows = iter_rows(run_dir)
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(row[:5] + (repr(row[5]), int(row[6])))
            count += 1
        return count
    # JSON has no NaN or Infinity: non-finite values are written as the strings "NaN", "Infinity", "-Infinity"
    out.write('{"columns": %s, "rows": [' % json.dumps(list(COLUMNS)))
    for row in rows:
        out.write(("," if count else "") + "\n" + json.dumps(row[:5] + (_json_number(row[5]), row[6])))
        count += 1
    out.write("\n]}\n")
    return count


def export_run(run_dir: Path, fmt: str, out_path: Path | None = None) -> tuple[int, str]:
    """Export to a file (or return the text when out_path is None): (rows, path or text)."""
    if out_path is None:
        buffer = io.StringIO()
        count = write_scalars(run_dir, fmt, buffer)
        return count, buffer.getvalue()
    tmp = out_path.with_name(out_path.name + ".partial")
    with open(tmp, "w", newline="") as f:
        count = write_scalars(run_dir, fmt, f)
    tmp.replace(out_path)
    return count, str(out_path)


def _json_number(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value
