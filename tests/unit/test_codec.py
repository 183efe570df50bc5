"""The hot-path decoders agree with betterproto2's parser on every KV/Txn/Watch/
LeaseKeepAlive reply."""

from __future__ import annotations

import sys
import threading
from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aetcd import _codec
from aetcd._lease import LeaseKeepAliveResponse
from aetcd._models import (
    DeleteResponse,
    GetResponse,
    KeyValue,
    PutResponse,
    ResponseHeader,
    TxnResponse,
    header,
    key_value,
    new_key_value,
)
from aetcd._proto import etcdserverpb as pb
from aetcd._proto import mvccpb
from aetcd._watch import Event, EventType, new_event
from aetcd._wire import encode_varint, read_varint

i64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
u64 = st.integers(min_value=0, max_value=2**64 - 1)
headers = st.builds(pb.ResponseHeader, cluster_id=u64, member_id=u64, revision=i64, raft_term=u64)
kvs = st.builds(
    mvccpb.KeyValue,
    key=st.binary(max_size=20),
    create_revision=i64,
    mod_revision=i64,
    version=i64,
    value=st.binary(max_size=300),
    lease=i64,
)
ranges = st.builds(
    pb.RangeResponse,
    header=st.none() | headers,
    kvs=st.lists(kvs, max_size=4),
    more=st.booleans(),
    count=i64,
)
puts = st.builds(pb.PutResponse, header=st.none() | headers, prev_kv=st.none() | kvs)
deletes = st.builds(
    pb.DeleteRangeResponse,
    header=st.none() | headers,
    deleted=i64,
    prev_kvs=st.lists(kvs, max_size=3),
)


def _op(resp: object) -> pb.ResponseOp:
    if isinstance(resp, pb.RangeResponse):
        return pb.ResponseOp(response_range=resp)
    if isinstance(resp, pb.PutResponse):
        return pb.ResponseOp(response_put=resp)
    if isinstance(resp, pb.DeleteRangeResponse):
        return pb.ResponseOp(response_delete_range=resp)
    assert isinstance(resp, pb.TxnResponse)
    return pb.ResponseOp(response_txn=resp)


txns = st.recursive(
    st.builds(pb.TxnResponse, header=st.none() | headers, succeeded=st.booleans()),
    lambda inner: st.builds(
        pb.TxnResponse,
        header=st.none() | headers,
        succeeded=st.booleans(),
        responses=st.lists((ranges | puts | deletes | inner).map(_op), max_size=3),
    ),
    max_leaves=6,
)


# The reference conversion: betterproto2's parser, then field-by-field conversion.
def _ref(msg: object, outer: ResponseHeader | None = None) -> object:
    # A nested response's own header wins; a missing one falls back to the outer one.
    if isinstance(msg, pb.RangeResponse):
        h = header(msg.header) if msg.header is not None else (outer or header(None))
        return GetResponse(h, tuple(map(key_value, msg.kvs)), msg.count, msg.more)
    if isinstance(msg, pb.PutResponse):
        h = header(msg.header) if msg.header is not None else (outer or header(None))
        return PutResponse(h, None if msg.prev_kv is None else key_value(msg.prev_kv))
    if isinstance(msg, pb.DeleteRangeResponse):
        h = header(msg.header) if msg.header is not None else (outer or header(None))
        return DeleteResponse(h, msg.deleted, tuple(map(key_value, msg.prev_kvs)))
    assert isinstance(msg, pb.TxnResponse)
    h = header(msg.header) if msg.header is not None else (outer or header(None))
    subs = []
    for op in msg.responses:
        members = (op.response_range, op.response_put, op.response_delete_range, op.response_txn)
        (inner,) = [m for m in members if m is not None]
        subs.append(_ref(inner, h))
    return TxnResponse(h, msg.succeeded, tuple(subs))


CASES = [
    (ranges, pb.RangeResponse, _codec.decode_range_response),
    (puts, pb.PutResponse, _codec.decode_put_response),
    (deletes, pb.DeleteRangeResponse, _codec.decode_delete_response),
    (txns, pb.TxnResponse, _codec.decode_txn_response),
]


@pytest.mark.parametrize(
    ("strategy", "cls", "decode"), CASES, ids=["range", "put", "delete", "txn"]
)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_decoder_matches_betterproto2(strategy, cls, decode, data) -> None:  # type: ignore[no-untyped-def]
    wire = bytes(data.draw(strategy))
    assert decode(wire) == _ref(cls.parse(wire))


def test_unknown_fields_are_skipped() -> None:
    # A newer etcd may add fields: varint, fixed64, length-delimited and fixed32 ones
    # with unknown numbers must not disturb decoding.
    base = bytes(pb.RangeResponse(count=3, more=True))
    extra = bytes([10 << 3 | 0, 0x96, 0x01]) + bytes([11 << 3 | 1]) + b"\x00" * 8
    extra += bytes([12 << 3 | 2, 2]) + b"hi" + bytes([13 << 3 | 5]) + b"\x00" * 4
    resp = _codec.decode_range_response(extra + base)
    assert (resp.count, resp.more, resp.kvs) == (3, True, ())


# --------------------------------------------------------------------------- Watch, Lease

events = st.builds(
    mvccpb.Event,
    type=st.sampled_from(list(mvccpb.EventEventType)),
    kv=st.none() | kvs,
    prev_kv=st.none() | kvs,
)
watch_responses = st.builds(
    pb.WatchResponse,
    header=st.none() | headers,
    watch_id=i64,
    created=st.booleans(),
    canceled=st.booleans(),
    compact_revision=i64,
    cancel_reason=st.text(max_size=30),
    fragment=st.booleans(),
    events=st.lists(events, max_size=4),
)
keep_alives = st.builds(pb.LeaseKeepAliveResponse, header=st.none() | headers, id=i64, ttl=i64)


def _kv_bytes(kv: KeyValue | None) -> int:
    return 0 if kv is None else len(kv.key) + len(kv.value)


def _watch_ref(msg: pb.WatchResponse) -> _codec.WatchReply:
    # What the watch multiplexer built from the generated message before the decoder.
    evs = [
        Event(
            EventType(int(e.type)),
            key_value(e.kv if e.kv is not None else mvccpb.KeyValue()),
            None if e.prev_kv is None else key_value(e.prev_kv),
        )
        for e in msg.events
    ]
    return _codec.WatchReply(
        header=None if msg.header is None else header(msg.header),
        watch_id=msg.watch_id,
        created=msg.created,
        canceled=msg.canceled,
        compact_revision=msg.compact_revision,
        cancel_reason=msg.cancel_reason,
        fragment=msg.fragment,
        events=evs,
        size=sum(_kv_bytes(e.kv) + _kv_bytes(e.prev_kv) for e in evs),
    )


@settings(max_examples=150, deadline=None)
@given(watch_responses)
def test_watch_decoder_matches_betterproto2(msg: pb.WatchResponse) -> None:
    wire = bytes(msg)
    assert _codec.decode_watch_response(wire) == _watch_ref(pb.WatchResponse.parse(wire))


@settings(max_examples=100, deadline=None)
@given(keep_alives)
def test_keep_alive_decoder_matches_betterproto2(msg: pb.LeaseKeepAliveResponse) -> None:
    wire = bytes(msg)
    ref = pb.LeaseKeepAliveResponse.parse(wire)
    assert _codec.decode_lease_keep_alive_response(wire) == LeaseKeepAliveResponse(
        header(ref.header), ref.id, ref.ttl
    )


# Unknown fields at every level of a message: the numbers of each message's
# length-delimited fields that are messages themselves (all others are left as they are).
_NESTED: dict[str, dict[int, str]] = {
    "WatchResponse": {1: "ResponseHeader", 11: "Event"},
    "Event": {2: "KeyValue", 3: "KeyValue"},
    "LeaseKeepAliveResponse": {1: "ResponseHeader"},
    "ResponseHeader": {},
    "KeyValue": {},
}


def _tag(field: int, wire_type: int) -> bytes:
    return encode_varint(field << 3 | wire_type)


unknown_fields = st.lists(
    st.one_of(
        st.builds(lambda f, v: _tag(f, 0) + encode_varint(v), st.integers(12, 2000), u64),
        st.builds(
            lambda f, b: _tag(f, 1) + b, st.integers(12, 2000), st.binary(min_size=8, max_size=8)
        ),
        st.builds(
            lambda f, b: _tag(f, 2) + encode_varint(len(b)) + b,
            st.integers(12, 2000),
            st.binary(max_size=20),
        ),
        st.builds(
            lambda f, b: _tag(f, 5) + b, st.integers(12, 2000), st.binary(min_size=4, max_size=4)
        ),
    ),
    max_size=3,
).map(b"".join)


def _with_unknown(data: bytes, message: str, extra: st.DataObject) -> bytes:
    """`data` (a `message`) with unknown fields before, between and after its fields,
    recursively in its nested messages."""
    out = [extra.draw(unknown_fields)]
    pos = 0
    while pos < len(data):
        tag, start = read_varint(data, pos)
        field, wire_type = tag >> 3, tag & 7
        end = _codec.skip_field(data, start, wire_type)
        nested = _NESTED[message].get(field) if wire_type == 2 else None
        if nested is None:
            out.append(data[pos:end])
        else:
            length, body = read_varint(data, start)
            inner = _with_unknown(data[body : body + length], nested, extra)
            out.append(data[pos:start] + encode_varint(len(inner)) + inner)
        out.append(extra.draw(unknown_fields))
        pos = end
    return b"".join(out)


@settings(max_examples=100, deadline=None)
@given(msg=watch_responses, extra=st.data())
def test_watch_decoder_skips_unknown_fields(msg: pb.WatchResponse, extra: st.DataObject) -> None:
    wire = _with_unknown(bytes(msg), "WatchResponse", extra)
    assert _codec.decode_watch_response(wire) == _watch_ref(msg)


@settings(max_examples=50, deadline=None)
@given(msg=keep_alives, extra=st.data())
def test_keep_alive_decoder_skips_unknown_fields(
    msg: pb.LeaseKeepAliveResponse, extra: st.DataObject
) -> None:
    wire = _with_unknown(bytes(msg), "LeaseKeepAliveResponse", extra)
    got = _codec.decode_lease_keep_alive_response(wire)
    assert got == LeaseKeepAliveResponse(header(msg.header), msg.id, msg.ttl)


def test_unknown_event_type_is_an_error_as_before() -> None:
    # Event.type = 7 (after the event's other fields): the generated enum parsed it, and
    # then `EventType(7)` failed; the decoder fails the same way.
    body = bytes(mvccpb.Event(kv=mvccpb.KeyValue(key=b"k", mod_revision=3))) + bytes([1 << 3, 7])
    wire = bytes([2 << 3, 1, 11 << 3 | 2, len(body)]) + body
    with pytest.raises(ValueError, match="7 is not a valid EventType"):
        _codec.decode_watch_response(wire)


def test_non_canonical_tags_are_read_as_their_field() -> None:
    # A tag may legally be written in more bytes than it needs (0x8A 0x00 is field 1,
    # length-delimited): it must not be taken for an unknown field.
    kv = bytes([0x8A, 0x00, 1]) + b"k" + bytes([0x98, 0x00, 5])  # key = b"k", mod_revision = 5
    assert _codec.decode_key_value(kv, 0, len(kv)) == KeyValue(b"k", b"", 0, 5, 0, 0)


def test_header_ids_are_not_taken_from_another_member() -> None:
    # The decoder remembers the leading ids of the last header; a header of another
    # member or cluster, or one without ids, must be read in full.
    def wire(**fields: int) -> bytes:
        return bytes(pb.ResponseHeader(**fields))

    a = wire(cluster_id=2**63 + 1, member_id=2**64 - 1, revision=5, raft_term=2)
    b = wire(cluster_id=2**63 + 1, member_id=2**64 - 2, revision=6, raft_term=2)
    c = wire(member_id=2**64 - 1, revision=7)
    d = wire(cluster_id=2**63 + 1, revision=8)
    for data, want in [
        (a, ResponseHeader(2**63 + 1, 2**64 - 1, 5, 2)),
        (a, ResponseHeader(2**63 + 1, 2**64 - 1, 5, 2)),
        (b, ResponseHeader(2**63 + 1, 2**64 - 2, 6, 2)),
        (a + b"", ResponseHeader(2**63 + 1, 2**64 - 1, 5, 2)),
        (c, ResponseHeader(0, 2**64 - 1, 7, 0)),
        (d, ResponseHeader(2**63 + 1, 0, 8, 0)),
        (a[:22], ResponseHeader(2**63 + 1, 2**64 - 1, 0, 0)),  # only the two ids
    ]:
        assert _codec.decode_header(data, 0, len(data)) == want
    # Within a larger buffer, only the header's own bytes count.
    assert _codec.decode_header(a + b, 0, 22) == ResponseHeader(2**63 + 1, 2**64 - 1, 0, 0)
    assert _codec.decode_header(b + a, len(b), len(b) + len(a)) == ResponseHeader(
        2**63 + 1, 2**64 - 1, 5, 2
    )


@pytest.mark.parametrize("size", [127, 128, 16_383, 16_384, 2_097_152])
def test_lengths_of_every_varint_width(size: int) -> None:
    # Lengths of one, two and three or more bytes take different paths in the decoders
    # (lengths of two bytes are read inline); the property tests above stay below 16 KiB.
    kv = mvccpb.KeyValue(
        key=b"k" * (size % 200),
        value=b"v" * size,
        create_revision=2**21,
        mod_revision=2**35 + 3,
        version=-(2**40),
        lease=2**63 - 1,
    )
    events = [mvccpb.Event(kv=kv), mvccpb.Event(type=1, kv=kv, prev_kv=kv)]
    watch = bytes(pb.WatchResponse(watch_id=2, events=events))
    assert _codec.decode_watch_response(watch) == _watch_ref(pb.WatchResponse.parse(watch))
    rng = bytes(pb.RangeResponse(kvs=[kv, kv], count=2))
    assert _codec.decode_range_response(rng) == _ref(pb.RangeResponse.parse(rng))


def test_results_built_through_their_slots_are_the_frozen_types() -> None:
    # The decoders build KeyValue and Event without their __init__: what they build
    # must be indistinguishable from a constructed one, frozen included.
    kv = new_key_value(b"k", b"v", 1, 2, 3, 4)
    assert type(kv) is KeyValue
    assert kv == KeyValue(b"k", b"v", 1, 2, 3, 4)
    assert hash(kv) == hash(KeyValue(b"k", b"v", 1, 2, 3, 4))
    assert repr(kv) == repr(KeyValue(b"k", b"v", 1, 2, 3, 4))
    event = new_event(EventType.DELETE, kv, None)
    assert type(event) is Event
    assert event == Event(EventType.DELETE, kv)
    assert hash(event) == hash(Event(EventType.DELETE, kv))
    with pytest.raises(FrozenInstanceError):
        kv.value = b"w"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        event.prev_kv = kv  # type: ignore[misc]


def _fanned_out(watch_ids: list[int], evs: list[mvccpb.Event]) -> list[bytes]:
    return [bytes(pb.WatchResponse(watch_id=w, events=evs)) for w in watch_ids]


def test_watches_of_the_same_keys_share_decoded_events() -> None:
    # etcd sends the same events to every watch of the same keys, one reply after the
    # other: the decoder reuses the (immutable) events of the reply before.
    kv = mvccpb.KeyValue(key=b"k", value=b"v" * 300, mod_revision=7, version=2)
    evs = [mvccpb.Event(kv=kv), mvccpb.Event(type=1, kv=kv)]
    first, second, third = map(_codec.decode_watch_response, _fanned_out([1, 2, 3], evs))
    for wire, got in zip(_fanned_out([1, 2, 3], evs), (first, second, third), strict=True):
        assert got == _watch_ref(pb.WatchResponse.parse(wire))
    assert all(a is b for a, b in zip(first.events, second.events, strict=True))
    assert all(a is b for a, b in zip(first.events, third.events, strict=True))
    # Each reply has its own list: changing one changes no later reply.
    assert first.events is not second.events
    second.events.clear()
    fourth = _codec.decode_watch_response(_fanned_out([4], evs)[0])
    assert fourth.events == first.events


def test_shared_events_never_hide_the_fields_after_them() -> None:
    # Events are remembered only when nothing follows them in the reply; a reply with
    # the same events and then another field still has that field read.
    kv = mvccpb.KeyValue(key=b"k", value=b"v", mod_revision=7, version=1)
    plain, later = _fanned_out([1, 2], [mvccpb.Event(kv=kv)])
    fragment = bytes([7 << 3, 1])  # fragment = true, after the events
    reason = bytes([6 << 3 | 2, 2]) + b"no"  # cancel_reason = "no", after the events
    replies = [plain, later + fragment, plain, later + reason, later + reason]
    for wire in replies:
        assert _codec.decode_watch_response(wire) == _watch_ref(pb.WatchResponse.parse(wire))


@settings(max_examples=100, deadline=None)
@given(
    evs=st.lists(events, min_size=1, max_size=3),
    replies=st.lists(st.tuples(st.integers(0, 3), st.booleans(), st.booleans()), max_size=8),
)
def test_fanned_out_replies_decode_as_betterproto2_does(
    evs: list[mvccpb.Event], replies: list[tuple[int, bool, bool]]
) -> None:
    # Any sequence of replies of a few watches, with the same or with no events, and
    # other fields before or after them, decodes as betterproto2 parses each reply.
    for watch_id, with_events, fragment in replies:
        wire = bytes(pb.WatchResponse(watch_id=watch_id, events=evs if with_events else []))
        if fragment:
            wire += bytes([7 << 3, 1])
        assert _codec.decode_watch_response(wire) == _watch_ref(pb.WatchResponse.parse(wire))


def test_shared_events_stay_right_with_clients_in_other_threads() -> None:
    # Clients on event loops in different threads decode at the same time. The events
    # remembered for sharing must be replaced whole: a thread that saw one reply's bytes
    # with another reply's events would hand out the wrong events. Switching threads
    # every microsecond makes such an interleaving certain to come up if it can.
    kv1 = mvccpb.KeyValue(key=b"a", value=b"1", mod_revision=5, version=1)
    kv2 = mvccpb.KeyValue(key=b"b", value=b"2", mod_revision=6, version=1)
    wires = [
        bytes(pb.WatchResponse(watch_id=i, events=[mvccpb.Event(kv=kv1 if i % 3 else kv2)]))
        for i in range(12)
    ]
    want = [_watch_ref(pb.WatchResponse.parse(w)).events for w in wires]
    wrong: list[int] = []

    def decode_all() -> None:
        for _ in range(3000):
            for wire, events in zip(wires, want, strict=True):
                if _codec.decode_watch_response(wire).events != events:
                    wrong.append(1)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=decode_all) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not wrong, f"{len(wrong)} replies decoded with another reply's events"
