"""Writing runs' scalars out as CSV or JSON, in long or wide form.

Long form has one row per stored point: run, segment, step, wall_time, key, value, superseded.
Wide form has one row per (run, segment, step) and one column per metric; a metric logged twice at
the same step of a segment keeps its last value there (long form keeps every row).

Non-finite values are written as the strings `NaN`, `Infinity` and `-Infinity` in both formats
(JSON has no such numbers; Python's float(), pandas.read_csv and JavaScript's Number() read them
back). A cell with no value (wide form: a metric not logged at that step) is empty in CSV and
`null` in JSON, so "missing" and "NaN" never look alike. JSON also carries each run's name,
status, configuration, model args and segments.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Sequence

import numpy as np
import orjson
import pandas as pd

from .errors import NanogptDashError
from .files import atomic_output, check_output
from .runs import effective_status
from .store import RunMeta, RunReader, superseded_mask
from .views import X_MODES, x_values

FORMATS = ("csv", "json")
FORMS = ("long", "wide")
COLUMNS = ("run", "segment", "step", "wall_time", "key", "value", "superseded")
WIDE_INDEX = ("run", "segment", "step", "wall_time", "superseded")
NONFINITE_TEXT = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
JSON_FORMAT = "nanogpt_dash export 2"


class ExportError(NanogptDashError):
    """An export was asked for in a form we do not write."""


@dataclass(frozen=True)
class ExportQuery:
    """What to export: which metrics (None: all), the x range on an x axis, superseded points or not, the form."""

    keys: tuple[str, ...] | None = None
    x_axis: str = "step"
    x_range: tuple[float | None, float | None] | None = None
    superseded: bool = True
    form: str = "long"

    def check(self) -> None:
        """Raise ExportError naming the first field that holds something we cannot export."""
        if self.form not in FORMS:
            raise ExportError(f"unknown export form {self.form!r}: use one of {', '.join(FORMS)}")
        if self.x_axis not in X_MODES:
            raise ExportError(f"unknown x axis {self.x_axis!r}: use one of {', '.join(X_MODES)}")


def tokens_per_step(config: dict) -> int | None:
    """Tokens seen per optimizer step of a nanoGPT config, or None when the config does not say."""
    try:
        return int(config["gradient_accumulation_steps"]) * int(config["batch_size"]) * int(config["block_size"])
    except (KeyError, TypeError, ValueError):
        return None


def run_frame(run_dir: Path, query: ExportQuery = ExportQuery()) -> tuple[pd.DataFrame, RunMeta]:
    """The run's stored scalars in long form (float64 values exactly as stored), filtered by the query."""
    with RunReader(run_dir) as reader:
        meta = reader.meta()
        batches = list(reader.iter_scalars())
    if batches:
        segment = np.concatenate([b.segment for b in batches])
        step = np.concatenate([b.step for b in batches])
        wall_time = np.concatenate([b.wall_time for b in batches])
        value = np.concatenate([b.value for b in batches])
        key = [k for b in batches for k in b.key]
    else:
        segment, step, wall_time, value, key = (np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0),
                                                np.empty(0), [])
    hidden = superseded_mask(segment, step, meta.segments)
    keep = np.ones(len(step), dtype=bool)
    if query.keys is not None:
        keep &= np.isin(np.asarray(key, dtype=object), list(query.keys))
    if not query.superseded:
        keep &= ~hidden
    if query.x_range is not None:
        start = meta.segments[0].started if meta.segments else meta.created
        x = x_values(query.x_axis, step, wall_time, tokens_per_step(meta.config), start)
        lo, hi = query.x_range
        if lo is not None:
            keep &= x >= lo
        if hi is not None:
            keep &= x <= hi
    frame = pd.DataFrame({
        "run": run_dir.name,
        "segment": segment[keep].astype(np.int64),
        "step": step[keep],
        "wall_time": wall_time[keep],
        "key": np.asarray(key, dtype=object)[keep] if len(key) else np.empty(0, dtype=object),
        "value": value[keep],
        "superseded": hidden[keep],
    }, columns=list(COLUMNS))
    return frame, meta


def export_frame(run_dirs: Sequence[Path], query: ExportQuery = ExportQuery()) -> tuple[pd.DataFrame, list[dict]]:
    """The rows to write (long or wide, per query.form) and a description of each run."""
    query.check()
    frames, infos = [], []
    for run_dir in run_dirs:
        frame, meta = run_frame(run_dir, query)
        frames.append(frame)
        infos.append(run_info(run_dir, meta))
    long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
    return (wide_form(long) if query.form == "wide" else long), infos


def wide_form(long: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, segment, step); one float column per metric; the step's earliest wall time.

    `frame.attrs["absent"]` maps each metric to a mask of the rows where it was not logged.
    """
    index = ["run", "segment", "step"]
    last = long.drop_duplicates(subset=[*index, "key"], keep="last")
    keys = last["key"].unique().tolist()
    rows = last.groupby(index, sort=False).agg(wall_time=("wall_time", "min"), superseded=("superseded", "first"))
    cells = last.pivot(index=index, columns="key", values="value").reindex(columns=keys)
    present = last.assign(present=True).pivot(index=index, columns="key", values="present").reindex(columns=keys)
    marks = [f"\0present {i}" for i in range(len(keys))]
    present = present.notna().set_axis(marks, axis=1)
    wide = rows.join(cells).join(present).reset_index()
    wide = wide.sort_values(index, kind="stable", ignore_index=True)
    absent = {key: ~wide[mark].to_numpy(dtype=bool) for key, mark in zip(keys, marks)}
    wide = wide[[*WIDE_INDEX, *keys]].astype({key: np.float64 for key in keys})
    wide.attrs["absent"] = absent
    return wide


def run_info(run_dir: Path, meta: RunMeta) -> dict[str, Any]:
    """Name, status, configuration, model args and segments of a run, as plain JSON-safe values."""
    return json_safe({
        "run": run_dir.name, "run_id": meta.run_id, "name": meta.name, "status": effective_status(meta),
        "created": meta.created, "config": meta.config, "model_args": meta.model_args,
        "segments": [{"id": s.id, "start_step": s.start_step, "started": s.started, "ended": s.ended,
                      "status": s.status, "host": s.host, "config": s.config} for s in meta.segments],
    })


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float replaced by its text (NaN, Infinity, -Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else nonfinite_text(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def nonfinite_text(value: float) -> str:
    """'NaN', 'Infinity' or '-Infinity' for a non-finite float."""
    return NONFINITE_TEXT[repr(float(value))]


def column_values(frame: pd.DataFrame, name: str, csv_cells: bool) -> list:
    """A column as Python values ready to write: non-finite floats as text, absent cells None, flags 0/1 in CSV."""
    column = frame[name]
    if column.dtype == bool:
        return column.astype(np.int8).tolist() if csv_cells else column.tolist()
    if column.dtype.kind != "f":
        return column.tolist()
    values = column.to_numpy()
    out = values.tolist()
    for i in np.flatnonzero(~np.isfinite(values)):
        out[i] = nonfinite_text(values[i])
    absent = frame.attrs.get("absent", {}).get(name)
    for i in np.flatnonzero(absent) if absent is not None else ():
        out[i] = None
    return out


def write_frame(frame: pd.DataFrame, infos: list[dict], fmt: str, out: IO[str], query: ExportQuery) -> int:
    """Write the rows to `out` as csv or json; returns the number of rows."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    columns = list(frame.columns)
    rows = zip(*(column_values(frame, name, fmt == "csv") for name in columns))
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)  # None is written as an empty cell
        return len(frame)
    header = {
        "format": JSON_FORMAT, "form": query.form, "nonfinite": "non-finite values are the strings "
        "\"NaN\", \"Infinity\" and \"-Infinity\"; null means no value was logged",
        "superseded_included": query.superseded, "keys": list(query.keys) if query.keys is not None else None,
        "x_axis": query.x_axis, "x_range": json_safe(list(query.x_range)) if query.x_range else None,
        "runs": infos, "columns": columns,
    }
    out.write(json.dumps(header)[:-1] + ', "rows": ')
    out.write(orjson.dumps(list(rows)).decode())  # one call: per-row calls cost 20x more
    out.write("}\n")
    return len(frame)


def export_runs(run_dirs: Sequence[Path], fmt: str, query: ExportQuery = ExportQuery(), out_path: Path | None = None,
                protected: Iterable[Path] = ()) -> tuple[int, str]:
    """Export runs to `out_path` (written whole or not at all) or, when None, return the text: (rows, path or text).

    `protected` folders (runs directories) are never written into.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    protected = [*protected, *run_dirs]
    if out_path is not None:
        check_output(out_path, protected)  # before reading anything: a refused export touches no run file
    frame, infos = export_frame(run_dirs, query)
    if out_path is None:
        buffer = io.StringIO()
        count = write_frame(frame, infos, fmt, buffer, query)
        return count, buffer.getvalue()
    with atomic_output(out_path, protected) as f:
        count = write_frame(frame, infos, fmt, f, query)
    return count, str(out_path)


def export_run(run_dir: Path, fmt: str, out_path: Path | None = None) -> tuple[int, str]:
    """Every row of one run in long form (see export_runs)."""
    return export_runs([run_dir], fmt, ExportQuery(), out_path)

