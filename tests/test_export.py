"""export.py and `python -m nanogpt_dash export`: contents equal to the stored data, and safe --out handling."""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
from pathlib import Path

import pytest

from nanogpt_dash import export
from nanogpt_dash.__main__ import main
from nanogpt_dash.export import ExportQuery, export_runs
from nanogpt_dash.store import RunReader, superseded_mask
from nanogpt_dash.tracking import Run

CONFIG = {"batch_size": 4, "block_size": 8, "gradient_accumulation_steps": 2, "learning_rate": 6e-4, "tag": "x"}
MODEL_ARGS = {"n_layer": 2, "n_head": 2, "n_embd": 32}
ODD_VALUES = [1 / 3, 1e-310, 1.7976931348623157e308, 5e-324, math.nan, math.inf, -math.inf, 2.5e-12]


@pytest.fixture
def runs(runs_dir: Path) -> Path:
    """alpha: resumed at step 8, with NaN and ±Inf and values that need every digit; beta: a second run."""
    with Run(runs_dir / "alpha", name="first try", config=CONFIG, model_args=MODEL_ARGS) as run:
        for step in range(12):
            run.log({"train/loss": 10.0 - step + 1 / 7, "lr": 0.1 * step}, step=step)
        for i, value in enumerate(ODD_VALUES):
            run.log({"odd": value}, step=i)
    with Run(runs_dir / "alpha", resume_step=8, config=CONFIG, model_args=MODEL_ARGS) as run:
        for step in range(8, 11):
            run.log({"train/loss": 1.0 / step}, step=step)
    with Run(runs_dir / "beta", config=CONFIG) as run:
        for step in range(5):
            run.log({"train/loss": 3.0 - step / 3}, step=step)
    return runs_dir


def stored(run_dir: Path) -> list[tuple]:
    """Every stored row of a run as (run, segment, step, wall_time, key, value, superseded), read by the store."""
    rows = []
    with RunReader(run_dir) as reader:
        meta = reader.meta()
        for batch in reader.iter_scalars():
            hidden = superseded_mask(batch.segment, batch.step, meta.segments)
            rows += [(run_dir.name, int(batch.segment[i]), int(batch.step[i]), float(batch.wall_time[i]), batch.key[i],
                      float(batch.value[i]), bool(hidden[i])) for i in range(len(batch))]
    return rows


def same_value(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


def test_long_csv_equals_the_stored_data_point_for_point(runs):
    count, text = export_runs([runs / "alpha", runs / "beta"], "csv")
    got = list(csv.reader(io.StringIO(text)))
    expected = stored(runs / "alpha") + stored(runs / "beta")
    assert got[0] == list(export.COLUMNS) and count == len(expected) == len(got) - 1
    for row, want in zip(got[1:], expected):
        assert (row[0], int(row[1]), int(row[2]), float(row[3]), row[4], row[6]) == (*want[:5], str(int(want[6])))
        assert same_value(float(row[5]), want[5]), (row, want)


def test_nonfinite_values_are_written_as_nan_and_infinity_text(runs):
    _, text = export_runs([runs / "alpha"], "csv", ExportQuery(keys=("odd",)))
    cells = [row[5] for row in list(csv.reader(io.StringIO(text)))[1:]]
    assert cells[4:7] == ["NaN", "Infinity", "-Infinity"]
    assert cells[:4] == ["0.3333333333333333", "1e-310", "1.7976931348623157e+308", "5e-324"]
    _, text = export_runs([runs / "alpha"], "json", ExportQuery(keys=("odd",)))
    assert [row[5] for row in json.loads(text)["rows"]][4:7] == ["NaN", "Infinity", "-Infinity"]


def test_long_json_equals_the_stored_data_and_carries_config_and_model_args(runs):
    count, text = export_runs([runs / "alpha", runs / "beta"], "json")
    data = json.loads(text)  # strict JSON: no bare NaN or Infinity
    expected = stored(runs / "alpha") + stored(runs / "beta")
    assert data["columns"] == list(export.COLUMNS) and count == len(data["rows"]) == len(expected)
    for row, want in zip(data["rows"], expected):
        assert row[:5] == list(want[:5]) and row[6] is want[6]
        assert same_value(float(row[5]), want[5])
    alpha, beta = data["runs"]
    assert alpha["name"] == "first try" and alpha["config"] == CONFIG and alpha["model_args"] == MODEL_ARGS
    assert [s["start_step"] for s in alpha["segments"]] == [0, 8] and beta["run"] == "beta"


def test_wide_form_has_one_row_per_step_and_tells_missing_from_nan(runs):
    _, text = export_runs([runs / "alpha"], "csv", ExportQuery(form="wide"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[:5] == list(export.WIDE_INDEX) and {"train/loss", "lr", "odd"} <= set(rows[0])
    by_point = {(r["segment"], r["step"]): r for r in rows}
    assert len(by_point) == len(rows) == 12 + 3
    for run, segment, step, _, key, value, hidden in stored(runs / "alpha"):
        row = by_point[(str(segment), str(step))]
        assert same_value(float(row[key]), value) and row["superseded"] == str(int(hidden))
    assert by_point[("1", "4")]["odd"] == "NaN" and by_point[("1", "9")]["odd"] == ""  # NaN vs not logged
    _, text = export_runs([runs / "alpha"], "json", ExportQuery(form="wide"))
    data = json.loads(text)
    row = dict(zip(data["columns"], data["rows"][9]))
    assert row["odd"] is None and row["train/loss"] == 10.0 - 9 + 1 / 7


def test_superseded_points_are_left_out_on_request(runs):
    _, text = export_runs([runs / "alpha"], "csv", ExportQuery(keys=("train/loss",), superseded=False))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["segment"], r["step"]) for r in rows] == [("1", str(s)) for s in range(8)] + [("2", "8"), ("2", "9"),
                                                                                           ("2", "10")]
    assert {r["superseded"] for r in rows} == {"0"}


def test_x_range_is_honoured_on_the_chosen_axis(runs):
    query = ExportQuery(keys=("train/loss",), superseded=False, x_range=(3, 5))
    _, text = export_runs([runs / "alpha"], "csv", query)
    assert [r["step"] for r in csv.DictReader(io.StringIO(text))] == ["3", "4", "5"]
    tokens = CONFIG["batch_size"] * CONFIG["block_size"] * CONFIG["gradient_accumulation_steps"]
    query = ExportQuery(keys=("train/loss",), superseded=False, x_axis="tokens", x_range=(9 * tokens, None))
    _, text = export_runs([runs / "alpha"], "csv", query)
    assert [r["step"] for r in csv.DictReader(io.StringIO(text))] == ["9", "10"]


def test_cli_exports_several_runs_wide_with_a_range(runs, capsys):
    assert main(["export", "alpha", "beta", "--runs", str(runs), "--form", "wide", "--keys", "train/loss",
                 "--no-superseded", "--x-min", "2", "--x-max", "3"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["run"], r["step"]) for r in rows] == [("alpha", "2"), ("alpha", "3"), ("beta", "2"), ("beta", "3")]


def test_cli_names_an_unknown_form(runs, capsys):
    assert main(["export", "alpha", "--runs", str(runs), "--form", "tall"]) == 2
    assert "unknown export form 'tall': use one of long, wide" in capsys.readouterr().err


# -- issue 13 item 2: --out never destroys data and never leaves anything half-written ------------------------


def cli_refuses(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_out_into_the_runs_own_database_is_refused_and_the_database_is_unchanged(runs, capsys, monkeypatch):
    monkeypatch.chdir(runs.parent)
    before = (runs / "alpha" / "metrics.sqlite").read_bytes()
    files = sorted(p.name for p in (runs / "alpha").iterdir())
    err = cli_refuses(["export", "alpha", "--runs", "runs", "--out", "runs/alpha/metrics.sqlite"], capsys)
    assert "inside the runs directory" in err
    assert (runs / "alpha" / "metrics.sqlite").read_bytes() == before
    assert sorted(p.name for p in (runs / "alpha").iterdir()) == files


def test_out_into_a_run_directory_of_another_runs_folder_is_refused(runs, tmp_path, capsys):
    err = cli_refuses(["export", "beta", "--runs", str(tmp_path / "elsewhere"), "--out",
                       str(runs / "alpha" / "notes.csv")], capsys)
    assert "run 'beta' not found" in err
    err = cli_refuses(["export", str(runs / "beta"), "--runs", str(tmp_path / "elsewhere"), "--out",
                       str(runs / "alpha" / "notes.csv")], capsys)
    assert "inside the run directory" in err and not (runs / "alpha" / "notes.csv").exists()


def test_out_a_directory_is_refused_and_leaves_nothing_beside_it(runs, tmp_path, capsys):
    folder = tmp_path / "exports"
    folder.mkdir()
    err = cli_refuses(["export", "alpha", "--runs", str(runs), "--out", str(folder)], capsys)
    assert "it is a directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports", "runs"] and not list(folder.iterdir())


def test_out_in_a_missing_folder_is_one_line(runs, tmp_path, capsys):
    err = cli_refuses(["export", "alpha", "--runs", str(runs), "--out", str(tmp_path / "nope" / "a.csv")], capsys)
    assert f"folder {tmp_path / 'nope'} does not exist" in err


def test_out_in_an_unwritable_folder_is_one_line(runs, tmp_path, capsys):
    if os.geteuid() == 0:  # root writes into any folder whatever its mode: /proc refuses even root
        target = Path("/proc/a.csv")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "a.csv"
    err = cli_refuses(["export", "alpha", "--runs", str(runs), "--out", str(target)], capsys)
    assert f"cannot write into folder {target.parent}" in err and not target.exists()


def test_a_failed_export_leaves_nothing_behind_and_keeps_the_old_file(runs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "alpha.csv"
    out.write_text("the previous export\n")

    def full_disk(frame, infos, fmt, f, query):
        f.write("run,segment\n" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(export, "write_frame", full_disk)
    err = cli_refuses(["export", "alpha", "--runs", str(runs), "--out", str(out)], capsys)
    assert "No space left on device" in err and "nothing was written" in err
    assert out.read_text() == "the previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha.csv", "runs"]


def test_out_a_fifo_is_refused_and_stays_a_fifo(runs, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    err = cli_refuses(["export", "alpha", "--runs", str(runs), "--out", str(fifo)], capsys)
    assert "named pipe (FIFO), not a regular file" in err
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe", "runs"]


def test_out_a_device_is_refused(runs, capsys):
    err = cli_refuses(["export", "alpha", "--runs", str(runs), "--out", "/dev/null"], capsys)
    assert "it is a character device" in err and Path("/dev/null").is_char_device()


def test_out_a_symlink_is_refused_and_neither_link_nor_target_changes(runs, tmp_path, capsys):
    target = tmp_path / "real.csv"
    target.write_text("keep me\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    err = cli_refuses(["export", "alpha", "--runs", str(runs), "--out", str(link)], capsys)
    assert "symbolic link" in err
    assert link.is_symlink() and os.readlink(link) == str(target) and target.read_text() == "keep me\n"


def test_out_to_a_regular_file_replaces_it_whole(runs, tmp_path, capsys):
    out = tmp_path / "alpha.json"
    out.write_text("old")
    assert main(["export", "alpha", "--runs", str(runs), "--format", "json", "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["rows"]) == len(stored(runs / "alpha"))
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha.json", "runs"]


def test_a_run_without_points_exports_its_header_and_its_config(runs_dir):
    with Run(runs_dir / "empty", config=CONFIG):
        pass
    for form in ("long", "wide"):
        _, text = export_runs([runs_dir / "empty"], "csv", ExportQuery(form=form))
        assert text.count("\n") == 1 and text.startswith("run,segment,step,wall_time,")
        data = json.loads(export_runs([runs_dir / "empty"], "json", ExportQuery(form=form))[1])
        assert data["rows"] == [] and data["runs"][0]["config"] == CONFIG
