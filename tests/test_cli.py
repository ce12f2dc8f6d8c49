"""`python -m nanogpt_dash runs|export` against a real run file."""

import csv
import io
import json
import math
import os

import psutil
import pytest
from helpers import free_port, start_server, stop_process

from nanogpt_dash.__main__ import main
from nanogpt_dash.tracking import Run



@pytest.fixture
def resumed_run(runs_dir):
    with Run(runs_dir / "alpha", name="first try") as run:
        for step in range(10):
            run.log({"train/loss": 10.0 - step, "lr": 0.1}, step=step)
        run.log({"grad_norm": math.nan}, step=9)
    with Run(runs_dir / "alpha", resume_step=8) as run:
        run.log({"train/loss": 1.5}, step=8)
        run.log({"train/loss": 1.25}, step=9)
    return runs_dir


def test_runs_lists_id_name_status_last_step_and_loss(resumed_run, capsys):
    assert main(["runs", "--runs", str(resumed_run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["id", "name", "status", "last", "step", "last", "loss"]
    assert out[1].split() == ["alpha", "first", "try", "finished", "9", "1.2500"]


def test_export_csv_is_long_form_with_superseded_flag(resumed_run, capsys):
    assert main(["export", "alpha", "--runs", str(resumed_run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0]) == ["run", "segment", "step", "wall_time", "key", "value", "superseded"]
    loss = [(r["segment"], r["step"], r["value"], r["superseded"]) for r in rows if r["key"] == "train/loss"]
    assert loss[8] == ("1", "8", "2.0", "1") and loss[9] == ("1", "9", "1.0", "1")
    assert loss[10:] == [("2", "8", "1.5", "0"), ("2", "9", "1.25", "0")]
    assert [r["value"] for r in rows if r["key"] == "grad_norm"] == ["NaN"]


def test_export_json_to_a_file(resumed_run, tmp_path):
    out = tmp_path / "alpha.json"
    assert main(["export", "alpha", "--runs", str(resumed_run), "--format", "json", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["columns"][-1] == "superseded" and len(data["rows"]) == 23
    assert ["alpha", 1, 9, data["rows"][-3][3], "grad_norm", "NaN", True] in data["rows"]


def test_export_of_an_unknown_run_names_the_known_ones(resumed_run, capsys):
    assert main(["export", "beta", "--runs", str(resumed_run)]) == 2
    err = capsys.readouterr().err
    assert "run 'beta' not found in" in err and "(known: alpha)" in err


def test_runs_on_an_empty_directory_says_how_to_make_one(runs_dir, capsys):
    assert main(["runs", "--runs", str(runs_dir)]) == 0
    assert "no runs in" in capsys.readouterr().out


def test_serve_flags_work_without_the_serve_word(monkeypatch, tmp_path):
    import nanogpt_dash.server as server

    monkeypatch.chdir(tmp_path)  # `serve` claims ./runs (a lock file) before it calls server.serve
    seen, niced = {}, []
    monkeypatch.setattr(server, "serve", lambda **kwargs: seen.update(kwargs) or 0)
    monkeypatch.setattr(os, "nice", niced.append)  # not this test process
    assert main(["--runs", str(tmp_path), "--port", "8051", "--host", "127.0.0.1"]) == 0
    assert seen["runs_dir"] == tmp_path and seen["port"] == 8051 and seen["host"] == "127.0.0.1"
    assert main(["serve", "--port", "8052", "--nice", "3"]) == 0 and seen["port"] == 8052
    assert niced == [10, 3]


def test_a_renamed_run_folder_is_listed_and_exported_by_its_folder_name(resumed_run, capsys):
    (resumed_run / "alpha").rename(resumed_run / "renamed")
    assert main(["runs", "--runs", str(resumed_run)]) == 0
    listed = capsys.readouterr().out.splitlines()[1].split()
    assert listed[0] == "renamed"
    assert main(["export", listed[0], "--runs", str(resumed_run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 23


def test_runs_long_shows_each_runs_configuration_and_model_args(runs_dir, capsys):
    config = {"learning_rate": 3e-4, "dataset": "python_char", "decay_lr": True, "run_name": "", "out_dir": "runs/my run"}
    with Run(runs_dir / "beta", config=config, model_args={"n_layer": 4, "n_embd": 128, "bias": False}) as run:
        run.log({"train/loss": 2.5}, step=3)
    assert main(["runs", "--runs", str(runs_dir), "--long"]) == 0
    out = capsys.readouterr().out
    block = out.split("\nbeta\n", 1)[1]
    model, config_lines = block.split("\n  config  ", 1)
    assert model.split() == ["model", "bias=False", "n_embd=128", "n_layer=4"]
    assert config_lines.split() == ["dataset=python_char", "decay_lr=True", "learning_rate=0.0003",
                                    "out_dir='runs/my", "run'", "run_name=''"]


def test_runs_long_takes_model_args_from_the_checkpoint_when_none_were_recorded(runs_dir, capsys):
    import torch

    with Run(runs_dir / "gamma") as run:
        run.log({"train/loss": 2.0}, step=1)
    torch.save({"model_args": {"n_layer": 6, "n_head": 6}, "iter_num": 1}, runs_dir / "gamma" / "ckpt.pt")
    assert main(["runs", "--runs", str(runs_dir), "--long"]) == 0
    assert "\n  model   n_head=6 n_layer=6\n  config  (none recorded)\n" in capsys.readouterr().out


def test_status_and_stop_find_the_folders_server_and_stop_it(server, runs_dir, capsys):
    port, proc = server
    assert main(["status", "--runs", str(runs_dir)]) == 0
    assert f"dashboard of {runs_dir}/ at http://127.0.0.1:{port}/ (pid {proc.pid}, up " in capsys.readouterr().out
    assert main(["stop", "--runs", str(runs_dir)]) == 0
    assert capsys.readouterr().out == f"stopped the dashboard of {runs_dir}/ at http://127.0.0.1:{port}/ (pid {proc.pid})\n"
    assert proc.wait(10) is not None
    assert main(["status", "--runs", str(runs_dir)]) == 3
    assert capsys.readouterr().out.startswith(f"no dashboard is running for {runs_dir}/; start one with: python -m nanogpt_dash --runs ")
    assert main(["stop", "--runs", str(runs_dir)]) == 0
    assert capsys.readouterr().out == f"no dashboard is running for {runs_dir}/\n"


def test_the_server_yields_the_cpu_to_training_unless_told_not_to(server, runs_dir, tmp_path, capsys):
    _, proc = server
    assert psutil.Process(proc.pid).nice() == os.nice(0) + 10
    other_runs = tmp_path / "other"
    kept = start_server(other_runs, free_port(), "--nice=0")
    try:
        assert psutil.Process(kept.pid).nice() == os.nice(0)
    finally:
        stop_process(kept)
    assert main(["--runs", str(other_runs), "--nice=-5"]) == 2
    assert "--nice -5: the server can only lower its priority; use 0 to keep it" in capsys.readouterr().err
