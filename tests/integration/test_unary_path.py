"""Unary calls on the fast lane (`aetcd/_transport/_unary.py`) against a real etcd: replies
larger than HTTP/2's receive windows, and lane calls mixed with grpclib streams (large
requests, watches) on one connection."""

from __future__ import annotations

import anyio

import aetcd

MiB = 1024 * 1024


async def test_replies_larger_than_the_receive_windows(client: aetcd.Client, prefix: str) -> None:
    # 6 MiB in one reply: more than the 4 MiB connection and stream windows, so the
    # reply only arrives whole if the client keeps giving the window back.
    values = {f"{prefix}{i}": bytes([65 + i]) * MiB for i in range(6)}
    for key, value in values.items():
        await client.put(key, value)
    results: list[aetcd.GetResponse] = []

    async def read_all() -> None:
        results.append(await client.get(prefix, prefix=True))

    async def read_one(i: int) -> None:
        resp = await client.get(f"{prefix}{i % 6}")
        assert resp.kvs[0].value == values[f"{prefix}{i % 6}"]

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(read_all)
        for i in range(30):
            tg.start_soon(read_one, i)
    assert len(results) == 3
    for resp in results:
        assert {kv.key.decode(): kv.value for kv in resp.kvs} == values


async def test_lane_calls_mixed_with_streams_on_one_connection(
    client: aetcd.Client, prefix: str
) -> None:
    # 100 KiB values do not fit one HTTP/2 frame, so those puts take grpclib's full
    # path; the small ones take the lane; a watch stream shares the connection.
    big = b"b" * (100 * 1024)
    start = (await client.get("any")).header.revision + 1
    async with client.watch(prefix, prefix=True, start_revision=start) as watch:

        async def put(i: int) -> None:
            await client.put(f"{prefix}{i}", big if i % 3 == 0 else b"small")

        async with anyio.create_task_group() as tg:
            for i in range(120):
                tg.start_soon(put, i)
        seen: dict[bytes, bytes] = {}
        with anyio.fail_after(20):
            async for event in watch.events():
                seen[event.kv.key] = event.kv.value
                if len(seen) == 120:
                    break
    for i in range(120):
        expected = big if i % 3 == 0 else b"small"
        assert seen[f"{prefix}{i}".encode()] == expected
        assert (await client.get(f"{prefix}{i}")).kvs[0].value == expected
