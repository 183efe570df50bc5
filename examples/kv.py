"""Put, get and delete a key.

Port of "Key Value" (chapter3/02_kv) of the etcd programming book.
"""

from __future__ import annotations

import asyncio
import os

import aetcd

KEY = "/chapter3/kv"


async def main(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as client:
        # A put creates the key if it is missing and overwrites it otherwise.
        await client.put(KEY, "my-value")

        resp = await client.get(KEY)
        if resp.count == 0:
            raise SystemExit(f"{KEY} not found")
        print(resp.kvs[0].value.decode())

        deleted = await client.delete(KEY)
        print(f"deleted {deleted.deleted} key")

        # Reading a missing key is not an error: the answer just has no key-values.
        resp = await client.get(KEY)
        print(f"after delete: count={resp.count}, kvs={list(resp.kvs)}")


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
