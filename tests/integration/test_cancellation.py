"""Client lifecycle and cancellation: close, closed-client errors, use without
`async with` or from a loop created later, calls cancelled mid-flight (the client stays
consistent, nothing leaks), and deadlines that are too short to be met."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
import warnings
from collections.abc import Iterator

import anyio
import grpclib.client
import pytest

import aetcd
from aetcd import Compare, Op
from aetcd.testing import EtcdServer


def _open_sockets() -> int:
    """Sockets this process holds (Linux): a leaked connection shows up here."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


async def _settle() -> None:
    # Transports close on the next loop iterations after close().
    for _ in range(3):
        await asyncio.sleep(0.01)


@pytest.fixture
def all_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Records every warning emitted during the test (check with `_no_warnings`), and
    keeps the ResourceWarnings of objects collected at its end from leaking into
    whichever later test would otherwise collect them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
        gc.collect()


def _no_warnings(caught: list[warnings.WarningMessage]) -> None:
    # Collect first: an unclosed connection is reported when its object is collected.
    gc.collect()
    assert [str(w.message) for w in caught] == []


# --------------------------------------------------------------------------- lifecycle


async def test_close_is_idempotent(etcd_server: EtcdServer) -> None:
    client = aetcd.Client(etcd_server.endpoint)
    await client.get("any")
    assert client.closed is False
    await client.close()
    assert client.closed is True
    await client.close()
    assert client.closed is True

    async with aetcd.Client(etcd_server.endpoint) as client:
        await client.get("any")
        await client.close()
        await client.close()
    await client.close()  # and after the block
    assert client.closed is True


async def test_calls_after_close_raise_client_closed(etcd_server: EtcdServer, prefix: str) -> None:
    async with aetcd.Client(etcd_server.endpoint) as client:
        await client.put(prefix + "k", "v")
    calls = [
        client.get(prefix + "k"),
        client.put(prefix + "k", "v"),
        client.delete(prefix + "k"),
        client.txn(success=[Op.get(prefix + "k")]),
        client.compact(1),
    ]
    for call in calls:
        with pytest.raises(aetcd.ClientClosedError) as info:
            await call
        assert isinstance(info.value, aetcd.EtcdError)
    with pytest.raises(aetcd.ClientClosedError):
        async for _ in client.scan(prefix):
            pass
    with pytest.raises(aetcd.ClientClosedError):
        async with client:
            pass
    # Bad arguments are still reported as such (they are checked first).
    with pytest.raises(aetcd.EmptyKeyError):
        await client.get("")


async def test_entering_a_client_twice_is_a_usage_error(etcd_server: EtcdServer) -> None:
    # API.md: everything raised derives from aetcd.EtcdError.
    async with aetcd.Client(etcd_server.endpoint) as client:
        with pytest.raises(aetcd.EtcdError):
            async with client:
                pass
        await client.get("any")  # still usable


async def test_unary_calls_work_without_async_with(
    etcd_server: EtcdServer, prefix: str, all_warnings: list[warnings.WarningMessage]
) -> None:
    sockets = _open_sockets()
    client = aetcd.Client(etcd_server.endpoint)
    put = await client.put(prefix + "k", "v")
    assert [kv.value for kv in (await client.get(prefix + "k")).kvs] == [b"v"]
    resp = await client.txn(compare=[Compare.mod_revision(prefix + "k") == put.header.revision])
    assert resp.succeeded is True
    assert [kv.key async for kv in client.scan(prefix)] == [(prefix + "k").encode()]
    assert (await client.delete(prefix + "k")).deleted == 1
    # Background services need the task group of `async with`; the client says so.
    with pytest.raises(aetcd.ClientClosedError, match="async with"):
        client.task_group  # noqa: B018
    await client.close()
    await _settle()
    assert _open_sockets() == sockets
    _no_warnings(all_warnings)


def test_client_created_outside_an_event_loop(etcd_server: EtcdServer, prefix: str) -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    client = aetcd.Client(etcd_server.endpoint)
    entered = aetcd.Client(etcd_server.endpoint)

    async def use() -> bytes:
        await client.put(prefix + "k", "v")
        value = (await client.get(prefix + "k")).kvs[0].value
        await client.close()
        async with entered:
            await entered.delete(prefix + "k")
        return value

    assert asyncio.run(use()) == b"v"
    # anyio's runner works the same way.
    other = aetcd.Client(etcd_server.endpoint)

    async def use_other() -> int:
        async with other:
            return (await other.get(prefix + "k")).count

    assert anyio.run(use_other) == 0


@pytest.fixture
def loopless_client(etcd_server: EtcdServer) -> aetcd.Client:
    """Created by a synchronous fixture, before the test's event loop runs."""
    return aetcd.Client(etcd_server.endpoint)


async def test_client_from_a_sync_fixture(loopless_client: aetcd.Client, prefix: str) -> None:
    async with loopless_client as client:
        await client.put(prefix + "k", "v")
        assert (await client.get(prefix + "k")).count == 1


async def test_close_ends_calls_in_flight(etcd_server: EtcdServer, etcd_proxy_factory) -> None:
    # Calls stuck on a silent member end promptly when the client is closed, with an
    # aetcd error, instead of waiting for their deadline.
    proxy = etcd_proxy_factory(etcd_server.member)
    client = aetcd.Client(proxy.url, timeout=30, probe_after=60)
    await client.get("any")
    proxy.blackhole()
    outcomes: list[BaseException | None] = []

    async def call(i: int) -> None:
        try:
            if i % 2:
                await client.get("k")
            else:
                await client.put("k", "v")
        except Exception as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)

    start = time.monotonic()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(call, i)
            await anyio.sleep(0.2)
            await client.close()
    assert time.monotonic() - start < 3
    assert len(outcomes) == 10
    assert all(isinstance(exc, aetcd.EtcdError) for exc in outcomes), outcomes
    proxy.restore()


def _close_open_channels() -> int:
    """Close every grpclib channel still connected; returns how many there were.

    Used only to contain a leak once detected, so that the connections' warnings do
    not surface in whichever later test happens to collect them."""
    leaked = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, grpclib.client.Channel) and obj._protocol is not None
    ]
    for channel in leaked:
        channel.close()
    return len(leaked)


async def _get_outcome(client: aetcd.Client, outcomes: list[str]) -> None:
    try:
        await client.get("any")
        outcomes.append("ok")
    except aetcd.EtcdError as exc:
        outcomes.append(type(exc).__name__)


async def test_close_while_connecting_leaks_nothing(
    etcd_server: EtcdServer, all_warnings: list[warnings.WarningMessage]
) -> None:
    # close() while the first calls are still establishing the connection: the calls
    # end (answered, or ClientClosedError), and no connection outlives the client.
    sockets = _open_sockets()
    leaks: dict[float, int] = {}
    for delay in (0, 0.0001, 0.0005, 0.001, 0.002):
        client = aetcd.Client(etcd_server.endpoint)
        outcomes: list[str] = []
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(_get_outcome, client, outcomes)
            await anyio.sleep(delay)
            await client.close()
        assert set(outcomes) <= {"ok", "ClientClosedError"}, outcomes
        await _settle()
        if _open_sockets() != sockets:
            leaks[delay] = _close_open_channels()
            await _settle()
    assert leaks == {}, f"close() after {{delay: open channels}} left them open: {leaks}"
    _no_warnings(all_warnings)


# --------------------------------------------------------------------------- cancellation


CALLS = 1500


async def test_random_cancellations_leave_the_client_consistent(
    etcd_server: EtcdServer, prefix: str, etcdctl, all_warnings: list[warnings.WarningMessage]
) -> None:
    rng = random.Random(1234)
    keys = [f"{prefix}{i}" for i in range(8)]
    written: dict[str, set[bytes]] = {key: set() for key in keys}
    stats = {"cancelled": 0, "deadline": 0, "completed": 0}
    sockets = _open_sockets()
    tasks_before = asyncio.all_tasks()

    async def call(client: aetcd.Client, n: int, timeout: float | None) -> None:
        key = rng.choice(keys)
        value = f"v{n}".encode()
        options = {} if timeout is None else {"timeout": timeout}
        kind = n % 5
        if kind == 0:
            await client.get(key, **options)
        elif kind == 1:
            written[key].add(value)
            await client.put(key, value, **options)
        elif kind == 2:
            written[key].add(value)
            await client.txn(
                compare=[Compare.version(key) != 12345],
                success=[Op.put(key, value), Op.get(prefix, prefix=True)],
                failure=[Op.get(key)],
                **options,
            )
        elif kind == 3:
            await client.get(prefix, prefix=True, limit=3, **options)
        else:
            async for _ in client.scan(prefix, page_size=2, **options):
                pass

    async def one(client: aetcd.Client, n: int) -> None:
        # Log-uniform from 1 us to ~30 ms: calls are cut before they are sent, while
        # the server works, and while the answer arrives (a call takes about 1 ms on an
        # idle machine, several on a loaded one, so the top of the range lets a share
        # complete however busy CI is). Calls answered before the cancellation complete.
        limit = 10 ** rng.uniform(-6, -1.5)
        if n % 3:
            # The caller's own cancel scope.
            with anyio.move_on_after(limit) as scope:
                await call(client, n, None)
            stats["cancelled" if scope.cancelled_caught else "completed"] += 1
        else:
            # The call's own deadline.
            try:
                await call(client, n, limit)
            except aetcd.DeadlineExceededError:
                stats["deadline"] += 1
            else:
                stats["completed"] += 1

    async def worker(client: aetcd.Client, start: int) -> None:
        for n in range(start, CALLS, 30):
            await one(client, n)

    async with aetcd.Client(etcd_server.endpoint) as client:
        # Connected first: with budgets this short, connecting would be cut every time.
        await client.get(prefix)
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for start in range(30):
                    tg.start_soon(worker, client, start)
        assert sum(stats.values()) == CALLS
        # Hundreds of calls were cut, and every outcome happened often enough for the
        # test to mean something.
        assert stats["cancelled"] + stats["deadline"] >= 250, stats
        assert stats["cancelled"] >= 150, stats
        assert stats["deadline"] >= 50, stats
        assert stats["completed"] >= 100, stats

        # The store holds only values that were written (cancelled writes were applied
        # entirely or not at all).
        for kv in (await client.get(prefix, prefix=True)).kvs:
            assert kv.value in written[kv.key.decode()]

        # Normal calls work, concurrently too, and see a consistent store.
        for key in keys:
            await client.put(key, "after")
        results: list[bytes] = []
        async with anyio.create_task_group() as tg:
            for key in keys * 5:
                tg.start_soon(_get_into, client, key, results)
        assert results == [b"after"] * 40
        listing = etcdctl.get(prefix, "--prefix")
        assert [kv.value for kv in listing.kvs] == [b"after"] * len(keys)
        assert (await client.get(prefix, prefix=True)).kvs == listing.kvs

    await _settle()
    assert asyncio.all_tasks() == tasks_before
    assert _open_sockets() == sockets
    _no_warnings(all_warnings)


async def _get_into(client: aetcd.Client, key: str, results: list[bytes]) -> None:
    results.append((await client.get(key)).kvs[0].value)


async def test_cancelled_puts_are_applied_at_most_once(client: aetcd.Client, prefix: str) -> None:
    # A put cancelled by its caller is either applied once or not at all: never resent.
    for i in range(50):
        with anyio.move_on_after(random.uniform(0, 0.003)):
            await client.put(prefix + "k", f"v{i}")
    kv = (await client.get(prefix + "k")).kvs
    if kv:
        assert kv[0].version <= 50
        history = set()
        for revision in range(kv[0].create_revision, kv[0].mod_revision + 1):
            got = (await client.get(prefix + "k", revision=revision)).kvs
            history.add(got[0].value)
        assert len(history) == kv[0].version


# --------------------------------------------------------------------------- deadlines


async def test_deadline_exceeded_on_a_large_range(client: aetcd.Client, prefix: str) -> None:
    # About 4 MiB in 40 transactions of 100 keys: a read of all of it takes far longer
    # than 1 ms.
    chunk = "x" * 1000
    for batch in range(40):
        await client.txn(
            success=[Op.put(f"{prefix}{batch:02d}/{i:03d}", chunk) for i in range(100)]
        )
    start = time.monotonic()
    with pytest.raises(aetcd.DeadlineExceededError) as info:
        await client.get(prefix, prefix=True, timeout=0.001)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, aetcd.EtcdError)
    assert time.monotonic() - start < 1.0
    # The client is fine afterwards.
    resp = await client.get(prefix, prefix=True, timeout=10)
    assert resp.count == len(resp.kvs) == 4000


async def test_timeout_none_means_no_deadline(etcd_server: EtcdServer, prefix: str) -> None:
    async with aetcd.Client(etcd_server.endpoint, timeout=None) as client:
        await client.put(prefix + "k", "v")
        assert (await client.get(prefix + "k")).count == 1
        # A per-call timeout still applies, and None overrides a client default.
        assert (await client.get(prefix + "k", timeout=5)).count == 1
    async with aetcd.Client(etcd_server.endpoint, timeout=1) as client:
        assert (await client.get(prefix + "k", timeout=None)).count == 1


async def test_deadline_exceeded_while_connecting(etcd_server: EtcdServer) -> None:
    # A call whose deadline ends before the first connection is even established is a
    # DeadlineExceededError like any other: the member is perfectly reachable.
    # A long cool-down makes the mistake of blaming the endpoint visible.
    async with aetcd.Client(etcd_server.endpoint, cooldown_initial=30) as client:
        with pytest.raises(aetcd.DeadlineExceededError) as info:
            await client.get("any", timeout=1e-6)
        assert isinstance(info.value, TimeoutError)
        # The endpoint was not treated as failed: the next call does not wait for it.
        await client.get("any", timeout=2)


async def test_short_deadline_while_connecting_does_not_fail_other_calls(
    etcd_server: EtcdServer, prefix: str, all_warnings: list[warnings.WarningMessage]
) -> None:
    # One caller with a tiny deadline must not break the connection that twenty other
    # callers are waiting for (their puts would fail with "may have been applied").
    async def call(outcomes: list[str], client: aetcd.Client, i: int | None) -> None:
        try:
            if i is None:
                await client.get("any", timeout=0.002)
            else:
                await client.put(f"{prefix}{i}", "v")
            outcomes.append("ok")
        except aetcd.EtcdError as exc:
            outcomes.append(type(exc).__name__)

    for _ in range(3):
        puts: list[str] = []
        impatient: list[str] = []
        async with aetcd.Client(etcd_server.endpoint) as client, anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(call, puts, client, i)
            tg.start_soon(call, impatient, client, None)
        assert puts == ["ok"] * 20
        assert impatient in (["ok"], ["DeadlineExceededError"])
    _no_warnings(all_warnings)
