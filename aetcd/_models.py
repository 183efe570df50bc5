"""Public result types, converted once from protobuf at the boundary.

No generated protobuf type reaches users: every RPC result passes through a `from_pb`
function here. Results are frozen slotted dataclasses with etcd's field names in
snake_case; absent optional messages are `None`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any, Union

from ._proto import etcdserverpb as pb
from ._proto import mvccpb

__all__ = [
    "OpResponse",
    "CompactResponse",
    "DeleteResponse",
    "GetResponse",
    "KeyValue",
    "PutResponse",
    "ResponseHeader",
    "SortOrder",
    "SortTarget",
    "TxnResponse",
    "header",
    "key_value",
    "new_key_value",
    "slot_setters",
]


class SortOrder(enum.IntEnum):
    """Order of `get` results (etcd's `RangeRequest.SortOrder`)."""

    NONE = 0
    ASCEND = 1
    DESCEND = 2


class SortTarget(enum.IntEnum):
    """Field `get` results are sorted by (etcd's `RangeRequest.SortTarget`)."""

    KEY = 0
    VERSION = 1
    CREATE = 2
    MOD = 3
    VALUE = 4


@dataclass(frozen=True, slots=True)
class ResponseHeader:
    """Which member answered, in which cluster, at which store revision and raft term."""

    cluster_id: int
    member_id: int
    revision: int
    raft_term: int


@dataclass(frozen=True, slots=True)
class KeyValue:
    """A key with its value and MVCC metadata.

    `create_revision` and `mod_revision` are the store revisions of the key's creation
    and last modification; `version` counts modifications since creation (a delete
    resets it); `lease` is the attached lease id, 0 for none.
    """

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int


@dataclass(frozen=True, slots=True)
class PutResponse:
    """Result of `put`; `prev_kv` is set when requested with `prev_kv=True` and the key
    existed."""

    header: ResponseHeader
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class GetResponse:
    """Result of `get`: the matching `kvs`, the total `count` in the range (ignoring
    `limit`), and `more` when `limit` cut the result short.

    Iterating a `GetResponse` yields its key-values; `len()` is the number returned.
    """

    header: ResponseHeader
    kvs: tuple[KeyValue, ...]
    count: int
    more: bool

    def __iter__(self) -> Iterator[KeyValue]:
        return iter(self.kvs)

    def __len__(self) -> int:
        return len(self.kvs)


@dataclass(frozen=True, slots=True)
class DeleteResponse:
    """Result of `delete`: how many keys were `deleted`, and their `prev_kvs` when
    requested."""

    header: ResponseHeader
    deleted: int
    prev_kvs: tuple[KeyValue, ...] = ()


@dataclass(frozen=True, slots=True)
class CompactResponse:
    """Result of `compact`."""

    header: ResponseHeader


OpResponse = Union[PutResponse, GetResponse, DeleteResponse, "TxnResponse"]


@dataclass(frozen=True, slots=True)
class TxnResponse:
    """Result of `txn`: whether the comparisons `succeeded`, and one response per
    operation of the branch that ran, in order."""

    header: ResponseHeader
    succeeded: bool
    responses: tuple[OpResponse, ...]


_EMPTY_HEADER = ResponseHeader(0, 0, 0, 0)


def slot_setters(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    """The slot setters of a frozen slotted dataclass's fields, in field order.

    A frozen dataclass's `__init__` assigns every field with `object.__setattr__` by
    name: about 1.4 µs for a `KeyValue`, a third of decoding a watch event. Calling the
    slots' own setters builds the same frozen instance in 0.6 µs, so the decoders of
    replies with many key-values (`_codec`) build them that way. Callers unpack the
    tuple into one name per field, so a field added later fails at import time instead
    of leaving a slot unset.
    """
    return tuple(getattr(cls, f.name).__set__ for f in fields(cls))


_new = object.__new__
_kv_key, _kv_value, _kv_create, _kv_mod, _kv_version, _kv_lease = slot_setters(KeyValue)


def new_key_value(
    key: bytes, value: bytes, create_revision: int, mod_revision: int, version: int, lease: int
) -> KeyValue:
    """`KeyValue(...)`, built through its slots (see `slot_setters`)."""
    kv = _new(KeyValue)
    _kv_key(kv, key)
    _kv_value(kv, value)
    _kv_create(kv, create_revision)
    _kv_mod(kv, mod_revision)
    _kv_version(kv, version)
    _kv_lease(kv, lease)
    return kv


def header(h: pb.ResponseHeader | None) -> ResponseHeader:
    if h is None:
        # Responses nested in a Txn carry no header of their own in etcd 3.4.
        return _EMPTY_HEADER
    return ResponseHeader(h.cluster_id, h.member_id, h.revision, h.raft_term)


def key_value(kv: mvccpb.KeyValue) -> KeyValue:
    return KeyValue(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)
