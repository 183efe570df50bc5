"""Hot-path decoders: KV and Txn replies straight from wire bytes to public results.

Parsing into betterproto2 messages and then converting cost more than the rest of a
call (see `_wire`); these read the few fields etcd sends and build the result types of
`_models` directly. Unknown fields are skipped, as protobuf requires. Equivalence with
the generated messages is checked in tests/unit/test_codec.py.
"""

from __future__ import annotations

from collections.abc import Callable

from ._models import (
    DeleteResponse,
    GetResponse,
    KeyValue,
    OpResponse,
    PutResponse,
    ResponseHeader,
    TxnResponse,
)
from ._wire import read_varint, signed64

__all__ = [
    "decode_delete_response",
    "decode_header",
    "decode_key_value",
    "decode_put_response",
    "decode_range_response",
    "decode_txn_response",
    "skip_field",
]

_EMPTY_HEADER = ResponseHeader(0, 0, 0, 0)


def skip_field(data: bytes, pos: int, wire_type: int) -> int:
    """Position after a field's value that we do not read."""
    if wire_type == 0:
        return read_varint(data, pos)[1]
    if wire_type == 2:
        n, pos = read_varint(data, pos)
        return pos + n
    if wire_type == 1:
        return pos + 8
    if wire_type == 5:
        return pos + 4
    raise ValueError(f"unsupported protobuf wire type {wire_type}")


def _len(data: bytes, pos: int) -> tuple[int, int]:
    n, pos = read_varint(data, pos)
    return pos, pos + n


def decode_header(data: bytes, pos: int, end: int) -> ResponseHeader:
    cluster_id = member_id = revision = raft_term = 0
    while pos < end:
        key, pos = read_varint(data, pos)
        field, wt = key >> 3, key & 7
        if wt == 0 and 1 <= field <= 4:
            value, pos = read_varint(data, pos)
            if field == 1:
                cluster_id = value
            elif field == 2:
                member_id = value
            elif field == 3:
                revision = signed64(value)
            else:
                raft_term = value
        else:
            pos = skip_field(data, pos, wt)
    return ResponseHeader(cluster_id, member_id, revision, raft_term)


def decode_key_value(data: bytes, pos: int, end: int) -> KeyValue:
    key = value = b""
    create = mod = version = lease = 0
    while pos < end:
        tag, pos = read_varint(data, pos)
        field, wt = tag >> 3, tag & 7
        if wt == 2 and (field == 1 or field == 5):
            start, pos = _len(data, pos)
            if field == 1:
                key = data[start:pos]
            else:
                value = data[start:pos]
        elif wt == 0 and 2 <= field <= 6 and field != 5:
            raw, pos = read_varint(data, pos)
            number = signed64(raw)
            if field == 2:
                create = number
            elif field == 3:
                mod = number
            elif field == 4:
                version = number
            else:
                lease = number
        else:
            pos = skip_field(data, pos, wt)
    return KeyValue(key, value, create, mod, version, lease)


def _range(data: bytes, pos: int, end: int, fallback: ResponseHeader | None) -> GetResponse:
    header = fallback or _EMPTY_HEADER
    kvs: list[KeyValue] = []
    more = False
    count = 0
    while pos < end:
        tag, pos = read_varint(data, pos)
        field, wt = tag >> 3, tag & 7
        if wt == 2 and field in (1, 2):
            start, pos = _len(data, pos)
            if field == 2:
                kvs.append(decode_key_value(data, start, pos))
            else:
                header = decode_header(data, start, pos)
        elif wt == 0 and field == 3:
            raw, pos = read_varint(data, pos)
            more = raw != 0
        elif wt == 0 and field == 4:
            raw, pos = read_varint(data, pos)
            count = signed64(raw)
        else:
            pos = skip_field(data, pos, wt)
    return GetResponse(header, tuple(kvs), count, more)


def _put(data: bytes, pos: int, end: int, fallback: ResponseHeader | None) -> PutResponse:
    header = fallback or _EMPTY_HEADER
    prev: KeyValue | None = None
    while pos < end:
        tag, pos = read_varint(data, pos)
        field, wt = tag >> 3, tag & 7
        if wt == 2 and field in (1, 2):
            start, pos = _len(data, pos)
            if field == 2:
                prev = decode_key_value(data, start, pos)
            else:
                header = decode_header(data, start, pos)
        else:
            pos = skip_field(data, pos, wt)
    return PutResponse(header, prev)


def _delete(data: bytes, pos: int, end: int, fallback: ResponseHeader | None) -> DeleteResponse:
    header = fallback or _EMPTY_HEADER
    deleted = 0
    prev: list[KeyValue] = []
    while pos < end:
        tag, pos = read_varint(data, pos)
        field, wt = tag >> 3, tag & 7
        if wt == 2 and field in (1, 3):
            start, pos = _len(data, pos)
            if field == 3:
                prev.append(decode_key_value(data, start, pos))
            else:
                header = decode_header(data, start, pos)
        elif wt == 0 and field == 2:
            raw, pos = read_varint(data, pos)
            deleted = signed64(raw)
        else:
            pos = skip_field(data, pos, wt)
    return DeleteResponse(header, deleted, tuple(prev))


def _txn(data: bytes, pos: int, end: int, fallback: ResponseHeader | None) -> TxnResponse:
    # Nested responses carry their own headers (a read before the transaction's first
    # write reports the revision it saw); one missing one falls back to the outer header.
    header = fallback
    succeeded = False
    ops: list[tuple[int, int, int]] = []
    while pos < end:
        tag, pos = read_varint(data, pos)
        field, wt = tag >> 3, tag & 7
        if wt == 2 and field in (1, 3):
            start, pos = _len(data, pos)
            if field == 3:
                ops.append(_op_span(data, start, pos))
            else:
                header = decode_header(data, start, pos)
        elif wt == 0 and field == 2:
            raw, pos = read_varint(data, pos)
            succeeded = raw != 0
        else:
            pos = skip_field(data, pos, wt)
    h = header or fallback or _EMPTY_HEADER
    responses: list[OpResponse] = [_OP_DECODERS[kind](data, s, e, h) for kind, s, e in ops]
    return TxnResponse(h, succeeded, tuple(responses))


def _op_span(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    # ResponseOp is a oneof: response_range=1, response_put=2, response_delete_range=3,
    # response_txn=4. Returns (field, start, end) of the member that is set.
    found: tuple[int, int, int] | None = None
    while pos < end:
        tag, pos = read_varint(data, pos)
        field, wt = tag >> 3, tag & 7
        if wt == 2 and 1 <= field <= 4:
            start, pos = _len(data, pos)
            found = (field, start, pos)
        else:
            pos = skip_field(data, pos, wt)
    if found is None:
        raise ValueError("etcd returned an empty ResponseOp")
    return found


_OP_DECODERS: dict[int, Callable[[bytes, int, int, ResponseHeader | None], OpResponse]] = {
    1: _range,
    2: _put,
    3: _delete,
    4: _txn,
}


def decode_range_response(data: bytes) -> GetResponse:
    return _range(data, 0, len(data), None)


def decode_put_response(data: bytes) -> PutResponse:
    return _put(data, 0, len(data), None)


def decode_delete_response(data: bytes) -> DeleteResponse:
    return _delete(data, 0, len(data), None)


def decode_txn_response(data: bytes) -> TxnResponse:
    return _txn(data, 0, len(data), None)
