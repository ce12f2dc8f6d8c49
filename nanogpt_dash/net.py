"""Finding, probing and choosing loopback addresses for the dashboard server (no Dash imports here)."""

from __future__ import annotations

import ipaddress
import json
import socket
import urllib.parse
import urllib.request

from .errors import NanogptDashError

SERVICE = "nanogpt_dash"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
PORT_SEARCH = 100
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through a proxy


class ServerError(NanogptDashError):
    """The server cannot start as asked; the message says what to do instead."""


def check_loopback(host: str) -> None:
    try:
        loopback = host in LOOPBACK_NAMES or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ServerError(
            f"refusing to listen on {host!r}: nanogpt_dash serves loopback only (your runs are readable by "
            "anyone who can reach the port). To watch from another machine, forward the port over SSH:\n"
            "    ssh -L 8050:127.0.0.1:8050 <training-host>\n"
            "then open http://127.0.0.1:8050 on your own machine."
        )


def probe_health(host: str, port: int, timeout: float = 0.5) -> dict | None:
    """The /health answer of a nanogpt_dash server at host:port, or None if something else (or nothing) answers."""
    try:
        with _NO_PROXY.open(f"http://{_url_host(host)}:{port}/health", timeout=timeout) as response:
            data = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("service") == SERVICE else None


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port_from(host: str, port: int) -> int:
    for candidate in range(port, port + PORT_SEARCH):
        if port_is_free(host, candidate):
            return candidate
    raise ServerError(f"no free port in {port}..{port + PORT_SEARCH - 1} on {host}; pass --port with a free one")


def url_for(host: str, port: int, run_id: str | None = None) -> str:
    """The dashboard's address, opening run_id if given (quoted: ids like 'lr=3e-4+wd' are legal)."""
    return f"http://{_url_host(host)}:{port}/" + (f"?run={urllib.parse.quote(run_id, safe='')}" if run_id else "")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
