"""Watch a prefix: every change is delivered in order, as CREATE, MODIFY or DELETE.

Port of "Watch" (chapter3/07_watch) of the etcd programming book. In the book another
terminal runs `etcdctl put` and `etcdctl del`; here a task of the example does the same
writes, and the watch stops after their three events.

    ETCD_ENDPOINTS=http://127.0.0.1:2379 python examples/watch.py
"""

from __future__ import annotations

import asyncio
import os

import aetcd

PREFIX = "/chapter3/watch/"


async def write(client: aetcd.Client) -> None:
    # $ etcdctl put /chapter3/watch/key1 test; ... put ... foo; etcdctl del ...
    await client.put(PREFIX + "key1", "test")
    await client.put(PREFIX + "key1", "foo")
    await client.delete(PREFIX + "key1")


async def main(endpoints: str) -> None:
    # Go: ch := client.Watch(ctx, "/chapter3/watch/", clientv3.WithPrefix()).
    # Entering the watch returns once etcd has created it, so nothing written afterwards
    # can be missed. prev_kv=True would also give each event's previous key-value.
    async with (
        aetcd.Client(endpoints) as client,
        client.watch(PREFIX, prefix=True) as watch,
    ):
        writer = asyncio.create_task(write(client))
        seen = 0
        # Errors (compaction, permission denied, ...) are raised by the iterator: the
        # book's `if resp.Err() != nil` is a try/except here.
        async for resp in watch:
            for ev in resp.events:
                if ev.type is aetcd.EventType.PUT:
                    kind = "CREATE" if ev.is_create else "MODIFY"
                else:
                    kind = "DELETE"
                print(f"{kind} {ev.kv.key!r} : {ev.kv.value!r}")
                seen += 1
            if seen == 3:
                break
        await writer


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
