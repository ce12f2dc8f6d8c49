"""The frame around every page: navbar with page links, connection badge, update rate, and the
stores every page shares (see ui/pages/__init__.py for the contract)."""

from __future__ import annotations

import uuid
from types import ModuleType

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from ..live import LiveStore
from . import ids

DEFAULT_RATE_HZ = 5  # assets/shell.js uses the same two numbers (a test checks)
MAX_RATE_HZ = 10


def layout(pages: tuple[ModuleType, ...]) -> html.Div:
    """The shell; a new tab id on every page load, so that each tab has its own push channel."""
    rate = dbc.InputGroup([
        dbc.InputGroupText("updates/s"),
        dbc.Select(id=ids.RATE, value=str(DEFAULT_RATE_HZ),
                   options=[{"label": str(hz), "value": str(hz)} for hz in range(1, MAX_RATE_HZ + 1)]),
    ], size="sm", className="ngd-rate")
    links = dbc.Nav([dbc.NavItem(dbc.NavLink(page.NAME, href=page.PATH, id=ids.nav(page.PATH), active="exact"))
                     for page in sorted(pages, key=lambda p: p.ORDER)], navbar=True, className="me-auto ngd-nav")
    navbar = dbc.Navbar(dbc.Container([
        dbc.NavbarBrand("nanogpt_dash", className="fw-bold"),
        links,
        html.Div([dbc.Badge("connecting", id=ids.CONNECTION, color="secondary", className="me-3 ngd-connection"), rate],
                 className="d-flex align-items-center"),
    ], fluid=True), color="dark", dark=True, className="mb-3", tag="header")
    return html.Div([
        dcc.Store(id=ids.TAB, data=uuid.uuid4().hex),
        dcc.Store(id=ids.DATA),
        dcc.Store(id=ids.QUERY),
        # once a second: run lists, the connection badge, the chart width and the heap check
        dcc.Interval(id=ids.WATCH, interval=1000),
        navbar,
        html.Main(dash.page_container),
    ])


def register(app: Dash, store: LiveStore, pages: tuple[ModuleType, ...]) -> None:
    @app.callback(Output(ids.DATA, "data"), Input(ids.WATCH, "n_intervals"), State(ids.DATA, "data"))
    def data_versions(_n, shown):
        data = runs_signal(store)
        return no_update if data == shown else data

    # the view in the address bar (replaceState: no reload, no new history entry per slider move)
    # and in the navbar links, so that moving to another page keeps the selected runs
    paths = [page.PATH for page in sorted(pages, key=lambda p: p.ORDER)]
    app.clientside_callback(
        ClientsideFunction("ngd", "syncUrl"),
        [Output(ids.nav(path), "href") for path in paths],
        Input(ids.QUERY, "data"),
    )


def runs_signal(store: LiveStore) -> dict:
    """What ids.DATA holds: per run, its version, the rows read so far and its status."""
    runs = {}
    for run_id in store.run_ids():
        run = store.get(run_id)
        if run is not None:
            runs[run_id] = {"version": run.version, "rows": run.cursor, "status": store.status(run_id)}
    return {"runs": runs}
