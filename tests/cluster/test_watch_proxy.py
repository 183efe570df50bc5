"""Watches keep etcd's guarantees while a proxy resets their connections every 200 ms."""

from __future__ import annotations

import time
from collections.abc import Sequence

import anyio
import pytest
from history import Collector, check_against_kv, check_delivered, random_writes, server_history

import aetcd
from aetcd._keys import prefix_range_end
from aetcd._watch import WatchMultiplexer
from aetcd.testing import EtcdCluster, EtcdServer, TcpProxy

CUT_EVERY = 0.2
WRITE_FOR = 3.0


async def watch_through_cuts(
    proxies: Sequence[TcpProxy], direct: Sequence[str], prefix: str, history_endpoint: str
) -> None:
    """Watch `prefix` through `proxies` that cut every connection every 200 ms while a
    direct client writes, then compare with the server's history."""
    key, range_end = prefix.encode(), prefix_range_end(prefix.encode())
    async with (
        aetcd.Client(direct, timeout=10) as writer,
        aetcd.Client([p.url for p in proxies], timeout=10) as watcher,
        watcher.watch(prefix, prefix=True) as watch,
    ):
        mux = watcher._services["watch"]
        assert isinstance(mux, WatchMultiplexer)
        start = (await writer.put(prefix + "start", "")).header.revision
        for proxy in proxies:
            proxy.cut_every(CUT_EVERY)
        t0 = time.monotonic()
        async with anyio.create_task_group() as tg:
            collector = Collector(watch)
            tg.start_soon(collector.run)
            await random_writes(writer, prefix, duration=WRITE_FOR, writers=8)
            cut_streams = mux.streams_opened
            for proxy in proxies:
                proxy.restore()
            end = (await writer.put(prefix + "end", "")).header.revision
            await collector.wait_for(end, 30)
            tg.cancel_scope.cancel()
        elapsed = time.monotonic() - t0
        # The watch really went through many broken streams.
        assert cut_streams >= WRITE_FOR / CUT_EVERY / 2
        expected = await server_history(history_endpoint, key, range_end, start, end)
        report = check_delivered(collector.responses, expected, start=start)
        await check_against_kv(writer, expected, key, range_end, start, end)
        print(f"{report}; {mux.streams_opened} streams in {elapsed:.1f} s")


async def test_single_member_behind_a_cutting_proxy(
    etcd_server: EtcdServer, etcd_proxy_factory: object, prefix: str
) -> None:
    assert callable(etcd_proxy_factory)
    proxy = etcd_proxy_factory(etcd_server.member)
    await watch_through_cuts([proxy], [etcd_server.endpoint], prefix, etcd_server.endpoint)


@pytest.mark.cluster
async def test_cluster_behind_cutting_proxies(
    etcd_cluster: EtcdCluster, etcd_proxy_factory: object
) -> None:
    assert callable(etcd_proxy_factory)
    proxies = [etcd_proxy_factory(member) for member in etcd_cluster.members]
    await watch_through_cuts(
        proxies, etcd_cluster.endpoints, "/cut/", etcd_cluster.members[0].client_url
    )
