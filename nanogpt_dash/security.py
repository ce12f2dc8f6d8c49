"""Cross-site request forgery: requests that change things must come from the dashboard's own pages.

The server binds to loopback, but any page open in the user's browser can still send requests to
127.0.0.1. Browsers mark such a request with its Origin; a request that may change something
(anything but GET, HEAD, OPTIONS) from another origin is refused. The WebSocket keeps Dash's own
Origin check, which applies the same rule.
"""

from __future__ import annotations

import json
from typing import Callable, Mapping
from urllib.parse import urlsplit

from fastapi.responses import PlainTextResponse

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(origin: str, host: str) -> bool:
    """True when `origin` (scheme://host[:port]) names the host the request was sent to."""
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


class RefuseForeignOrigin:
    """ASGI middleware: 403 for an unsafe HTTP request whose Origin is another site's."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            return await self.app(scope, receive, send)
        headers = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        origin, host = headers.get("origin"), headers.get("host", "")
        foreign = (origin is not None and origin != "null" and not same_origin(origin, host)) or origin == "null" \
            or headers.get("sec-fetch-site") == "cross-site"
        if foreign:
            response = PlainTextResponse(f"refused: a {scope['method']} from {origin or 'another site'} "
                                         "(requests that change things must come from this dashboard's own pages)", 403)
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def callback_request_problem(body: object, callbacks: Callable[[], Mapping[str, dict]]) -> str | None:
    """What is wrong with a Dash callback request (HTTP body or WebSocket payload), or None if it is well formed.

    Dash trusts the renderer to send what a callback declares; anything else on loopback could send
    any JSON. Checking the shape against the callback's declaration here turns what would be a
    traceback (or a 500) into a clean refusal.
    """
    if not isinstance(body, dict):
        return "a callback request must be a JSON object"
    output = body.get("output")
    spec = callbacks().get(output) if isinstance(output, str) else None
    if spec is None:
        return "unknown callback output"
    for name in ("inputs", "state"):
        items = body.get(name, [])
        declared = spec.get(name, [])
        if not isinstance(items, list) or len(items) != len(declared):
            return f"'{name}' does not match the callback"
        for item, dependency in zip(items, declared):
            if isinstance(item, list):  # pattern-matching dependencies come as lists of the same shape
                if not all(_dependency_ok(i) for i in item):
                    return f"malformed '{name}' entry"
            elif not _dependency_ok(item) or item["property"] != dependency.get("property") \
                    or not _same_id(item["id"], dependency.get("id")):
                return f"'{name}' does not match the callback"
    if not _plain_json(body.get("inputs", [])) or not _plain_json(body.get("state", [])):
        return "values must be plain JSON (integers within 64 bits, at most 32 levels deep)"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "'changedPropIds' must be a list of strings"
    outputs, declared = body.get("outputs"), spec.get("output")
    if spec.get("no_output"):
        return None
    pairs = list(zip(outputs, declared)) if isinstance(declared, list) and isinstance(outputs, list) \
        and len(outputs) == len(declared) else [(outputs, declared)] if not isinstance(declared, list) else None
    if pairs is None or not all(_output_matches(sent, out) for sent, out in pairs):
        return "'outputs' does not match the callback"
    return None


def _output_matches(sent: object, declared: object) -> bool:
    """An output of the request is the declared one (property names may carry Dash's '@hash' suffix;
    a pattern-matching output comes as a list of the components it matched)."""
    prop = getattr(declared, "component_property", None)
    if isinstance(sent, list):
        return _same_id({}, getattr(declared, "component_id", None)) and all(
            _dependency_ok(s) and s["property"].split("@")[0] == prop for s in sent)
    return (_dependency_ok(sent) and _same_id(sent["id"], getattr(declared, "component_id", None))
            and sent["property"].split("@")[0] == prop)


def _same_id(sent: object, declared: object) -> bool:
    """A concrete id sent for a declared one: equal, or any dict id for a dict (pattern-matching) id,
    whose wildcards (ALL, MATCH) the renderer resolves to concrete values."""
    if isinstance(declared, dict) or (isinstance(declared, str) and declared.startswith("{")):
        return isinstance(sent, dict)
    return sent == declared


def _plain_json(value: object, depth: int = 0) -> bool:
    """Values Dash can send back as they came: no integer past 64 bits (orjson refuses them), no deep nesting."""
    if depth > 32:
        return False
    if isinstance(value, bool) or value is None or isinstance(value, (float, str)):
        return True
    if isinstance(value, int):
        return -(2 ** 63) <= value < 2 ** 64
    if isinstance(value, list):
        return all(_plain_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_plain_json(v, depth + 1) for v in value.values())
    return False


def _dependency_ok(item: object) -> bool:
    return isinstance(item, dict) and isinstance(item.get("property"), str) and isinstance(item.get("id"), (str, dict))


def websocket_message_problem(text: str | None, callbacks: Callable[[], Mapping[str, dict]]) -> str | None:
    """What is wrong with one message from a browser on Dash's WebSocket, or None."""
    try:
        message = json.loads(text) if text is not None else None
    except ValueError:
        return "not JSON"
    if not isinstance(message, dict):
        return "not a JSON object"
    kind = message.get("type")
    if kind == "heartbeat":
        return None
    if kind == "get_props_response":
        return None if isinstance(message.get("requestId"), str) else "a get_props_response needs a requestId"
    if kind != "callback_request":
        return "unknown message type"
    if not isinstance(message.get("requestId"), str) or not isinstance(message.get("rendererId", ""), str):
        return "a callback_request needs a requestId and a rendererId"
    return callback_request_problem(message.get("payload"), callbacks)


class RefuseMalformedCallbacks:
    """ASGI middleware: a malformed callback request gets 400 (HTTP) or closes its WebSocket (1008), cleanly."""

    def __init__(self, app, callbacks: Callable[[], Mapping[str, dict]], ws_path: str = "/_dash-ws-callback",
                 http_path: str = "/_dash-update-component") -> None:
        self.app = app
        self.callbacks = callbacks
        self.ws_path, self.http_path = ws_path, http_path

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and scope["path"] == self.ws_path:
            return await self.app(scope, self._checked_messages(receive, send), send)
        if scope["type"] == "http" and scope["path"] == self.http_path and scope["method"] == "POST":
            return await self._checked_post(scope, receive, send)
        return await self.app(scope, receive, send)

    def _checked_messages(self, receive, send):
        async def checked():
            message = await receive()
            if message["type"] != "websocket.receive":
                return message
            problem = websocket_message_problem(message.get("text"), self.callbacks)
            if problem is None:
                return message
            await send({"type": "websocket.close", "code": 1008, "reason": f"refused: {problem}"[:120]})
            return {"type": "websocket.disconnect", "code": 1008}
        return checked

    async def _checked_post(self, scope, receive, send):
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            problem = callback_request_problem(json.loads(body), self.callbacks)
        except ValueError:
            problem = "the body is not JSON"
        if problem is not None:
            return await PlainTextResponse(f"refused: {problem}", 400)(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)
