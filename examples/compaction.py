"""Compaction: discard old revisions, after which reading them raises `CompactedError`.

Port of "コンパクション" (chapter3/05_compaction) of the etcd programming book.

Compaction is cluster-wide: it drops the history of *every* key before the given
revision. Run this against a throwaway etcd (`make demo` starts one), not a shared one.
"""

from __future__ import annotations

import asyncio
import os

import aetcd

KEY = "/chapter3/compaction"


async def print_history(client: aetcd.Client, first: int, last: int) -> None:
    for rev in range(first, last + 1):
        try:
            resp = await client.get(KEY, revision=rev)
        except aetcd.CompactedError as exc:
            print(f"rev: {rev}, failed to get: {exc.message}")
            continue
        print(f"rev: {rev}, value: {resp.kvs[0].value.decode()}")


async def main(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as client:
        await client.put(KEY, "hoge")
        await client.put(KEY, "fuga")
        await client.put(KEY, "fuga")
        kv = (await client.get(KEY)).kvs[0]

        print("--- prepared data:")
        await print_history(client, kv.create_revision, kv.mod_revision)

        # Keep only what is visible at mod_revision: older revisions become unreadable.
        await client.compact(kv.mod_revision)
        print(f"--- compacted: {kv.mod_revision}")
        await print_history(client, kv.create_revision, kv.mod_revision)

        await client.delete(KEY)


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
