"""Argument checks shared by every call (`aetcd._keys`)."""

from __future__ import annotations

import random

import pytest

import aetcd
from aetcd._keys import (
    ALL_KEYS,
    check_bool,
    check_int,
    check_revision,
    prefix_range_end,
    resolve_range,
    to_bytes,
)


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        (b"a", b"b"),
        (b"ab", b"ac"),
        (b"/app/", b"/app0"),
        (b"\x00", b"\x01"),
        (b"a\xfe", b"a\xff"),
        # Trailing 0xff bytes are dropped and the byte before them incremented.
        (b"a\xff", b"b"),
        (b"a\xff\xff", b"b"),
        (b"\x01\xff\x05", b"\x01\xff\x06"),
        (b"ab\xff", b"ac"),
        # Nothing left to increment: every key from the prefix on.
        (b"\xff", ALL_KEYS),
        (b"\xff\xff\xff", ALL_KEYS),
        (b"", ALL_KEYS),
    ],
)
def test_prefix_range_end(prefix: bytes, end: bytes) -> None:
    assert prefix_range_end(prefix) == end


def test_all_keys_is_etcds_open_end() -> None:
    assert ALL_KEYS == b"\x00"


def test_prefix_range_end_covers_exactly_the_prefix() -> None:
    # Every key with the prefix sorts before the end; no key >= the end has the prefix.
    rng = random.Random(7)
    alphabet = [0x00, 0x01, 0x61, 0xFE, 0xFF]
    for _ in range(500):
        prefix = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
        end = prefix_range_end(prefix)
        if end == ALL_KEYS:
            assert set(prefix) == {0xFF}
            continue
        assert not end.startswith(prefix)
        for _ in range(10):
            suffix = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 4)))
            assert prefix <= prefix + suffix < end
            other = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
            if other >= end:
                assert not other.startswith(prefix)


def test_prefix_range_end_does_not_modify_its_argument() -> None:
    data = bytearray(b"a\xff")
    assert prefix_range_end(bytes(data)) == b"b"
    assert data == bytearray(b"a\xff")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("key", b"key"),
        ("é", "é".encode()),
        ("", b""),
        (b"\xff\x00", b"\xff\x00"),
        (bytearray(b"ba"), b"ba"),
        (memoryview(b"mv"), b"mv"),
    ],
)
def test_to_bytes(value: object, expected: bytes) -> None:
    result = to_bytes("key", value)
    assert result == expected
    assert type(result) is bytes


@pytest.mark.parametrize("value", [1, 1.5, None, ["k"], object()])
def test_to_bytes_refuses_other_types(value: object) -> None:
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^range_end: expected str or bytes"):
        to_bytes("range_end", value)


def test_check_bool() -> None:
    assert check_bool("prefix", True) is True
    assert check_bool("prefix", False) is False
    for value in (1, 0, None, "true"):
        with pytest.raises(aetcd.ArgumentTypeError, match=r"^prefix: expected bool"):
            check_bool("prefix", value)


def test_check_int() -> None:
    assert check_int("limit", 0) == 0
    assert check_int("limit", 5, minimum=5) == 5
    assert check_int("limit", 2**63 - 1) == 2**63 - 1
    with pytest.raises(aetcd.ArgumentValueError, match=r"^limit: must be >= 1, got 0"):
        check_int("limit", 0, minimum=1)
    with pytest.raises(aetcd.ArgumentValueError, match=r"^limit: must be >= 0"):
        check_int("limit", -1)
    # bool is an int subclass, but True is no count.
    for value in (True, 1.0, "1", None):
        with pytest.raises(aetcd.ArgumentTypeError, match=r"^limit: expected int"):
            check_int("limit", value)


def test_check_revision() -> None:
    assert check_revision("revision", None) == 0  # "not set" on the wire
    assert check_revision("revision", 1) == 1
    # 0 is never a magic value in the public API.
    with pytest.raises(aetcd.ArgumentValueError, match=r"^revision: must be >= 1"):
        check_revision("revision", 0)
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^min_mod_revision: expected int"):
        check_revision("min_mod_revision", "3")


def test_resolve_range_single_key() -> None:
    assert resolve_range("k") == (b"k", b"")
    assert resolve_range(b"k") == (b"k", b"")


def test_resolve_range_range_end() -> None:
    assert resolve_range("a", "c") == (b"a", b"c")
    assert resolve_range("a", b"c") == (b"a", b"c")
    # An explicit range end is passed through as given, even "\0" (from the key on).
    assert resolve_range("a", b"\x00") == (b"a", b"\x00")
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^range_end"):
        resolve_range("a", 3)


def test_resolve_range_prefix() -> None:
    assert resolve_range("a/", prefix=True) == (b"a/", b"a0")
    assert resolve_range(b"a\xff", prefix=True) == (b"a\xff", b"b")
    assert resolve_range(b"\xff", prefix=True) == (b"\xff", ALL_KEYS)
    # An empty prefix means every key, as in Go (key "\0", range end "\0").
    assert resolve_range("", prefix=True) == (ALL_KEYS, ALL_KEYS)


def test_resolve_range_from_key() -> None:
    assert resolve_range("m", from_key=True) == (b"m", ALL_KEYS)
    assert resolve_range("", from_key=True) == (ALL_KEYS, ALL_KEYS)


def test_resolve_range_empty_key() -> None:
    with pytest.raises(aetcd.EmptyKeyError, match=r"^key: must not be empty"):
        resolve_range("")
    with pytest.raises(aetcd.EmptyKeyError):
        resolve_range(b"", "z")
    assert resolve_range("", allow_empty_key=True) == (b"", b"")


@pytest.mark.parametrize(
    "options",
    [
        {"range_end": "z", "prefix": True},
        {"range_end": "z", "from_key": True},
        {"prefix": True, "from_key": True},
        {"range_end": "z", "prefix": True, "from_key": True},
    ],
)
def test_resolve_range_options_are_mutually_exclusive(options: dict[str, object]) -> None:
    with pytest.raises(aetcd.ArgumentValueError) as info:
        resolve_range("k", **options)  # type: ignore[arg-type]
    for name in ("range_end", "prefix", "from_key"):
        assert name in str(info.value)


def test_resolve_range_checks_types() -> None:
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^key"):
        resolve_range(5)
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^prefix"):
        resolve_range("k", prefix=1)  # type: ignore[arg-type]
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^from_key"):
        resolve_range("k", from_key="yes")  # type: ignore[arg-type]
