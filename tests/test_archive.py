"""archive.py and `python -m nanogpt_dash archive|import`: lossless round trips, refused names, nothing half-written."""

from __future__ import annotations

import json
import math
import stat
import zipfile
from pathlib import Path

import pytest

from nanogpt_dash.__main__ import main
from nanogpt_dash.archive import MANIFEST, ArchiveError, import_archive, write_archive
from nanogpt_dash.export import ExportQuery, export_runs
from nanogpt_dash.tracking import Run

CONFIG = {"batch_size": 4, "block_size": 8, "learning_rate": 6e-4, "dataset": "python_char"}
MODEL_ARGS = {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 8, "vocab_size": 65}


@pytest.fixture
def run_dir(runs_dir: Path) -> Path:
    with Run(runs_dir / "alpha", name="first", config=CONFIG, model_args=MODEL_ARGS) as run:
        for step in range(300):
            run.log({"train/loss": 3 - step / 200, "lr": 6e-4, "odd": math.nan if step == 7 else math.inf}, step=step)
        run.event("sample", {"text": "def f(x):\n    return x"}, step=299)
        run.event("layer_stats", {"h.0.attn": {"act_std": 0.9, "grad_norm": 0.01}}, step=299)
    with Run(runs_dir / "alpha", resume_step=250, config=CONFIG, model_args=MODEL_ARGS) as run:
        run.log({"train/loss": 1.0}, step=250)
    (runs_dir / "alpha" / "ckpt.pt").write_bytes(b"\x80checkpoint" * 1000)
    (runs_dir / "alpha" / "layers").mkdir()
    (runs_dir / "alpha" / "layers" / "hist-0300.json").write_text('{"bins": [1, 2, 3]}')
    return runs_dir / "alpha"


def exports(run_dir: Path) -> list[str]:
    return [export_runs([run_dir], fmt, ExportQuery(form=form))[1] for fmt in ("csv", "json") for form in ("long", "wide")]


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_round_trip_is_lossless_and_leaves_the_checkpoint_out(run_dir, tmp_path):
    archive = write_archive(run_dir, tmp_path / "alpha.zip")
    other = tmp_path / "elsewhere"
    other.mkdir()
    imported = import_archive(archive, other)
    assert imported == other / "alpha" and exports(imported) == exports(run_dir)
    assert listing(imported) == ["layers", "layers/hist-0300.json", "metrics.sqlite"]
    assert (imported / "layers" / "hist-0300.json").read_bytes() == (run_dir / "layers" / "hist-0300.json").read_bytes()
    assert listing(other) == ["alpha", "alpha/layers", "alpha/layers/hist-0300.json", "alpha/metrics.sqlite"]


def test_archive_carries_config_model_args_events_and_samples_readably(run_dir, tmp_path):
    with zipfile.ZipFile(write_archive(run_dir, tmp_path / "a.zip")) as zf:
        assert json.loads(zf.read("config.json")) == CONFIG
        assert json.loads(zf.read("model_args.json")) == MODEL_ARGS
        events = json.loads(zf.read("events.json"))
        manifest = json.loads(zf.read(MANIFEST))
    assert [(e["kind"], e["step"]) for e in events] == [("sample", 299), ("layer_stats", 299)]
    assert events[0]["payload"]["text"] == "def f(x):\n    return x"
    assert manifest["run"] == "alpha" and manifest["name"] == "first" and not manifest["checkpoint_included"]


def test_checkpoint_only_when_asked(run_dir, tmp_path, capsys):
    assert main(["archive", "alpha", "--runs", str(run_dir.parent), "--out", str(tmp_path / "a.zip"),
                 "--checkpoint"]) == 0
    assert main(["import", str(tmp_path / "a.zip"), "--runs", str(tmp_path), "--name", "alpha-copy"]) == 0
    assert "imported" in capsys.readouterr().out
    assert (tmp_path / "alpha-copy" / "ckpt.pt").read_bytes() == (run_dir / "ckpt.pt").read_bytes()
    assert exports(tmp_path / "alpha-copy")[0] == exports(run_dir)[0].replace("\nalpha,", "\nalpha-copy,")


def test_an_existing_run_is_never_overwritten(run_dir, tmp_path):
    archive = write_archive(run_dir, tmp_path / "a.zip")
    before = (run_dir / "metrics.sqlite").read_bytes()
    with pytest.raises(ArchiveError, match="run 'alpha' already exists in .*--name NEW"):
        import_archive(archive, run_dir.parent)
    assert (run_dir / "metrics.sqlite").read_bytes() == before


def evil_archive(path: Path, good: Path, member: str, data: bytes = b"x", symlink: bool = False) -> Path:
    """A copy of a good archive with one more member (listed in the manifest, so only the name is wrong)."""
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        manifest = json.loads(src.read(MANIFEST))
        manifest["files"][member] = {"size": len(data), "sha256": "0" * 64}
        for info in src.infolist():
            if info.filename != MANIFEST:
                dst.writestr(info, src.read(info.filename))
        dst.writestr(MANIFEST, json.dumps(manifest))
        info = zipfile.ZipInfo(member)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        dst.writestr(info, data)
    return path


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "run/../../evil.txt", "run/.hidden",
                                    "run\\..\\evil.txt", "evil.txt", "run/a/../../../evil.txt", "run/"])
def test_path_traversal_and_names_not_allowed_are_refused(run_dir, tmp_path, member):
    archive = evil_archive(tmp_path / "evil.zip", write_archive(run_dir, tmp_path / "good.zip"), member)
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(ArchiveError, match="refusing archive member"):
        import_archive(archive, target)
    assert listing(target) == [] and not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_a_symlink_member_is_refused(run_dir, tmp_path):
    archive = evil_archive(tmp_path / "evil.zip", write_archive(run_dir, tmp_path / "good.zip"), "run/link",
                           b"/etc/passwd", symlink=True)
    with pytest.raises(ArchiveError, match="not a regular file"):
        import_archive(archive, tmp_path)


@pytest.mark.parametrize("name", ["../up", ".hidden", "a/b", "..", "/abs", "x" * 300])
def test_run_names_not_allowed_are_refused(run_dir, tmp_path, name):
    archive = write_archive(run_dir, tmp_path / "a.zip")
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(ArchiveError, match="refusing run name"):
        import_archive(archive, target, name=name)
    assert listing(target) == []


def test_a_damaged_member_leaves_nothing_behind(run_dir, tmp_path):
    good = write_archive(run_dir, tmp_path / "good.zip")
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "bad.zip", "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "run/layers/hist-0300.json":
                data = data.replace(b"3", b"4")
            dst.writestr(info, data)
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(ArchiveError, match="'run/layers/hist-0300.json' is damaged"):
        import_archive(tmp_path / "bad.zip", target)
    assert listing(target) == []


def test_not_an_archive_is_one_line(tmp_path, capsys):
    (tmp_path / "notes.zip").write_text("hello")
    assert main(["import", str(tmp_path / "notes.zip"), "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "as a zip archive" in err and err.count("\n") == 1


def test_archive_out_refuses_the_runs_directory(run_dir, capsys):
    assert main(["archive", "alpha", "--runs", str(run_dir.parent), "--out", str(run_dir.parent / "a.zip")]) == 2
    assert "inside the runs directory" in capsys.readouterr().err and not (run_dir.parent / "a.zip").exists()


def test_archive_of_a_run_being_written_is_consistent(runs_dir, tmp_path):
    run = Run(runs_dir / "live", config=CONFIG)
    try:
        for step in range(2000):
            run.log({"train/loss": 1.0 / (step + 1)}, step=step)
            if step == 1000:
                assert run.flush(10)
                archive = write_archive(runs_dir / "live", tmp_path / "live.zip")
    finally:
        run.finish()
    imported = import_archive(archive, tmp_path)
    _, text = export_runs([imported], "csv")
    steps = [int(line.split(",")[2]) for line in text.splitlines()[1:]]
    assert steps[:1001] == list(range(1001)) and steps == list(range(len(steps)))
