"""Locks: mutual exclusion between tasks and processes, compatible with `etcdctl lock`.

`async with client.lock(name)` runs its body only while the lock is held; the key
layout is Go's `concurrency.Mutex`, so `etcdctl lock /examples/lock` in another
terminal contends for the same lock. Run against a local etcd, or set ETCD_ENDPOINTS
(default http://127.0.0.1:2379).
"""

from __future__ import annotations

import asyncio
import os

import aetcd

LOCK = "/examples/lock"
COUNTER = "/examples/lock-counter"


async def main(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as client:
        await client.put(COUNTER, "0")

        # Three workers increment a counter with a read-modify-write: without the lock
        # they would overwrite each other's updates.
        async def worker() -> None:
            for _ in range(5):
                async with client.lock(LOCK, ttl=10):
                    value = int((await client.get(COUNTER)).kvs[0].value)
                    await asyncio.sleep(0.01)
                    await client.put(COUNTER, str(value + 1))

        await asyncio.gather(worker(), worker(), worker())
        counter = (await client.get(COUNTER)).kvs[0].value.decode()
        print(f"counter after 3 x 5 locked increments: {counter}")

        # The key is "<name>/<session lease id in hex>", as Go and etcdctl write it.
        async with client.lock(LOCK, ttl=10) as lock:
            assert lock.key is not None
            assert lock.session is not None
            print(f"holding the lock: key {lock.key.decode()} (lease {lock.session.id:x})")

            # Another contender cannot take it without waiting...
            other = client.lock(LOCK, ttl=10)
            print(f"try_acquire while held: {await other.try_acquire()}")
            try:
                async with client.lock(LOCK, ttl=10, timeout=0.5):
                    print("never printed")
            except aetcd.LockTimeoutError:
                print("a lock with timeout=0.5 gave up: LockTimeoutError")

            # ...and writes guarded by is_owner() only apply while we hold the lock.
            guard = lock.is_owner()
            resp = await client.txn([guard], [aetcd.Op.put(COUNTER, "guarded")])
            print(f"guarded write while holding the lock succeeded: {resp.succeeded}")
        resp = await client.txn([guard], [aetcd.Op.put(COUNTER, "late")])
        print(f"guarded write after releasing it succeeded: {resp.succeeded}")

        await client.delete(COUNTER)


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
