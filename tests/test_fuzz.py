"""Whatever a browser (or anything else on loopback) sends, the server answers cleanly and keeps serving.

Property-based (hypothesis): the Live page's push and the shell's data push against a real store,
and the real server's callback endpoints, HTTP and WebSocket, with well-formed, malformed and
garbage requests. Never a 500, never a traceback in the server's log.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanogpt_dash.live import LiveStore
from nanogpt_dash.tracking import Run
from nanogpt_dash.ui.pages import live
from nanogpt_dash.ui.pages.analysis import RunAnalyses
from nanogpt_dash.ui.shell import client_view, data_push

from helpers import free_port, start_server, stop_process, wait_for_health, run_coroutine

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
VIEW_KEYS = ["page", "runs", "x", "smooth", "options", "zoom", "width", "resync", "focus"]
ODD = st.sampled_from(["abc", [1], [["a"]], {"a": 1}, float("nan"), float("inf"), -1, 10**30, "", None, ["a"] * 200,
                       ["../etc", "a/../../b"], {"loss": ["x", "y"]}, {"loss": [1]}, True])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("fuzz") / "runs"
    with Run(runs_dir / "a") as run:
        for step in range(30):
            run.log({"train/loss": 1.0 / (1 + step), "lr": 1e-3, "grad_norm": float("nan") if step == 7 else 1.0}, step=step)
    store = LiveStore(runs_dir)
    store.poll()
    return store


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(view=st.dictionaries(st.sampled_from(VIEW_KEYS), JSON | ODD, max_size=9), cursor=JSON | ODD)
def test_the_live_push_takes_any_view_and_cursor(store, view, cursor):
    analyses = RunAnalyses(store)
    result = live.push(store, view, cursor, {}, analyses=analyses)
    assert isinstance(result.props, dict)
    again = live.push(store, view, result.cursor, {}, analyses=analyses)  # and the cursor it returns is good for the next push
    assert isinstance(again.props, dict)
    data_push(store, view, cursor, {})
    client_view(view, view.get("smooth"), view.get("resync"))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("fuzzserver") / "runs"
    with Run(runs_dir / "a") as run:
        run.log({"train/loss": 1.0}, step=0)
    port = free_port()
    server = start_server(runs_dir, port)
    base = f"http://127.0.0.1:{port}"
    httpx.get(base + "/")  # the first request registers the pages' router callback
    specs = []
    for cb in httpx.get(base + "/_dash-dependencies").json():
        patterns = "{" in cb["output"] or any("{" in str(d["id"]) for d in cb["inputs"] + cb["state"])
        if cb.get("clientside_function") or patterns:  # pattern-matching ids: not built here
            continue
        out = cb["output"]
        outputs = [o for o in out.strip(".").split("...")] if out.startswith("..") else out
        specs.append({"output_id": out, "output": outputs, "inputs": cb["inputs"], "state": cb["state"]})
    yield port, specs, runs_dir.parent / f"server-{port}.log"
    stop_process(server)


def callback_body(spec: dict, values: list) -> dict:
    """A request shaped as the callback declares, carrying odd values."""
    values = values or [None]
    fill = [{**d, "value": values[i % len(values)]} for i, d in enumerate(spec["inputs"] + spec["state"])]
    n = len(spec["inputs"])
    outputs = spec["output"]
    return {"output": spec["output_id"], "changedPropIds": [f"{d['id']}.{d['property']}" for d in spec["inputs"]][:1],
            "inputs": fill[:n], "state": fill[n:],
            "outputs": [output_dependency(o) for o in outputs] if isinstance(outputs, list) else output_dependency(outputs)}


def output_dependency(output: str) -> dict:
    """'id.property@hash' (Dash's name of an output) as the renderer sends it."""
    component, _, prop = output.rpartition(".")
    return {"id": component or output, "property": prop}


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_http_callback_requests_never_get_a_500(served, data):
    port, specs, _ = served
    choice = data.draw(st.sampled_from(["garbage", "shape", "values"]))
    if choice == "garbage":
        body = data.draw(st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
    elif choice == "shape":
        body = json.dumps(data.draw(JSON)).encode()
    else:
        body = json.dumps(callback_body(data.draw(st.sampled_from(specs)), data.draw(st.lists(JSON | ODD, max_size=4))),
                          allow_nan=True).encode()
    answer = httpx.post(f"http://127.0.0.1:{port}/_dash-update-component", content=body,
                        headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code < 500, (body[:200], answer.status_code, answer.text[:200])


def test_websocket_garbage_closes_only_that_connection_and_well_formed_odd_values_are_answered(served):
    port, specs, log = served
    url = f"ws://127.0.0.1:{port}/_dash-ws-callback"
    origin = f"http://127.0.0.1:{port}"

    async def send(message: str) -> str:
        async with websockets.connect(url, origin=origin) as ws:
            await ws.send(message)
            try:
                answer = json.loads(await asyncio.wait_for(ws.recv(), 3))
                return (answer[0] if isinstance(answer, list) else answer).get("type", "?")  # a batch or one message
            except websockets.ConnectionClosed as e:
                return f"closed {e.rcvd.code if e.rcvd else None}"
            except asyncio.TimeoutError:
                return "no answer"

    for junk in ["not json", "[1, 2]", '{"type": "callback_request"}', '{"type": "callback_request", "requestId": "r",'
                 ' "payload": {"output": "nosuch.children"}}', '{"type": 5}', '"text"']:
        assert run_coroutine(send(junk)) == "closed 1008", junk
    for values in (["abc", [1], {"runs": [["a"]], "smooth": "abc", "width": [1]}, "tab"], [None, None, None, None]):
        for spec in specs:
            message = {"type": "callback_request", "requestId": "r1", "rendererId": "x",
                       "payload": callback_body(spec, values)}
            assert run_coroutine(send(json.dumps(message))) in ("callback_response", "no answer", "set_props")
    assert run_coroutine(send('{"type": "heartbeat"}')) == "heartbeat_ack"
    assert wait_for_health(port)["service"] == "nanogpt_dash"
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def test_one_request_selecting_a_run_200_times_is_cheap(store):
    import time

    t0 = time.perf_counter()
    result = live.push(store, {"page": "/", "runs": ["a"] * 200}, None, {}, analyses=RunAnalyses(store))
    assert time.perf_counter() - t0 < 5
    traces = result.props["chart-loss"]["figure"]["data"]
    assert len({t["meta"]["run"] for t in traces}) == 1, "duplicates removed"
