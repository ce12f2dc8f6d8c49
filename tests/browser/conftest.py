"""Real headless Chromium (Debian's), driven by Playwright. Skips without Chromium; fails in CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        message = "Chromium not found: install Debian's chromium (apt-get install -y chromium) to run browser tests"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    from browsing import Page

    pages = []

    def factory(**kwargs):
        page = Page(browser, **kwargs)
        pages.append(page)
        return page

    yield factory
    for page in pages:
        page.close()


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory):
    """Three real train.py runs that differ only in learning rate (and out_dir), and a server on them: (port, runs_dir)."""
    from helpers import free_port, register_assets, run_train, start_server, stop_process

    runs_dir = tmp_path_factory.mktemp("trained") / "runs"
    runs_dir.mkdir()
    for name, lr in (("lr-a", "1e-3"), ("lr-b", "3e-3"), ("lr-c", "6e-3")):
        done = run_train(runs_dir / name, "--max_iters=80", f"--learning_rate={lr}", "--dashboard_autostart=False",
                         env={"NANOGPT_DASH_SYSTEM_INTERVAL_S": "0.2"})  # a tiny run lasts a few seconds
        assert done.returncode == 0, done.stderr[-2000:]
    port = free_port()
    proc = start_server(runs_dir, port)
    register_assets(port)
    yield port, runs_dir
    stop_process(proc)


@pytest.fixture
def context(browser):
    """A browser context of its own per test (a colour scheme, reduced motion), closed afterwards."""
    contexts = []

    def factory(**options):
        ctx = browser.new_context(**{"viewport": {"width": 1440, "height": 900}, **options})
        contexts.append(ctx)
        return ctx

    yield factory
    for ctx in contexts:
        ctx.close()
