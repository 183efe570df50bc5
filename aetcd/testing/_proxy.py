"""A fault-injecting TCP proxy that runs in its own thread."""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, cast

from ._errors import EtcdTestingError

__all__ = ["TcpProxy"]

_CHUNK = 65536
# Stop reading from a side while this much is still waiting for the other one.
_HIGH_WATER = 1 << 20
_LINGER_RST = struct.pack("ii", 1, 0)


class _HasAddress(Protocol):
    @property
    def address(self) -> tuple[str, int]: ...


def _parse_target(target: str | tuple[str, int] | _HasAddress) -> tuple[str, int]:
    if isinstance(target, tuple):
        return (target[0], int(target[1]))
    if isinstance(target, str):
        hostport = target.split("://", 1)[-1].rstrip("/")
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"expected host:port or a URL, got {target!r}")
        return (host.strip("[]"), int(port))
    return target.address


def _abort(sock: socket.socket | None) -> None:
    """Close with an RST rather than a FIN, like a crashed peer or a cut cable."""
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    sock.close()


class _Pair:
    """One proxied connection: the accepted client socket and our upstream socket."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.connecting = False
        self.to_upstream = bytearray()
        self.to_client = bytearray()
        self.client_eof = False
        self.upstream_eof = False
        self.client_shut = False  # we sent FIN to the client
        self.upstream_shut = False  # we sent FIN upstream


class TcpProxy:
    """A TCP proxy on a free `127.0.0.1` port in front of `target`, for fault injection.

    `target` is `(host, port)`, `"host:port"`, a URL, or anything with an `address`
    (e.g. an `EtcdMember`). It runs in a background thread, independent of any event
    loop. Faults: `cut()` resets every current connection, `blackhole()` silently
    stops forwarding in both directions until `restore()`, `cut_every(interval)`
    keeps cutting. Use as a context manager or call `close()`.
    """

    def __init__(
        self, target: str | tuple[str, int] | _HasAddress, *, host: str = "127.0.0.1"
    ) -> None:
        self._target = _parse_target(target)
        self._selector = selectors.DefaultSelector()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._wake_r, self._wake_w = socket.socketpair()
        try:
            self._listener.bind((host, 0))
            self._listener.listen(128)
            self._listener.setblocking(False)
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
        except BaseException:
            self._close_sockets()
            raise
        self._address: tuple[str, int] = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._commands: list[tuple[Callable[[], None], threading.Event]] = []
        self._pairs: set[_Pair] = set()
        self._masks: dict[socket.socket, int] = {}
        self._blackholed = False
        self._cut_interval: float | None = None
        self._next_cut = 0.0
        self._accepted = 0
        self._closed = False
        self._selector.register(self._listener, selectors.EVENT_READ, "listener")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(
            target=self._run, name=f"aetcd-tcp-proxy-{self._address[1]}", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        host, port = self._target
        return f"<TcpProxy {self.url} -> {host}:{port}>"

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- public API ---------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """`(host, port)` the proxy listens on."""
        return self._address

    @property
    def port(self) -> int:
        """The port the proxy listens on."""
        return self._address[1]

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, to use as a client endpoint."""
        return f"http://{self._address[0]}:{self._address[1]}"

    @property
    def endpoint(self) -> str:
        """Same as `url`."""
        return self.url

    @property
    def target(self) -> tuple[str, int]:
        """`(host, port)` connections are forwarded to."""
        return self._target

    @property
    def active_connections(self) -> int:
        """How many proxied connections are currently open."""
        with self._lock:
            return len(self._pairs)

    @property
    def accepted_connections(self) -> int:
        """How many connections were accepted since the proxy started."""
        with self._lock:
            return self._accepted

    @property
    def is_blackholed(self) -> bool:
        """Whether `blackhole()` is in effect."""
        return self._blackholed

    def cut(self) -> None:
        """Reset (RST) every current connection, both sides; new ones are accepted."""
        self._call(self._cut_all)

    def blackhole(self) -> None:
        """Keep connections open but forward nothing either way until `restore()`.

        Nothing is read or written, as if the packets vanished: peers see silence,
        not errors. New connections are accepted, but not connected upstream yet.
        """
        self._call(lambda: setattr(self, "_blackholed", True))

    def cut_every(self, interval: float | None) -> None:
        """Call `cut()` every `interval` seconds from the proxy thread (None stops)."""

        def set_interval() -> None:
            self._cut_interval = interval
            self._next_cut = time.monotonic() + interval if interval else 0.0

        if interval is not None and interval <= 0:
            raise ValueError("interval must be positive")
        self._call(set_interval)

    def restore(self) -> None:
        """End `blackhole()` and `cut_every()`; data held back flows again."""

        def clear() -> None:
            self._blackholed = False
            self._cut_interval = None

        self._call(clear)

    def close(self) -> None:
        """Stop the thread and reset every connection. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake()
        self._thread.join()

    # -- cross-thread plumbing ----------------------------------------------------

    def _call(self, func: Callable[[], None]) -> None:
        """Run `func` on the proxy thread and wait for it, so faults are in effect on return."""
        done = threading.Event()
        with self._lock:
            if self._closed:
                raise EtcdTestingError("the proxy is closed")
            self._commands.append((func, done))
        self._wake()
        done.wait()

    def _wake(self) -> None:
        # A full buffer means the thread is going to wake up anyway; a closed socket
        # (EBADF) means it already saw `_closed` and shut down, which is what we wanted.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # -- the proxy thread -----------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                timeout = None
                if self._cut_interval is not None:
                    timeout = max(0.0, self._next_cut - time.monotonic())
                for key, mask in self._selector.select(timeout):
                    if key.data == "listener":
                        self._accept()
                    elif key.data == "wake":
                        self._drain_wake()
                    else:
                        self._service(key.data, cast(socket.socket, key.fileobj), mask)
                with self._lock:
                    commands, self._commands = self._commands, []
                    closing = self._closed
                for func, done in commands:
                    func()
                    done.set()
                if closing:
                    return
                if self._cut_interval is not None and time.monotonic() >= self._next_cut:
                    self._cut_all()
                    self._next_cut = time.monotonic() + self._cut_interval
                for pair in list(self._pairs):
                    self._update(pair)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        for pair in list(self._pairs):
            self._drop(pair)
        with self._lock:
            self._closed = True
            commands, self._commands = self._commands, []
        for _, done in commands:
            done.set()
        self._selector.close()
        self._close_sockets()

    def _close_sockets(self) -> None:
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. EMFILE; the backlog keeps the connection for later
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(client)
            with self._lock:
                self._pairs.add(pair)
                self._accepted += 1
            if not self._blackholed:
                self._connect(pair)

    def _connect(self, pair: _Pair) -> None:
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.setblocking(False)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair.upstream = upstream
        err = upstream.connect_ex(self._target)
        if err in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            pair.connecting = True
        elif err != 0:
            self._drop(pair)

    def _cut_all(self) -> None:
        for pair in list(self._pairs):
            self._drop(pair)

    def _drop(self, pair: _Pair, *, graceful: bool = False) -> None:
        for sock in (pair.client, pair.upstream):
            if sock is None:
                continue
            if self._masks.pop(sock, 0):
                self._selector.unregister(sock)
            if graceful:
                sock.close()
            else:
                _abort(sock)
        with self._lock:
            self._pairs.discard(pair)

    def _service(self, pair: _Pair, sock: socket.socket, mask: int) -> None:
        if pair not in self._pairs:
            return  # dropped earlier in this round
        try:
            if sock is pair.upstream and pair.connecting:
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise ConnectionRefusedError(err, "upstream connect failed")
                pair.connecting = False
                return
            if mask & selectors.EVENT_WRITE:
                self._flush(pair, sock)
            if mask & selectors.EVENT_READ:
                self._read(pair, sock)
        except OSError:
            self._drop(pair)
            return
        if pair.client_shut and pair.upstream_shut:
            self._drop(pair, graceful=True)  # both sides closed cleanly, FINs passed on

    def _read(self, pair: _Pair, sock: socket.socket) -> None:
        try:
            data = sock.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        from_client = sock is pair.client
        if data:
            (pair.to_upstream if from_client else pair.to_client).extend(data)
            other = pair.upstream if from_client else pair.client
            if other is not None and not pair.connecting:
                self._flush(pair, other)
        else:
            if from_client:
                pair.client_eof = True
            else:
                pair.upstream_eof = True
            other = pair.upstream if from_client else pair.client
            if other is not None and not pair.connecting:
                self._flush(pair, other)

    def _flush(self, pair: _Pair, sock: socket.socket) -> None:
        to_client = sock is pair.client
        buf = pair.to_client if to_client else pair.to_upstream
        if buf:
            try:
                sent = sock.send(buf)
            except (BlockingIOError, InterruptedError):
                sent = 0
            del buf[:sent]
        if buf:
            return
        # Pass a half-close on once everything before it has been delivered.
        if to_client and pair.upstream_eof and not pair.client_shut:
            pair.client_shut = True
            sock.shutdown(socket.SHUT_WR)
        elif not to_client and pair.client_eof and not pair.upstream_shut:
            pair.upstream_shut = True
            sock.shutdown(socket.SHUT_WR)

    def _update(self, pair: _Pair) -> None:
        """Register each socket for exactly the events it can make progress on."""
        if self._blackholed:
            client_mask = upstream_mask = 0
        else:
            if pair.upstream is None:
                self._connect(pair)  # accepted during a blackhole
                if pair not in self._pairs:
                    return
            client_mask = upstream_mask = 0
            if not pair.client_eof and len(pair.to_upstream) < _HIGH_WATER:
                client_mask |= selectors.EVENT_READ
            if pair.connecting:
                upstream_mask = selectors.EVENT_WRITE
            else:
                if pair.to_client or (pair.upstream_eof and not pair.client_shut):
                    client_mask |= selectors.EVENT_WRITE
                if not pair.upstream_eof and len(pair.to_client) < _HIGH_WATER:
                    upstream_mask |= selectors.EVENT_READ
                if pair.to_upstream or (pair.client_eof and not pair.upstream_shut):
                    upstream_mask |= selectors.EVENT_WRITE
        self._set_mask(pair, pair.client, client_mask)
        if pair.upstream is not None:
            self._set_mask(pair, pair.upstream, upstream_mask)

    def _set_mask(self, pair: _Pair, sock: socket.socket, mask: int) -> None:
        old = self._masks.get(sock, 0)
        if mask == old:
            return
        if not old:
            self._selector.register(sock, mask, pair)
        elif not mask:
            self._selector.unregister(sock)
        else:
            self._selector.modify(sock, mask, pair)
        if mask:
            self._masks[sock] = mask
        else:
            self._masks.pop(sock, None)
