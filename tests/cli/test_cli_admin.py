"""Auth, users, roles, alarms and snapshots: etcdctl's output, command by command."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import Result, Runner, run_in_process

from aetcd.testing import EtcdServer


def _auth_script(tag: str) -> list[tuple[list[str], bytes]]:
    role, u1, u2, u3 = f"role-{tag}", f"u1-{tag}", f"u2-{tag}", f"u3-{tag}"
    return [
        (["role", "add", role], b""),
        (["role", "grant-permission", role, "readwrite", "k1"], b""),
        (["role", "grant-permission", role, "read", "p", "--prefix"], b""),
        (["role", "grant-permission", role, "write", "a", "b"], b""),
        (["role", "grant-permission", role, "read", "", "--from-key"], b""),
        (["role", "get", role], b""),
        (["role", "revoke-permission", role, "a", "b"], b""),
        (["role", "revoke-permission", role, "k1"], b""),
        (["user", "add", f"{u1}:pw"], b""),
        (["user", "add", u2, "--new-user-password=x"], b""),
        (["user", "add", u3, "--interactive=false"], b"secret\n"),
        (["user", "grant-role", u1, role], b""),
        (["user", "get", u1], b""),
        (["user", "get", u1, "--detail"], b""),
        (["user", "passwd", u1, "--interactive=false"], b"newpw\n"),
        (["user", "revoke-role", u1, role], b""),
        (["user", "delete", u1], b""),
        (["user", "delete", u2], b""),
        (["user", "delete", u3], b""),
        (["role", "delete", role], b""),
    ]


@pytest.mark.parametrize("fmt", ["simple", "json"])
def test_users_and_roles_match_etcdctl(
    fmt: str, prefix: str, aetcdctl: Runner, etcdctl_cli: Runner
) -> None:
    tag = prefix.rstrip("/").rsplit("/", 1)[-1]
    outputs: dict[str, list[Result]] = {}
    for name, run in (("theirs", etcdctl_cli), ("ours", aetcdctl)):
        outputs[name] = [run("-w", fmt, *args, input=stdin) for args, stdin in _auth_script(tag)]
    for (args, _), ours, theirs in zip(
        _auth_script(tag), outputs["ours"], outputs["theirs"], strict=True
    ):
        assert ours.code == theirs.code == 0, (args, ours, theirs)
        assert ours.out == theirs.out, args
    if fmt == "simple":
        role_get = outputs["ours"][5].out
        assert (
            role_get
            == (
                f"Role role-{tag}\nKV Read:\n\t[\x00, <open ended>\n\tk1\n\t[p, q) (prefix p)\n"
                "KV Write:\n\t[a, b) (prefix a)\n\tk1\n"
            ).encode()
        )


def test_auth_status_and_errors(aetcdctl: Runner, etcdctl_cli: Runner) -> None:
    ours, theirs = (
        aetcdctl("auth", "status", "-w", "json"),
        etcdctl_cli("auth", "status", "-w", "json"),
    )
    assert ours.json.keys() == theirs.json.keys()
    assert aetcdctl("auth", "status").text.startswith(
        "Authentication Status: false\nAuthRevision: "
    )
    for args in (["user", "get", "no-such-user"], ["role", "delete", "no-such-role"]):
        a, b = aetcdctl(*args), etcdctl_cli(*args)
        assert a.code == b.code == 1
        assert a.err == b.err.splitlines()[-1] + "\n"
    bad = aetcdctl("role", "grant-permission", "r", "sometimes", "k")
    assert (bad.code, bad.err) == (128, "Error: invalid permission type: sometimes\n")


@pytest.fixture(scope="module")
def auth_server() -> Iterator[EtcdServer]:
    """A server of its own: enabling auth on the shared one would lock other tests out."""
    with EtcdServer() as server:
        yield server


def test_auth_enable_then_log_in(auth_server: EtcdServer) -> None:
    def run(*args: str, input: bytes = b"") -> Result:
        return run_in_process([f"--endpoints={auth_server.endpoint}", *args], input)

    assert run("user", "add", "root:rootpw").text == "User root created\n"
    # The root role is created and granted on the way, as etcdctl does.
    assert run("auth", "enable").text == "Authentication Enabled\n"
    try:
        anonymous = run("put", "k", "v")
        assert anonymous.code == 1
        assert anonymous.err.startswith("Error: ")
        assert anonymous.err.count("\n") == 1
        assert run("--user=root:rootpw", "put", "k", "v").text == "OK\n"
        assert run("--user", "root", "--password", "rootpw", "get", "k").text == "k\nv\n"
        status = run("--user=root:rootpw", "auth", "status", "-w", "json").json
        assert status["enabled"] is True
        wrong = run("--user=root:nope", "get", "k")
        assert (wrong.code, wrong.err) == (
            1,
            "Error: etcdserver: authentication failed, invalid user ID or password\n",
        )
    finally:
        assert run("--user=root:rootpw", "auth", "disable").text == "Authentication Disabled\n"


def test_alarms_match_etcdctl(aetcdctl: Runner, etcdctl_cli: Runner) -> None:
    for args in (
        ["alarm", "list"],
        ["alarm", "list", "-w", "json"],
        ["alarm", "disarm", "-w", "json"],
    ):
        ours, theirs = aetcdctl(*args), etcdctl_cli(*args)
        assert (ours.code, ours.out) == (theirs.code, theirs.out), args


def test_snapshot_save(tmp_path: Path, aetcdctl_proc: Runner, etcdctl_cli: Runner) -> None:
    path = tmp_path / "backup.db"
    result = aetcdctl_proc("snapshot", "save", str(path))
    assert (result.code, result.text) == (0, f"Snapshot saved at {path}\n")
    # Not a terminal: one progress summary line instead of a redrawn bar.
    assert re.fullmatch(r"\[=+\] 100%  \S+ \S+ / \S+ \S+  \S+ \S+/s\n", result.err), result.err
    data = path.read_bytes()
    assert hashlib.sha256(data[:-32]).digest() == data[-32:]  # etcd's own checksum
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not (tmp_path / "backup.db.part").exists()
    theirs = tmp_path / "theirs.db"
    assert etcdctl_cli("snapshot", "save", str(theirs)).code == 0
    assert abs(theirs.stat().st_size - len(data)) < len(data) // 2
