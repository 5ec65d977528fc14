"""A loopback HTTP server for download tests: serves a folder, optionally cutting every response off half way; or
answers every request with a body that never ends, or with a redirect."""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path


class _CutOffHandler(http.server.SimpleHTTPRequestHandler):
    """Announces the full Content-Length, sends half the bytes, then closes the connection."""

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _EndlessHandler(_QuietHandler):
    """Announces a gigabyte, then sends ``chunk`` zero bytes every ``pause`` seconds until the client hangs up."""

    chunk = 1
    pause = 0.05

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 30))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up
            while True:
                self.wfile.write(bytes(self.chunk))
                self.wfile.flush()
                time.sleep(self.pause)


class _RedirectHandler(_QuietHandler):
    """Redirects every request to ``location``."""

    location = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.location)
        self.end_headers()


class _BasicAuthHandler(_QuietHandler):
    """Serves the folder only to a request with HTTP basic auth ``credentials`` (``user:password``)."""

    credentials = ""

    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="fmnist"')
            self.end_headers()
            return
        super().do_GET()


def basic_auth(credentials: str) -> type[http.server.BaseHTTPRequestHandler]:
    """A handler that serves the folder only with HTTP basic auth ``user:password``."""
    return type("BasicAuth", (_BasicAuthHandler,), {"credentials": credentials})


def trickle() -> type[http.server.BaseHTTPRequestHandler]:
    """A handler whose body never ends: one byte every 50 ms."""
    return _EndlessHandler


def firehose() -> type[http.server.BaseHTTPRequestHandler]:
    """A handler whose body never ends: 64 KiB at a time, as fast as the client reads."""
    return type("Firehose", (_EndlessHandler,), {"chunk": 1 << 16, "pause": 0})


def redirect(location: str) -> type[http.server.BaseHTTPRequestHandler]:
    """A handler that redirects every request to ``location``."""
    return type("Redirect", (_RedirectHandler,), {"location": location})


@contextlib.contextmanager
def serve(
    directory: Path, cut_off: bool = False, handler: type[http.server.BaseHTTPRequestHandler] | None = None
) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 at a free port (or answer with ``handler``); yield the base URL."""
    handler = functools.partial(handler or (_CutOffHandler if cut_off else _QuietHandler), directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port() -> int:
    """A loopback port nothing listens on (free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on leaving
