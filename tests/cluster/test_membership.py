"""Membership changes on a real 3-member cluster: a learner is added, started,
promoted once it has caught up and removed again, with auto-sync following along;
leadership moves on request; pinned maintenance calls see every member."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import pytest

import aetcd
from aetcd.testing import EtcdCluster

pytestmark = pytest.mark.cluster


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float) -> float:
    """Poll `predicate` until it holds; return the seconds it took."""
    start = time.monotonic()
    with anyio.fail_after(timeout):
        while True:
            if await predicate():
                return time.monotonic() - start
            await anyio.sleep(0.1)


async def settle(client: aetcd.Client) -> None:
    """Wait until the last membership change is fully applied by raft (etcd silently
    drops a change proposed while raft has not yet marked the previous one applied,
    which lags a moment behind the reply): a write through the log proves it."""
    await client.put("/membership/barrier", "")


async def test_learner_is_added_started_promoted_and_removed(etcd_cluster: EtcdCluster) -> None:
    first = etcd_cluster.members[0]
    async with (
        aetcd.Client(etcd_cluster.endpoints, timeout=15) as client,
        aetcd.Client(first.endpoint, auto_sync_interval=0.2) as synced,
    ):
        voters = set(etcd_cluster.endpoints)

        async def synced_to(expected: set[str]) -> bool:
            return set(synced.endpoints) == expected

        await wait_until(lambda: synced_to(voters), 10)

        # Announce a learner. Right after the cluster starts etcd refuses changes for
        # a few seconds ("unhealthy cluster"); the client retries until its deadline.
        learner = etcd_cluster.spawn_member()
        added = await client.member_add([learner.peer_url], learner=True)
        learner_id = added.member.id
        assert added.member.is_learner
        assert len(added.members) == 4

        learner.start()
        started = await client.member_list()
        me = started.get(learner_id)
        assert me is not None
        assert me.started
        assert me.is_learner
        assert me.client_urls == (learner.endpoint,)
        status = await client.status(learner.endpoint)
        assert status.is_learner
        assert status.member_id == learner_id
        # A started learner serves no client traffic: auto-sync leaves it out.
        await anyio.sleep(0.6)
        assert set(synced.endpoints) == voters

        # Promote it as soon as it has caught up with the leader.
        async def promoted() -> bool:
            try:
                await client.member_promote(learner_id)
            except aetcd.LearnerNotReadyError:
                return False
            return True

        await wait_until(promoted, 30)
        await settle(client)
        members = await client.member_list()
        assert [m.is_learner for m in members] == [False] * 4
        assert not (await client.status(learner.endpoint)).is_learner
        await wait_until(lambda: synced_to(voters | {learner.endpoint}), 10)

        removed = await client.member_remove(learner_id)
        assert learner_id not in {m.id for m in removed}

        # MemberList is served from the answering member's own view, which may lag the
        # removal for a moment when another member answers (seen under load in CI).
        async def three_members() -> bool:
            return len(await client.member_list()) == 3

        await wait_until(three_members, 10)
        await wait_until(lambda: synced_to(voters), 10)
        await client.put("k", "still a quorum")


async def test_move_leader(etcd_cluster: EtcdCluster) -> None:
    leader = etcd_cluster.leader()
    followers = [m for m in etcd_cluster.members if m is not leader]
    target = followers[0].member_id
    async with aetcd.Client(etcd_cluster.endpoints, timeout=15) as client:
        await client.move_leader(target)

        async def leader_is(member_id: int) -> bool:
            return (await client.status()).leader == member_id

        await wait_until(lambda: leader_is(target), 10)
        with pytest.raises(aetcd.BadLeaderTransfereeError):
            await client.move_leader(target ^ 0xFFFF)

    # Through a follower only: the leader is found through the member list.
    other = followers[1]
    async with aetcd.Client(other.endpoint, timeout=15) as client:
        await client.move_leader(other.member_id)
        assert (await client.status(other.endpoint)).is_leader


async def test_pinned_maintenance_calls_see_every_member(etcd_cluster: EtcdCluster) -> None:
    async with aetcd.Client(etcd_cluster.endpoints) as client:
        revision = (await client.put("k", "v")).header.revision
        statuses = [await client.status(ep) for ep in etcd_cluster.endpoints]
        assert {s.member_id for s in statuses} == {m.id for m in await client.member_list()}
        assert len({s.leader for s in statuses}) == 1
        assert sum(s.is_leader for s in statuses) == 1
        assert len({s.header.cluster_id for s in statuses}) == 1

        # Consistent members have the same history hash at the same revision.
        async def hashes() -> bool:
            results = [await client.hash_kv(ep, revision) for ep in etcd_cluster.endpoints]
            return len({r.hash for r in results}) == 1

        await wait_until(hashes, 10)
        for ep in etcd_cluster.endpoints:
            await client.defragment(ep, timeout=30)
