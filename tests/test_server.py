import json
import socket
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from nanogpt_dash.net import ServerError, check_loopback
from nanogpt_dash.server import create_app, host_name
from nanogpt_dash.live import LiveStore
from nanogpt_dash.tracking import Run

from helpers import REPO, stop_process, wait_for_health, run_coroutine


@pytest.fixture
def client(runs_dir):
    with Run(runs_dir / "a") as run:
        run.log({"train/loss": 1.0}, step=0)
    app, store = create_app(runs_dir, store=LiveStore(runs_dir))
    store.poll()
    return TestClient(app.server, base_url="http://127.0.0.1:8050")


def test_health_identifies_the_service(client, runs_dir):
    health = client.get("/health").json()
    assert health["service"] == "nanogpt_dash"
    assert health["runs_dir"] == str(runs_dir.resolve())
    assert health["runs"] == 1 and health["clients"] == 0
    assert set(health) >= {"version", "uptime_s", "runs", "clients", "pid"}


def test_requests_with_a_foreign_host_header_are_refused(client):
    assert client.get("/health", headers={"host": "attacker.example:8050"}).status_code == 403
    assert client.get("/health", headers={"host": "localhost:9999"}).status_code == 200
    assert client.get("/health", headers={"host": "[::1]:8050"}).status_code == 200


def test_page_references_only_local_css_and_scripts(client):
    html = client.get("/").text
    assert "/static/bootstrap/css/bootstrap.min.css" in html
    assert "http://" not in html.replace("http://127.0.0.1", "") and "https://" not in html
    assert client.get("/static/bootstrap/css/bootstrap.min.css").status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_non_loopback_hosts_are_refused_with_ssh_advice(host):
    with pytest.raises(ServerError, match="ssh -L 8050:127.0.0.1:8050"):
        check_loopback(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_are_accepted(host):
    check_loopback(host)


def test_cli_refuses_a_public_host(runs_dir):
    result = subprocess.run([sys.executable, "-m", "nanogpt_dash", "serve", "--runs", str(runs_dir), "--host", "0.0.0.0"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "refusing to listen on '0.0.0.0'" in result.stderr and "ssh -L" in result.stderr


def test_host_header_parsing():
    assert host_name("127.0.0.1:8050") == "127.0.0.1"
    assert host_name("[::1]:8050") == "::1"
    assert host_name("localhost") == "localhost"


def test_a_port_taken_by_another_program_moves_to_the_next_free_one(runs_dir):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "nanogpt_dash", "serve", "--runs", str(runs_dir), "--port", str(port)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        first = proc.stdout.readline()
        assert f"port {port} is in use by another program; using port" in first
        new_port = int(first.split("using port ")[1].split()[0])
        assert wait_for_health(new_port)["service"] == "nanogpt_dash"
    finally:
        stop_process(proc)
        blocker.close()


def test_the_page_loads_its_scripts_and_they_agree_with_the_page(client):
    from nanogpt_dash.ui import ids
    from nanogpt_dash.ui.figures import CHARTS
    from nanogpt_dash.ui.shell import DEFAULT_RATE_HZ, MAX_RATE_HZ

    page = client.get("/").text
    assert all(script in page for script in ("push.js", "ngd.js", "charts.js", "kpis.js"))
    push = (REPO / "assets" / "push.js").read_text()
    assert f"DEFAULT_HZ = {DEFAULT_RATE_HZ}" in push and f"MAX_HZ = {MAX_RATE_HZ}" in push
    for name in (ids.FEED, ids.VISIBLE, ids.RECONNECT, ids.CONNECTION, ids.MEMORY, ids.WIDTH, ids.chart("loss")):
        assert f'"{name}"' in push, name
    assert f'const RESYNC = "{ids.RESYNC}"' in (REPO / "assets" / "charts.js").read_text()
    assert f'const KPIS = "{ids.KPIS}"' in (REPO / "assets" / "kpis.js").read_text()
    names = [c.name for c in CHARTS]
    assert f"const CHART_NAMES = {json.dumps(names)};" in (REPO / "assets" / "ngd.js").read_text()


def guard_answer(headers: list[tuple[bytes, bytes]], kind: str = "http") -> tuple[list[dict], bool]:
    """Run one request through Guard alone; returns what it sent and whether the app behind it was called."""
    from nanogpt_dash.server import Guard

    reached = []

    async def app(scope, receive, send):
        reached.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": kind, "method": "GET", "path": "/health", "headers": headers, "query_string": b""}
    run_coroutine(Guard(app, {"ws_open": 0, "ws_messages": 0})(scope, receive, send))
    return sent, bool(reached)


@pytest.mark.parametrize("kind", ["http", "websocket"])
def test_a_request_with_two_host_headers_is_refused(kind):
    sent, reached = guard_answer([(b"host", b"evil.example"), (b"host", b"127.0.0.1:8050")], kind)
    assert not reached
    if kind == "http":
        assert sent[0]["status"] == 400 and b"2 Host headers" in sent[1]["body"]
    else:
        assert sent == [{"type": "websocket.close", "code": 1008}]
    sent, reached = guard_answer([(b"host", b"127.0.0.1:8050")])
    assert reached and sent[0]["status"] == 200
