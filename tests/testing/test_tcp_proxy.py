"""TcpProxy: forwarding, cut, blackhole, restore, periodic cuts, clean shutdown."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable

import pytest

from aetcd.testing import EtcdServer, EtcdTestingError, TcpProxy


def _connect(proxy: TcpProxy, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(proxy.address, timeout=timeout)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        data = sock.recv(size - len(chunks))
        if not data:
            raise EOFError(f"EOF after {len(chunks)} of {size} bytes")
        chunks += data
    return bytes(chunks)


def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def _is_dropped(sock: socket.socket) -> bool:
    """True when the peer reset or closed the connection."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _http_health(address: tuple[str, int], timeout: float) -> bytes:
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = bytearray()
        while data := sock.recv(4096):
            response += data
        return bytes(response)


def test_forwards_both_ways_and_half_close(echo_address: tuple[str, int]) -> None:
    with TcpProxy(echo_address) as proxy:
        assert proxy.url == f"http://127.0.0.1:{proxy.port}"
        assert proxy.endpoint == proxy.url
        assert proxy.target == echo_address
        with _connect(proxy) as sock:
            payload = os.urandom(3 * 1024 * 1024)  # above the high-water mark
            sender = threading.Thread(target=sock.sendall, args=(payload,))
            sender.start()
            assert _recv_exactly(sock, len(payload)) == payload
            sender.join()
            assert proxy.active_connections == 1
            sock.shutdown(socket.SHUT_WR)
            # The EOF travels to the echo server, which closes; that EOF comes back.
            assert sock.recv(1) == b""
        _wait_for(lambda: proxy.active_connections == 0)
        assert proxy.accepted_connections == 1


def test_target_forms(echo_address: tuple[str, int]) -> None:
    host, port = echo_address
    for target in (f"{host}:{port}", f"http://{host}:{port}/", echo_address):
        with TcpProxy(target) as proxy:
            assert proxy.target == echo_address
    with pytest.raises(ValueError, match="host:port"):
        TcpProxy("nonsense")


def test_cut_resets_live_connections_and_accepts_new_ones(
    echo_address: tuple[str, int],
) -> None:
    with TcpProxy(echo_address) as proxy, _connect(proxy) as sock:
        sock.sendall(b"ping")
        assert _recv_exactly(sock, 4) == b"ping"
        proxy.cut()
        assert proxy.active_connections == 0
        assert _is_dropped(sock)
        with _connect(proxy) as again:
            again.sendall(b"pong")
            assert _recv_exactly(again, 4) == b"pong"
        assert proxy.accepted_connections == 2


def test_blackhole_holds_data_until_restore(echo_address: tuple[str, int]) -> None:
    with TcpProxy(echo_address) as proxy, _connect(proxy, timeout=0.3) as sock:
        sock.sendall(b"before")
        assert _recv_exactly(sock, 6) == b"before"
        proxy.blackhole()
        assert proxy.is_blackholed
        sock.sendall(b"during")
        with pytest.raises(TimeoutError):
            sock.recv(1)
        # New connections are accepted but stay silent too.
        with _connect(proxy, timeout=0.3) as late:
            late.sendall(b"late")
            with pytest.raises(TimeoutError):
                late.recv(1)
            proxy.restore()
            late.settimeout(5)
            assert _recv_exactly(late, 4) == b"late"
        sock.settimeout(5)
        assert _recv_exactly(sock, 6) == b"during"


def test_cut_every_keeps_cutting_until_restore(echo_address: tuple[str, int]) -> None:
    with TcpProxy(echo_address) as proxy:
        proxy.cut_every(0.2)
        for _ in range(2):
            with _connect(proxy) as sock:
                sock.sendall(b"x")
                assert _recv_exactly(sock, 1) == b"x"
                started = time.monotonic()
                assert _is_dropped(sock)
                assert time.monotonic() - started < 1.0
        proxy.restore()
        with _connect(proxy, timeout=0.6) as sock:
            time.sleep(0.5)
            sock.sendall(b"y")
            assert _recv_exactly(sock, 1) == b"y"
        with pytest.raises(ValueError, match="positive"):
            proxy.cut_every(0)


def test_unreachable_target_drops_the_client() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        dead = placeholder.getsockname()
        # Bound but not listening: connections to it are refused.
        with TcpProxy(dead) as proxy:
            try:
                sock = _connect(proxy)
            except ConnectionResetError:
                return  # reset before our connect() even returned
            with sock:
                assert _is_dropped(sock)


def test_close_stops_the_thread_and_is_idempotent(echo_address: tuple[str, int]) -> None:
    proxy = TcpProxy(echo_address)
    name = f"aetcd-tcp-proxy-{proxy.port}"
    assert any(t.name == name for t in threading.enumerate())
    sock = _connect(proxy)
    with sock:
        proxy.close()
        proxy.close()
        assert not any(t.name == name for t in threading.enumerate())
        assert _is_dropped(sock)
    with pytest.raises(EtcdTestingError, match="closed"):
        proxy.cut()
    with pytest.raises(ConnectionRefusedError):  # nobody listens there any more
        socket.create_connection(proxy.address, timeout=1).close()


def test_etcd_through_proxy(etcd_server: EtcdServer, key_prefix: bytes) -> None:
    with TcpProxy(etcd_server.member) as proxy:
        key = key_prefix.decode() + "via-proxy"
        etcd_server.etcdctl("put", key, "v", endpoints=[proxy.url])
        got = etcd_server.etcdctl("get", key, "--print-value-only", json_output=False)
        assert got.strip() == "v"

        assert b'"health":"true"' in _http_health(proxy.address, timeout=5)
        proxy.blackhole()
        with pytest.raises(TimeoutError):
            _http_health(proxy.address, timeout=0.5)
        proxy.restore()
        assert b'"health":"true"' in _http_health(proxy.address, timeout=5)


def test_proxy_factory_fixture(
    etcd_proxy_factory: Callable[..., TcpProxy], etcd_server: EtcdServer, key_prefix: bytes
) -> None:
    proxy = etcd_proxy_factory(etcd_server.member)
    assert isinstance(proxy, TcpProxy)
    key = key_prefix.decode() + "k"
    etcd_server.etcdctl("put", key, "1", endpoints=[proxy.url])
    assert proxy.accepted_connections >= 1


def test_waking_a_proxy_thread_that_already_shut_down_is_harmless() -> None:
    # Regression: close() sets the closed flag, then wakes the thread. A thread that
    # was awake may see the flag first, shut down and close its wake-up socket, and
    # the wake-up then failed with EBADF (seen in ~1 of 8 demo runs). Reproduce the
    # interleaving deterministically: shut the thread's sockets, then wake it.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        proxy = TcpProxy(server.getsockname())
        proxy.close()
        proxy._wake()  # the thread is gone and its sockets are closed
