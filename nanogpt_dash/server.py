"""The dashboard server: Dash 4 on FastAPI, callbacks over a WebSocket, loopback only."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import flask_bootstrap
from dash import Dash
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from . import __version__
from .live import LiveStore
from .lockfile import DashboardLock, claim, stop_command
from .net import LOOPBACK_NAMES, SERVICE, check_loopback
from .security import RefuseForeignOrigin, RefuseMalformedCallbacks
from .ui.app import IDLE_TIMEOUT_S, build_app
from .ui.pages import metrics_needed

BOOTSTRAP_STATIC = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5"
BOOTSTRAP_ROUTE = "/static/bootstrap"


class Guard:
    """ASGI middleware: refuse requests whose Host is not a loopback name (DNS rebinding), count WebSockets."""

    def __init__(self, app, stats: dict) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
        if len(hosts) > 1:
            return await self._refuse(scope, receive, send, 400,
                                      f"refused: {len(hosts)} Host headers ({', '.join(map(repr, hosts))}); send exactly one")
        host = hosts[0] if hosts else ""
        if host_name(host) not in LOOPBACK_NAMES:
            return await self._refuse(scope, receive, send, 403, f"refused: Host {host!r} is not a loopback address")
        if scope["type"] == "http":
            return await self.app(scope, receive, send)

        async def counting_receive():
            message = await receive()
            if message["type"] == "websocket.receive":
                self.stats["ws_messages"] += 1
            return message

        async def counting_send(message):
            if message["type"] == "websocket.send":
                self.stats["ws_sent"] += 1
            await send(message)

        self.stats["ws_open"] += 1
        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            self.stats["ws_open"] -= 1


    @staticmethod
    async def _refuse(scope, receive, send, status: int, reason: str) -> None:
        if scope["type"] == "http":
            return await PlainTextResponse(reason, status)(scope, receive, send)
        return await send({"type": "websocket.close", "code": 1008})


def host_name(host_header: str) -> str:
    """'127.0.0.1:8050' -> '127.0.0.1', '[::1]:8050' -> '::1', 'localhost' -> 'localhost'."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def create_app(runs_dir: str | Path, store: LiveStore | None = None,
               idle_timeout_s: float = IDLE_TIMEOUT_S) -> tuple[Dash, LiveStore]:
    """The Dash app serving `runs_dir`, with /health and the loopback guard installed."""
    store = store or LiveStore(runs_dir, keys=metrics_needed()).start()
    _warm_up_json()
    app = build_app(store, stylesheets=[f"{BOOTSTRAP_ROUTE}/css/bootstrap.min.css"],
                    inactivity_timeout_ms=int(idle_timeout_s * 1000))

    started = time.time()
    stats = {"ws_open": 0, "ws_messages": 0, "ws_sent": 0}
    server = app.server

    @server.get("/health")
    def health():
        return JSONResponse({
            "service": SERVICE,
            "version": __version__,
            "runs_dir": str(Path(runs_dir).resolve()),
            "uptime_s": round(time.time() - started, 3),
            "runs": len(store.run_ids()),
            "loading": store.loading_runs(),
            "clients": stats["ws_open"],
            "websocket_messages": stats["ws_messages"],
            "websocket_sent": stats["ws_sent"],
            "pid": os.getpid(),
        })

    server.mount(BOOTSTRAP_ROUTE, StaticFiles(directory=BOOTSTRAP_STATIC), name="bootstrap")
    server.add_middleware(RefuseMalformedCallbacks, callbacks=lambda: app.callback_map)
    server.add_middleware(RefuseForeignOrigin)
    server.add_middleware(Guard, stats=stats)
    # Dash sets itself up (assets/*.js, the pages router and its clientside callback) in hooks that
    # only some routes run, not a first visit to a page other than /: that page came without its
    # scripts or with a callback it had no code for. One request through the app sets it up now.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's note on which httpx it prefers
        from starlette.testclient import TestClient

    TestClient(app.server, base_url="http://127.0.0.1").get("/_dash-layout")
    return app, store


def serve(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 8050, idle_timeout_s: float = IDLE_TIMEOUT_S,
          certfile: str | None = None, keyfile: str | None = None, lock: DashboardLock | None = None) -> int:
    """Run the dashboard until interrupted, unless runs_dir has one already. Returns a process exit code.

    `lock` is the result of `lockfile.claim` if the caller claimed runs_dir already (the CLI does, before importing Dash).
    """
    import uvicorn

    check_loopback(host)
    runs_dir = Path(runs_dir)
    lock = lock or claim(runs_dir, host, port, "https" if certfile else "http")
    if lock.holder is not None:
        where = f"at {lock.holder.url()} " if lock.holder.port is not None else ""
        print(f"nanogpt_dash is already serving {runs_dir}/ {where}(pid {lock.holder.pid}); "
              f"stop it with: {stop_command(runs_dir)}")
        return 0
    with lock:
        for note in lock.notes:
            print(note)
        app, _store = create_app(runs_dir, idle_timeout_s=idle_timeout_s)
        print(f"nanogpt_dash {__version__}: serving {runs_dir.resolve()}/ at {lock.where.url()}", flush=True)
        uvicorn.run(app.server, host=lock.where.host, port=lock.where.port, log_level="warning",
                    ssl_certfile=certfile, ssl_keyfile=keyfile, ws_ping_interval=20, ws_ping_timeout=20)
    return 0


def _warm_up_json() -> None:
    # orjson imports numpy lazily inside its first encode; several callback threads doing that
    # first encode at once (the burst after a reconnect) crashed a fresh server with SIGILL.
    import numpy as np
    from plotly.io.json import to_json_plotly

    to_json_plotly({"warm": [1, 2.5, "x"], "np": np.arange(3), "f": np.float64(1.5), "f32": np.float32(1)})
