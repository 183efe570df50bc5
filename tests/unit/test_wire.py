"""The fast encoder writes exactly what betterproto2 writes, for every etcd message."""

from __future__ import annotations

import inspect

import betterproto2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aetcd import _wire
from aetcd._proto import authpb, etcdserverpb, mvccpb, v3electionpb, v3lockpb

_MODULES = (etcdserverpb, mvccpb, authpb, v3lockpb, v3electionpb)
MESSAGES = sorted(
    (
        obj
        for mod in _MODULES
        for _, obj in inspect.getmembers(mod, inspect.isclass)
        if issubclass(obj, betterproto2.Message) and obj is not betterproto2.Message
    ),
    key=lambda c: (c.__module__, c.__name__),
)

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_UINT64 = st.integers(min_value=0, max_value=2**64 - 1)


def _strategy(cls: type, depth: int = 0) -> st.SearchStrategy[object]:
    meta = cls._betterproto  # type: ignore[attr-defined]
    fields: dict[str, st.SearchStrategy[object]] = {}
    for name in meta.sorted_field_names:
        fm = meta.meta_by_field_name[name]
        t = fm.proto_type
        if t == betterproto2.TYPE_MESSAGE:
            if depth >= 2:
                continue
            sub = meta.cls_by_field[name]
            base: st.SearchStrategy[object] = st.deferred(lambda sub=sub: _strategy(sub, depth + 1))
        elif t == betterproto2.TYPE_ENUM:
            enum_cls = meta.cls_by_field[name]
            base = st.sampled_from(list(enum_cls))
        elif t in (betterproto2.TYPE_INT64, betterproto2.TYPE_INT32):
            base = _INT64 if t == betterproto2.TYPE_INT64 else st.integers(-(2**31), 2**31 - 1)
        elif t in (betterproto2.TYPE_UINT64, betterproto2.TYPE_UINT32):
            base = _UINT64 if t == betterproto2.TYPE_UINT64 else st.integers(0, 2**32 - 1)
        elif t == betterproto2.TYPE_BOOL:
            base = st.booleans()
        elif t == betterproto2.TYPE_BYTES:
            base = st.binary(max_size=40)
        elif t == betterproto2.TYPE_STRING:
            base = st.text(max_size=20)
        else:  # pragma: no cover - etcd's API has no other types
            raise AssertionError(t)
        if fm.repeated:
            fields[name] = st.lists(base, max_size=3)
        elif fm.optional or fm.group is not None:
            fields[name] = st.none() | base
        else:
            fields[name] = base
    # At most one member of each oneof may be set.
    groups: dict[str, list[str]] = {}
    for name in list(fields):
        group = meta.meta_by_field_name[name].group
        if group is not None:
            groups.setdefault(group, []).append(name)

    @st.composite
    def build(draw: st.DrawFn) -> object:
        values = {name: draw(s) for name, s in fields.items()}
        for members in groups.values():
            keep = draw(st.sampled_from([None, *members]))
            for name in members:
                if name != keep:
                    values[name] = None
        return cls(**values)

    return build()


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_encode_matches_betterproto2(cls: type, data: st.DataObject) -> None:
    msg = data.draw(_strategy(cls))
    assert _wire.encode(msg) == bytes(msg)


@given(_UINT64)
def test_varint_round_trip(value: int) -> None:
    raw = _wire.encode_varint(value)
    assert _wire.read_varint(raw, 0) == (value, len(raw))


@given(_INT64)
def test_negative_int64_uses_ten_bytes_and_reads_back(value: int) -> None:
    raw = _wire.encode_varint(value)
    decoded, end = _wire.read_varint(raw, 0)
    assert _wire.signed64(decoded) == value
    if value < 0:
        assert end == 10
