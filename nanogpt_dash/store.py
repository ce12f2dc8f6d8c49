"""The run file: schema, the writer's batches and the readers' cursors.

All SQL in the package lives here. One SQLite database per run, `<run dir>/metrics.sqlite`,
in WAL mode so one writer and any number of readers never wait on each other for long.

Conventions a second backend must keep:
- A *segment* is one process lifetime of a run. A segment that starts at step S (a resume, or a
  restart from scratch with S = 0) supersedes the points of every earlier segment with step >= S.
  The flag is derived from the segments table, never written into scalar rows.
- NaN is stored as SQL NULL (SQLite cannot hold a NaN REAL); +-Inf are stored as such.
- Cursors are opaque increasing integers: a reader asks for rows past its cursor.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from .errors import NanogptDashError

DB_NAME = "metrics.sqlite"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

RUN_STATUSES = ("running", "finished", "crashed", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    id         INTEGER PRIMARY KEY,
    start_step INTEGER NOT NULL,
    started    REAL NOT NULL,
    heartbeat  REAL NOT NULL,
    ended      REAL,
    status     TEXT NOT NULL,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    config     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS scalars (
    id        INTEGER PRIMARY KEY,
    segment   INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    wall_time REAL NOT NULL,
    key_id    INTEGER NOT NULL,
    value     REAL
);
CREATE TABLE IF NOT EXISTS events (
    id        INTEGER PRIMARY KEY,
    segment   INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    wall_time REAL NOT NULL,
    kind      TEXT NOT NULL,
    payload   TEXT NOT NULL
);
"""


class StoreError(NanogptDashError):
    """A run file could not be opened, read or written."""


class RowsRejected(StoreError):
    """SQLite refused the rows themselves (a value it cannot bind); retrying the same rows cannot help."""


@dataclass(frozen=True)
class Segment:
    id: int
    start_step: int
    started: float
    heartbeat: float
    ended: float | None
    status: str
    host: str
    pid: int
    config: dict[str, Any]


@dataclass(frozen=True)
class RunMeta:
    run_id: str
    name: str
    created: float
    model_args: dict[str, Any]
    segments: tuple[Segment, ...]
    ordinal: int | None = None  # the run's number in its runs folder (run colours); None for older runs

    @property
    def config(self) -> dict[str, Any]:
        return self.segments[-1].config if self.segments else {}

    @property
    def status(self) -> str:
        return self.segments[-1].status if self.segments else "running"

    @property
    def heartbeat(self) -> float:
        return self.segments[-1].heartbeat if self.segments else self.created


@dataclass
class ScalarBatch:
    """Columnar scalar rows; `cursor` is where the next read continues."""

    segment: np.ndarray  # int32
    step: np.ndarray  # int64
    wall_time: np.ndarray  # float64
    key: list[str]
    value: np.ndarray  # float64, NaN where NULL
    cursor: int

    def __len__(self) -> int:
        return len(self.step)


@dataclass(frozen=True)
class Event:
    id: int
    segment: int
    step: int
    wall_time: float
    kind: str
    payload: dict[str, Any]


class ScalarRow(NamedTuple):
    step: int
    wall_time: float
    key: str
    value: float


def db_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / DB_NAME


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    if read_only:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return conn


def is_locked_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()


class RunWriter:
    """The one writer of a run file (the training process owns it)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = db_path(self.run_dir)
        self._key_ids: dict[str, int] = {}
        self.segment_id: int | None = None
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(self.path, read_only=False)
            self._conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a commit survives a killed process; only a power cut may
            # lose the last transactions. fsync per batch would cost the training host for nothing.
            self._conn.execute("PRAGMA synchronous = NORMAL")
            with self._conn:
                self._conn.executescript(_SCHEMA)
            self._key_ids = dict(
                (name, key_id) for key_id, name in self._conn.execute("SELECT id, name FROM keys")
            )
            self._file_id = _file_id(self.path)
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open run file {self.path} for writing: {e}") from e

    def still_in_place(self) -> bool:
        """False once the run file this writer opened was deleted or replaced (its folder removed, say)."""
        try:
            return _file_id(self.path) == self._file_id
        except OSError:
            return False

    def begin_segment(
        self,
        *,
        run_id: str,
        name: str | None,
        start_step: int,
        config: dict[str, Any],
        model_args: dict[str, Any],
        host: str,
        pid: int,
        started: float | None = None,
    ) -> int:
        """Start a new process lifetime; earlier points at step >= start_step become superseded."""
        now = time.time() if started is None else started
        new_run = self._conn.execute("SELECT 1 FROM meta WHERE key = 'run_id'").fetchone() is None
        ordinal = next_ordinal(self.run_dir.parent) if new_run else None
        with self._conn:
            if ordinal is not None:
                self._put_meta_once("ordinal", ordinal)
            self._put_meta_once("schema_version", SCHEMA_VERSION)
            self._put_meta_once("run_id", run_id)
            self._put_meta_once("created", now)
            if name:
                self._put_meta("name", name)
            else:  # a resume without a name keeps the one the run was given
                self._put_meta_once("name", run_id)
            self._put_meta("model_args", model_args)
            cur = self._conn.execute(
                "INSERT INTO segments (start_step, started, heartbeat, status, host, pid, config)"
                " VALUES (?, ?, ?, 'running', ?, ?, ?)",
                (start_step, now, now, host, pid, _dumps(config)),
            )
        self.segment_id = int(cur.lastrowid)
        return self.segment_id

    def write(self, scalars: Sequence[ScalarRow], events: Sequence[tuple[int, float, str, dict]]) -> None:
        """Append rows in one transaction; either all of them are committed or none.

        Raises RowsRejected when a row cannot be stored at all, StoreError for I/O trouble (disk full,
        locked past the busy timeout, file gone), after which the same rows may succeed later.
        """
        known = len(self._key_ids)
        try:
            self._write_or_raise(scalars, events)
        except BaseException:
            self._forget_keys_after(known)  # their INSERTs were rolled back with the transaction
            raise

    def _forget_keys_after(self, known: int) -> None:
        for name in list(self._key_ids)[known:]:
            del self._key_ids[name]

    def _write_or_raise(self, scalars: Sequence[ScalarRow], events: Sequence[tuple[int, float, str, dict]]) -> None:
        try:
            self._write(scalars, events)
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.DataError, OverflowError,
                UnicodeEncodeError, TypeError, ValueError) as e:
            raise RowsRejected(f"{self.path}: a row cannot be stored ({type(e).__name__}: {e})") from e
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot write to {self.path}: {e}") from e

    def _write(self, scalars: Sequence[ScalarRow], events: Sequence[tuple[int, float, str, dict]]) -> None:
        segment = self._require_segment()
        with self._conn:
            key_id = self._key_ids.get
            rows = [
                (segment, step, t, key_id(key) or self._key_id(key), None if value != value else value)
                for step, t, key, value in scalars
            ]
            self._conn.executemany(
                "INSERT INTO scalars (segment, step, wall_time, key_id, value) VALUES (?, ?, ?, ?, ?)", rows
            )
            self._conn.executemany(
                "INSERT INTO events (segment, step, wall_time, kind, payload) VALUES (?, ?, ?, ?, ?)",
                [(segment, step, t, kind, _dumps(payload)) for step, t, kind, payload in events],
            )
            self._conn.execute("UPDATE segments SET heartbeat = ? WHERE id = ?", (time.time(), segment))

    def heartbeat(self) -> None:
        """Mark the segment alive now."""
        segment = self._require_segment()
        try:
            with self._conn:
                self._conn.execute("UPDATE segments SET heartbeat = ? WHERE id = ?", (time.time(), segment))
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to {self.path}: {e}") from e

    def set_status(self, status: str, at: float | None = None) -> None:
        """Mark the current segment; `at` is when it happened (an import's last wall time), default now."""
        if status not in RUN_STATUSES:
            raise StoreError(f"unknown run status {status!r} (known: {', '.join(RUN_STATUSES)})")
        segment = self._require_segment()
        now = time.time() if at is None else at
        ended = None if status == "running" else now
        try:
            with self._conn:
                self._conn.execute(
                    "UPDATE segments SET status = ?, heartbeat = ?, ended = ? WHERE id = ?",
                    (status, now, ended, segment),
                )
        except sqlite3.Error as e:
            raise StoreError(f"cannot record status {status!r} in {self.path}: {e}") from e

    def close(self) -> None:
        self._conn.close()

    def _key_id(self, name: str) -> int:
        key_id = self._key_ids.get(name)
        if key_id is None:
            self._conn.execute("INSERT OR IGNORE INTO keys (name) VALUES (?)", (name,))
            (key_id,) = self._conn.execute("SELECT id FROM keys WHERE name = ?", (name,)).fetchone()
            self._key_ids[name] = key_id
        return key_id

    def _require_segment(self) -> int:
        if self.segment_id is None:
            raise StoreError(f"{self.path}: begin_segment() must be called before writing")
        return self.segment_id

    def _put_meta(self, key: str, value: Any) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, _dumps(value)))

    def _put_meta_once(self, key: str, value: Any) -> None:
        self._conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, _dumps(value)))


class RunReader:
    """A read-only view of one run file. Cheap to keep open; every read is one short query."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = db_path(self.run_dir)
        if not self.path.is_file():
            raise StoreError(f"no run file at {self.path}: is {self.run_dir} a run directory?")
        try:
            self._conn = _connect(self.path, read_only=True)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open run file {self.path}: {e}") from e
        self._key_names: dict[int, str] = {}

    def meta(self) -> RunMeta:
        try:
            meta = {k: json.loads(v) for k, v in self._conn.execute("SELECT key, value FROM meta")}
            segments = tuple(
                Segment(
                    id=row[0], start_step=row[1], started=row[2], heartbeat=row[3], ended=row[4],
                    status=row[5], host=row[6], pid=row[7], config=json.loads(row[8]),
                )
                for row in self._conn.execute(
                    "SELECT id, start_step, started, heartbeat, ended, status, host, pid, config"
                    " FROM segments ORDER BY id"
                )
            )
        except (sqlite3.Error, ValueError) as e:
            raise StoreError(f"cannot read run metadata from {self.path}: {e}") from e
        if "run_id" not in meta:
            raise StoreError(f"{self.path} has no run metadata yet (a writer may be starting)")
        return RunMeta(
            run_id=meta["run_id"],
            name=meta.get("name", meta["run_id"]),
            created=meta.get("created", 0.0),
            model_args=meta.get("model_args", {}),
            segments=segments,
            ordinal=meta.get("ordinal"),
        )

    def scalars_since(self, cursor: int = 0, limit: int | None = None) -> ScalarBatch:
        """Scalar rows with id > cursor, oldest first."""
        sql = "SELECT id, segment, step, wall_time, key_id, value FROM scalars WHERE id > ? ORDER BY id"
        params: tuple = (cursor,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (cursor, limit)
        try:
            rows = self._conn.execute(sql, params).fetchall()
            names = self._names_for({row[4] for row in rows})
        except sqlite3.Error as e:
            raise StoreError(f"cannot read scalars from {self.path}: {e}") from e
        if not rows:
            return _empty_batch(cursor)
        ids, segs, steps, times, key_ids, values = zip(*rows)
        try:
            return ScalarBatch(
                segment=np.asarray(segs, dtype=np.int32),
                step=np.asarray(steps, dtype=np.int64),
                wall_time=np.asarray(times, dtype=np.float64),
                key=[names[k] for k in key_ids],
                value=np.asarray([math.nan if v is None else v for v in values], dtype=np.float64),
                cursor=int(ids[-1]),
            )
        except (ValueError, TypeError, KeyError) as e:
            raise StoreError(
                f"{self.path}: scalar rows {ids[0]}..{ids[-1]} hold something that is not a number ({e})"
            ) from e

    def events_since(self, cursor: int = 0, kind: str | None = None) -> list[Event]:
        sql = "SELECT id, segment, step, wall_time, kind, payload FROM events WHERE id > ?"
        params: tuple = (cursor,)
        if kind is not None:
            sql += " AND kind = ?"
            params = (cursor, kind)
        try:
            rows = self._conn.execute(sql + " ORDER BY id", params).fetchall()
            return [Event(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]
        except (sqlite3.Error, ValueError) as e:
            raise StoreError(f"cannot read events from {self.path}: {e}") from e

    def iter_scalars(self, chunk: int = 50_000) -> Iterator[ScalarBatch]:
        cursor = 0
        while True:
            batch = self.scalars_since(cursor, limit=chunk)
            if not len(batch):
                return
            yield batch
            cursor = batch.cursor

    def last_values(self, keys: Iterable[str]) -> dict[str, tuple[int, float]]:
        """The newest (step, value) of each key that has one, ignoring superseded rows."""
        out: dict[str, tuple[int, float]] = {}
        try:
            for name in keys:
                row = self._conn.execute(
                    "SELECT s.step, s.value FROM scalars s JOIN keys k ON k.id = s.key_id"
                    " WHERE k.name = ? ORDER BY s.id DESC LIMIT 1",
                    (name,),
                ).fetchone()
                if row is not None:
                    out[name] = (int(row[0]), math.nan if row[1] is None else float(row[1]))
        except sqlite3.Error as e:
            raise StoreError(f"cannot read scalars from {self.path}: {e}") from e
        return out

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "RunReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _names_for(self, key_ids: set[int]) -> dict[int, str]:
        if not key_ids <= self._key_names.keys():
            self._key_names = dict(self._conn.execute("SELECT id, name FROM keys"))
        return self._key_names


def integrity_check(run_dir: str | Path) -> str:
    """SQLite's own integrity check of a run file: 'ok', or what is wrong with it."""
    path = db_path(run_dir)
    try:
        conn = _connect(path, read_only=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as e:
        return f"cannot check {path}: {e}"
    return "; ".join(str(row[0]) for row in rows)


def superseded_mask(segment: np.ndarray, step: np.ndarray, segments: Sequence[Segment]) -> np.ndarray:
    """True where a later segment started at or before the point's step."""
    mask = np.zeros(len(step), dtype=bool)
    for later in segments:
        mask |= (segment < later.id) & (step >= later.start_step)
    return mask


def find_run_dirs(runs_dir: str | Path) -> list[Path]:
    """Run directories directly under runs_dir (those holding a run file), sorted by name."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob(f"*/{DB_NAME}"))


def next_ordinal(runs_dir: str | Path) -> int:
    """One more than the highest run number in runs_dir: consecutive runs get consecutive numbers, so the
    runs a researcher compares (most often the last few) get different colours."""
    highest = -1
    for run_dir in find_run_dirs(runs_dir):
        try:
            conn = _connect(db_path(run_dir), read_only=True)
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'ordinal'").fetchone()
            finally:
                conn.close()
            if row is not None:
                highest = max(highest, int(json.loads(row[0])))
        except (sqlite3.Error, OSError, ValueError, TypeError):
            continue  # a run being created, an unreadable or foreign file: it has no number to beat
    return highest + 1


def _file_id(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _empty_batch(cursor: int) -> ScalarBatch:
    return ScalarBatch(
        segment=np.empty(0, np.int32), step=np.empty(0, np.int64), wall_time=np.empty(0),
        key=[], value=np.empty(0), cursor=cursor,
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, default=repr, allow_nan=True)


def copy_database(run_dir: str | Path, dest: str | Path) -> None:
    """A consistent copy of a run file (SQLite's online backup: a live writer never sees a lock for long)."""
    source = db_path(run_dir)
    try:
        src = _connect(source, read_only=True)
        try:
            out = sqlite3.connect(dest)
            try:
                src.backup(out, pages=1024)
                out.execute("PRAGMA journal_mode = DELETE")
            finally:
                out.close()
        finally:
            src.close()
    except sqlite3.Error as e:
        raise StoreError(f"cannot copy run file {source}: {e}") from e


# -- arrays: whole tensors logged at a step (attention maps of a probe sequence) ---------------

_ARRAYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS arrays (
    id        INTEGER PRIMARY KEY,
    segment   INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    wall_time REAL NOT NULL,
    kind      TEXT NOT NULL,
    dtype     TEXT NOT NULL,
    shape     TEXT NOT NULL,
    data      BLOB NOT NULL,
    meta      TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ArrayRow:
    """One logged array; `meta` carries what the numbers are about (e.g. the probe's tokens)."""

    id: int
    segment: int
    step: int
    wall_time: float
    kind: str
    array: np.ndarray
    meta: dict[str, Any]


def write_arrays(writer: RunWriter, rows: Sequence[tuple[int, float, str, np.ndarray, dict]]) -> None:
    """Append (step, wall_time, kind, array, meta) rows in one transaction, creating the table on first use."""
    segment = writer._require_segment()
    try:
        with writer._conn:
            writer._conn.executescript(_ARRAYS_SCHEMA)
            writer._conn.executemany(
                "INSERT INTO arrays (segment, step, wall_time, kind, dtype, shape, data, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(segment, step, t, kind, a.dtype.str, json.dumps(list(a.shape)), np.ascontiguousarray(a).tobytes(),
                  _dumps(meta)) for step, t, kind, a, meta in rows],
            )
    except sqlite3.Error as e:
        raise StoreError(f"cannot write arrays to {writer.path}: {e}") from e


def read_arrays(reader: RunReader, kind: str, cursor: int = 0) -> list[ArrayRow]:
    """Arrays of `kind` with id > cursor, oldest first; none when the run never logged any."""
    try:
        rows = reader._conn.execute(
            "SELECT id, segment, step, wall_time, kind, dtype, shape, data, meta FROM arrays"
            " WHERE id > ? AND kind = ? ORDER BY id", (cursor, kind),
        ).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return []
        raise StoreError(f"cannot read arrays from {reader.path}: {e}") from e
    except sqlite3.Error as e:
        raise StoreError(f"cannot read arrays from {reader.path}: {e}") from e
    try:
        return [ArrayRow(r[0], r[1], r[2], r[3], r[4],
                         np.frombuffer(r[7], dtype=np.dtype(r[5])).reshape(json.loads(r[6])), json.loads(r[8]))
                for r in rows]
    except (ValueError, TypeError) as e:
        raise StoreError(f"{reader.path}: an array row is damaged ({e})") from e
