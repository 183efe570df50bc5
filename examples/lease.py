"""Leases: keys that vanish after a TTL, KeepAliveOnce, Revoke, and background keep-alive.

Port of the "Lease" section of the etcd programming book (chapter3/10_lease/lease.go).
Run against a local etcd, or set ETCD_ENDPOINTS (default http://127.0.0.1:2379).
"""

from __future__ import annotations

import asyncio
import os
import time

import aetcd

KEY = "/chapter3/lease"


async def main(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as client:
        # Grant a 5 s lease and attach a key to it: the key disappears with the lease.
        lease = await client.lease_grant(5)
        print(f"granted lease {lease.id:x} with a TTL of {lease.ttl} s")
        await client.put(KEY, "value", lease=lease.id)
        while True:
            resp = await client.get(KEY)
            if not resp.kvs:
                print(f"'{KEY}' disappeared")
                break
            print(f"[{time.strftime('%H:%M:%S')}] {resp.kvs[0].value.decode()}")
            await asyncio.sleep(1)

        # KeepAliveOnce renews a lease for its full TTL again.
        lease = await client.lease_grant(5)
        await client.put(KEY, "value", lease=lease.id)
        await asyncio.sleep(2)
        left = (await client.lease_time_to_live(lease.id)).ttl
        print(f"after 2 s the lease has {left} s left (rounded down)")
        renewed = await client.lease_keep_alive_once(lease.id)
        print(f"kept alive once: the TTL is {renewed.ttl} s again")

        # Revoke ends a lease (and deletes its keys) before its TTL runs out.
        await client.lease_revoke(lease.id)
        print(f"revoked: '{KEY}' exists? {bool((await client.get(KEY)).kvs)}")

        # KeepAlive in the background: the key outlives the TTL while the block runs,
        # and the lease is revoked when the block ends.
        async with client.lease(2) as kept:
            await client.put(KEY, "value", lease=kept)
            await asyncio.sleep(4)
            print(
                f"after 4 s with a 2 s TTL, kept alive: '{KEY}' exists? "
                f"{bool((await client.get(KEY)).kvs)}"
            )
        print(f"after the block: '{KEY}' exists? {bool((await client.get(KEY)).kvs)}")


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
