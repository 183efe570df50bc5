"""Argument checks shared by every call: keys, ranges, revisions."""

from __future__ import annotations

from typing import Any, Protocol

from ._exceptions import ArgumentTypeError, ArgumentValueError, EmptyKeyError

__all__ = [
    "ALL_KEYS",
    "Bytesish",
    "LeaseId",
    "check_bool",
    "check_int",
    "check_revision",
    "prefix_range_end",
    "resolve_range",
    "to_bytes",
]

Bytesish = str | bytes


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


LeaseId = int | _HasId
"""A lease id, or anything with an int `id` (a `Lease`, a `LeaseGrantResponse`, ...)."""
# etcd's "from this key to the end of the keyspace" range_end, and the key that
# together with it means "every key".
ALL_KEYS = b"\x00"


def to_bytes(name: str, value: Any) -> bytes:
    """`str` (UTF-8) or `bytes`-like → `bytes`; anything else is a `TypeError` naming
    the argument."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise ArgumentTypeError(f"{name}: expected str or bytes, got {type(value).__name__}")


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{name}: expected bool, got {type(value).__name__}")
    return value


def check_int(name: str, value: Any, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError(f"{name}: expected int, got {type(value).__name__}")
    if value < minimum:
        raise ArgumentValueError(f"{name}: must be >= {minimum}, got {value}")
    return value


def check_revision(name: str, value: Any) -> int:
    """`None` → 0 on the wire (etcd's "not set"); otherwise a positive int."""
    if value is None:
        return 0
    return check_int(name, value, minimum=1)


def prefix_range_end(prefix: bytes) -> bytes:
    """The range end covering every key that starts with `prefix` (Go's
    `GetPrefixRangeEnd`): strip trailing 0xff bytes and increment the last byte; a prefix
    of only 0xff bytes (or empty) covers the rest of the keyspace."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return ALL_KEYS


def resolve_range(
    key: Any,
    range_end: Any = None,
    *,
    prefix: bool = False,
    from_key: bool = False,
    allow_empty_key: bool = False,
) -> tuple[bytes, bytes]:
    """Validate a key and its range options and return `(key, range_end)` for the wire.

    An empty key is allowed with `prefix` or `from_key` (meaning every key), as in Go.
    """
    k = to_bytes("key", key)
    check_bool("prefix", prefix)
    check_bool("from_key", from_key)
    chosen = sum((range_end is not None, prefix, from_key))
    if chosen > 1:
        raise ArgumentValueError("range_end, prefix and from_key are mutually exclusive")
    if prefix:
        if not k:
            return ALL_KEYS, ALL_KEYS
        return k, prefix_range_end(k)
    if from_key:
        return (k or ALL_KEYS), ALL_KEYS
    if not k and not allow_empty_key:
        raise EmptyKeyError(
            "key: must not be empty (use prefix=True with an empty key for all keys)"
        )
    if range_end is None:
        return k, b""
    return k, to_bytes("range_end", range_end)
