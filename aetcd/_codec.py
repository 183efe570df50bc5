"""Hot-path decoders: KV, Txn, Watch and LeaseKeepAlive replies straight from wire
bytes to public results.

Parsing into betterproto2 messages and then converting cost more than the rest of a
call (see `_wire`; a watch event took about 38 µs); these read the few fields etcd
sends and build the result types of `_models`, `_watch` and `_lease` directly. Unknown
fields are skipped, as protobuf requires. Equivalence with the generated messages is
checked in tests/unit/test_codec.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# `_watch` and `_lease` import `_rpcs`, which imports this module: their result types
# are looked up as module attributes when a reply is decoded, never at import time.
from . import _lease, _watch
from ._models import (
    DeleteResponse,
    GetResponse,
    KeyValue,
    OpResponse,
    PutResponse,
    ResponseHeader,
    TxnResponse,
    new_key_value,
)
from ._wire import read_varint, signed64

__all__ = [
    "WatchReply",
    "decode_delete_response",
    "decode_header",
    "decode_key_value",
    "decode_lease_keep_alive_response",
    "decode_put_response",
    "decode_range_response",
    "decode_txn_response",
    "decode_watch_response",
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


# The leading bytes `cluster_id`, `member_id` of the last header decoded, and their
# values. The ids are 64-bit numbers (10-byte varints, half the cost of a small reply)
# and the same in every reply of a member, so they are decoded once, not every time.
_ids: tuple[bytes, int, int] | None = None

# The decoders of the hot messages read one-byte tags and varints inline (a function
# call costs more than the byte it reads) and fall back to `read_varint` for longer ones.


def decode_header(data: bytes, pos: int, end: int) -> ResponseHeader:
    global _ids
    ids = _ids
    if ids is not None and data.startswith(ids[0], pos, end):
        prefix, cluster_id, member_id = ids
        pos += len(prefix)
    else:
        cluster_id = member_id = 0
        if pos < end and data[pos] == 0x08:  # etcd writes field 1, then field 2
            first, p = read_varint(data, pos + 1)
            if p < end and data[p] == 0x10:
                member_id, p = read_varint(data, p + 1)
                cluster_id = first
                _ids = (data[pos:p], cluster_id, member_id)
                pos = p
    revision = raft_term = 0
    while pos < end:
        tag = data[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = read_varint(data, pos)
        if tag == 0x18 or tag == 0x20 or tag == 0x08 or tag == 0x10:  # uint64/int64 1-4
            value = data[pos]
            if value < 0x80:
                pos += 1
            else:
                value, pos = read_varint(data, pos)
            if tag == 0x18:
                revision = signed64(value)
            elif tag == 0x20:
                raft_term = value
            elif tag == 0x08:
                cluster_id = value
            else:
                member_id = value
        else:
            pos = skip_field(data, pos, tag & 7)
    return ResponseHeader(cluster_id, member_id, revision, raft_term)


def decode_key_value(data: bytes, pos: int, end: int) -> KeyValue:
    key = value = b""
    create = mod = version = lease = 0
    while pos < end:
        tag = data[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = read_varint(data, pos)
        if tag == 0x0A or tag == 0x2A:  # key = 1, value = 5 (bytes)
            n = data[pos]
            if n < 0x80:
                pos += 1
            elif data[pos + 1] < 0x80:  # two bytes: lengths below 16 KiB
                n = (n & 0x7F) | data[pos + 1] << 7
                pos += 2
            else:
                n, pos = read_varint(data, pos)
            if tag == 0x0A:
                key = data[pos : pos + n]
            else:
                value = data[pos : pos + n]
            pos += n
        elif tag == 0x18 or tag == 0x10 or tag == 0x20 or tag == 0x30:  # int64 2, 3, 4, 6
            # Revisions are multi-byte varints: read inline here too (this loop is
            # `read_varint` and `signed64` without the two calls and the tuple).
            n = data[pos]
            pos += 1
            if n >= 0x80:
                n &= 0x7F
                shift = 7
                while True:
                    b = data[pos]
                    pos += 1
                    n |= (b & 0x7F) << shift
                    if b < 0x80:
                        break
                    shift += 7
                if n >= 0x8000000000000000:
                    n -= 0x10000000000000000
            if tag == 0x18:
                mod = n
            elif tag == 0x10:
                create = n
            elif tag == 0x20:
                version = n
            else:
                lease = n
        else:
            pos = skip_field(data, pos, tag & 7)
    return new_key_value(key, value, create, mod, version, lease)


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


# --------------------------------------------------------------------------- Watch


@dataclass(slots=True)
class WatchReply:
    """A `WatchResponse` as the watch multiplexer reads it: the header stays `None`
    when absent, the events are public `Event`s, and `size` is the bytes of the keys
    and values of their `kv` and `prev_kv` (what the slow-consumer bound counts)."""

    header: ResponseHeader | None
    watch_id: int
    created: bool
    canceled: bool
    compact_revision: int
    cancel_reason: str
    fragment: bool
    events: list[_watch.Event]
    size: int


_EMPTY_KV = KeyValue(b"", b"", 0, 0, 0, 0)

# Watches of the same keys with the same options get the same events, in replies sent
# one after another (etcd notifies every watcher of a revision in turn): the events'
# bytes of the last reply decoded, their events and their size. A reply whose events
# are those bytes reuses the events (immutable) instead of decoding them again. Only
# replies whose events are their last fields (as etcd writes them) are remembered, and
# only up to _TAIL_MAX bytes. Comparing and remembering cost about 0.5 µs a reply, so
# it is done only for a reply of another watch than the reply before (never while a
# single watch's replies follow each other, which can hold no repeated events). One
# tuple, replaced whole: clients on event loops in other threads may decode meanwhile.
_last_watch_id = -1
_tail: tuple[bytes, list[_watch.Event], int] = (b"", [], 0)
_TAIL_MAX = 1 << 20


def decode_watch_response(data: bytes) -> WatchReply:
    global _last_watch_id, _tail
    new_event = _watch.new_event
    event_type = _watch.EventType
    types = (event_type.PUT, event_type.DELETE)
    h: ResponseHeader | None = None
    watch_id = compact = size = 0
    created = canceled = fragment = False
    reason = ""
    events: list[_watch.Event] = []
    append = events.append
    pos, end = 0, len(data)
    tail_start = -1  # where the events start while nothing else followed them
    while pos < end:
        tag = data[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = read_varint(data, pos)
        if tag == 0x5A:  # events = 11: mvccpb.Event {type = 1; kv = 2; prev_kv = 3}
            if not events and watch_id != _last_watch_id and data[pos - 1] == 0x5A:
                tail = _tail
                if end - pos + 1 == len(tail[0]) and data.endswith(tail[0]):
                    events = tail[1].copy()
                    size = tail[2]
                    break
                tail_start = pos - 1
            n = data[pos]
            if n < 0x80:
                pos += 1
            elif data[pos + 1] < 0x80:  # two bytes: lengths below 16 KiB
                n = (n & 0x7F) | data[pos + 1] << 7
                pos += 2
            else:
                n, pos = read_varint(data, pos)
            stop = pos + n
            kind = 0
            kv: KeyValue = _EMPTY_KV
            prev: KeyValue | None = None
            while pos < stop:
                tag = data[pos]
                if tag < 0x80:
                    pos += 1
                else:
                    tag, pos = read_varint(data, pos)
                if tag == 0x12 or tag == 0x1A:
                    n = data[pos]
                    if n < 0x80:
                        pos += 1
                    elif data[pos + 1] < 0x80:  # two bytes: lengths below 16 KiB
                        n = (n & 0x7F) | data[pos + 1] << 7
                        pos += 2
                    else:
                        n, pos = read_varint(data, pos)
                    if tag == 0x12:
                        kv = decode_key_value(data, pos, pos + n)
                    else:
                        prev = decode_key_value(data, pos, pos + n)
                    pos += n
                elif tag == 0x08:
                    kind, pos = read_varint(data, pos)
                else:
                    pos = skip_field(data, pos, tag & 7)
            size += len(kv.key) + len(kv.value)
            if prev is not None:
                size += len(prev.key) + len(prev.value)
            # An unknown event type raises ValueError, as the generated enum did.
            append(new_event(types[kind] if kind < 2 else event_type(signed64(kind)), kv, prev))
            continue
        tail_start = -1
        field, wt = tag >> 3, tag & 7
        if wt == 0 and 2 <= field <= 7 and field != 6:
            raw, pos = read_varint(data, pos)
            if field == 2:
                watch_id = signed64(raw)
            elif field == 3:
                created = raw != 0
            elif field == 4:
                canceled = raw != 0
            elif field == 5:
                compact = signed64(raw)
            else:
                fragment = raw != 0
        elif wt == 2 and (field == 1 or field == 6):
            start, pos = _len(data, pos)
            if field == 1:
                h = decode_header(data, start, pos)
            else:
                reason = data[start:pos].decode()
        else:
            pos = skip_field(data, pos, wt)
    _last_watch_id = watch_id
    if tail_start >= 0 and end - tail_start <= _TAIL_MAX:
        # The list handed out is a copy: whoever gets it may change it.
        _tail = (data[tail_start:], events.copy(), size)
    return WatchReply(h, watch_id, created, canceled, compact, reason, fragment, events, size)


# --------------------------------------------------------------------------- Lease


def decode_lease_keep_alive_response(data: bytes) -> _lease.LeaseKeepAliveResponse:
    h = _EMPTY_HEADER
    lease_id = ttl = 0
    pos, end = 0, len(data)
    while pos < end:
        tag, pos = read_varint(data, pos)
        field, wt = tag >> 3, tag & 7
        if wt == 0 and (field == 2 or field == 3):
            raw, pos = read_varint(data, pos)
            if field == 2:
                lease_id = signed64(raw)
            else:
                ttl = signed64(raw)
        elif wt == 2 and field == 1:
            start, pos = _len(data, pos)
            h = decode_header(data, start, pos)
        else:
            pos = skip_field(data, pos, wt)
    return _lease.LeaseKeepAliveResponse(h, lease_id, ttl)
