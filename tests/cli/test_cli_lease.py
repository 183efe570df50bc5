"""lease grant / timetolive / revoke / list / keep-alive against etcdctl's output."""

from __future__ import annotations

import re

from cli_helpers import Runner

HEADER = {"cluster_id", "member_id", "revision", "raft_term"}


def _grant(run: Runner, ttl: int = 60) -> int:
    result = run("lease", "grant", ttl, "-w", "json")
    assert result.code == 0, result
    lease_id: int = result.json["ID"]
    return lease_id


def _normal(text: str) -> str:
    """A timetolive line with the remaining TTL blanked and the keys sorted."""
    text = re.sub(r"remaining\(\d+s\)", "remaining(N)", text)
    return re.sub(
        r"attached keys\(\[(.*)\]\)",
        lambda m: "attached keys([" + " ".join(sorted(m.group(1).split())) + "])",
        text,
    )


def test_grant_matches_etcdctl(aetcdctl: Runner, etcdctl_cli: Runner) -> None:
    ours = aetcdctl("lease", "grant", "60", "-w", "json").json
    theirs = etcdctl_cli("lease", "grant", "60", "-w", "json").json
    # The header is flattened into the response, as etcdctl prints clientv3's struct.
    assert ours.keys() == theirs.keys() == HEADER | {"ID", "TTL", "Error"}
    assert (ours["TTL"], ours["Error"]) == (theirs["TTL"], theirs["Error"]) == (60, "")
    assert {k: ours[k] for k in ("cluster_id", "member_id", "raft_term")} == {
        k: theirs[k] for k in ("cluster_id", "member_id", "raft_term")
    }
    simple = aetcdctl("lease", "grant", "30").text
    assert re.fullmatch(r"lease [0-9a-f]{16} granted with TTL\(30s\)\n", simple)
    assert re.fullmatch(
        r"lease [0-9a-f]{16} granted with TTL\(30s\)\n", etcdctl_cli("lease", "grant", "30").text
    )
    for data in (ours, theirs):
        etcdctl_cli("lease", "revoke", f"{data['ID']:x}")


def test_timetolive_matches_etcdctl(prefix: str, aetcdctl: Runner, etcdctl_cli: Runner) -> None:
    lease = _grant(aetcdctl)
    hex_id = f"{lease:x}"
    aetcdctl("put", prefix + "k1", "v", f"--lease={hex_id}")
    aetcdctl("put", prefix + "k2", "v", f"--lease={hex_id}")
    for flags in ([], ["--keys"]):
        ours = aetcdctl("lease", "timetolive", hex_id, *flags, "-w", "json").json
        theirs = etcdctl_cli("lease", "timetolive", hex_id, *flags, "-w", "json").json
        assert ours.keys() == theirs.keys() == HEADER | {"id", "ttl", "granted-ttl", "keys"}
        # The remaining TTL may tick between the two runs; etcd lists keys in no order.
        assert abs(ours.pop("ttl") - theirs.pop("ttl")) <= 2
        assert sorted(ours.pop("keys") or []) == sorted(theirs.pop("keys") or [])
        assert ours == theirs
        assert _normal(aetcdctl("lease", "timetolive", hex_id, *flags).text) == _normal(
            etcdctl_cli("lease", "timetolive", hex_id, *flags).text
        )
    assert _normal(aetcdctl("lease", "timetolive", hex_id, "--keys").text) == (
        f"lease {lease:016x} granted with TTL(60s), remaining(N), "
        f"attached keys([{prefix}k1 {prefix}k2])\n"
    )

    # Revoked: both report it expired, in the same shapes.
    assert aetcdctl("lease", "revoke", hex_id).text == f"lease {lease:016x} revoked\n"
    for flags in ([], ["-w", "json"]):
        ours_r, theirs_r = (
            aetcdctl("lease", "timetolive", hex_id, *flags),
            etcdctl_cli("lease", "timetolive", hex_id, *flags),
        )
        assert ours_r.code == theirs_r.code == 0
        if flags:
            a, b = ours_r.json, theirs_r.json
            assert a.keys() == b.keys()
            assert (a["ttl"], a["granted-ttl"], a["keys"]) == (-1, 0, None)
            assert (a["id"], a["cluster_id"]) == (b["id"], b["cluster_id"])
        else:
            assert ours_r.out == theirs_r.out == f"lease {lease:016x} already expired\n".encode()


def test_revoke_list_keep_alive(aetcdctl: Runner, etcdctl_cli: Runner) -> None:
    lease = _grant(aetcdctl, 120)
    hex_id = f"{lease:x}"
    listing = aetcdctl("lease", "list").text.splitlines()
    assert listing[0].startswith("found ")
    assert f"{lease:016x}" in listing[1:]
    data = aetcdctl("lease", "list", "-w", "json").json
    assert data.keys() == HEADER | {"leases"}
    assert {"id": lease} in data["leases"]

    ours = aetcdctl("lease", "keep-alive", "--once", hex_id, "-w", "json").json
    theirs = etcdctl_cli("lease", "keep-alive", "--once", hex_id, "-w", "json").json
    assert ours.keys() == theirs.keys() == HEADER | {"ID", "TTL"}
    assert (ours["ID"], ours["TTL"]) == (theirs["ID"], theirs["TTL"]) == (lease, 120)
    assert aetcdctl("lease", "keep-alive", "--once", hex_id).out == (
        f"lease {lease:016x} keepalived with TTL(120)\n".encode()
    )

    revoke = aetcdctl("lease", "revoke", hex_id, "-w", "json")
    assert revoke.json.keys() == {"header"}
    # Gone: the same messages and exit codes as etcdctl.
    for args in (["lease", "revoke", hex_id], ["lease", "keep-alive", "--once", hex_id]):
        ours_r, theirs_r = aetcdctl(*args), etcdctl_cli(*args)
        assert ours_r.code == theirs_r.code != 0
        assert ours_r.err.splitlines()[-1] == theirs_r.err.splitlines()[-1]
    ours_r, theirs_r = (
        aetcdctl("lease", "keep-alive", hex_id),
        etcdctl_cli("lease", "keep-alive", hex_id),
    )
    assert ours_r.code == theirs_r.code == 0
    assert ours_r.out == theirs_r.out == f"lease {lease:016x} expired or revoked.\n".encode()


def test_bad_lease_arguments(aetcdctl: Runner) -> None:
    for args, message in [
        (["lease", "grant"], "lease grant command needs TTL argument"),
        (["lease", "revoke", "xyz"], "bad lease ID arg ('xyz'), expecting ID in Hex"),
        (["lease", "timetolive"], "lease timetolive command needs lease ID as argument"),
    ]:
        result = aetcdctl(*args)
        assert (result.code, result.err) == (128, f"Error: {message}\n")
