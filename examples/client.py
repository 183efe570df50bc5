"""Connect to etcd, write a key and read it back.

Port of "クライアントを用意する" (chapter3/01_client) of the etcd programming book. The book
lists the cluster members; this port writes and reads `/chapter3/client` instead.

    ETCD_ENDPOINTS=http://127.0.0.1:2379 python examples/client.py
"""

from __future__ import annotations

import asyncio
import os
import sys

import aetcd

KEY = "/chapter3/client"


async def main(endpoints: str) -> None:
    # Go: clientv3.New(clientv3.Config{Endpoints: ..., DialTimeout: 3 * time.Second}),
    # then `defer client.Close()`. Here `async with` closes the client on the way out.
    async with aetcd.Client(endpoints, connect_timeout=3.0) as client:
        await client.put(KEY, "hello, etcd")
        resp = await client.get(KEY)
        kv = resp.kvs[0]
        print(f"{kv.key.decode()}: {kv.value.decode()}")
        # Every response says which member answered, and at which revision of the store.
        print(f"answered by member {resp.header.member_id:x} of cluster {resp.header.cluster_id:x}")
        await client.delete(KEY)


if __name__ == "__main__":
    try:
        asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
    except aetcd.ConnectError as exc:
        # What the book shows as "dial tcp 127.0.0.1:2379: connect: connection refused".
        sys.exit(f"is etcd running? {exc}")
