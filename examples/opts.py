"""Options of `get`: prefix ranges, sorting, keys only, counting, limits.

Port of "Option" (chapter3/03_opts) of the etcd programming book. Go's option
functions become keyword arguments: `clientv3.WithPrefix()` is `prefix=True`,
`WithSort(SortByValue, SortAscend)` is `sort_target=SortTarget.VALUE,
sort_order=SortOrder.ASCEND`, `WithKeysOnly()` is `keys_only=True`, and so on.
"""

from __future__ import annotations

import asyncio
import os

import aetcd
from aetcd import SortOrder, SortTarget

PREFIX = "/chapter3/option/"


async def main(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as client:
        await client.put(PREFIX + "key3", "val2")
        await client.put(PREFIX + "key1", "val3")
        await client.put(PREFIX + "key2", "val1")

        print("--- prefix, sorted by value, keys only:")
        resp = await client.get(
            PREFIX,
            prefix=True,
            sort_target=SortTarget.VALUE,
            sort_order=SortOrder.ASCEND,
            keys_only=True,
        )
        for kv in resp.kvs:
            print(f"{kv.key.decode()}: {kv.value.decode()}")  # values are empty

        print("--- count only:")
        resp = await client.get(PREFIX, prefix=True, count_only=True)
        print(f"count={resp.count}, kvs returned={len(resp.kvs)}")

        # Go's WithFirstKey(): the smallest key, i.e. sorted by key and limited to one.
        print("--- first key:")
        resp = await client.get(PREFIX, prefix=True, sort_order=SortOrder.ASCEND, limit=1)
        kv = resp.kvs[0]
        print(f"{kv.key.decode()}: {kv.value.decode()} (more={resp.more}, count={resp.count})")

        # Go's WithLastKey(): sorted by key, descending, limited to one.
        print("--- last key:")
        resp = await client.get(PREFIX, prefix=True, sort_order=SortOrder.DESCEND, limit=1)
        print(resp.kvs[0].key.decode())

        # An explicit range [key, range_end) instead of a prefix.
        print("--- range [key1, key3):")
        resp = await client.get(PREFIX + "key1", range_end=PREFIX + "key3")
        print(", ".join(kv.key.decode() for kv in resp.kvs))

        deleted = await client.delete(PREFIX, prefix=True)
        print(f"--- deleted {deleted.deleted} keys")


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
