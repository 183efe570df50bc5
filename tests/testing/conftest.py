"""Shared helpers for the `aetcd.testing` tests."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
        except ConnectionError:
            pass  # the proxy cut us off: that is what these tests do


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo_address() -> Iterator[tuple[str, int]]:
    """A local TCP echo server (closes its side when the client half-closes)."""
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield (str(host), int(port))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
