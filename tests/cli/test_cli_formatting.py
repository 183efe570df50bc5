"""The pure parts of aetcdctl: etcdctl's text formats and input syntax."""

from __future__ import annotations

import pytest

import aetcd
from aetcd._cli._errors import CommandError, UsageError
from aetcd._cli._output import go_duration, go_quote, humanize_bytes, render_table
from aetcd._cli._parser import normalize_bool_flags, parse_duration
from aetcd._cli._txn import argify, parse_compare, scan_quoted


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (850e-9, "850ns"),
        (0.0000125, "12.5µs"),
        (0.004018994, "4.018994ms"),
        (0.005, "5ms"),
        (1.5, "1.5s"),
        (123.5, "2m3.5s"),
        (3600, "1h0m0s"),
    ],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (9, "9 B"),
        (20480, "20 kB"),
        (1_000, "1.0 kB"),
        (25_165_824, "25 MB"),
        (2_500_000_000, "2.5 GB"),
    ],
)
def test_humanize_bytes(size: int, text: str) -> None:
    assert humanize_bytes(size) == text


def test_table_like_etcdctl() -> None:
    # As printed by etcdctl 3.5.1 `member list -w table` (lines split to fit).
    rule = (
        "+------------------+---------+-------+------------------------+"
        + "-" * 24
        + "+"
        + "-" * 12
        + "+"
    )
    expected = [
        rule,
        "|        ID        | STATUS  | NAME  |       PEER ADDRS       |"
        "      CLIENT ADDRS      | IS LEARNER |",
        rule,
        "| 3e0996a831441e51 | started | etcd1 | http://127.0.0.1:41473 |"
        " http://127.0.0.1:49407 |      false |",
        rule,
    ]
    header = ["ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"]
    row = ["3e0996a831441e51", "started", "etcd1"]
    row += ["http://127.0.0.1:41473", "http://127.0.0.1:49407", "false"]
    assert render_table(header, [row]) == "\n".join(expected) + "\n"


def test_go_quoting_round_trip() -> None:
    assert go_quote(b'a "b"\n\xff\x01') == '"a \\"b\\"\\n\\xff\\x01"'
    assert scan_quoted('"a \\"b\\"\\n\\xff\\x01\\u00e9" rest', 0) == (
        b'a "b"\n\xff\x01\xc3\xa9',
        25,
    )
    assert scan_quoted("  `raw \\n`", 0) == (b"raw \\n", 10)
    with pytest.raises(ValueError, match="unterminated"):
        scan_quoted('"open', 0)


def test_argify() -> None:
    assert argify("put \"x y\" 'single quoted' plain --flag=1") == [
        "put",
        "x y",
        "single quoted",
        "plain",
        "--flag=1",
    ]


def test_parse_compare() -> None:
    cmp = parse_compare('value("k") = "v"')
    assert cmp == (aetcd.Compare.value("k") == "v")
    assert parse_compare('mod("k")>"3"') == (aetcd.Compare.mod_revision("k") > 3)
    assert parse_compare('c("k") != "0"') == (aetcd.Compare.create_revision("k") != 0)
    assert parse_compare('lease("k") = "ff"') == (aetcd.Compare.lease("k") == 255)
    for bad in ('value("k") ~ "v"', 'value("k" = "v"', "value(k) = v", 'version("k") < "-1"'):
        with pytest.raises(CommandError) as info:
            parse_compare(bad)
        assert info.value.code == 3


def test_bool_flags_and_durations() -> None:
    flags = {"prefix", "hex"}
    assert normalize_bool_flags(["get", "--prefix=true", "--hex=0", "--rev=1"], flags) == [
        "get",
        "--prefix",
        "--no-hex",
        "--rev=1",
    ]
    assert normalize_bool_flags(["put", "--", "--prefix=false"], flags) == [
        "put",
        "--",
        "--prefix=false",
    ]
    with pytest.raises(UsageError):
        normalize_bool_flags(["--prefix=perhaps"], flags)
    assert parse_duration("1m30s", "--x") == 90
    assert parse_duration("250ms", "--x") == 0.25
    assert parse_duration("3", "--x") == 3
    with pytest.raises(UsageError):
        parse_duration("3 parsecs", "--x")
