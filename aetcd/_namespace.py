"""Namespace views: `client.with_namespace(prefix)` (Go's `clientv3/namespace`).

A `Namespace` has the client's KV, Txn, watch, lease and recipe calls; every key sent
gets the prefix and every key returned loses it. Ranges stay inside the namespace:
"every key" (`prefix=True` with an empty key) and `from_key` end where the namespace
ends rather than at the end of the keyspace. Transactions are rewritten throughout:
compares, operations and nested transactions. The view shares its client's
connections, watch stream and keep-alive stream; it has nothing to close.

    app = client.with_namespace("/app/")
    await app.put("config", "v1")            # writes /app/config
    (await app.get("", prefix=True)).kvs     # every key under /app/, as b"config", ...
    async with app.lock("leader"): ...       # the lock lives under /app/leader/
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TypeVar, cast

from anyio.abc import TaskGroup

from . import _rpcs as rpc
from ._config import DEFAULT, TimeoutArg
from ._exceptions import ArgumentValueError
from ._keys import ALL_KEYS, prefix_range_end, resolve_range, to_bytes
from ._models import (
    DeleteResponse,
    GetResponse,
    KeyValue,
    OpResponse,
    PutResponse,
    TxnResponse,
)
from ._proto import etcdserverpb as pb
from ._transport import Endpoint, Method
from ._watch import Event, Watch, WatchFilter, WatchResponse
from .concurrency._mixin import RecipesMixin

__all__ = ["Namespace", "NamespaceWatch"]

Req = TypeVar("Req")
Rep = TypeVar("Rep")


class _Prefixer:
    """The key rewriting of one namespace (Go's `prefixInterval` and the unprefixing
    of responses)."""

    __slots__ = ("end", "prefix")

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.end = prefix_range_end(prefix)

    # -- requests ------------------------------------------------------------------------

    def interval(self, key: bytes, range_end: bytes) -> tuple[bytes, bytes]:
        pfx = self.prefix
        if range_end == ALL_KEYS:
            # "To the end of the keyspace" becomes "to the end of the namespace"; the
            # key "\0" with it is how an empty key with prefix/from_key travels, and
            # means the whole namespace.
            return (pfx if key == ALL_KEYS else pfx + key), self.end
        if range_end:
            return pfx + key, pfx + range_end
        return pfx + key, b""

    def compare(self, c: pb.Compare) -> pb.Compare:
        key, end = self.interval(c.key, c.range_end)
        return dataclasses.replace(c, key=key, range_end=end)

    def op(self, op: pb.RequestOp) -> pb.RequestOp:
        if op.request_range is not None:
            return pb.RequestOp(request_range=self.range(op.request_range))
        if op.request_put is not None:
            return pb.RequestOp(request_put=self.put(op.request_put))
        if op.request_delete_range is not None:
            return pb.RequestOp(request_delete_range=self.delete(op.request_delete_range))
        if op.request_txn is not None:
            return pb.RequestOp(request_txn=self.txn(op.request_txn))
        return op

    def range(self, r: pb.RangeRequest) -> pb.RangeRequest:
        key, end = self.interval(r.key, r.range_end)
        return dataclasses.replace(r, key=key, range_end=end)

    def put(self, r: pb.PutRequest) -> pb.PutRequest:
        return dataclasses.replace(r, key=self.prefix + r.key)

    def delete(self, r: pb.DeleteRangeRequest) -> pb.DeleteRangeRequest:
        key, end = self.interval(r.key, r.range_end)
        return dataclasses.replace(r, key=key, range_end=end)

    def txn(self, t: pb.TxnRequest) -> pb.TxnRequest:
        return pb.TxnRequest(
            compare=[self.compare(c) for c in t.compare],
            success=[self.op(o) for o in t.success],
            failure=[self.op(o) for o in t.failure],
        )

    # -- responses -----------------------------------------------------------------------

    def kv(self, kv: KeyValue) -> KeyValue:
        return dataclasses.replace(kv, key=kv.key[len(self.prefix) :])

    def kv_or_none(self, kv: KeyValue | None) -> KeyValue | None:
        return None if kv is None else self.kv(kv)

    def get_response(self, r: GetResponse) -> GetResponse:
        return dataclasses.replace(r, kvs=tuple(map(self.kv, r.kvs)))

    def put_response(self, r: PutResponse) -> PutResponse:
        if r.prev_kv is None:
            return r
        return dataclasses.replace(r, prev_kv=self.kv(r.prev_kv))

    def delete_response(self, r: DeleteResponse) -> DeleteResponse:
        if not r.prev_kvs:
            return r
        return dataclasses.replace(r, prev_kvs=tuple(map(self.kv, r.prev_kvs)))

    def op_response(self, r: OpResponse) -> OpResponse:
        if isinstance(r, GetResponse):
            return self.get_response(r)
        if isinstance(r, PutResponse):
            return self.put_response(r)
        if isinstance(r, DeleteResponse):
            return self.delete_response(r)
        return self.txn_response(r)

    def txn_response(self, r: TxnResponse) -> TxnResponse:
        return dataclasses.replace(r, responses=tuple(map(self.op_response, r.responses)))

    def lease_keys(self, r: pb.LeaseTimeToLiveResponse) -> pb.LeaseTimeToLiveResponse:
        # Only the lease's keys inside the namespace are visible from it (as Go).
        n = len(self.prefix)
        keys = [k[n:] for k in r.keys if k.startswith(self.prefix)]
        return dataclasses.replace(r, keys=keys)

    def watch_response(self, r: WatchResponse) -> WatchResponse:
        if not r.events:
            return r
        return dataclasses.replace(r, events=tuple(map(self.event, r.events)))

    def event(self, e: Event) -> Event:
        return Event(e.type, self.kv(e.kv), self.kv_or_none(e.prev_kv))


class Namespace(RecipesMixin):
    """A view of a client with every key under `prefix` (`client.with_namespace`).

    Offers the client's `put`, `get`, `delete`, `txn`, `scan`, `compact`, `watch`, the
    lease calls and handles, and `session`, `lock`, `election`, `stm` and
    `with_namespace` (which nests: `ns.with_namespace("sub/")` adds to the prefix).
    Results have the prefix removed from their keys; a lease's `keys` list only the
    keys inside the namespace. Closing the client closes the view.
    """

    _root: RecipesMixin

    def __init__(self, client: RecipesMixin, prefix: str | bytes) -> None:
        pfx = to_bytes("prefix", prefix)
        if not pfx:
            raise ArgumentValueError("prefix: must not be empty", argument="prefix")
        root = client
        if isinstance(client, Namespace):
            root = client._root
            pfx = client.prefix + pfx
        self._root = root
        self._prefixer = _Prefixer(pfx)
        # Shared with the client: the same connections, watch and keep-alive streams.
        self._transport = root._transport
        self._services = root._services

    def __repr__(self) -> str:
        return f"<aetcd.Namespace {self.prefix!r} of {self._root!r}>"

    @property
    def prefix(self) -> bytes:
        """The prefix added to every key."""
        return self._prefixer.prefix

    @property
    def client(self) -> RecipesMixin:
        """The client this is a view of."""
        return self._root

    @property
    def closed(self) -> bool:
        """Whether the client this is a view of is closed."""
        return self._root.closed

    @property
    def task_group(self) -> TaskGroup:
        """The client's task group, where background services run."""
        return self._root.task_group

    async def _call(
        self,
        method: Method[Req, Rep],
        request: Req,
        timeout: TimeoutArg = DEFAULT,
        *,
        endpoint: Endpoint | None = None,
    ) -> Rep:
        p = self._prefixer
        call = super()._call
        req: Any = request
        result: Any
        if method is rpc.RANGE:
            result = p.get_response(await call(rpc.RANGE, p.range(req), timeout))
        elif method is rpc.PUT:
            result = p.put_response(await call(rpc.PUT, p.put(req), timeout))
        elif method is rpc.DELETE_RANGE:
            result = p.delete_response(await call(rpc.DELETE_RANGE, p.delete(req), timeout))
        elif method is rpc.TXN:
            result = p.txn_response(await call(rpc.TXN, p.txn(req), timeout))
        elif method is rpc.LEASE_TIME_TO_LIVE:
            result = p.lease_keys(await call(rpc.LEASE_TIME_TO_LIVE, req, timeout))
        else:
            result = await call(method, request, timeout, endpoint=endpoint)
        return cast(Rep, result)

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
        """`Client.watch` inside the namespace: the watch covers the prefixed key or
        range and its events carry unprefixed keys (a `NamespaceWatch`)."""
        k, end = resolve_range(key, range_end, prefix=prefix, from_key=from_key)
        pk, pend = self._prefixer.interval(k, end)
        inner = super().watch(
            pk,
            range_end=pend or None,
            start_revision=start_revision,
            prev_kv=prev_kv,
            progress_notify=progress_notify,
            filters=filters,
            fragment=fragment,
            timeout=timeout,
        )
        return NamespaceWatch(self, inner._spec, inner._timeout, self._prefixer)


class NamespaceWatch(Watch):
    """A `Watch` created through a `Namespace`: its responses carry the keys without
    the namespace prefix."""

    def __init__(self, client: Namespace, spec: Any, timeout: TimeoutArg, prefixer: _Prefixer):
        super().__init__(client, spec, timeout)
        self._prefixer = prefixer

    @property
    def key(self) -> bytes:
        """The watched key, without the namespace prefix."""
        return self._spec.key[len(self._prefixer.prefix) :]

    @property
    def range_end(self) -> bytes:
        """The end of the watched range without the namespace prefix (`b"\\x00"`: to the
        end of the namespace; empty for a single key)."""
        end = self._spec.range_end
        if end == self._prefixer.end:
            return ALL_KEYS
        return end[len(self._prefixer.prefix) :] if end else b""

    async def __anext__(self) -> WatchResponse:
        return self._prefixer.watch_response(await super().__anext__())
