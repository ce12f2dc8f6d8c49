"""A wheel built from the repository, installed into a fresh virtualenv, serves a page that updates."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile

import httpx
import pytest

from nanogpt_dash.tracking import Run

from helpers import REPO, free_port, stop_process, wait_for_health


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(REPO)], check=True, cwd=out)
    return next(out.glob("nanogpt_dash-*.whl"))


def test_the_wheel_ships_the_assets_inside_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for script in ("push.js", "charts.js", "kpis.js", "ngd.js", "app.css"):
        assert f"nanogpt_dash/assets/{script}" in names, script


def test_an_installed_copy_serves_its_scripts_from_another_directory(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    # the dependencies come from this interpreter (no network); nanogpt_dash itself only from the wheel
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with Run(elsewhere / "runs" / "a") as run:
        run.log({"train/loss": 1.0}, step=0)
    port = free_port()
    proc = subprocess.Popen([str(python), "-m", "nanogpt_dash", "--runs", "runs", "--port", str(port)], cwd=elsewhere,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        health = wait_for_health(port)
        assert health["runs"] == 1
        located = subprocess.run([str(python), "-c", "import nanogpt_dash; print(nanogpt_dash.__file__)"],
                                 cwd=elsewhere, capture_output=True, text=True, check=True).stdout
        assert str(env_dir) in located, "the installed copy, not the checkout, is the one serving"
        page = httpx.get(f"http://127.0.0.1:{port}/").text
        for script in ("push.js", "charts.js", "ngd.js"):
            assert script in page
            assert httpx.get(f"http://127.0.0.1:{port}/assets/{script}").status_code == 200, script
    finally:
        stop_process(proc)
