"""The export menu in real Chromium: each download button delivers its file; a snapshot opens read-only."""

from __future__ import annotations

import csv
import io
import json
import math
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from nanogpt_dash.tracking import Run

from helpers import free_port, start_server, stop_process


@pytest.fixture
def runs_dir(runs_dir: Path) -> Path:
    with Run(runs_dir / "alpha", name="lr 6e-4", config={"max_iters": 200}, model_args={"n_layer": 2}) as run:
        for step in range(200):
            run.log({"train/loss": 3 * math.exp(-step / 80), "lr": 6e-4, "grad_norm": 1.0,
                     "tokens_per_sec": 1000.0}, step=step)
        run.event("sample", {"text": "def hello():"}, step=199)
    return runs_dir


def open_menu(view, port: int):
    view.page.goto(f"http://127.0.0.1:{port}/?runs=alpha")
    view.wait_until(lambda: view.points() > 0, what="the loss chart")
    view.page.click("#export-open")
    view.page.wait_for_selector("#export-modal .modal-body", state="visible")


def download(view, button: str, tmp: Path) -> Path:
    with view.page.expect_download(timeout=60_000) as info:
        view.page.click(f"#{button}")
    path = tmp / info.value.suggested_filename
    info.value.save_as(path)
    return path


def test_each_download_button_delivers_its_file(server, open_page, tmp_path):
    port, _ = server
    view = open_page()
    open_menu(view, port)
    data = download(view, "export-data", tmp_path)
    assert data.name == "alpha.csv"
    assert len([r for r in csv.DictReader(io.StringIO(data.read_text())) if r["key"] == "train/loss"]) == 200

    view.page.click("#export-fig-format >> text=svg")
    figure = download(view, "export-figure", tmp_path)
    assert figure.name == "alpha-loss.svg" and ET.parse(figure).getroot().get("viewBox") == "0 0 900 500"

    report = download(view, "export-report", tmp_path)
    assert report.name == "alpha-report.html" and "def hello():" in report.read_text()

    archive = download(view, "export-archive", tmp_path)
    assert archive.name == "alpha.zip"
    assert json.loads(zipfile.ZipFile(archive).read("manifest.json"))["run"] == "alpha"
    assert view.errors == []


def test_a_snapshot_link_opens_a_read_only_page_that_survives_a_restart(runs_dir, open_page):
    port = free_port()
    server = start_server(runs_dir, port)
    try:
        view = open_page()
        open_menu(view, port)
        view.page.click("#export-snapshot")
        link = view.page.wait_for_selector("#export-snapshot-link", timeout=30_000).get_attribute("href")
        assert link.startswith("/snapshot/") and len(link) == len("/snapshot/") + 32
    finally:
        stop_process(server)
    with Run(runs_dir / "alpha", resume_step=200) as run:  # the run goes on while the server is down
        run.log({"train/loss": 9.0}, step=200)
    server = start_server(runs_dir, port)
    try:
        snap = open_page()
        snap.page.goto(f"http://127.0.0.1:{port}{link}")
        snap.page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length == 4", timeout=30_000)
        banner = snap.page.inner_text(".ngd-snapshot-banner")
        assert f"ssh -L {port}:127.0.0.1:{port}" in banner and "Read-only snapshot" in banner
        steps = snap.page.evaluate("document.querySelector('.js-plotly-plot').data[0].x.length")
        assert steps == 200 and "199 / 200" in snap.page.inner_text(".ngd-report-run")
        assert snap.errors == []
    finally:
        stop_process(server)


def test_a_failed_import_names_the_cause_and_offers_a_retry(server, open_page, tmp_path):
    port, _ = server
    view = open_page()
    open_menu(view, port)
    bad = tmp_path / "notes.zip"
    bad.write_text("not a zip")
    view.page.set_input_files("#export-upload input[type=file]", str(bad))
    view.page.wait_for_selector("#export-alert.alert-danger", timeout=30_000)
    assert "Could not import the archive: cannot read 'notes.zip' as a zip archive" in view.page.inner_text("#export-message")
    assert view.page.is_visible("#export-retry")


def test_retry_runs_the_failed_action_again_with_the_options_now_set(runs_dir, server, open_page, tmp_path):
    from nanogpt_dash.archive import write_archive

    port, _ = server
    archive = write_archive(runs_dir / "alpha", tmp_path / "alpha.zip")
    view = open_page()
    open_menu(view, port)
    view.page.set_input_files("#export-upload input[type=file]", str(archive))
    view.page.wait_for_selector("#export-alert.alert-danger", timeout=30_000)
    assert "run 'alpha' already exists" in view.page.inner_text("#export-message")
    view.page.fill("#export-import-name", "alpha-copy")
    view.page.click("#export-retry")
    view.page.wait_for_selector("#export-alert.alert-success", timeout=30_000)
    assert "Imported as run 'alpha-copy'" in view.page.inner_text("#export-message")
    assert not view.page.is_visible("#export-retry") and (runs_dir / "alpha-copy" / "metrics.sqlite").is_file()
