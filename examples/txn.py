"""Transactions: compare-and-swap with `Compare` and `Op`.

etcd's transaction is "if every comparison holds, run the success operations, else
the failure operations", applied atomically at one revision. It replaces the CAS and
CAD operations of etcd v2 (etcd's v3 API design: "Replace CAS/CAD with multi-object Txn").
"""

from __future__ import annotations

import asyncio
import os

import aetcd
from aetcd import Compare, Op

PREFIX = "/chapter3/txn/"


async def increment(client: aetcd.Client, key: str) -> int:
    """Add one to the integer stored at `key`, safely against concurrent writers."""
    while True:
        resp = await client.get(key)
        if resp.kvs:
            kv = resp.kvs[0]
            new = int(kv.value) + 1
            # Unchanged since we read it? (mod_revision moves on every write.)
            unchanged = Compare.mod_revision(key) == kv.mod_revision
        else:
            new = 1
            unchanged = Compare.create_revision(key) == 0  # still absent
        txn = await client.txn(compare=[unchanged], success=[Op.put(key, str(new))])
        if txn.succeeded:
            return new
        # Someone else wrote in between: read again and retry.


async def main(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as client:
        owner = PREFIX + "owner"

        # Create-if-absent: only the first writer wins.
        for name in ("alice", "bob"):
            resp = await client.txn(
                compare=[Compare.create_revision(owner) == 0],
                success=[Op.put(owner, name)],
                failure=[Op.get(owner)],
            )
            if resp.succeeded:
                print(f"{name}: took ownership")
            else:
                got = resp.responses[0]  # what the failure branch's Op.get returned
                assert isinstance(got, aetcd.GetResponse)
                print(f"{name}: already owned by {got.kvs[0].value.decode()}")

        # Compare-and-swap on the value: hand over only if alice still owns it.
        resp = await client.txn(
            compare=[Compare.value(owner) == "alice"],
            success=[Op.put(owner, "bob")],
        )
        print(f"alice -> bob: succeeded={resp.succeeded}")
        resp = await client.txn(
            compare=[Compare.value(owner) == "alice"],
            success=[Op.put(owner, "carol")],
        )
        print(f"alice -> carol: succeeded={resp.succeeded}")

        # Optimistic concurrency: five concurrent increments, none lost.
        counter = PREFIX + "counter"
        await asyncio.gather(*(increment(client, counter) for _ in range(5)))
        value = (await client.get(counter)).kvs[0].value.decode()
        print(f"counter after 5 concurrent increments: {value}")

        await client.delete(PREFIX, prefix=True)


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
