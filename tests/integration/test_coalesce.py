"""Coalesced reads (`ClientConfig.coalesce_reads`) against a real etcd member.

Gets issued in the same loop iteration while others are in progress travel as one Txn
of Range operations (so in a burst on an idle client, the first get goes alone and
the others together). These tests count the RPCs etcd actually handled (its
Prometheus counters) and check that every caller sees what a get of its own would
have returned: the same key-values, counts and headers, the same errors, its own
deadline and its own cancellation.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import pytest

import aetcd
from aetcd import SortOrder, SortTarget
from aetcd import _rpcs as rpc
from aetcd.testing import EtcdServer

_HANDLED = re.compile(r"^grpc_server_handled_total\{([^}]*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


async def handled(url: str) -> Counter[tuple[str, str]]:
    """KV RPCs the member at `url` has handled, by (method, gRPC code)."""

    def fetch() -> str:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
            return resp.read().decode()  # type: ignore[no-any-return]

    counts: Counter[tuple[str, str]] = Counter()
    for labels, value in _HANDLED.findall(await anyio.to_thread.run_sync(fetch)):
        label = dict(_LABEL.findall(labels))
        if label.get("grpc_service") == "etcdserverpb.KV":
            counts[label["grpc_method"], label["grpc_code"]] += int(float(value))
    return counts


class Calls:
    """The KV RPCs a member handles during a `with` block: `calls.of("Txn")`, ..."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.delta: Counter[tuple[str, str]] = Counter()

    async def __aenter__(self) -> Calls:
        self._before = await handled(self.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.delta = await handled(self.url) - self._before

    def of(self, method: str, code: str | None = None) -> int:
        return sum(n for (m, c), n in self.delta.items() if m == method and code in (None, c))


async def burst(calls: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Start every call in the same loop iteration; their results or exceptions."""
    return await asyncio.gather(*(call() for call in calls), return_exceptions=True)


async def put_keys(client: aetcd.Client, prefix: str, n: int) -> list[aetcd.PutResponse]:
    return [await client.put(f"{prefix}{i:03}", f"v{i}") for i in range(n)]


# ------------------------------------------------------------------------- coalescing


async def test_a_burst_of_gets_is_a_few_txns(
    client: aetcd.Client, etcd_server: EtcdServer, prefix: str
) -> None:
    await put_keys(client, prefix, 10)
    keys = [f"{prefix}{i % 12:03}" for i in range(200)]  # 2 of the 12 do not exist
    async with Calls(etcd_server.client_url) as calls:
        results = await burst([lambda k=k: client.get(k) for k in keys])
    # 200 reads: the first alone (nothing else was in progress), then one Txn of 128
    # Range operations and one of 71.
    assert calls.of("Txn") == calls.of("Txn", "OK") == 2
    assert calls.of("Range") == 1
    alone = [await client.get(k) for k in keys]
    assert results == alone
    assert [r.kvs[0].value if r.kvs else None for r in results[:12]] == [
        *(f"v{i}".encode() for i in range(10)),
        None,
        None,
    ]


async def test_a_get_alone_is_a_plain_range(
    client: aetcd.Client, etcd_server: EtcdServer, prefix: str
) -> None:
    await client.put(prefix + "k", "v")
    async with Calls(etcd_server.client_url) as calls:
        for _ in range(5):
            assert (await client.get(prefix + "k")).kvs[0].value == b"v"
    assert calls.of("Range", "OK") == 5
    assert calls.of("Txn") == 0


async def test_without_coalescing_no_txn_is_sent(etcd_server: EtcdServer, prefix: str) -> None:
    async with aetcd.Client(etcd_server.endpoint, coalesce_reads=False) as client:
        await client.put(prefix + "k", "v")
        async with Calls(etcd_server.client_url) as calls:
            results = await burst([lambda: client.get(prefix + "k")] * 50)
    assert all(r.kvs[0].value == b"v" for r in results)
    assert calls.of("Range", "OK") == 50
    assert calls.of("Txn") == 0


async def test_a_client_used_without_async_with_sends_ranges(
    etcd_server: EtcdServer, prefix: str
) -> None:
    # No task group to send a batch from: every get is sent alone.
    client = aetcd.Client(etcd_server.endpoint)
    try:
        await client.put(prefix + "k", "v")
        async with Calls(etcd_server.client_url) as calls:
            results = await burst([lambda: client.get(prefix + "k")] * 10)
    finally:
        await client.close()
    assert all(r.kvs[0].value == b"v" for r in results)
    assert (calls.of("Range", "OK"), calls.of("Txn")) == (10, 0)


def _option_mix(prefix: str, revisions: list[int]) -> list[dict[str, Any]]:
    first, last = revisions[0], revisions[-1]
    return [
        {"key": prefix + "001"},
        {"key": prefix + "missing"},
        {"key": prefix, "prefix": True},
        {"key": prefix, "prefix": True, "limit": 3},
        {"key": prefix, "prefix": True, "keys_only": True},
        {"key": prefix, "prefix": True, "count_only": True},
        {"key": prefix + "002", "range_end": prefix + "006"},
        {"key": prefix + "007", "from_key": True, "limit": 2},
        {"key": prefix, "prefix": True, "sort_target": SortTarget.MOD},
        {
            "key": prefix,
            "prefix": True,
            "sort_target": SortTarget.VALUE,
            "sort_order": SortOrder.DESCEND,
            "limit": 4,
        },
        {"key": prefix, "prefix": True, "min_mod_revision": revisions[3]},
        {"key": prefix, "prefix": True, "max_mod_revision": revisions[5]},
        {"key": prefix, "prefix": True, "min_create_revision": revisions[2]},
        {"key": prefix, "prefix": True, "max_create_revision": revisions[8]},
        {"key": prefix + "004", "revision": first},  # before the key existed
        {"key": prefix, "prefix": True, "revision": revisions[4]},
        {"key": prefix + "000", "revision": last},
        {"key": prefix + "003", "serializable": True},
        {"key": prefix, "prefix": True, "serializable": True, "limit": 2},
        {"key": prefix, "prefix": True, "serializable": True, "count_only": True},
    ]


async def test_results_and_headers_equal_separate_gets(
    client: aetcd.Client, etcd_server: EtcdServer, prefix: str
) -> None:
    revisions = [r.header.revision for r in await put_keys(client, prefix, 10)]
    await client.put(prefix + "003", "rewritten")  # a key with version 2
    options = _option_mix(prefix, revisions)
    async with Calls(etcd_server.client_url) as calls:
        together = await burst([lambda o=o: client.get(**o) for o in options])
    # The first alone; linearizable and serializable reads in separate Txns.
    assert (calls.of("Txn", "OK"), calls.of("Range")) == (2, 1)
    async with aetcd.Client(etcd_server.endpoint, coalesce_reads=False) as plain:
        alone = [await plain.get(**o) for o in options]
    for o, got, want in zip(options, together, alone, strict=True):
        assert got == want, o  # kvs, count, more and the whole header
    header = alone[0].header
    assert all((header.cluster_id, header.member_id, header.raft_term))
    assert header.revision == revisions[-1] + 1
    assert {r.header for r in together} == {header}


async def test_namespaced_gets_coalesce(
    client: aetcd.Client, etcd_server: EtcdServer, prefix: str
) -> None:
    ns = client.with_namespace(prefix + "ns/")
    for i in range(5):
        await ns.put(f"k{i}", f"v{i}")
    await client.put(prefix + "ns0", "outside")
    reads: list[dict[str, Any]] = [{"key": f"k{i}"} for i in range(6)]
    reads += [{"key": "", "prefix": True}, {"key": "k2", "from_key": True}]
    async with Calls(etcd_server.client_url) as calls:
        together = await burst([lambda o=o: ns.get(**o) for o in reads])
    assert (calls.of("Txn", "OK"), calls.of("Range")) == (1, 1)
    alone = []
    for o in reads:
        alone.append(await ns.get(**o))
    assert together == alone
    assert [kv.key for kv in together[6].kvs] == [f"k{i}".encode() for i in range(5)]
    assert [kv.key for kv in together[7].kvs] == [b"k2", b"k3", b"k4"]


# --------------------------------------------------------------------------- fallback


async def test_a_compacted_or_future_revision_fails_only_its_own_get(
    client: aetcd.Client, etcd_server: EtcdServer, prefix: str
) -> None:
    revisions = [r.header.revision for r in await put_keys(client, prefix, 4)]
    await client.compact(revisions[2])
    options: list[dict[str, Any]] = [{"key": f"{prefix}{i:03}"} for i in range(4)]
    options.insert(1, {"key": prefix + "000", "revision": revisions[0]})  # compacted
    options.insert(3, {"key": prefix + "000", "revision": revisions[-1] + 1000})  # future
    async with Calls(etcd_server.client_url) as calls:
        results = await burst([lambda o=o: client.get(**o) for o in options])
    assert isinstance(results[1], aetcd.CompactedError)
    assert isinstance(results[3], aetcd.FutureRevisionError)
    good = [r for i, r in enumerate(results) if i not in (1, 3)]
    assert [r.kvs[0].value for r in good] == [b"v0", b"v1", b"v2", b"v3"]
    # The Txn of the five after the first was refused as a whole; then each of them
    # was sent alone, once.
    assert calls.of("Txn") == 1
    assert calls.of("Txn", "OK") == 0
    assert calls.of("Range") == 6
    assert calls.of("Range", "OK") == 4


async def test_a_burst_larger_than_a_txn_is_split(
    client: aetcd.Client, etcd_server: EtcdServer, prefix: str
) -> None:
    await put_keys(client, prefix, 300)
    keys = [f"{prefix}{i:03}" for i in range(300)]
    async with Calls(etcd_server.client_url) as calls:
        results = await burst([lambda k=k: client.get(k) for k in keys])
    assert (calls.of("Txn", "OK"), calls.of("Range")) == (3, 1)  # 1, then 128 + 128 + 43
    # Every caller got its own key, none lost or swapped.
    assert [r.kvs[0].value for r in results] == [f"v{i}".encode() for i in range(300)]


async def test_a_server_with_fewer_txn_ops_gets_smaller_batches(prefix: str) -> None:
    with EtcdServer(extra_args=["--max-txn-ops", "8"], name="maxops") as server:
        async with aetcd.Client(server.endpoint) as client:
            await put_keys(client, prefix, 20)
            keys = [f"{prefix}{i:03}" for i in range(20)]
            want = [f"v{i}".encode() for i in range(20)]
            rounds = []
            for _ in range(3):
                async with Calls(server.client_url) as calls:
                    results = await burst([lambda k=k: client.get(k) for k in keys])
                assert [r.kvs[0].value for r in results] == want
                rounds.append((calls.of("Txn"), calls.of("Txn", "OK"), calls.of("Range", "OK")))
    # Each refusal (too many operations) halves the batches. The first read of a burst
    # goes alone, the other 19 in one Txn, refused, then sent alone; then two Txns of
    # 10 and 9, refused; then Txns of 5, 5, 5 and 4, accepted.
    assert rounds == [(1, 0, 20), (2, 0, 20), (4, 4, 1)]


async def test_a_batch_over_the_send_limit_goes_read_by_read(
    etcd_server: EtcdServer, prefix: str
) -> None:
    # The client refuses to send the Txn (over max_send_bytes); each get fits.
    key = prefix + "k" * 300
    async with aetcd.Client(etcd_server.endpoint, max_send_bytes=1000) as client:
        await client.put(key, "v")
        async with Calls(etcd_server.client_url) as calls:
            results = await burst([lambda: client.get(key)] * 8)
    assert [r.kvs[0].value for r in results] == [b"v"] * 8
    assert (calls.of("Txn"), calls.of("Range", "OK")) == (0, 8)


# ------------------------------------------------------ cancellation, close, deadlines


class TxnSpy:
    """Wraps a client's `_call` to tell when the batch's Txn has been sent."""

    def __init__(self, client: aetcd.Client) -> None:
        self.sent = asyncio.Event()
        call = client._call

        async def spy(method: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if method is rpc.TXN:
                self.sent.set()
            return await call(method, request, *args, **kwargs)

        client._call = spy  # type: ignore[method-assign]

    async def wait(self) -> None:
        with anyio.fail_after(5):
            await self.sent.wait()
        # The request is written in the same step as the call (the connection is up);
        # one more iteration for good measure.
        await asyncio.sleep(0)


async def held_in_flight(client: aetcd.Client, proxy: Any, keys: list[str]) -> list[Any]:
    """Tasks getting `keys`, started with `proxy` black-holed: returns once their Txn
    is on its way, held back by the proxy until `restore()` (or lost by `cut()`)."""
    spy = TxnSpy(client)
    proxy.blackhole()
    tasks = [asyncio.create_task(client.get(k)) for k in keys]
    await spy.wait()
    return tasks


async def test_cancelling_one_waiter_leaves_the_others_intact(
    etcd_server: EtcdServer, etcd_proxy_factory: Any, prefix: str
) -> None:
    proxy = etcd_proxy_factory(etcd_server.member)
    async with aetcd.Client(proxy.url, probe_after=60) as client:
        await put_keys(client, prefix, 6)
        async with Calls(etcd_server.client_url) as calls:
            tasks = await held_in_flight(client, proxy, [f"{prefix}{i:03}" for i in range(6)])
            tasks[2].cancel()
            proxy.restore()
            with anyio.fail_after(10):
                results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[2], asyncio.CancelledError)
        others = [r for i, r in enumerate(results) if i != 2]
        assert [r.kvs[0].value for r in others] == [b"v0", b"v1", b"v3", b"v4", b"v5"]
        assert (calls.of("Txn", "OK"), calls.of("Range")) == (1, 1)  # the first went alone
        # The client carries on.
        assert (await client.get(prefix + "002")).kvs[0].value == b"v2"


async def test_close_while_a_batch_is_in_flight(
    etcd_server: EtcdServer, etcd_proxy_factory: Any, prefix: str
) -> None:
    proxy = etcd_proxy_factory(etcd_server.member)
    async with aetcd.Client(proxy.url, timeout=30, probe_after=60) as client:
        await client.get(prefix + "k")
        tasks = await held_in_flight(client, proxy, [f"{prefix}{i}" for i in range(10)])
        running = asyncio.all_tasks() - {*tasks, asyncio.current_task()}
        assert any(t.get_name() == "aetcd coalesced reads" for t in running), running
        start = time.monotonic()
        with anyio.fail_after(5):
            await client.close()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        assert time.monotonic() - start < 3
    assert all(isinstance(r, aetcd.EtcdError) for r in results), results
    # Nothing of the client's is left running: not its task group, not the batch.
    assert [t for t in running if not t.done()] == []
    proxy.restore()


async def test_a_lost_connection_sends_each_get_again_alone(
    etcd_server: EtcdServer, etcd_proxy_factory: Any, prefix: str
) -> None:
    # A Txn is never resent once it may have reached a server; its reads are, one by
    # one (a Range is idempotent), on a new connection.
    proxy = etcd_proxy_factory(etcd_server.member)
    async with aetcd.Client(proxy.url, probe_after=60) as client:
        await put_keys(client, prefix, 6)
        async with Calls(etcd_server.client_url) as calls:
            tasks = await held_in_flight(client, proxy, [f"{prefix}{i:03}" for i in range(6)])
            proxy.cut()  # the Txn, held back by the proxy, never reaches etcd
            proxy.restore()
            with anyio.fail_after(10):
                results = await asyncio.gather(*tasks)
    assert [r.kvs[0].value for r in results] == [f"v{i}".encode() for i in range(6)]
    assert (calls.of("Txn"), calls.of("Range", "OK")) == (0, 6)


async def test_a_short_deadline_applies_to_its_own_get_only(
    etcd_server: EtcdServer, etcd_proxy_factory: Any, prefix: str
) -> None:
    proxy = etcd_proxy_factory(etcd_server.member)
    async with aetcd.Client(proxy.url, timeout=10, probe_after=60) as client:
        await put_keys(client, prefix, 4)
        spy = TxnSpy(client)
        proxy.blackhole()
        start = time.monotonic()
        async with Calls(etcd_server.client_url) as calls:
            first = asyncio.create_task(client.get(prefix + "000"))  # goes alone
            short = asyncio.create_task(client.get(prefix + "000", timeout=0.3))
            tasks = [asyncio.create_task(client.get(f"{prefix}{i:03}")) for i in range(1, 4)]
            await spy.wait()
            with pytest.raises(aetcd.DeadlineExceededError) as info:
                await short
            elapsed = time.monotonic() - start
            proxy.restore()
            with anyio.fail_after(10):
                results = await asyncio.gather(first, *tasks)
        assert isinstance(info.value, TimeoutError)
        assert 0.25 < elapsed < 2
        assert [r.kvs[0].value for r in results] == [b"v0", b"v1", b"v2", b"v3"]
        # The batch's deadline is its latest member's: the Txn itself was not cut short.
        assert (calls.of("Txn", "OK"), calls.of("Range")) == (1, 1)


async def test_a_tiny_deadline_in_a_burst(client: aetcd.Client, prefix: str) -> None:
    await client.put(prefix + "k", "v")
    get = lambda: client.get(prefix + "k")  # noqa: E731
    results = await burst([get, lambda: client.get(prefix + "k", timeout=1e-4), get, get])
    assert isinstance(results[1], aetcd.DeadlineExceededError)  # in the batch
    assert [results[i].kvs[0].value for i in (0, 2, 3)] == [b"v"] * 3
