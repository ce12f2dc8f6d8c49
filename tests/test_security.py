"""Requests that change things come only from the dashboard's own pages (cross-site request forgery)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from nanogpt_dash.security import same_origin
from nanogpt_dash.tracking import Run

from helpers import free_port, start_server, stop_process, run_coroutine

CALLBACK = "/_dash-update-component"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("security") / "runs"
    with Run(runs_dir / "a") as run:
        run.log({"train/loss": 1.0}, step=0)
    port = free_port()
    server = start_server(runs_dir, port)
    yield port
    stop_process(server)


def test_same_origin_compares_scheme_host_and_port():
    assert same_origin("http://127.0.0.1:8050", "127.0.0.1:8050")
    assert not same_origin("http://127.0.0.1:9999", "127.0.0.1:8050")
    assert not same_origin("http://evil.example", "127.0.0.1:8050")
    assert not same_origin("file://", "127.0.0.1:8050")


def test_a_post_from_a_page_on_another_port_is_refused(served):
    body = {"output": "x.children", "inputs": [], "changedPropIds": []}
    other = f"http://127.0.0.1:{free_port()}"
    answer = httpx.post(f"http://127.0.0.1:{served}{CALLBACK}", json=body, headers={"Origin": other})
    assert answer.status_code == 403 and "refused" in answer.text
    cross = httpx.post(f"http://127.0.0.1:{served}{CALLBACK}", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    own = httpx.post(f"http://127.0.0.1:{served}{CALLBACK}", json=body, headers={"Origin": f"http://127.0.0.1:{served}"})
    assert own.status_code != 403, "the dashboard's own pages are served"


def test_reading_is_allowed_from_anywhere_on_loopback(served):
    assert httpx.get(f"http://127.0.0.1:{served}/health", headers={"Origin": "http://evil.example"}).status_code == 200


def test_a_websocket_from_a_page_on_another_port_is_refused(served):
    url = f"ws://127.0.0.1:{served}/_dash-ws-callback"

    async def connect(origin: str) -> str:
        try:
            async with websockets.connect(url, origin=origin) as ws:
                await ws.send(json.dumps({"type": "heartbeat"}))
                return json.loads(await asyncio.wait_for(ws.recv(), 5))["type"]
        except websockets.InvalidStatus as e:  # Dash closes before accepting: the handshake is refused
            return f"refused {e.response.status_code}"
        except websockets.ConnectionClosed as e:
            return f"closed {e.rcvd.code if e.rcvd else None}"

    assert run_coroutine(connect(f"http://127.0.0.1:{free_port()}")) in ("refused 403", "closed 4003")
    assert run_coroutine(connect(f"http://127.0.0.1:{served}")) == "heartbeat_ack"
