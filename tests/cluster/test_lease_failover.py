"""Kept-alive leases through member failures, frozen connections and partitions."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

import aetcd
from aetcd.testing import EtcdCluster, EtcdMember, EtcdServer, TcpProxy

ProxyFactory = Callable[[Any], TcpProxy]


async def open_keepalive_streams(member: EtcdMember) -> int:
    """LeaseKeepAlive streams currently open on `member` (from its /metrics)."""

    def fetch() -> str:
        with urllib.request.urlopen(member.client_url + "/metrics", timeout=5) as resp:
            return resp.read().decode()  # type: ignore[no-any-return]

    started = handled = 0
    for line in (await anyio.to_thread.run_sync(fetch)).splitlines():
        if 'grpc_method="LeaseKeepAlive"' not in line:
            continue
        value = int(float(line.rsplit(" ", 1)[1]))
        if line.startswith("grpc_server_started_total"):
            started += value
        elif line.startswith("grpc_server_handled_total"):
            handled += value
    return started - handled


async def stream_member(members: list[EtcdMember], timeout: float) -> EtcdMember:
    """The member serving the client's keep-alive stream, waiting up to `timeout`."""
    with anyio.fail_after(timeout):
        while True:
            for member in members:
                if await open_keepalive_streams(member) > 0:
                    return member
            await anyio.sleep(0.05)


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.05
) -> float:
    start = time.monotonic()
    with anyio.fail_after(timeout):
        while True:
            if await predicate():
                return time.monotonic() - start
            await anyio.sleep(interval)


def manager_of(client: aetcd.Client) -> Any:
    return client._services["lease"]


@pytest.mark.cluster
async def test_lease_survives_killing_the_stream_member_then_the_leader(
    etcd_cluster: EtcdCluster,
) -> None:
    ttl = 5
    key = b"/lease-failover/key"
    async with aetcd.Client(etcd_cluster.endpoints, timeout=3) as client:
        async with client.lease(ttl) as lease:
            await client.put(key, "v", lease=lease)
            # The stream is opened when the lease needs keeping.
            first = await stream_member(etcd_cluster.members, timeout=5)

            await anyio.to_thread.run_sync(first.kill)
            killed = time.monotonic()
            others = [m for m in etcd_cluster.members if m is not first]
            second = await stream_member(others, timeout=5)
            reopened = time.monotonic() - killed
            refreshes = 0

            async def refreshed() -> bool:
                nonlocal refreshes
                refreshes += 1
                return (await lease.__anext__()).ttl == ttl

            lease.__aiter__()
            await wait_until(refreshed, timeout=ttl)  # kept alive through the new stream
            print(f"keep-alive stream moved {first.name} -> {second.name} in {reopened:.2f} s")
            assert reopened < 2.0

            # Bring the first member back (two of three are needed for a quorum), then
            # kill whichever member leads now.
            await anyio.to_thread.run_sync(first.restart)
            await anyio.to_thread.run_sync(etcd_cluster.wait_ready)
            leader = await anyio.to_thread.run_sync(etcd_cluster.leader)
            await anyio.to_thread.run_sync(leader.kill)
            print(f"killed leader {leader.name}; stream on {manager_of(client).endpoint}")

            await anyio.sleep(3 * ttl)
            assert not lease.expired
            assert (await client.get(key)).kvs, "the key is gone: the lease was lost"
            assert (await client.lease_time_to_live(lease)).ttl > 0
            survivors = [m for m in etcd_cluster.members if m.is_running]
            assert await stream_member(survivors, timeout=1) in survivors
        assert lease.expired  # revoked on exit
        assert (await client.get(key)).kvs == ()


async def test_stream_leaves_a_frozen_connection(
    etcd_server: EtcdServer, etcd_proxy_factory: ProxyFactory
) -> None:
    ttl = 4
    proxies = [etcd_proxy_factory(etcd_server.member) for _ in range(2)]
    async with (
        aetcd.Client([p.url for p in proxies], timeout=3) as client,
        client.lease(ttl) as lease,
    ):
        manager = manager_of(client)
        lease.__aiter__()
        with anyio.fail_after(ttl):
            await lease.__anext__()  # the stream works
        used = next(p for p in proxies if p.url == manager.endpoint)
        other = next(p for p in proxies if p is not used)
        used.blackhole()  # the member seems alive (no reset) but says nothing
        frozen = time.monotonic()

        async def moved() -> bool:
            return bool(manager.endpoint == other.url)

        await wait_until(moved, timeout=ttl)
        moved_after = time.monotonic() - frozen
        await anyio.sleep(2 * ttl)
        assert not lease.expired
        assert (await lease.time_to_live()).ttl > 0
        print(f"keep-alive stream left the frozen connection after {moved_after:.2f} s")
        used.restore()


async def test_loss_is_reported_when_no_member_answers(
    etcd_server: EtcdServer, etcd_proxy_factory: ProxyFactory
) -> None:
    ttl = 2
    proxy = etcd_proxy_factory(etcd_server.member)
    async with aetcd.Client(proxy.url, timeout=2) as client:
        lease = await client.lease(ttl)
        keeper = await client.keep_alive(lease.id)
        errors: list[BaseException] = []

        async def iterate() -> None:
            try:
                async for _ in keeper:
                    pass
            except aetcd.LeaseExpiredError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(iterate)
            lease.__aiter__()  # each handle has its own queue of refreshes
            with anyio.fail_after(ttl):
                await lease.__anext__()  # a refresh went through: deadline = now + TTL
            proxy.blackhole()
            frozen = time.monotonic()
            with anyio.fail_after(ttl + 1):
                await lease.wait_expired()
            detected = time.monotonic() - frozen
        print(f"loss reported {detected:.2f} s after the cluster went silent (TTL {ttl} s)")
        assert detected <= ttl + 0.5
        assert lease.expired
        assert keeper.expired
        assert len(errors) == 1
        assert errors[0].lease_id == lease.id  # type: ignore[attr-defined]
        assert manager_of(client).lease_ids == ()
        proxy.restore()
        await keeper.close()
        await lease.close()  # quiet: revokes if still there, or it is already gone

        async def gone() -> bool:
            return lease.id not in await client.leases()

        await wait_until(gone, timeout=ttl + 2)
