"""Errors: bad arguments fail at once naming the argument; server errors keep etcd's
gRPC status and message; oversized requests are refused without harming the client."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from grpclib.const import Status

import aetcd
from aetcd import Compare, Op
from aetcd.testing import EtcdctlError, free_ports

MiB = 1024 * 1024


@pytest.fixture
async def offline() -> Any:
    """A client whose endpoint has nothing listening: any call that reached the network
    would fail with ConnectError instead of the argument error under test."""
    (port,) = free_ports(1)
    client = aetcd.Client(f"http://127.0.0.1:{port}", timeout=0.5)
    yield client
    await client.close()


# (description, call, expected class, argument name that the message must contain)
Call = Callable[[aetcd.Client], Awaitable[Any]]
_BAD_CALLS: list[tuple[str, Call, type[Exception], str]] = [
    # keys and values
    ("int key", lambda c: c.get(123), TypeError, "key"),
    ("None key", lambda c: c.put(None, "v"), TypeError, "key"),
    ("list key", lambda c: c.delete(["k"]), TypeError, "key"),
    ("float key in txn op", lambda c: c.txn(success=[Op.get(1.5)]), TypeError, "key"),
    ("int value", lambda c: c.put("k", 5), TypeError, "value"),
    ("None value", lambda c: c.put("k", None), TypeError, "value"),
    ("int range_end", lambda c: c.get("k", range_end=5), TypeError, "range_end"),
    ("value with ignore_value", lambda c: c.put("k", "v", ignore_value=True), ValueError, "value"),
    # limits and sorting
    ("negative limit", lambda c: c.get("k", limit=-1), ValueError, "limit"),
    ("str limit", lambda c: c.get("k", limit="5"), TypeError, "limit"),
    ("float limit", lambda c: c.get("k", limit=2.0), TypeError, "limit"),
    ("unknown sort_order", lambda c: c.get("k", sort_order="sideways"), ValueError, "sort_order"),
    ("int sort_order", lambda c: c.get("k", sort_order=7), ValueError, "sort_order"),
    (
        "sort_order given a SortTarget",
        lambda c: c.get("k", sort_order=aetcd.SortTarget.VALUE),
        ValueError,
        "sort_order",
    ),
    ("unknown sort_target", lambda c: c.get("k", sort_target="size"), ValueError, "sort_target"),
    (
        "sort_target given a SortOrder",
        lambda c: c.get("k", sort_target=aetcd.SortOrder.ASCEND),
        ValueError,
        "sort_target",
    ),
    # revisions
    ("str revision", lambda c: c.get("k", revision="5"), TypeError, "revision"),
    ("float revision", lambda c: c.get("k", revision=5.0), TypeError, "revision"),
    ("bool revision", lambda c: c.get("k", revision=True), TypeError, "revision"),
    ("zero revision", lambda c: c.get("k", revision=0), ValueError, "revision"),
    ("negative revision", lambda c: c.get("k", revision=-2), ValueError, "revision"),
    (
        "str min_mod_revision",
        lambda c: c.get("k", min_mod_revision="1"),
        TypeError,
        "min_mod_revision",
    ),
    (
        "zero max_mod_revision",
        lambda c: c.get("k", max_mod_revision=0),
        ValueError,
        "max_mod_revision",
    ),
    (
        "float min_create_revision",
        lambda c: c.get("k", min_create_revision=1.0),
        TypeError,
        "min_create_revision",
    ),
    (
        "negative max_create_revision",
        lambda c: c.get("k", max_create_revision=-1),
        ValueError,
        "max_create_revision",
    ),
    ("str compact revision", lambda c: c.compact("5"), TypeError, "revision"),
    ("None compact revision", lambda c: c.compact(None), TypeError, "revision"),
    ("zero compact revision", lambda c: c.compact(0), ValueError, "revision"),
    # mutually exclusive range options
    (
        "prefix and range_end",
        lambda c: c.get("k", prefix=True, range_end="z"),
        ValueError,
        "range_end",
    ),
    (
        "prefix and from_key",
        lambda c: c.get("k", prefix=True, from_key=True),
        ValueError,
        "from_key",
    ),
    (
        "range_end and from_key",
        lambda c: c.delete("k", range_end="z", from_key=True),
        ValueError,
        "from_key",
    ),
    # flags
    ("str prefix", lambda c: c.get("k", prefix="yes"), TypeError, "prefix"),
    ("int serializable", lambda c: c.get("k", serializable=1), TypeError, "serializable"),
    ("None keys_only", lambda c: c.get("k", keys_only=None), TypeError, "keys_only"),
    ("str count_only", lambda c: c.get("k", count_only="true"), TypeError, "count_only"),
    ("int prev_kv", lambda c: c.put("k", "v", prev_kv=1), TypeError, "prev_kv"),
    ("int delete prev_kv", lambda c: c.delete("k", prev_kv=1), TypeError, "prev_kv"),
    ("str physical", lambda c: c.compact(5, physical="no"), TypeError, "physical"),
    # leases
    ("str lease", lambda c: c.put("k", "v", lease="abc"), TypeError, "lease"),
    ("negative lease", lambda c: c.put("k", "v", lease=-1), ValueError, "lease"),
    ("zero lease", lambda c: c.put("k", "v", lease=0), ValueError, "lease"),
    (
        "lease with ignore_lease",
        lambda c: c.put("k", "v", lease=7, ignore_lease=True),
        ValueError,
        "lease",
    ),
    # timeouts
    ("negative timeout", lambda c: c.get("k", timeout=-1), ValueError, "timeout"),
    ("zero timeout", lambda c: c.get("k", timeout=0), ValueError, "timeout"),
    ("str timeout", lambda c: c.put("k", "v", timeout="5"), TypeError, "timeout"),
    # transactions
    ("single Compare", lambda c: c.txn(compare=Compare.version("k") > 0), TypeError, "compare"),
    ("non-Compare item", lambda c: c.txn(compare=[True]), TypeError, "compare"),
    ("non-Op success item", lambda c: c.txn(success=[object()]), TypeError, "success"),
    ("single Op as failure", lambda c: c.txn(failure=Op.get("k")), TypeError, "failure"),
    ("str as success", lambda c: c.txn(success="put k v"), TypeError, "success"),
]


@pytest.mark.parametrize(
    ("call", "kind", "argument"),
    [case[1:] for case in _BAD_CALLS],
    ids=[case[0] for case in _BAD_CALLS],
)
async def test_bad_argument_raises_at_once(
    offline: aetcd.Client, call: Call, kind: type[Exception], argument: str
) -> None:
    with pytest.raises(kind) as info:
        await call(offline)
    exc = info.value
    assert isinstance(exc, aetcd.EtcdError)
    assert isinstance(exc, (aetcd.ArgumentTypeError, aetcd.ArgumentValueError))
    assert re.search(rf"\b{argument}\b", str(exc)), str(exc)
    assert exc.status is None  # decided by the client, nothing was sent


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get(""),
        lambda c: c.get(b""),
        lambda c: c.put("", "v"),
        lambda c: c.delete(""),
        lambda c: c.get("", range_end="z"),
        lambda c: c.txn(success=[Op.put("", "v")]),
        lambda c: c.txn(compare=[Compare.value("") == "v"]),
    ],
    ids=["get", "get-bytes", "put", "delete", "range", "txn-op", "txn-compare"],
)
async def test_empty_key(offline: aetcd.Client, call: Call) -> None:
    with pytest.raises(aetcd.EmptyKeyError) as info:
        await call(offline)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, aetcd.EtcdError)
    assert "key" in str(info.value)


@pytest.mark.parametrize(
    ("build", "kind", "argument"),
    [
        (lambda: Compare.version("k") > "1", TypeError, "version"),
        (lambda: Compare.create_revision("k") == 1.0, TypeError, "create_revision"),
        (lambda: Compare.mod_revision("k") < -1, ValueError, "mod_revision"),
        (lambda: Compare.lease("k") == "abc", TypeError, "lease"),
        (lambda: Compare.value("k") == 5, TypeError, "value"),
        (lambda: Compare.value(5) == "v", TypeError, "key"),
        (lambda: Compare.value("k", "z", prefix=True) == "v", ValueError, "range_end"),
        (lambda: Op.get("k", limit=-5), ValueError, "limit"),
        (lambda: Op.put("k", 1), TypeError, "value"),
        (lambda: Op.delete("k", prefix=1), TypeError, "prefix"),
        (lambda: Op.txn(compare=[Op.get("k")]), TypeError, "compare"),
        (lambda: Op.txn(success=[Compare.version("k") > 0]), TypeError, "success"),
    ],
    ids=[
        "version-str",
        "create-float",
        "mod-negative",
        "lease-str",
        "value-int",
        "key-int",
        "range-and-prefix",
        "op-get-limit",
        "op-put-value",
        "op-delete-prefix",
        "op-txn-compare",
        "op-txn-success",
    ],
)
def test_bad_txn_building_blocks_raise_at_once(
    build: Callable[[], Any], kind: type[Exception], argument: str
) -> None:
    with pytest.raises(kind) as info:
        build()
    assert isinstance(info.value, aetcd.EtcdError)
    assert re.search(rf"\b{argument}\b", str(info.value)), str(info.value)


@pytest.mark.parametrize(
    ("options", "kind", "argument"),
    [
        ({"endpoints": "ftp://127.0.0.1:2379"}, ValueError, "endpoints"),
        ({"endpoints": []}, ValueError, "endpoints"),
        ({"endpoints": 2379}, TypeError, "endpoints"),
        ({"timeout": -1}, ValueError, "timeout"),
        ({"connect_timeout": 0}, ValueError, "connect_timeout"),
        ({"tls": "yes"}, TypeError, "tls"),
        ({"username": "root"}, ValueError, "password"),
        ({"require_leader": "yes"}, TypeError, "require_leader"),
        ({"keepalive_time": 1}, ValueError, "keepalive_time"),
        ({"no_such_option": 1}, TypeError, "no_such_option"),
    ],
    ids=lambda v: "-".join(map(str, v)) if isinstance(v, dict) else None,
)
def test_bad_client_options(options: dict[str, Any], kind: type[Exception], argument: str) -> None:
    with pytest.raises(kind) as info:
        aetcd.Client(**options)
    assert isinstance(info.value, aetcd.EtcdError)
    assert argument in str(info.value)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Op.get("k", no_such_option=1),
        lambda: Op.put("k", "v", no_such_option=1),
        lambda: Op.delete("k", no_such_option=1),
    ],
    ids=["get", "put", "delete"],
)
def test_unknown_op_option(build: Callable[[], Any]) -> None:
    # Op.get/put/delete take the options of the client methods as **options; an unknown
    # one is a bad argument like any other: an aetcd error (and a TypeError) that names
    # it, not a bare TypeError about an internal helper.
    with pytest.raises(TypeError, match="no_such_option") as info:
        build()
    assert isinstance(info.value, aetcd.EtcdError)


async def test_scan_validates_before_iterating(offline: aetcd.Client) -> None:
    for options, argument in [
        ({"page_size": 0}, "page_size"),
        ({"page_size": "10"}, "page_size"),
        ({"revision": 0}, "revision"),
        ({"prefix": True, "range_end": "z"}, "range_end"),
    ]:
        with pytest.raises(aetcd.EtcdError, match=argument):
            offline.scan("k", **options)


async def test_bad_arguments_write_nothing(client: aetcd.Client, prefix: str, etcdctl) -> None:
    with pytest.raises(ValueError, match="lease"):
        await client.put(prefix + "k", "v", lease=-1)
    with pytest.raises(TypeError, match="success"):
        await client.txn(success=[Op.put(prefix + "k", "v"), "put k v"])
    assert etcdctl.get(prefix, "--prefix").count == 0


async def test_limit_zero_is_not_a_magic_value(offline: aetcd.Client) -> None:
    # API.md: "0 is never a magic value in the public API". On the wire, limit 0 means
    # "no limit", so `limit=0` returning every key would be exactly such a magic 0.
    with pytest.raises(ValueError, match="limit") as info:
        await offline.get("k", prefix=True, limit=0)
    assert isinstance(info.value, aetcd.EtcdError)


# --------------------------------------------------------------------------- server errors


def _etcdctl_message(exc: EtcdctlError) -> str:
    """The message etcdctl printed for a server error (`Error: <etcd's message>`)."""
    for line in exc.stderr.splitlines():
        if line.startswith("Error: "):
            return line.removeprefix("Error: ").strip()
    raise AssertionError(exc.stderr)


def _check_server_error(
    exc: aetcd.EtcdError, cls: type[aetcd.EtcdError], status: Status, message: str
) -> None:
    assert type(exc) is cls
    assert isinstance(exc, aetcd.ServerError)
    assert exc.status is status
    assert exc.message == message
    assert message in str(exc)
    assert status.name in str(exc)


async def test_compacted_error(client: aetcd.Client, prefix: str, etcdctl) -> None:
    old = (await client.put(prefix + "k", "1")).header.revision
    new = (await client.put(prefix + "k", "2")).header.revision
    await client.compact(new)
    with pytest.raises(aetcd.CompactedError) as info:
        await client.get(prefix + "k", revision=old)
    message = "etcdserver: mvcc: required revision has been compacted"
    _check_server_error(info.value, aetcd.CompactedError, Status.OUT_OF_RANGE, message)
    with pytest.raises(EtcdctlError) as theirs:
        etcdctl.get(prefix + "k", f"--rev={old}")
    assert _etcdctl_message(theirs.value) == info.value.message


async def test_future_revision_error(client: aetcd.Client, prefix: str, etcdctl) -> None:
    future = (await client.put(prefix + "k", "v")).header.revision + 1000
    message = "etcdserver: mvcc: required revision is a future revision"
    with pytest.raises(aetcd.FutureRevisionError) as info:
        await client.get(prefix + "k", revision=future)
    _check_server_error(info.value, aetcd.FutureRevisionError, Status.OUT_OF_RANGE, message)
    with pytest.raises(EtcdctlError) as theirs:
        etcdctl.get(prefix + "k", f"--rev={future}")
    assert _etcdctl_message(theirs.value) == message
    with pytest.raises(aetcd.FutureRevisionError):
        await client.compact(future)
    with pytest.raises(aetcd.FutureRevisionError):
        async for _ in client.scan(prefix, revision=future):
            pass


async def test_too_many_ops_error(client: aetcd.Client, prefix: str, etcdctl) -> None:
    # etcd's default --max-txn-ops is 128.
    ok = await client.txn(success=[Op.put(f"{prefix}{i:03d}", "v") for i in range(128)])
    assert len(ok.responses) == 128
    with pytest.raises(aetcd.TooManyOpsError) as info:
        await client.txn(success=[Op.get(f"{prefix}{i:03d}") for i in range(129)])
    message = "etcdserver: too many operations in txn request"
    _check_server_error(info.value, aetcd.TooManyOpsError, Status.INVALID_ARGUMENT, message)
    # The failure branch counts too, and nothing of a refused txn is applied.
    with pytest.raises(aetcd.TooManyOpsError):
        await client.txn(
            compare=[Compare.version(prefix + "000") == 0],
            success=[Op.delete(prefix, prefix=True)],
            failure=[Op.put(f"{prefix}x{i:03d}", "v") for i in range(129)],
        )
    assert etcdctl.get(prefix, "--prefix").count == 128


async def test_duplicate_key_error(client: aetcd.Client, prefix: str, etcdctl) -> None:
    message = "etcdserver: duplicate key given in txn request"
    for ops in (
        [Op.put(prefix + "k", "1"), Op.put(prefix + "k", "2")],
        [Op.put(prefix + "k", "1"), Op.delete(prefix + "k")],
        [Op.put(prefix + "a/k", "1"), Op.delete(prefix + "a/", prefix=True)],
    ):
        with pytest.raises(aetcd.DuplicateKeyError) as info:
            await client.txn(success=[Op.put(prefix + "other", "x"), *ops])
        _check_server_error(info.value, aetcd.DuplicateKeyError, Status.INVALID_ARGUMENT, message)
    assert etcdctl.get(prefix, "--prefix").count == 0
    # Reading a key twice, or writing it in different branches, is fine.
    resp = await client.txn(
        success=[Op.get(prefix + "k"), Op.get(prefix + "k"), Op.put(prefix + "k", "1")],
        failure=[Op.put(prefix + "k", "2")],
    )
    assert resp.succeeded is True


async def test_lease_not_found_error(client: aetcd.Client, prefix: str, etcdctl) -> None:
    missing = 0x7E57_0000_0000_0001
    with pytest.raises(aetcd.LeaseNotFoundError) as info:
        await client.put(prefix + "k", "v", lease=missing)
    message = "etcdserver: requested lease not found"
    _check_server_error(info.value, aetcd.LeaseNotFoundError, Status.NOT_FOUND, message)
    with pytest.raises(EtcdctlError) as theirs:
        etcdctl.put(prefix + "k", "v", f"--lease={missing:x}")
    assert _etcdctl_message(theirs.value) == message
    # Same inside a transaction.
    with pytest.raises(aetcd.LeaseNotFoundError):
        await client.txn(success=[Op.put(prefix + "k", "v", lease=missing)])
    assert etcdctl.get(prefix, "--prefix").count == 0


async def test_key_not_found_with_ignore_value_or_ignore_lease(
    client: aetcd.Client, prefix: str
) -> None:
    message = "etcdserver: key not found"
    with pytest.raises(aetcd.KeyNotFoundError) as info:
        await client.put(prefix + "missing", "", ignore_value=True)
    _check_server_error(info.value, aetcd.KeyNotFoundError, Status.INVALID_ARGUMENT, message)
    with pytest.raises(aetcd.KeyNotFoundError):
        await client.put(prefix + "missing", "v", ignore_lease=True)


async def test_request_too_large_is_refused_by_the_client(
    client: aetcd.Client, prefix: str, etcdctl
) -> None:
    with pytest.raises(aetcd.RequestTooLargeError) as info:
        await client.put(prefix + "big", b"x" * (2 * MiB))
    exc = info.value
    assert isinstance(exc, ValueError)
    assert isinstance(exc, aetcd.EtcdError)
    assert exc.status is None
    assert "max_send_bytes" in str(exc)
    # Same for a transaction that is too large as a whole.
    with pytest.raises(aetcd.RequestTooLargeError):
        await client.txn(success=[Op.put(f"{prefix}{i}", b"x" * MiB) for i in range(3)])
    # The client is unharmed.
    await client.put(prefix + "small", "v")
    assert [kv.value for kv in (await client.get(prefix + "small")).kvs] == [b"v"]
    assert etcdctl.get(prefix, "--prefix").keys == [(prefix + "small").encode()]


async def test_request_too_large_is_refused_by_the_server(
    client: aetcd.Client, prefix: str, etcdctl
) -> None:
    # Under the client's 2 MiB limit but over etcd's --max-request-bytes (1.5 MiB).
    with pytest.raises(aetcd.RequestTooLargeError) as info:
        await client.put(prefix + "big", b"x" * (1700 * 1024))
    message = "etcdserver: request is too large"
    _check_server_error(info.value, aetcd.RequestTooLargeError, Status.INVALID_ARGUMENT, message)
    assert isinstance(info.value, ValueError)
    # The connection survived: the next calls work, also concurrently with a big value.
    await client.put(prefix + "small", "v")
    await client.put(prefix + "large-but-fine", b"y" * MiB)
    listing = etcdctl.get(prefix, "--prefix", "--keys-only")
    assert listing.keys == [(prefix + "large-but-fine").encode(), (prefix + "small").encode()]
    assert len((await client.get(prefix + "large-but-fine")).kvs[0].value) == MiB
