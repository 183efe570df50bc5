"""A watch under a burst of writes delivers exactly the server's history."""

from __future__ import annotations

import time

import anyio
from history import check_against_kv, check_delivered, collect_until, random_writes, server_history

import aetcd
from aetcd._keys import prefix_range_end
from aetcd.testing import EtcdServer

OPS = 5000


async def test_rapid_changes_match_server_history(
    client: aetcd.Client, prefix: str, etcd_server: EtcdServer
) -> None:
    key, range_end = prefix.encode(), prefix_range_end(prefix.encode())
    plain: list[aetcd.WatchResponse] = []
    with_prev: list[aetcd.WatchResponse] = []
    t0 = time.monotonic()
    async with (
        client.watch(prefix, prefix=True) as watch,
        client.watch(prefix, prefix=True, prev_kv=True, fragment=True) as watch_prev,
    ):
        start = (await client.put(prefix + "start", "")).header.revision
        await random_writes(client, prefix, ops=OPS, seed=1)
        end = (await client.put(prefix + "end", "")).header.revision
        with anyio.fail_after(30):
            await collect_until(watch, end, plain)
            await collect_until(watch_prev, end, with_prev)
    elapsed = time.monotonic() - t0
    expected = await server_history(etcd_server.endpoint, key, range_end, start, end)
    expected_prev = await server_history(
        etcd_server.endpoint, key, range_end, start, end, prev_kv=True
    )
    assert len(expected) > OPS  # transactions and prefix deletes add events
    report = check_delivered(plain, expected, start=start)
    check_delivered(with_prev, expected_prev, prev_kv=True, start=start)
    assert await check_against_kv(client, expected, key, range_end, start, end) > 0
    print(f"{report} in {elapsed:.1f} s")
