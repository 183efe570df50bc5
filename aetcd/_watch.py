"""Watches: every watch of a client rides one multiplexed Watch stream, resumed losslessly.

    async with client.watch("/config/", prefix=True) as watch:
        async for response in watch:
            for event in response.events:
                print(event.type.name, event.kv.key, event.kv.value)

Guarantees (etcd's, kept end to end through failures):

* **ordered and unique**: a watch delivers revisions in increasing order, each at most
  once, even across reconnections (responses are deduplicated by revision);
* **reliable**: no revision in the watched range is skipped; after a broken stream or
  a failed member the watch is recreated on another endpoint from its next unseen
  revision (after events: the last event's ``mod_revision`` + 1; after a progress
  notification of that watch: its header revision + 1; for a watch started "now":
  the revision of its ``created`` response + 1), and etcd replays the history from
  there;
* **atomic**: the events of one revision are never split across responses; responses
  fragmented by the server (``fragment=True``) are reassembled before delivery;
* **errors are never silent**: compaction of the next revision raises
  `CompactedError` (with ``compact_revision``) from the iterator; a watch refused or
  cancelled by the server raises the mapped error (e.g. `PermissionDeniedError`), a
  cancellation without a reason `WatchCanceledError`; after `Client.close()` the
  iterator raises `ClientClosedError` once the responses already received are read.

Design:

* One background task per client (the multiplexer, in the client's task group) owns
  the stream. It is opened lazily with ``hasleader`` metadata, so a member cut off
  from its leader ends the stream (etcd 3.4/3.5 reset it a few election timeouts
  after losing the leader) and the multiplexer moves to another member instead of
  waiting on one that cannot see new writes. It is closed a second after the last
  watch ends. Dead members are noticed by HTTP/2 keepalive pings, and a create or
  progress request left unanswered for ``probe_after`` probes its connection with a
  PING at once.
* Creates are sent one at a time and matched to their ``created`` responses in order
  (etcd answers creates in order); the client also chooses each watch id, which etcd
  >= 3.4 honours, so that a refused create never clobbers another watch's id.
  Responses for watch ids the multiplexer does not know are answered with a cancel.
* Progress notifications requested with `Watch.request_progress` (watch id -1) go to
  every watch on the stream. In etcd releases without the fix of etcd issue 15220
  (3.4.23 and 3.5.1 among them) such a notification can overtake events still queued
  in the server, so it never moves a watch's resume point; per-watch notifications
  (``progress_notify=True``) are queued with the events (and sent only for watches
  that are caught up), so they do.

Slow consumers: each watch buffers the responses its consumer has not read yet. When
the buffer exceeds a bound (`BUFFER_LIMIT_EVENTS` events or `BUFFER_LIMIT_BYTES`
bytes of keys and values) the watch is cancelled on the shared stream and marked
*detached*, so it never stalls the stream or the other watches and memory stays
bounded; nothing is lost, because once the consumer has drained half of its buffer the
watch is recreated from its next unseen revision and etcd replays what was missed. A
consumer that is far behind therefore needs the server to still hold that history: if
it was compacted meanwhile the iterator raises `CompactedError`, as for any resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import re
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from . import _rpcs as rpc
from ._base import Handle, ServiceBase
from ._config import DEFAULT, TimeoutArg
from ._exceptions import (
    ArgumentTypeError,
    ArgumentValueError,
    AuthError,
    AuthOldRevisionError,
    ClientClosedError,
    CompactedError,
    ConnectError,
    DeadlineExceededError,
    EtcdError,
    InvalidAuthTokenError,
    ServerError,
    UnavailableError,
    UsageError,
    UserEmptyError,
    WatchCanceledError,
    error_for,
    from_grpc_error,
)
from ._keys import ALL_KEYS, check_bool, check_revision, resolve_range
from ._models import KeyValue, ResponseHeader, header, slot_setters
from ._proto import etcdserverpb as pb
from ._transport import CONNECTION_ERRORS, CallStream, EndpointConnection, Transport

if TYPE_CHECKING:  # `_codec` builds this module's events: it imports `_watch`
    from ._codec import WatchReply

__all__ = [
    "BUFFER_LIMIT_BYTES",
    "BUFFER_LIMIT_EVENTS",
    "Event",
    "EventType",
    "Watch",
    "WatchEvents",
    "WatchFilter",
    "WatchMixin",
    "WatchMultiplexer",
    "WatchResponse",
]

#: A watch whose unread responses hold more events than this is detached (see above).
BUFFER_LIMIT_EVENTS = 10_000
#: ... or more bytes of keys and values than this.
BUFFER_LIMIT_BYTES = 64 * 1024 * 1024
# etcd's watch id for responses that concern every watch of the stream.
_ALL_WATCHES = -1
# How long the stream stays open after its last watch ended, so that a program that
# creates watches one after another does not reopen it every time.
_LINGER = 1.0
# Reconnection backoff after a stream failed without delivering anything.
_BACKOFF_INITIAL = 0.05
_BACKOFF_MAX = 2.0
# A create refused for an auth reason is retried this often with a fresh token.
_AUTH_RETRIES = 1


# --------------------------------------------------------------------------- public types


class EventType(enum.IntEnum):
    """Kind of a watch `Event` (etcd's `mvccpb.Event.EventType`)."""

    PUT = 0
    DELETE = 1


class WatchFilter(enum.IntEnum):
    """Server-side event filters for `Client.watch(filters=...)`."""

    #: Drop PUT events.
    NOPUT = 0
    #: Drop DELETE events.
    NODELETE = 1


@dataclass(frozen=True, slots=True)
class Event:
    """One change of one key: a PUT (`kv` is the new key-value) or a DELETE (`kv` has
    the key and the deletion's `mod_revision`). `prev_kv` is the key-value before the
    change when the watch asked for it (`prev_kv=True`) and the key existed."""

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def is_create(self) -> bool:
        """A PUT that created the key (its first version)."""
        return self.type is EventType.PUT and self.kv.version == 1

    @property
    def is_modify(self) -> bool:
        """A PUT that changed an existing key."""
        return self.type is EventType.PUT and self.kv.version > 1


_new = object.__new__
_event_type, _event_kv, _event_prev_kv = slot_setters(Event)


def new_event(type: EventType, kv: KeyValue, prev_kv: KeyValue | None) -> Event:
    """`Event(...)`, built through its slots (see `_models.slot_setters`)."""
    event = _new(Event)
    _event_type(event, type)
    _event_kv(event, kv)
    _event_prev_kv(event, prev_kv)
    return event


@dataclass(frozen=True, slots=True)
class WatchResponse:
    """A batch of events of one or more whole revisions, in revision order.

    A response without events is a progress notification (`is_progress_notify`):
    the watch has seen every change up to `header.revision`. `compact_revision` is
    always `None` in delivered responses: compaction raises `CompactedError`, whose
    `compact_revision` says where the history starts now.
    """

    header: ResponseHeader
    events: tuple[Event, ...]
    compact_revision: int | None = None
    is_progress_notify: bool = False


# --------------------------------------------------------------------------- helpers


class _Signal:
    """A level-triggered wake-up for tasks of one event loop (no missed wake-ups): `wait`
    returns once `set` was called since the last `wait` returned.

    Built on one `asyncio.Event` (the client runs on asyncio): a fresh `anyio.Event` per
    wait cost more than the rest of handing a watch response to its consumer."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        event = self._event
        while not event.is_set():  # another waiter may have taken the wake-up first
            await event.wait()
        event.clear()


class _StreamEnd(Exception):
    """Internal: why the current stream must end, and what to do about its endpoint."""

    def __init__(
        self,
        reason: BaseException,
        *,
        mark_failed: bool = False,
        close: bool = False,
        refresh_token: bool = False,
    ) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.mark_failed = mark_failed
        self.close = close
        self.refresh_token = refresh_token


class _Idle(Exception):
    """Internal: the stream has had no watch for a while and is closed."""


_GO_CODE = re.compile(r"rpc error: code = (?P<code>\w+) desc = ")


def _status_from_reason(reason: str) -> Status | None:
    # etcd puts Go's `status.Error(...).Error()` text in some cancel reasons:
    # "rpc error: code = PermissionDenied desc = etcdserver: permission denied".
    match = _GO_CODE.match(reason)
    if match is None:
        return None
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", match.group("code")).upper()
    return Status.__members__.get(name)


def _reason_error(reason: str, default: type[EtcdError]) -> EtcdError:
    if not reason:
        return default()
    err = error_for(_status_from_reason(reason), reason)
    if type(err) is ServerError and default is not ServerError:
        return default(reason, status=err.status)
    return err


_STREAM_ERRORS: tuple[type[BaseException], ...] = (GRPCError, *CONNECTION_ERRORS)
# A stream ended with one of these will not do better on another member.
_TERMINAL_STATUSES = frozenset(
    {
        Status.INVALID_ARGUMENT,
        Status.NOT_FOUND,
        Status.PERMISSION_DENIED,
        Status.UNAUTHENTICATED,
        Status.FAILED_PRECONDITION,
        Status.OUT_OF_RANGE,
        Status.UNIMPLEMENTED,
    }
)


def _unavailable(err: BaseException) -> bool:
    """Errors that say "this member cannot serve now" (no leader, stopping, ...)."""
    return isinstance(err, EtcdError) and (
        err.retry_elsewhere or isinstance(err, (UnavailableError, DeadlineExceededError))
    )


def _stream_resumable(err: EtcdError) -> bool:
    """After a stream ended with `err`, do the watches continue on another stream?"""
    return _unavailable(err) or err.status not in _TERMINAL_STATUSES


def _auth_retryable(err: BaseException) -> bool:
    return isinstance(err, (InvalidAuthTokenError, AuthOldRevisionError, UserEmptyError))


def _size(events: list[Event]) -> int:
    """Bytes of keys and values of `events` (what the slow-consumer bound counts)."""
    size = 0
    for e in events:
        size += len(e.kv.key) + len(e.kv.value)
        if e.prev_kv is not None:
            size += len(e.prev_kv.key) + len(e.prev_kv.value)
    return size


# --------------------------------------------------------------------------- per watch


@dataclass(frozen=True, slots=True)
class _Spec:
    key: bytes
    range_end: bytes
    start_revision: int  # 0: "now"
    prev_kv: bool
    progress_notify: bool
    filters: tuple[WatchFilter, ...]
    fragment: bool


class _WatchState:
    """What the multiplexer knows about one watch, and its consumer's buffer."""

    def __init__(self, seq: int, spec: _Spec) -> None:
        self.seq = seq
        self.spec = spec
        # The next revision the watch has not seen; None until a "now" watch is created.
        self.next_rev: int | None = spec.start_revision or None
        # Revision of the last event queued for the consumer (deduplication).
        self.last_event_rev = 0
        # Highest revision promised to the consumer (events or progress).
        self.progress_rev = max(spec.start_revision - 1, 0)
        self.watch_id: int | None = None  # on the current stream
        self.queued_for_create = False
        self.created = False
        self.answered = anyio.Event()  # the first create was answered (or failed)
        self.detached = False
        self.closed = False  # ended by its owner
        self.error: BaseException | None = None  # raised once the buffer is drained
        self.auth_retries = 0
        self.fragments: list[Event] = []
        self.buffer: deque[tuple[WatchResponse, int, int]] = deque()
        self.buffered_events = 0
        self.buffered_bytes = 0
        self.signal = _Signal()

    @property
    def live(self) -> bool:
        return not self.closed and self.error is None

    def create_request(self, watch_id: int) -> pb.WatchRequest:
        spec = self.spec
        return pb.WatchRequest(
            create_request=pb.WatchCreateRequest(
                key=spec.key,
                range_end=spec.range_end,
                start_revision=self.next_rev or 0,
                progress_notify=spec.progress_notify,
                filters=[pb.WatchCreateRequestFilterType(int(f)) for f in spec.filters],
                prev_kv=spec.prev_kv,
                watch_id=watch_id,
                fragment=spec.fragment,
            )
        )

    def push(self, response: WatchResponse, size: int) -> None:
        count = len(response.events) or 1  # a progress notification counts as one
        self.buffer.append((response, count, size))
        self.buffered_events += count
        self.buffered_bytes += size
        self.signal.set()

    def pop(self) -> WatchResponse:
        response, count, size = self.buffer.popleft()
        self.buffered_events -= count
        self.buffered_bytes -= size
        return response

    def fail(self, err: BaseException) -> None:
        if self.error is None and not self.closed:
            self.error = err
        self.answered.set()
        self.signal.set()


# --------------------------------------------------------------------------- multiplexer


class WatchMultiplexer:
    """Runs the client's one Watch stream and routes its responses to the watches.

    Internal; registered as the client's ``"watch"`` background service. The counters
    (`streams_opened`, `fragments_received`, `detaches`) and `endpoint` are for tests
    and diagnostics.
    """

    def __init__(self, transport: Transport, task_group: TaskGroup) -> None:
        self._transport = transport
        self._task_group = task_group
        self.buffer_limit_events = BUFFER_LIMIT_EVENTS
        self.buffer_limit_bytes = BUFFER_LIMIT_BYTES
        self.linger = _LINGER
        self.streams_opened = 0
        self.fragments_received = 0
        self.detaches = 0
        self.last_error: BaseException | None = None
        # Why streams ended, by exception class name (diagnostics).
        self.stream_errors: Counter[str] = Counter()
        self._closed = False
        self._running = False
        self._seq = 0
        self._next_watch_id = 0
        self._watches: dict[int, _WatchState] = {}
        self._demand = _Signal()
        self._wake_sender = _Signal()
        # State of the current stream.
        self._conn: EndpointConnection | None = None
        self._stream_token: str | None = None
        self._by_id: dict[int, _WatchState] = {}
        self._cancelling: set[int] = set()
        self._cancel_queue: list[int] = []
        self._create_queue: deque[_WatchState] = deque()
        self._creating: _WatchState | None = None
        self._progress_waiters: list[anyio.Event] = []
        self._last_recv = 0.0
        self._stream_error: BaseException | None = None
        self._restart: _StreamEnd | None = None
        self._failed_conn: EndpointConnection | None = None

    # -- for tests and diagnostics ------------------------------------------------

    @property
    def endpoint(self) -> str | None:
        """URL of the endpoint the stream is on (None while disconnected)."""
        return None if self._conn is None else self._conn.endpoint.url

    @property
    def watch_count(self) -> int:
        return len(self._watches)

    # -- called by Watch handles ------------------------------------------------------

    def check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("the client is closed")
        self._transport.check_open()

    def add(self, spec: _Spec) -> _WatchState:
        self.check_open()
        self._seq += 1
        state = _WatchState(self._seq, spec)
        self._watches[state.seq] = state
        self._enqueue_create(state)
        self._demand.set()
        if not self._running:
            self._running = True
            self._task_group.start_soon(self._run, name="aetcd watch multiplexer")
        return state

    def remove(self, state: _WatchState) -> None:
        """The owner is done with the watch: forget it and cancel it on the server."""
        state.closed = True
        state.signal.set()
        state.answered.set()
        self._forget(state)

    def reattach_if_drained(self, state: _WatchState) -> None:
        if (
            state.detached
            and state.live
            and state.buffered_events <= self.buffer_limit_events // 2
            and state.buffered_bytes <= self.buffer_limit_bytes // 2
        ):
            state.detached = False
            self._enqueue_create(state)

    async def request_progress(self, timeout: float | None) -> None:
        self.check_open()
        done = anyio.Event()
        self._progress_waiters.append(done)
        self._wake_sender.set()
        try:
            with anyio.fail_after(timeout):
                await done.wait()
        except TimeoutError:
            if done in self._progress_waiters:
                self._progress_waiters.remove(done)
            raise DeadlineExceededError(
                "Watch: progress request not sent within the deadline (no stream)"
            ) from None
        self.check_open()

    def timeout_error(self, timeout: float | None) -> EtcdError:
        if self._conn is None and self.last_error is not None:
            return ConnectError(f"Watch: no etcd endpoint reachable: {self.last_error}")
        return DeadlineExceededError(f"Watch: the watch was not created within {timeout} s")

    def close(self) -> None:
        """The client is closing: fail every watch with `ClientClosedError`."""
        self._closed = True
        for state in list(self._watches.values()):
            state.fail(ClientClosedError("the client was closed"))
        self._watches.clear()
        for done in self._progress_waiters:
            done.set()
        self._progress_waiters.clear()
        self._demand.set()
        self._wake_sender.set()

    # -- bookkeeping --------------------------------------------------------------------

    def _enqueue_create(self, state: _WatchState) -> None:
        if not state.queued_for_create:
            state.queued_for_create = True
            self._create_queue.append(state)
            self._wake_sender.set()

    def _forget(self, state: _WatchState) -> None:
        self._watches.pop(state.seq, None)
        self._cancel_on_server(state)
        if not self._watches:
            self._wake_sender.set()  # may start the linger

    def _cancel_on_server(self, state: _WatchState) -> None:
        state.fragments = []
        wid, state.watch_id = state.watch_id, None
        if wid is not None and self._by_id.get(wid) is state:
            del self._by_id[wid]
            self._cancel_id(wid)

    def _cancel_id(self, wid: int) -> None:
        if wid not in self._cancelling:
            self._cancelling.add(wid)
            self._cancel_queue.append(wid)
            self._wake_sender.set()

    def _terminate(self, state: _WatchState, err: BaseException) -> None:
        state.fail(err)
        self._forget(state)

    def _fail_all(self, err: BaseException) -> None:
        for state in list(self._watches.values()):
            self._terminate(state, err)

    def _reset_stream_state(self) -> None:
        self._conn = None
        self._by_id.clear()
        self._cancelling.clear()
        self._cancel_queue.clear()
        self._creating = None
        self._create_queue.clear()
        for state in sorted(self._watches.values(), key=lambda s: s.seq):
            state.watch_id = None
            state.fragments = []
            state.queued_for_create = False
            if not state.detached:
                self._enqueue_create(state)

    # -- the stream ---------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while not self._closed:
            if not self._watches:
                await self._demand.wait()
                continue
            progressed = False
            try:
                progressed = await self._serve_stream()
            except _Idle:
                progressed = True
            except ClientClosedError:
                return
            except Exception as exc:  # a bug must not kill the client's task group
                self.last_error = exc
                self._fail_all(exc)
            finally:
                self._reset_stream_state()
            if self._closed:
                return
            failures = 0 if progressed else failures + 1
            if failures:
                delay = min(_BACKOFF_INITIAL * 2 ** (failures - 1), _BACKOFF_MAX)
                await anyio.sleep(delay * random.uniform(0.8, 1.2))

    async def _connect(self, exclude: EndpointConnection | None) -> EndpointConnection:
        transport = self._transport
        while True:
            deadline = time.monotonic() + transport.config.connect_timeout
            try:
                return await transport.connect(rpc.WATCH, deadline, exclude=exclude)
            except ConnectError as exc:
                self.last_error = exc

    async def _serve_stream(self) -> bool:
        """Open a stream and serve it until it ends; True if it received anything."""
        transport = self._transport
        conn = await self._connect(self._failed_conn)
        try:
            md = await transport.metadata(rpc.WATCH, require_leader=True)
        except EtcdError as exc:  # logging in failed
            self.last_error = exc
            if not _unavailable(exc):
                self._fail_all(exc)  # e.g. a wrong password: nothing will ever work
            return False
        token = dict(md).get("token")
        stream = transport.open_lane_stream(conn, rpc.WATCH, md)
        self.streams_opened += 1
        self._conn = conn
        self._stream_token = token
        self._stream_error = None
        self._restart = None
        self._last_recv = 0.0
        try:
            async with stream:
                await stream.send_request()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._guard, self._send_loop(stream, conn), tg)
                    tg.start_soon(self._guard, self._recv_loop(stream, conn), tg)
                # Leave `async with stream` with an exception: grpclib then resets the
                # HTTP/2 stream instead of waiting for the server to end it.
                raise _StreamEnd(_Idle("done"))
        except _StreamEnd:
            pass
        except _STREAM_ERRORS as exc:
            if self._stream_error is None:
                self._stream_error = exc
        progressed = self._last_recv > 0.0
        self._failed_conn = None
        if self._stream_error is not None:
            await self._after_stream_error(self._stream_error, conn, token)
        return progressed

    async def _guard(self, coro: Any, tg: TaskGroup) -> None:
        # Both loops end the stream: the first error is kept, the other loop cancelled.
        try:
            await coro
        except Exception as exc:
            if self._stream_error is None:
                self._stream_error = exc
        tg.cancel_scope.cancel()

    def _request_restart(self, reason: _StreamEnd) -> None:
        if self._restart is None:
            self._restart = reason
        self._wake_sender.set()

    async def _after_stream_error(
        self, exc: BaseException, conn: EndpointConnection, token: str | None
    ) -> None:
        if isinstance(exc, _Idle):
            raise exc
        if isinstance(exc, _StreamEnd):
            reason = exc.reason
            self.stream_errors[type(reason).__name__] += 1
            self.last_error = reason
            if exc.mark_failed:
                conn.mark_failed(reason, close=exc.close)
                self._failed_conn = conn
            if exc.refresh_token:
                await self._refresh_token(token)
            return
        self.last_error = exc
        if isinstance(exc, CONNECTION_ERRORS):
            self.stream_errors[type(exc).__name__] += 1
            # A member that lost its leader resets `hasleader` streams (RST_STREAM, not
            # a status): only the stream failed, its connection may serve other calls.
            stream_only = isinstance(exc, StreamTerminatedError) and str(exc).startswith(
                "Stream reset"
            )
            conn.mark_failed(exc, close=not stream_only)
            self._failed_conn = conn
            return
        err = from_grpc_error(exc) if isinstance(exc, GRPCError) else exc
        self.last_error = err
        self.stream_errors[type(err).__name__] += 1
        if not isinstance(err, EtcdError):
            raise err  # a bug: reported to every watch by _run
        if _auth_retryable(err) and self._transport.auth is not None:
            await self._refresh_token(token)
            return
        if _stream_resumable(err):
            # e.g. "no leader" on a partitioned member: go to another one.
            conn.mark_failed(err, close=False)
            self._failed_conn = conn
            return
        self._fail_all(err)

    async def _refresh_token(self, stale: str | None) -> None:
        auth = self._transport.auth
        if auth is None:
            return
        try:
            await auth.refresh(stale)
        except EtcdError as exc:
            self.last_error = exc
            if not _unavailable(exc):
                self._fail_all(exc)

    async def _send_loop(self, stream: CallStream, conn: EndpointConnection) -> None:
        while True:
            if self._restart is not None:
                raise self._restart
            request, waiters = self._next_request()
            if request is not None:
                await stream.send_message(request)
                for done in waiters:
                    done.set()
                if request.create_request is not None or request.progress_request is not None:
                    self._schedule_probe(conn)
                continue
            if not self._watches and not self._cancel_queue:
                woken = False
                with anyio.move_on_after(self.linger):
                    await self._wake_sender.wait()
                    woken = True
                if not woken and not self._watches:
                    raise _Idle
                continue
            await self._wake_sender.wait()

    def _next_request(self) -> tuple[pb.WatchRequest | None, list[anyio.Event]]:
        if self._cancel_queue:
            wid = self._cancel_queue.pop(0)
            return pb.WatchRequest(cancel_request=pb.WatchCancelRequest(watch_id=wid)), []
        if self._progress_waiters:
            waiters, self._progress_waiters = self._progress_waiters, []
            return pb.WatchRequest(progress_request=pb.WatchProgressRequest()), waiters
        while self._creating is None and self._create_queue:
            state = self._create_queue.popleft()
            state.queued_for_create = False
            if not state.live or state.detached or state.watch_id is not None:
                continue
            self._creating = state
            self._next_watch_id += 1
            return state.create_request(self._next_watch_id), []
        return None, []

    def _schedule_probe(self, conn: EndpointConnection) -> None:
        # A request the server should answer at once: if nothing at all arrives within
        # probe_after, ask the connection for a PING ack (a dead member is left fast).
        sent = time.monotonic()

        def check() -> None:
            if self._conn is conn and self._last_recv < sent:
                conn.probe()

        asyncio.get_running_loop().call_later(self._transport.config.probe_after, check)

    async def _recv_loop(self, stream: CallStream, conn: EndpointConnection) -> None:
        first = True
        while True:
            message: WatchReply | None = await stream.recv_message()
            if message is None:
                # The server ended the stream; its status says why.
                with contextlib.suppress(Exception):  # may be half-closed already
                    await stream.end()
                await stream.recv_trailing_metadata()
                raise _StreamEnd(
                    UnavailableError("Watch: the server ended the stream"), mark_failed=True
                )
            self._last_recv = time.monotonic()
            if first:
                first = False
                conn.mark_ok()
            self._handle(message)

    # -- responses ------------------------------------------------------------------------

    def _handle(self, r: WatchReply) -> None:
        if r.created:
            self._on_created(r)
            return
        wid = r.watch_id
        if wid == _ALL_WATCHES:
            if not r.canceled and not r.events:
                h = header(None) if r.header is None else r.header
                for each in list(self._by_id.values()):
                    self._deliver_progress(each, h, broadcast=True)
            return
        state = self._by_id.get(wid)
        if state is None:
            if wid in self._cancelling:
                if r.canceled:
                    self._cancelling.discard(wid)
            elif not r.canceled:
                self._cancel_id(wid)  # events for a watch nobody owns
            return
        if r.canceled:
            self._on_canceled(state, r)
            return
        if r.fragment:
            self.fragments_received += 1
            state.fragments.extend(r.events)
            return
        events, size = r.events, r.size
        if state.fragments:
            events = state.fragments + events
            size = _size(events)
            state.fragments = []
        h = header(None) if r.header is None else r.header
        if events:
            self._deliver_events(state, h, events, size)
        else:
            self._deliver_progress(state, h, broadcast=False)

    def _on_created(self, r: WatchReply) -> None:
        state = self._creating
        self._creating = None
        self._wake_sender.set()
        if state is None or not state.live or state.detached:
            # Its owner left (or it detached) while the create was in flight.
            if not r.canceled and r.watch_id != _ALL_WATCHES:
                self._cancel_id(r.watch_id)
            return
        if r.canceled:
            self._on_refused(state, r)
            return
        state.auth_retries = 0
        state.watch_id = r.watch_id
        self._by_id[r.watch_id] = state
        if state.next_rev is None:
            # A watch from "now" starts after the revision the server had when it
            # created it, so resuming from there loses nothing written after entering.
            state.next_rev = r.header.revision + 1 if r.header is not None else None
        if not state.created:
            state.created = True
            state.answered.set()

    def _on_refused(self, state: _WatchState, r: WatchReply) -> None:
        err = _reason_error(r.cancel_reason, WatchCanceledError)
        if _unavailable(err):
            # e.g. "no leader": this member cannot serve; recreate everything elsewhere.
            raise _StreamEnd(err, mark_failed=True)
        auth_enabled = self._transport.auth is not None
        if auth_enabled and isinstance(err, AuthError) and state.auth_retries < _AUTH_RETRIES:
            state.auth_retries += 1
            if _auth_retryable(err):
                raise _StreamEnd(err, refresh_token=True)
            # etcd < 3.6 also answers "permission denied" when the stream's token
            # expired: ask a unary call (which refreshes its token) whether the range is
            # really forbidden before failing the watch.
            self._task_group.start_soon(self._verify_refusal, state, err, self._stream_token)
            return
        self._terminate(state, err)

    async def _verify_refusal(
        self, state: _WatchState, err: EtcdError, stream_token: str | None
    ) -> None:
        spec = state.spec
        request = pb.RangeRequest(
            key=spec.key, range_end=spec.range_end, limit=1, count_only=True, serializable=True
        )
        transport = self._transport
        try:
            await transport.unary(rpc.RANGE, request, timeout=transport.config.timeout)
        except Exception:  # really forbidden, or cannot tell: report the refusal
            self._terminate(state, err)
            return
        if not state.live or self._closed:
            return
        # Readable with a fresh token: the stream's token had expired. Reopen the stream
        # with the current token; every watch resumes on it.
        # Single-flight: no new login if the token was already replaced meanwhile.
        await self._refresh_token(stream_token)
        if self._stream_token == stream_token and self._conn is not None:
            expired = InvalidAuthTokenError("Watch: the stream's auth token expired")
            self._request_restart(_StreamEnd(expired))
        else:
            self._enqueue_create(state)

    def _on_canceled(self, state: _WatchState, r: WatchReply) -> None:
        self._by_id.pop(r.watch_id, None)
        state.watch_id = None
        state.fragments = []
        if r.compact_revision:
            err: EtcdError = CompactedError(
                f"etcdserver: mvcc: required revision has been compacted "
                f"(the watch needs revision {state.next_rev}; the history now starts at "
                f"{r.compact_revision})",
                compact_revision=r.compact_revision,
            )
        else:
            err = _reason_error(r.cancel_reason, WatchCanceledError)
            if _unavailable(err):
                raise _StreamEnd(err, mark_failed=True)
        self._terminate(state, err)

    def _deliver_events(
        self, state: _WatchState, h: ResponseHeader, events: list[Event], size: int
    ) -> None:
        floor = state.last_event_rev
        if events[0].kv.mod_revision <= floor:
            # Already delivered (a replay after resuming): keep only newer revisions.
            events = [e for e in events if e.kv.mod_revision > floor]
            if not events:
                return
            size = _size(events)
        rev = events[-1].kv.mod_revision
        state.last_event_rev = rev
        state.next_rev = rev + 1
        if rev > state.progress_rev:
            state.progress_rev = rev
        self._push(state, WatchResponse(h, tuple(events)), size)

    def _deliver_progress(self, state: _WatchState, h: ResponseHeader, *, broadcast: bool) -> None:
        if state.detached or h.revision < state.progress_rev:
            return  # nothing new (e.g. from a member that is behind): not a bookmark
        state.progress_rev = h.revision
        if not broadcast and state.next_rev is not None:
            state.next_rev = max(state.next_rev, h.revision + 1)
        self._push(state, WatchResponse(h, (), None, True), 0)

    def _push(self, state: _WatchState, response: WatchResponse, size: int) -> None:
        state.push(response, size)
        if (
            state.buffered_events > self.buffer_limit_events
            or state.buffered_bytes > self.buffer_limit_bytes
        ):
            # The consumer fell behind: stop this watch on the shared stream rather than
            # buffer without bound; it is recreated from next_rev once drained.
            state.detached = True
            self.detaches += 1
            self._cancel_on_server(state)


# --------------------------------------------------------------------------- handles


class Watch(Handle):
    """A watch on a key or range: an async context manager and an async iterator of
    `WatchResponse`.

        async with client.watch("k") as watch:
            async for response in watch: ...

    Entering returns once the server has answered the create, so every write made
    afterwards is delivered. Leaving cancels the watch on the server. `await
    client.watch(...)` also works; then call `await watch.cancel()` when done.
    See the module documentation for the delivery guarantees.
    """

    def __init__(self, client: WatchMixin, spec: _Spec, timeout: TimeoutArg) -> None:
        self._client = client
        self._spec = spec
        self._timeout = timeout
        self._mux: WatchMultiplexer | None = None
        self._state: _WatchState | None = None

    def __repr__(self) -> str:
        spec = self._spec
        state = "new" if self._state is None else ("closed" if self.closed else "active")
        end = f" range_end={spec.range_end!r}" if spec.range_end else ""
        return f"<aetcd.Watch key={spec.key!r}{end} {state}>"

    @property
    def key(self) -> bytes:
        """The watched key (the start of the range)."""
        return self._spec.key

    @property
    def range_end(self) -> bytes:
        """The end of the watched range, exclusive (`b"\\x00"`: every key from `key`
        on; empty for a single key)."""
        return self._spec.range_end

    @property
    def closed(self) -> bool:
        """Whether the watch ended (cancelled, failed, or its client closed)."""
        state = self._state
        return state is not None and not state.live

    async def _start(self) -> Watch:
        if self._state is not None:
            raise UsageError("a Watch handle can be started only once")
        mux = self._client._watch_multiplexer()
        timeout = self._client._transport.config.resolve_timeout(self._timeout)
        state = mux.add(self._spec)
        self._mux, self._state = mux, state
        try:
            with anyio.fail_after(timeout):
                await state.answered.wait()
        except TimeoutError:
            mux.remove(state)
            raise mux.timeout_error(timeout) from None
        except BaseException:
            mux.remove(state)
            raise
        # A refused create (permission denied, ...) is raised by the iterator, like a
        # cancellation later on; ClientClosedError is raised here.
        if isinstance(state.error, ClientClosedError):
            raise state.error
        return self

    async def cancel(self) -> None:
        """Cancel the watch on the server; iteration then stops. Idempotent."""
        if self._mux is not None and self._state is not None and not self._state.closed:
            self._mux.remove(self._state)

    async def close(self) -> None:
        """Same as `cancel()`."""
        await self.cancel()

    def _started(self) -> tuple[WatchMultiplexer, _WatchState]:
        if self._mux is None or self._state is None:
            raise UsageError("enter the watch first: `async with client.watch(...) as watch`")
        return self._mux, self._state

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> WatchResponse:
        mux, state = self._started()
        while True:
            if state.buffer:
                response = state.pop()
                if state.detached:
                    mux.reattach_if_drained(state)
                return response
            if state.error is not None:
                raise state.error
            if state.closed:
                raise StopAsyncIteration
            await state.signal.wait()

    def events(self) -> WatchEvents:
        """The events of every response, one by one (progress notifications skipped)."""
        return WatchEvents(self)

    async def request_progress(self, *, timeout: TimeoutArg = DEFAULT) -> None:
        """Ask the server for a progress notification: every watch of the client's
        stream then receives a response without events whose `header.revision` says how
        far the store is. Returns once the request is sent."""
        mux, state = self._started()
        if state.error is not None:
            raise state.error
        if state.closed:
            raise UsageError("the watch is cancelled")
        await mux.request_progress(self._client._transport.config.resolve_timeout(timeout))


class WatchEvents:
    """Async iterator of the `Event`s of a `Watch`, returned by `Watch.events()`."""

    def __init__(self, watch: Watch) -> None:
        self._watch = watch
        self._pending: deque[Event] = deque()

    def __aiter__(self) -> WatchEvents:
        return self

    async def __anext__(self) -> Event:
        while not self._pending:
            response = await self._watch.__anext__()
            self._pending.extend(response.events)
        return self._pending.popleft()


# --------------------------------------------------------------------------- mixin


def _filters(value: Any) -> tuple[WatchFilter, ...]:
    if isinstance(value, (WatchFilter, str)):
        value = (value,)
    try:
        items = list(value)
    except TypeError:
        raise ArgumentTypeError(
            f"filters: expected a sequence of aetcd.WatchFilter, got {type(value).__name__}"
        ) from None
    result = []
    for item in items:
        if isinstance(item, WatchFilter):
            result.append(item)
        elif isinstance(item, str) and item.upper() in WatchFilter.__members__:
            result.append(WatchFilter[item.upper()])
        else:
            raise ArgumentValueError(
                f"filters: expected aetcd.WatchFilter.NOPUT or NODELETE, got {item!r}"
            )
    return tuple(dict.fromkeys(result))


class WatchMixin(ServiceBase):
    """The `watch` call of `Client`."""

    def watch(
        self,
        key: str | bytes,
        *,
        range_end: str | bytes | None = None,
        prefix: bool = False,
        from_key: bool = False,
        start_revision: int | None = None,
        prev_kv: bool = False,
        progress_notify: bool = False,
        filters: Iterable[WatchFilter] = (),
        fragment: bool = False,
        timeout: TimeoutArg = DEFAULT,
    ) -> Watch:
        """Watch `key`, the range `[key, range_end)`, every key with the prefix `key`
        (`prefix=True`) or every key >= `key` (`from_key=True`).

        Use as `async with client.watch(...) as watch:` and iterate the watch for
        `WatchResponse`s (or `watch.events()` for single `Event`s). `start_revision`
        replays the history from that revision (default: changes after the watch is
        created); `prev_kv` adds each key's previous key-value to its events;
        `progress_notify` asks the server for periodic empty responses when nothing
        changes; `filters` drops PUT or DELETE events on the server; `fragment` lets the
        server split huge revisions into several messages, which are reassembled here.
        `timeout` bounds the wait for the server to create the watch.
        """
        self._transport.check_open()
        k, end = resolve_range(key, range_end, prefix=prefix, from_key=from_key)
        if end and end != ALL_KEYS and k >= end:
            raise ArgumentValueError(
                f"range_end: must be greater than key (key={k!r}, range_end={end!r})"
            )
        spec = _Spec(
            key=k,
            range_end=end,
            start_revision=check_revision("start_revision", start_revision),
            prev_kv=check_bool("prev_kv", prev_kv),
            progress_notify=check_bool("progress_notify", progress_notify),
            filters=_filters(filters),
            fragment=check_bool("fragment", fragment),
        )
        if timeout is not DEFAULT:
            self._transport.config.resolve_timeout(timeout)  # validate now
        return Watch(self, spec, timeout)

    def _watch_multiplexer(self) -> WatchMultiplexer:
        self._transport.check_open()
        service = self._services.get("watch")
        if isinstance(service, WatchMultiplexer):
            return service
        task_group: TaskGroup = self.task_group  # type: ignore[attr-defined]
        mux = WatchMultiplexer(self._transport, task_group)
        self._services["watch"] = mux
        return mux
