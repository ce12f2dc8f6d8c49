"""The real train.py on CPU: metrics, status, checkpoints, resume, and its error messages."""

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model import load_checkpoint
from nanogpt_dash.store import RunReader, superseded_mask

from helpers import REPO, SHARED_DATA, TINY_TRAIN_ARGS, run_torchrun, run_train, torchrun_failure

NANOGPT_ITER = re.compile(r"^iter (\d+): loss (\d+\.\d+), time (\d+\.\d+)ms, mfu (-?\d+\.\d+)%$", re.M)
NANOGPT_EVAL = re.compile(r"^step (\d+): train loss (\d+\.\d+), val loss (\d+\.\d+)$", re.M)


def scalars_by_key(run_dir: Path):
    with RunReader(run_dir) as reader:
        meta = reader.meta()
        batch = reader.scalars_since(0)
        events = reader.events_since(0)
    hidden = superseded_mask(batch.segment, batch.step, meta.segments)
    return meta, batch, hidden, events


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("runs") / "tiny"
    result = run_train(out_dir, "--max_iters=30", "--dashboard_autostart=False")
    assert result.returncode == 0, result.stderr
    return out_dir, result


def test_thirty_iterations_leave_metrics_status_and_checkpoint(trained):
    out_dir, _ = trained
    meta, batch, _, events = scalars_by_key(out_dir)
    keys = set(batch.key)
    assert batch.key.count("train/loss") >= 30
    assert {"train/loss", "lr", "grad_norm", "iter_ms", "tokens_per_sec", "train/eval_loss", "val/loss"} <= keys
    assert "mfu" not in keys, "no made-up MFU on a CPU"
    assert meta.status == "finished"
    assert meta.config["max_iters"] == 30 and meta.config["device"] == "cpu"
    assert meta.model_args["n_layer"] == 2
    assert {e.kind for e in events} == {"sample", "checkpoint"}
    ckpt = load_checkpoint(out_dir / "ckpt.pt", "cpu")
    assert set(ckpt) == {"model", "optimizer", "model_args", "iter_num", "best_val_loss", "config"}
    assert ckpt["iter_num"] == 30


def test_stdout_lines_match_nanogpts(trained):
    _, result = trained
    iters = NANOGPT_ITER.findall(result.stdout)
    evals = NANOGPT_EVAL.findall(result.stdout)
    assert [int(i[0]) for i in iters] == [0, 10, 20, 30]
    assert [int(e[0]) for e in evals] == [0, 10, 20, 30]
    reference = SHARED_DATA / "nanogpt_stdout" / "fresh.log"
    if reference.exists():  # the original nanoGPT prints lines of exactly these shapes
        text = reference.read_text()
        assert NANOGPT_ITER.search(text) and NANOGPT_EVAL.search(text)


def test_loss_goes_down(trained):
    out_dir, _ = trained
    _, batch, _, _ = scalars_by_key(out_dir)
    loss = batch.value[[k == "val/loss" for k in batch.key]]
    assert loss[-1] < loss[0]


def test_resume_continues_the_run_in_a_new_segment(tmp_path):
    out_dir = tmp_path / "runs" / "resumed"
    first = run_train(out_dir, "--max_iters=25", "--dashboard_autostart=False")
    assert first.returncode == 0, first.stderr
    # the checkpoint is from step 20; steps 20..25 of segment 1 get redone by segment 2
    second = run_train(out_dir, "--max_iters=40", "--init_from=resume", "--dashboard_autostart=False")
    assert second.returncode == 0, second.stderr
    assert "Resuming training from" in second.stdout
    meta, batch, hidden, _ = scalars_by_key(out_dir)
    assert meta.run_id == "resumed" and [s.start_step for s in meta.segments] == [0, 20]
    loss = [k == "train/loss" for k in batch.key]
    assert sorted(batch.step[loss & hidden].tolist()) == list(range(20, 26))
    visible_steps = batch.step[loss & ~hidden].tolist()
    assert visible_steps == list(range(41)), "exactly one visible point per step after the resume"


def test_dashboard_false_writes_no_metrics_database(tmp_path):
    out_dir = tmp_path / "runs" / "plain"
    result = run_train(out_dir, "--max_iters=3", "--dashboard=False")
    assert result.returncode == 0, result.stderr
    assert "iter 0: loss" in result.stdout
    assert out_dir.is_dir() and not (out_dir / "metrics.sqlite").exists()


@pytest.mark.parametrize("arg, message", [
    ("--lerning_rate=0.1", "unknown config key 'lerning_rate' (did you mean 'learning_rate'?)"),
    ("--max_iters=ten", "'max_iters' expects int"),
    ("--dashboard=1", "'dashboard' expects bool"),
])
def test_bad_overrides_fail_with_a_message_naming_the_key(tmp_path, arg, message):
    result = run_train(tmp_path / "bad", arg)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "bad").exists()


def test_ddp_under_torchrun_on_cpu_logs_once_from_rank_zero(tmp_path):
    out_dir = tmp_path / "runs" / "ddp"
    result = run_torchrun(out_dir, "--max_iters=4", "--gradient_accumulation_steps=2", "--dashboard_autostart=False")
    assert result.returncode == 0, torchrun_failure(result)
    meta, batch, _, _ = scalars_by_key(out_dir)
    assert meta.status == "finished" and len(meta.segments) == 1
    assert sorted(batch.step[[k == "train/loss" for k in batch.key]].tolist()) == [0, 1, 2, 3, 4]


INTERRUPTED = re.compile(r"^interrupted at step (\d+); last checkpoint: step (\d+) in (\S+); resume with: (.+)$", re.M)


def start_train(out_dir: Path, *args: str) -> subprocess.Popen:
    """The real train.py in the background, unbuffered so that its progress can be read as it happens."""
    cmd = [sys.executable, "train.py", *TINY_TRAIN_ARGS, f"--out_dir={out_dir}", "--dashboard_autostart=False", *args]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def read_until(proc: subprocess.Popen, text: str) -> str:
    seen = ""
    for line in proc.stdout:
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"train.py ended before printing {text!r}: {seen[-2000:]} {proc.stderr.read()[-2000:]}")


def test_ctrl_c_prints_one_line_with_the_resume_command_that_works(tmp_path):
    out_dir = tmp_path / "runs" / "stopped"
    proc = start_train(out_dir, "--max_iters=60")
    try:
        before = read_until(proc, "iter 10: loss")  # the checkpoint of step 10 is saved just before this line
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGINT
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = INTERRUPTED.findall(rest)
    assert len(lines) == 1 and rest.rstrip().endswith(lines[0][3]), rest
    step, saved, ckpt, command = int(lines[0][0]), int(lines[0][1]), lines[0][2], lines[0][3]
    assert "saving checkpoint" in before and saved % 10 == 0 and 10 <= saved <= step < 60
    assert load_checkpoint(ckpt, "cpu")["iter_num"] == saved
    with RunReader(out_dir) as reader:
        assert reader.meta().status == "interrupted"

    argv = shlex.split(command)
    assert argv[:2] == ["python", "train.py"] and argv[-2:] == [f"--out_dir={out_dir}", "--init_from=resume"]
    assert "--max_iters=60" in argv and "--n_layer=2" in argv, "the same overrides as the interrupted run"
    resumed = subprocess.run([sys.executable, *argv[1:]], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    with RunReader(out_dir) as reader:
        meta = reader.meta()
    assert meta.status == "finished" and [s.start_step for s in meta.segments] == [0, saved]


def test_a_second_ctrl_c_while_the_first_is_handled_exits_at_once(tmp_path):
    out_dir = tmp_path / "runs" / "impatient"
    proc = start_train(out_dir, "--max_iters=60")
    blocker = None
    try:
        read_until(proc, "iter 10: loss")
        # another process holds the run's database, so the first Ctrl-C's final write waits (up to 10 s)
        blocker = sqlite3.connect(out_dir / "metrics.sqlite", timeout=10)
        blocker.execute("BEGIN IMMEDIATE")
        proc.send_signal(signal.SIGINT)
        assert "interrupted at step" in read_until(proc, "interrupted at step")
        time.sleep(0.5)
        assert proc.poll() is None, "still writing: the database is held"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        waited = time.monotonic() - sent
        err = proc.stderr.read()
    finally:
        proc.kill()
        if blocker is not None:
            blocker.close()
    assert proc.returncode == -signal.SIGINT and waited < 2.0, waited
    assert "Traceback" not in err, err
