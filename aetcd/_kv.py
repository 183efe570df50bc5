"""KV calls: put, get, delete, compact, and `scan` (a paged range at one revision).

The request builders are shared with `Op` (transaction operations), so a `get` and an
`Op.get` accept exactly the same options and validate them the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _rpcs as rpc
from ._base import ServiceBase
from ._coalesce import ReadCoalescer
from ._config import DEFAULT, TimeoutArg
from ._exceptions import ArgumentValueError, ClientClosedError
from ._keys import LeaseId, check_bool, check_int, check_revision, resolve_range, to_bytes
from ._models import (
    CompactResponse,
    DeleteResponse,
    GetResponse,
    KeyValue,
    PutResponse,
    SortOrder,
    SortTarget,
    header,
)
from ._proto import etcdserverpb as pb

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

__all__ = [
    "KVMixin",
    "Scan",
    "delete_request",
    "put_request",
    "range_request",
]


def _enum(name: str, enum_type: type[SortOrder] | type[SortTarget], value: Any) -> int:
    if isinstance(value, enum_type):
        return int(value)
    if isinstance(value, str):
        try:
            return int(enum_type[value.upper()])
        except KeyError:
            pass
    choices = ", ".join(m.name for m in enum_type)
    raise ArgumentValueError(f"{name}: expected {enum_type.__name__} ({choices}), got {value!r}")


def _lease_id(name: str, value: Any) -> int:
    if value is None:
        return 0
    lease_id = getattr(value, "id", value)  # a Lease handle or a plain id
    return check_int(name, lease_id, minimum=1)


def range_request(
    key: Any,
    *,
    range_end: Any = None,
    prefix: bool = False,
    from_key: bool = False,
    revision: int | None = None,
    limit: int | None = None,
    sort_order: SortOrder | str | None = None,
    sort_target: SortTarget | str | None = None,
    serializable: bool = False,
    keys_only: bool = False,
    count_only: bool = False,
    min_mod_revision: int | None = None,
    max_mod_revision: int | None = None,
    min_create_revision: int | None = None,
    max_create_revision: int | None = None,
) -> pb.RangeRequest:
    k, end = resolve_range(key, range_end, prefix=prefix, from_key=from_key)
    order = 0 if sort_order is None else _enum("sort_order", SortOrder, sort_order)
    target = 0 if sort_target is None else _enum("sort_target", SortTarget, sort_target)
    if sort_target is not None and sort_order is None:
        # Asking for a sort target means asking for a sort: ascending unless told.
        order = int(SortOrder.ASCEND)
    return pb.RangeRequest(
        key=k,
        range_end=end,
        # None means no limit; 0 would mean the same on the wire, so it is refused
        # rather than being a second, magic spelling of "unlimited".
        limit=0 if limit is None else check_int("limit", limit, minimum=1),
        revision=check_revision("revision", revision),
        sort_order=pb.RangeRequestSortOrder(order),
        sort_target=pb.RangeRequestSortTarget(target),
        serializable=check_bool("serializable", serializable),
        keys_only=check_bool("keys_only", keys_only),
        count_only=check_bool("count_only", count_only),
        min_mod_revision=check_revision("min_mod_revision", min_mod_revision),
        max_mod_revision=check_revision("max_mod_revision", max_mod_revision),
        min_create_revision=check_revision("min_create_revision", min_create_revision),
        max_create_revision=check_revision("max_create_revision", max_create_revision),
    )


def put_request(
    key: Any,
    value: Any,
    *,
    lease: Any = None,
    prev_kv: bool = False,
    ignore_value: bool = False,
    ignore_lease: bool = False,
) -> pb.PutRequest:
    k, _ = resolve_range(key)
    if check_bool("ignore_value", ignore_value):
        if value not in (None, b"", ""):
            raise ArgumentValueError("value: must be empty with ignore_value=True")
        v = b""
    else:
        v = to_bytes("value", value)
    lease_id = _lease_id("lease", lease)
    if check_bool("ignore_lease", ignore_lease) and lease_id:
        raise ArgumentValueError("lease: must not be set with ignore_lease=True")
    return pb.PutRequest(
        key=k,
        value=v,
        lease=lease_id,
        prev_kv=check_bool("prev_kv", prev_kv),
        ignore_value=ignore_value,
        ignore_lease=ignore_lease,
    )


def delete_request(
    key: Any,
    *,
    range_end: Any = None,
    prefix: bool = False,
    from_key: bool = False,
    prev_kv: bool = False,
) -> pb.DeleteRangeRequest:
    k, end = resolve_range(key, range_end, prefix=prefix, from_key=from_key)
    return pb.DeleteRangeRequest(key=k, range_end=end, prev_kv=check_bool("prev_kv", prev_kv))


class KVMixin(ServiceBase):
    """Key-value calls of `Client`."""

    if TYPE_CHECKING:

        @property
        def task_group(self) -> TaskGroup: ...

    def _read_coalescer(self) -> ReadCoalescer | None:
        """The client's batcher of concurrent gets (`_coalesce`), made on first use;
        None without `async with` (no task group to send batches from)."""
        service = self._services.get("reads")
        if isinstance(service, ReadCoalescer):
            return service
        try:
            task_group = self.task_group
        except ClientClosedError:
            return None
        coalescer = ReadCoalescer()
        self._services["reads"] = coalescer
        task_group.start_soon(coalescer.run, name="aetcd read coalescer")
        return coalescer

    async def put(
        self,
        key: str | bytes,
        value: str | bytes,
        *,
        lease: LeaseId | None = None,
        prev_kv: bool = False,
        ignore_value: bool = False,
        ignore_lease: bool = False,
        timeout: TimeoutArg = DEFAULT,
    ) -> PutResponse:
        """Set `key` to `value`, creating a new revision.

        `lease` attaches the key to a lease (an id or a lease handle); `prev_kv` returns
        the previous key-value; `ignore_value`/`ignore_lease` keep the current value or
        lease (the key must exist). A put is never resent once it may have reached a
        server, so it is applied at most once.
        """
        request = put_request(
            key,
            value,
            lease=lease,
            prev_kv=prev_kv,
            ignore_value=ignore_value,
            ignore_lease=ignore_lease,
        )
        return await self._call(rpc.PUT, request, timeout)

    async def get(
        self,
        key: str | bytes,
        *,
        range_end: str | bytes | None = None,
        prefix: bool = False,
        from_key: bool = False,
        revision: int | None = None,
        limit: int | None = None,
        sort_order: SortOrder | None = None,
        sort_target: SortTarget | None = None,
        serializable: bool = False,
        keys_only: bool = False,
        count_only: bool = False,
        min_mod_revision: int | None = None,
        max_mod_revision: int | None = None,
        min_create_revision: int | None = None,
        max_create_revision: int | None = None,
        timeout: TimeoutArg = DEFAULT,
    ) -> GetResponse:
        """Read `key`, or the range `[key, range_end)`, every key with the prefix `key`
        (`prefix=True`), or every key >= `key` (`from_key=True`).

        `revision` reads the store as of that revision; `limit` caps the number of keys
        (`count` still counts all); `serializable` reads from the member's local state
        without a quorum round trip (may be stale); `keys_only`/`count_only` trim the
        answer; the min/max revision bounds filter by the keys' revisions. Setting only
        `sort_target` sorts ascending.

        Gets issued in the same event-loop iteration while others are in progress are
        sent together as one Txn (`ClientConfig.coalesce_reads`), with the results,
        errors, deadlines and cancellation of separate calls.
        """
        request = range_request(
            key,
            range_end=range_end,
            prefix=prefix,
            from_key=from_key,
            revision=revision,
            limit=limit,
            sort_order=sort_order,
            sort_target=sort_target,
            serializable=serializable,
            keys_only=keys_only,
            count_only=count_only,
            min_mod_revision=min_mod_revision,
            max_mod_revision=max_mod_revision,
            min_create_revision=min_create_revision,
            max_create_revision=max_create_revision,
        )
        if self._transport.config.coalesce_reads:
            coalescer = self._read_coalescer()
            if coalescer is not None:
                return await coalescer.get(self, request, timeout)
        return await self._call(rpc.RANGE, request, timeout)

    async def delete(
        self,
        key: str | bytes,
        *,
        range_end: str | bytes | None = None,
        prefix: bool = False,
        from_key: bool = False,
        prev_kv: bool = False,
        timeout: TimeoutArg = DEFAULT,
    ) -> DeleteResponse:
        """Delete `key` (or a range, a prefix, or every key >= `key`); `prev_kv` returns
        the deleted key-values."""
        request = delete_request(
            key, range_end=range_end, prefix=prefix, from_key=from_key, prev_kv=prev_kv
        )
        return await self._call(rpc.DELETE_RANGE, request, timeout)

    async def compact(
        self, revision: int, *, physical: bool = False, timeout: TimeoutArg = DEFAULT
    ) -> CompactResponse:
        """Discard the key history before `revision`. With `physical=True` the call
        returns only once the space is reclaimed on the member that served it."""
        request = pb.CompactionRequest(
            revision=check_int("revision", revision, minimum=1),
            physical=check_bool("physical", physical),
        )
        reply = await self._call(rpc.COMPACT, request, timeout)
        return CompactResponse(header(reply.header))

    def scan(
        self,
        key: str | bytes,
        *,
        range_end: str | bytes | None = None,
        prefix: bool | None = None,
        from_key: bool = False,
        page_size: int = 1000,
        revision: int | None = None,
        keys_only: bool = False,
        timeout: TimeoutArg = DEFAULT,
    ) -> Scan:
        """Iterate over a range page by page, all pages read at one revision.

        By default scans every key with the prefix `key`; pass `range_end` or
        `from_key=True` for other ranges. The revision is the one of the first page
        unless `revision` is given, so the result is a consistent snapshot even while
        the keys change (it fails with `CompactedError` if that revision is compacted
        mid-scan). `timeout` applies to each page.
        """
        if prefix is None:
            prefix = range_end is None and not from_key
        first = range_request(
            key,
            range_end=range_end,
            prefix=prefix,
            from_key=from_key,
            revision=revision,
            limit=check_int("page_size", page_size, minimum=1),
            keys_only=keys_only,
        )
        return Scan(self, first, timeout)


class Scan:
    """Async iterator of `KeyValue` returned by `Client.scan`."""

    def __init__(self, kv: ServiceBase, first: pb.RangeRequest, timeout: TimeoutArg) -> None:
        self._kv = kv
        self._request = first
        self._timeout = timeout
        self._page: list[KeyValue] = []
        self._pos = 0
        self._done = False

    def __aiter__(self) -> Scan:
        return self

    async def __anext__(self) -> KeyValue:
        while self._pos >= len(self._page):
            if self._done:
                raise StopAsyncIteration
            await self._fetch()
        kv = self._page[self._pos]
        self._pos += 1
        return kv

    async def _fetch(self) -> None:
        req = self._request
        reply = await self._kv._call(rpc.RANGE, req, self._timeout)
        self._page = list(reply.kvs)
        self._pos = 0
        if not reply.more or not reply.kvs:
            self._done = True
            return
        # Next page: just after the last key, pinned to the first page's revision.
        last = reply.kvs[-1].key
        self._request = pb.RangeRequest(
            key=last + b"\x00",
            range_end=req.range_end,
            limit=req.limit,
            revision=req.revision or reply.header.revision,
            keys_only=req.keys_only,
        )
