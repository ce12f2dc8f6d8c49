import math
import multiprocessing as mp
import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from nanogpt_dash.store import RunReader, RunWriter, ScalarRow, StoreError, superseded_mask


def open_writer(run_dir: Path, start_step: int = 0) -> RunWriter:
    writer = RunWriter(run_dir)
    writer.begin_segment(run_id=run_dir.name, name="test", start_step=start_step, config={"lr": 1e-3},
                         model_args={"n_layer": 2}, host="h", pid=os.getpid())
    return writer


def test_scalars_events_and_meta_round_trip(tmp_path):
    writer = open_writer(tmp_path / "r")
    rows = [ScalarRow(1, 100.0, "train/loss", 2.5), ScalarRow(1, 100.0, "lr", 1e-3),
            ScalarRow(2, 101.0, "train/loss", math.nan), ScalarRow(3, 102.0, "grad_norm", math.inf),
            ScalarRow(4, 103.0, "grad_norm", -math.inf)]
    writer.write(rows, [(2, 101.0, "sample", {"text": "to be"})])
    writer.set_status("finished")
    writer.close()

    with RunReader(tmp_path / "r") as reader:
        meta = reader.meta()
        batch = reader.scalars_since(0)
        events = reader.events_since(0)
    assert (meta.run_id, meta.name, meta.status, meta.config, meta.model_args) == ("r", "test", "finished", {"lr": 1e-3}, {"n_layer": 2})
    assert batch.key == ["train/loss", "lr", "train/loss", "grad_norm", "grad_norm"]
    assert batch.step.tolist() == [1, 1, 2, 3, 4]
    assert batch.value[0] == 2.5 and math.isnan(batch.value[2])
    assert batch.value[3] == math.inf and batch.value[4] == -math.inf
    assert events[0].kind == "sample" and events[0].payload == {"text": "to be"}


def test_reader_continues_from_its_cursor(tmp_path):
    writer = open_writer(tmp_path / "r")
    reader = RunReader(tmp_path / "r")
    writer.write([ScalarRow(i, 0.0, "x", float(i)) for i in range(3)], [])
    first = reader.scalars_since(0)
    writer.write([ScalarRow(i, 0.0, "y", float(i)) for i in range(3, 5)], [])
    second = reader.scalars_since(first.cursor)
    assert first.step.tolist() == [0, 1, 2]
    assert second.step.tolist() == [3, 4] and second.key == ["y", "y"]
    assert len(reader.scalars_since(second.cursor)) == 0


def test_resumed_segment_supersedes_later_points_of_earlier_segments(tmp_path):
    writer = open_writer(tmp_path / "r")
    writer.write([ScalarRow(s, 0.0, "train/loss", 1.0) for s in range(50)], [])
    writer.close()
    writer = open_writer(tmp_path / "r", start_step=40)
    writer.write([ScalarRow(s, 0.0, "train/loss", 2.0) for s in range(40, 60)], [])
    with RunReader(tmp_path / "r") as reader:
        meta = reader.meta()
        batch = reader.scalars_since(0)
    hidden = superseded_mask(batch.segment, batch.step, meta.segments)
    assert [s.start_step for s in meta.segments] == [0, 40]
    assert batch.step[hidden].tolist() == list(range(40, 50))
    assert set(batch.segment[hidden].tolist()) == {1}
    visible = batch.step[~hidden]
    assert visible.tolist() == list(range(60)), "one point per step, no zig-zag"


def test_reader_names_a_missing_run_file(tmp_path):
    with pytest.raises(StoreError, match="no run file"):
        RunReader(tmp_path / "nothing")


def _hammer(run_dir: str, role: str, n: int, errors) -> None:
    try:
        if role == "writer":
            writer = RunWriter(run_dir)
            writer.begin_segment(run_id="shared", name="w", start_step=0, config={}, model_args={}, host="h", pid=os.getpid())
            for i in range(n):
                writer.write([ScalarRow(i, time.time(), f"k{os.getpid()}", float(i))] * 20, [])
                writer.heartbeat()
            writer.close()
        else:
            deadline = time.time() + 30
            while not (Path(run_dir) / "metrics.sqlite").exists() and time.time() < deadline:
                time.sleep(0.01)
            reader = RunReader(run_dir)
            cursor = 0
            for _ in range(n):
                try:
                    reader.meta()
                except StoreError as e:
                    if "no run metadata" not in str(e):
                        raise
                cursor = reader.scalars_since(cursor).cursor
            reader.close()
    except Exception as e:  # report everything, above all "database is locked"
        errors.put(f"{role} {os.getpid()}: {type(e).__name__}: {e}")


def test_eight_processes_writing_and_reading_never_see_database_is_locked(tmp_path):
    ctx = mp.get_context("spawn")
    errors = ctx.Queue()
    run_dir = str(tmp_path / "shared")
    RunWriter(run_dir).close()  # create the schema once so every process starts from the same file
    procs = [ctx.Process(target=_hammer, args=(run_dir, role, 150, errors)) for role in ["writer", "reader"] * 4]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []
    with RunReader(run_dir) as reader:
        assert len(reader.scalars_since(0)) == 4 * 150 * 20


def _write_forever(run_dir: str, committed) -> None:
    writer = RunWriter(run_dir)
    writer.begin_segment(run_id="killed", name="k", start_step=0, config={}, model_args={}, host="h", pid=os.getpid())
    step = 0
    while True:
        writer.write([ScalarRow(step, time.time(), "train/loss", float(step))] * 500, [])
        committed.value = step + 1
        step += 1


def test_writer_killed_mid_batch_leaves_every_committed_row_readable(tmp_path):
    ctx = mp.get_context("spawn")
    committed = ctx.Value("i", 0)
    proc = ctx.Process(target=_write_forever, args=(str(tmp_path / "killed"), committed))
    proc.start()
    deadline = time.time() + 60
    while committed.value < 20 and time.time() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    batches_seen = committed.value
    with RunReader(tmp_path / "killed") as reader:
        batch = reader.scalars_since(0)
        assert reader.meta().status == "running"
    assert len(batch) % 500 == 0, "a batch is all or nothing"
    assert len(batch) >= batches_seen * 500
    assert sqlite3.connect(tmp_path / "killed" / "metrics.sqlite").execute("PRAGMA integrity_check").fetchone() == ("ok",)
    steps = np.unique(batch.step)
    assert steps.tolist() == list(range(len(steps)))


def test_arrays_round_trip_with_their_meta_and_cursor(tmp_path):
    from nanogpt_dash.store import read_arrays, write_arrays

    writer = open_writer(tmp_path / "r")
    first = np.arange(24, dtype=np.float16).reshape(2, 3, 4)
    write_arrays(writer, [(10, 100.0, "attention", first, {"tokens": ["a", "b", "c", "d"]})])
    write_arrays(writer, [(20, 101.0, "attention", first * 2, {"tokens": ["a", "b", "c", "d"]}),
                          (20, 101.0, "other", np.zeros(2, np.int64), {})])
    writer.close()
    with RunReader(tmp_path / "r") as reader:
        rows = read_arrays(reader, "attention")
        later = read_arrays(reader, "attention", cursor=rows[0].id)
    assert [r.step for r in rows] == [10, 20] and [r.step for r in later] == [20]
    assert rows[0].array.dtype == np.float16 and rows[0].array.shape == (2, 3, 4)
    np.testing.assert_array_equal(rows[1].array, first * 2)
    assert rows[0].meta == {"tokens": ["a", "b", "c", "d"]}


def test_a_run_without_arrays_reads_none(tmp_path):
    from nanogpt_dash.store import read_arrays

    open_writer(tmp_path / "r").close()
    with RunReader(tmp_path / "r") as reader:
        assert read_arrays(reader, "attention") == []

def test_a_failed_write_does_not_leave_a_stale_key_id_behind(tmp_path):
    writer = open_writer(tmp_path / "r")
    with pytest.raises(StoreError):
        writer.write([ScalarRow(0, 0.0, "new/key", 1.0), ScalarRow(0, 0.0, "x", object())], [])
    writer.write([ScalarRow(1, 0.0, "new/key", 2.0)], [])
    writer.close()
    with RunReader(tmp_path / "r") as reader:
        batch = reader.scalars_since(0)
    assert batch.key == ["new/key"] and batch.value.tolist() == [2.0]


def test_integrity_check_says_ok_or_what_is_wrong(tmp_path):
    from nanogpt_dash.store import integrity_check

    writer = open_writer(tmp_path / "r")
    writer.write([ScalarRow(0, 0.0, "k", 1.0)], [])
    writer.close()
    assert integrity_check(tmp_path / "r") == "ok"
    (tmp_path / "r" / "metrics.sqlite").write_bytes(b"not a database" * 100)
    assert "not a database" in integrity_check(tmp_path / "r")


def test_each_new_run_takes_the_next_number_in_its_folder_and_a_resume_keeps_its_own(tmp_path):
    for name in ("a", "b", "c"):
        open_writer(tmp_path / name).close()
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.sqlite").write_bytes(b"not sqlite")
    assert [RunReader(tmp_path / n).meta().ordinal for n in ("a", "b", "c")] == [0, 1, 2]
    open_writer(tmp_path / "a", start_step=5).close()  # a resume: a new segment, the same run
    assert RunReader(tmp_path / "a").meta().ordinal == 0
    open_writer(tmp_path / "d").close()
    assert RunReader(tmp_path / "d").meta().ordinal == 3
