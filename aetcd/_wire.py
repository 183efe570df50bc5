"""Protobuf wire format, fast: a compiled encoder for the generated messages and the
primitives the hot-path decoders in `_codec.py` are built from.

betterproto2's own `bytes(msg)` and `Msg.parse()` walk generic metadata per field (and
enter a `warnings.catch_warnings()` block per default value); on a 2-core machine that
was about 60 µs to encode a RangeRequest and 125 µs to parse a one-key RangeResponse,
more than the rest of a call. Here the per-class metadata is turned once into a plan of
pre-encoded tags and kinds, so encoding is one tight loop. The output is the canonical
proto3 encoding, byte-identical to betterproto2's (checked in tests/unit/test_wire.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import betterproto2

__all__ = ["encode", "encode_varint", "read_varint", "signed64"]

_VARINT, _LEN = 0, 2

# Plan entry kinds.
_K_INT, _K_UINT, _K_BOOL, _K_BYTES, _K_STRING, _K_MESSAGE, _K_ENUM = range(7)

_KIND_BY_TYPE = {
    betterproto2.TYPE_INT64: _K_INT,
    betterproto2.TYPE_INT32: _K_INT,
    betterproto2.TYPE_UINT64: _K_UINT,
    betterproto2.TYPE_UINT32: _K_UINT,
    betterproto2.TYPE_BOOL: _K_BOOL,
    betterproto2.TYPE_BYTES: _K_BYTES,
    betterproto2.TYPE_STRING: _K_STRING,
    betterproto2.TYPE_MESSAGE: _K_MESSAGE,
    betterproto2.TYPE_ENUM: _K_ENUM,
}

_MASK64 = (1 << 64) - 1


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128; negative ints are taken as their 64-bit two's complement."""
    if 0 <= value < 0x80:
        return _SMALL[value]
    value &= _MASK64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode a varint at `pos`; returns `(value, next position)`."""
    b = data[pos]
    if b < 0x80:
        return b, pos + 1
    result = b & 0x7F
    shift = 7
    pos += 1
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def signed64(value: int) -> int:
    """Reinterpret a decoded varint as int64."""
    return value - (1 << 64) if value >= 1 << 63 else value


_Plan = tuple[tuple[str, bytes, int, bool, bool], ...]
_PLANS: dict[type, _Plan] = {}


def _plan_for(cls: type) -> _Plan:
    meta = cls._betterproto  # type: ignore[attr-defined]
    entries = []
    for name in meta.sorted_field_names:
        fm = meta.meta_by_field_name[name]
        kind = _KIND_BY_TYPE.get(fm.proto_type)
        if kind is None or fm.map_meta is not None or fm.unwrap is not None:
            raise TypeError(f"{cls.__name__}.{name}: proto type {fm.proto_type} not supported")
        scalar_varint = kind in (_K_INT, _K_UINT, _K_BOOL, _K_ENUM)
        # proto3 packs repeated scalars into one length-delimited field.
        wire = _LEN if not scalar_varint or fm.repeated else _VARINT
        tag = encode_varint(fm.number << 3 | wire)
        explicit = bool(fm.optional) or fm.group is not None
        entries.append((name, tag, kind, bool(fm.repeated), explicit))
    plan = tuple(entries)
    _PLANS[cls] = plan
    return plan


def _scalar(kind: int, value: Any) -> bytes:
    if kind == _K_BYTES:
        return encode_varint(len(value)) + bytes(value)
    if kind == _K_STRING:
        raw = str(value).encode()
        return encode_varint(len(raw)) + raw
    if kind == _K_MESSAGE:
        raw = encode(value)
        return encode_varint(len(raw)) + raw
    return encode_varint(int(value))


def encode(msg: Any) -> bytes:
    """Serialise a generated betterproto2 message (canonical proto3 encoding)."""
    plan = _PLANS.get(type(msg)) or _plan_for(type(msg))
    out: list[bytes] = []
    append = out.append
    for name, tag, kind, repeated, explicit in plan:
        value = getattr(msg, name)
        if repeated:
            if not value:
                continue
            if kind in (_K_INT, _K_UINT, _K_BOOL, _K_ENUM):
                packed = b"".join(encode_varint(int(v)) for v in value)
                append(tag)
                append(encode_varint(len(packed)))
                append(packed)
            else:
                for item in value:
                    append(tag)
                    append(_scalar(kind, item))
            continue
        if explicit:
            if value is None:
                continue
        elif not value:
            continue  # proto3 default: not on the wire
        append(tag)
        if kind == _K_BYTES:
            append(encode_varint(len(value)))
            append(value)
        else:
            append(_scalar(kind, value))
    return b"".join(out)


Encoder = Callable[[Any], bytes]
