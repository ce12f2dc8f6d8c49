"""Cross-site request forgery: requests that change things must come from the dashboard's own pages.

The server binds to loopback, but any page open in the user's browser can still send requests to
127.0.0.1. Browsers mark such a request with its Origin; a request that may change something
(anything but GET, HEAD, OPTIONS) from another origin is refused. The WebSocket keeps Dash's own
Origin check, which applies the same rule.
"""

from __future__ import annotations

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
