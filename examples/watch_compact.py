"""Watch from a compacted revision: on `CompactedError`, go on from `compact_revision`.

Port of "Watchとコンパクション" (chapter3/09_watch_compact) of the etcd programming book.
A watch that starts (or resumes) at a revision whose history was compacted away fails
with `CompactedError`; its `compact_revision` is the oldest revision still available,
from which the watch can start again (the book's `goto RETRY`).

Compaction is cluster-wide: it drops the history of *every* key before the given
revision. Run this against a throwaway etcd (`make demo` starts one), not a shared one.

    ETCD_ENDPOINTS=http://127.0.0.1:2379 python examples/watch_compact.py
"""

from __future__ import annotations

import asyncio
import os

import aetcd

KEY = "/chapter3/watch_compact"


async def write(client: aetcd.Client, first: int, last: int) -> None:
    for i in range(first, last + 1):
        await client.put(KEY, str(i))


async def main(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as client:
        # Some history, most of which is compacted before anyone watches it.
        rev = (await client.put(KEY, "0")).header.revision
        await write(client, 1, 4)
        latest = (await client.get(KEY)).header.revision
        await client.compact(latest)

        writer: asyncio.Task[None] | None = None
        while True:  # RETRY:
            print(f"watch from rev: {rev}")
            try:
                async with client.watch(KEY, start_revision=rev) as watch:
                    if writer is None:
                        writer = asyncio.create_task(write(client, 5, 9))
                    async for ev in watch.events():
                        print(f"{ev.type.name} {ev.kv.key!r} : {ev.kv.value!r}")
                        if ev.kv.value == b"9":
                            break
            except aetcd.CompactedError as exc:
                # The book: `if resp.Err() == rpctypes.ErrCompacted`.
                if exc.compact_revision is None:  # only reads lack it, never watches
                    raise
                rev = exc.compact_revision
                continue
            break
        assert writer is not None
        await writer
        await client.delete(KEY)


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
