"""`aetcdctl txn` reads the same stdin as `etcdctl txn` and answers the same.

Each script runs once with etcdctl and once with aetcdctl, on the same keys reset to
the same values in between; outputs are compared with revisions left out (the second
run happens at later revisions)."""

from __future__ import annotations

from typing import Any

import pytest
from cli_helpers import Result, Runner

SETUP = [("a", "1"), ("b", "2"), ("c", "3")]

SCRIPTS = {
    "success": (
        'value("{p}a") = "1"\n'
        'version("{p}a") = "1"\n'
        'create("{p}missing") = "0"\n'
        "\n"
        "put {p}a 2\n"
        "get {p}a\n"
        "del {p}b --prev-kv\n"
        "get {p} --prefix --keys-only\n"
        "\n"
        "put {p}failed yes\n"
        "\n"
    ),
    "failure": (
        'mod("{p}a") < "1"\n'
        "\n"
        "put {p}unused 1\n"
        "\n"
        "get {p} --prefix\n"
        'put "{p}x y" "hello world"\n'
        "del {p}a --prev-kv\n"
        "get {p}c --print-value-only\n"
        "\n"
    ),
    "no compares": "\nput {p}n 1 --prev-kv\nput {p}a 9 --prev-kv\n\n\n",
    "short targets": (
        'ver("{p}a") > "0"\n'
        'c("{p}a") > "0"\n'
        'm("{p}a") != "0"\n'
        'val("{p}b") != "1"\n'
        "\n"
        "get {p}a {p}c\n"
        "get {p} --prefix --limit=1 --sort-by=VALUE --order=DESCEND\n"
        "\n"
        "\n"
    ),
    "empty": "\n\n\n",
}


def _reset(run: Runner, prefix: str) -> None:
    assert run("del", prefix, "--prefix").code == 0
    for key, value in SETUP:
        assert run("put", prefix + key, value).code == 0


def _strip_revisions(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: _strip_revisions(v)
            for k, v in data.items()
            if k not in ("revision", "create_revision", "mod_revision")
        }
    if isinstance(data, list):
        return [_strip_revisions(v) for v in data]
    return data


def _both(
    aetcdctl: Runner, etcdctl_cli: Runner, prefix: str, script: str, *flags: str
) -> tuple[Result, Result]:
    stdin = script.format(p=prefix).encode()
    _reset(etcdctl_cli, prefix)
    theirs = etcdctl_cli("txn", *flags, input=stdin)
    _reset(etcdctl_cli, prefix)
    ours = aetcdctl("txn", *flags, input=stdin)
    return ours, theirs


@pytest.mark.parametrize("name", SCRIPTS)
def test_txn_json_matches_etcdctl(
    name: str, prefix: str, aetcdctl: Runner, etcdctl_cli: Runner
) -> None:
    ours, theirs = _both(aetcdctl, etcdctl_cli, prefix, SCRIPTS[name], "-w", "json")
    assert ours.code == theirs.code == 0, (ours, theirs)
    assert _strip_revisions(ours.json) == _strip_revisions(theirs.json)


@pytest.mark.parametrize("name", SCRIPTS)
def test_txn_simple_matches_etcdctl(
    name: str, prefix: str, aetcdctl: Runner, etcdctl_cli: Runner
) -> None:
    ours, theirs = _both(aetcdctl, etcdctl_cli, prefix, SCRIPTS[name])
    assert ours.code == theirs.code == 0, (ours, theirs)
    assert ours.out == theirs.out


def test_txn_interactive_prompts(prefix: str, aetcdctl: Runner, etcdctl_cli: Runner) -> None:
    ours, theirs = _both(aetcdctl, etcdctl_cli, prefix, SCRIPTS["success"], "-i")
    assert ours.out == theirs.out
    assert ours.out.startswith(
        b"compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n"
        b"SUCCESS\n"
    )


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("bad\n\n\n", "malformed comparison: bad"),
        ('value("k") = "v"\n', "EOF"),
        ("\nfoo b\n\n", "invalid txn request: foo b"),
        ('nope("k") = "1"\n\n\n', 'malformed comparison: nope("k") = "1" (unknown target nope)'),
        ('mod("k") > "x"\n\n\n', 'invalid txn compare request: mod("k") > "x"'),
        ("\nget\n\n", "invalid txn compare request: get"),
    ],
)
def test_txn_bad_input_exits_3_before_sending(
    script: str, message: str, aetcdctl: Runner, etcdctl_cli: Runner
) -> None:
    ours, theirs = aetcdctl("txn", input=script.encode()), etcdctl_cli("txn", input=script.encode())
    assert (ours.code, ours.err) == (3, f"Error: {message}\n")
    assert theirs.code == 3
    assert f"Error: {message}" in theirs.err


def test_txn_lease_compare_takes_hex_ids(prefix: str, aetcdctl: Runner) -> None:
    # etcdctl 3.5.1 crashes on lease compares; later versions read the id as hex.
    lease_id = aetcdctl("lease", "grant", "60", "-w", "json").json["ID"]
    aetcdctl("put", prefix + "l", "v", f"--lease={lease_id:x}")
    script = f'lease("{prefix}l") = "{lease_id:x}"\n\nget {prefix}l\n\n\n'
    assert aetcdctl("txn", input=script.encode()).out == f"SUCCESS\n\n{prefix}l\nv\n".encode()
    script = f'lease("{prefix}l") = "0"\n\n\nput {prefix}l w\n\n'
    assert aetcdctl("txn", input=script.encode()).out == b"FAILURE\n\nOK\n"
    aetcdctl("lease", "revoke", f"{lease_id:x}")
