"""The frame around every page: navbar with page links, connection badge, update rate, and the
push channel every page shares (see ui/pages/__init__.py for the contract, ui/push.py for push)."""

from __future__ import annotations

import uuid
from functools import partial
from types import ModuleType

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Dash, Input, Output, State, ctx, dcc, html, set_props

from ..live import LiveStore
from . import export_menu, ids
from .live_charts import number_in
from .pages.analysis import RunAnalyses
from .push import Channel, ClientView, Push, PushFunction, run_pusher

DEFAULT_RATE_HZ = 5  # assets/push.js uses the same two numbers (a test checks)
MAX_RATE_HZ = 10


def layout(pages: tuple[ModuleType, ...]) -> html.Div:
    """The shell; a new tab id on every page load, so that each tab has its own push channel."""
    rate = dbc.InputGroup([
        # a <label> styled as Bootstrap's input-group text: the select's accessible name
        html.Label("updates/s", htmlFor=ids.RATE, className="input-group-text"),
        dbc.Select(id=ids.RATE, value=str(DEFAULT_RATE_HZ),
                   options=[{"label": str(hz), "value": str(hz)} for hz in range(1, MAX_RATE_HZ + 1)]),
    ], size="sm", className="ngd-rate")
    theme = dbc.InputGroup([
        html.Label("theme", htmlFor=ids.THEME, className="input-group-text"),
        dbc.Select(id=ids.THEME, value="auto", options=[{"label": "auto", "value": "auto"},
                                                        {"label": "light", "value": "light"},
                                                        {"label": "dark", "value": "dark"}]),
    ], size="sm", className="ngd-rate")
    links = html.Nav(dbc.Nav([dbc.NavItem(dbc.NavLink(page.NAME, href=page.PATH, id=ids.nav(page.PATH), active="exact"))
                              for page in sorted(pages, key=lambda p: p.ORDER)], navbar=True, className="ngd-nav"),
                     className="me-auto", **{"aria-label": "pages"})
    # landmarks: a banner (<header>) holding the page links (<nav>), then <main>
    navbar = html.Header(dbc.Navbar(dbc.Container([
        dbc.NavbarBrand("nanogpt_dash", className="fw-bold"),
        links,
        html.Div([export_menu.layout(),
                  dbc.Badge("connecting", id=ids.CONNECTION, color="secondary", className="ngd-connection"), rate, theme],
                 className="d-flex align-items-center flex-wrap gap-2 ngd-tools"),
    ], fluid=True), color="dark", dark=True, tag="div", role="none"), className="mb-3")
    return html.Div([
        dcc.Store(id=ids.TAB, data=uuid.uuid4().hex),
        dcc.Location(id=ids.URL, refresh=False),
        dcc.Store(id=ids.VIEW),
        # the server's one update per push and heartbeat (ui/push.py); assets/push.js takes it from
        # Dash's WebSocket worker, and puts the tab's cursor here when the connection comes back
        dcc.Store(id=ids.FEED),
        dcc.Store(id=ids.VISIBLE, data=True),
        dcc.Store(id=ids.DATA),
        dcc.Store(id=ids.QUERY),
        dcc.Store(id=ids.RECONNECT),
        dcc.Store(id=ids.THEME_APPLIED),  # light or dark, as shown; assets/theme.js keeps it current
        html.Div(id=ids.MEMORY),
        html.Div(id=ids.NOTICE, role="alert"),
        html.A("Skip to content", href=f"#{ids.MAIN}", className="visually-hidden-focusable ngd-skip"),
        navbar,
        html.Main(dash.page_container, id=ids.MAIN, tabIndex="-1"),
    ])


def register(app: Dash, store: LiveStore, pages: tuple[ModuleType, ...], analyses: RunAnalyses) -> Channel:
    """The shell's callbacks: one pusher per tab, the browser's view into the channel, the URL."""
    export_menu.register(app, store)
    channel = Channel(store)
    # a page's push gets the app's shared analyses; made once, so that tabs of a page can share rounds
    pushers = {page.PATH: partial(page.push, analyses=analyses) if hasattr(page, "push") else data_push
               for page in pages}

    def push_for(view: dict | None) -> PushFunction:
        page = view.get("page") if isinstance(view, dict) else None
        return pushers.get(page, data_push) if isinstance(page, str) else data_push

    # Started by the page load (no Input, no Output) and again by Dash after every reconnect,
    # with the tab's latest view and cursor: it runs for as long as the tab's WebSocket is open.
    @app.callback(State(ids.TAB, "data"), State(ids.VIEW, "data"), State(ids.RATE, "value"),
                  State(ids.VISIBLE, "data"), State(ids.FEED, "data"), persistent=True)
    async def pusher(tab, view, rate, visible, feed):
        ws = ctx.websocket
        if ws is None or not isinstance(tab, str):
            return
        cursor = feed.get("cursor") if isinstance(feed, dict) and isinstance(feed.get("cursor"), dict) else None
        await run_pusher(channel, tab, client_view(view, rate, visible), cursor, push_for,
                         lambda component, props: set_props(component, props), store, lambda: ws.is_shutdown)

    @app.callback(Input(ids.VIEW, "data"), Input(ids.RATE, "value"), Input(ids.VISIBLE, "data"),
                  State(ids.TAB, "data"))
    def follow(view, rate, visible, tab):
        if isinstance(tab, str):
            channel.update(tab, client_view(view, rate, visible))

    # assets/push.js sets RECONNECT when no heartbeat came for a while: sending any callback makes
    # Dash's WebSocket worker connect again after it gave up retrying
    @app.callback(Input(ids.RECONNECT, "data"), prevent_initial_call=True)
    def reconnect(_n):
        return None

    # A page tells the pusher its view when it loads; when one does not (Dash does not always run
    # a page's initial callbacks after an in-app navigation), the pusher at least learns the page.
    app.clientside_callback(
        ClientsideFunction("ngd", "followPage"),
        Output(ids.VIEW, "data", allow_duplicate=True),
        Input(ids.URL, "pathname"), State(ids.VIEW, "data"),
        prevent_initial_call=True,
    )

    # the colour theme: the system's (auto) or the one chosen here, remembered by the browser;
    # applied in the browser only (CSS, charts included), nothing is sent again (assets/theme.js)
    app.clientside_callback(ClientsideFunction("ngdTheme", "choose"), Output(ids.THEME, "value"), Input(ids.THEME, "value"))

    # the view in the address bar (replaceState: no reload, no new history entry per slider move)
    # and in the navbar links, so that moving to another page keeps the selected runs
    paths = [page.PATH for page in sorted(pages, key=lambda p: p.ORDER)]
    app.clientside_callback(
        ClientsideFunction("ngd", "syncUrl"),
        [Output(ids.nav(path), "href") for path in paths],
        Input(ids.QUERY, "data"),
    )
    return channel


def client_view(view: object, rate: object, visible: object) -> ClientView:
    """What the browser says of a tab, checked: anything malformed falls back to a default."""
    return ClientView(view=view if isinstance(view, dict) else None,
                      rate_hz=number_in(rate, 1.0, MAX_RATE_HZ, DEFAULT_RATE_HZ), visible=visible is not False)


def data_push(store: LiveStore, view: dict, cursor: dict | None, scratch: dict) -> Push:
    """The push of a page without its own: ids.DATA, whenever a run changed."""
    data = runs_signal(store)
    shown = cursor.get("data") if isinstance(cursor, dict) and cursor.get("page") == view.get("page") else None
    if data == shown:
        return Push(cursor=cursor)
    return Push(props={ids.DATA: {"data": data}}, cursor={"page": view.get("page"), "data": data})


def runs_signal(store: LiveStore) -> dict:
    """What ids.DATA holds: per run, its version, the rows read so far and its status."""
    runs = {}
    for run_id in store.run_ids():
        run = store.get(run_id)
        if run is not None:
            runs[run_id] = {"version": run.version, "rows": run.cursor, "status": store.status(run_id)}
    return {"runs": runs}
