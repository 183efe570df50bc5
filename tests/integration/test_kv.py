"""KV acceptance: every put/get/delete/compact/scan option, cross-checked with etcdctl.

Each test writes under its own `prefix`, performs the call with aetcd, and compares the
result with what the real `etcdctl -w json` (from the same etcd installation) reports
for the same keys, usually pinned to the same revision. Where etcdctl has no flag for
an option (min/max revision filters, count_only on 3.4) the expected result is derived
from etcdctl's full listing.
"""

from __future__ import annotations

from typing import Any

import pytest

import aetcd
from aetcd import SortOrder, SortTarget
from aetcd.testing import EtcdctlError

# --------------------------------------------------------------------------- helpers


def _b(prefix: str, *names: str) -> list[bytes]:
    return [f"{prefix}{name}".encode() for name in names]


async def _put_all(client: aetcd.Client, items: dict[str, str]) -> int:
    revision = 0
    for key, value in items.items():
        revision = (await client.put(key, value)).header.revision
    return revision


def _same_range(resp: aetcd.GetResponse, listing: Any) -> None:
    """aetcd's answer and etcdctl's agree on the key-values, count and `more`."""
    assert resp.kvs == listing.kvs
    assert resp.count == listing.count
    assert resp.more == listing.more


# --------------------------------------------------------------------------- put / get


async def test_put_then_get_matches_etcdctl(client: aetcd.Client, prefix: str, etcdctl) -> None:
    put = await client.put(prefix + "k", "v")
    assert put.prev_kv is None
    assert put.header.revision > 0

    resp = await client.get(prefix + "k")
    listing = etcdctl.get(prefix + "k")
    _same_range(resp, listing)
    # Same member, cluster, term and (nothing was written since) revision.
    assert resp.header == listing.header
    assert resp.header.revision == put.header.revision
    (kv,) = resp.kvs
    assert kv == aetcd.KeyValue(
        key=(prefix + "k").encode(),
        value=b"v",
        create_revision=put.header.revision,
        mod_revision=put.header.revision,
        version=1,
        lease=0,
    )
    # A GetResponse iterates over its key-values.
    assert list(resp) == [kv]
    assert len(resp) == 1


async def test_str_and_bytes_are_interchangeable_and_results_are_bytes(
    client: aetcd.Client, prefix: str, etcdctl
) -> None:
    await client.put(prefix + "é", "välue")
    await client.put((prefix + "raw").encode(), b"\x00\xff\xfe")
    by_str = await client.get(prefix + "é")
    by_bytes = await client.get((prefix + "é").encode())
    assert by_str.kvs == by_bytes.kvs
    assert by_str.kvs[0].key == (prefix + "é").encode()
    assert by_str.kvs[0].value == "välue".encode()
    assert isinstance(by_str.kvs[0].key, bytes)
    # Values that are not valid UTF-8 (and contain NUL) round-trip unchanged.
    assert etcdctl.get(prefix + "raw").kvs[0].value == b"\x00\xff\xfe"
    assert (await client.get(prefix + "raw")).kvs[0].value == b"\x00\xff\xfe"


async def test_key_that_is_not_utf8(client: aetcd.Client, prefix: str, etcdctl) -> None:
    key = prefix.encode() + b"\xfe\xff\x80"
    await client.put(key, "v")
    listing = etcdctl.get(key)
    assert listing.keys == [key]
    _same_range(await client.get(key), listing)


async def test_get_missing_key(client: aetcd.Client, prefix: str, etcdctl) -> None:
    resp = await client.get(prefix + "missing")
    assert resp.kvs == ()
    assert resp.count == 0
    assert resp.more is False
    _same_range(resp, etcdctl.get(prefix + "missing"))


async def test_put_with_lease(client: aetcd.Client, prefix: str, etcdctl) -> None:
    lease_id = etcdctl.lease_grant(60)
    await client.put(prefix + "k", "v", lease=lease_id)
    (kv,) = etcdctl.get(prefix + "k").kvs
    assert kv.lease == lease_id
    assert (await client.get(prefix + "k")).kvs[0].lease == lease_id
    # A lease handle (anything with an `id`) works as well as the id.

    class Handle:
        id = lease_id

    await client.put(prefix + "k2", "v", lease=Handle())
    assert etcdctl.get(prefix + "k2").kvs[0].lease == lease_id
    # Revoking the lease deletes the key: it really is attached.
    etcdctl.lease_revoke(lease_id)
    assert (await client.get(prefix + "k")).kvs == ()


async def test_put_prev_kv(client: aetcd.Client, prefix: str, etcdctl) -> None:
    key = prefix + "k"
    first = await client.put(key, "v1", prev_kv=True)
    assert first.prev_kv is None  # no previous key

    before = etcdctl.get(key).kvs[0]
    second = await client.put(key, "v2", prev_kv=True)
    assert second.prev_kv == before

    # Not requested: not returned, even though the key existed.
    third = await client.put(key, "v3")
    assert third.prev_kv is None

    # etcdctl's own --prev-kv agrees with what we got for the same kind of write.
    ours = await client.put(key, "v4", prev_kv=True)
    theirs = etcdctl("put", key, "v5", "--prev-kv")
    assert ours.prev_kv is not None
    assert ours.prev_kv.value == b"v3"
    assert theirs["prev_kv"]["mod_revision"] == ours.header.revision
    assert ours.prev_kv.version + 1 == theirs["prev_kv"]["version"]


async def test_put_ignore_value_keeps_the_value(client: aetcd.Client, prefix: str, etcdctl) -> None:
    key = prefix + "k"
    await client.put(key, "original")
    lease_id = etcdctl.lease_grant(60)
    try:
        resp = await client.put(key, b"", ignore_value=True, lease=lease_id, prev_kv=True)
        (kv,) = etcdctl.get(key).kvs
        assert kv.value == b"original"
        assert kv.lease == lease_id
        assert kv.version == 2
        assert kv.mod_revision == resp.header.revision
        assert resp.prev_kv is not None
        assert resp.prev_kv.value == b"original"
        assert resp.prev_kv.lease == 0
        # "" is as good as b"".
        await client.put(key, "", ignore_value=True)
        assert etcdctl.get(key).kvs[0].value == b"original"
    finally:
        etcdctl.lease_revoke(lease_id)


async def test_put_ignore_lease_keeps_the_lease(client: aetcd.Client, prefix: str, etcdctl) -> None:
    key = prefix + "k"
    lease_id = etcdctl.lease_grant(60)
    try:
        etcdctl.put(key, "v1", f"--lease={lease_id:x}")
        resp = await client.put(key, "v2", ignore_lease=True)
        (kv,) = etcdctl.get(key).kvs
        assert kv.value == b"v2"
        assert kv.lease == lease_id
        assert kv.mod_revision == resp.header.revision
        # Without ignore_lease a put detaches the lease (lease 0 is "no lease").
        await client.put(key, "v3")
        assert etcdctl.get(key).kvs[0].lease == 0
    finally:
        etcdctl.lease_revoke(lease_id)


async def test_put_ignore_value_and_ignore_lease_together(
    client: aetcd.Client, prefix: str, etcdctl
) -> None:
    key = prefix + "k"
    lease_id = etcdctl.lease_grant(60)
    try:
        etcdctl.put(key, "v1", f"--lease={lease_id:x}")
        await client.put(key, "", ignore_value=True, ignore_lease=True)
        (kv,) = etcdctl.get(key).kvs
        assert (kv.value, kv.lease, kv.version) == (b"v1", lease_id, 2)
    finally:
        etcdctl.lease_revoke(lease_id)


# --------------------------------------------------------------------------- ranges


@pytest.fixture
async def abcde(client: aetcd.Client, prefix: str) -> int:
    """Keys a..e under the prefix, plus `a/x` and a key just past the prefix range."""
    return await _put_all(
        client, {prefix + name: name.upper() for name in ["a", "a/x", "b", "c", "d", "e"]}
    )


async def test_get_range_end(client: aetcd.Client, prefix: str, etcdctl, abcde: int) -> None:
    resp = await client.get(prefix + "b", range_end=prefix + "d")
    listing = etcdctl.get(prefix + "b", prefix + "d")
    assert listing.keys == _b(prefix, "b", "c")
    _same_range(resp, listing)
    # bytes range_end works too.
    resp = await client.get(prefix + "b", range_end=(prefix + "d").encode())
    _same_range(resp, listing)


async def test_get_prefix(client: aetcd.Client, prefix: str, etcdctl, abcde: int) -> None:
    resp = await client.get(prefix + "a", prefix=True)
    listing = etcdctl.get(prefix + "a", "--prefix")
    assert listing.keys == _b(prefix, "a", "a/x")
    _same_range(resp, listing)

    whole = await client.get(prefix, prefix=True)
    assert [kv.key for kv in whole.kvs] == _b(prefix, "a", "a/x", "b", "c", "d", "e")
    _same_range(whole, etcdctl.get(prefix, "--prefix"))


async def test_get_prefix_ending_in_0xff(client: aetcd.Client, prefix: str, etcdctl) -> None:
    # A prefix ending in 0xff: its range end is the prefix with the trailing 0xff
    # bytes stripped and the last remaining byte incremented (Go's GetPrefixRangeEnd).
    base = prefix.encode() + b"p"
    keys = [base + b"\xff", base + b"\xff\x00", base + b"\xff\xff", base + b"\xff\xff\x01"]
    outside = [base, base + b"\xfe", base[:-1] + b"q"]
    for key in keys + outside:
        await client.put(key, "v")
    resp = await client.get(base + b"\xff", prefix=True)
    listing = etcdctl.get(base + b"\xff", "--prefix")
    assert listing.keys == sorted(keys)
    _same_range(resp, listing)

    resp = await client.get(base + b"\xff\xff", prefix=True)
    assert [kv.key for kv in resp.kvs] == [base + b"\xff\xff", base + b"\xff\xff\x01"]
    _same_range(resp, etcdctl.get(base + b"\xff\xff", "--prefix"))


async def test_get_from_key(client: aetcd.Client, prefix: str, etcdctl, abcde: int) -> None:
    resp = await client.get(prefix + "c", from_key=True)
    # Every key >= prefix+"c" in the whole keyspace; pin etcdctl to the same revision.
    listing = etcdctl.get(prefix + "c", "--from-key", f"--rev={resp.header.revision}")
    assert listing.keys[:3] == _b(prefix, "c", "d", "e")
    _same_range(resp, listing)


async def test_get_all_keys_with_empty_key(client: aetcd.Client, prefix: str, etcdctl) -> None:
    await client.put(prefix + "k", "v")
    for options in ({"prefix": True}, {"from_key": True}):
        resp = await client.get("", **options)
        listing = etcdctl.get("", "--from-key", f"--rev={resp.header.revision}")
        assert (prefix + "k").encode() in [kv.key for kv in resp.kvs]
        _same_range(resp, listing)


async def test_get_at_revision(client: aetcd.Client, prefix: str, etcdctl) -> None:
    key = prefix + "k"
    revisions = [(await client.put(key, f"v{i}")).header.revision for i in range(3)]
    await client.delete(key)
    await client.put(prefix + "other", "x")
    for i, revision in enumerate(revisions):
        resp = await client.get(key, revision=revision)
        listing = etcdctl.get(key, f"--rev={revision}")
        assert [kv.value for kv in listing.kvs] == [f"v{i}".encode()]
        _same_range(resp, listing)
        # A range at a revision sees only what existed then.
        resp = await client.get(prefix, prefix=True, revision=revision)
        _same_range(resp, etcdctl.get_prefix(prefix, revision))
    assert (await client.get(key)).kvs == ()


async def test_get_limit(client: aetcd.Client, prefix: str, etcdctl, abcde: int) -> None:
    for limit in (1, 2, 6, 7):
        resp = await client.get(prefix, prefix=True, limit=limit)
        listing = etcdctl.get(prefix, "--prefix", f"--limit={limit}")
        assert len(resp.kvs) == min(limit, 6)
        assert resp.count == 6
        assert resp.more is (limit < 6)
        _same_range(resp, listing)


# Data for sorting: every sort target orders the five keys differently, without ties.
#   key      a  b  c  d  e
#   version  3  1  2  4  5        (VERSION: b c a d e)
#   value    m  z  a  q  c        (VALUE:   c e a d b)
#   create   1  2  3  4  5        (CREATE:  a b c d e, same as KEY; see mod)
#   mod order of last writes:  b(create) < d < a < c < e   (MOD: b d a c e)
_SORT_WRITES = [
    ("a", "m0"),
    ("b", "z"),
    ("c", "a0"),
    ("d", "q0"),
    ("e", "c0"),
    ("d", "q1"),
    ("d", "q2"),
    ("d", "q"),
    ("a", "m1"),
    ("a", "m"),
    ("c", "a"),
    ("e", "c1"),
    ("e", "c2"),
    ("e", "c3"),
    ("e", "c"),
]
_ETCDCTL_TARGET = {
    SortTarget.KEY: "KEY",
    SortTarget.VERSION: "VERSION",
    SortTarget.CREATE: "CREATE",
    SortTarget.MOD: "MODIFY",
    SortTarget.VALUE: "VALUE",
}
_ATTRIBUTE = {
    SortTarget.KEY: "key",
    SortTarget.VERSION: "version",
    SortTarget.CREATE: "create_revision",
    SortTarget.MOD: "mod_revision",
    SortTarget.VALUE: "value",
}


@pytest.fixture
async def sortable(client: aetcd.Client, prefix: str) -> None:
    for name, value in _SORT_WRITES:
        await client.put(prefix + name, value)


@pytest.mark.parametrize("target", list(SortTarget), ids=lambda t: t.name)
@pytest.mark.parametrize("order", list(SortOrder), ids=lambda o: o.name)
async def test_get_sort(
    client: aetcd.Client,
    prefix: str,
    etcdctl,
    sortable: None,
    order: SortOrder,
    target: SortTarget,
) -> None:
    resp = await client.get(prefix, prefix=True, sort_order=order, sort_target=target)
    flags = [f"--sort-by={_ETCDCTL_TARGET[target]}"]
    if order is not SortOrder.NONE:
        flags.append(f"--order={order.name}")
    listing = etcdctl.get(prefix, "--prefix", *flags)
    _same_range(resp, listing)

    # Independently of etcdctl: the order is the one asked for. With NONE the server
    # returns key order for KEY and ascending order for any other target.
    attribute = _ATTRIBUTE[target]
    expected = sorted(resp.kvs, key=lambda kv: getattr(kv, attribute))
    if order is SortOrder.DESCEND:
        expected.reverse()
    assert list(resp.kvs) == expected

    limited = await client.get(prefix, prefix=True, sort_order=order, sort_target=target, limit=2)
    _same_range(limited, etcdctl.get(prefix, "--prefix", "--limit=2", *flags))
    assert limited.more is True
    if order is SortOrder.NONE:
        # etcd quirk (Go clients see it too): with NONE the server reads limit + 1 keys
        # in key order, sorts only those and then truncates.
        first = sorted(resp.kvs, key=lambda kv: kv.key)[:3]
        assert list(limited.kvs) == sorted(first, key=lambda kv: getattr(kv, attribute))[:2]
    else:
        # With an explicit order the whole range is sorted before the limit applies.
        assert list(limited.kvs) == expected[:2]


async def test_get_sort_order_alone_sorts_by_key(
    client: aetcd.Client, prefix: str, etcdctl, sortable: None
) -> None:
    resp = await client.get(prefix, prefix=True, sort_order=SortOrder.DESCEND)
    _same_range(resp, etcdctl.get(prefix, "--prefix", "--order=DESCEND"))
    assert [kv.key for kv in resp.kvs] == _b(prefix, "e", "d", "c", "b", "a")


async def test_get_sort_target_alone_sorts_ascending(
    client: aetcd.Client, prefix: str, etcdctl, sortable: None
) -> None:
    resp = await client.get(prefix, prefix=True, sort_target=SortTarget.VALUE)
    _same_range(resp, etcdctl.get(prefix, "--prefix", "--sort-by=VALUE", "--order=ASCEND"))
    assert [kv.value for kv in resp.kvs] == [b"a", b"c", b"m", b"q", b"z"]


async def test_get_serializable(client: aetcd.Client, prefix: str, etcdctl, abcde: int) -> None:
    resp = await client.get(prefix, prefix=True, serializable=True)
    listing = etcdctl.get(prefix, "--prefix", "--consistency=s")
    _same_range(resp, listing)
    assert resp.header.revision == abcde
    one = await client.get(prefix + "c", serializable=True)
    assert [kv.value for kv in one.kvs] == [b"C"]


async def test_get_keys_only(client: aetcd.Client, prefix: str, etcdctl, abcde: int) -> None:
    resp = await client.get(prefix, prefix=True, keys_only=True)
    listing = etcdctl.get(prefix, "--prefix", "--keys-only")
    _same_range(resp, listing)
    full = etcdctl.get(prefix, "--prefix")
    assert [kv.value for kv in resp.kvs] == [b""] * 6
    # Everything but the value is still there.
    assert [(kv.key, kv.mod_revision, kv.version) for kv in resp.kvs] == [
        (kv.key, kv.mod_revision, kv.version) for kv in full.kvs
    ]


async def test_get_count_only(client: aetcd.Client, prefix: str, etcdctl, abcde: int) -> None:
    # etcdctl 3.5 prints --count-only only with `-w fields` and 3.4 lacks it: compare
    # with the full listing instead.
    full = etcdctl.get(prefix, "--prefix")
    resp = await client.get(prefix, prefix=True, count_only=True)
    assert resp.kvs == ()
    assert resp.count == full.count == 6
    assert resp.more is False
    ranged = await client.get(prefix + "b", range_end=prefix + "e", count_only=True)
    assert (
        ranged.count
        == len([k for k in full.keys if (prefix + "b").encode() <= k < (prefix + "e").encode()])
        == 3
    )
    missing = await client.get(prefix + "zz", count_only=True)
    assert missing.count == 0


@pytest.fixture
async def history(client: aetcd.Client, prefix: str) -> None:
    # Keys created and modified at different revisions, so each revision filter selects
    # a different subset.
    for name, value in [("a", "1"), ("b", "1"), ("c", "1"), ("a", "2"), ("d", "1"), ("b", "2")]:
        await client.put(prefix + name, value)
    await client.put(prefix + "e", "1")
    await client.put(prefix + "c", "2")


_REVISION_FILTERS = [
    "min_mod_revision",
    "max_mod_revision",
    "min_create_revision",
    "max_create_revision",
]


def _keep(kv: aetcd.KeyValue, bounds: dict[str, int]) -> bool:
    checks = {
        "min_mod_revision": lambda bound: kv.mod_revision >= bound,
        "max_mod_revision": lambda bound: kv.mod_revision <= bound,
        "min_create_revision": lambda bound: kv.create_revision >= bound,
        "max_create_revision": lambda bound: kv.create_revision <= bound,
    }
    return all(checks[name](bound) for name, bound in bounds.items())


async def test_get_revision_filters(
    client: aetcd.Client, prefix: str, etcdctl, history: None
) -> None:
    # etcdctl has no flags for these filters: derive the expected subset from its full
    # listing.
    full = etcdctl.get(prefix, "--prefix")
    create = sorted({kv.create_revision for kv in full.kvs})
    mod = sorted({kv.mod_revision for kv in full.kvs})
    middle = {
        "min_mod_revision": mod[len(mod) // 2],
        "max_mod_revision": mod[len(mod) // 2],
        "min_create_revision": create[len(create) // 2],
        "max_create_revision": create[len(create) // 2],
    }
    cases: list[dict[str, int]] = [{name: middle[name]} for name in _REVISION_FILTERS]
    cases += [
        {"min_mod_revision": mod[1], "max_mod_revision": mod[-2]},
        {"min_create_revision": create[1], "max_create_revision": create[-2]},
        {"min_mod_revision": mod[2], "max_create_revision": create[-2]},
        dict(middle),
        {"min_mod_revision": mod[-1] + 1},  # nothing that new
    ]
    for bounds in cases:
        resp = await client.get(prefix, prefix=True, **bounds)
        expected = tuple(kv for kv in full.kvs if _keep(kv, bounds))
        assert resp.kvs == expected, bounds
        # etcd filters after counting: count is the size of the whole range.
        assert resp.count == full.count
    some = [kv for kv in full.kvs if _keep(kv, {"min_mod_revision": mod[1]})]
    assert 1 < len(some) < len(full.kvs)

    # With a limit, the filter applies first and `more` reports what was cut.
    limited = await client.get(prefix, prefix=True, limit=1, min_mod_revision=mod[1])
    assert limited.kvs == (some[0],)
    assert limited.more is True


# --------------------------------------------------------------------------- delete


async def test_delete_single_key(client: aetcd.Client, prefix: str, etcdctl, abcde: int) -> None:
    resp = await client.delete(prefix + "c")
    assert resp.deleted == 1
    assert resp.prev_kvs == ()
    assert resp.header.revision == abcde + 1
    assert etcdctl.get(prefix + "c").kvs == ()
    assert etcdctl.get(prefix, "--prefix").keys == _b(prefix, "a", "a/x", "b", "d", "e")
    # Deleting a missing key deletes nothing and creates no revision.
    again = await client.delete(prefix + "c")
    assert again.deleted == 0
    assert again.header.revision == resp.header.revision


async def test_delete_range_end_with_prev_kv(
    client: aetcd.Client, prefix: str, etcdctl, abcde: int
) -> None:
    before = etcdctl.get(prefix + "b", prefix + "e")
    resp = await client.delete(prefix + "b", range_end=prefix + "e", prev_kv=True)
    assert resp.deleted == 3
    assert resp.prev_kvs == before.kvs
    assert etcdctl.get(prefix, "--prefix").keys == _b(prefix, "a", "a/x", "e")


async def test_delete_prefix(client: aetcd.Client, prefix: str, etcdctl, abcde: int) -> None:
    before = etcdctl.get(prefix + "a", "--prefix")
    resp = await client.delete(prefix + "a", prefix=True, prev_kv=True)
    assert resp.deleted == 2
    assert resp.prev_kvs == before.kvs
    assert etcdctl.get(prefix, "--prefix").keys == _b(prefix, "b", "c", "d", "e")

    resp = await client.delete(prefix, prefix=True)
    assert resp.deleted == 4
    assert resp.prev_kvs == ()
    assert etcdctl.get(prefix, "--prefix").count == 0


async def test_delete_from_key(client: aetcd.Client, prefix: str, etcdctl) -> None:
    # `from_key` deletes every key >= the key in the whole keyspace: work at the very
    # end of it (0xff...) so that nothing but this test's keys can be affected.
    root = b"\xff" + prefix.encode()
    keys = [root + name for name in (b"a", b"b", b"c", b"d")]
    try:
        for key in keys:
            await client.put(key, "v")
        before = etcdctl.get(root + b"b", "--from-key")
        assert before.keys == keys[1:]
        resp = await client.delete(root + b"b", from_key=True, prev_kv=True)
        assert resp.deleted == 3
        assert resp.prev_kvs == before.kvs
        assert etcdctl.get(root, "--from-key").keys == keys[:1]
    finally:
        await client.delete(root, prefix=True)


async def test_delete_matches_etcdctl_del(client: aetcd.Client, prefix: str, etcdctl) -> None:
    for name in "abc":
        await client.put(prefix + name, name)
    ours = await client.delete(prefix + "a", prev_kv=True)
    theirs = etcdctl("del", prefix + "b", "--prev-kv")
    assert ours.deleted == theirs["deleted"] == 1
    assert ours.prev_kvs[0].value == b"a"
    assert theirs["header"]["revision"] == ours.header.revision + 1


# --------------------------------------------------------------------------- compact


async def test_compact(client: aetcd.Client, prefix: str, etcdctl) -> None:
    key = prefix + "k"
    revisions = [(await client.put(key, f"v{i}")).header.revision for i in range(4)]
    resp = await client.compact(revisions[2])
    assert resp.header.revision == revisions[-1]

    # Revisions before the compaction are gone, for aetcd and for etcdctl alike.
    with pytest.raises(aetcd.CompactedError):
        await client.get(key, revision=revisions[1])
    with pytest.raises(EtcdctlError, match="required revision has been compacted"):
        etcdctl.get(key, f"--rev={revisions[1]}")
    # The compaction revision itself and later ones stay readable.
    for revision in revisions[2:]:
        _same_range(await client.get(key, revision=revision), etcdctl.get(key, f"--rev={revision}"))
    # Compacting again at or below the compacted revision is refused.
    with pytest.raises(aetcd.CompactedError):
        await client.compact(revisions[2])


async def test_compact_physical(client: aetcd.Client, prefix: str, etcdctl) -> None:
    key = prefix + "k"
    revisions = [(await client.put(key, f"v{i}")).header.revision for i in range(3)]
    resp = await client.compact(revisions[1], physical=True)
    assert resp.header.revision >= revisions[-1]
    with pytest.raises(aetcd.CompactedError):
        await client.get(key, revision=revisions[0])
    # etcdctl sees the same compaction: compacting the same revision again fails.
    with pytest.raises(EtcdctlError, match="required revision has been compacted"):
        etcdctl.text("compaction", "--physical", revisions[1])
    assert [kv.value for kv in (await client.get(key, revision=revisions[1])).kvs] == [b"v1"]


# --------------------------------------------------------------------------- scan


@pytest.fixture
async def many(client: aetcd.Client, prefix: str) -> list[bytes]:
    keys = [f"{prefix}{i:03d}" for i in range(25)]
    for i, key in enumerate(keys):
        await client.put(key, f"value-{i}")
    return [key.encode() for key in keys]


@pytest.mark.parametrize("page_size", [1, 7, 25, 26, 1000])
async def test_scan_pages(
    client: aetcd.Client, prefix: str, etcdctl, many: list[bytes], page_size: int
) -> None:
    seen = [kv async for kv in client.scan(prefix, page_size=page_size)]
    listing = etcdctl.get(prefix, "--prefix")
    assert listing.keys == many
    assert tuple(seen) == listing.kvs


async def test_scan_range_end_from_key_and_keys_only(
    client: aetcd.Client, prefix: str, etcdctl, many: list[bytes]
) -> None:
    start, end = many[5], many[17]
    seen = [kv async for kv in client.scan(start, range_end=end, page_size=4)]
    assert tuple(seen) == etcdctl.get(start, end).kvs
    assert [kv.key for kv in seen] == many[5:17]

    seen = [kv async for kv in client.scan(many[20], from_key=True, page_size=2)]
    listing = etcdctl.get(many[20], "--from-key")
    assert tuple(seen) == listing.kvs
    assert [kv.key for kv in seen][:5] == many[20:]

    seen = [kv async for kv in client.scan(prefix, page_size=6, keys_only=True)]
    assert tuple(seen) == etcdctl.get(prefix, "--prefix", "--keys-only").kvs
    assert {kv.value for kv in seen} == {b""}


async def test_scan_empty_range(client: aetcd.Client, prefix: str) -> None:
    assert [kv async for kv in client.scan(prefix + "nothing/", page_size=3)] == []


async def test_scan_reads_one_revision_while_keys_change(
    client: aetcd.Client, prefix: str, etcdctl, many: list[bytes]
) -> None:
    snapshot = etcdctl.get(prefix, "--prefix")
    seen: list[aetcd.KeyValue] = []
    async for kv in client.scan(prefix, page_size=4):
        seen.append(kv)
        if len(seen) == 2:
            # Writes behind and ahead of the cursor, new keys in and around the range,
            # an update and a delete of keys not read yet.
            await client.put(prefix + "000a", "new, behind")
            await client.put(prefix + "0105", "new, ahead")
            await client.put(prefix + "zzz", "new, at the end")
            await client.put(many[10], "changed")
            await client.delete(many[20])
    assert tuple(seen) == snapshot.kvs
    assert max(kv.mod_revision for kv in seen) <= snapshot.revision
    # The writes did happen.
    now = etcdctl.get(prefix, "--prefix")
    assert now.count == 25 + 3 - 1


async def test_scan_at_revision(
    client: aetcd.Client, prefix: str, etcdctl, many: list[bytes]
) -> None:
    revision = (await client.get(prefix + "any")).header.revision
    for key in many[::3]:
        await client.put(key, "later")
    await client.delete(many[1])
    seen = [kv async for kv in client.scan(prefix, page_size=5, revision=revision)]
    assert tuple(seen) == etcdctl.get_prefix(prefix, revision).kvs
    assert {kv.value for kv in seen}.isdisjoint({b"later"})
    assert len(seen) == 25


async def test_scan_compacted_revision(
    client: aetcd.Client, prefix: str, many: list[bytes]
) -> None:
    old = (await client.get(prefix + "any")).header.revision
    new = (await client.put(prefix + "x", "x")).header.revision
    await client.compact(new)
    with pytest.raises(aetcd.CompactedError):
        async for _ in client.scan(prefix, revision=old):
            pass


def test_sort_data_has_no_ties() -> None:
    # Guard for the sort tests: with ties the server's sort could order equal elements
    # either way, and the expected order would be ambiguous.
    versions: dict[str, int] = {}
    values: dict[str, str] = {}
    for name, value in _SORT_WRITES:
        versions[name] = versions.get(name, 0) + 1
        values[name] = value
    assert sorted(versions.values()) == [1, 2, 3, 4, 5]
    assert sorted(values, key=values.__getitem__) == ["c", "e", "a", "d", "b"]
    last_write = {name: i for i, (name, _) in enumerate(_SORT_WRITES)}
    assert sorted(last_write, key=last_write.__getitem__) == ["b", "d", "a", "c", "e"]
