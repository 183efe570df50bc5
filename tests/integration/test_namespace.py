"""Namespace views (Go's clientv3/namespace) against a real etcd member."""

from __future__ import annotations

import anyio
import pytest

import aetcd
from aetcd import Compare, Op
from aetcd._namespace import Namespace


@pytest.fixture
def ns(client: aetcd.Client, prefix: str) -> Namespace:
    # A sibling key just outside the namespace is written by the tests that check
    # ranges stay inside: "<prefix>ns/" vs "<prefix>ns0".
    return client.with_namespace(f"{prefix}ns/")


async def test_book_example(client: aetcd.Client, prefix: str) -> None:
    # The seed book's namespace example (chapter3/11_namespace).
    new_client = client.with_namespace(f"{prefix}chapter3")
    await new_client.put("/ns/1", "hoge")
    resp = await client.get(f"{prefix}chapter3/ns/1")
    assert (resp.kvs[0].key, resp.kvs[0].value) == (f"{prefix}chapter3/ns/1".encode(), b"hoge")
    await client.put(f"{prefix}chapter3/ns/2", "test")
    resp = await new_client.get("/ns/2")
    assert (resp.kvs[0].key, resp.kvs[0].value) == (b"/ns/2", b"test")


async def test_ranges_stay_inside(client: aetcd.Client, prefix: str, ns: Namespace) -> None:
    await client.put(f"{prefix}ns0", "outside")
    await client.put(f"{prefix}nr", "outside")
    for key in ("a", "b/1", "b/2", "c"):
        await ns.put(key, key)
    every = await ns.get("", prefix=True)
    assert [kv.key for kv in every.kvs] == [b"a", b"b/1", b"b/2", b"c"]
    assert [kv.key for kv in (await ns.get("b", from_key=True)).kvs] == [b"b/1", b"b/2", b"c"]
    assert [kv.key for kv in (await ns.get("", from_key=True)).kvs] == [b"a", b"b/1", b"b/2", b"c"]
    assert [kv.key for kv in (await ns.get("b/", prefix=True)).kvs] == [b"b/1", b"b/2"]
    assert [kv.key for kv in (await ns.get("a", range_end="b/2")).kvs] == [b"a", b"b/1"]
    assert [kv.key for kv in (await ns.get("a", range_end="\0")).kvs] == [
        b"a",
        b"b/1",
        b"b/2",
        b"c",
    ]
    assert (await ns.get("", prefix=True, count_only=True)).count == 4
    assert [kv.key async for kv in ns.scan("", page_size=1)] == [b"a", b"b/1", b"b/2", b"c"]
    deleted = await ns.delete("", prefix=True, prev_kv=True)
    assert deleted.deleted == 4
    assert sorted(kv.key for kv in deleted.prev_kvs) == [b"a", b"b/1", b"b/2", b"c"]
    # The keys outside the namespace are untouched.
    assert [kv.key for kv in (await client.get(prefix, prefix=True)).kvs] == [
        f"{prefix}nr".encode(),
        f"{prefix}ns0".encode(),
    ]


async def test_put_prev_kv_and_empty_key(ns: Namespace) -> None:
    await ns.put("k", "1")
    resp = await ns.put("k", "2", prev_kv=True)
    assert resp.prev_kv is not None
    assert resp.prev_kv.key == b"k"
    with pytest.raises(aetcd.EmptyKeyError):
        await ns.put("", "x")
    with pytest.raises(aetcd.EmptyKeyError):
        await ns.get("")


async def test_txn_compares_ops_and_nested(
    client: aetcd.Client, prefix: str, ns: Namespace
) -> None:
    await ns.put("a", "1")
    resp = await ns.txn(
        compare=[Compare.value("a") == "1", Compare.version("", prefix=True) > 0],
        success=[
            Op.put("b", "2", prev_kv=True),
            Op.get("", prefix=True),
            Op.txn(
                compare=[Compare.create_revision("c") == 0],
                success=[Op.put("c", "3"), Op.get("a")],
            ),
        ],
        failure=[Op.get("a")],
    )
    assert resp.succeeded
    _, get, nested = resp.responses
    assert isinstance(get, aetcd.GetResponse)
    assert [kv.key for kv in get.kvs] == [b"a", b"b"]
    assert isinstance(nested, aetcd.TxnResponse)
    assert nested.succeeded
    inner_get = nested.responses[1]
    assert isinstance(inner_get, aetcd.GetResponse)
    assert inner_get.kvs[0].key == b"a"
    assert (await client.get(f"{prefix}ns/c")).kvs[0].value == b"3"
    # A compare on a key outside the namespace cannot be expressed: "a" is ns/a.
    await client.put(f"{prefix}a", "other")
    resp = await ns.txn(compare=[Compare.value("a") == "other"], success=[Op.delete("a")])
    assert not resp.succeeded
    # Deletes in a txn with prev_kv come back unprefixed.
    resp = await ns.txn(success=[Op.delete("", prefix=True, prev_kv=True)])
    deleted = resp.responses[0]
    assert isinstance(deleted, aetcd.DeleteResponse)
    assert sorted(kv.key for kv in deleted.prev_kvs) == [b"a", b"b", b"c"]


async def test_watch(client: aetcd.Client, prefix: str, ns: Namespace) -> None:
    async with ns.watch("", prefix=True, prev_kv=True) as watch:
        assert (watch.key, watch.range_end) == (b"", b"\0")  # the whole namespace
        await client.put(f"{prefix}ns0", "outside")
        await ns.put("k", "1")
        await ns.put("k", "2")
        await client.delete(f"{prefix}ns/k")
        events: list[aetcd.Event] = []
        with anyio.fail_after(5):
            async for event in watch.events():
                events.append(event)
                if len(events) == 3:
                    break
    assert [(e.type.name, e.kv.key) for e in events] == [
        ("PUT", b"k"),
        ("PUT", b"k"),
        ("DELETE", b"k"),
    ]
    assert events[1].prev_kv is not None
    assert events[1].prev_kv.key == b"k"
    async with ns.watch("k") as single:
        assert single.key == b"k"
        await ns.put("k", "3")
        with anyio.fail_after(5):
            response = await anext(single)
        assert response.events[0].kv.key == b"k"


async def test_lease_keys(client: aetcd.Client, prefix: str, ns: Namespace) -> None:
    async with ns.lease(5) as lease:
        await ns.put("k", "v", lease=lease)
        await client.put(f"{prefix}outside", "v", lease=lease)
        ttl = await ns.lease_time_to_live(lease.id, keys=True)
        assert ttl.keys == (b"k",)
        raw = await client.lease_time_to_live(lease.id, keys=True)
        assert sorted(raw.keys) == [f"{prefix}ns/k".encode(), f"{prefix}outside".encode()]


async def test_nested_namespaces(client: aetcd.Client, prefix: str) -> None:
    app = client.with_namespace(prefix).with_namespace("app/")
    assert app.prefix == f"{prefix}app/".encode()
    await app.put("k", "v")
    assert (await client.get(f"{prefix}app/k")).kvs


async def test_lock_and_election_live_in_the_namespace(client: aetcd.Client, prefix: str) -> None:
    ns = client.with_namespace(prefix)
    async with ns.lock("L", ttl=5) as lock:
        assert lock.key is not None
        assert lock.key.startswith(b"L/")
        raw = (await client.get(f"{prefix}L/", prefix=True)).kvs
        assert [kv.key for kv in raw] == [prefix.encode() + lock.key]
        # The same lock seen without the namespace is held.
        with pytest.raises(aetcd.LockTimeoutError):
            await client.lock(f"{prefix}L", ttl=5).acquire(timeout=0.3)
    election = ns.election("E", ttl=5)
    await election.campaign("v")
    leader = await client.election(f"{prefix}E").leader()
    assert leader is not None
    assert leader.value == b"v"
    assert (await election.leader()).key.startswith(b"E/")  # type: ignore[union-attr]
    await election.resign()


async def test_bad_prefix(client: aetcd.Client) -> None:
    with pytest.raises(aetcd.ArgumentValueError):
        client.with_namespace("")
    with pytest.raises(TypeError):
        client.with_namespace(3)  # type: ignore[arg-type]
