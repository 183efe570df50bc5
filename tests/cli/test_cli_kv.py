"""get / put / del / compaction: aetcdctl's output against etcdctl's, byte for byte
where nothing differs between the two runs (reads), field by field otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from cli_helpers import Result, Runner

import aetcd


def _header_without_revision(data: dict[str, Any]) -> dict[str, Any]:
    header = dict(data["header"])
    header.pop("revision")
    return header


def _assert_same_write(ours: Result, theirs: Result) -> None:
    """Two writes one after the other: same shape; same header but for the revision."""
    assert ours.code == theirs.code == 0, (ours, theirs)
    a, b = ours.json, theirs.json
    assert a.keys() == b.keys()
    assert _header_without_revision(a) == _header_without_revision(b)
    assert b["header"]["revision"] == a["header"]["revision"] + 1


@pytest.fixture
def keys(prefix: str, etcdctl_cli: Runner) -> str:
    """A few keys under `prefix`, written in a known order (and with a second version)."""
    for key, value in [("a", "1"), ("b", "22"), ("c", "333"), ("d", "4"), ("b", "2")]:
        assert etcdctl_cli("put", prefix + key, value).code == 0
    return prefix


GET_FLAGS = [
    [],
    ["--prefix"],
    ["--prefix", "--limit", "2"],
    ["--prefix", "--keys-only"],
    ["--prefix", "--sort-by=MODIFY", "--order=DESCEND"],
    ["--prefix", "--sort-by=value"],
    ["--prefix", "--order", "DESCEND"],
    ["--prefix", "--consistency=s"],
    ["--from-key", "--limit=2"],
]


@pytest.mark.parametrize("flags", GET_FLAGS, ids=lambda f: " ".join(f) or "plain")
def test_get_json_matches_etcdctl(
    keys: str, aetcdctl: Runner, etcdctl_cli: Runner, flags: list[str]
) -> None:
    key = keys if flags and flags[0] in ("--prefix", "--from-key") else keys + "b"
    ours, theirs = (
        aetcdctl("get", key, *flags, "-w", "json"),
        etcdctl_cli("get", key, *flags, "-w", "json"),
    )
    assert ours.code == theirs.code == 0, (ours, theirs)
    assert ours.out == theirs.out


def test_get_range_end_and_revision_match_etcdctl(
    keys: str, aetcdctl: Runner, etcdctl_cli: Runner
) -> None:
    first = aetcdctl("get", keys + "a", "-w", "json").json["kvs"][0]["mod_revision"]
    for args in (
        ["get", keys + "a", keys + "c", "-w", "json"],
        ["get", keys, "--prefix", f"--rev={first}", "-w", "json"],
        ["get", keys + "zzz", "-w", "json"],  # no such key: a header only
    ):
        assert aetcdctl(*args).out == etcdctl_cli(*args).out


@pytest.mark.parametrize(
    "flags",
    [
        [],
        ["--prefix"],
        ["--prefix", "--print-value-only"],
        ["--prefix", "--hex"],
        ["--prefix", "--keys-only"],
    ],
    ids=lambda f: " ".join(f) or "plain",
)
def test_get_simple_matches_etcdctl(
    keys: str, aetcdctl: Runner, etcdctl_cli: Runner, flags: list[str]
) -> None:
    key = keys if "--prefix" in flags else keys + "c"
    ours, theirs = aetcdctl("get", key, *flags), etcdctl_cli("get", key, *flags)
    assert ours.code == theirs.code == 0
    assert ours.out == theirs.out


async def test_binary_keys_and_values_print_verbatim(
    client: aetcd.Client, prefix: str, aetcdctl: Runner, etcdctl_cli: Runner
) -> None:
    await client.put(prefix.encode() + b"bin\xff", b"\x00\xfe value\n")
    for flags in ([], ["--hex"], ["-w", "json"]):
        ours, theirs = (
            aetcdctl("get", prefix, "--prefix", *flags),
            etcdctl_cli("get", prefix, "--prefix", *flags),
        )
        assert ours.out == theirs.out


def test_count_only(keys: str, aetcdctl: Runner) -> None:
    # etcdctl allows --count-only only with `-w fields`; aetcdctl prints the count.
    assert aetcdctl("get", keys, "--prefix", "--count-only").out == b"4\n"
    data = aetcdctl("get", keys, "--prefix", "--count-only", "-w", "json").json
    assert data["count"] == 4
    assert "kvs" not in data


def test_put_matches_etcdctl(prefix: str, aetcdctl: Runner, etcdctl_cli: Runner) -> None:
    _assert_same_write(
        aetcdctl("put", prefix + "k", "v1", "-w", "json"),
        etcdctl_cli("put", prefix + "k", "v2", "-w", "json"),
    )
    # --prev-kv: the previous key-value comes back, in the same shape.
    theirs = etcdctl_cli("put", prefix + "k", "v3", "--prev-kv", "-w", "json")
    ours = aetcdctl("put", prefix + "k", "v4", "--prev-kv", "-w", "json")
    assert ours.json.keys() == theirs.json.keys() == {"header", "prev_kv"}
    assert ours.json["prev_kv"]["value"] == "djM="  # v3
    assert ours.json["prev_kv"].keys() == theirs.json["prev_kv"].keys()
    # Simple output: "OK", then the previous key and value.
    assert (
        aetcdctl("put", prefix + "k", "v5").out
        == etcdctl_cli("put", prefix + "k2", "x").out
        == b"OK\n"
    )
    theirs = etcdctl_cli("put", prefix + "k", "v6", "--prev-kv")
    ours = aetcdctl("put", prefix + "k", "v7", "--prev-kv")
    assert theirs.out == f"OK\n{prefix}k\nv5\n".encode()
    assert ours.out == f"OK\n{prefix}k\nv6\n".encode()


def test_put_value_from_stdin_and_after_separator(
    prefix: str, aetcdctl: Runner, etcdctl_cli: Runner
) -> None:
    assert aetcdctl("put", prefix + "s", input=b"from stdin\n").out == b"OK\n"
    assert etcdctl_cli("put", prefix + "t", input=b"from stdin\n").code == 0
    assert aetcdctl("put", prefix + "dash", "--", "-value-").code == 0
    assert etcdctl_cli("put", prefix + "dash2", "--", "-value-").code == 0
    ours = aetcdctl("get", prefix, "--prefix", "--print-value-only").out
    assert ours == b"-value-\n-value-\nfrom stdin\n\nfrom stdin\n\n"
    # Neither a value nor stdin: a usage error.
    result = aetcdctl("put", prefix + "u")
    assert result.code == 128
    assert result.err == "Error: put command needs 1 argument and input from stdin or 2 arguments\n"


async def test_put_lease_ignore_value_ignore_lease(
    client: aetcd.Client, prefix: str, aetcdctl: Runner, etcdctl_cli: Runner
) -> None:
    lease = await client.lease_grant(60)
    key = prefix + "leased"
    assert aetcdctl("put", key, "v", f"--lease={lease.id:x}").code == 0
    assert aetcdctl("put", key, "v2", "--ignore-lease").code == 0
    assert aetcdctl("put", key, "--ignore-value", "--ignore-lease").code == 0
    ours = aetcdctl("get", key, "-w", "json")
    assert ours.out == etcdctl_cli("get", key, "-w", "json").out
    kv = ours.json["kvs"][0]
    assert (kv["lease"], kv["version"], kv["value"]) == (lease.id, 3, "djI=")
    bad = aetcdctl("put", key, "v", "--lease=xyz")
    assert bad.code == 128
    assert bad.err.startswith("Error: bad lease ID")
    await client.lease_revoke(lease.id)


def test_del_matches_etcdctl(keys: str, aetcdctl: Runner, etcdctl_cli: Runner) -> None:
    _assert_same_write(
        aetcdctl("del", keys + "a", "-w", "json"), etcdctl_cli("del", keys + "b", "-w", "json")
    )
    ours = aetcdctl("del", keys + "c", "--prev-kv", "-w", "json").json
    theirs = etcdctl_cli("del", keys + "d", "--prev-kv", "-w", "json").json
    assert ours.keys() == theirs.keys() == {"header", "deleted", "prev_kvs"}
    assert ours["prev_kvs"][0].keys() == theirs["prev_kvs"][0].keys()
    # Nothing left to delete: no "deleted" field (zero is omitted), "0" in simple output.
    assert aetcdctl("del", keys, "--prefix", "-w", "json").json.keys() == {"header"}
    assert (
        aetcdctl("del", keys, "--prefix").out == etcdctl_cli("del", keys, "--prefix").out == b"0\n"
    )


def test_del_simple_with_prev_kv(prefix: str, aetcdctl: Runner, etcdctl_cli: Runner) -> None:
    for name in ("x", "y"):
        aetcdctl("put", prefix + name, name * 2)
    assert aetcdctl("del", prefix, "--prefix", "--prev-kv").out == (
        f"2\n{prefix}x\nxx\n{prefix}y\nyy\n".encode()
    )
    etcdctl_cli("put", prefix + "z", "zz")
    assert etcdctl_cli("del", prefix, "--from-key", "--prev-kv").out.startswith(
        f"1\n{prefix}z\nzz\n".encode()
    )


def test_compaction(prefix: str, aetcdctl: Runner) -> None:
    revisions = [
        aetcdctl("put", prefix + "c", str(i), "-w", "json").json["header"]["revision"]
        for i in range(3)
    ]
    result = aetcdctl("compaction", revisions[1], "--physical")
    assert (result.code, result.out) == (0, f"compacted revision {revisions[1]}\n".encode())
    # Reading below the compaction point is a server error: one line, exit 1.
    old = aetcdctl("get", prefix + "c", f"--rev={revisions[0]}")
    assert old.code == 1
    assert old.err == "Error: etcdserver: mvcc: required revision has been compacted\n"
    assert (
        aetcdctl("get", prefix + "c", f"--rev={revisions[1]}", "--print-value-only").out == b"1\n"
    )
