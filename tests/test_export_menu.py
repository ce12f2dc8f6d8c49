"""ui/export_menu.perform: every action of the export menu on a view, as the callbacks call it."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from pathlib import Path

import pytest

from nanogpt_dash.export import ExportQuery, export_runs
from nanogpt_dash.images import Renderer, chromium_path
from nanogpt_dash.live import LiveStore
from nanogpt_dash.snapshot import load_snapshot
from nanogpt_dash.tracking import Run
from nanogpt_dash.ui.export_menu import perform, safe_filename


@pytest.fixture
def store(runs_dir: Path) -> LiveStore:
    with Run(runs_dir / "alpha", name="first", config={"max_iters": 100}) as run:
        for step in range(100):
            run.log({"train/loss": 3 - step / 50, "lr": 1e-3, "extra": float(step)}, step=step)
        run.event("sample", {"text": "abc"}, step=99)
    store = LiveStore(runs_dir)
    store.poll()
    return store


def unpack(download: dict) -> bytes:
    return base64.b64decode(download["content"]) if download.get("base64") else download["content"].encode()


def test_data_download_is_the_export_of_the_view(store, runs_dir):
    query = {"runs": "alpha", "zoom_loss": "10,20"}
    outcome = perform("data", {"data_format": "csv", "data_flags": ["range", "superseded"]}, query, store, None)
    assert outcome.ok and outcome.download["filename"] == "alpha.csv"
    expected = export_runs([runs_dir / "alpha"], "csv", ExportQuery(keys=("train/loss", "val/loss", "train/eval_loss",
                                                                          "lr", "grad_norm", "tokens_per_sec"),
                                                                    x_range=(10.0, 20.0)))[1]
    assert unpack(outcome.download).decode() == expected
    rows = list(csv.DictReader(io.StringIO(expected)))
    assert {r["key"] for r in rows} == {"train/loss", "lr"} and {int(r["step"]) for r in rows} == set(range(10, 21))
    every = perform("data", {"data_format": "json", "data_form": "wide", "data_flags": ["all"]}, query, store, None)
    assert "extra" in json.loads(unpack(every.download))["columns"]


def test_without_a_selected_run_the_message_says_what_to_do(store):
    outcome = perform("data", {}, {"runs": ""}, store, None)
    assert not outcome.ok and outcome.text == "Could not export the data: no run is selected in this view: select a run first"


def test_a_figure_failure_names_the_cause_and_the_retry_works(store):
    real = chromium_path() if Path("/usr/bin/chromium").exists() else pytest.skip("no Chromium")
    renderer = Renderer(tabs=1, chromium="/nonexistent/chromium")
    options = {"fig_chart": "loss", "fig_format": "svg", "fig_width": "640", "fig_height": "400"}
    try:
        failed = perform("figure", options, {"runs": "alpha"}, store, renderer)
        assert not failed.ok and failed.text.startswith("Could not make the figure: cannot start Chromium "
                                                        "(/nonexistent/chromium)")
        renderer.chromium = real
        retried = perform("figure", options, {"runs": "alpha"}, store, renderer)
        assert retried.ok and retried.download["filename"] == "alpha-loss.svg"
        assert b'viewBox="0 0 640 400"' in unpack(retried.download)
    finally:
        renderer.stop()


def test_bad_figure_options_are_named(store):
    outcome = perform("figure", {"fig_width": "wide"}, {"runs": "alpha"}, store, None)
    assert outcome.text == "Could not make the figure: width must be a number, not 'wide'"
    outcome = perform("figure", {"fig_chart": "../etc"}, {"runs": "alpha"}, store, None)
    assert "unknown chart '../etc'" in outcome.text


def test_snapshot_gives_a_link_to_a_frozen_view(store, runs_dir):
    outcome = perform("snapshot", {}, {"runs": "alpha", "log": "1"}, store, None)
    assert outcome.ok and outcome.link.startswith("/snapshot/")
    content = load_snapshot(runs_dir, outcome.link.rsplit("/", 1)[1])
    assert content.query == {"runs": "alpha", "log": "1"} and content.runs[0].sample == "abc"


def test_report_is_one_html_file(store):
    outcome = perform("report", {}, {"runs": "alpha"}, store, None)
    html_text = unpack(outcome.download).decode()
    assert outcome.download["filename"] == "alpha-report.html" and html_text.startswith("<!DOCTYPE html>")
    assert "<script src" not in html_text and "first" in html_text


def test_archive_download_and_import_from_the_page_round_trip(store, runs_dir):
    archive = perform("archive", {"archive_run": "alpha"}, {"runs": "alpha"}, store, None)
    assert archive.ok and archive.download["filename"] == "alpha.zip"
    data = unpack(archive.download)
    assert "run/metrics.sqlite" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    upload = "data:application/zip;base64," + base64.b64encode(data).decode()
    again = perform("import", {"import_contents": upload}, {}, store, None)
    assert not again.ok and "run 'alpha' already exists" in again.text
    copied = perform("import", {"import_contents": upload, "import_name": "alpha-2"}, {}, store, None)
    assert copied.ok and "Imported as run 'alpha-2'" in copied.text
    assert export_runs([runs_dir / "alpha-2"], "json")[1].replace("alpha-2", "alpha") == \
        export_runs([runs_dir / "alpha"], "json")[1]


def test_import_refuses_names_and_files_that_are_not_allowed(store, runs_dir):
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("../../evil.txt", "x")
    upload = "data:application/zip;base64," + base64.b64encode(zipped.getvalue()).decode()
    assert "no manifest.json" in perform("import", {"import_contents": upload}, {}, store, None).text
    assert "choose a .zip archive" in perform("import", {"import_contents": None}, {}, store, None).text
    bad = perform("import", {"import_contents": "data:application/zip;base64,@@@"}, {}, store, None)
    assert "could not be read" in bad.text
    assert sorted(p.name for p in runs_dir.iterdir()) == ["alpha"]


def test_archive_of_a_run_deleted_meanwhile_says_so(store):
    outcome = perform("archive", {"archive_run": "gone"}, {"runs": "alpha"}, store, None)
    assert not outcome.ok and "run 'gone' is not in" in outcome.text


def test_file_names_from_run_ids_are_plain():
    assert safe_filename("../a b/c") == "a_b_c" and safe_filename("...") == "export"
    assert safe_filename("-".join(["run"] * 100)) == "run-" * 20


@pytest.mark.parametrize("options", [
    {"data_format": ["csv"], "data_flags": "range", "data_form": {"x": 1}},
    {"fig_width": [1], "fig_format": None, "fig_scale": "nan"},
    {"fig_chart": ["loss"], "fig_theme": 3},
    {"archive_run": ["alpha"], "archive_flags": 7, "import_name": ["x"], "import_contents": 12},
    "not a dict",
])
@pytest.mark.parametrize("query", [{"runs": ["alpha"] * 3, "smooth": "abc", "zoom_loss": "a,b"}, ["alpha"], None])
def test_malformed_options_and_queries_give_a_message_never_an_exception(store, options, query):
    for action in ("data", "figure", "archive", "import", "snapshot", "report", "nonsense"):
        outcome = perform(action, options, query, store, None)
        assert isinstance(outcome.text, str) and outcome.text


def test_a_run_deleted_meanwhile_is_named(store, runs_dir):
    import shutil

    shutil.rmtree(runs_dir / "alpha")
    outcome = perform("data", {}, {"runs": "alpha"}, store, None)
    assert not outcome.ok and outcome.text.startswith("Could not export the data: no run file at")
    assert "is " in outcome.text and "a run directory?" in outcome.text
