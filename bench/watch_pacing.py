"""Show what paces a watch that replays history: etcd, not the client.

    .venv/bin/python bench/watch_pacing.py [--events 20000]

Starts a throwaway etcd, writes `--events` puts, then watches them from their first
revision with aetcd and prints when each response arrived and how many events it held.
etcd hands a watcher that is behind at most 1 000 revisions per pass of its history
sync loop, which runs every 100 ms (plus the time the pass took): a replay arrives in
1 000-event responses about 100 to 130 ms apart whatever the client, which caps every
client near 8 000 to 10 000 events/s (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aetcd
from aetcd.testing import EtcdServer


async def replay(endpoint: str, events: int) -> None:
    async with aetcd.Client(endpoint) as client:
        first = None
        limit = asyncio.Semaphore(64)

        async def put(i: int) -> None:
            nonlocal first
            async with limit:
                reply = await client.put(b"/pace/%06d" % (i % 1000), b"v" * 256)
            if first is None or reply.header.revision < first:
                first = reply.header.revision

        await asyncio.gather(*(put(i) for i in range(events)))
        start = time.perf_counter()
        got = 0
        previous = start
        async with client.watch(b"/pace/", prefix=True, start_revision=first) as watch:
            async for response in watch:
                now = time.perf_counter()
                got += len(response.events)
                print(
                    f"{(now - start) * 1000:8.1f} ms (+{(now - previous) * 1000:6.1f})"
                    f"  {len(response.events):5d} events  total {got}"
                )
                previous = now
                if got >= events:
                    break
        elapsed = time.perf_counter() - start
        print(f"{events} events in {elapsed:.2f} s: {events / elapsed:,.0f} events/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    with EtcdServer() as server:
        asyncio.run(replay(server.endpoint, args.events))


if __name__ == "__main__":
    main()
