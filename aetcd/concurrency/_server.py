"""Thin calls to etcd's server-side `v3lock` and `v3election` gRPC services.

There the *server* runs the lock and election recipes (with the same key layout as
`client.lock` / `client.election`, so both kinds interoperate); the client only
passes a lease it keeps alive. Useful for clients that cannot watch, or to hand a
lock over between processes by its key.

    async with client.session(ttl=10) as session:
        locks = aetcd.concurrency.LockService(client)
        held = await locks.lock("jobs/cleanup", session.id)      # waits for the lock
        ...
        await locks.unlock(held.key)

        elections = aetcd.concurrency.ElectionService(client)
        leader = (await elections.campaign("svc", session.id, "node-1")).leader
        await elections.proclaim(leader, "node-1 v2")
        await elections.resign(leader)

Blocking calls (`lock`, `campaign`) wait for ever by default (`timeout=None`); the
server gives up (and withdraws) when the call's deadline passes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import anyio
from grpclib.client import Stream
from grpclib.exceptions import GRPCError

from .. import _rpcs as rpc
from .._base import ClosingIterator, ServiceBase
from .._config import DEFAULT, TimeoutArg
from .._exceptions import (
    ClientClosedError,
    ElectionNotLeaderError,
    EtcdError,
    UnavailableError,
    UsageError,
    from_grpc_error,
)
from .._keys import LeaseId, to_bytes
from .._lease import check_lease_id
from .._models import KeyValue, ResponseHeader, header, key_value
from .._proto import v3electionpb as epb
from .._proto import v3lockpb as lpb
from .._transport import CONNECTION_ERRORS, EndpointConnection

__all__ = [
    "CampaignResponse",
    "ElectionService",
    "LeaderKey",
    "LockResponse",
    "LockService",
    "ServerObserver",
]


@dataclass(frozen=True, slots=True)
class LockResponse:
    """Result of `LockService.lock`: the `key` that holds the lock (pass it to
    `unlock`); it lives as long as the lease given to `lock`."""

    header: ResponseHeader
    key: bytes


@dataclass(frozen=True, slots=True)
class LeaderKey:
    """A leadership won with `ElectionService.campaign` (etcd's `LeaderKey`): the
    election `name`, the leader's `key`, its create revision `rev` and `lease`."""

    name: bytes
    key: bytes
    rev: int
    lease: int


@dataclass(frozen=True, slots=True)
class CampaignResponse:
    """Result of `ElectionService.campaign`."""

    header: ResponseHeader
    leader: LeaderKey


def _name(value: Any) -> bytes:
    name = to_bytes("name", value)
    if not name:
        raise UsageError("name: must not be empty")
    return name


def _leader_pb(leader: LeaderKey) -> epb.LeaderKey:
    if not isinstance(leader, LeaderKey):
        raise UsageError(f"leader: expected a LeaderKey, got {type(leader).__name__}")
    return epb.LeaderKey(name=leader.name, key=leader.key, rev=leader.rev, lease=leader.lease)


def _not_leader(exc: EtcdError) -> bool:
    return "election: not leader" in exc.message


class LockService:
    """etcd's `v3lock` service: `lock(name, lease)` / `unlock(key)`."""

    def __init__(self, client: ServiceBase) -> None:
        self._client = client

    async def lock(
        self, name: str | bytes, lease: LeaseId, *, timeout: TimeoutArg = None
    ) -> LockResponse:
        """Wait until the lock `name` is held by a key attached to `lease` (a lease id
        or a `Session`/`Lease` kept alive by the caller) and return that key."""
        request = lpb.LockRequest(name=_name(name), lease=check_lease_id(lease, "lease"))
        reply = await self._client._call(rpc.LOCK, request, timeout)
        return LockResponse(header(reply.header), reply.key)

    async def unlock(self, key: str | bytes, *, timeout: TimeoutArg = DEFAULT) -> ResponseHeader:
        """Release the lock held by `key` (deletes the key)."""
        request = lpb.UnlockRequest(key=to_bytes("key", key))
        reply = await self._client._call(rpc.UNLOCK, request, timeout)
        return header(reply.header)


class ElectionService:
    """etcd's `v3election` service: campaign, proclaim, leader, observe, resign."""

    def __init__(self, client: ServiceBase) -> None:
        self._client = client

    async def campaign(
        self,
        name: str | bytes,
        lease: LeaseId,
        value: str | bytes,
        *,
        timeout: TimeoutArg = None,
    ) -> CampaignResponse:
        """Campaign with `value` under `lease` and return once elected."""
        request = epb.CampaignRequest(
            name=_name(name),
            lease=check_lease_id(lease, "lease"),
            value=to_bytes("value", value),
        )
        reply = await self._client._call(rpc.CAMPAIGN, request, timeout)
        lk = reply.leader
        assert lk is not None
        return CampaignResponse(header(reply.header), LeaderKey(lk.name, lk.key, lk.rev, lk.lease))

    async def proclaim(
        self, leader: LeaderKey, value: str | bytes, *, timeout: TimeoutArg = DEFAULT
    ) -> ResponseHeader:
        """Set a new value as `leader`. Raises `ElectionNotLeaderError` if it is not
        the leader any more."""
        request = epb.ProclaimRequest(leader=_leader_pb(leader), value=to_bytes("value", value))
        try:
            reply = await self._client._call(rpc.PROCLAIM, request, timeout)
        except EtcdError as exc:
            if _not_leader(exc):
                raise ElectionNotLeaderError(exc.message, status=exc.status) from exc
            raise
        return header(reply.header)

    async def leader(self, name: str | bytes, *, timeout: TimeoutArg = DEFAULT) -> KeyValue | None:
        """The leader's key-value, or None when nobody leads."""
        request = epb.LeaderRequest(name=_name(name))
        try:
            reply = await self._client._call(rpc.LEADER, request, timeout)
        except EtcdError as exc:
            if "election: no leader" in exc.message:
                return None
            raise
        return None if reply.kv is None else key_value(reply.kv)

    async def resign(self, leader: LeaderKey, *, timeout: TimeoutArg = DEFAULT) -> ResponseHeader:
        """Give up leadership (deletes the leader key if it is still `leader`'s)."""
        request = epb.ResignRequest(leader=_leader_pb(leader))
        try:
            reply = await self._client._call(rpc.RESIGN, request, timeout)
        except EtcdError as exc:
            if _not_leader(exc):
                raise ElectionNotLeaderError(exc.message, status=exc.status) from exc
            raise
        return header(reply.header)

    def observe(self, name: str | bytes) -> ServerObserver:
        """The leaders of election `name` as the server reports them (one `KeyValue`
        per leader or proclaimed value), over one `Observe` stream. Use
        `async with elections.observe(name) as leaders: async for kv in leaders`."""
        return ServerObserver(self._client, _name(name))


class ServerObserver(ClosingIterator):
    """Async iterator over an `Observe` stream. Thin: a broken stream ends the
    iteration with `UnavailableError` (observe again to resume); `aclose()` or leaving
    `async with` closes the stream."""

    def __init__(self, client: ServiceBase, name: bytes) -> None:
        self._client = client
        self._name = name
        self._conn: EndpointConnection | None = None
        self._stream: Stream[Any, Any] | None = None
        self._closed = False

    async def _open(self) -> Stream[Any, Any]:
        transport = self._client._transport
        transport.check_open()
        conn = await transport.connect(
            rpc.OBSERVE, transport.deadline_for(transport.config.connect_timeout)
        )
        metadata = await transport.metadata(rpc.OBSERVE)
        stream = transport.open_stream(conn, rpc.OBSERVE, metadata)
        self._conn, self._stream = conn, stream
        await stream.__aenter__()
        await stream.send_message(epb.LeaderRequest(name=self._name), end=True)
        return stream

    async def __anext__(self) -> KeyValue:
        if self._closed:
            raise StopAsyncIteration
        try:
            stream = self._stream or await self._open()
            while True:
                message = await stream.recv_message()
                if message is None:
                    await stream.recv_trailing_metadata()  # raises for an error status
                    await self.aclose()
                    raise StopAsyncIteration
                if message.kv is not None:
                    return key_value(message.kv)
        except GRPCError as exc:
            await self.aclose()
            raise from_grpc_error(exc) from exc
        except CONNECTION_ERRORS as exc:
            if self._conn is not None:
                self._conn.mark_failed(exc)
            await self.aclose()
            if self._client._transport.closed:
                raise ClientClosedError("the client is closed") from exc
            raise UnavailableError(f"Observe stream lost: {exc}") from exc

    async def aclose(self) -> None:
        """Close the Observe stream: the iteration ends. Idempotent."""
        self._closed = True
        stream, self._stream = self._stream, None
        if stream is None:
            return
        with anyio.move_on_after(1.0, shield=True), contextlib.suppress(Exception):
            await stream.cancel()
            await stream.__aexit__(None, None, None)
