import math
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

import nanogpt_dash
from nanogpt_dash import tracking
from nanogpt_dash.store import RunReader
from nanogpt_dash.tracking import Run, TrackingError, TrackingWarning

from helpers import REPO


def read_all(run_dir):
    with RunReader(run_dir) as reader:
        return reader.meta(), reader.scalars_since(0), reader.events_since(0)


def test_logged_metrics_and_events_are_durable_after_finish(tmp_path):
    run = nanogpt_dash.init(tmp_path / "r", name="demo", config={"lr": 0.1}, model_args={"n_layer": 2})
    for step in range(100):
        run.log({"train/loss": 1.0 / (step + 1), "lr": 0.1}, step=step)
    run.event("sample", {"text": "hello"}, step=50)
    run.finish()
    meta, batch, events = read_all(tmp_path / "r")
    assert meta.name == "demo" and meta.status == "finished" and meta.config == {"lr": 0.1}
    assert len(batch) == 200
    assert events[0].payload == {"text": "hello"} and events[0].step == 50


def test_log_does_not_crash_on_garbage_values(tmp_path):
    run = Run(tmp_path / "r")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(3):
            run.log({"s": "text", "n": None, "nan": math.nan, "inf": -math.inf, "t": torch.tensor(3.0, requires_grad=True) * 2,
                     "big": torch.ones(3), "np": np.float32(1.5), "flag": True, "obj": object(), 7: 1.0}, step=step)
        run.log({"x": 1.0}, step="not-a-step")
        run.finish()
    meta, batch, _ = read_all(tmp_path / "r")
    values = {k: v for k, v in zip(batch.key, batch.value)}
    assert math.isnan(values["nan"]) and values["inf"] == -math.inf
    assert values["t"] == 6.0 and values["np"] == 1.5 and values["flag"] == 1.0 and values["7"] == 1.0
    assert not {"s", "n", "big", "obj"} & set(batch.key)
    kinds = [str(w.message) for w in caught if issubclass(w.category, TrackingWarning)]
    assert len(kinds) == 5, "one warning per kind of bad value, not one per call"
    assert meta.status == "finished"


def test_unwritable_directory_warns_once_and_training_goes_on(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = Run(blocker / "run", flush_interval=0.001)
        for step in range(1000):
            run.log({"loss": 1.0}, step=step)
        run.finish(timeout=1)
    messages = [str(w.message) for w in caught if issubclass(w.category, TrackingWarning)]
    assert len(messages) == 1 and "cannot open" in messages[0] and "training continues" in messages[0]


def test_log_before_init_raises_with_the_fix(monkeypatch):
    monkeypatch.setattr(tracking, "_current", None)
    with pytest.raises(TrackingError, match=r"call nanogpt_dash.init\(out_dir\) first"):
        nanogpt_dash.log({"loss": 1.0}, step=0)


def test_misuse_raises_at_once(tmp_path):
    run = Run(tmp_path / "r")
    with pytest.raises(TrackingError, match="dict of metrics"):
        run.log([1.0], step=0)
    run.finish()
    with pytest.raises(TrackingError, match="is finished"):
        run.log({"loss": 1.0}, step=1)


def test_context_manager_marks_a_crash(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with Run(tmp_path / "r") as run:
            run.log({"loss": 1.0}, step=0)
            1 / 0
    meta, batch, _ = read_all(tmp_path / "r")
    assert meta.status == "crashed" and len(batch) == 1


def test_reopening_a_run_starts_a_new_segment_with_the_same_id(tmp_path):
    with Run(tmp_path / "r") as run:
        run.log({"loss": 1.0}, step=0)
    with Run(tmp_path / "r", resume_step=1) as run:
        run.log({"loss": 0.5}, step=1)
    meta, batch, _ = read_all(tmp_path / "r")
    assert meta.run_id == "r" and [s.start_step for s in meta.segments] == [0, 1]
    assert batch.segment.tolist() == [1, 2]


SCRIPT = textwrap.dedent("""
    import sys, time, nanogpt_dash
    run = nanogpt_dash.init(sys.argv[1])
    run.log({"loss": 1.0}, step=0)
    run.flush()
    print("ready", flush=True)
    if sys.argv[2] == "raise":
        raise RuntimeError("boom")
    if sys.argv[2] == "exit":
        sys.exit(0)
    time.sleep(60)
""")


@pytest.mark.parametrize("how, status", [("raise", "crashed"), ("exit", "finished"),
                                         (signal.SIGINT, "interrupted"), (signal.SIGTERM, "interrupted")])
def test_process_end_sets_the_run_status(tmp_path, how, status):
    mode = how if isinstance(how, str) else "wait"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "r"), mode], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    if not isinstance(how, str):
        proc.send_signal(how)
    proc.wait(30)
    meta, batch, _ = read_all(tmp_path / "r")
    assert meta.status == status
    assert len(batch) == 1


def test_log_array_is_written_in_the_background_and_refuses_non_arrays(tmp_path):
    from nanogpt_dash.store import read_arrays

    run = Run(tmp_path / "r")
    run.log_array("attention", np.eye(3, dtype=np.float32), step=5, meta={"tokens": ["x", "y", "z"]})
    with pytest.raises(TrackingError, match="numeric numpy array"):
        run.log_array("attention", [[1.0]], step=5)
    run.finish()
    with RunReader(tmp_path / "r") as reader:
        (row,) = read_arrays(reader, "attention")
    assert row.step == 5 and row.meta == {"tokens": ["x", "y", "z"]}
    np.testing.assert_array_equal(row.array, np.eye(3))
