"""Maintenance calls against real etcd: status, hashes, defragmentation, alarms and
snapshots, checked against etcdctl/etcdutl. Snapshots must be all or nothing: a
saved file is complete and verified, a failed save leaves nothing behind."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import aetcd
import aetcd._maintenance as maintenance
from aetcd._maintenance import Alarm, AlarmType, Snapshot
from aetcd.testing import EtcdServer, find_etcdutl_binary, free_ports

MiB = 1024 * 1024


@pytest.fixture
def scratch() -> Iterator[EtcdServer]:
    """A throwaway member for tests that compact, fill, defragment or kill it."""
    with EtcdServer(name="maint") as server:
        yield server


def snapshot_status(path: str | Path) -> dict[str, Any]:
    """`etcdutl snapshot status -w json` (etcdutl of etcd 3.5 reads 3.4 files too)."""
    out = subprocess.run(
        [find_etcdutl_binary(), "snapshot", "status", "-w", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- status ----------------------------------------------------------------------------


async def test_status_matches_etcdctl(client: aetcd.Client, etcd_server: EtcdServer) -> None:
    ours = await client.status()
    [theirs] = etcd_server.etcdctl("endpoint", "status")
    expected = theirs["Status"]
    assert ours.header.cluster_id == int(expected["header"]["cluster_id"])
    assert ours.member_id == int(expected["header"]["member_id"])
    assert ours.version == expected["version"]
    assert ours.leader == int(expected["leader"])
    assert ours.raft_term == int(expected["raftTerm"])
    assert ours.raft_index > 0
    assert ours.raft_applied_index > 0
    assert 0 < ours.db_size_in_use <= ours.db_size
    assert ours.is_leader  # a single member leads itself


async def test_status_fields_by_release(
    client: aetcd.Client, etcd_version: tuple[int, int, int]
) -> None:
    status = await client.status()
    assert status.version == ".".join(map(str, etcd_version))
    assert status.is_learner is False
    assert status.errors == ()
    # Reported from etcd 3.6 on only: 3.4 and 3.5 leave them unset.
    assert etcd_version < (3, 6)
    assert (status.storage_version, status.db_size_quota) == ("", 0)
    assert status.downgrade_info is None


async def test_status_pinned_to_an_endpoint(client: aetcd.Client, etcd_server: EtcdServer) -> None:
    pinned = await client.status(etcd_server.endpoint)
    # The same member, however the endpoint is spelled.
    bare = await client.status(etcd_server.endpoint.removeprefix("http://"))
    assert pinned.member_id == bare.member_id == (await client.member_list()).members[0].id


async def test_status_of_an_unreachable_endpoint_fails_fast(client: aetcd.Client) -> None:
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    start = time.monotonic()
    with pytest.raises(aetcd.ConnectError) as info:
        await client.status(dead, timeout=5)
    # Pinned calls try their one endpoint once; they do not wait for the deadline.
    assert time.monotonic() - start < 4
    assert dead in str(info.value)


async def test_endpoint_argument_is_checked(client: aetcd.Client) -> None:
    with pytest.raises(aetcd.ArgumentTypeError, match="endpoint"):
        await client.status(2379)  # type: ignore[arg-type]
    with pytest.raises(aetcd.ArgumentValueError, match="endpoint"):
        await client.hash_kv("ftp://127.0.0.1:2379")


# -- hash_kv ---------------------------------------------------------------------------


async def test_hash_kv_matches_etcdctl(
    client: aetcd.Client, etcd_server: EtcdServer, prefix: str
) -> None:
    await client.put(prefix + "a", "1")
    ours = await client.hash_kv()
    [theirs] = etcd_server.etcdctl("endpoint", "hashkv")
    assert ours.hash == int(theirs["HashKV"]["hash"])
    assert ours.compact_revision == int(theirs["HashKV"]["compact_revision"])
    assert ours.header.revision == int(theirs["HashKV"]["header"]["revision"])


async def test_hash_kv_at_a_revision_is_stable(
    client: aetcd.Client, prefix: str, etcd_version: tuple[int, int, int]
) -> None:
    revision = (await client.put(prefix + "a", "1")).header.revision
    before = await client.hash_kv(revision=revision)
    await client.put(prefix + "b", "2")
    after = await client.hash_kv(revision=revision)
    assert before.hash == after.hash
    assert (await client.hash_kv()).hash != before.hash
    # hash_revision arrived in etcd 3.5.5; older members leave it 0.
    if etcd_version < (3, 5, 5):
        assert after.hash_revision == 0
    else:
        assert after.hash_revision == revision
    with pytest.raises(aetcd.FutureRevisionError):
        await client.hash_kv(revision=revision + 1000)
    with pytest.raises(aetcd.ArgumentValueError, match="revision"):
        await client.hash_kv(revision=0)


# -- defragment and alarms -------------------------------------------------------------


async def test_defragment_returns_space_to_the_file_system(scratch: EtcdServer) -> None:
    async with aetcd.Client(scratch.endpoint) as client:
        for i in range(24):
            await client.put(f"/big/{i}", os.urandom(100_000))
        deleted = await client.delete("/big/", prefix=True)
        await client.compact(deleted.header.revision, physical=True)
        before = await client.status()
        await client.defragment(scratch.endpoint, timeout=30)
        after = await client.status()
        assert after.db_size < before.db_size
        assert after.db_size_in_use <= after.db_size
        assert before.db_size - after.db_size > MiB


async def test_nospace_alarm_is_listed_and_disarmed() -> None:
    with EtcdServer(name="quota", extra_args=["--quota-backend-bytes=1048576"]) as server:
        async with aetcd.Client(server.endpoint) as client:
            assert len(await client.alarms()) == 0
            assert len(await client.alarm_disarm()) == 0  # nothing to disarm
            with pytest.raises(aetcd.NoSpaceError):  # noqa: PT012 - fill until refused
                for i in range(200):
                    await client.put(f"/fill/{i}", b"x" * 65536)
            me = (await client.status()).member_id
            raised = await client.alarms()
            assert raised.alarms == (Alarm(me, AlarmType.NOSPACE),)
            assert list(raised) == [Alarm(me, AlarmType.NOSPACE)]
            assert any("NOSPACE" in e for e in (await client.status()).errors)
            listed = server.etcdctl("alarm", "list")
            assert [int(a["memberID"]) for a in listed["alarms"]] == [me]
            with pytest.raises(aetcd.NoSpaceError):
                await client.put("k", "v")

            # Free space first, or the member raises the alarm again at once.
            deleted = await client.delete("/fill/", prefix=True)
            await client.compact(deleted.header.revision, physical=True)
            await client.defragment(timeout=30)
            disarmed = await client.alarm_disarm(raised.alarms[0])
            assert disarmed.alarms == (Alarm(me, AlarmType.NOSPACE),)
            assert len(await client.alarms()) == 0
            await client.put("k", "v")

    with pytest.raises(aetcd.ArgumentTypeError, match="alarm"):
        await client.alarm_disarm("NOSPACE")  # type: ignore[arg-type]


# -- snapshots ---------------------------------------------------------------------------


async def test_snapshot_save_is_accepted_by_etcdutl(scratch: EtcdServer, tmp_path: Path) -> None:
    async with aetcd.Client(scratch.endpoint) as client:
        for i in range(25):
            await client.put(f"/snap/{i}", f"value {i}")
        info = await client.snapshot_save(tmp_path / "ours.db")
        assert info.path == str(tmp_path / "ours.db")
        assert info.endpoint == scratch.endpoint
        file = os.stat(info.path)
        assert info.size == file.st_size
        # Private, like etcdctl's snapshots: it holds every key and user.
        assert stat.S_IMODE(file.st_mode) == 0o600
        scratch.etcdctl("snapshot", "save", str(tmp_path / "etcdctl.db"), json_output=False)
        ours, theirs = snapshot_status(info.path), snapshot_status(tmp_path / "etcdctl.db")
        assert ours == theirs  # same hash, revision, key count and size as etcdctl's

        for i in range(5):
            await client.put(f"/snap/more/{i}", "x")
        again = await client.snapshot_save(tmp_path / "ours.db")  # replaces the file
        assert snapshot_status(again.path)["totalKey"] == ours["totalKey"] + 5
        assert leftovers(tmp_path) == ["etcdctl.db", "ours.db"]


async def test_snapshot_stream_ends_with_the_sha256_of_the_database(
    client: aetcd.Client, tmp_path: Path
) -> None:
    chunks: list[bytes] = []
    async with client.snapshot() as snapshot:
        assert snapshot.endpoint is None  # opened by the first chunk
        async for chunk in snapshot:
            assert isinstance(chunk, bytes)
            chunks.append(chunk)
        assert snapshot.done
        assert snapshot.endpoint == client.endpoints[0]
    data = b"".join(chunks)
    assert len(chunks) >= 2  # etcd sends the digest as a chunk of its own
    assert snapshot.received == len(data)
    assert hashlib.sha256(data[:-32]).digest() == data[-32:]
    (tmp_path / "stream.db").write_bytes(data)
    assert snapshot_status(tmp_path / "stream.db")["totalKey"] > 0


async def test_snapshot_stopped_early_leaves_the_client_usable(
    client: aetcd.Client, prefix: str
) -> None:
    async with client.snapshot() as snapshot:
        first = await snapshot.__anext__()
        assert first
    assert snapshot.done
    with pytest.raises(StopAsyncIteration):
        await snapshot.__anext__()
    await snapshot.aclose()  # idempotent
    await client.put(prefix + "k", "v")
    assert (await client.get(prefix + "k")).kvs[0].value == b"v"


def test_snapshot_digest_check_spans_chunk_boundaries() -> None:
    payload = os.urandom(5000)
    data = payload + hashlib.sha256(payload).digest()
    snapshot = Snapshot(None, None)  # type: ignore[arg-type]
    sizes = itertools.cycle((1, 7, 31, 33, 1000, 10))  # the digest straddles chunks
    while data:
        size = next(sizes)
        snapshot._account(data[:size])
        data = data[size:]
    assert snapshot._tail == hashlib.sha256(payload).digest()
    assert snapshot._sha.digest() == snapshot._tail
    assert snapshot.received == 5032


async def fill(client: aetcd.Client, megabytes: int) -> None:
    value = os.urandom(MiB)
    for i in range(megabytes):
        await client.put(f"/fill/{i}", value, timeout=30)


class StopAfter(Snapshot):
    """A snapshot that runs `action` once `chunks` chunks have arrived."""

    chunks = 3
    action: Any = None

    async def __anext__(self) -> bytes:
        chunk = await super().__anext__()
        type(self).chunks -= 1
        if type(self).chunks == 0:
            type(self).action()
        return chunk


async def test_snapshot_interrupted_by_killing_the_member_leaves_no_file(
    scratch: EtcdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with aetcd.Client(scratch.endpoint) as client:
        # Far more than the HTTP/2 windows and socket buffers hold, so the member
        # dies with most of the database unsent.
        await fill(client, 24)
        monkeypatch.setattr(StopAfter, "action", scratch.member.kill)
        monkeypatch.setattr(maintenance, "Snapshot", StopAfter)
        target = tmp_path / "backup.db"
        with pytest.raises(aetcd.UnavailableError, match="incomplete"):
            await client.snapshot_save(target)
    assert not target.exists()
    assert leftovers(tmp_path) == []  # the temporary file is gone too


async def test_failed_snapshot_save_leaves_an_existing_file_untouched(
    client: aetcd.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "backup.db"
    target.write_bytes(b"the previous backup")
    scope = anyio.CancelScope()
    monkeypatch.setattr(StopAfter, "chunks", 1)
    monkeypatch.setattr(StopAfter, "action", scope.cancel)
    monkeypatch.setattr(maintenance, "Snapshot", StopAfter)
    with scope:
        await client.snapshot_save(target)
    assert scope.cancelled_caught
    assert target.read_bytes() == b"the previous backup"
    assert leftovers(tmp_path) == ["backup.db"]
    monkeypatch.undo()
    # And a save that completes replaces it.
    info = await client.snapshot_save(target)
    assert snapshot_status(info.path)["totalKey"] > 0


async def test_snapshot_save_arguments(client: aetcd.Client, tmp_path: Path) -> None:
    with pytest.raises(aetcd.ArgumentValueError, match="directory"):
        await client.snapshot_save(tmp_path)
    with pytest.raises(aetcd.ArgumentTypeError, match="path"):
        await client.snapshot_save(3)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        await client.snapshot_save(tmp_path / "missing" / "backup.db")
    assert leftovers(tmp_path) == []


async def test_snapshot_after_close_raises(etcd_server: EtcdServer) -> None:
    client = aetcd.Client(etcd_server.endpoint)
    async with client:
        snapshot = client.snapshot()
    with pytest.raises(aetcd.ClientClosedError):
        await snapshot.__anext__()
    with pytest.raises(aetcd.ClientClosedError):
        client.snapshot()


# -- move_leader (single member; moves between members: tests/cluster) -----------------


async def test_move_leader_to_an_unknown_member_is_refused(client: aetcd.Client) -> None:
    me = (await client.status()).member_id
    with pytest.raises(aetcd.BadLeaderTransfereeError):
        await client.move_leader(me ^ 0xFFFF)
    await client.move_leader(me)  # already the leader: nothing to do
    assert (await client.status()).is_leader
