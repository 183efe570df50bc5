"""Maintenance: status, alarms, defragmentation, KV hashes, snapshots, leader moves.

Like Go's `maintenance.go`. Most of these calls are about one member, so they take
`endpoint=` to pin the call to that member (without it, the balancer picks one).

Snapshots stream the member's whole backend database. `Snapshot` is an async
iterator of byte chunks (a class, not an async generator, so no cancel scope is held
across a `yield`); it checks etcd's trailing SHA-256 digest, so a stream that ends
early or corrupted raises instead of ending quietly. `snapshot_save()` writes it
to a temporary file next to the target, fsyncs and renames it: the target path holds
either a complete snapshot or whatever it held before.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
from grpclib.client import Stream
from grpclib.exceptions import GRPCError, StreamTerminatedError

from . import _rpcs as rpc
from ._base import ClosingIterator, ServiceBase
from ._cluster import check_member_id
from ._config import DEFAULT, TimeoutArg
from ._exceptions import (
    ArgumentTypeError,
    ArgumentValueError,
    ConnectError,
    DeadlineExceededError,
    EtcdError,
    NoLeaderError,
    NotLeaderError,
    ServerError,
    UnavailableError,
    from_grpc_error,
)
from ._keys import check_revision
from ._models import ResponseHeader, header
from ._proto import etcdserverpb as pb
from ._transport import CONNECTION_ERRORS, Endpoint, EndpointConnection, Transport, parse_endpoint
from ._transport._transport import describe_connect_error

__all__ = [
    "Alarm",
    "AlarmResponse",
    "AlarmType",
    "DefragmentResponse",
    "DowngradeInfo",
    "HashKVResponse",
    "MaintenanceMixin",
    "MoveLeaderResponse",
    "Snapshot",
    "SnapshotInfo",
    "StatusResponse",
    "resolve_endpoint",
    "status_response",
]

# etcd ends every snapshot with the SHA-256 digest of the database bytes before it.
_DIGEST_SIZE = hashlib.sha256().digest_size
# How often move_leader() looks for the leader again when leadership moved meanwhile.
_MOVE_LEADER_ATTEMPTS = 3


class AlarmType(enum.IntEnum):
    """A member alarm (etcd's `AlarmType`): `NOSPACE` when the backend quota is
    exhausted (writes are refused until it is disarmed), `CORRUPT` when the member's
    data disagrees with the others'."""

    NONE = 0
    NOSPACE = 1
    CORRUPT = 2


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm raised on one member."""

    member_id: int
    alarm: AlarmType


@dataclass(frozen=True, slots=True)
class AlarmResponse:
    """Result of `alarms()` and `alarm_disarm()`: the alarms listed or disarmed.

    Iterating the response yields its alarms; `len()` counts them.
    """

    header: ResponseHeader
    alarms: tuple[Alarm, ...]

    def __iter__(self) -> Iterator[Alarm]:
        return iter(self.alarms)

    def __len__(self) -> int:
        return len(self.alarms)


@dataclass(frozen=True, slots=True)
class DowngradeInfo:
    """Whether a cluster downgrade is `enabled`, and to which `target_version`."""

    enabled: bool
    target_version: str


@dataclass(frozen=True, slots=True)
class StatusResponse:
    """Status of one member (etcd's `StatusResponse`).

    `leader` is the member id of the leader this member follows, 0 when it knows
    none (lost quorum, or an election is under way). `db_size` is the backend file
    size and `db_size_in_use` the part of it holding data (the rest is reclaimed by
    `defragment()`). `errors` lists the member's active alarms as text.
    `storage_version`, `db_size_quota` and `downgrade_info` are reported from etcd
    3.6 on ("", 0 and `None` before).
    """

    header: ResponseHeader
    version: str
    db_size: int
    leader: int
    raft_index: int
    raft_term: int
    raft_applied_index: int
    errors: tuple[str, ...]
    db_size_in_use: int
    is_learner: bool
    storage_version: str = ""
    db_size_quota: int = 0
    downgrade_info: DowngradeInfo | None = None

    @property
    def member_id(self) -> int:
        """The id of the member that answered."""
        return self.header.member_id

    @property
    def is_leader(self) -> bool:
        """Whether the member that answered is the leader."""
        return self.leader != 0 and self.leader == self.header.member_id


@dataclass(frozen=True, slots=True)
class DefragmentResponse:
    """Result of `defragment()`."""

    header: ResponseHeader


@dataclass(frozen=True, slots=True)
class HashKVResponse:
    """Result of `hash_kv()`: the hash of the member's MVCC key-value store up to
    `hash_revision` (set by etcd >= 3.5.5; 0 before), and the `compact_revision`
    the history starts at. Equal hashes at the same revision mean consistent
    members."""

    header: ResponseHeader
    hash: int
    compact_revision: int
    hash_revision: int = 0


@dataclass(frozen=True, slots=True)
class MoveLeaderResponse:
    """Result of `move_leader()`."""

    header: ResponseHeader


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """Result of `snapshot_save()`: where the snapshot was written, its size in
    bytes, the member it came from and, from etcd 3.6 on, the storage version it
    was taken with ("" before)."""

    path: str
    size: int
    endpoint: str
    version: str = ""


def status_response(r: pb.StatusResponse) -> StatusResponse:
    return StatusResponse(
        header=header(r.header),
        version=r.version,
        db_size=r.db_size,
        leader=r.leader,
        raft_index=r.raft_index,
        raft_term=r.raft_term,
        raft_applied_index=r.raft_applied_index,
        errors=tuple(r.errors),
        db_size_in_use=r.db_size_in_use,
        is_learner=r.is_learner,
        storage_version=r.storage_version,
        db_size_quota=r.db_size_quota,
        downgrade_info=(
            None
            if r.downgrade_info is None
            else DowngradeInfo(r.downgrade_info.enabled, r.downgrade_info.target_version)
        ),
    )


def _alarm(a: pb.AlarmMember) -> Alarm:
    return Alarm(a.member_id, AlarmType(int(a.alarm)))


def resolve_endpoint(transport: Transport, endpoint: Any) -> Endpoint | None:
    """`endpoint=` of the pinned calls: `None`, or a URL in any form `Client` takes.

    A bare `host:port` uses TLS when the client's endpoints do.
    """
    if endpoint is None or isinstance(endpoint, Endpoint):
        return endpoint
    if not isinstance(endpoint, str):
        raise ArgumentTypeError(f"endpoint: expected str, got {type(endpoint).__name__}")
    secure = any(ep.secure for ep in transport.balancer.endpoints)
    try:
        return parse_endpoint(endpoint, secure=secure)
    except ArgumentValueError as exc:
        raise ArgumentValueError(str(exc).replace("endpoints:", "endpoint:", 1)) from None


class Snapshot(ClosingIterator):
    """The backend database of one member, streamed: an async iterator of `bytes`.

        async with client.snapshot() as snapshot:
            async for chunk in snapshot:
                out.write(chunk)

    The bytes are exactly what `etcdctl snapshot save` writes (the database followed by
    its SHA-256 digest, which `etcdutl snapshot restore` checks). The digest is also
    verified here: if the stream breaks or ends early the iteration raises
    (`UnavailableError`, or `ServerError` for a digest mismatch) rather than ending,
    so reaching the end means the snapshot is complete.

    The stream is opened by the first `__anext__` on one member (`endpoint` tells which
    afterwards) and is never resumed elsewhere. `timeout` bounds the wait for each
    chunk, not the whole transfer. Leave the `async with` block, or call `aclose()`,
    when stopping early, so the server stops sending.
    """

    def __init__(self, transport: Transport, timeout: float | None) -> None:
        self._transport = transport
        self._timeout = timeout
        self._conn: EndpointConnection | None = None
        self._stream: Stream[Any, Any] | None = None
        self._sha = hashlib.sha256()
        self._tail = b""
        self._done = False
        #: Bytes received so far.
        self.received = 0
        #: Bytes the server said were still to come with its last chunk.
        self.remaining_bytes: int | None = None
        #: The storage version the member reports (etcd >= 3.6; "" before).
        self.version = ""

    def __repr__(self) -> str:
        where = self.endpoint or "not started"
        return f"<aetcd.Snapshot {where} received={self.received}>"

    @property
    def endpoint(self) -> str | None:
        """The URL of the member the snapshot comes from, once it started."""
        return None if self._conn is None else self._conn.endpoint.url

    @property
    def done(self) -> bool:
        """Whether the iteration has ended (completely, by an error or `aclose()`)."""
        return self._done

    async def aclose(self) -> None:
        """Stop receiving (the server is told to stop sending). Idempotent."""
        self._done = True
        await self._release(_Closed())

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        try:
            if self._stream is None:
                await self._open()
            while True:
                message = await self._receive()
                if message is None:
                    await self._finish()
                    raise StopAsyncIteration
                chunk: bytes = message.blob
                self.remaining_bytes = message.remaining_bytes
                if message.version:
                    self.version = message.version
                if chunk:
                    self._account(chunk)
                    return chunk
        except StopAsyncIteration:
            self._done = True
            raise
        except BaseException as exc:
            self._done = True
            await self._release(exc)
            raise

    async def _open(self) -> None:
        transport = self._transport
        transport.check_open()
        deadline = transport.deadline_for(self._timeout)
        refreshed = False
        while True:
            conn = await transport.connect(rpc.SNAPSHOT, deadline)
            metadata = await transport.metadata(rpc.SNAPSHOT)
            # No deadline for the stream itself: a large database takes longer than
            # any per-call timeout; each chunk is awaited with `timeout` instead.
            stream = transport.open_stream(conn, rpc.SNAPSHOT, metadata)
            self._conn, self._stream = conn, stream
            try:
                await stream.__aenter__()
                await stream.send_message(pb.SnapshotRequest(), end=True)
                # The first reply is where refusals (auth, learner, ...) show up.
                with anyio.fail_after(_remaining(deadline)):
                    await stream.recv_initial_metadata()
                return
            except GRPCError as exc:
                err = from_grpc_error(exc)
                await self._release(exc)
                if not refreshed and transport.token_refused(err):
                    refreshed = True
                    await transport.refresh_token(metadata)
                    continue
                raise err from exc
            except TimeoutError as exc:  # before CONNECTION_ERRORS: it is an OSError
                await self._release(exc)
                raise DeadlineExceededError(
                    f"Snapshot: no answer from {conn.endpoint} in time"
                ) from exc
            except CONNECTION_ERRORS as exc:
                tls_error = conn.tls_error
                conn.mark_failed(tls_error or exc, close=not _stream_reset_only(conn, exc))
                await self._release(exc)
                if tls_error is not None:
                    raise ConnectError(
                        f"Snapshot: {describe_connect_error(conn.endpoint, tls_error)}"
                    ) from exc
                if deadline is not None and time.monotonic() >= deadline:
                    raise UnavailableError(
                        f"Snapshot: connection to {conn.endpoint} lost while opening"
                    ) from exc
            except BaseException as exc:
                await self._release(exc)
                raise

    async def _receive(self) -> pb.SnapshotResponse | None:
        stream = self._stream
        assert stream is not None
        assert self._conn is not None
        try:
            with anyio.fail_after(self._timeout):
                message: pb.SnapshotResponse | None = await stream.recv_message()
                return message
        except GRPCError as exc:
            raise from_grpc_error(exc) from exc
        except TimeoutError as exc:  # before CONNECTION_ERRORS: it is an OSError
            raise DeadlineExceededError(
                f"Snapshot: no data from {self._conn.endpoint} for {self._timeout:g} s "
                f"after {self.received} bytes"
            ) from exc
        except CONNECTION_ERRORS as exc:
            self._conn.mark_failed(exc, close=not _stream_reset_only(self._conn, exc))
            raise UnavailableError(
                f"Snapshot: connection to {self._conn.endpoint} lost after "
                f"{self.received} bytes; the snapshot is incomplete"
            ) from exc

    def _account(self, chunk: bytes) -> None:
        # Hash everything except the last 32 bytes seen so far: at the end of the
        # stream those are the digest of all the bytes before them.
        data = self._tail + chunk
        cut = max(len(data) - _DIGEST_SIZE, 0)
        self._sha.update(data[:cut])
        self._tail = data[cut:]
        self.received += len(chunk)

    async def _finish(self) -> None:
        stream, conn = self._stream, self._conn
        assert stream is not None
        assert conn is not None
        try:
            with anyio.fail_after(self._timeout):
                await stream.__aexit__(None, None, None)  # reads the status trailers
        except GRPCError as exc:
            raise from_grpc_error(exc) from exc
        except TimeoutError as exc:
            raise DeadlineExceededError(
                f"Snapshot: {conn.endpoint} did not end the stream in time"
            ) from exc
        except CONNECTION_ERRORS as exc:
            raise UnavailableError(
                f"Snapshot: connection to {conn.endpoint} lost at the end of the stream"
            ) from exc
        finally:
            self._stream = None
        if len(self._tail) < _DIGEST_SIZE or self._sha.digest() != self._tail:
            raise ServerError(
                f"Snapshot: the {self.received} bytes from {conn.endpoint} do not end with "
                "the SHA-256 digest of the database; the snapshot is truncated or corrupt"
            )
        conn.mark_ok()

    async def _release(self, exc: BaseException) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        # With an exception, grpclib resets the HTTP/2 stream (the server stops
        # sending) instead of waiting for the rest of the database.
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await stream.__aexit__(type(exc), exc, exc.__traceback__)


class _Closed(Exception):
    """Internal: passed to grpclib to reset a snapshot stream closed early."""


def _stream_reset_only(conn: EndpointConnection, exc: BaseException) -> bool:
    # A stream the server reset (RST_STREAM) leaves the connection, and the other
    # calls and streams on it, intact; only a dead connection is dropped.
    return isinstance(exc, StreamTerminatedError) and conn.connected


def _remaining(deadline: float | None) -> float | None:
    """Seconds left until `deadline` (monotonic), for the next step of a multi-step call."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceededError("deadline exceeded")
    return left


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _temp_file_for(path: str | os.PathLike[str]) -> tuple[str, str, int, str]:
    """`(target, directory, fd, temp_path)`: a new private temp file next to `path`."""
    target = os.path.abspath(os.fspath(path))
    if os.path.isdir(target):
        raise ArgumentValueError(f"path: {target} is a directory")
    directory, name = os.path.split(target)
    fd, part = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    return target, directory, fd, part


def _fsync_directory(directory: str) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory
    finally:
        os.close(fd)


class MaintenanceMixin(ServiceBase):
    """Maintenance calls of `Client` (Go's `Maintenance` interface)."""

    async def status(
        self, endpoint: str | None = None, *, timeout: TimeoutArg = DEFAULT
    ) -> StatusResponse:
        """Status of the member at `endpoint` (any member when `None`): version, raft
        state, leader, database size, alarms. `etcdctl endpoint status` asks this of
        every endpoint."""
        reply = await self._call(
            rpc.STATUS,
            pb.StatusRequest(),
            timeout,
            endpoint=resolve_endpoint(self._transport, endpoint),
        )
        return status_response(reply)

    async def alarms(self, *, timeout: TimeoutArg = DEFAULT) -> AlarmResponse:
        """Every active alarm in the cluster (`etcdctl alarm list`)."""
        reply = await self._call(
            rpc.ALARM, pb.AlarmRequest(action=pb.AlarmRequestAlarmAction.GET), timeout
        )
        return AlarmResponse(header(reply.header), tuple(map(_alarm, reply.alarms)))

    async def alarm_disarm(
        self, alarm: Alarm | None = None, *, timeout: TimeoutArg = DEFAULT
    ) -> AlarmResponse:
        """Disarm one alarm (as listed by `alarms()`), or every active alarm when
        `alarm` is `None` (`etcdctl alarm disarm`); return the alarms disarmed.

        Free space first (compact, then `defragment()` each member) when disarming
        `NOSPACE`, or the member raises it again at the next write.
        """
        if alarm is None:
            targets = (await self.alarms(timeout=timeout)).alarms
        elif isinstance(alarm, Alarm):
            targets = (alarm,)
        else:
            raise ArgumentTypeError(f"alarm: expected aetcd.Alarm, got {type(alarm).__name__}")
        disarmed: list[Alarm] = []
        last_header: ResponseHeader | None = None
        for target in targets:
            reply = await self._call(
                rpc.ALARM,
                pb.AlarmRequest(
                    action=pb.AlarmRequestAlarmAction.DEACTIVATE,
                    member_id=check_member_id("alarm.member_id", target.member_id),
                    alarm=pb.AlarmType(int(target.alarm)),
                ),
                timeout,
            )
            last_header = header(reply.header)
            disarmed.extend(map(_alarm, reply.alarms))
        if last_header is None:
            return AlarmResponse(header(None), ())
        return AlarmResponse(last_header, tuple(disarmed))

    async def defragment(
        self, endpoint: str | None = None, *, timeout: TimeoutArg = DEFAULT
    ) -> DefragmentResponse:
        """Defragment the backend of the member at `endpoint` (any member when `None`),
        returning the space freed by compaction to the file system.

        The member blocks reads and writes while it rewrites its database: defragment
        one member at a time, and give large databases a longer `timeout`.
        """
        reply = await self._call(
            rpc.DEFRAGMENT,
            pb.DefragmentRequest(),
            timeout,
            endpoint=resolve_endpoint(self._transport, endpoint),
        )
        return DefragmentResponse(header(reply.header))

    async def hash_kv(
        self,
        endpoint: str | None = None,
        revision: int | None = None,
        *,
        timeout: TimeoutArg = DEFAULT,
    ) -> HashKVResponse:
        """Hash of the key-value store of the member at `endpoint` (any member when
        `None`) up to `revision` (`None`: the latest), for consistency checks
        (`etcdctl endpoint hashkv`)."""
        reply = await self._call(
            rpc.HASH_KV,
            pb.HashKvRequest(revision=check_revision("revision", revision)),
            timeout,
            endpoint=resolve_endpoint(self._transport, endpoint),
        )
        return HashKVResponse(
            header(reply.header), reply.hash, reply.compact_revision, reply.hash_revision
        )

    def snapshot(self, *, timeout: TimeoutArg = DEFAULT) -> Snapshot:
        """Stream a snapshot of one member's database (see `Snapshot`).

        `timeout` bounds the wait for each chunk (not the whole transfer).
        """
        self._transport.check_open()
        return Snapshot(self._transport, self._transport.config.resolve_timeout(timeout))

    async def snapshot_save(
        self, path: str | os.PathLike[str], *, timeout: TimeoutArg = DEFAULT
    ) -> SnapshotInfo:
        """Save a snapshot of one member's database to `path` (`etcdctl snapshot save`).

        The data goes to a temporary file in the same directory, is verified (see
        `Snapshot`), fsynced and renamed over `path`: `path` never holds a truncated
        snapshot. On any failure, cancellation included, the temporary file is
        removed and `path` is left as it was. The file is created readable by its
        owner only, like etcdctl's.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise ArgumentTypeError(f"path: expected a path, got {type(path).__name__}")
        snapshot = self.snapshot(timeout=timeout)
        # Not cancellable while the thread runs, and no checkpoint before `try`: the
        # temp file cannot leak.
        target, directory, fd, part = await anyio.to_thread.run_sync(_temp_file_for, path)
        try:
            async with snapshot, anyio.wrap_file(os.fdopen(fd, "wb")) as out:
                async for chunk in snapshot:
                    await out.write(chunk)
                await out.flush()
                await anyio.to_thread.run_sync(os.fsync, out.wrapped.fileno())
            # Synchronous, so that a cancellation cannot land between a rename done
            # in a worker thread and the clean-up below.
            os.replace(part, target)
        except BaseException:
            _unlink_quietly(part)
            raise
        await anyio.to_thread.run_sync(_fsync_directory, directory)
        return SnapshotInfo(
            path=target,
            size=snapshot.received,
            endpoint=snapshot.endpoint or "",
            version=snapshot.version,
        )

    async def move_leader(
        self, target_id: int, *, timeout: TimeoutArg = DEFAULT
    ) -> MoveLeaderResponse:
        """Transfer leadership to member `target_id` (`etcdctl move-leader`).

        Only the leader can hand leadership over, so the leader is found first (by
        asking the client's endpoints for their status) and the request is sent to
        it. Raises `BadLeaderTransfereeError` for an unknown or learner target.
        """
        target = check_member_id("target_id", target_id)
        transport = self._transport
        deadline = transport.deadline_for(transport.config.resolve_timeout(timeout))
        for attempt in range(_MOVE_LEADER_ATTEMPTS):
            leader = await self._find_leader(deadline)
            try:
                reply = await self._call(
                    rpc.MOVE_LEADER,
                    pb.MoveLeaderRequest(target_id=target),
                    _remaining(deadline),
                    endpoint=leader,
                )
            except NotLeaderError:
                # Leadership moved between finding the leader and asking it.
                if attempt + 1 == _MOVE_LEADER_ATTEMPTS:
                    raise
                continue
            return MoveLeaderResponse(header(reply.header))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _find_leader(self, deadline: float | None) -> Endpoint:
        """The endpoint of the leader: one of the client's endpoints when the leader
        is among them, else the leader's advertised client URL."""
        endpoints = self._transport.balancer.endpoints
        leader_id = (await self.status(timeout=_remaining(deadline))).leader
        if leader_id == 0:
            raise NoLeaderError("move_leader: the cluster has no leader")
        last: EtcdError | None = None
        for endpoint in endpoints:
            try:
                status = await self.status(endpoint.url, timeout=_remaining(deadline))
            except (UnavailableError, DeadlineExceededError) as exc:
                last = exc
                continue
            if status.header.member_id == leader_id:
                return endpoint
        # The leader is not one of our endpoints: use the client URL it advertises.
        reply = await self._call(rpc.MEMBER_LIST, pb.MemberListRequest(), _remaining(deadline))
        for m in reply.members:
            if m.id == leader_id and m.client_ur_ls:
                secure = any(ep.secure for ep in endpoints)
                return parse_endpoint(m.client_ur_ls[0], secure=secure)
        raise UnavailableError(
            f"move_leader: cannot reach the leader {leader_id:x} through any endpoint"
        ) from last
