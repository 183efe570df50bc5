"""Leader election: candidates take turns leading, an observer follows the leaders.

The key layout is Go's `concurrency.Election`, so `etcdctl elect /examples/election`
takes part in the same election and `etcdctl elect -l /examples/election` shows its
leaders. Run against a local etcd, or set ETCD_ENDPOINTS (default
http://127.0.0.1:2379).
"""

from __future__ import annotations

import asyncio
import contextlib
import os

import aetcd

ELECTION = "/examples/election"


async def main(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as client:
        observed: list[str] = []

        async def observe() -> None:
            async with client.election(ELECTION).observe() as leaders:
                async for kv in leaders:
                    observed.append(kv.value.decode())
                    print(f"  observer: the leader is now {kv.value.decode()!r}")

        async def candidate(name: str) -> None:
            election = client.election(ELECTION, ttl=5)
            await election.campaign(name)  # returns once elected
            print(f"{name} is elected")
            await asyncio.sleep(0.2)
            await election.proclaim(f"{name} (busy)")  # a new value, no new election
            await asyncio.sleep(0.2)
            print(f"{name} resigns")
            await election.resign()

        observer = asyncio.create_task(observe())
        candidates = []
        for name in ("alpha", "beta", "gamma"):
            candidates.append(asyncio.create_task(candidate(name)))
            # Queue them in this order: each candidate's key exists before the next.
            while True:
                queued = (await client.get(f"{ELECTION}/", prefix=True, count_only=True)).count
                if queued == len(candidates):
                    break
                await asyncio.sleep(0.01)
        await asyncio.gather(*candidates)
        await asyncio.sleep(0.2)
        observer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await observer
        print(f"leader now: {await client.election(ELECTION).leader()}")
        print(f"observed: {observed}")


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
