"""The Dash app: the shell, its pages and their callbacks, on FastAPI with callbacks over a WebSocket."""

from __future__ import annotations

import logging
from pathlib import Path

import dash
from dash import Dash
from dash.exceptions import PreventUpdate

from ..live import LiveStore
from . import shell
from .pages import PAGES
from .pages.analysis import RunAnalyses


def assets_folder() -> Path:
    """assets/ beside the package in a source checkout, or inside it once installed (setup.cfg ships it there)."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "assets"
    return installed if installed.is_dir() else package.parent / "assets"


ASSETS = assets_folder()
log = logging.getLogger(__name__)
# the stored choice (assets/theme.js writes it), else the system's preference
THEME_BEFORE_PAINT = """<script>(function () {
            var chosen = null;
            try { chosen = window.localStorage.getItem("ngd-theme"); } catch (e) {}
            var dark = chosen === "dark" || (chosen !== "light" && window.matchMedia("(prefers-color-scheme: dark)").matches);
            document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
        })();</script>"""
IDLE_TIMEOUT_S = 600.0  # a hidden tab's WebSocket closes after this; it reconnects when shown


def build_app(store: LiveStore, stylesheets: list[str], inactivity_timeout_ms: int = int(IDLE_TIMEOUT_S * 1000)) -> Dash:
    """A Dash app over `store` with every page of ui/pages registered, sharing one RunAnalyses."""
    app = Dash(
        __name__,
        backend="fastapi",
        websocket_callbacks=True,
        websocket_max_workers=8,
        # Visible tabs get a heartbeat every 1.5 s (ui/push.py), so only a hidden tab, which is
        # sent nothing, ever reaches this; Dash reconnects it when it is shown again.
        websocket_inactivity_timeout=inactivity_timeout_ms,
        # the worker checks for inactivity when it sends a heartbeat
        websocket_heartbeat_interval=min(30_000, max(1000, inactivity_timeout_ms // 3)),
        use_pages=True,
        pages_folder="",
        suppress_callback_exceptions=True,  # each page's components exist only while it is shown
        external_stylesheets=stylesheets,
        assets_folder=str(ASSETS),
        title="nanogpt_dash",
        update_title=None,
        on_error=callback_failed,
    )
    # the page's language, for screen readers' pronunciation (WCAG 3.1.1), and its colour theme
    # before the first paint (no white flash on a dark system)
    app.index_string = (app.index_string.replace("<html>", '<html lang="en">', 1)
                        .replace("{%css%}", "{%css%}\n        " + THEME_BEFORE_PAINT, 1))
    for page in PAGES:
        _register_page(page)
    app.layout = lambda: shell.layout(PAGES)
    analyses = RunAnalyses(store)  # each run's anomaly detector and analysis, computed once for every page and tab
    shell.register(app, store, PAGES, analyses)
    for page in PAGES:
        page.register(app, store, analyses)
    return app


def callback_failed(error: Exception) -> None:
    """A callback raised: say so in one line and change nothing (the page keeps what it shows).

    Callbacks check what the browser sends; this is for what they did not foresee, so that no
    request ever gets a 500 or leaves a traceback in the log."""
    log.warning("nanogpt_dash: a callback could not use what it was sent (%s: %s); nothing was changed",
                type(error).__name__, error)
    log.debug("callback failure", exc_info=error)
    raise PreventUpdate


def _register_page(page) -> None:
    kwargs = dict(path=page.PATH, name=page.NAME, order=page.ORDER, layout=page.layout, title=f"{page.NAME} · nanogpt_dash")
    try:
        dash.register_page(page.__name__, **kwargs)
    except LookupError:
        # register_page reads a context variable that Dash sets only in the thread that imported it
        from dash._callback_context import context_value

        context_value.set({})
        dash.register_page(page.__name__, **kwargs)
