"""Firefox and WebKit for the smoke tests, driven offline with what Debian and PyPI ship.

- Firefox (Debian's firefox-esr) speaks WebDriver BiDi itself when started with
  --remote-debugging-port: no geckodriver (PyPI and npm only ship downloaders or a Windows binary).
  BiDi reports console errors and uncaught exceptions as `log.entryAdded` events from the first
  script on.
- WebKit (Debian's webkit2gtk-driver: WebKitWebDriver and MiniBrowser) is driven by Selenium. Its
  WebDriver has no log endpoint and no BiDi, and MiniBrowser (GTK 3) needs a display, so it runs on
  its own Xvfb and loads pages through `InjectingProxy`, which puts an error collector in front of
  the app's scripts.

Both offer the same small surface: goto(), evaluate(), errors, screenshot(), close().
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from pathlib import Path

MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"


def firefox_path() -> str | None:
    for candidate in (os.environ.get("FIREFOX"), shutil.which("firefox-esr"), shutil.which("firefox")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def webkit_missing() -> str | None:
    """What is missing to drive WebKit here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium (pip install -r requirements.txt)"
    for name, path in (("WebKitWebDriver", shutil.which("WebKitWebDriver")), ("MiniBrowser", MINIBROWSER),
                       ("Xvfb", shutil.which("Xvfb"))):
        if not path or not Path(path).exists():
            return f"{name} (apt-get install -y webkit2gtk-driver xvfb)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Firefox:
    """Headless firefox-esr over WebDriver BiDi: one browsing context, console errors collected."""

    def __init__(self, width: int = 1440, height: int = 900) -> None:
        from websockets.sync.client import connect

        path = firefox_path()
        if path is None:
            raise FileNotFoundError("firefox-esr not found (apt-get install -y firefox-esr)")
        self._errors: list[str] = []
        self._ids = itertools.count(1)
        self._exit = contextlib.ExitStack()
        self._profile = tempfile.mkdtemp(prefix="ngd-firefox-")
        port = _free_port()
        self._process = subprocess.Popen([path, "--headless", "--no-remote", "--profile", self._profile,
                                          f"--remote-debugging-port={port}", "about:blank"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                self._ws = self._exit.enter_context(connect(f"ws://127.0.0.1:{port}/session", max_size=None, open_timeout=5))
                break
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.close()
                    raise
                time.sleep(0.2)
        self._command("session.new", {"capabilities": {}})
        self._command("session.subscribe", {"events": ["log.entryAdded"]})
        self.context = self._command("browsingContext.getTree", {})["contexts"][0]["context"]
        self._command("browsingContext.setViewport", {"context": self.context,
                                                      "viewport": {"width": width, "height": height}})

    def _command(self, method: str, params: dict, timeout: float = 60) -> dict:
        command_id = next(self._ids)
        self._ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("type") == "event":
                self._event(message)
            elif message.get("id") == command_id:
                if message.get("type") == "error":
                    raise RuntimeError(f"BiDi {method}: {message.get('error')}: {message.get('message')}")
                return message["result"]

    def _event(self, message: dict) -> None:
        entry = message["params"]
        if message["method"] == "log.entryAdded" and entry.get("level") == "error":
            self._errors.append(f"{entry.get('type')}: {entry.get('text')}")

    @property
    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions so far, including events not read yet."""
        while True:
            try:
                message = json.loads(self._ws.recv(timeout=0))
            except TimeoutError:
                return list(self._errors)
            if message.get("type") == "event":
                self._event(message)

    def url(self, port: int, path: str) -> str:
        return f"http://127.0.0.1:{port}{path}"

    def forget_errors(self) -> None:
        self.errors  # reads what has arrived
        self._errors.clear()

    def goto(self, url: str) -> None:
        self._command("browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"})

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression (a Promise is awaited)."""
        result = self._command("script.evaluate", {
            "expression": f"(async () => JSON.stringify(await ({expression})))()",
            "target": {"context": self.context}, "awaitPromise": True, "resultOwnership": "none"})
        if result["type"] == "exception":
            raise RuntimeError(f"evaluate {expression!r}: {result['exceptionDetails'].get('text')}")
        value = result["result"].get("value")
        return None if value is None else json.loads(value)

    def screenshot(self, path: Path) -> None:
        data = self._command("browsingContext.captureScreenshot", {"context": self.context})["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self) -> None:
        ws = getattr(self, "_ws", None)
        if ws is not None:
            try:
                self._command("browser.close", {}, timeout=10)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            self._exit.close()
        if self._process.poll() is None:  # Firefox's content processes share its session: end them all
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)


# Runs before any script of the page: keeps every console.error and uncaught error or rejection.
ERROR_COLLECTOR = b"""<script>(function () {
  var errors = window.__ngdErrors = [];
  var original = console.error;
  console.error = function () {
    errors.push('console: ' + Array.prototype.map.call(arguments, String).join(' '));
    return original.apply(console, arguments);
  };
  window.addEventListener('error', function (e) {
    errors.push('javascript: ' + (e.error ? e.error + '\\n' + (e.error.stack || '') : e.message || ('failed to load ' + (e.target && (e.target.src || e.target.href)))));
  }, true);
  window.addEventListener('unhandledrejection', function (e) {
    errors.push('javascript: unhandled rejection: ' + e.reason + '\\n' + (e.reason && e.reason.stack || ''));
  });
})();</script>"""


class InjectingProxy:
    """A loopback reverse proxy to a dashboard that adds ERROR_COLLECTOR at the top of every HTML page.

    Plain requests are answered one per connection; a WebSocket upgrade is relayed byte for byte.
    """

    def __init__(self, upstream_port: int) -> None:
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    proxy._handle(self.request)
                except OSError:  # the dashboard is down (a restart test) or the browser hung up
                    pass

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            request_queue_size = 128  # a page load opens some 25 connections at once; the default 5 drops some

        self.upstream_port = upstream_port
        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        head, body = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = [line.split(":", 1) for line in lines[1:] if ":" in line]
        names = {name.strip().lower(): value.strip() for name, value in headers}
        if names.get("upgrade", "").lower() == "websocket":
            self._relay(client, head + b"\r\n\r\n" + body)
            return
        length = int(names.get("content-length", "0"))
        while len(body) < length:
            body += client.recv(65536)
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            kept = {name.strip(): value.strip() for name, value in headers
                    if name.strip().lower() not in ("connection", "keep-alive", "accept-encoding", "content-length")}
            upstream.request(method, target, body=body or None, headers={**kept, "Accept-Encoding": "identity"})
            response = upstream.getresponse()
            content = response.read()
            if "text/html" in (response.getheader("content-type") or ""):
                content = content.replace(b"<head>", b"<head>" + ERROR_COLLECTOR, 1)
            out = [f"HTTP/1.1 {response.status} {response.reason}"]
            out += [f"{name}: {value}" for name, value in response.getheaders()
                    if name.lower() not in ("connection", "keep-alive", "content-length", "transfer-encoding")]
            out += [f"Content-Length: {len(content)}", "Connection: close"]
            client.sendall("\r\n".join(out).encode("latin-1") + b"\r\n\r\n" + content)
        finally:
            upstream.close()

    def _relay(self, client: socket.socket, first: bytes) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        upstream.sendall(first)

        def pump(source: socket.socket, sink: socket.socket) -> None:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for s in (source, sink):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join()
        upstream.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Xvfb:
    """A private X display for MiniBrowser, which (GTK 3) has no headless mode."""

    def __init__(self, width: int = 1440, height: int = 900) -> None:
        read, write = os.pipe()
        self._process = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", f"{width}x{height}x24",
                                          "-nolisten", "tcp"], pass_fds=(write,), stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(write)
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.close()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)


class WebKit:
    """WebKitGTK's MiniBrowser through WebKitWebDriver and Selenium, on its own Xvfb.

    Pages must be loaded through an InjectingProxy: `errors` reads what its collector kept.
    """

    def __init__(self, width: int = 1440, height: int = 900) -> None:
        from selenium import webdriver
        from selenium.webdriver.webkitgtk.options import Options
        from selenium.webdriver.webkitgtk.service import Service

        self._xvfb = Xvfb(width, height)
        options = Options()
        options.binary_location = MINIBROWSER
        options.add_argument("--automation")
        service = Service(executable_path=shutil.which("WebKitWebDriver"),
                          env={**os.environ, "DISPLAY": self._xvfb.display})
        try:
            self.driver = webdriver.WebKitGTK(options=options, service=service)
            self.driver.set_window_rect(0, 0, width, height)
        except Exception:
            self._xvfb.close()
            raise
        self._seen: list[str] = []
        self._proxies: dict[int, InjectingProxy] = {}

    def url(self, port: int, path: str) -> str:
        """The address of a dashboard page on `port`, through a proxy that adds the error collector."""
        if port not in self._proxies:
            self._proxies[port] = InjectingProxy(port)
        return f"http://127.0.0.1:{self._proxies[port].port}{path}"

    def forget_errors(self) -> None:
        self._seen.clear()
        self.driver.get("about:blank")

    def goto(self, url: str) -> None:
        self._seen += self.errors_now()
        self.driver.get(url)
        if not self.driver.execute_script("return Array.isArray(window.__ngdErrors)"):
            raise RuntimeError(f"{url} has no error collector: load dashboard pages through url()")

    def errors_now(self) -> list[str]:
        try:
            return self.driver.execute_script("return window.__ngdErrors || []")
        except Exception:  # noqa: BLE001 - a page between loads
            return []

    @property
    def errors(self) -> list[str]:
        return self._seen + self.errors_now()

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression (a Promise is awaited)."""
        value = self.driver.execute_async_script(
            "const done = arguments[0], fail = e => done(JSON.stringify({__error: String(e)}));"
            f"Promise.resolve().then(() => {expression}).then(v => {{ try {{ done(JSON.stringify(v)); }} catch (e) {{ fail(e); }} }}, fail)")
        value = None if value is None else json.loads(value)
        if isinstance(value, dict) and "__error" in value:
            raise RuntimeError(f"evaluate {expression!r}: {value['__error']}")
        return value

    def screenshot(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            self._xvfb.close()
            for proxy in self._proxies.values():
                proxy.close()
