"""Txn acceptance: every Compare target and operator, range compares, every Op kind
(nested transactions included) and the failure branch, cross-checked with etcdctl.

etcdctl's `txn` grammar has no range compares, no nested transactions and (in 3.4 and
3.5 alike) panics on lease compares, so those cases are checked against a model of
etcd's compare rules evaluated on etcdctl's listing of the same keys.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import pytest

import aetcd
from aetcd import Compare, CompareResult, CompareTarget, Op

_OPS: dict[CompareResult, tuple[str, Callable[[Any, Any], bool]]] = {
    CompareResult.EQUAL: ("=", operator.eq),
    CompareResult.NOT_EQUAL: ("!=", operator.ne),
    CompareResult.LESS: ("<", operator.lt),
    CompareResult.GREATER: (">", operator.gt),
}
_BUILDERS: dict[CompareTarget, Callable[..., Any]] = {
    CompareTarget.VERSION: Compare.version,
    CompareTarget.CREATE: Compare.create_revision,
    CompareTarget.MOD: Compare.mod_revision,
    CompareTarget.VALUE: Compare.value,
    CompareTarget.LEASE: Compare.lease,
}
_FIELD = {
    CompareTarget.VERSION: "version",
    CompareTarget.CREATE: "create_revision",
    CompareTarget.MOD: "mod_revision",
    CompareTarget.VALUE: "value",
    CompareTarget.LEASE: "lease",
}
_ETCDCTL_TARGET = {
    CompareTarget.VERSION: "ver",
    CompareTarget.CREATE: "create",
    CompareTarget.MOD: "mod",
    CompareTarget.VALUE: "value",
}


def _build(target: CompareTarget, result: CompareResult, operand: Any, *key: Any, **kw: Any):
    lhs = _BUILDERS[target](*key, **kw)
    if result is CompareResult.EQUAL:
        return lhs == operand
    if result is CompareResult.NOT_EQUAL:
        return lhs != operand
    if result is CompareResult.LESS:
        return lhs < operand
    return lhs > operand


def _model(
    kvs: tuple[aetcd.KeyValue, ...], target: CompareTarget, result: CompareResult, operand: Any
) -> bool:
    """etcd's applyCompare: true when every key of the range satisfies the comparison; an
    empty range compares as a zero key-value, except that a VALUE compare then fails."""
    if isinstance(operand, str):
        operand = operand.encode()
    if not kvs:
        if target is CompareTarget.VALUE:
            return False
        return _OPS[result][1](0, operand)
    return all(_OPS[result][1](getattr(kv, _FIELD[target]), operand) for kv in kvs)


def _operands(actual: Any) -> list[Any]:
    """Operands around `actual`: below, equal, above."""
    if isinstance(actual, bytes):
        return [actual[:-1] + bytes([actual[-1] - 1]), actual, actual + b"\x00"]
    return [actual - 1, actual, actual + 1]


@pytest.fixture
async def subject(client: aetcd.Client, prefix: str, etcdctl) -> aetcd.KeyValue:
    """A key with version 2, a lease, and create/mod revisions that differ."""
    lease_id = etcdctl.lease_grant(120)
    await client.put(prefix + "k", "v1")
    await client.put(prefix + "filler", "x")
    await client.put(prefix + "k", "v2", lease=lease_id)
    (kv,) = etcdctl.get(prefix + "k").kvs
    assert (kv.version, kv.lease) == (2, lease_id)
    assert kv.create_revision < kv.mod_revision
    yield kv
    etcdctl.lease_revoke(lease_id)


@pytest.mark.parametrize("result", list(CompareResult), ids=lambda r: r.name)
@pytest.mark.parametrize("target", list(CompareTarget), ids=lambda t: t.name)
async def test_compare_target_and_operator(
    client: aetcd.Client,
    prefix: str,
    etcdctl,
    subject: aetcd.KeyValue,
    target: CompareTarget,
    result: CompareResult,
) -> None:
    key = prefix + "k"
    actual = getattr(subject, _FIELD[target])
    outcomes = []
    for operand in _operands(actual):
        compare = _build(target, result, operand, key)
        assert compare.target is target
        assert compare.result is result
        resp = await client.txn(
            compare=[compare], success=[Op.get(key)], failure=[Op.get(prefix + "filler")]
        )
        expected = _OPS[result][1](actual, operand)
        assert resp.succeeded is expected, (operand, actual)
        (branch,) = resp.responses
        assert isinstance(branch, aetcd.GetResponse)
        assert branch.kvs[0].key == (key if expected else prefix + "filler").encode()
        outcomes.append(expected)

        if target is CompareTarget.LEASE:
            continue  # etcdctl's txn panics on lease compares (3.4 and 3.5)
        symbol = _OPS[result][0]
        value = operand.decode() if isinstance(operand, bytes) else str(operand)
        theirs = etcdctl.txn([f'{_ETCDCTL_TARGET[target]}("{key}") {symbol} "{value}"'], [], [])
        assert theirs.get("succeeded", False) is expected, (operand, actual)
    # Each operator is true for some operands and false for others.
    assert True in outcomes
    assert False in outcomes


async def test_compare_missing_key(client: aetcd.Client, prefix: str, etcdctl) -> None:
    key = prefix + "absent"
    cases = [
        (Compare.create_revision(key) == 0, True),
        (Compare.version(key) == 0, True),
        (Compare.mod_revision(key) < 1, True),
        (Compare.lease(key) == 0, True),
        # Comparing the value of a missing key always fails, even against "".
        (Compare.value(key) == "", False),
        (Compare.value(key) != "x", False),
    ]
    for compare, expected in cases:
        assert (await client.txn(compare=[compare])).succeeded is expected, compare
    assert etcdctl.txn([f'create("{key}") = "0"'], [], []).get("succeeded", False) is True
    assert etcdctl.txn([f'value("{key}") = ""'], [], []).get("succeeded", False) is False


async def test_compare_lease_accepts_a_lease_handle(
    client: aetcd.Client, prefix: str, subject: aetcd.KeyValue
) -> None:
    class Handle:
        id = subject.lease

    resp = await client.txn(compare=[Compare.lease(prefix + "k") == Handle()])
    assert resp.succeeded is True


async def test_range_and_prefix_compares(client: aetcd.Client, prefix: str, etcdctl) -> None:
    # r/a: version 1, r/b: version 3, both valued "same"; r/c outside the ranges below.
    await client.put(prefix + "r/a", "same")
    for _ in range(3):
        await client.put(prefix + "r/b", "same")
    await client.put(prefix + "r/c", "other")
    await client.put(prefix + "s", "outside")

    ab = {"range_end": prefix + "r/c"}
    everything = {"prefix": True}
    ranges: list[tuple[str, dict[str, Any], tuple[str, str]]] = [
        (prefix + "r/a", ab, (prefix + "r/a", prefix + "r/c")),
        (prefix + "r/", everything, (prefix + "r/", prefix + "r0")),
        (prefix + "r/b", {"range_end": prefix + "r/bz"}, (prefix + "r/b", prefix + "r/bz")),
        (prefix + "none/", everything, (prefix + "none/", prefix + "none0")),
    ]
    cases = [
        (CompareTarget.VERSION, CompareResult.GREATER, 0),
        (CompareTarget.VERSION, CompareResult.EQUAL, 1),
        (CompareTarget.VERSION, CompareResult.LESS, 4),
        (CompareTarget.VERSION, CompareResult.LESS, 3),
        (CompareTarget.VERSION, CompareResult.NOT_EQUAL, 2),
        (CompareTarget.VALUE, CompareResult.EQUAL, "same"),
        (CompareTarget.VALUE, CompareResult.NOT_EQUAL, "other"),
        (CompareTarget.VALUE, CompareResult.LESS, "t"),
        (CompareTarget.CREATE, CompareResult.EQUAL, 0),
        (CompareTarget.CREATE, CompareResult.GREATER, 0),
        (CompareTarget.MOD, CompareResult.GREATER, 0),
        (CompareTarget.LEASE, CompareResult.EQUAL, 0),
    ]
    seen = set()
    for key, options, (start, end) in ranges:
        listing = etcdctl.get(start, end)
        for target, result, operand in cases:
            compare = _build(target, result, operand, key, **options)
            assert compare.range_end == end.encode()
            resp = await client.txn(compare=[compare])
            expected = _model(listing.kvs, target, result, operand)
            assert resp.succeeded is expected, (key, options, target, result, operand)
            seen.add(expected)
    assert seen == {True, False}


async def test_compares_are_anded(client: aetcd.Client, prefix: str) -> None:
    await client.put(prefix + "a", "1")
    await client.put(prefix + "b", "2")
    yes_a, yes_b = Compare.value(prefix + "a") == "1", Compare.value(prefix + "b") == "2"
    no_b = Compare.value(prefix + "b") == "9"
    assert (await client.txn(compare=[yes_a, yes_b])).succeeded is True
    assert (await client.txn(compare=[yes_a, no_b])).succeeded is False
    assert (await client.txn(compare=[no_b, yes_a])).succeeded is False
    # No compare at all: the success branch runs.
    assert (await client.txn()).succeeded is True


def _response_ops(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    # etcdctl 3.5 prints {"Response": {"response_range": ...}}, 3.4 {"ResponseRange": ...}.
    names = {
        "response_range": "range",
        "ResponseRange": "range",
        "response_put": "put",
        "ResponsePut": "put",
        "response_delete_range": "delete",
        "ResponseDeleteRange": "delete",
    }
    ops = []
    for item in data.get("responses") or ():
        ((kind, body),) = item["Response"].items()
        ops.append((names[kind], body))
    return ops


@pytest.mark.parametrize("succeed", [True, False], ids=["success", "failure"])
async def test_txn_branches_match_etcdctl_txn(
    client: aetcd.Client, prefix: str, etcdctl, succeed: bool
) -> None:
    # The same transaction on two identical copies of the data: ours on x/, etcdctl's
    # on y/. Their answers must agree field by field.
    for side in "xy":
        await client.put(f"{prefix}{side}/k", "v")
        await client.put(f"{prefix}{side}/d/1", "one")
        await client.put(f"{prefix}{side}/d/2", "two")
    operand = "v" if succeed else "nope"

    ours = await client.txn(
        compare=[Compare.value(prefix + "x/k") == operand],
        success=[
            Op.get(prefix + "x/", prefix=True),
            Op.put(prefix + "x/k", "v2"),
            Op.delete(prefix + "x/d/", prefix=True),
            Op.get(prefix + "x/k"),
        ],
        failure=[
            Op.put(prefix + "x/f", "failed"),
            Op.get(prefix + "x/d/", prefix=True, keys_only=True),
        ],
    )
    y = prefix + "y/"
    theirs = etcdctl.txn(
        [f'value("{y}k") = "{operand}"'],
        [f"get {y} --prefix", f"put {y}k v2", f"del {y}d/ --prefix", f"get {y}k"],
        [f"put {y}f failed", f"get {y}d/ --prefix --keys-only"],
    )
    assert ours.succeeded is theirs.get("succeeded", False) is succeed
    assert theirs["header"]["revision"] == ours.header.revision + 1

    def strip(kv: aetcd.KeyValue) -> tuple[bytes, bytes, int]:
        # Keys differ by x/ vs y/ and revisions by the interleaving; compare the rest.
        return (kv.key.replace(b"/x/", b"/?/").replace(b"/y/", b"/?/"), kv.value, kv.version)

    expected_ops = _response_ops(theirs)
    assert len(ours.responses) == len(expected_ops)
    for got, (kind, body) in zip(ours.responses, expected_ops, strict=True):
        if kind == "range":
            assert isinstance(got, aetcd.GetResponse)
            assert [strip(kv) for kv in got.kvs] == [strip(kv) for kv in etcdctl.kvs(body)]
            assert got.count == int(body.get("count", 0))
            assert got.more == bool(body.get("more", False))
        elif kind == "put":
            assert isinstance(got, aetcd.PutResponse)
            assert got.prev_kv is None
        else:
            assert isinstance(got, aetcd.DeleteResponse)
            assert got.deleted == int(body.get("deleted", 0))
        # Each nested header is etcd's: the revision that operation saw, relative to
        # the transaction's, is the same as in etcdctl's answer.
        their_offset = int(body.get("header", {}).get("revision", 0)) - theirs["header"]["revision"]
        assert got.header.revision - ours.header.revision == their_offset

    # The effects agree too.
    after_x = etcdctl.get(prefix + "x/", "--prefix")
    after_y = etcdctl.get(prefix + "y/", "--prefix")
    assert [strip(kv) for kv in after_x.kvs] == [strip(kv) for kv in after_y.kvs]


async def test_nested_response_headers_keep_etcds_revision(
    client: aetcd.Client, prefix: str, etcdctl
) -> None:
    # Each response inside a transaction has its own header; etcd (3.4 and 3.5) sets
    # its revision to the store revision that operation saw: a read before the
    # transaction's first write sees the previous revision. That is the revision to
    # resume a watch from, so it must not be replaced by the transaction's own.
    for side in "xy":
        await client.put(f"{prefix}{side}", "1")
    ours = await client.txn(
        success=[Op.get(prefix + "x"), Op.put(prefix + "x", "2"), Op.get(prefix + "x")]
    )
    theirs = etcdctl.txn([], [f"get {prefix}y", f"put {prefix}y 2", f"get {prefix}y"], [])
    their_outer = theirs["header"]["revision"]
    their_nested = [body["header"]["revision"] for _, body in _response_ops(theirs)]
    assert their_nested == [their_outer - 1, their_outer, their_outer]
    assert [r.header.revision for r in ours.responses] == [
        ours.header.revision - 1,
        ours.header.revision,
        ours.header.revision,
    ]


async def test_txn_ops_with_options(client: aetcd.Client, prefix: str, etcdctl) -> None:
    for name in "abcdef":
        await client.put(prefix + name, name * 2)
    lease_id = etcdctl.lease_grant(120)
    try:
        before = etcdctl.get(prefix, "--prefix")
        resp = await client.txn(
            compare=[Compare.version(prefix + "a") == 1],
            success=[
                Op.get(prefix, prefix=True, limit=2, sort_order=aetcd.SortOrder.DESCEND),
                Op.get(prefix + "b", range_end=prefix + "d", keys_only=True),
                Op.get(prefix, prefix=True, count_only=True),
                Op.get(prefix + "a", revision=before.kvs[0].mod_revision),
                Op.put(prefix + "a", "new", prev_kv=True, lease=lease_id),
                Op.put(prefix + "b", "", ignore_value=True, prev_kv=True),
                Op.delete(prefix + "c", range_end=prefix + "e", prev_kv=True),
                Op.delete(prefix + "f"),
                Op.get(prefix + "e", from_key=True, limit=2),
            ],
        )
        assert resp.succeeded is True
        limited, keys_only, count_only, old, put_a, put_b, del_cd, del_f, tail = resp.responses
        assert (
            limited.kvs
            == etcdctl.get(
                prefix, "--prefix", "--limit=2", "--order=DESCEND", f"--rev={before.revision}"
            ).kvs
        )
        assert limited.more is True
        assert (
            keys_only.kvs
            == etcdctl.get(
                prefix + "b", prefix + "d", "--keys-only", f"--rev={before.revision}"
            ).kvs
        )
        assert (count_only.kvs, count_only.count) == ((), 6)
        assert old.kvs == before.kvs[:1]
        assert put_a.prev_kv == before.kvs[0]
        assert put_b.prev_kv == before.kvs[1]
        assert del_cd.deleted == 2
        assert del_cd.prev_kvs == before.kvs[2:4]
        assert del_f.deleted == 1
        assert del_f.prev_kvs == ()
        # Reads after writes in the same transaction see them: f is gone already.
        assert [kv.key for kv in tail.kvs][:1] == [(prefix + "e").encode()]
        assert (prefix + "f").encode() not in [kv.key for kv in tail.kvs]

        after = etcdctl.get(prefix, "--prefix")
        # One transaction, one revision for all its writes.
        assert {kv.mod_revision for kv in after.kvs if kv.key[-1:] in b"ab"} == {
            resp.header.revision
        }
        assert resp.header.revision == before.revision + 1
        by_key = after.by_key()
        assert by_key[(prefix + "a").encode()].value == b"new"
        assert by_key[(prefix + "a").encode()].lease == lease_id
        assert by_key[(prefix + "b").encode()].value == b"bb"
        assert after.keys == [(prefix + n).encode() for n in "abe"]
    finally:
        etcdctl.lease_revoke(lease_id)


async def test_txn_reads_its_own_writes(client: aetcd.Client, prefix: str) -> None:
    resp = await client.txn(
        success=[
            Op.get(prefix + "k"),
            Op.put(prefix + "k", "v"),
            Op.get(prefix + "k"),
        ]
    )
    before, put, after = resp.responses
    assert isinstance(before, aetcd.GetResponse)
    assert isinstance(put, aetcd.PutResponse)
    assert isinstance(after, aetcd.GetResponse)
    assert before.kvs == ()
    assert [kv.value for kv in after.kvs] == [b"v"]
    assert after.kvs[0].mod_revision == resp.header.revision


async def test_nested_txn(client: aetcd.Client, prefix: str, etcdctl) -> None:
    await client.put(prefix + "flag", "on")
    resp = await client.txn(
        compare=[Compare.value(prefix + "flag") == "on"],
        success=[
            Op.put(prefix + "outer", "1"),
            Op.txn(
                compare=[Compare.version(prefix + "flag") == 1],
                success=[
                    Op.put(prefix + "inner-success", "1"),
                    Op.txn(
                        compare=[Compare.create_revision(prefix + "nothing") != 0],
                        success=[Op.put(prefix + "deep-success", "1")],
                        failure=[Op.put(prefix + "deep-failure", "1"), Op.get(prefix + "flag")],
                    ),
                ],
                failure=[Op.put(prefix + "inner-failure", "1")],
            ),
            Op.txn(
                compare=[Compare.value(prefix + "flag") == "off"],
                success=[Op.put(prefix + "second-success", "1")],
                failure=[Op.get(prefix, prefix=True, count_only=True)],
            ),
        ],
        failure=[Op.put(prefix + "outer-failure", "1")],
    )
    assert resp.succeeded is True
    outer_put, inner, second = resp.responses
    assert isinstance(outer_put, aetcd.PutResponse)
    assert isinstance(inner, aetcd.TxnResponse)
    assert inner.succeeded is True
    inner_put, deep = inner.responses
    assert isinstance(inner_put, aetcd.PutResponse)
    assert isinstance(deep, aetcd.TxnResponse)
    assert deep.succeeded is False
    deep_put, deep_get = deep.responses
    assert isinstance(deep_put, aetcd.PutResponse)
    assert isinstance(deep_get, aetcd.GetResponse)
    assert [kv.value for kv in deep_get.kvs] == [b"on"]
    assert isinstance(second, aetcd.TxnResponse)
    assert second.succeeded is False
    (count,) = second.responses
    assert isinstance(count, aetcd.GetResponse)
    # The nested count runs after the earlier puts of the same transaction.
    assert count.count == 4

    names = {kv.key.decode()[len(prefix) :] for kv in etcdctl.get(prefix, "--prefix").kvs}
    assert names == {"flag", "outer", "inner-success", "deep-failure"}
    revisions = {kv.mod_revision for kv in etcdctl.get(prefix, "--prefix").kvs if kv.version}
    assert resp.header.revision in revisions


async def test_failure_branch(client: aetcd.Client, prefix: str, etcdctl) -> None:
    await client.put(prefix + "k", "v")
    resp = await client.txn(
        compare=[Compare.value(prefix + "k") == "other"],
        success=[Op.put(prefix + "success", "1")],
        failure=[Op.put(prefix + "failure", "1", prev_kv=True), Op.get(prefix + "k")],
    )
    assert resp.succeeded is False
    put, get = resp.responses
    assert isinstance(put, aetcd.PutResponse)
    assert put.prev_kv is None
    assert isinstance(get, aetcd.GetResponse)
    assert [kv.value for kv in get.kvs] == [b"v"]
    assert etcdctl.get(prefix, "--prefix").keys == [
        (prefix + "failure").encode(),
        (prefix + "k").encode(),
    ]
    # An empty failure branch: nothing happens, no revision is created.
    again = await client.txn(compare=[Compare.value(prefix + "k") == "other"])
    assert (again.succeeded, again.responses) == (False, ())
    assert again.header.revision == resp.header.revision


async def test_compare_and_swap_loses_to_a_concurrent_writer(
    client: aetcd.Client, prefix: str, etcdctl
) -> None:
    key = prefix + "k"
    revision = (await client.put(key, "mine")).header.revision
    etcdctl.put(key, "theirs")
    resp = await client.txn(
        compare=[Compare.mod_revision(key) == revision],
        success=[Op.put(key, "swapped")],
        failure=[Op.get(key)],
    )
    assert resp.succeeded is False
    (get,) = resp.responses
    assert [kv.value for kv in get.kvs] == [b"theirs"]
    assert etcdctl.get(key).kvs[0].value == b"theirs"
