"""Leases: grant, revoke, TTL and list calls, and the keep-alive manager.

`LeaseMixin` gives `Client` the lease RPCs and two handles:

* `client.lease(ttl)` → `Lease`: grants a lease, keeps it alive in the background and
  revokes it when the `async with` block ends (or on `await lease.close()`);
* `client.keep_alive(id)` → `LeaseKeeper`: keeps an existing lease alive without owning
  it (leaving the block stops the keep-alive, it does not revoke).

Every kept lease of a client shares **one** `LeaseKeepAlive` stream, run by
`_KeepAliveManager` in the client's task group (Go clientv3's `lessor` does the same):

* a lease is refreshed about every TTL/3 of the TTL the server last returned, and its
  deadline is TTL after the last reply; a reply with TTL <= 0 (revoked, expired) or a
  passed deadline ends its keep-alive and is reported to every holder
  (`expired`, `wait_expired()`, `LeaseExpiredError` from iteration) — never silently;
* the stream is opened when the first lease needs keeping, carries `hasleader` (so a
  member cut off from the leader refuses it instead of stalling), and after a failure is
  reopened on another endpoint at once (attempts that get no reply at all are spaced
  0.5 s apart); requests left unanswered by the broken stream are resent on the new one;
* a stream with requests unanswered for 1 s has its connection probed with an HTTP/2
  PING (a frozen member is dropped within about two seconds), and one unanswered for
  TTL/3 of the shortest kept lease (at least 1 s) is abandoned for another member;
* sends and receives run in separate tasks and never wait for the holders: responses
  are buffered per iterating holder (the 16 newest), so a slow consumer costs nothing.

Decision about unknown leases: etcd answers `LeaseTimeToLive` for a missing lease with
TTL -1 and `LeaseKeepAlive` with TTL 0 rather than an error; aetcd raises
`LeaseNotFoundError` for both, as `LeaseRevoke` already does, so an unknown id fails
the same way in every call.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import anyio
from anyio.abc import TaskGroup
from grpclib.exceptions import GRPCError

from . import _rpcs as rpc
from ._base import Handle, ServiceBase
from ._config import DEFAULT, TimeoutArg
from ._exceptions import (
    ArgumentTypeError,
    ArgumentValueError,
    ClientClosedError,
    DeadlineExceededError,
    EtcdError,
    LeaseExistsError,
    LeaseExpiredError,
    LeaseNotFoundError,
    UsageError,
    from_grpc_error,
)
from ._keys import LeaseId
from ._models import ResponseHeader, header
from ._proto import etcdserverpb as pb
from ._transport import CONNECTION_ERRORS, CallStream, EndpointConnection, Transport

__all__ = [
    "Lease",
    "LeaseGrantResponse",
    "LeaseKeepAliveResponse",
    "LeaseKeeper",
    "LeaseMixin",
    "LeaseRevokeResponse",
    "LeaseTimeToLiveResponse",
]

logger = logging.getLogger("aetcd.lease")

_MAX_INT64: Final = 2**63 - 1
# Sends due within this much of each other go out together: leases granted one after
# another then share their wake-ups, and the replies of one batch keep them together.
SEND_SLACK: Final = 0.1
# A stream that got no reply is reopened no sooner than this after the last attempt
# (one that worked is reopened at once).
RETRY_WAIT: Final = 0.5
# Requests unanswered for this long make the stream give up on its member, unless the
# shortest kept lease allows longer (TTL/3).
MIN_STALL: Final = 1.0
# How often the stream's watchdog looks at unanswered requests.
WATCHDOG_TICK: Final = 0.25
# A stream with no lease to keep is closed after this long.
IDLE_CLOSE: Final = 10.0
# Responses buffered for a holder that iterates but does not keep up.
BUFFERED_RESPONSES: Final = 16
# Bound on the revoke done when a `Lease` block exits (shielded from cancellation).
CLEANUP_TIMEOUT: Final = 5.0
# How long a grant interrupted by cancellation may go on to learn whether it applied.
GRANT_GRACE: Final = 1.0


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class LeaseGrantResponse:
    """Result of `lease_grant`: the lease `id` and the `ttl` (seconds) the server
    granted, which may be larger than asked (etcd's minimum TTL)."""

    header: ResponseHeader
    id: int
    ttl: int


@dataclass(frozen=True, slots=True)
class LeaseRevokeResponse:
    """Result of `lease_revoke`."""

    header: ResponseHeader


@dataclass(frozen=True, slots=True)
class LeaseTimeToLiveResponse:
    """Result of `lease_time_to_live`: the remaining `ttl` (seconds, rounded down, so 0
    just before expiry), the `granted_ttl`, and the attached `keys` when requested."""

    header: ResponseHeader
    id: int
    ttl: int
    granted_ttl: int
    keys: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseKeepAliveResponse:
    """One refresh of a lease: its `id` and the `ttl` (seconds) it was renewed for."""

    header: ResponseHeader
    id: int
    ttl: int


# --------------------------------------------------------------------------- arguments


def check_ttl(ttl: Any) -> int:
    """A TTL in whole seconds: a positive `int`."""
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise ArgumentTypeError(
            f"ttl: expected int (seconds), got {type(ttl).__name__}", argument="ttl"
        )
    if not 0 < ttl <= _MAX_INT64:
        raise ArgumentValueError(
            f"ttl: must be a positive number of seconds, got {ttl}", argument="ttl"
        )
    return ttl


def check_lease_id(value: Any, name: str = "id") -> int:
    """A lease id (a positive int64), given as an int or an object with an int `id`."""
    lease_id = getattr(value, "id", value)
    if isinstance(lease_id, bool) or not isinstance(lease_id, int):
        raise ArgumentTypeError(
            f"{name}: expected a lease id (int) or a lease, got {type(value).__name__}",
            argument=name,
        )
    if not 0 < lease_id <= _MAX_INT64:
        raise ArgumentValueError(
            f"{name}: a lease id must be a positive int64, got {lease_id}", argument=name
        )
    return lease_id


def _new_lease_id() -> int:
    return secrets.randbits(63) or 1


def _certainly_not_granted(result: int | Exception) -> bool:
    # An error proving the grant was not applied (refused, or never sent).
    return isinstance(result, EtcdError) and not result.maybe_applied


# --------------------------------------------------------------------------- scheduling


class _KeptLease:
    """One lease id kept alive by the manager, shared by all its holders."""

    __slots__ = (
        "confirmed",
        "deadline",
        "deadline_item",
        "error",
        "expired",
        "finished",
        "gone",
        "holders",
        "id",
        "in_flight",
        "next_send",
        "request",
        "send_item",
        "ttl",
    )

    def __init__(self, lease_id: int) -> None:
        self.id = lease_id
        self.request = bytes(pb.LeaseKeepAliveRequest(id=lease_id))
        self.ttl: int | None = None  # as last returned by the server
        self.next_send = math.inf
        self.deadline = math.inf
        # Times of this entry's single item in each heap (see `_Schedule`).
        self.send_item = math.inf
        self.deadline_item = math.inf
        self.in_flight = False  # sent on the current stream, not yet answered
        self.finished = False
        self.expired = False
        self.gone = False  # the server said so, or it was revoked: nothing to revoke
        self.error: EtcdError | None = None
        self.holders: set[_Holder] = set()
        self.confirmed: anyio.Event | None = None  # set at the first reply (keepers)

    def __repr__(self) -> str:
        return f"<_KeptLease {self.id:x} ttl={self.ttl} holders={len(self.holders)}>"


def retry_interval(ttl: int | None) -> float:
    """How long after sending to send again when no reply came: TTL/3, or 1 s while the
    TTL is unknown (a kept id that has not been answered yet)."""
    return ttl / 3 if ttl else 1.0


class _Schedule:
    """When to send each lease's keep-alive and when its deadline passes.

    Pure bookkeeping on `time.monotonic()` values passed in, so it is unit-testable.
    Each entry has at most one item in each heap: moving a time later only updates the
    entry (the item is re-pushed at the new time when it comes up), moving it earlier
    pushes a new item and the old one is skipped as stale. A reply therefore costs no
    heap operation at all, and each lease wakes the timer about once per TTL/3.
    """

    def __init__(self) -> None:
        self._sends: list[tuple[float, int, _KeptLease]] = []
        self._deadlines: list[tuple[float, int, _KeptLease]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._sends) + len(self._deadlines)

    def set_next_send(self, entry: _KeptLease, when: float) -> bool:
        """Schedule the next send; True when the timer must wake earlier than planned."""
        entry.next_send = when
        if when < entry.send_item:
            entry.send_item = when
            heapq.heappush(self._sends, (when, next(self._seq), entry))
            return True
        return False

    def set_deadline(self, entry: _KeptLease, when: float) -> bool:
        entry.deadline = when
        if when < entry.deadline_item:
            entry.deadline_item = when
            heapq.heappush(self._deadlines, (when, next(self._seq), entry))
            return True
        return False

    def on_reply(self, entry: _KeptLease, ttl: int, now: float) -> None:
        """A keep-alive reply renewed the lease for `ttl` seconds at `now`."""
        entry.ttl = ttl
        self.set_next_send(entry, now + ttl / 3)
        self.set_deadline(entry, now + ttl)

    def pop_due(self, now: float) -> tuple[list[_KeptLease], list[_KeptLease]]:
        """The leases to send now (due within `SEND_SLACK`) and those whose deadline
        passed. Each lease sent is rescheduled for a resend in case no reply comes."""
        sends: list[_KeptLease] = []
        heap = self._sends
        horizon = now + SEND_SLACK
        while heap and heap[0][0] <= horizon:
            when, _, entry = heapq.heappop(heap)
            if entry.finished or when != entry.send_item:
                continue  # stale
            entry.send_item = math.inf
            if entry.next_send > horizon:
                self.set_next_send(entry, entry.next_send)  # postponed by a reply
                continue
            sends.append(entry)
            self.set_next_send(entry, now + retry_interval(entry.ttl))
        expired: list[_KeptLease] = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            when, _, entry = heapq.heappop(heap)
            if entry.finished or when != entry.deadline_item:
                continue
            entry.deadline_item = math.inf
            if entry.deadline > now:
                self.set_deadline(entry, entry.deadline)  # extended by a reply
                continue
            expired.append(entry)
        return sends, expired

    def next_wakeup(self) -> float | None:
        """When `pop_due` next has something to do (or to skip), if ever."""
        first = min(
            self._sends[0][0] if self._sends else math.inf,
            self._deadlines[0][0] if self._deadlines else math.inf,
        )
        return None if first == math.inf else first


# --------------------------------------------------------------------------- manager


class _StreamStalled(Exception):
    """Internal: requests on the keep-alive stream went unanswered too long."""


class _StreamEnded(Exception):
    """Internal: the server ended the keep-alive stream without an error status."""


class _KeepAliveManager:
    """Keeps every lease of one client alive over one `LeaseKeepAlive` stream.

    Runs as one task in the client's task group (`run`), with a timer task (sends due,
    deadlines passed) and a stream task; the stream task runs a sender, a receiver and a
    watchdog per stream. Nothing here raises into the task group: failures are logged,
    the stream is reopened, and lease losses are reported to the holders.
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._entries: dict[int, _KeptLease] = {}
        self._schedule = _Schedule()
        self._outbox: dict[int, _KeptLease] = {}
        self._outbox_changed = anyio.Event()
        self._timer_changed = anyio.Event()
        self._timer_at = math.inf
        self._work = anyio.Event()
        self._scope = anyio.CancelScope()
        self._closed = False
        # The current stream's state.
        self._conn: EndpointConnection | None = None
        self._stream_metadata: tuple[tuple[str, str], ...] = ()
        self._unanswered = 0
        self._progress_at = 0.0
        self._replied = False
        self._failure: BaseException | None = None
        #: How many streams were opened (for tests and debugging).
        self.streams_opened = 0

    def __repr__(self) -> str:
        return f"<_KeepAliveManager leases={len(self._entries)} endpoint={self.endpoint}>"

    @property
    def endpoint(self) -> str | None:
        """URL of the member the stream currently runs on, if any."""
        return None if self._conn is None else self._conn.endpoint.url

    @property
    def lease_ids(self) -> tuple[int, ...]:
        return tuple(self._entries)

    # -- holders' side (synchronous) -------------------------------------------------

    def keep(self, lease_id: int, ttl: int | None, holder: _Holder) -> _KeptLease:
        """Register `holder` for `lease_id`. `ttl` is known right after a grant (the first
        keep-alive then goes out at TTL/3); `None` sends one at once to learn it."""
        if self._closed:
            raise ClientClosedError("the client is closed")
        now = time.monotonic()
        entry = self._entries.get(lease_id)
        if entry is None:
            entry = _KeptLease(lease_id)
            entry.confirmed = anyio.Event()
            self._entries[lease_id] = entry
            if ttl is None:
                self._schedule.set_next_send(entry, now)
            else:
                self._confirm(entry, ttl, now)
            self._poke_timer()
            self._outbox_changed.set()  # a sender idling without leases stays open
            self._work.set()
        elif ttl is not None:
            self._confirm(entry, ttl, now)
            self._poke_timer()
        entry.holders.add(holder)
        return entry

    def release(self, entry: _KeptLease, holder: _Holder) -> None:
        """`holder` no longer needs the lease; the last one out stops the keep-alive."""
        entry.holders.discard(holder)
        if entry.holders or entry.finished:
            return
        entry.finished = True
        self._forget(entry)

    def revoked(self, lease_id: int) -> None:
        """The lease was revoked through this client: tell its holders at once."""
        entry = self._entries.get(lease_id)
        if entry is not None:
            error = LeaseExpiredError(f"lease {lease_id:x} was revoked", lease_id=lease_id)
            self._finish(entry, error, gone=True, level=logging.DEBUG)

    def close(self) -> None:
        """The client is closing: holders get `ClientClosedError`, tasks are cancelled."""
        if self._closed:
            return
        self._closed = True
        for entry in list(self._entries.values()):
            self._finish(
                entry,
                ClientClosedError(
                    f"the client was closed; lease {entry.id:x} is no longer kept alive"
                ),
            )
        self._scope.cancel()

    # -- bookkeeping ---------------------------------------------------------------------

    def _confirm(self, entry: _KeptLease, ttl: int, now: float) -> None:
        self._schedule.on_reply(entry, ttl, now)
        if entry.confirmed is not None:
            entry.confirmed.set()

    def _poke_timer(self) -> None:
        # Wake the timer only when something is now due before it planned to wake.
        wake = self._schedule.next_wakeup()
        if wake is not None and wake < self._timer_at:
            self._timer_changed.set()

    def _forget(self, entry: _KeptLease) -> None:
        if self._entries.get(entry.id) is entry:
            del self._entries[entry.id]
            if not self._entries:
                self._outbox_changed.set()  # the sender starts its idle countdown
        if self._outbox.get(entry.id) is entry:
            del self._outbox[entry.id]

    def _finish(
        self,
        entry: _KeptLease,
        error: EtcdError,
        *,
        gone: bool = False,
        level: int = logging.WARNING,
    ) -> None:
        """End the keep-alive of `entry` and report `error` to its holders."""
        if entry.finished:
            return
        entry.finished = True
        entry.expired = isinstance(error, LeaseExpiredError)
        entry.gone = gone
        entry.error = error
        self._forget(entry)
        if entry.confirmed is not None:
            entry.confirmed.set()
        for holder in list(entry.holders):
            holder._finished()
        if entry.expired:
            logger.log(level, "%s", error)

    def _on_reply(self, msg: LeaseKeepAliveResponse) -> None:
        # `msg` comes decoded by `_codec.decode_lease_keep_alive_response`.
        now = time.monotonic()
        if self._unanswered:
            self._unanswered -= 1
        self._progress_at = now
        if not self._replied:
            self._replied = True
            if self._conn is not None:
                self._conn.mark_ok()  # the endpoint works again: reset its cool-down
        entry = self._entries.get(msg.id)
        if entry is None:
            return  # no longer kept (released, or a duplicate reply)
        entry.in_flight = False
        if msg.ttl <= 0:
            error = LeaseExpiredError(
                f"lease {msg.id:x} expired: etcd reports it gone (revoked or its TTL passed)",
                lease_id=msg.id,
            )
            self._finish(entry, error, gone=True)
            return
        self._schedule.on_reply(entry, msg.ttl, now)
        self._poke_timer()
        if entry.confirmed is not None:
            entry.confirmed.set()
        for holder in entry.holders:
            if holder._listening:
                holder._push(msg)

    def _expire_overdue(self, entries: list[_KeptLease]) -> None:
        for entry in entries:
            self._finish(
                entry,
                LeaseExpiredError(
                    f"lease {entry.id:x} expired: no keep-alive reply within its TTL of "
                    f"{entry.ttl} s",
                    lease_id=entry.id,
                ),
            )

    def _requeue_unanswered(self) -> None:
        # Requests on a broken stream may never be answered: resend them on the next.
        for entry in self._entries.values():
            if entry.in_flight:
                entry.in_flight = False
                self._outbox[entry.id] = entry

    def _stall_limit(self) -> float:
        ttls = [e.ttl for e in self._entries.values() if e.ttl]
        return max(MIN_STALL, min(ttls) / 3) if ttls else MIN_STALL

    # -- tasks -----------------------------------------------------------------------------

    async def run(self) -> None:
        """The manager's task in the client's task group; ends when the client closes."""
        with self._scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._timer_loop, name="aetcd lease timer")
                tg.start_soon(self._stream_loop, name="aetcd lease stream")

    async def _timer_loop(self) -> None:
        while True:
            try:
                now = time.monotonic()
                sends, expired = self._schedule.pop_due(now)
                if expired:
                    self._expire_overdue(expired)
                if sends:
                    for entry in sends:
                        self._outbox[entry.id] = entry
                    self._outbox_changed.set()
                wake = self._schedule.next_wakeup()
                self._timer_changed = anyio.Event()
                self._timer_at = math.inf if wake is None else wake
                delay = None if wake is None else max(0.0, wake - time.monotonic())
                with anyio.move_on_after(delay):
                    await self._timer_changed.wait()
            except Exception:  # a bug: keep going rather than stop keeping leases
                logger.exception("lease keep-alive timer failed")
                await anyio.sleep(RETRY_WAIT)

    async def _stream_loop(self) -> None:
        exclude: EndpointConnection | None = None
        while True:
            if not self._entries:
                self._work = anyio.Event()
                await self._work.wait()
                continue
            self._replied = False
            attempt_at = time.monotonic()
            try:
                conn = await self._transport.connect(rpc.LEASE_KEEP_ALIVE, None, exclude=exclude)
            except ClientClosedError:
                return
            except Exception as exc:  # not expected: connect waits for an endpoint
                self._log_failure(None, exc)
                await anyio.sleep(RETRY_WAIT)
                continue
            try:
                await self._open_and_serve(conn)
                exclude = None  # closed for idleness
                continue
            except ClientClosedError:
                return
            except Exception as exc:
                self._log_failure(conn, exc)
                await self._after_failure(conn, exc)
                # A lost connection is retried on another endpoint at once (the lost
                # one cools down in the balancer); a stream the server refused, or that
                # never answered, at most once per RETRY_WAIT.
                pace = not self._replied and not isinstance(exc, CONNECTION_ERRORS)
            finally:
                self._conn = None
                self._requeue_unanswered()
            exclude = conn
            if pace:
                await anyio.sleep(attempt_at + RETRY_WAIT - time.monotonic())

    async def _open_and_serve(self, conn: EndpointConnection) -> None:
        metadata = await self._transport.metadata(rpc.LEASE_KEEP_ALIVE, require_leader=True)
        self._stream_metadata = metadata
        try:
            await self._serve(conn, metadata)
        except GRPCError as exc:
            raise from_grpc_error(exc) from exc

    async def _after_failure(self, conn: EndpointConnection, exc: Exception) -> None:
        """Cool the failed endpoint down so that the stream reopens on another one."""
        if isinstance(exc, EtcdError):
            # The member answered (no leader, bad token, ...): keep its connection.
            conn.mark_failed(exc, close=False)
            if self._transport.token_refused(exc):
                try:
                    # Single-flight: no new login if another task already replaced the
                    # token this stream was refused for.
                    await self._transport.refresh_token(self._stream_metadata)
                except EtcdError as login_error:
                    self._log_failure(conn, login_error)
        elif isinstance(exc, (_StreamStalled, _StreamEnded)):
            # The connection may be fine; the PING probe closes it if it is dead.
            conn.mark_failed(exc, close=False)
        elif isinstance(exc, CONNECTION_ERRORS):
            conn.mark_failed(exc)
        else:
            logger.error("lease keep-alive stream: unexpected error", exc_info=exc)

    def _log_failure(self, conn: EndpointConnection | None, exc: BaseException) -> None:
        where = "" if conn is None else f" to {conn.endpoint}"
        level = logging.WARNING if self._replied else logging.DEBUG
        logger.log(
            level,
            "lease keep-alive stream%s failed (%s: %s); reopening on another endpoint",
            where,
            type(exc).__name__,
            exc,
        )

    async def _serve(self, conn: EndpointConnection, metadata: tuple[tuple[str, str], ...]) -> None:
        """Run one stream until it fails (raises) or has had nothing to do for a while."""
        stream = self._transport.open_lane_stream(conn, rpc.LEASE_KEEP_ALIVE, metadata)
        self._conn = conn
        self._unanswered = 0
        self._progress_at = time.monotonic()
        self._failure = None
        self.streams_opened += 1
        logger.debug("lease keep-alive stream opened to %s", conn.endpoint)
        async with stream:
            await stream.send_request()
            async with anyio.create_task_group() as tg:
                scope = tg.cancel_scope
                tg.start_soon(self._guard, scope, self._send_loop, stream)
                tg.start_soon(self._guard, scope, self._recv_loop, stream)
                tg.start_soon(self._guard, scope, self._watchdog, conn)
            if self._failure is not None:
                raise self._failure
            # Idle: end the stream ourselves (RST_STREAM) rather than wait for trailers.
            with anyio.move_on_after(1.0, shield=True):
                try:
                    await stream.cancel()
                except Exception as exc:
                    logger.debug("closing the idle keep-alive stream: %s", exc)
        logger.debug("lease keep-alive stream to %s closed: no lease to keep", conn.endpoint)

    async def _guard(
        self, scope: anyio.CancelScope, fn: Callable[[Any], Awaitable[None]], arg: Any
    ) -> None:
        # The first failure of the stream's tasks is kept and stops the others; this
        # avoids exception groups (and works the same on Python 3.10).
        try:
            await fn(arg)
        except Exception as exc:
            if self._failure is None:
                self._failure = exc
        scope.cancel()

    async def _send_loop(self, stream: CallStream) -> None:
        while True:
            while not self._outbox:
                self._outbox_changed = anyio.Event()
                if self._entries:
                    await self._outbox_changed.wait()
                    continue
                with anyio.move_on_after(IDLE_CLOSE):
                    await self._outbox_changed.wait()
                if not self._entries and not self._outbox:
                    return  # nothing to keep: close the stream
            batch = list(self._outbox.values())
            self._outbox.clear()
            for i, entry in enumerate(batch):
                if entry.finished:
                    continue
                try:
                    await stream.send_message(entry.request)
                except BaseException:
                    for rest in batch[i:]:
                        if not rest.finished:
                            self._outbox.setdefault(rest.id, rest)
                    raise
                if not self._unanswered:
                    self._progress_at = time.monotonic()
                self._unanswered += 1
                entry.in_flight = True

    async def _recv_loop(self, stream: CallStream) -> None:
        while True:
            msg = await stream.recv_message()
            if msg is None:
                # The server ended the stream: its status is in the trailers.
                with contextlib.suppress(*CONNECTION_ERRORS):
                    await stream.end()
                await stream.recv_trailing_metadata()  # raises GRPCError for an error
                raise _StreamEnded("the server ended the keep-alive stream")
            self._on_reply(msg)

    async def _watchdog(self, conn: EndpointConnection) -> None:
        probe_after = self._transport.config.probe_after
        probed_at = -1.0
        while True:
            await anyio.sleep(WATCHDOG_TICK)
            if not self._unanswered:
                continue
            waited = time.monotonic() - self._progress_at
            if waited >= probe_after and probed_at != self._progress_at:
                probed_at = self._progress_at
                conn.probe()  # closes the connection if the member does not ack a PING
            if waited >= MIN_STALL and waited >= self._stall_limit():
                raise _StreamStalled(
                    f"{self._unanswered} keep-alive request(s) unanswered for {waited:.1f} s"
                )


# --------------------------------------------------------------------------- handles


class _Holder(Handle):
    """What `Lease` and `LeaseKeeper` share: a registration in the keep-alive manager,
    loss reporting, and iteration over refreshes."""

    _kind = "lease"

    def __init__(self, client: LeaseMixin, lease_id: int, timeout: TimeoutArg) -> None:
        self._client = client
        self._id = lease_id
        self._timeout = timeout
        self._manager: _KeepAliveManager | None = None
        self._entry: _KeptLease | None = None
        self._closed = False
        self._done: anyio.Event | None = None
        self._listening = False
        self._queue: deque[LeaseKeepAliveResponse] = deque(maxlen=BUFFERED_RESPONSES)
        self._wakeup: anyio.Event | None = None

    @property
    def id(self) -> int:
        """The lease id."""
        return self._id

    @property
    def expired(self) -> bool:
        """True once the lease is known to be gone: a keep-alive reply said so, no reply
        came within its TTL, or it was revoked."""
        return self._entry is not None and self._entry.expired

    @property
    def closed(self) -> bool:
        """True once this handle stopped keeping the lease alive (closed or exited)."""
        return self._closed

    def __repr__(self) -> str:
        state = "expired" if self.expired else "closed" if self._closed else "live"
        return f"<aetcd.{type(self).__name__} id={self._id:x} {state}>"

    def _require_started(self) -> _KeptLease:
        if self._entry is None:
            raise UsageError(
                f"this {self._kind} handle is not started: use `async with` or `await` it"
            )
        return self._entry

    def _register(self, ttl: int | None) -> _KeptLease:
        assert self._manager is not None
        self._done = anyio.Event()
        self._entry = self._manager.keep(self._id, ttl, self)
        return self._entry

    def _release(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._manager is not None and self._entry is not None:
            self._manager.release(self._entry, self)
        self._finished()

    # Called by the manager (synchronously) ----------------------------------------------

    def _finished(self) -> None:
        if self._done is not None:
            self._done.set()
        if self._wakeup is not None:
            self._wakeup.set()

    def _push(self, resp: LeaseKeepAliveResponse) -> None:
        self._queue.append(resp)
        if self._wakeup is not None:
            self._wakeup.set()

    # Loss reporting -------------------------------------------------------------------

    def _loss(self) -> EtcdError | None:
        """A fresh copy of the error that ended the keep-alive, if it ended."""
        entry = self._entry
        if entry is None or entry.error is None:
            return None
        err = entry.error
        if isinstance(err, LeaseExpiredError):
            return LeaseExpiredError(err.message, lease_id=self._id)
        return ClientClosedError(err.message)

    async def wait_expired(self) -> None:
        """Return once the lease is lost (or revoked). Raises `ClientClosedError` if the
        client or this handle is closed first, since the lease can no longer be watched."""
        self._require_started()
        assert self._done is not None
        await self._done.wait()
        if self.expired:
            return
        if self._closed:
            raise ClientClosedError(f"this {self._kind} handle is closed")
        loss = self._loss()
        raise loss if loss is not None else ClientClosedError("the client is closed")

    def __aiter__(self) -> _Holder:
        self._listening = True
        return self

    async def __anext__(self) -> LeaseKeepAliveResponse:
        """The next refresh of the lease. Raises `LeaseExpiredError` when the lease is
        lost, `ClientClosedError` when the client closes; ends when the handle closes."""
        self._require_started()
        self._listening = True
        while True:
            if self._closed:
                raise StopAsyncIteration
            loss = self._loss()
            if loss is not None:
                self._queue.clear()
                raise loss
            if self._queue:
                return self._queue.popleft()
            self._wakeup = anyio.Event()
            await self._wakeup.wait()


class Lease(_Holder):
    """A lease granted by `client.lease(ttl)` and kept alive in the background.

        async with client.lease(10) as lease:
            await client.put("service/me", "addr", lease=lease)
            await lease.wait_expired()   # returns if the lease is lost

    or `lease = await client.lease(10)` … `await lease.close()`. Leaving the block (or
    `close()`) stops the keep-alive and revokes the lease, shielded from cancellation
    and bounded in time; if the revoke fails the lease still ends after its TTL.

    The id is chosen by the client before granting (unless `id=` is given), so a grant
    interrupted by cancellation is revoked too and leaves nothing behind. Iterating the
    handle yields a `LeaseKeepAliveResponse` per refresh and raises `LeaseExpiredError`
    if the lease is lost.
    """

    def __init__(
        self,
        client: LeaseMixin,
        ttl: int,
        lease_id: int | None,
        timeout: TimeoutArg,
    ) -> None:
        super().__init__(client, _new_lease_id() if lease_id is None else lease_id, timeout)
        self._requested_ttl = ttl
        self._own_id = lease_id is None
        self._revoked = False
        self._starting = False
        self._granted = False

    @property
    def ttl(self) -> int:
        """The TTL in seconds the server last granted or renewed (the requested TTL
        before the lease is granted)."""
        entry = self._entry
        if entry is not None and entry.ttl is not None:
            return entry.ttl
        return self._requested_ttl

    @property
    def expired(self) -> bool:
        """True once the lease is known to be gone: revoked, or not renewed in time."""
        return self._revoked or super().expired

    async def _start(self) -> Lease:
        if self._closed:
            raise ClientClosedError("this lease handle is closed")
        if self._entry is not None:
            return self
        if self._starting:
            raise UsageError("this lease is already being granted by another task")
        self._manager = self._client._lease_manager()
        self._starting = True
        try:
            ttl = await self._grant_or_clean_up()
        finally:
            self._starting = False
        self._register(ttl)
        return self

    async def _grant_or_clean_up(self) -> int:
        """Grant; on failure or cancellation, leave no lease behind.

        A grant cancelled mid-flight may still be applied by the server, even after a
        revoke sent right behind it (the server handles the two concurrently). So when
        the caller is cancelled, the grant runs on, shielded, for up to `GRANT_GRACE`
        to learn its outcome, and whatever it created is revoked before the
        cancellation proceeds. Only an id we chose ourselves is certainly ours to revoke.
        """
        outcome: list[int | Exception] = []
        done = anyio.Event()
        grant_scope = anyio.CancelScope(shield=True)

        async def grant() -> None:
            with grant_scope:
                try:
                    outcome.append(await self._grant())
                    self._granted = True
                except Exception as exc:
                    outcome.append(exc)
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(grant)
            try:
                await done.wait()
            except BaseException:  # cancelled
                grant_scope.deadline = min(grant_scope.deadline, anyio.current_time() + GRANT_GRACE)
                with anyio.CancelScope(shield=True):
                    await done.wait()
                    if not outcome or not _certainly_not_granted(outcome[0]):
                        await self._revoke_quietly()
                raise
        result = outcome[0]
        if isinstance(result, Exception):
            if not _certainly_not_granted(result):
                await self._revoke_quietly()
            raise result
        return result

    async def _grant(self) -> int:
        client = self._client
        try:
            reply = await client.lease_grant(
                self._requested_ttl, id=self._id, timeout=self._timeout
            )
        except LeaseExistsError:
            if not self._own_id:
                raise
            # Our id is random, so the lease is the one an earlier attempt of this grant
            # created before the retry layer resent it.
            reply2 = await client.lease_time_to_live(self._id, timeout=self._timeout)
            return reply2.granted_ttl
        return reply.ttl

    async def _revoke_quietly(self) -> bool:
        """Revoke, shielded and bounded; True when the lease is certainly gone."""
        if self._client.closed or (not self._own_id and not self._granted):
            return False  # never revoke an id the user chose unless we granted it
        bound = self._client._transport.config.resolve_timeout(self._timeout)
        bound = CLEANUP_TIMEOUT if bound is None else min(bound, CLEANUP_TIMEOUT)
        with anyio.move_on_after(bound, shield=True):
            try:
                await self._client.lease_revoke(self._id, timeout=bound)
            except LeaseNotFoundError:
                return True
            except EtcdError as exc:
                logger.warning(
                    "could not revoke lease %x (%s); it ends after its TTL of %s s",
                    self._id,
                    exc,
                    self.ttl,
                )
                return False
            return True
        logger.warning(
            "revoking lease %x timed out; it ends after its TTL of %s s", self._id, self.ttl
        )
        return False

    async def revoke(self, *, timeout: TimeoutArg = DEFAULT) -> None:
        """Revoke the lease now (its keys are deleted) and stop keeping it alive.
        Raises like `lease_revoke` (e.g. `LeaseNotFoundError` if it is already gone)."""
        self._require_started()
        if self._revoked:
            return
        try:
            await self._client.lease_revoke(self._id, timeout=timeout)
        except LeaseNotFoundError:
            self._revoked = True
            self._release()
            raise
        self._revoked = True
        self._release()

    async def close(self) -> None:
        """Stop the keep-alive and revoke the lease (shielded, bounded). Idempotent;
        never raises for a lease that is already gone or a client that is closed."""
        if self._closed:
            return
        entry = self._entry
        self._release()
        if entry is None or self._revoked:
            return
        if entry.gone:  # the server said it is gone, or it was revoked
            self._revoked = True
            return
        if await self._revoke_quietly():
            self._revoked = True

    async def time_to_live(
        self, *, keys: bool = False, timeout: TimeoutArg = DEFAULT
    ) -> LeaseTimeToLiveResponse:
        """`lease_time_to_live` for this lease."""
        return await self._client.lease_time_to_live(self._id, keys=keys, timeout=timeout)


class LeaseKeeper(_Holder):
    """Keeps an existing lease alive in the background (`client.keep_alive(id)`).

        async with client.keep_alive(lease_id) as keeper:
            async for resp in keeper:       # a LeaseKeepAliveResponse per refresh
                ...                         # raises LeaseExpiredError if the lease is lost

    Entering (or awaiting) sends a keep-alive at once and returns after the first reply,
    raising `LeaseNotFoundError` for an unknown lease. Leaving stops this holder's
    keep-alive without revoking; holders of the same id in one client share one entry.
    """

    _kind = "keep-alive"

    @property
    def ttl(self) -> int | None:
        """The TTL in seconds of the last refresh (None before the first reply)."""
        return None if self._entry is None else self._entry.ttl

    async def _start(self) -> LeaseKeeper:
        if self._closed:
            raise ClientClosedError("this keep-alive handle is closed")
        if self._entry is not None:
            return self
        self._manager = self._client._lease_manager()
        timeout = self._client._transport.config.resolve_timeout(self._timeout)
        entry = self._register(None)
        try:
            assert entry.confirmed is not None
            with anyio.fail_after(timeout):
                await entry.confirmed.wait()
        except TimeoutError:
            self._release()
            raise DeadlineExceededError(
                f"keep_alive: no keep-alive reply for lease {self._id:x} within {timeout} s"
            ) from None
        except BaseException:
            self._release()
            raise
        if entry.error is not None and entry.ttl is None:
            loss = self._loss()
            self._release()
            if isinstance(loss, LeaseExpiredError):
                raise LeaseNotFoundError(f"lease {self._id:x} not found", lease_id=self._id)
            assert loss is not None
            raise loss
        return self

    async def close(self) -> None:
        """Stop keeping the lease alive (the lease itself is left as is). Idempotent."""
        self._release()


# --------------------------------------------------------------------------- mixin


class LeaseMixin(ServiceBase):
    """Lease calls of `Client` (Go clientv3's `lease.go`)."""

    if TYPE_CHECKING:

        @property
        def task_group(self) -> TaskGroup: ...

        @property
        def closed(self) -> bool: ...

    def _lease_manager(self) -> _KeepAliveManager:
        """The client's keep-alive manager, started in its task group on first use."""
        self._transport.check_open()
        manager = self._services.get("lease")
        if manager is None:
            task_group = self.task_group  # raises unless the client was entered
            manager = _KeepAliveManager(self._transport)
            self._services["lease"] = manager
            task_group.start_soon(manager.run, name="aetcd lease keep-alive")
        assert isinstance(manager, _KeepAliveManager)
        return manager

    async def lease_grant(
        self, ttl: int, *, id: int | None = None, timeout: TimeoutArg = DEFAULT
    ) -> LeaseGrantResponse:
        """Grant a lease of `ttl` seconds (the server may round it up to its minimum).
        `id` asks for a specific lease id (`LeaseExistsError` if taken); by default the
        server picks one. Keys attached to the lease are deleted when it ends."""
        request = pb.LeaseGrantRequest(
            ttl=check_ttl(ttl), id=0 if id is None else check_lease_id(id)
        )
        reply = await self._call(rpc.LEASE_GRANT, request, timeout)
        return LeaseGrantResponse(header(reply.header), reply.id, reply.ttl)

    async def lease_revoke(
        self, id: LeaseId, *, timeout: TimeoutArg = DEFAULT
    ) -> LeaseRevokeResponse:
        """Revoke a lease (an id or a lease handle): its keys are deleted at once.
        Raises `LeaseNotFoundError` if it does not exist (any more)."""
        lease_id = check_lease_id(id)
        reply = await self._call(rpc.LEASE_REVOKE, pb.LeaseRevokeRequest(id=lease_id), timeout)
        manager = self._services.get("lease")
        if isinstance(manager, _KeepAliveManager):
            manager.revoked(lease_id)
        return LeaseRevokeResponse(header(reply.header))

    async def lease_time_to_live(
        self, id: LeaseId, *, keys: bool = False, timeout: TimeoutArg = DEFAULT
    ) -> LeaseTimeToLiveResponse:
        """The remaining and granted TTL of a lease, and its keys with `keys=True`.
        Raises `LeaseNotFoundError` for an unknown or expired lease (etcd answers TTL -1)."""
        lease_id = check_lease_id(id)
        if not isinstance(keys, bool):
            raise ArgumentTypeError(
                f"keys: expected bool, got {type(keys).__name__}", argument="keys"
            )
        request = pb.LeaseTimeToLiveRequest(id=lease_id, keys=keys)
        reply = await self._call(rpc.LEASE_TIME_TO_LIVE, request, timeout)
        if reply.ttl < 0:
            raise LeaseNotFoundError(f"lease {lease_id:x} not found", lease_id=lease_id)
        return LeaseTimeToLiveResponse(
            header(reply.header), reply.id, reply.ttl, reply.granted_ttl, tuple(reply.keys)
        )

    async def leases(self, *, timeout: TimeoutArg = DEFAULT) -> list[int]:
        """The ids of every lease in the cluster."""
        reply = await self._call(rpc.LEASE_LEASES, pb.LeaseLeasesRequest(), timeout)
        return [status.id for status in reply.leases]

    async def lease_keep_alive_once(
        self, id: LeaseId, *, timeout: TimeoutArg = DEFAULT
    ) -> LeaseKeepAliveResponse:
        """Renew a lease once (on a short-lived `LeaseKeepAlive` stream).
        Raises `LeaseNotFoundError` if the lease does not exist (etcd answers TTL 0)."""
        lease_id = check_lease_id(id)
        reply = await self._call(
            rpc.LEASE_KEEP_ALIVE, pb.LeaseKeepAliveRequest(id=lease_id), timeout
        )
        if reply.ttl <= 0:
            raise LeaseNotFoundError(f"lease {lease_id:x} not found", lease_id=lease_id)
        return reply

    def lease(self, ttl: int, *, id: int | None = None, timeout: TimeoutArg = DEFAULT) -> Lease:
        """A lease of `ttl` seconds, granted and kept alive until the block ends:
        `async with client.lease(ttl) as lease:` or `lease = await client.lease(ttl)`.
        See `Lease`. `timeout` applies to the grant and to the revoke."""
        self._transport.check_open()
        check_ttl(ttl)
        lease_id = None if id is None else check_lease_id(id)
        self._transport.config.resolve_timeout(timeout)  # validate now
        return Lease(self, ttl, lease_id, timeout)

    def keep_alive(self, id: LeaseId, *, timeout: TimeoutArg = DEFAULT) -> LeaseKeeper:
        """Keep an existing lease alive in the background until the block ends:
        `async with client.keep_alive(id) as keeper:`. See `LeaseKeeper`. `timeout`
        bounds the wait for the first reply."""
        self._transport.check_open()
        lease_id = check_lease_id(id)
        self._transport.config.resolve_timeout(timeout)
        return LeaseKeeper(self, lease_id, timeout)
