"""snapshot.py: frozen views under <runs>/.snapshots/<token>/, unchanged while runs go on, listed and deletable."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from nanogpt_dash.live import LiveStore
from nanogpt_dash.snapshot import (FOLDER, SnapshotError, create_snapshot, delete_snapshot, list_snapshots,
                                   load_snapshot, snapshot_data, snapshot_dir)
from nanogpt_dash.tracking import Run

CONFIG = {"batch_size": 4, "block_size": 8, "gradient_accumulation_steps": 1, "max_iters": 1000}


def loaded(runs_dir: Path) -> LiveStore:
    store = LiveStore(runs_dir)
    store.poll()
    return store


@pytest.fixture
def live_run(runs_dir: Path):
    run = Run(runs_dir / "alpha", name="lr 6e-4", config=CONFIG, model_args={"n_layer": 2})
    for step in range(100):
        run.log({"train/loss": 3 - step / 100, "lr": 6e-4}, step=step)
    run.event("sample", {"text": "hello world"}, step=99)
    assert run.flush(10)
    yield run
    run.finish()


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_snapshot_freezes_the_view_and_its_data_and_does_not_change_as_the_run_goes_on(runs_dir, live_run):
    store = loaded(runs_dir)
    token = create_snapshot(store, {"runs": "alpha", "smooth": "0.5", "zoom_loss": "10,50"})
    frozen = folder_bytes(snapshot_dir(runs_dir, token))
    content = load_snapshot(runs_dir, token)
    assert [name for name, _ in content.charts] == ["loss", "lr"]
    loss = json.loads(content.charts[0][1])
    assert loss["layout"]["xaxis"]["range"] == [10.0, 50.0] and loss["data"][1]["meta"]["role"] == "smooth"
    card = content.runs[0]
    assert (card.name, card.sample, card.config, card.model_args) == ("lr 6e-4", "hello world", CONFIG, {"n_layer": 2})
    assert dict(card.numbers)["step"] == "99 / 1,000"
    rows = list(csv.DictReader(io.StringIO(snapshot_data(runs_dir, token).decode())))
    assert len([r for r in rows if r["key"] == "train/loss"]) == 100

    for step in range(100, 200):
        live_run.log({"train/loss": 1.0}, step=step)
    assert live_run.flush(10)
    loaded(runs_dir)
    assert folder_bytes(snapshot_dir(runs_dir, token)) == frozen
    assert load_snapshot(runs_dir, token).runs[0].numbers == card.numbers


def test_snapshots_are_listed_newest_first_and_deletable(runs_dir, live_run):
    store = loaded(runs_dir)
    first = create_snapshot(store, {"runs": "alpha"})
    second = create_snapshot(store, {"runs": "alpha", "log": "1"})
    assert [s.token for s in list_snapshots(runs_dir)] == [second, first]
    assert list_snapshots(runs_dir)[0].runs == ("alpha",)
    delete_snapshot(runs_dir, first)
    assert [s.token for s in list_snapshots(runs_dir)] == [second]
    with pytest.raises(SnapshotError, match="no such snapshot: it was already deleted"):
        delete_snapshot(runs_dir, first)
    assert sorted(p.name for p in (runs_dir / FOLDER).iterdir()) == [second]


def test_tokens_are_unguessable_and_anything_else_is_refused(runs_dir, live_run):
    store = loaded(runs_dir)
    tokens = {create_snapshot(store, {"runs": "alpha"}) for _ in range(3)}
    assert len(tokens) == 3 and all(len(t) == 32 for t in tokens)
    for bad in ["../alpha", "..", "", "a" * 31, "../" + "a" * 29, "a" * 31 + "/", "a" * 31 + "."]:
        with pytest.raises(SnapshotError, match="not a snapshot token"):
            load_snapshot(runs_dir, bad)
        with pytest.raises(SnapshotError, match="not a snapshot token"):
            delete_snapshot(runs_dir, bad)
    assert (runs_dir / "alpha" / "metrics.sqlite").exists()


def test_a_snapshot_without_runs_is_refused_and_leaves_nothing(runs_dir, live_run):
    with pytest.raises(SnapshotError, match="select at least one run"):
        create_snapshot(loaded(runs_dir), {"runs": "nosuch"})
    assert not (runs_dir / FOLDER).exists()


def test_a_snapshot_survives_a_new_store(runs_dir, live_run):
    token = create_snapshot(loaded(runs_dir), {"runs": "alpha"})
    live_run.finish()
    assert load_snapshot(runs_dir, token).runs[0].run_id == "alpha"
    assert [s.token for s in list_snapshots(runs_dir)] == [token]
    assert "alpha" in loaded(runs_dir).run_ids() and ".snapshots" not in loaded(runs_dir).run_ids()
