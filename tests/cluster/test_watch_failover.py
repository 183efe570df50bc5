"""Watches keep etcd's guarantees while the member serving them dies, loses its
leader, or silently stops answering."""

from __future__ import annotations

import anyio
import pytest
from history import (
    Collector,
    check_against_kv,
    check_delivered,
    poll,
    random_writes,
    server_history,
)

import aetcd
from aetcd._keys import prefix_range_end
from aetcd._watch import WatchMultiplexer
from aetcd.testing import EtcdCluster, EtcdMember

pytestmark = pytest.mark.cluster

PREFIX = "/failover/"
KEY, RANGE_END = PREFIX.encode(), prefix_range_end(PREFIX.encode())


def mux_of(client: aetcd.Client) -> WatchMultiplexer:
    service = client._services["watch"]
    assert isinstance(service, WatchMultiplexer)
    return service


def serving_member(cluster: EtcdCluster, mux: WatchMultiplexer) -> EtcdMember:
    for member in cluster.members:
        if member.client_url == mux.endpoint:
            return member
    raise AssertionError(f"the watch stream is on no member ({mux.endpoint})")


async def test_watch_survives_killing_its_member_three_times(etcd_cluster: EtcdCluster) -> None:
    killed: list[str] = []
    async with (
        aetcd.Client(etcd_cluster.endpoints, timeout=10) as writer,
        aetcd.Client(etcd_cluster.endpoints, timeout=10) as watcher,
        watcher.watch(PREFIX, prefix=True, prev_kv=True) as watch,
    ):
        mux = mux_of(watcher)
        collector = Collector(watch)
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(collector.run)
            start = (await writer.put(PREFIX + "start", "")).header.revision
            tg.start_soon(
                lambda: random_writes(writer, PREFIX, stop=stop, writers=8, tolerate_errors=True)
            )
            for _ in range(3):
                # Under write load, kill the member the stream is on ...
                before = collector.revision
                await collector.wait_for(before + 100, 20)
                member = serving_member(etcd_cluster, mux)
                member.kill()
                killed.append(member.name)
                # ... the watch resumes elsewhere and goes on delivering ...
                await collector.wait_for(collector.revision + 100, 20)
                assert mux.endpoint != member.client_url
                # ... and the member comes back for the next round.
                await anyio.to_thread.run_sync(member.restart)
            stop.set()
            end = (await writer.put(PREFIX + "end", "")).header.revision
            await collector.wait_for(end, 30)
            tg.cancel_scope.cancel()
        assert len(set(killed)) >= 2
        assert mux.streams_opened >= 4
        leader = etcd_cluster.leader()
        expected = await server_history(leader.client_url, KEY, RANGE_END, start, end, prev_kv=True)
        report = check_delivered(collector.responses, expected, prev_kv=True, start=start)
        await check_against_kv(writer, expected, KEY, RANGE_END, start, end)
        print(f"killed {killed}: {report}")


async def test_member_without_leader_is_left(etcd_cluster: EtcdCluster) -> None:
    """With `hasleader`, a member that lost its quorum ends the watch stream (etcd
    resets it after a few election timeouts) instead of keeping a watch that sees no
    new writes; the watch resumes without losing anything once the cluster is whole
    again."""
    async with (
        aetcd.Client(etcd_cluster.endpoints, timeout=10) as writer,
        aetcd.Client(etcd_cluster.endpoints) as watcher,
        watcher.watch(PREFIX, prefix=True) as watch,
    ):
        mux = mux_of(watcher)
        collector = Collector(watch)
        async with anyio.create_task_group() as tg:
            tg.start_soon(collector.run)
            start = (await writer.put(PREFIX + "start", "")).header.revision
            await collector.wait_for(start, 5)
            serving = serving_member(etcd_cluster, mux)
            others = [m for m in etcd_cluster.members if m is not serving]
            for member in others:
                member.pause()
            try:
                await poll(lambda: mux.streams_opened > 1, 10)
            finally:
                for member in others:
                    member.resume()
            await anyio.to_thread.run_sync(etcd_cluster.wait_ready)
            await random_writes(writer, PREFIX, ops=200, writers=4, tolerate_errors=True)
            end = (await writer.put(PREFIX + "end", "")).header.revision
            await collector.wait_for(end, 30)
            tg.cancel_scope.cancel()
        expected = await server_history(serving.client_url, KEY, RANGE_END, start, end)
        check_delivered(collector.responses, expected, start=start)


async def test_blackholed_member_is_left(
    etcd_cluster: EtcdCluster, etcd_proxy_factory: object
) -> None:
    """A member that silently stops answering (no RST, no FIN) is detected by HTTP/2
    keepalive pings and left; nothing is lost."""
    assert callable(etcd_proxy_factory)
    proxies = [etcd_proxy_factory(m) for m in etcd_cluster.members]
    async with (
        aetcd.Client(etcd_cluster.endpoints, timeout=10) as writer,
        aetcd.Client(
            [p.url for p in proxies], keepalive_time=5.0, keepalive_timeout=1.0
        ) as watcher,
        watcher.watch(PREFIX, prefix=True) as watch,
    ):
        mux = mux_of(watcher)
        collector = Collector(watch)
        async with anyio.create_task_group() as tg:
            tg.start_soon(collector.run)
            start = (await writer.put(PREFIX + "start", "")).header.revision
            await collector.wait_for(start, 5)
            blackholed = next(p for p in proxies if p.url == mux.endpoint)
            blackholed.blackhole()
            rev = (await writer.put(PREFIX + "during", "")).header.revision
            # Within keepalive_time + keepalive_timeout, and a margin.
            took = await collector.wait_for(rev, 15)
            assert mux.endpoint != blackholed.url
            blackholed.restore()
            await random_writes(writer, PREFIX, ops=200, writers=4)
            end = (await writer.put(PREFIX + "end", "")).header.revision
            await collector.wait_for(end, 10)
            tg.cancel_scope.cancel()
        expected = await server_history(etcd_cluster.endpoints[0], KEY, RANGE_END, start, end)
        check_delivered(collector.responses, expected, start=start)
        print(f"left the black-holed member after {took:.1f} s")
