"""One endpoint: its grpclib channel, its health, and its cool-down after failures."""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from typing import Any, cast

import anyio
from grpclib.client import Channel, Handler
from grpclib.config import Configuration
from grpclib.encoding.base import CodecBase
from grpclib.exceptions import StreamTerminatedError
from grpclib.protocol import H2Protocol

from .. import _wire
from .._config import MIN_KEEPALIVE_TIME, ClientConfig
from .._exceptions import ClientClosedError
from ._endpoints import Endpoint
from ._unary import UnaryLane, fixed_headers

__all__ = ["Codec", "EndpointConnection", "TLSRefused"]


class Codec(CodecBase):
    """Messages are encoded before a call starts (to enforce the size limit without
    opening a stream), so the codec passes encoded bytes through and only decodes."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        if isinstance(message, bytes):
            return message
        return _wire.encode(message)

    def decode(self, data: bytes, message_type: Any) -> Any:
        return message_type.parse(data)


_CODEC = Codec()


class _CoalescingTransport:
    """Wraps an asyncio transport so that every write made during one event-loop
    iteration goes out in a single `send()`.

    grpclib writes each HTTP/2 frame batch of each call separately (headers, then
    data); with many calls in flight that was one system call per frame, the largest
    single cost of a call. Deferring to the end of the iteration (`call_soon`) adds no
    latency worth measuring and keeps the byte order.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._buffer: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._buffer:
            self._loop.call_soon(self._flush)
        self._buffer.append(data)

    def _flush(self) -> None:
        buffer, self._buffer = self._buffer, []
        if buffer and not self._transport.is_closing():
            self._transport.write(b"".join(buffer))

    def is_closing(self) -> bool:
        # Asked on every call: spelled out rather than found through __getattr__.
        return self._transport.is_closing()

    def close(self) -> None:
        self._flush()
        if self._transport.get_extra_info("sslcontext") is not None:
            # asyncio closes a TLS transport only after a close_notify exchange with
            # the peer (up to 30 s); an event loop that ends first (asyncio.run right
            # after the client closed) leaks the socket. Nothing we still need is in
            # flight when a connection is closed, so drop it at once.
            self._transport.abort()
        else:
            self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class TLSRefused(ConnectionError):
    """Internal: a TLS connection ended before the server sent a single byte."""


class ServerSilent(ConnectionError):
    """Internal: the endpoint accepted the TCP connection but sent nothing."""


class _H2Protocol(H2Protocol):
    # Why the connection ended, if it ended before the server sent a single byte.
    # etcd (Go's HTTP/2 server) sends its SETTINGS as soon as a connection is up, so
    # nothing sent on such a connection was processed; over TLS it means the server
    # refused the session: a TLS 1.3 server rejects a client certificate only after
    # the client's side of the handshake has completed, and its alert may arrive as
    # the alert itself (ssl.SSLError) or, racing our first write, as a reset.
    lost_before_data: BaseException | None = None

    unary_lane: UnaryLane
    # Set once the server has sent its first bytes (its SETTINGS), or the connection
    # ended before that.
    answered: asyncio.Event

    def connection_made(self, transport: Any) -> None:
        super().connection_made(cast(asyncio.Transport, _CoalescingTransport(transport)))
        self.unary_lane = UnaryLane(self, super().data_received)
        self.answered = asyncio.Event()
        # grpclib's keepalive pings only while one of *its* streams is open; a watch
        # on the lane, silent for hours, must be kept alive the same way.
        connection = self.connection
        grpclib_says = connection._is_need_send_ping
        lane = self.unary_lane

        def need_ping() -> bool:
            if not lane.streaming:
                return grpclib_says()
            # grpclib's other conditions, with a lane stream counting as open.
            config = connection._config
            if (
                config._http2_max_pings_without_data
                and connection.ping_count_in_sequence >= config._http2_max_pings_without_data
            ):
                return False
            last = connection.last_ping_sent
            return (
                last is None
                or time.monotonic() - last >= config._http2_min_sent_ping_interval_without_data
            )

        connection._is_need_send_ping = need_ping  # type: ignore[method-assign]

    def data_received(self, data: bytes) -> None:
        if not self.answered.is_set():
            self.answered.set()
        self.unary_lane.feed(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.answered.is_set():
            self.lost_before_data = exc or ConnectionResetError(
                "the server closed the connection before sending anything"
            )
            self.answered.set()
        self.unary_lane.close("Connection lost")
        super().connection_lost(exc)


class _Channel(Channel):
    def _protocol_factory(self) -> H2Protocol:
        return _H2Protocol(Handler(), self._config, self._h2_config)


class EndpointConnection:
    """A lazily connected grpclib channel to one endpoint, with failure bookkeeping.

    The balancer reads `available_at` to skip endpoints that are cooling down after a
    failure; the cool-down doubles with each consecutive failure (with jitter, so that
    many clients do not probe a recovering member in lock-step) and resets on success.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        config: ClientConfig,
        *,
        ssl_context: ssl.SSLContext | None,
        server_name: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._config = config
        self._ssl = ssl_context
        self._server_name = server_name
        self._channel: Channel | None = None
        self._shut_down = False
        self.failures = 0
        self.available_at = 0.0
        self.last_error: BaseException | None = None
        # The fixed request headers per RPC path, for this endpoint's scheme/authority.
        self._headers: dict[str, bytes] = {}
        # Set by the endpoint health checker (`_health.py`): False takes the endpoint
        # out of rotation (the balancer uses it only when no healthy one is left).
        self.healthy = True

    def __repr__(self) -> str:
        return f"<EndpointConnection {self.endpoint.url} failures={self.failures}>"

    @property
    def channel(self) -> Channel:
        # Created on first use, inside the running event loop: grpclib binds a channel
        # to the loop current at construction, and users may create a Client in one
        # loop-less place and use it in a fresh loop (pytest-asyncio does exactly that).
        if self._channel is None:
            if self._shut_down:
                raise ClientClosedError("the client is closed")
            self._channel = self._make_channel()
        return self._channel

    def _make_channel(self) -> Channel:
        cfg = self._config
        keepalive = cfg.keepalive_time
        config = Configuration(
            _keepalive_time=keepalive,
            _keepalive_timeout=cfg.keepalive_timeout,
            _keepalive_permit_without_calls=False,
            # Never stop pinging a connection with calls in flight: a long-lived watch
            # stream may carry no data for hours and must still notice a dead member.
            _http2_max_pings_without_data=0,
            _http2_min_sent_ping_interval_without_data=max(
                MIN_KEEPALIVE_TIME, keepalive or MIN_KEEPALIVE_TIME
            ),
            ssl_target_name_override=self._server_name,
        )
        ep = self.endpoint
        use_ssl = self._ssl if ep.secure else None
        if ep.secure and use_ssl is None:
            use_ssl = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            use_ssl.set_alpn_protocols(["h2"])
        if ep.path is not None:
            return _Channel(path=ep.path, ssl=use_ssl, codec=_CODEC, config=config)
        return _Channel(ep.host, ep.port, ssl=use_ssl, codec=_CODEC, config=config)

    @property
    def unary_lane(self) -> UnaryLane:
        """The fast lane for unary calls on the established connection (after
        `connect()`)."""
        protocol = None if self._channel is None else self._channel._protocol
        if protocol is None:
            raise StreamTerminatedError(f"connection to {self.endpoint} was closed")
        return cast(_H2Protocol, protocol).unary_lane

    def fixed_headers(self, path: str) -> bytes:
        """The HPACK block of the headers every call to `path` sends (see `_unary`)."""
        block = self._headers.get(path)
        if block is None:
            channel = self.channel
            block = self._headers[path] = fixed_headers(channel._scheme, channel._authority, path)
        return block

    @property
    def connected(self) -> bool:
        return self._channel is not None and self._channel._connected

    @property
    def tls_error(self) -> ssl.SSLError | TLSRefused | None:
        """Why the current TLS connection died, when it died before the server sent
        anything: the server refused the TLS session (see `_H2Protocol`). Read it
        before `mark_failed()` drops the connection."""
        protocol = getattr(self._channel, "_protocol", None)
        lost: BaseException | None = getattr(protocol, "lost_before_data", None)
        if lost is None or not self.endpoint.secure:
            return None
        if isinstance(lost, ssl.SSLError):
            return lost
        refused = TLSRefused(
            f"the server closed the TLS connection before sending anything ({lost!r})"
        )
        refused.__cause__ = lost
        return refused

    async def connect(self, timeout: float | None) -> H2Protocol:
        """Open the HTTP/2 connection if needed. Raises `OSError`/`TimeoutError` when the
        member cannot be reached; nothing has been sent to it in that case.

        A connection counts as established once the server has spoken: etcd (Go's
        HTTP/2 server) sends its SETTINGS as soon as a connection is up. An endpoint
        that accepts TCP but stays silent (a black hole, a wedged member, a proxy with
        no backend) fails here, after `probe_after + probe_timeout` at most, while
        sending a request elsewhere is still safe for every RPC; found later, a call
        that may have reached it could not be resent.
        """
        channel = self.channel
        if channel._connected:
            protocol = cast(_H2Protocol, channel._protocol)
            if protocol.answered.is_set() and protocol.lost_before_data is None:
                return protocol
        start = time.monotonic()
        with anyio.fail_after(timeout):
            protocol = cast(_H2Protocol, await channel.__connect__())
        if self._channel is not channel:
            # Closed (failure elsewhere, or client closing) while we were connecting:
            # grpclib's close() could not close a connection that did not exist yet,
            # so this one is ours to close, and nothing may be sent on it.
            channel.close()
            raise ConnectionResetError(f"connection to {self.endpoint} closed while connecting")
        if not protocol.answered.is_set():
            silence = self._config.probe_after + self._config.probe_timeout
            remaining = None if timeout is None else max(timeout - (time.monotonic() - start), 0.0)
            try:
                with anyio.fail_after(silence if remaining is None else min(silence, remaining)):
                    await protocol.answered.wait()
            except TimeoutError:
                if remaining is not None and remaining < silence:
                    raise  # the caller's time ran out, not the endpoint's chance
                if self._channel is channel:
                    self.close()
                raise ServerSilent(
                    f"{self.endpoint} accepted the connection but sent nothing for "
                    f"{silence:g} s (probe_after + probe_timeout)"
                ) from None
        if protocol.lost_before_data is not None:
            lost = self.tls_error or protocol.lost_before_data
            if self._channel is channel:
                self.close()
            raise lost
        return protocol

    def probe(self) -> None:
        """Ask the peer for an HTTP/2 PING ack; close the connection if none arrives in
        `probe_timeout`, which fails every call on it (so retryable calls move on).

        The timer is grpclib's own keepalive timer, cancelled by any ping ack. Pings are
        rate-limited like etcd's server expects: at most one per 5 s unless the server
        has sent data since the last one (which resets its ping-strike counter).
        """
        channel = self._channel
        if channel is None or not channel._connected:
            return
        conn = channel._protocol.connection  # type: ignore[union-attr]
        if conn._close_by_ping_handler is not None:
            return  # a ping is already waiting for its ack
        now = time.monotonic()
        last_ping = conn.last_ping_sent
        if (
            last_ping is not None
            and now - last_ping < MIN_KEEPALIVE_TIME
            and (conn.last_data_received or 0.0) <= last_ping
        ):
            return
        conn._connection.ping(int(now * 1e6).to_bytes(8, "big"))
        conn.flush()
        conn.last_ping_sent = now
        conn._close_by_ping_handler = asyncio.get_running_loop().call_later(
            self._config.probe_timeout, conn.close
        )

    def mark_failed(self, exc: BaseException | None = None, *, close: bool = True) -> None:
        """Record a failure and cool the endpoint down; drop its connection when the
        connection itself failed (not when a healthy connection reported, say, no leader)."""
        self.failures += 1
        self.last_error = exc
        base = min(
            self._config.cooldown_initial * (2 ** min(self.failures - 1, 16)),
            self._config.cooldown_max,
        )
        self.available_at = time.monotonic() + base * random.uniform(0.8, 1.2)
        if close:
            self.close()

    def mark_ok(self) -> None:
        if self.failures:
            self.failures = 0
            self.available_at = 0.0
            self.last_error = None

    def close(self) -> None:
        """Drop the current connection; the next call reconnects."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def shut_down(self) -> None:
        """Close for good: the client is closing and must not reconnect."""
        self._shut_down = True
        self.close()
