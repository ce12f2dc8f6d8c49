"""`python -m nanogpt_dash run -- CMD`: a fake nanoGPT trainer as the child, real run files."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from nanogpt_dash.runs import config_changes
from nanogpt_dash.store import RunReader, superseded_mask
from nanogpt_dash.tracking import TrackingWarning
from nanogpt_dash.wrap import Recorder, WrapError, _pump, run_command

from helpers import REPO, SHARED_DATA

FAKE = str(REPO / "tests" / "fake_nanogpt.py")


def wrapped(tmp_path, *args, wrapper_args=(), **kwargs) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "nanogpt_dash", "run", "--no-dashboard", *wrapper_args, "--", sys.executable, FAKE, *args]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, **kwargs)


def series(run_dir, key: str, visible_only: bool = True) -> tuple[list[int], list[float]]:
    with RunReader(run_dir) as reader:
        meta = reader.meta()
        batch = reader.scalars_since(0)
    keys = np.array(batch.key)
    keep = keys == key
    if visible_only:
        keep &= ~superseded_mask(batch.segment, batch.step, meta.segments)
    return batch.step[keep].tolist(), batch.value[keep].tolist()


def test_stdout_passes_through_byte_for_byte_and_metrics_are_recorded(tmp_path):
    direct = subprocess.run([sys.executable, FAKE, "--out_dir=direct"], cwd=tmp_path, capture_output=True, timeout=60)
    result = wrapped(tmp_path, "--out_dir=wrapped")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == direct.stdout.replace(b"direct", b"wrapped")
    run_dir = tmp_path / "wrapped"
    steps, losses = series(run_dir, "train/loss")
    assert steps == list(range(21))
    assert losses[0] == pytest.approx(5.05)
    assert series(run_dir, "val/loss")[0] == [0, 10, 20]
    assert series(run_dir, "mfu")[0] == list(range(5, 21))  # nanoGPT's -100% placeholder is not a value
    assert series(run_dir, "tokens_per_sec")[1][0] == pytest.approx(12 * 1024 / 0.01)
    with RunReader(run_dir) as reader:
        meta = reader.meta()
        events = reader.events_since(0)
    assert meta.status == "finished" and meta.run_id == "wrapped" and meta.name == "wrapped"
    assert meta.config["out_dir"] == "wrapped" and meta.config["wandb_project"] == "fake"
    assert meta.config["tokens_per_iter"] == 12288 and meta.config["n_params_millions"] == 10.65
    assert [e.step for e in events if e.kind == "checkpoint"] == [10, 20]
    assert events[0].kind == "command" and events[0].payload["argv"][-1] == "--out_dir=wrapped"


def test_exit_code_of_the_command_is_ours_and_a_failure_marks_the_run_crashed(tmp_path):
    result = wrapped(tmp_path, "--out_dir=failing", "--exit_code=3")
    assert result.returncode == 3
    with RunReader(tmp_path / "failing") as reader:
        assert reader.meta().status == "crashed"


def test_without_out_dir_in_the_config_the_run_goes_under_runs(tmp_path):
    result = wrapped(tmp_path, "--max_iters=2", wrapper_args=["--out-dir", "runs/chosen"])
    assert result.returncode == 0
    assert series(tmp_path / "runs" / "chosen", "train/loss")[0] == [0, 1, 2]


def test_ctrl_c_reaches_the_child_and_the_run_is_marked_interrupted(tmp_path):
    cmd = [sys.executable, "-m", "nanogpt_dash", "run", "--no-dashboard", "--", sys.executable, FAKE,
           "--out_dir=stopped", "--max_iters=100000", "--sleep=0.02"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        for line in proc.stdout:
            if line.startswith(b"iter 5:"):
                break
        time.sleep(0.3)  # let the wrapper open the run
        proc.send_signal(signal.SIGINT)  # to the wrapper only: it must pass it on
        proc.stdout.read()
        assert proc.wait(30) == 128 + signal.SIGINT
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "stopped" / "got_sigint.0").is_file()
    with RunReader(tmp_path / "stopped") as reader:
        assert reader.meta().status == "interrupted"


def test_sigterm_is_passed_on_too(tmp_path):
    cmd = [sys.executable, "-m", "nanogpt_dash", "run", "--no-dashboard", "--", sys.executable, FAKE,
           "--out_dir=terminated", "--max_iters=100000", "--sleep=0.02"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        for line in proc.stdout:
            if line.startswith(b"iter 2:"):
                break
        proc.terminate()
        proc.stdout.read()
        assert proc.wait(30) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    with RunReader(tmp_path / "terminated") as reader:
        assert reader.meta().status == "interrupted"


def test_resumed_command_continues_the_same_run_in_a_new_segment(tmp_path):
    # the wrapper knows only what stdout says: nanoGPT echoes overrides, not its defaults
    assert wrapped(tmp_path, "--out_dir=resumed", "--max_iters=25", "--learning_rate=0.001").returncode == 0
    result = wrapped(tmp_path, "--out_dir=resumed", "--max_iters=40", "--init_from=resume", "--learning_rate=0.0005")
    assert result.returncode == 0, result.stderr.decode()
    with RunReader(tmp_path / "resumed") as reader:
        meta = reader.meta()
    assert [s.start_step for s in meta.segments] == [0, 20]
    assert meta.segments[0].config["learning_rate"] == 0.001
    assert meta.segments[1].config["learning_rate"] == 0.0005
    changes = {(c.step, c.key, c.old, c.new) for c in config_changes(tmp_path / "resumed")}
    assert changes == {(20, "learning_rate", 0.001, 0.0005), (20, "max_iters", 25, 40), (20, "init_from", None, "resume")}
    steps, _ = series(tmp_path / "resumed", "train/loss")
    assert steps == list(range(41))  # 21..25 of the first segment are superseded: no zig-zag
    all_steps, _ = series(tmp_path / "resumed", "train/loss", visible_only=False)
    assert len(all_steps) == 26 + 21


def test_recorder_on_the_real_fresh_and_resumed_logs(tmp_path):
    logs = SHARED_DATA / "nanogpt_stdout"
    if not (logs / "resume.log").is_file():
        pytest.skip(f"{logs} is absent")
    run_dir = tmp_path / "out-shakespeare-char"
    for name in ("fresh.log", "resume.log"):
        recorder = Recorder(["python", "train.py"], run_dir, dashboard=False)
        for line in (logs / name).read_text().splitlines():
            recorder.feed_line(line)
        recorder.finish("finished")
    with RunReader(run_dir) as reader:
        meta = reader.meta()
    assert [s.start_step for s in meta.segments] == [0, 40]
    assert meta.segments[0].config["max_iters"] == 40 and meta.segments[1].config["max_iters"] == 70
    assert meta.segments[1].config["init_from"] == "resume"
    assert meta.name == "mini-gpt"  # wandb_run_name in the echoed config file
    steps, losses = series(run_dir, "train/loss")
    assert steps == list(range(71))
    assert losses[40] == 3.6591 and losses[39] == 3.6445  # iter 40 comes from the resumed run


def test_an_empty_command_says_how_to_write_one():
    with pytest.raises(WrapError, match="-- python train.py"):
        run_command([])


def test_a_missing_program_is_named(tmp_path):
    with pytest.raises(WrapError, match="no-such-trainer"):
        run_command(["no-such-trainer"], tmp_path / "x", dashboard=False)


def test_a_command_that_records_itself_is_not_recorded_twice(tmp_path):
    recorder = Recorder(["python", "train.py"], tmp_path / "self", dashboard=False)
    for line in ["tokens per iteration will be: 1,536", "Initializing a new model from scratch",
                 "nanogpt_dash: dashboard at http://127.0.0.1:8050/?run=self", "iter 0: loss 4.2, time 9.00ms, mfu -100.00%"]:
        recorder.feed_line(line)
    recorder.finish("finished")
    assert recorder.self_tracking and recorder.run is None
    assert not (tmp_path / "self").exists()


def test_torchrun_command_is_recorded_and_ctrl_c_reaches_every_rank(tmp_path):
    cmd = [sys.executable, "-m", "nanogpt_dash", "run", "--no-dashboard", "--", sys.executable, "-m", "torch.distributed.run",
           "--standalone", "--nproc_per_node=2", FAKE, "--out_dir=ddp", "--max_iters=100000", "--sleep=0.02"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        for line in proc.stdout:
            if line.startswith(b"iter 5:"):
                break
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        proc.stdout.read()
        assert proc.wait(60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sorted(p.name for p in (tmp_path / "ddp").glob("got_sigint.*")) == ["got_sigint.0", "got_sigint.1"]
    steps, _ = series(tmp_path / "ddp", "train/loss")
    assert steps[:6] == [0, 1, 2, 3, 4, 5]  # rank 0's lines, once each
    with RunReader(tmp_path / "ddp") as reader:
        assert reader.meta().status == "interrupted"


def test_a_recording_failure_never_stops_the_output(tmp_path, capfd):
    recorder = Recorder(["python", "train.py"], tmp_path / "x", dashboard=False)
    recorder.feed_line = lambda text: 1 / 0
    read, write = os.pipe()
    os.write(write, b"iter 0: loss 1.0, time 1.00ms, mfu -100.00%\nline two\n")
    os.close(write)
    with pytest.warns(TrackingWarning, match="stopped recording this run"):
        _pump(read, recorder)
    os.close(read)
    assert capfd.readouterr().out == "iter 0: loss 1.0, time 1.00ms, mfu -100.00%\nline two\n"
