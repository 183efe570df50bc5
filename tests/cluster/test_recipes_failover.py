"""Locks and elections through member failures of a 3-member cluster."""

from __future__ import annotations

import time

import anyio
import pytest

import aetcd
from aetcd.testing import EtcdCluster


@pytest.mark.cluster
async def test_lock_and_election_through_member_failures(etcd_cluster: EtcdCluster) -> None:
    """A holder cut off with its member loses the lock to a waiter elsewhere after its
    TTL; a holder that can reach the other members keeps its lock and its leadership."""
    first, second, third = etcd_cluster.members
    ttl = 2
    async with (
        aetcd.Client(first.endpoint, timeout=2) as isolated,
        aetcd.Client([second.endpoint, third.endpoint], timeout=2) as waiter_client,
        aetcd.Client(etcd_cluster.endpoints, timeout=2) as robust,
    ):
        # `robust` holds a lock and leads an election on all endpoints.
        robust_lock = await robust.lock("/failover/robust", ttl=ttl)
        election = robust.election("/failover/election", ttl=ttl)
        await election.campaign("robust")

        # `isolated` only knows the first member; `waiter_client` queues behind it.
        held = await isolated.lock("/failover/L", ttl=ttl)
        acquired_at: list[float] = []

        async def wait_for_lock() -> None:
            async with waiter_client.lock("/failover/L", ttl=ttl, timeout=15):
                acquired_at.append(time.monotonic())

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_for_lock)
            with anyio.fail_after(5):
                while True:
                    count = await waiter_client.get("/failover/L/", prefix=True, count_only=True)
                    if count.count == 2:
                        break
                    await anyio.sleep(0.02)
            await anyio.to_thread.run_sync(first.kill)
            killed_at = time.monotonic()
        waited = acquired_at[0] - killed_at
        print(f"waiter got the lock {waited:.2f} s after the holder's member died")
        assert waited < 3 * ttl + 2
        with anyio.fail_after(3 * ttl):
            assert held.session is not None
            await held.session.wait_expired()  # the cut-off holder learns it lost it
        assert not held.held

        # Meanwhile `robust` kept its lock and its leadership through the failure.
        await anyio.sleep(ttl)
        assert robust_lock.held
        resp = await robust.txn([robust_lock.is_owner()], [aetcd.Op.put("/failover/x", "1")])
        assert resp.succeeded
        await election.proclaim("still robust")
        leader = await waiter_client.election("/failover/election").leader()
        assert leader is not None
        assert leader.value == b"still robust"
        await election.resign()
        await robust_lock.release()
