"""Calls over the balancer: deadlines, safe retries, metadata and error mapping.

Retry rules follow Go's clientv3 (`retry.go`, `retry_interceptor.go`):

* a call that failed before its connection was established reached no server, so any
  RPC is tried again on another endpoint;
* an idempotent RPC (`Method.idempotent`) is also resent after UNAVAILABLE or a lost
  connection, backing off after every round over a quorum of endpoints;
* a mutation that may have reached a server is never resent: the caller gets
  `UnavailableError` and decides (a Put applied twice gets a second revision);
* a call rejected because its auth token expired is resent once after a single-flight
  token refresh: the server refused it before applying it.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import nullcontext
from typing import Any, TypeVar, cast

import anyio
import h2.exceptions
from grpclib.client import Stream
from grpclib.const import Status
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError
from grpclib.metadata import Deadline

from .. import _wire
from .._config import ClientConfig
from .._exceptions import (
    AuthOldRevisionError,
    ClientClosedError,
    ConnectError,
    DeadlineExceededError,
    EtcdError,
    InvalidAuthTokenError,
    RequestTooLargeError,
    UnavailableError,
    UserEmptyError,
    from_grpc_error,
)
from ._auth import TokenAuth
from ._balancer import Balancer, NoEndpointReady
from ._connection import EndpointConnection, TLSRefused, _H2Protocol
from ._endpoints import Endpoint
from ._lane_stream import LaneStream
from ._method import Method
from ._unary import UnaryStream, encode_timeout

__all__ = ["CONNECTION_ERRORS", "Transport", "describe_connect_error"]

Req = TypeVar("Req")
Rep = TypeVar("Rep")

# What a broken or closed connection looks like from inside a grpclib call.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    StreamTerminatedError,
    ConnectionError,
    OSError,
    ProtocolError,
    h2.exceptions.ProtocolError,
    h2.exceptions.StreamClosedError,
    EOFError,
)
# grpclib enforces the deadline we give it by cancelling the task; our own anyio scope
# must always fire first, so grpclib's copy of the deadline (the one sent to the server
# as grpc-timeout) is this much later.
_GRPCLIB_DEADLINE_SLACK = 0.25
# Go's clientv3 gives up on a call after this many resends.
_MAX_RETRIES = 100


def _auth_retryable(err: EtcdError) -> bool:
    # The errors for which etcd's Go client refreshes its token and resends: the server
    # refused the request before applying it.
    return isinstance(err, (InvalidAuthTokenError, AuthOldRevisionError, UserEmptyError))


def _tls_problem(exc: ssl.SSLError) -> str:
    """What went wrong in a TLS handshake, in words that point at the fix."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the server's certificate was rejected ({exc.verify_message}); check the CA "
            "(TLSConfig.ca_file) and the name checked against the certificate "
            "(TLSConfig.server_name)"
        )
    reason = str(exc.reason or exc)
    if "ALERT" in reason.upper():
        # e.g. SSLV3_ALERT_BAD_CERTIFICATE, TLSV13_ALERT_CERTIFICATE_REQUIRED
        return (
            f"the server refused the handshake ({reason}); it may require a client "
            "certificate (TLSConfig.cert_file/key_file) issued by a CA it trusts"
        )
    if "WRONG_VERSION_NUMBER" in reason.upper():
        return f"the server does not speak TLS on this port ({reason}); use http://"
    return f"{reason} ({exc})"


def describe_connect_error(endpoint: Endpoint, exc: BaseException) -> str:
    """`exc` (raised while connecting to `endpoint`) for a `ConnectError` message."""
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {endpoint} failed: {_tls_problem(exc)}"
    if isinstance(exc, TLSRefused):
        return (
            f"TLS handshake with {endpoint} failed: {exc}; it may require a client "
            "certificate (TLSConfig.cert_file/key_file) issued by a CA it trusts"
        )
    return f"cannot connect to {endpoint}: {exc!r}"


def _tls_failed(exc: BaseException | None) -> bool:
    return isinstance(exc, (ssl.SSLError, TLSRefused))


class Transport:
    """Everything below the service modules: pick an endpoint, call, retry, map errors."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        config: ClientConfig,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_name: str | None = None,
        login: Callable[[Transport], Awaitable[str]] | None = None,
    ) -> None:
        self.config = config
        self.balancer = Balancer(
            endpoints, config, ssl_context=ssl_context, server_name=server_name
        )
        self._closed = False
        self._static_metadata: tuple[tuple[str, str], ...] = (
            (("hasleader", "true"),) if config.require_leader else ()
        )
        self.auth: TokenAuth | None = None
        if login is not None:
            self.auth = TokenAuth(lambda: login(self))

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self.balancer.close()

    def check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("the client is closed")

    def encode(self, method: Method[Any, Any], request: Any) -> bytes:
        data = request if isinstance(request, bytes) else _wire.encode(request)
        if len(data) > self.config.max_send_bytes:
            raise RequestTooLargeError(
                f"{method.name} request is {len(data)} bytes, over the client's limit of "
                f"{self.config.max_send_bytes} bytes (max_send_bytes)"
            )
        return data

    async def metadata(
        self, method: Method[Any, Any], *, require_leader: bool | None = None
    ) -> tuple[tuple[str, str], ...]:
        """Metadata for one call: the auth token and `hasleader` (require_leader)."""
        md = self._static_metadata
        if require_leader is not None:
            md = (("hasleader", "true"),) if require_leader else ()
        if self.auth is not None and method.authenticated:
            token = await self.auth.token()
            # "" when etcd had auth disabled at login: send no token at all (as Go
            # does); once auth is enabled, the first refusal logs in again.
            if token:
                md = (*md, ("token", token))
        return md

    @staticmethod
    def token_refused(err: BaseException) -> bool:
        """Whether `err` means "log in again and retry": the server refused the request
        for its token (invalid or expired token, old auth revision, no user name)
        before applying it."""
        return isinstance(err, EtcdError) and _auth_retryable(err)

    async def refresh_token(self, metadata: Sequence[tuple[str, str]]) -> bool:
        """Log in again after a call or stream opened with `metadata` was refused for
        its token (see `token_refused`), so that the next `metadata()` carries a fresh
        one. Single-flight: when another task already replaced that token, nothing is
        sent. Returns False when the client has no credentials (nothing to refresh).

        Long-lived streams (watch, keep-alive) call this before reopening after such
        a refusal. Raises what logging in raises (e.g. `AuthenticationFailedError`).
        """
        if self.auth is None:
            return False
        await self.auth.refresh(dict(metadata).get("token"))
        return True

    def deadline_for(self, timeout: float | None) -> float | None:
        return None if timeout is None else time.monotonic() + timeout

    async def _backoff(self, attempt: int, deadline: float | None) -> None:
        # Go's roundRobinQuorumBackoff: no wait inside a round over a quorum of
        # endpoints, then the base wait with jitter.
        if attempt % self.balancer.quorum:
            return
        wait = self.config.backoff_wait_between
        wait *= 1 + self.config.backoff_jitter * (2 * random.random() - 1)
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - time.monotonic()))
        await anyio.sleep(wait)

    def _out_of_time(
        self, method: Method[Any, Any], connected: bool, last: BaseException | None
    ) -> EtcdError:
        if not connected:
            endpoints = ", ".join(ep.url for ep in self.balancer.endpoints)
            detail = f": {last!r}" if last is not None else ""
            return ConnectError(f"{method.name}: no etcd endpoint reachable ({endpoints}){detail}")
        return DeadlineExceededError(f"{method.name}: deadline exceeded")

    async def connect(
        self,
        method: Method[Any, Any],
        deadline: float | None,
        *,
        endpoint: Endpoint | None = None,
        exclude: EndpointConnection | None = None,
    ) -> EndpointConnection:
        """An endpoint with an established connection, waiting until `deadline`.

        Used by unary calls and to (re)open the long-lived watch and keep-alive streams.
        With `endpoint`, only that endpoint is tried, once.
        """
        last: BaseException | None = None
        while True:
            self.check_open()
            if endpoint is not None:
                conn = self.balancer.connection_for(endpoint)
            else:
                try:
                    conn = await self.balancer.acquire(deadline, exclude=exclude)
                except NoEndpointReady:
                    raise self._out_of_time(method, False, last) from last
            timeout = self.config.connect_timeout
            cut_by_deadline = False
            if deadline is not None:
                remaining = max(deadline - time.monotonic(), 0.0)
                if remaining < timeout:
                    timeout, cut_by_deadline = remaining, True
            try:
                await conn.connect(timeout)
            except (OSError, asyncio.TimeoutError) as exc:  # TimeoutError is an OSError
                if cut_by_deadline and isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
                    # The caller's deadline ended the attempt, not the endpoint: it
                    # must not be cooled down for someone else's short timeout.
                    earlier = "" if last is None else f" (earlier attempt: {last})"
                    raise DeadlineExceededError(
                        f"{method.name}: deadline exceeded while connecting to "
                        f"{conn.endpoint}{earlier}"
                    ) from exc
                conn.mark_failed(exc)
                last = exc
                exclude = conn
                if endpoint is not None:
                    raise ConnectError(
                        f"{method.name}: {describe_connect_error(endpoint, exc)}"
                    ) from exc
                if _tls_failed(exc) and all(
                    _tls_failed(c.last_error) for c in self.balancer.connections
                ):
                    # Every endpoint refused TLS: a configuration problem that waiting
                    # for the deadline would not fix.
                    raise ConnectError(
                        f"{method.name}: {describe_connect_error(conn.endpoint, exc)}"
                    ) from exc
                if deadline is not None and time.monotonic() >= deadline:
                    raise self._out_of_time(method, False, last) from exc
                continue
            return conn

    def open_stream(
        self,
        conn: EndpointConnection,
        method: Method[Req, Rep],
        metadata: tuple[tuple[str, str], ...],
        *,
        deadline: float | None = None,
    ) -> Stream[Req, Rep]:
        """A grpclib stream on `conn` (not yet entered) for the long-lived RPCs."""
        return conn.channel.request(
            method.path,
            method.cardinality,
            method.request_type,
            cast(Any, method.reply_type),  # a message class or a Decoder: both have .parse
            metadata=metadata,
            deadline=None if deadline is None else Deadline(_timestamp=deadline),
        )

    def open_lane_stream(
        self,
        conn: EndpointConnection,
        method: Method[Req, Rep],
        metadata: tuple[tuple[str, str], ...],
    ) -> Stream[Req, Rep] | LaneStream[Rep]:
        """Like `open_stream`, on the connection's fast lane when it can take one: for
        readers that keep up on their own (see `_lane_stream`)."""
        protocol = conn.channel._protocol
        if isinstance(protocol, _H2Protocol) and protocol.unary_lane.can_open_stream():
            return LaneStream(
                protocol.unary_lane, conn.fixed_headers(method.path), metadata, method.reply_type
            )
        return self.open_stream(conn, method, metadata)

    async def unary(
        self,
        method: Method[Req, Rep],
        request: Req,
        *,
        timeout: float | None,
        endpoint: Endpoint | None = None,
    ) -> Rep:
        """Call a unary RPC with the retry rules in the module docstring."""
        self.check_open()
        data = self.encode(method, request)
        deadline = self.deadline_for(timeout)
        attempt = 0
        refreshed = False
        exclude: EndpointConnection | None = None
        # The last error a member answered with: when every member keeps refusing until
        # the deadline (no leader, unhealthy cluster, ...), that is what the caller needs
        # to see, not "no endpoint reachable".
        answered: EtcdError | None = None
        while True:
            # The token first: from a connected endpoint to the request on the wire
            # there must be no suspension, or the connection could be lost in between.
            token_md = await self.metadata(method)
            try:
                conn = await self.connect(method, deadline, endpoint=endpoint, exclude=exclude)
            except ConnectError as exc:
                if answered is None:
                    raise
                raise answered from exc
            try:
                reply: Rep = await self._attempt(conn, method, data, deadline, token_md)
            except GRPCError as exc:
                err = from_grpc_error(exc)
                if self.auth is not None and not refreshed and _auth_retryable(err):
                    refreshed = True
                    await self.auth.refresh(dict(token_md).get("token"))
                    continue
                if endpoint is None and (
                    err.retry_elsewhere or (method.idempotent and exc.status is Status.UNAVAILABLE)
                ):
                    # The member answered but cannot serve (no leader, stopping, ...);
                    # errors flagged retry_elsewhere were certainly not applied, so even
                    # a mutation may go to another member.
                    conn.mark_failed(err, close=False)
                    answered = err
                    attempt += 1
                    if attempt < _MAX_RETRIES and not self._expired(deadline):
                        exclude = conn
                        await self._backoff(attempt, deadline)
                        continue
                raise err from exc
            # Before CONNECTION_ERRORS: TimeoutError is an OSError subclass.
            except (TimeoutError, asyncio.TimeoutError) as exc:
                raise DeadlineExceededError(
                    f"{method.name}: deadline exceeded waiting for {conn.endpoint}"
                ) from exc
            except CONNECTION_ERRORS as exc:
                # A stream reset by the server (RST_STREAM) leaves the connection and
                # its other calls intact; only a dead connection is dropped.
                reset_only = isinstance(exc, StreamTerminatedError) and conn.connected
                tls_error = conn.tls_error  # read before mark_failed drops the connection
                conn.mark_failed(tls_error or exc, close=not reset_only)
                if tls_error is not None:
                    # The server refused the TLS session: nothing was processed, so
                    # any call may go elsewhere, unless TLS fails everywhere.
                    if endpoint is not None or all(
                        _tls_failed(c.last_error) for c in self.balancer.connections
                    ):
                        raise ConnectError(
                            f"{method.name}: {describe_connect_error(conn.endpoint, tls_error)}"
                        ) from exc
                    exclude = conn
                    continue
                if not method.idempotent or endpoint is not None:
                    raise UnavailableError(
                        f"{method.name}: connection to {conn.endpoint} lost during the call"
                        + ("" if method.idempotent else "; the request may have been applied")
                    ) from exc
                attempt += 1
                if attempt >= _MAX_RETRIES or self._expired(deadline):
                    raise UnavailableError(
                        f"{method.name}: connection to {conn.endpoint} lost during the call"
                    ) from exc
                exclude = conn
                await self._backoff(attempt, deadline)
                continue
            conn.mark_ok()
            return reply

    @staticmethod
    def _expired(deadline: float | None) -> bool:
        return deadline is not None and time.monotonic() >= deadline

    async def _attempt(
        self,
        conn: EndpointConnection,
        method: Method[Req, Rep],
        data: bytes,
        deadline: float | None,
        metadata: tuple[tuple[str, str], ...],
    ) -> Rep:
        lane = conn.unary_lane
        extra = metadata
        if deadline is not None:
            timeout = encode_timeout(deadline - time.monotonic() + _GRPCLIB_DEADLINE_SLACK)
            extra = (("grpc-timeout", timeout), *metadata)
        reserved = 0
        if lane.window_short(data):
            # Hundreds of calls in flight: wait for etcd to read, within the deadline;
            # nothing has been sent yet.
            reserved = await lane.wait_for_window(data, deadline)
        stream = lane.send(conn.fixed_headers(method.path), extra, data, reserved)
        if stream is None:
            return await self._stream_attempt(conn, method, data, deadline, metadata)
        # One timer per call (see _watchdog).
        first = self.config.probe_after
        if deadline is not None:
            first = min(first, deadline - time.monotonic())
        stream.timer = asyncio.get_running_loop().call_later(
            first, _watchdog, conn, stream, deadline, self.config.keepalive_time
        )
        try:
            await stream.future
        finally:
            stream.timer.cancel()
            # Resets the stream if it is still open (cancelled, past the deadline).
            lane.finish(stream)
        return cast(Rep, cast(Any, method.reply_type).parse(stream.reply()))

    async def _stream_attempt(
        self,
        conn: EndpointConnection,
        method: Method[Req, Rep],
        data: bytes,
        deadline: float | None,
        metadata: tuple[tuple[str, str], ...],
    ) -> Rep:
        """A unary call through grpclib's general `Stream`: for a request too large for
        the fast path's single frame, or when the server's stream limit is reached."""
        grpc_deadline = None
        scope: Any = nullcontext()
        if deadline is not None:
            grpc_deadline = Deadline(_timestamp=deadline + _GRPCLIB_DEADLINE_SLACK)
            scope = anyio.fail_after(max(deadline - time.monotonic(), 0.0))
        probe = asyncio.get_running_loop().call_later(self.config.probe_after, conn.probe)
        try:
            with scope:
                async with conn.channel.request(
                    method.path,
                    method.cardinality,
                    method.request_type,
                    cast(Any, method.reply_type),
                    metadata=metadata,
                    deadline=grpc_deadline,
                ) as stream:
                    await stream.send_message(data, end=True)  # type: ignore[arg-type]
                    reply = await stream.recv_message()
        finally:
            probe.cancel()
        if reply is None:
            raise StreamTerminatedError("no reply message")
        return cast(Rep, reply)


def _watchdog(
    conn: EndpointConnection, stream: UnaryStream, deadline: float | None, every: float | None
) -> None:
    # A call's one timer: while no answer has come, probe the connection (then every
    # keepalive_time, as HTTP/2 keepalive does for grpclib's streams), and fail the call
    # at its deadline.
    # Deadlines are time.monotonic() values and timers are relative: a loop's own clock
    # (uvloop's is coarse and cached per iteration) never meets our deadlines directly.
    if stream.future.done():
        return
    now = time.monotonic()
    if deadline is not None and now >= deadline:
        stream.future.set_exception(TimeoutError())
        return
    conn.probe()
    next_at = deadline if every is None else now + every
    if next_at is not None:
        if deadline is not None:
            next_at = min(next_at, deadline)
        stream.timer = asyncio.get_running_loop().call_later(
            next_at - now, _watchdog, conn, stream, deadline, every
        )
