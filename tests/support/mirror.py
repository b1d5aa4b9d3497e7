"""A loopback HTTP mirror that serves chosen bytes, and can misbehave on request."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest


class Mirror(http.server.ThreadingHTTPServer):
    """Serves ``files`` ({url path: bytes}); ``modes`` ({url path: mode}) makes a path misbehave:
    "404", "truncate" (half the body, full Content-Length), "truncate-nolength" (half the body,
    no Content-Length), "stall-headers" (no answer), "stall-body" (headers and 1 KiB, then
    nothing), "slow" (waits ``delay`` s before answering)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), MirrorHandler)
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, str] = {}
        self.requests: list[str] = []
        self.delay = 0.0
        self.release = threading.Event()

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{prefix}"

    def mount(self, prefix: str, files: dict, mode: str | None = None) -> str:
        """Serve {name: bytes} under ``prefix``; returns the mirror URL."""
        for name, data in files.items():
            self.files[prefix + name] = data
            if mode:
                self.modes[prefix + name] = mode
        return self.url(prefix)


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        srv: Mirror = self.server
        srv.requests.append(self.path)
        mode = srv.modes.get(self.path)
        body = srv.files.get(self.path)
        if body is None or mode == "404":
            self.send_error(404)
            return
        if mode == "stall-headers":
            srv.release.wait(10)
            return
        if mode == "slow":
            time.sleep(srv.delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode != "truncate-nolength":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode in ("truncate", "truncate-nolength"):
            self.wfile.write(body[: len(body) // 2])
            return
        if mode == "stall-body":
            self.wfile.write(body[:1024])
            self.wfile.flush()
            srv.release.wait(10)
            return
        self.wfile.write(body)


@pytest.fixture
def mirror():
    server = Mirror()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def refused_url() -> str:
    """A loopback port with nobody listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"
