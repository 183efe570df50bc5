"""Leases against a real etcd member: calls, kept-alive handles, loss reporting."""

from __future__ import annotations

import functools
import random
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

import aetcd
import aetcd._lease
from aetcd.testing import EtcdServer


async def etcdctl(server: EtcdServer, *args: str, **kwargs: Any) -> Any:
    return await anyio.to_thread.run_sync(functools.partial(server.etcdctl, *args, **kwargs))


async def etcdctl_lease_ids(server: EtcdServer) -> set[int]:
    out = await etcdctl(server, "lease", "list")
    return {item.get("id", item.get("ID")) for item in out.get("leases") or ()}


async def etcdctl_count(server: EtcdServer, key: bytes) -> int:
    out = await etcdctl(server, "get", key.decode())
    return len(out.get("kvs") or ())


async def keepalive_metrics(url: str) -> dict[str, int]:
    """The member's LeaseKeepAlive stream counters (from its Prometheus /metrics)."""

    def fetch() -> str:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
            return resp.read().decode()  # type: ignore[no-any-return]

    stats = {"started": 0, "handled": 0, "received": 0}
    names = {
        "grpc_server_started_total": "started",
        "grpc_server_handled_total": "handled",
        "grpc_server_msg_received_total": "received",
    }
    for line in (await anyio.to_thread.run_sync(fetch)).splitlines():
        if 'grpc_method="LeaseKeepAlive"' not in line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0]
        if name in names:
            stats[names[name]] += int(float(line.rsplit(" ", 1)[1]))
    return stats


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.05
) -> float:
    """Poll `predicate` until true; return the seconds it took (fail after `timeout`)."""
    start = time.monotonic()
    with anyio.fail_after(timeout):
        while True:
            if await predicate():
                return time.monotonic() - start
            await anyio.sleep(interval)


# --------------------------------------------------------------------------- calls


async def test_grant_time_to_live_list_keep_alive_once_revoke(
    etcd_server: EtcdServer, key_prefix: bytes
) -> None:
    key = key_prefix + b"k"
    async with aetcd.Client(etcd_server.client_url) as client:
        grant = await client.lease_grant(30)
        assert isinstance(grant, aetcd.LeaseGrantResponse)
        assert grant.id > 0
        assert grant.ttl == 30
        assert grant.header.revision > 0
        await client.put(key, "v", lease=grant.id)

        ttl = await client.lease_time_to_live(grant.id, keys=True)
        assert ttl.id == grant.id
        assert ttl.granted_ttl == 30
        assert 28 <= ttl.ttl <= 30
        assert ttl.keys == (key,)
        assert (await client.lease_time_to_live(grant)).keys == ()  # a response has an id
        assert grant.id in await client.leases()
        assert grant.id in await etcdctl_lease_ids(etcd_server)

        once = await client.lease_keep_alive_once(grant.id)
        assert (once.id, once.ttl) == (grant.id, 30)

        await client.lease_revoke(grant.id)
        assert (await client.get(key)).kvs == ()
        assert grant.id not in await client.leases()
        # Unknown leases fail the same way everywhere.
        for call in (
            client.lease_time_to_live,
            client.lease_keep_alive_once,
            client.lease_revoke,
        ):
            with pytest.raises(aetcd.LeaseNotFoundError) as info:
                await call(grant.id)
            assert info.value.lease_id in (grant.id, None)


async def test_grant_with_id(etcd_server: EtcdServer) -> None:
    lease_id = random.getrandbits(62) + 1
    async with aetcd.Client(etcd_server.client_url) as client:
        grant = await client.lease_grant(10, id=lease_id, timeout=3)
        assert grant.id == lease_id
        with pytest.raises(aetcd.LeaseExistsError):
            await client.lease_grant(10, id=lease_id)
        await client.lease_revoke(lease_id)


# --------------------------------------------------------------------------- kept alive


async def test_kept_alive_for_10s_then_revoked_on_exit(
    etcd_server: EtcdServer, key_prefix: bytes
) -> None:
    key = key_prefix + b"session"
    async with aetcd.Client(etcd_server.client_url) as client:
        async with client.lease(2) as lease:
            assert lease.ttl == 2
            await client.put(key, "alive", lease=lease)
            end = time.monotonic() + 10
            checks = 0
            while time.monotonic() < end:
                assert (await client.get(key)).kvs, "key vanished while kept alive"
                assert not lease.expired
                checks += 1
                if checks == 10:
                    assert await etcdctl_count(etcd_server, key) == 1
                await anyio.sleep(0.5)
            ttl = await lease.time_to_live()
            assert ttl.ttl >= 1
        exited = time.monotonic()
        assert lease.expired  # revoked
        assert lease.closed

        async def gone() -> bool:
            return not (await client.get(key)).kvs and await etcdctl_count(etcd_server, key) == 0

        await wait_until(gone, timeout=2)
        assert time.monotonic() - exited <= 2
        assert lease.id not in await etcdctl_lease_ids(etcd_server)


async def test_etcdctl_revoke_is_reported_within_a_third_of_the_ttl(
    etcd_server: EtcdServer,
) -> None:
    ttl = 3
    async with aetcd.Client(etcd_server.client_url) as client:
        async with client.lease(ttl) as lease, anyio.create_task_group() as tg:
            errors: list[BaseException] = []

            async def iterate() -> None:
                try:
                    async for resp in lease:
                        assert resp.id == lease.id
                except aetcd.LeaseExpiredError as exc:
                    errors.append(exc)

            tg.start_soon(iterate)
            await etcdctl(etcd_server, "lease", "revoke", f"{lease.id:x}")
            revoked = time.monotonic()
            with anyio.fail_after(ttl / 3 + 1):
                await lease.wait_expired()
            latency = time.monotonic() - revoked
            assert lease.expired
        print(f"etcdctl revoke reported after {latency:.2f} s")
        assert len(errors) == 1
        assert isinstance(errors[0], aetcd.LeaseNotFoundError)  # LeaseExpiredError is one
        assert errors[0].lease_id == lease.id  # type: ignore[attr-defined]


async def test_awaitable_handle(etcd_server: EtcdServer, key_prefix: bytes) -> None:
    key = key_prefix + b"k"
    async with aetcd.Client(etcd_server.client_url) as client:
        lease = await client.lease(2)
        assert isinstance(lease, aetcd.Lease)
        await client.put(key, "v", lease=lease)
        await anyio.sleep(2.5)  # longer than the TTL: kept alive in the background
        assert (await client.get(key)).kvs
        assert lease.id in await client.leases()
        await lease.revoke()
        assert lease.expired
        assert (await client.get(key)).kvs == ()
        await lease.close()  # idempotent after revoke
        with pytest.raises(aetcd.ClientClosedError):
            await lease  # a closed handle is not granted again

        lease = await client.lease(10)
        await lease.close()
        assert lease.expired
        assert lease.id not in await client.leases()


async def test_keep_alive_existing_lease_is_shared_and_refcounted(
    etcd_server: EtcdServer,
) -> None:
    async with aetcd.Client(etcd_server.client_url) as client:
        grant = await client.lease_grant(2)
        async with client.keep_alive(grant.id) as first:
            assert first.ttl == 2
            second = await client.keep_alive(grant)
            responses = []
            async for resp in second:
                responses.append(resp)
                if len(responses) == 3:  # > 1 TTL: only the keep-alive saves it
                    break
            assert [r.ttl for r in responses] == [2] * 3
            assert all(r.id == grant.id for r in responses)
            manager = client._services["lease"]
            assert manager.lease_ids == (grant.id,)  # type: ignore[attr-defined]
            await second.close()
            assert manager.lease_ids == (grant.id,)  # type: ignore[attr-defined]
            with anyio.fail_after(2):
                async for resp in first:  # still kept, by `first`
                    assert resp.ttl == 2
                    break
            assert not first.expired
            assert (await client.lease_time_to_live(grant.id)).ttl > 0
        assert manager.lease_ids == ()  # type: ignore[attr-defined]

        async def gone() -> bool:
            return grant.id not in await client.leases()

        await wait_until(gone, timeout=4)  # no longer kept: it expires by itself


async def test_stream_is_opened_lazily_and_closed_when_idle(
    etcd_server: EtcdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aetcd._lease, "IDLE_CLOSE", 0.2)
    async with aetcd.Client(etcd_server.client_url) as client:
        await client.lease_revoke((await client.lease_grant(5)).id)
        assert "lease" not in client._services  # plain calls start nothing
        async with client.lease(2) as lease:
            manager: Any = client._services["lease"]

            async def opened() -> bool:
                return manager.endpoint is not None

            await wait_until(opened, timeout=2)
            assert manager.streams_opened == 1
        assert lease.expired

        async def closed() -> bool:
            return manager.endpoint is None

        await wait_until(closed, timeout=2)
        async with client.lease(2) as lease:
            with anyio.fail_after(2):
                async for resp in lease:  # refreshed over a new stream
                    assert resp.ttl == 2
                    break
        assert manager.streams_opened == 2


async def test_keep_alive_of_an_unknown_lease_fails(etcd_server: EtcdServer) -> None:
    async with aetcd.Client(etcd_server.client_url) as client:
        with pytest.raises(aetcd.LeaseNotFoundError):
            async with client.keep_alive(random.getrandbits(62) + 1):
                pytest.fail("entered the keep-alive of an unknown lease")


async def test_handles_fail_loudly_after_the_client_closed(etcd_server: EtcdServer) -> None:
    client = aetcd.Client(etcd_server.client_url)
    async with client:
        lease = await client.lease(5)
        keeper = await client.keep_alive(lease.id)
        seen: list[BaseException] = []

        async def wait(fn: Callable[[], Awaitable[Any]]) -> None:
            try:
                await fn()
            except aetcd.ClientClosedError as exc:
                seen.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait, lease.wait_expired)
            tg.start_soon(wait, keeper.__anext__)
            await anyio.wait_all_tasks_blocked()
            await client.close()
        assert len(seen) == 2
    assert not lease.expired  # not lost: no longer watched
    with pytest.raises(aetcd.ClientClosedError):
        await lease.wait_expired()
    with pytest.raises(aetcd.ClientClosedError):
        await keeper.__anext__()
    with pytest.raises(aetcd.ClientClosedError):
        await lease.revoke()
    with pytest.raises(aetcd.ClientClosedError):
        client.lease(5)
    await lease.close()  # leaving the block after the client closed stays quiet
    await keeper.close()
    await etcdctl(etcd_server, "lease", "revoke", f"{lease.id:x}")


async def test_random_cancellation_leaves_no_lease_behind(
    etcd_server: EtcdServer, key_prefix: bytes
) -> None:
    rng = random.Random(20240601)
    handles: list[aetcd.Lease] = []
    entered = completed = 0
    async with aetcd.Client(etcd_server.client_url) as client:
        for i in range(100):
            handle = client.lease(30)  # long enough that a leak would still be listed
            handles.append(handle)
            # Up to ~2 ms lands in the grant, up to ~20 ms anywhere in the body.
            limit = rng.choice((0.002, 0.02))
            with anyio.move_on_after(rng.uniform(0, limit)):
                async with handle as lease:
                    entered += 1
                    await client.put(key_prefix + b"%d" % i, "v", lease=lease)
                    await anyio.sleep(rng.uniform(0, 0.01))
                    completed += 1
        print(f"100 leases: {entered} bodies entered, {completed} completed")
        assert 0 < entered < 100
        assert completed < entered

        ours = {h.id for h in handles}
        assert not ours & set(await client.leases())
        assert not ours & await etcdctl_lease_ids(etcd_server)
        assert (await client.get(key_prefix, prefix=True)).kvs == ()
        assert client._services["lease"].lease_ids == ()  # type: ignore[attr-defined]

        # The client is still consistent afterwards.
        async with client.lease(5) as lease:
            await client.put(key_prefix + b"after", "v", lease=lease)
            assert (await client.lease_keep_alive_once(lease)).ttl == 5


async def test_thousand_leases_on_one_stream(etcd_server: EtcdServer) -> None:
    count, ttl, hold = 1000, 5, 30.0
    url = etcd_server.client_url
    async with aetcd.Client(url) as client:
        handles = [client.lease(ttl) for _ in range(count)]
        before = await keepalive_metrics(url)
        started = time.monotonic()
        limiter = anyio.Semaphore(64)

        async def grant(handle: aetcd.Lease) -> None:
            async with limiter:
                await handle

        async with anyio.create_task_group() as tg:
            for handle in handles:
                tg.start_soon(grant, handle)
        granted_in = time.monotonic() - started

        cpu = time.process_time()
        wall = time.monotonic()
        lost: list[int] = []

        async def watch(handle: aetcd.Lease) -> None:
            await handle.wait_expired()
            lost.append(handle.id)

        with anyio.move_on_after(hold):
            async with anyio.create_task_group() as tg:
                for handle in handles:
                    tg.start_soon(watch, handle)
        cpu = time.process_time() - cpu
        wall = time.monotonic() - wall
        assert lost == []
        assert not any(h.expired for h in handles)
        assert {h.id for h in handles} <= set(await client.leases())
        after = await keepalive_metrics(url)

        started = time.monotonic()

        async def close(handle: aetcd.Lease) -> None:
            async with limiter:
                await handle.close()

        async with anyio.create_task_group() as tg:
            for handle in handles:
                tg.start_soon(close, handle)
        revoked_in = time.monotonic() - started
        assert not {h.id for h in handles} & set(await client.leases())

    streams = after["started"] - before["started"]
    refreshes = after["received"] - before["received"]
    print(
        f"{count} leases (TTL {ttl} s): granted in {granted_in:.1f} s; kept alive "
        f"{wall:.1f} s over {streams} stream(s) with {refreshes} refreshes, client CPU "
        f"{cpu:.2f} s ({100 * cpu / wall:.1f}% of one core, "
        f"{1e6 * cpu / max(refreshes, 1):.0f} us per refresh); revoked in {revoked_in:.1f} s"
    )
    assert streams == 1
    # About every TTL/3 per lease: 6 refreshes per lease in 30 s with TTL 5.
    assert refreshes >= count * (hold / (ttl / 3)) * 0.8
