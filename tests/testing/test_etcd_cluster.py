"""Three-member clusters: failures of single members, restart and rejoin, pause."""

from __future__ import annotations

import base64
import time

import pytest

from aetcd.testing import EtcdCluster, EtcdctlError, EtcdMember, EtcdTestingError

pytestmark = pytest.mark.cluster


def _local_value(member: EtcdMember, key: str) -> str | None:
    """The value `member` itself holds (serializable read: no leader round trip)."""
    got = member.etcdctl("get", key, "--consistency=s")
    kvs = got.get("kvs") or []
    return None if not kvs else _b64(kvs[0]["value"])


def _b64(text: str) -> str:
    return base64.b64decode(text).decode()


def _put_with_retry(
    cluster: EtcdCluster, key: str, value: str, endpoints: list[str] | None = None
) -> None:
    # A write racing an election may time out: etcd does not retry it for us.
    deadline = time.monotonic() + 20
    while True:
        try:
            cluster.etcdctl("put", key, value, endpoints=endpoints)
            return
        except EtcdctlError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_members_and_endpoints(etcd_cluster: EtcdCluster) -> None:
    members = etcd_cluster.members
    assert [m.name for m in members] == ["etcd0", "etcd1", "etcd2"]
    assert etcd_cluster.endpoints == [m.client_url for m in members]
    assert len({m.client_port for m in members} | {m.peer_port for m in members}) == 6
    listed = etcd_cluster.etcdctl("member", "list")["members"]
    assert sorted(m["name"] for m in listed) == ["etcd0", "etcd1", "etcd2"]
    for m in members:
        assert etcd_cluster.member_by_name(m.name) is m
        assert etcd_cluster.member_by_id(m.member_id) is m
        assert m.is_healthy()
    with pytest.raises(KeyError):
        etcd_cluster.member_by_name("nope")


def test_killed_leader_is_replaced_and_rejoins(etcd_cluster: EtcdCluster) -> None:
    old_leader = etcd_cluster.leader()
    old_leader.kill()
    assert not old_leader.is_running
    survivors = [m.client_url for m in etcd_cluster.running_members]
    assert len(survivors) == 2

    new_leader = etcd_cluster.leader()
    assert new_leader is not old_leader
    _put_with_retry(etcd_cluster, "while-down", "1", survivors)

    old_leader.restart()
    assert old_leader.is_healthy()
    # It catches up on the write it missed.
    deadline = time.monotonic() + 10
    while _local_value(old_leader, "while-down") != "1":
        assert time.monotonic() < deadline, "restarted member did not catch up"
        time.sleep(0.05)
    etcd_cluster.etcdctl("put", "after", "2", endpoints=[old_leader.client_url])
    assert _local_value(new_leader, "after") in ("2", None)  # replicated or in flight


def test_stopped_follower_and_cluster_wait_ready(etcd_cluster: EtcdCluster) -> None:
    leader = etcd_cluster.leader()
    follower = next(m for m in etcd_cluster.members if m is not leader)
    follower.stop()
    _put_with_retry(etcd_cluster, "k", "v", [m.client_url for m in etcd_cluster.running_members])
    follower.start(wait=False)
    etcd_cluster.wait_ready()
    assert all(m.is_healthy() for m in etcd_cluster.members)


def test_quorum_loss_and_recovery(etcd_cluster: EtcdCluster) -> None:
    a, b, c = etcd_cluster.members
    a.kill()
    b.kill()
    with pytest.raises(EtcdctlError):
        etcd_cluster.etcdctl("--command-timeout=1s", "put", "k", "v")
    a.start(wait=False)
    b.start(wait=False)
    etcd_cluster.wait_ready()
    _put_with_retry(etcd_cluster, "k", "v", etcd_cluster.endpoints)
    assert c.is_healthy()


def test_paused_follower_does_not_block_writes(etcd_cluster: EtcdCluster) -> None:
    leader = etcd_cluster.leader()
    follower = next(m for m in etcd_cluster.members if m is not leader)
    follower.pause()
    assert follower.is_paused
    # By default etcdctl is pointed at the unpaused members only.
    _put_with_retry(etcd_cluster, "k", "v")
    follower.resume()
    follower.wait_ready()
    deadline = time.monotonic() + 10
    while _local_value(follower, "k") != "v":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_paused_leader_is_replaced(etcd_cluster: EtcdCluster) -> None:
    leader = etcd_cluster.leader()
    leader.pause()
    new_leader = etcd_cluster.leader()
    assert new_leader is not leader
    leader.resume()
    etcd_cluster.wait_ready()


def test_spawn_member_after_member_add() -> None:
    # Strict reconfig checks would make `member add` wait until every member has
    # been connected for 5 s; not what this test is about.
    with EtcdCluster(3, extra_args=["--strict-reconfig-check=false"]) as cluster:
        member = cluster.spawn_member(name="late")
        assert not member.is_running
        assert member in cluster.members
        cluster.etcdctl("member", "add", "late", f"--peer-urls={member.peer_url}", "--learner")
        member.start()
        listed = {m["name"]: m for m in cluster.etcdctl("member", "list")["members"]}
        assert listed["late"].get("isLearner") is True
        with pytest.raises(ValueError, match="exists"):
            cluster.spawn_member(name="late")
    assert not member.is_running
    assert not member.data_dir.exists()


def test_cluster_cannot_start_twice() -> None:
    cluster = EtcdCluster(1)
    with cluster, pytest.raises(EtcdTestingError, match="already"):
        cluster.start()
    assert cluster.members == []
    with pytest.raises(ValueError, match="at least one"):
        EtcdCluster(0)
