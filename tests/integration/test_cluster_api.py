"""Cluster membership calls against one real member: the results match etcdctl's,
learners can be announced, updated and removed, and endpoint sync follows the
member list. (Multi-member changes: tests/cluster/test_membership.py.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

import aetcd
from aetcd._cluster import Member
from aetcd.testing import EtcdServer, free_ports


@pytest.fixture(scope="module")
def own_server() -> Iterator[EtcdServer]:
    """A member of our own for membership changes (the session server stays intact)."""
    with EtcdServer(name="cluster-api") as server:
        yield server


async def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    """Poll `predicate` until it holds (fail after `timeout` seconds)."""
    with anyio.fail_after(timeout):
        while True:
            if predicate():
                return
            await anyio.sleep(0.05)


async def settle(client: aetcd.Client) -> None:
    """Wait until the last membership change is fully applied by raft.

    etcd's raft accepts one configuration change at a time and silently drops one
    proposed while the previous is not yet marked applied inside raft, which lags a
    moment behind the reply; the dropped call then just times out. A write that went
    through the log after the change proves raft has moved past it.
    """
    await client.put("/cluster-api/barrier", "")


def unused_peer_url() -> str:
    return f"http://127.0.0.1:{free_ports(1)[0]}"


async def test_member_list_matches_etcdctl(client: aetcd.Client, etcdctl: Any) -> None:
    response = await client.member_list()
    expected = etcdctl("member", "list")
    assert response.header.cluster_id == int(expected["header"]["cluster_id"])
    assert len(response) == len(expected["members"]) == 1
    [member] = response
    [info] = expected["members"]
    assert member == Member(
        id=int(info["ID"]),
        name=info["name"],
        peer_urls=tuple(info["peerURLs"]),
        client_urls=tuple(info["clientURLs"]),
        is_learner=bool(info.get("isLearner", False)),
    )
    assert member.started
    assert response.get(member.id) == member
    assert response.get(member.id + 1) is None
    assert member.client_urls == (client.endpoints[0],)


async def test_member_list_linearizable(client: aetcd.Client) -> None:
    # etcd 3.5 confirms with the leader first; 3.4 ignores the flag: same answer here.
    plain = await client.member_list()
    linearizable = await client.member_list(linearizable=True)
    assert linearizable.members == plain.members


async def test_learner_lifecycle_without_starting_it(own_server: EtcdServer) -> None:
    # Membership changes fsync the WAL and the backend: generous on a loaded machine.
    async with aetcd.Client(own_server.endpoint, timeout=15) as client:
        [me] = await client.member_list()
        url = unused_peer_url()
        added = await client.member_add(url, learner=True)
        learner = added.member
        assert learner.is_learner
        assert learner.peer_urls == (url,)
        # Announced but not started: no name, no client URLs yet.
        assert (learner.name, learner.client_urls, learner.started) == ("", (), False)
        assert {m.id for m in added} == {me.id, learner.id}
        listed = (await client.member_list()).get(learner.id)
        assert listed == learner
        await settle(client)

        # etcd derives member ids from the peer URLs and the second of the request, so
        # a repeat within the same second reports the id rather than the URL.
        with pytest.raises((aetcd.PeerURLExistError, aetcd.MemberExistError)):
            await client.member_add([url], learner=True)
        await settle(client)

        new_url = unused_peer_url()
        updated = await client.member_update(learner.id, [new_url])
        assert updated.get(learner.id) is not None
        assert updated.get(learner.id).peer_urls == (new_url,)  # type: ignore[union-attr]
        await settle(client)

        # A learner that never started is far behind the leader.
        with pytest.raises(aetcd.LearnerNotReadyError) as not_ready:
            await client.member_promote(learner.id)
        assert "in sync with leader" in not_ready.value.message
        with pytest.raises(aetcd.MemberNotLearnerError):
            await client.member_promote(me.id)
        await settle(client)

        removed = await client.member_remove(learner.id)
        assert [m.id for m in removed] == [me.id]
        # The second removal is a membership change too: proposed before raft applied the
        # first, etcd drops it and the call times out (seen under load in CI).
        await settle(client)
        with pytest.raises(aetcd.MemberNotFoundError):
            await client.member_remove(learner.id)
        assert [m.id for m in await client.member_list()] == [me.id]


async def test_membership_arguments_are_checked_before_sending(client: aetcd.Client) -> None:
    with pytest.raises(aetcd.ArgumentValueError, match="peer_urls"):
        await client.member_add([])
    with pytest.raises(aetcd.ArgumentValueError, match="peer_urls"):
        await client.member_add(" ")
    with pytest.raises(aetcd.ArgumentTypeError, match="peer_urls"):
        await client.member_add(b"http://127.0.0.1:1")  # type: ignore[arg-type]
    with pytest.raises(aetcd.ArgumentTypeError, match="peer_urls"):
        await client.member_add([1])  # type: ignore[list-item]
    with pytest.raises(aetcd.ArgumentValueError, match="id"):
        await client.member_remove(0)
    with pytest.raises(aetcd.ArgumentTypeError, match="id"):
        await client.member_promote("8e9e05c52164694d")  # type: ignore[arg-type]
    with pytest.raises(aetcd.ArgumentTypeError, match="linearizable"):
        await client.member_list(linearizable=1)  # type: ignore[arg-type]


async def test_sync_endpoints_uses_the_advertised_client_urls(etcd_server: EtcdServer) -> None:
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    async with aetcd.Client([dead, etcd_server.endpoint]) as client:
        assert await client.sync_endpoints() == (etcd_server.endpoint,)
        assert client.endpoints == (etcd_server.endpoint,)


async def test_auto_sync_replaces_the_endpoints(etcd_server: EtcdServer) -> None:
    # Given a dead endpoint and the member's address in another spelling, the client
    # ends up with exactly the URL the member advertises.
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    bare = etcd_server.endpoint.removeprefix("http://")
    async with aetcd.Client([dead, bare], auto_sync_interval=0.1) as client:
        assert len(client.endpoints) == 2
        await wait_until(lambda: client.endpoints == (etcd_server.endpoint,), 10)
        assert (await client.get("k")).header.member_id != 0
