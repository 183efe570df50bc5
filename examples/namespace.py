"""Namespaces: a view of the client in which every key is under one prefix.

Port of the "Namespace" section of the etcd programming book
(chapter3/11_namespace/namespace.go): `client.with_namespace(prefix)` is Go's
`namespace.NewKV` + `NewWatcher` + `NewLease` in one. Run against a local etcd, or set
ETCD_ENDPOINTS (default http://127.0.0.1:2379).
"""

from __future__ import annotations

import asyncio
import os

import aetcd


async def main(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as client:
        new_client = client.with_namespace("/chapter3")

        # Written through the namespace as /ns/1, stored as /chapter3/ns/1.
        await new_client.put("/ns/1", "hoge")
        resp = await client.get("/chapter3/ns/1")
        print(f"{resp.kvs[0].key.decode()}: {resp.kvs[0].value.decode()}")

        # Written as /chapter3/ns/2, read through the namespace as /ns/2.
        await client.put("/chapter3/ns/2", "test")
        resp = await new_client.get("/ns/2")
        print(f"{resp.kvs[0].key.decode()}: {resp.kvs[0].value.decode()}")

        # Watches and leases work through the namespace too (Go's NewWatcher/NewLease).
        async with new_client.watch("/ns/", prefix=True) as watch:
            await client.put("/chapter3/ns/3", "watched")
            event = await anext(watch.events())
            print(f"watch: {event.type.name} {event.kv.key.decode()} = {event.kv.value.decode()}")
        async with new_client.lease(5) as lease:
            await new_client.put("/ns/4", "leased", lease=lease)
            ttl = await new_client.lease_time_to_live(lease.id, keys=True)
            keys = [k.decode() for k in ttl.keys]
            print(f"keys of the lease, seen through the namespace: {keys}")

        # "Every key" means every key of the namespace, never beyond it.
        await client.put("/chapter4/outside", "outside")
        everything = await new_client.get("", prefix=True)
        print(f"all keys in the namespace: {[kv.key.decode() for kv in everything.kvs]}")

        await client.delete("/chapter3/", prefix=True)
        await client.delete("/chapter4/outside")


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
