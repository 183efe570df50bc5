"""member and endpoint commands on a 3-member cluster, against etcdctl's output."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from cli_helpers import Result, aetcdctl_command, run_in_process, run_process

from aetcd.testing import EtcdCluster, find_etcdctl_binary

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[EtcdCluster]:
    # etcd refuses membership changes ("unhealthy cluster") until every member has been
    # connected for 5 s; this module adds members right after the start.
    with EtcdCluster(3, extra_args=["--strict-reconfig-check=false"]) as cluster:
        yield cluster


def ours(cluster: EtcdCluster, *args: str, endpoints: list[str] | None = None) -> Result:
    eps = ",".join(endpoints or cluster.endpoints)
    return run_in_process([f"--endpoints={eps}", *args])


def theirs(cluster: EtcdCluster, *args: str, endpoints: list[str] | None = None) -> Result:
    eps = ",".join(endpoints or cluster.endpoints)
    return run_process([find_etcdctl_binary(), f"--endpoints={eps}", *args])


def test_member_list_matches_etcdctl(cluster: EtcdCluster) -> None:
    one = [cluster.endpoints[1]]  # the same member answers both
    a = ours(cluster, "member", "list", "-w", "json", endpoints=one)
    b = theirs(cluster, "member", "list", "-w", "json", endpoints=one)
    assert a.code == b.code == 0
    assert a.out == b.out
    data = a.json
    assert data.keys() == {"header", "members"}
    assert {frozenset(m) for m in data["members"]} == {
        frozenset({"ID", "name", "peerURLs", "clientURLs"})
    }
    # Any member may answer: the same members, whoever did.
    a_all = ours(cluster, "member", "list", "-w", "json").json
    b_all = theirs(cluster, "member", "list", "-w", "json").json
    assert a_all["members"] == b_all["members"]
    assert a_all["header"]["cluster_id"] == b_all["header"]["cluster_id"]
    for fmt in ("simple", "table"):
        a, b = (
            ours(cluster, "member", "list", "-w", fmt),
            theirs(cluster, "member", "list", "-w", fmt),
        )
        assert a.out == b.out
    assert len(ours(cluster, "member", "list").text.splitlines()) == 3


def test_member_list_hex(cluster: EtcdCluster) -> None:
    data = ours(cluster, "member", "list", "-w", "json", "--hex").json
    assert re.fullmatch(r"[0-9a-f]+", data["header"]["cluster_id"])
    ids = {m["ID"] for m in data["members"]}
    assert ids == {f"{m.member_id:x}" for m in cluster.members}


def _stable_status(entry: dict[str, Any]) -> dict[str, Any]:
    status = dict(entry["Status"])
    for volatile in ("dbSize", "dbSizeInUse", "raftIndex", "raftAppliedIndex"):
        assert isinstance(status.pop(volatile), int)
    header = dict(status.pop("header"))
    header.pop("revision", None)
    return {"Endpoint": entry["Endpoint"], "header": header, **status}


def test_endpoint_status_matches_etcdctl(cluster: EtcdCluster) -> None:
    a = ours(cluster, "endpoint", "status", "-w", "json")
    b = theirs(cluster, "endpoint", "status", "-w", "json")
    assert a.code == b.code == 0
    assert [_stable_status(e) for e in a.json] == [_stable_status(e) for e in b.json]
    assert [e["Endpoint"] for e in a.json] == cluster.endpoints

    def rows(result: Result) -> list[list[str]]:
        # endpoint, ID, version, db size, is leader, is learner, raft term, (indexes), errors
        return [
            [c for i, c in enumerate(line.split(", ")) if i not in (3, 7, 8)]
            for line in result.text.splitlines()
        ]

    assert rows(ours(cluster, "endpoint", "status")) == rows(theirs(cluster, "endpoint", "status"))
    table = ours(cluster, "endpoint", "status", "-w", "table").text.splitlines()
    assert (
        table[1].split("|")[1:-1]
        == theirs(cluster, "endpoint", "status", "-w", "table")
        .text.splitlines()[1]
        .split("|")[1:-1]
    )
    assert len(table) == 3 + 3 + 1
    # --cluster: every member's client URL, whatever --endpoints lists.
    one = [cluster.endpoints[0]]
    a_cluster = ours(cluster, "endpoint", "status", "--cluster", "-w", "json", endpoints=one).json
    b_cluster = theirs(cluster, "endpoint", "status", "--cluster", "-w", "json", endpoints=one).json
    assert [e["Endpoint"] for e in a_cluster] == [e["Endpoint"] for e in b_cluster]
    assert sorted(e["Endpoint"] for e in a_cluster) == sorted(cluster.endpoints)


def test_endpoint_health_and_hashkv(cluster: EtcdCluster) -> None:
    a = ours(cluster, "endpoint", "health", "-w", "json")
    b = theirs(cluster, "endpoint", "health", "-w", "json")
    assert a.code == b.code == 0
    assert (
        [set(h) for h in a.json] == [set(h) for h in b.json] == [{"endpoint", "health", "took"}] * 3
    )
    assert [(h["endpoint"], h["health"]) for h in a.json] == [
        (ep, True) for ep in cluster.endpoints
    ]
    simple = ours(cluster, "endpoint", "health")
    for line, endpoint in zip(simple.text.splitlines(), cluster.endpoints, strict=True):
        assert re.fullmatch(
            re.escape(endpoint)
            + r" is healthy: successfully committed proposal: took = [\d.]+[µm]?s",
            line,
        )
    a = ours(cluster, "endpoint", "hashkv", "-w", "json")
    b = theirs(cluster, "endpoint", "hashkv", "-w", "json")
    assert a.out == b.out
    assert (
        ours(cluster, "endpoint", "hashkv", "-w", "table").out
        == theirs(cluster, "endpoint", "hashkv", "-w", "table").out
    )


def test_unreachable_endpoint_is_reported(cluster: EtcdCluster) -> None:
    dead = "127.0.0.1:1"
    result = run_in_process(
        [
            f"--endpoints={cluster.endpoints[0]},{dead}",
            "--dial-timeout=300ms",
            "--command-timeout=1s",
            "endpoint",
            "health",
        ]
    )
    assert result.code == 1
    assert result.text.startswith(f"{cluster.endpoints[0]} is healthy")
    assert result.err.startswith(f"{dead} is unhealthy: failed to commit proposal: ")
    assert result.err.endswith("Error: unhealthy cluster\n")
    status = run_in_process(
        [
            f"--endpoints={cluster.endpoints[0]},{dead}",
            "--dial-timeout=300ms",
            "--command-timeout=1s",
            "endpoint",
            "status",
            "-w",
            "json",
        ]
    )
    assert status.code == 1
    assert [e["Endpoint"] for e in status.json] == [cluster.endpoints[0]]
    assert status.err.startswith(f"Failed to get the status of endpoint {dead} (")


def test_member_add_update_promote_remove(cluster: EtcdCluster) -> None:
    add = ours(
        cluster,
        "member",
        "add",
        "newbie",
        "--peer-urls=http://127.0.0.1:1",
        "--learner",
        "-w",
        "json",
    )
    assert add.code == 0, add
    data = add.json
    assert data.keys() == {"header", "member", "members"}
    assert data["member"] == {
        "ID": data["member"]["ID"],
        "peerURLs": ["http://127.0.0.1:1"],
        "isLearner": True,
    }
    hex_id = f"{data['member']['ID']:x}"
    # Promoting a learner that never started: etcd's refusal, on one line, exit 1.
    a, b = ours(cluster, "member", "promote", hex_id), theirs(cluster, "member", "promote", hex_id)
    assert a.code == b.code == 1
    assert (
        a.err
        == "Error: etcdserver: can only promote a learner member which is in sync with leader\n"
    )
    assert a.err == b.err.splitlines()[-1] + "\n"
    upd = ours(cluster, "member", "update", hex_id, "--peer-urls=http://127.0.0.1:2")
    cluster_id = data["header"]["cluster_id"]
    assert upd.text == f"Member {int(hex_id, 16):16x} updated in cluster {cluster_id:16x}\n"
    rm = ours(cluster, "member", "remove", hex_id, "-w", "json")
    assert rm.json.keys() == {"header", "members"}
    assert len(rm.json["members"]) == 3

    # Simple output, including the configuration to start the new member with.
    add = ours(cluster, "member", "add", "newbie", "--peer-urls=http://127.0.0.1:3", "--learner")
    lines = add.text.splitlines()
    member_id = re.fullmatch(r"Member ([0-9a-f ]{16}) added to cluster ([0-9a-f ]{16})", lines[0])
    assert member_id is not None
    assert lines[1:3] == ["", 'ETCD_NAME="newbie"']
    assert lines[3].startswith('ETCD_INITIAL_CLUSTER="')
    assert "newbie=http://127.0.0.1:3" in lines[3]
    assert lines[4:] == [
        'ETCD_INITIAL_ADVERTISE_PEER_URLS="http://127.0.0.1:3"',
        'ETCD_INITIAL_CLUSTER_STATE="existing"',
    ]
    rm = theirs(cluster, "member", "remove", member_id.group(1).strip())
    assert rm.code == 0
    missing = ours(cluster, "member", "remove", member_id.group(1).strip())
    assert (missing.code, missing.err) == (1, "Error: etcdserver: member not found\n")


def test_defrag_cluster(cluster: EtcdCluster) -> None:
    result = ours(cluster, "defrag", "--cluster", endpoints=[cluster.endpoints[0]])
    assert result.code == 0
    assert sorted(result.text.splitlines()) == sorted(
        f"Finished defragmenting etcd member[{ep}]" for ep in cluster.endpoints
    )


def test_python_dash_m_runs_the_cli(cluster: EtcdCluster) -> None:
    result = run_process(
        aetcdctl_command(f"--endpoints={cluster.endpoints[0]}", "member", "list", "-w", "table")
    )
    assert result.code == 0
    assert result.out == theirs(cluster, "member", "list", "-w", "table").out
