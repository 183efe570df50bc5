"""The hot-path decoders agree with betterproto2's parser on every KV/Txn reply."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aetcd import _codec
from aetcd._models import (
    DeleteResponse,
    GetResponse,
    PutResponse,
    ResponseHeader,
    TxnResponse,
    header,
    key_value,
)
from aetcd._proto import etcdserverpb as pb
from aetcd._proto import mvccpb

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
