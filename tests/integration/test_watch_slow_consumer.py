"""A consumer that stalls neither loses events nor slows down the other watches."""

from __future__ import annotations

import statistics
import time

import anyio
from history import check_delivered, server_history

import aetcd
from aetcd._keys import prefix_range_end
from aetcd._watch import WatchMultiplexer
from aetcd.testing import EtcdServer

RATE = 1000  # puts per second
STALL = 3.0  # seconds


async def put_at_rate(client: aetcd.Client, prefix: str, rate: int, duration: float) -> int:
    """Put `rate` keys per second for `duration` seconds (paced, 20 writers)."""
    total = int(rate * duration)
    begin = time.monotonic()
    counter = iter(range(total))

    async def writer() -> None:
        for i in counter:
            delay = begin + i / rate - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
            await client.put(f"{prefix}{i % 100:02}", str(i))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(writer)
    return total


async def test_stalled_consumer_loses_nothing_and_blocks_nobody(
    client: aetcd.Client, prefix: str, etcd_server: EtcdServer
) -> None:
    slow_prefix, ping_key = prefix + "slow/", prefix + "ping"
    received: dict[bytes, float] = {}
    slow_responses: list[aetcd.WatchResponse] = []
    acked: dict[bytes, float] = {}
    async with client.watch(ping_key) as fast:
        mux = client._services["watch"]
        assert isinstance(mux, WatchMultiplexer)
        # Small enough for this test to detach the stalled watch even on a loaded CI
        # machine that writes far fewer than the 3000 events aimed for.
        mux.buffer_limit_events = 100
        async with client.watch(slow_prefix, prefix=True) as slow:
            start = (await client.put(slow_prefix + "start", "")).header.revision
            writing = anyio.Event()
            done = anyio.Event()

            async def ping() -> None:
                i = 0
                while not done.is_set():
                    value = str(i).encode()
                    await client.put(ping_key, value)
                    acked[value] = time.monotonic()
                    i += 1
                    await anyio.sleep(0.02)

            async def fast_consumer() -> None:
                async for event in fast.events():
                    received[event.kv.value] = time.monotonic()

            async def slow_consumer() -> None:
                async for response in slow:
                    slow_responses.append(response)
                    if len(slow_responses) == 1:
                        await writing.wait()
                        await anyio.sleep(STALL)  # the stall
                    last = response.events[-1]
                    if last.kv.key == slow_prefix.encode() + b"end":
                        return

            async with anyio.create_task_group() as tg:
                tg.start_soon(ping)
                tg.start_soon(fast_consumer)
                with anyio.fail_after(60):
                    async with anyio.create_task_group() as slow_tg:
                        slow_tg.start_soon(slow_consumer)
                        await client.put(slow_prefix + "first", "")
                        writing.set()
                        written = await put_at_rate(client, slow_prefix, RATE, STALL)
                        end = (await client.put(slow_prefix + "end", "")).header.revision
                done.set()
                tg.cancel_scope.cancel()
    expected = await server_history(
        etcd_server.endpoint,
        slow_prefix.encode(),
        prefix_range_end(slow_prefix.encode()),
        start,
        end,
    )
    assert len(expected) == written + 3
    report = check_delivered(slow_responses, expected, start=start, end=end)
    assert written > mux.buffer_limit_events  # the stall really overflowed the buffer
    assert mux.detaches >= 1  # so it was detached and recreated
    # How long after etcd acknowledged a write its event reached the other watch (an
    # event may even arrive before the acknowledgement). Measured from the write's
    # completion, so that the write latency under 1000 puts/s does not count; a watch
    # stalled behind the slow one would be seconds late.
    delays = [max(0.0, received[v] - acked[v]) for v in received if v in acked]
    assert len(delays) >= 20  # measured all along the stall
    p50, p95, worst = statistics.median(delays), statistics.quantiles(delays, n=20)[-1], max(delays)
    ms = "p50={:.1f} ms p95={:.1f} ms max={:.1f} ms".format(*(x * 1000 for x in (p50, p95, worst)))
    print(f"{report}; other watch's delay {ms}")
    assert p95 < 0.1, f"the other watch lagged: p95 {p95 * 1000:.0f} ms"
    assert worst < 0.5, f"the other watch lagged: max {worst * 1000:.0f} ms"
