"""`watch` in a subprocess, side by side with etcdctl's: both start at the same
revision, so both must print exactly the same thing."""

from __future__ import annotations

from cli_helpers import Process, Runner, aetcdctl_command

from aetcd.testing import EtcdServer, find_etcdctl_binary


def _next_revision(aetcdctl: Runner, prefix: str) -> int:
    revision: int = aetcdctl("put", prefix + "start", "x", "-w", "json").json["header"]["revision"]
    return revision + 1


def test_watch_matches_etcdctl(prefix: str, aetcdctl: Runner, etcd_server: EtcdServer) -> None:
    rev = _next_revision(aetcdctl, prefix)
    endpoint = f"--endpoints={etcd_server.endpoint}"
    args = ["watch", prefix + "w", "--prefix", "--prev-kv", f"--rev={rev}"]
    # History first: the server replays it as one response, so both print the same lines.
    aetcdctl("put", prefix + "w1", "a")
    aetcdctl("put", prefix + "w1", "b")
    aetcdctl("del", prefix + "w1")
    aetcdctl("txn", input=f"\nput {prefix}w2 x\nput {prefix}w3 y\n\n\n".encode())
    tools = {"ours": aetcdctl_command(), "theirs": [find_etcdctl_binary()]}
    formats = {"simple": (), "json": ("-w", "json")}
    watchers = {
        (tool, fmt): Process([*command, endpoint, *args, *flags])
        for tool, command in tools.items()
        for fmt, flags in formats.items()
    }
    # simple: 3 lines an event plus 2 for a previous value; json: one line a response.
    expected = {"simple": 3 + 5 + 5 + 3 + 3, "json": 1}
    lines = {key: w.read_lines(expected[key[1]]) for key, w in watchers.items()}
    # Then a live event, after both have caught up.
    aetcdctl("put", prefix + "w1", "c")
    live = {"simple": 3, "json": 1}
    for key, w in watchers.items():
        lines[key] += w.read_lines(live[key[1]])
    results = {key: w.stop() for key, w in watchers.items()}
    for fmt in formats:
        assert len(lines["ours", fmt]) == expected[fmt] + live[fmt]
        assert lines["ours", fmt] == lines["theirs", fmt]
    key = (prefix + "w1").encode()
    assert lines["ours", "simple"][:8] == [b"PUT", key, b"a", b"PUT", key, b"a", key, b"b"]
    assert lines["ours", "simple"][-3:] == [b"PUT", key, b"c"]
    # Interrupted: exit 130, and nothing on stderr.
    for fmt in formats:
        assert (results["ours", fmt].code, results["ours", fmt].err) == (130, "")


def test_watch_runs_a_command_per_event(
    prefix: str, aetcdctl: Runner, etcd_server: EtcdServer
) -> None:
    rev = _next_revision(aetcdctl, prefix)
    script = 'echo "$ETCD_WATCH_REVISION $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"'
    watcher = Process(
        aetcdctl_command(
            f"--endpoints={etcd_server.endpoint}",
            "watch",
            prefix + "x",
            f"--rev={rev}",
            "--",
            "sh",
            "-c",
            script,
        )
    )
    put = aetcdctl("put", prefix + "x", "hello world", "-w", "json").json["header"]["revision"]
    lines = watcher.read_lines(4)
    watcher.stop()
    assert lines == [
        b"PUT",
        (prefix + "x").encode(),
        b"hello world",
        f'{put} "PUT" "{prefix}x" "hello world"'.encode(),
    ]


def test_watch_of_a_compacted_revision_is_cancelled(
    prefix: str, aetcdctl: Runner, etcd_server: EtcdServer
) -> None:
    first = _next_revision(aetcdctl, prefix) - 1
    latest = aetcdctl("put", prefix + "k", "v", "-w", "json").json["header"]["revision"]
    assert aetcdctl("compaction", latest).code == 0
    watcher = Process(
        aetcdctl_command(f"--endpoints={etcd_server.endpoint}", "watch", prefix, f"--rev={first}")
    )
    result = watcher.wait()
    assert result.code == 5
    lines = result.err.splitlines()
    assert lines[0].startswith(
        "watch was canceled (etcdserver: mvcc: required revision has been compacted"
    )
    assert lines[1:] == ["Error: watch is canceled by the server"]


def test_interactive_watch(prefix: str, aetcdctl: Runner, etcd_server: EtcdServer) -> None:
    rev = _next_revision(aetcdctl, prefix)
    commands = f"watch {prefix}a --rev={rev}\nbogus\nwatch {prefix}b --rev={rev}\n"
    watcher = Process(
        aetcdctl_command(f"--endpoints={etcd_server.endpoint}", "watch", "-i"),
        stdin=commands.encode(),
    )
    aetcdctl("put", prefix + "a", "1")
    aetcdctl("put", prefix + "b", "2")
    lines = watcher.read_lines(6)
    result = watcher.stop()
    assert sorted(lines) == sorted(
        [b"PUT", (prefix + "a").encode(), b"1", b"PUT", (prefix + "b").encode(), b"2"]
    )
    assert "Invalid command bogus (only support watch)" in result.err
