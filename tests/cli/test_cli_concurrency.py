"""`lock` and `elect` interoperate with etcdctl's: same keys, same exclusion."""

from __future__ import annotations

import re
import signal
import time

from cli_helpers import Process, Runner, aetcdctl_command

from aetcd.testing import EtcdServer, find_etcdctl_binary


def _ours(server: EtcdServer, *args: str) -> Process:
    return Process(aetcdctl_command(f"--endpoints={server.endpoint}", *args))


def _theirs(server: EtcdServer, *args: str) -> Process:
    return Process([find_etcdctl_binary(), f"--endpoints={server.endpoint}", *args])


def test_lock_excludes_etcdctl_and_is_released_on_signal(
    prefix: str, aetcdctl: Runner, etcd_server: EtcdServer
) -> None:
    name = prefix + "lock"
    holder = _ours(etcd_server, "lock", name)
    key, value = holder.read_lines(2)
    assert re.fullmatch(rf"{re.escape(name)}/[0-9a-f]+", key.decode())
    assert value == b""
    assert aetcdctl("get", name, "--prefix", "--keys-only").out == key + b"\n\n"
    # etcdctl waits for the lock while aetcdctl holds it...
    waiter = _theirs(etcd_server, "lock", name, "echo", "got it")
    time.sleep(0.5)
    assert waiter.proc.poll() is None
    # ... and gets it once aetcdctl is interrupted (which releases it and exits 0).
    assert holder.stop(signal.SIGTERM).code == 0
    done = waiter.wait()
    assert (done.code, done.out) == (0, b"got it\n")
    assert aetcdctl("get", name, "--prefix").out == b""


def test_lock_runs_a_command(prefix: str, aetcdctl: Runner, aetcdctl_proc: Runner) -> None:
    script = 'echo "$ETCD_LOCK_KEY $ETCD_LOCK_REV"; exit 3'
    result = aetcdctl_proc("lock", "--ttl=5", prefix + "job", "--", "sh", "-c", script)
    assert result.code == 3  # the command's exit status
    assert re.fullmatch(rf"{re.escape(prefix)}job/[0-9a-f]+ \d+\n", result.text)
    assert aetcdctl("get", prefix + "job", "--prefix").out == b""


def test_elect_is_seen_by_etcdctl_and_the_other_way_round(
    prefix: str, etcd_server: EtcdServer
) -> None:
    name = prefix + "election"
    leader = _ours(etcd_server, "elect", name, "ours")
    key, value = leader.read_lines(2)
    assert key.startswith(name.encode() + b"/")
    assert value == b"ours"
    observer = _theirs(etcd_server, "elect", "-l", name)
    assert observer.read_lines(2) == [key, b"ours"]
    observer.stop()
    assert leader.stop().code == 0

    theirs = _theirs(etcd_server, "elect", name, "theirs")
    their_key, _ = theirs.read_lines(2)
    watcher = _ours(etcd_server, "elect", "-l", name)
    assert watcher.read_lines(2) == [their_key, b"theirs"]
    assert watcher.stop().code == 0
    theirs.stop()
