"""The shell's export menu: data, figures, share link, snapshots, offline report, run archives.

Every action works on the current view (the page's URL query in ids.QUERY) and goes through
`perform`, a plain function from (action, options, view) to an Outcome: a file for dcc.Download,
a snapshot link, or a message naming what went wrong. A failed action can be retried with one
click. State changes (snapshot, delete, import) are Dash callbacks over the WebSocket, whose
Origin Dash checks; the server adds only GET routes (the read-only snapshot pages).
"""

from __future__ import annotations

import atexit
import base64
import binascii
import io
import re
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from ..archive import import_archive, write_archive
from ..errors import NanogptDashError
from ..export import ExportQuery, export_runs
from ..images import IMAGE_FORMATS, ImageOptions, Renderer, chart_by_name, chart_figure, series_from_store, styled
from ..live import LiveStore
from ..report import capture_view, chart_views, render_html
from ..snapshot import SnapshotError, create_snapshot, delete_snapshot, list_snapshots, load_snapshot, snapshot_data
from . import ids
from .figures import CHARTS
from .query import query_runs

ACTIONS = ("data", "figure", "report", "archive", "snapshot", "import")
MAX_DOWNLOAD_BYTES = 256 * 2**20
MIME = {"csv": "text/csv", "json": "application/json", "png": "image/png", "svg": "image/svg+xml",
        "pdf": "application/pdf", "html": "text/html", "zip": "application/zip"}
BUTTONS = {"data": ids.EXPORT_DATA, "figure": ids.EXPORT_FIGURE, "report": ids.EXPORT_REPORT,
           "archive": ids.EXPORT_ARCHIVE, "snapshot": ids.EXPORT_SNAPSHOT}
OPTION_IDS = {
    "data_format": ids.EXPORT_DATA_FORMAT, "data_form": ids.EXPORT_DATA_FORM, "data_flags": ids.EXPORT_DATA_FLAGS,
    "fig_chart": ids.EXPORT_FIG_CHART, "fig_format": ids.EXPORT_FIG_FORMAT, "fig_width": ids.EXPORT_FIG_WIDTH,
    "fig_height": ids.EXPORT_FIG_HEIGHT, "fig_scale": ids.EXPORT_FIG_SCALE, "fig_theme": ids.EXPORT_FIG_THEME,
    "archive_run": ids.EXPORT_ARCHIVE_RUN, "archive_flags": ids.EXPORT_ARCHIVE_FLAGS,
    "import_name": ids.EXPORT_IMPORT_NAME,
}
VERBS = {"data": "export the data", "figure": "make the figure", "report": "make the report",
         "archive": "make the archive", "snapshot": "take the snapshot", "import": "import the archive"}


@dataclass
class Outcome:
    """What an action gave: ok or not, a sentence for the user, maybe a file to download and a link."""

    ok: bool
    text: str
    download: dict | None = None
    link: str | None = None


def safe_filename(text: str) -> str:
    """A file name of at most 80 letters, digits, '.', '_' and '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80].strip("._") or "export"


def _number(options: dict, name: str, default: float, cast: type = int) -> Any:
    value = options.get(name)
    if value in (None, ""):
        return default
    try:
        return cast(float(value)) if cast is int else cast(value)
    except (TypeError, ValueError) as e:
        raise NanogptDashError(f"{name.replace('fig_', '')} must be a number, not {value!r}") from e


def _flags(options: dict, name: str) -> list[str]:
    value = options.get(name)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _download(data: bytes, filename: str) -> dict:
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise NanogptDashError(f"{filename} is {len(data) / 2**20:.0f} MB, more than the page carries "
                               f"({MAX_DOWNLOAD_BYTES // 2**20} MB): use the command line instead")
    return dcc.send_bytes(data, filename, type=MIME.get(filename.rsplit(".", 1)[-1]))


def view_runs(store: LiveStore, query: dict) -> list[str]:
    """The runs of the view that the store knows."""
    return [r for r in query_runs(query or {}) if store.get(r) is not None]


def perform(action: str, options: dict, query: dict, store: LiveStore, renderer: Renderer) -> Outcome:
    """Run one export action on the view of `query`; never raises for a problem the user can act on."""
    if action not in ACTIONS:
        return Outcome(False, f"unknown action {action!r}")
    options = options if isinstance(options, dict) else {}
    query = {k: v for k, v in query.items() if isinstance(v, str)} if isinstance(query, dict) else {}
    try:
        return _perform(action, options, query, store, renderer)
    except NanogptDashError as e:
        return Outcome(False, f"Could not {VERBS[action]}: {e}")
    except OSError as e:
        return Outcome(False, f"Could not {VERBS[action]}: {e.strerror or e} ({getattr(e, 'filename', '') or ''}); "
                              "free some space or fix the folder's permissions, then retry")


def _perform(action: str, options: dict, query: dict, store: LiveStore, renderer: Renderer) -> Outcome:
    runs = view_runs(store, query)
    stem = safe_filename("-".join(runs) or "runs")
    if action == "import":
        return _import(options, store)
    if action == "archive":
        run_id = options.get("archive_run") or (runs[0] if runs else None)
        run = store.get(run_id) if isinstance(run_id, str) else None
        if run is None:
            raise NanogptDashError(f"run {run_id!r} is not in {store.runs_dir}/ any more: pick another run")
        with tempfile.TemporaryDirectory(prefix="nanogpt_dash-archive-") as tmp:
            path = write_archive(run.path, Path(tmp) / "run.zip", checkpoint="checkpoint" in _flags(options, "archive_flags"))
            data = path.read_bytes()
        return Outcome(True, f"Archive of run '{run_id}' ready ({len(data) / 2**20:.1f} MB).",
                       _download(data, f"{safe_filename(run_id)}.zip"))
    if not runs:
        raise NanogptDashError("no run is selected in this view: select a run first")
    if action == "snapshot":
        token = create_snapshot(store, query)
        return Outcome(True, "Snapshot taken: it keeps this view and its data as they are now.", link=f"/snapshot/{token}")
    if action == "report":
        html_text = render_html(capture_view(store, query))
        return Outcome(True, "Report ready: one HTML file that opens without a server or network.",
                       _download(html_text.encode("utf-8"), f"{stem}-report.html"))
    if action == "data":
        fmt = options.get("data_format") or "csv"
        flags = _flags(options, "data_flags")
        zoom = chart_views(query)["loss"].x_range if "range" in flags else None
        keys = None if "all" in flags else tuple(dict.fromkeys(k for c in CHARTS for k in c.keys))
        export_query = ExportQuery(keys=keys, x_axis=chart_views(query)["loss"].x_axis, x_range=zoom,
                                   superseded="superseded" in flags, form=options.get("data_form") or "long")
        count, text = export_runs([store.get(r).path for r in runs], fmt, export_query)
        return Outcome(True, f"{count:,} rows exported.", _download(text.encode("utf-8"), f"{stem}.{fmt}"))
    chart = chart_by_name(options.get("fig_chart") or "loss")
    image = ImageOptions(format=options.get("fig_format") or "png", width=_number(options, "fig_width", 900),
                         height=_number(options, "fig_height", 500), scale=_number(options, "fig_scale", 2.0, float),
                         theme=options.get("fig_theme") or "print")
    image.check()
    series = series_from_store(store, runs, chart.keys)
    if not series:
        raise NanogptDashError(f"the {chart.title} chart has no points in this view: pick another chart")
    figure = styled(chart_figure(chart, series, chart_views(query)[chart.name], image.width), image)
    data = renderer.render(figure, image)
    return Outcome(True, f"{chart.title} as {image.format.upper()} ready.",
                   _download(data, f"{stem}-{chart.name}.{image.format}"))


def _import(options: dict, store: LiveStore) -> Outcome:
    contents = options.get("import_contents")
    if not isinstance(contents, str) or "," not in contents:
        raise NanogptDashError("choose a .zip archive to import")
    try:
        data = base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError) as e:
        raise NanogptDashError(f"the uploaded file could not be read ({e}); choose it again") from e
    name = options.get("import_name")
    name = name.strip() or None if isinstance(name, str) else None
    filename = options.get("import_filename")
    run_dir = import_archive(io.BytesIO(data), store.runs_dir, name,
                             label=repr(filename) if isinstance(filename, str) else "the uploaded file")
    return Outcome(True, f"Imported as run '{run_dir.name}': it appears in the run list within a second.")


def layout() -> html.Div:
    """The export button, its dialog, the download target and the retry memory."""
    def radios(id_: str, values: tuple[str, ...], value: str) -> dbc.RadioItems:
        return dbc.RadioItems(id=id_, value=value, inline=True, className="small",
                              options=[{"label": v, "value": v} for v in values])

    def number(id_: str, label: str, value: float, step: float = 1) -> dbc.InputGroup:
        return dbc.InputGroup([dbc.InputGroupText(label), dbc.Input(id=id_, type="number", value=value, step=step,
                                                                    min=0)], size="sm", className="mb-2")

    data_card = dbc.Card([dbc.CardHeader("Data"), dbc.CardBody([
        radios(ids.EXPORT_DATA_FORMAT, ("csv", "json"), "csv"),
        radios(ids.EXPORT_DATA_FORM, ("long", "wide"), "long"),
        dbc.Checklist(id=ids.EXPORT_DATA_FLAGS, value=["superseded"], className="small my-2", options=[
            {"label": "only the zoomed x range (of the loss chart)", "value": "range"},
            {"label": "include superseded points (flagged)", "value": "superseded"},
            {"label": "every logged metric, not only the charted ones", "value": "all"},
        ]),
        dbc.Button("Download data", id=ids.EXPORT_DATA, color="primary", size="sm"),
    ])], className="h-100")
    figure_card = dbc.Card([dbc.CardHeader("Figure"), dbc.CardBody([
        dbc.Select(id=ids.EXPORT_FIG_CHART, value="loss", size="sm", className="mb-2",
                   options=[{"label": c.title, "value": c.name} for c in CHARTS]),
        radios(ids.EXPORT_FIG_FORMAT, IMAGE_FORMATS, "png"),
        dbc.Row([dbc.Col(number(ids.EXPORT_FIG_WIDTH, "width", 900), xs=6, lg=4),
                 dbc.Col(number(ids.EXPORT_FIG_HEIGHT, "height", 500), xs=6, lg=4),
                 dbc.Col(number(ids.EXPORT_FIG_SCALE, "scale", 2, 0.5), xs=6, lg=4)], className="g-2 mt-1"),
        radios(ids.EXPORT_FIG_THEME, ("print", "screen"), "print"),
        dbc.Button("Download figure", id=ids.EXPORT_FIGURE, color="primary", size="sm", className="mt-2"),
    ])], className="h-100")
    share_card = dbc.Card([dbc.CardHeader("Share"), dbc.CardBody([
        dbc.Label("Link to this view", className="small mb-1"),
        dbc.InputGroup([dbc.Input(id=ids.EXPORT_SHARE_URL, readonly=True, size="sm"),
                        dbc.Button("Copy", id=ids.EXPORT_SHARE_COPY, color="secondary", size="sm")], className="mb-2"),
        html.Div(id=ids.EXPORT_SHARE_HINT, className="small text-muted mb-2"),
        dbc.Button("Take snapshot", id=ids.EXPORT_SNAPSHOT, color="primary", size="sm", className="me-2"),
        html.Span("a read-only copy of this view and its data, kept under the runs folder", className="small text-muted"),
        html.Div(id=ids.EXPORT_SNAPSHOTS, className="mt-2 small"),
    ])], className="h-100")
    keep_card = dbc.Card([dbc.CardHeader("Report and archive"), dbc.CardBody([
        dbc.Button("Download report (HTML)", id=ids.EXPORT_REPORT, color="primary", size="sm", className="mb-1"),
        html.Div("charts, key numbers, configuration and latest sample in one file that opens offline",
                 className="small text-muted mb-3"),
        dbc.Select(id=ids.EXPORT_ARCHIVE_RUN, size="sm", className="mb-1", options=[]),
        dbc.Checklist(id=ids.EXPORT_ARCHIVE_FLAGS, value=[], className="small mb-1",
                      options=[{"label": "include the checkpoint (ckpt.pt)", "value": "checkpoint"}]),
        dbc.Button("Download run archive (.zip)", id=ids.EXPORT_ARCHIVE, color="primary", size="sm", className="mb-3"),
        dcc.Upload(id=ids.EXPORT_UPLOAD, accept=".zip", max_size=MAX_DOWNLOAD_BYTES, multiple=False,
                   className="ngd-upload small", children=html.Div(["Import a run archive: drop a .zip here or ",
                                                                    html.A("choose one", href="#")])),
        dbc.Input(id=ids.EXPORT_IMPORT_NAME, placeholder="run name (optional)", size="sm", className="mt-1"),
    ])], className="h-100")
    message = dbc.Alert([html.Span(id=ids.EXPORT_MESSAGE),
                         dbc.Button("Retry", id=ids.EXPORT_RETRY, color="danger", size="sm", outline=True,
                                    className="ms-3", style={"display": "none"})],
                        id=ids.EXPORT_ALERT, is_open=False, color="info", className="py-2 small d-flex align-items-center")
    modal = dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle("Export and share this view")),
        dbc.ModalBody([
            message,
            dcc.Loading(html.Div(id=ids.EXPORT_BUSY), type="dot", className="ngd-export-busy"),
            dbc.Row([dbc.Col(data_card, md=6, className="mb-3"), dbc.Col(figure_card, md=6, className="mb-3"),
                     dbc.Col(share_card, md=6, className="mb-3"), dbc.Col(keep_card, md=6, className="mb-3")]),
        ]),
    ], id=ids.EXPORT_MODAL, size="xl", is_open=False, scrollable=True)
    return html.Div([
        dbc.Button("Export", id=ids.EXPORT_OPEN, color="light", outline=True, size="sm", className="me-3 text-nowrap",
                   title="Export data, figures, a report or an archive; share a link or a snapshot"),
        modal,
        dcc.Download(id=ids.EXPORT_DOWNLOAD),
        dcc.Store(id=ids.EXPORT_LAST),
        dcc.Store(id=ids.EXPORT_HOST, data=socket.gethostname()),
    ], className="d-flex align-items-center")


def snapshot_list(runs_dir: Path) -> html.Div:
    """Every snapshot as a link with a delete button."""
    snaps = list_snapshots(runs_dir)
    if not snaps:
        return html.Div("No snapshots yet.", className="text-muted")
    return html.Ul([
        html.Li([html.A(f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(s.created))} · {', '.join(s.runs)}",
                        href=f"/snapshot/{s.token}", target="_blank", className="me-2"),
                 dbc.Button("delete", id={"type": ids.EXPORT_SNAPSHOT_DELETE, "token": s.token}, color="link",
                            size="sm", className="p-0 text-danger")])
        for s in snaps], className="list-unstyled mb-0 ngd-snapshots")


def ssh_hint(port: int | None, path: str) -> str:
    """How a colleague on another machine opens a page of this loopback-only server."""
    port = port or 8050
    return (f"This server listens on this machine only. From another machine: ssh -L {port}:127.0.0.1:{port} "
            f"{socket.gethostname()} then open http://127.0.0.1:{port}{path}, or send the offline report.")


def register(app: Dash, store: LiveStore) -> None:
    """The menu's callbacks and the read-only snapshot routes."""
    renderer = Renderer(tabs=2)
    atexit.register(renderer.stop)

    @app.callback(Output(ids.EXPORT_MODAL, "is_open"), Output(ids.EXPORT_ARCHIVE_RUN, "options"),
                  Output(ids.EXPORT_ARCHIVE_RUN, "value"), Output(ids.EXPORT_SNAPSHOTS, "children"),
                  Input(ids.EXPORT_OPEN, "n_clicks"), State(ids.QUERY, "data"), prevent_initial_call=True)
    def open_menu(_n, query):
        renderer.start_in_background()  # the first figure asked for does not wait for Chromium
        run_ids = store.run_ids()
        selected = view_runs(store, query)
        return (True, [{"label": r, "value": r} for r in run_ids], selected[0] if selected else (run_ids or [None])[0],
                snapshot_list(store.runs_dir))

    app.clientside_callback(
        """
        function(open, host) {
            if (!open) { return [dash_clientside.no_update, dash_clientside.no_update]; }
            const port = window.location.port || (window.location.protocol === "https:" ? "443" : "80");
            return [window.location.href, "The server listens on this machine only. A colleague with SSH access " +
                    "opens the same link after: ssh -L " + port + ":127.0.0.1:" + port + " " + host +
                    ". Anyone else: send a snapshot's offline report."];
        }
        """,
        Output(ids.EXPORT_SHARE_URL, "value"), Output(ids.EXPORT_SHARE_HINT, "children"),
        Input(ids.EXPORT_MODAL, "is_open"), State(ids.EXPORT_HOST, "data"),
    )
    app.clientside_callback(
        """
        function(n, url) {
            if (n && url && navigator.clipboard) { navigator.clipboard.writeText(url).catch(() => null); }
            return n ? "Copied" : "Copy";
        }
        """,
        Output(ids.EXPORT_SHARE_COPY, "children"), Input(ids.EXPORT_SHARE_COPY, "n_clicks"),
        State(ids.EXPORT_SHARE_URL, "value"), prevent_initial_call=True,
    )

    @app.callback(
        Output(ids.EXPORT_DOWNLOAD, "data"), Output(ids.EXPORT_MESSAGE, "children"), Output(ids.EXPORT_ALERT, "is_open"),
        Output(ids.EXPORT_ALERT, "color"), Output(ids.EXPORT_RETRY, "style"), Output(ids.EXPORT_LAST, "data"),
        Output(ids.EXPORT_SNAPSHOTS, "children", allow_duplicate=True), Output(ids.EXPORT_BUSY, "children"),
        *[Input(button, "n_clicks") for button in BUTTONS.values()], Input(ids.EXPORT_UPLOAD, "contents"),
        Input(ids.EXPORT_RETRY, "n_clicks"),
        *[State(id_, "value") for id_ in OPTION_IDS.values()], State(ids.EXPORT_UPLOAD, "contents"),
        State(ids.EXPORT_UPLOAD, "filename"), State(ids.QUERY, "data"), State(ids.EXPORT_LAST, "data"),
        prevent_initial_call=True,
    )
    def act(*args):
        n = len(BUTTONS) + 2
        values = args[n:n + len(OPTION_IDS)]
        upload, filename, query, last = args[n + len(OPTION_IDS):]
        options = dict(zip(OPTION_IDS, values), import_contents=upload, import_filename=filename)
        trigger = ctx.triggered_id
        if trigger == ids.EXPORT_RETRY:
            if not isinstance(last, dict) or last.get("action") not in ACTIONS:
                return (no_update,) * 8
            action, query = last["action"], last.get("query") or query
        elif trigger == ids.EXPORT_UPLOAD:
            action = "import"
        else:
            action = next((a for a, button in BUTTONS.items() if button == trigger), None)
            if action is None:
                return (no_update,) * 8
        outcome = perform(action, options, query, store, renderer)
        text: Any = outcome.text
        if outcome.link:
            text = [outcome.text, " ", html.A(outcome.link, href=outcome.link, target="_blank", id=ids.EXPORT_SNAPSHOT_LINK)]
        snapshots = snapshot_list(store.runs_dir) if action in ("snapshot",) else no_update
        return (outcome.download or no_update, text, True, "success" if outcome.ok else "danger",
                {"display": "none"} if outcome.ok else {}, {"action": action, "query": query, "ok": outcome.ok},
                snapshots, "")

    @app.callback(Output(ids.EXPORT_SNAPSHOTS, "children", allow_duplicate=True),
                  Output(ids.EXPORT_MESSAGE, "children", allow_duplicate=True),
                  Output(ids.EXPORT_ALERT, "is_open", allow_duplicate=True),
                  Output(ids.EXPORT_ALERT, "color", allow_duplicate=True),
                  Input({"type": ids.EXPORT_SNAPSHOT_DELETE, "token": ALL}, "n_clicks"), prevent_initial_call=True)
    def delete(clicks):
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not any(clicks or []):
            return no_update, no_update, no_update, no_update
        try:
            delete_snapshot(store.runs_dir, trigger.get("token"))
        except SnapshotError as e:
            return snapshot_list(store.runs_dir), f"Could not delete the snapshot: {e}", True, "danger"
        return snapshot_list(store.runs_dir), "Snapshot deleted.", True, "success"

    register_routes(app, store.runs_dir)


def register_routes(app: Dash, runs_dir: Path) -> None:
    """GET /snapshot/<token> (the read-only page), and its report and data as downloads."""
    def missing(e: SnapshotError) -> HTMLResponse:
        return HTMLResponse(f"<!DOCTYPE html><title>No such snapshot</title><p>{e}</p>"
                            "<p><a href='/'>Back to the dashboard</a></p>", status_code=404)

    @app.server.get("/snapshot/{token}")
    def snapshot_page(token: str, request: Request):
        try:
            content = load_snapshot(runs_dir, token)
        except SnapshotError as e:
            return missing(e)
        path = f"/snapshot/{token}"
        banner = (f'<div class="banner ngd-snapshot-banner"><b>Read-only snapshot.</b> {ssh_hint(request.url.port, path)} '
                  f'<a href="{path}/report.html">Download the offline report</a> · '
                  f'<a href="{path}/data.csv">Download its data (CSV)</a> · <a href="/">Open the live dashboard</a></div>')
        return HTMLResponse(render_html(content, banner=banner))

    @app.server.get("/snapshot/{token}/report.html")
    def snapshot_report(token: str):
        try:
            content = load_snapshot(runs_dir, token)
        except SnapshotError as e:
            return missing(e)
        return HTMLResponse(render_html(content), headers={
            "Content-Disposition": f'attachment; filename="snapshot-{token[:8]}-report.html"'})

    @app.server.get("/snapshot/{token}/data.csv")
    def snapshot_csv(token: str):
        try:
            data = snapshot_data(runs_dir, token)
        except SnapshotError as e:
            return missing(e)
        return Response(data, media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="snapshot-{token[:8]}.csv"'})
