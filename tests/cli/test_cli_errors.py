"""Mistakes and failures end with one `Error: ...` line and etcdctl's exit codes, never
a traceback."""

from __future__ import annotations

import pytest
from cli_helpers import Runner, run_in_process

from aetcd.testing import EtcdServer


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["get", "--bogus", "k"], 128, "unrecognized arguments: --bogus"),
        (
            ["get"],
            128,
            "get command needs one argument as key and an optional argument as range_end",
        ),
        (
            ["get", "a", "b", "--prefix"],
            128,
            "too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
        ),
        (
            ["get", "k", "--prefix", "--from-key"],
            128,
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ),
        (["get", "k", "--consistency=x"], 4, 'unknown consistency flag "x"'),
        (["get", "k", "--sort-by=size"], 4, "bad sort target size"),
        (["get", "k", "--limit=many"], 128, "bad --limit 'many': expected a decimal integer"),
        (
            ["get", "k", "--prefix=maybe"],
            128,
            'invalid argument "maybe" for "--prefix" flag: not a boolean',
        ),
        (["get", "k", "-w", "xml"], 4, "unsupported output format"),
        (["get", "k", "-w", "table"], 4, "table not supported as output format"),
        (
            ["get", "k", "-w", "json", "--print-value-only"],
            128,
            "print-value-only is only for `--write-out=simple`",
        ),
        (["get", ""], 1, "etcdserver: key is not provided"),
        (
            ["del"],
            128,
            "del command needs one argument as key and an optional argument as range_end",
        ),
        (["bogus"], 128, "argument <command>: invalid choice: 'bogus'"),
        (["member", "remove", "zz"], 128, "bad member ID arg ('zz'), expecting ID in Hex"),
        (
            ["member", "add", "x", "http://a:1"],
            128,
            "too many arguments, did you mean --peer-urls=http://a:1",
        ),
        (["snapshot", "save"], 128, "snapshot save expects one argument"),
        (["watch"], 128, "bad number of arguments"),
        (
            ["watch", "k", "--"],
            128,
            "bad number of arguments (found separator --, but no commands)",
        ),
        (["elect", "e"], 128, "no proposal argument but -l not set"),
        (
            ["--dial-timeout=soon", "get", "k"],
            128,
            'invalid argument "soon" for "--dial-timeout" flag: bad duration',
        ),
    ],
)
def test_usage_errors(aetcdctl: Runner, args: list[str], code: int, message: str) -> None:
    result = aetcdctl(*args)
    assert result.code == code, result
    assert result.err.startswith(f"Error: {message}"), result
    assert result.err.count("\n") == 1
    assert result.out == b""


def test_flags_anywhere_and_pflag_booleans(
    prefix: str, aetcdctl: Runner, etcd_server: EtcdServer
) -> None:
    assert (
        run_in_process(["put", prefix + "k", "v", f"--endpoints={etcd_server.endpoint}"]).code == 0
    )
    assert (
        aetcdctl("-w", "json", "get", prefix, "--prefix=true", "--keys-only=false").json["count"]
        == 1
    )
    assert aetcdctl("get", prefix + "k", "--hex=1").out == (
        "".join(f"\\x{b:02x}" for b in (prefix + "k").encode()).encode() + b"\n\\x76\n"
    )


def test_environment_variables_set_global_flags(prefix: str, etcd_server: EtcdServer) -> None:
    env = {"ETCDCTL_ENDPOINTS": etcd_server.endpoint, "ETCDCTL_WRITE_OUT": "json"}
    assert run_in_process(["put", prefix + "e", "v"], env=env).json.keys() == {"header"}


def test_unreachable_endpoint() -> None:
    result = run_in_process(
        ["--endpoints=127.0.0.1:1", "--dial-timeout=200ms", "--command-timeout=1s", "get", "k"]
    )
    assert result.code == 1
    assert result.err.startswith("Error: ")
    assert result.err.count("\n") == 1


def test_server_error_through_the_console_entry_point(
    prefix: str, aetcdctl: Runner, aetcdctl_proc: Runner
) -> None:
    first = aetcdctl("put", prefix + "k", "1", "-w", "json").json["header"]["revision"]
    latest = aetcdctl("put", prefix + "k", "2", "-w", "json").json["header"]["revision"]
    assert aetcdctl("compaction", latest).code == 0
    result = aetcdctl_proc("get", prefix + "k", f"--rev={first}")
    assert (result.code, result.out) == (1, b"")
    assert result.err == "Error: etcdserver: mvcc: required revision has been compacted\n"
    bad = aetcdctl_proc("get", "--no-such-flag")
    assert bad.code == 128
    assert "Traceback" not in bad.err
    assert bad.err.count("\n") == 1


def test_help(aetcdctl: Runner) -> None:
    result = aetcdctl("--help")
    assert result.code == 0
    assert b"get" in result.out
    assert b"--endpoints" in result.out
    lease = aetcdctl("lease")
    assert lease.code == 0
    assert b"keep-alive" in lease.out
