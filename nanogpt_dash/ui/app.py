"""The Dash app: the shell, its pages and their callbacks, on FastAPI with callbacks over a WebSocket."""

from __future__ import annotations

from pathlib import Path

import dash
from dash import Dash

from ..live import LiveStore
from . import shell
from .pages import PAGES
from .pages.live import RENDERER_HOOKS

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def build_app(store: LiveStore, stylesheets: list[str]) -> Dash:
    """A Dash app over `store` with every page of ui/pages registered."""
    app = Dash(
        __name__,
        backend="fastapi",
        websocket_callbacks=True,
        websocket_max_workers=8,
        use_pages=True,
        pages_folder="",
        suppress_callback_exceptions=True,  # each page's components exist only while it is shown
        external_stylesheets=stylesheets,
        assets_folder=str(ASSETS),
        title="nanogpt_dash",
        update_title=None,
        hooks=RENDERER_HOOKS,
    )
    for page in PAGES:
        dash.register_page(page.__name__, path=page.PATH, name=page.NAME, order=page.ORDER, layout=page.layout,
                           title=f"{page.NAME} · nanogpt_dash")
    app.layout = lambda: shell.layout(PAGES)
    shell.register(app, store, PAGES)
    for page in PAGES:
        page.register(app, store)
    return app
