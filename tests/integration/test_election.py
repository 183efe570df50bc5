"""Elections against a real etcd member and the real `etcdctl elect` (Go's Election)."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator

import anyio
import pytest

import aetcd
from aetcd.concurrency import ElectionNotLeaderError, ElectionService
from aetcd.testing import EtcdServer, find_etcdctl_binary
from aetcd.testing._etcdctl import child_env


class EtcdctlProcess:
    """A long-running `etcdctl elect`: its output lines collected by a thread."""

    def __init__(self, server: EtcdServer, *args: str) -> None:
        cmd = [find_etcdctl_binary(), f"--endpoints={server.endpoint}", *args]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    async def wait_line(self, text: str, timeout: float) -> None:
        with anyio.fail_after(timeout):
            while True:
                if text in self.lines:
                    return
                await anyio.sleep(0.02)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def etcdctl_process(etcd_server: EtcdServer) -> Iterator[Callable[..., EtcdctlProcess]]:
    started: list[EtcdctlProcess] = []

    def start(*args: str) -> EtcdctlProcess:
        process = EtcdctlProcess(etcd_server, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


async def eventually(predicate: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while True:
            if await predicate():
                return
            await anyio.sleep(0.02)


async def test_etcdctl_candidate_is_seen_as_leader(
    client: aetcd.Client, prefix: str, etcdctl_process: Callable[..., EtcdctlProcess]
) -> None:
    name = f"{prefix}E"
    election = client.election(name)
    assert await election.leader() is None
    etcdctl_process("elect", name, "go-proposal")

    async def elected() -> bool:
        return await election.leader() is not None

    await eventually(elected)
    leader = await election.leader()
    assert leader is not None
    assert leader.value == b"go-proposal"
    assert leader.key.startswith(f"{name}/".encode())
    assert int(leader.key.rsplit(b"/", 1)[1], 16) == leader.lease
    # The server-side election service agrees.
    server_view = await ElectionService(client).leader(name)
    assert server_view is not None
    assert server_view.value == b"go-proposal"


async def test_aetcd_leader_is_seen_by_etcdctl(
    client: aetcd.Client, prefix: str, etcdctl_process: Callable[..., EtcdctlProcess]
) -> None:
    name = f"{prefix}E"
    election = client.election(name, ttl=5)
    await election.campaign("py-1")
    observer = etcdctl_process("elect", "-l", name)
    await observer.wait_line("py-1", timeout=10)
    await election.proclaim("py-2")
    await observer.wait_line("py-2", timeout=10)
    assert election.key is not None
    assert election.session is not None
    assert election.key == f"{name}/{election.session.id:x}".encode()
    await election.resign()
    assert await election.leader() is None


async def test_aetcd_waits_for_etcdctl_leader(
    client: aetcd.Client, prefix: str, etcdctl_process: Callable[..., EtcdctlProcess]
) -> None:
    name = f"{prefix}E"
    election = client.election(name, ttl=5)
    go = etcdctl_process("elect", name, "go")

    async def go_leads() -> bool:
        leader = await election.leader()
        return leader is not None and leader.value == b"go"

    await eventually(go_leads)
    with pytest.raises(aetcd.DeadlineExceededError):
        await election.campaign("py", timeout=0.5)
    assert [kv.value for kv in (await client.get(f"{name}/", prefix=True)).kvs] == [b"go"]
    go.proc.terminate()  # etcdctl resigns on SIGTERM
    with anyio.fail_after(10):
        await election.campaign("py")
    assert (await election.leader()).value == b"py"  # type: ignore[union-attr]
    await election.resign()


async def test_campaign_order_and_observe(client: aetcd.Client, prefix: str) -> None:
    name = f"{prefix}E"
    first = client.election(name, ttl=5)
    second = client.election(name, ttl=5)
    seen: list[bytes] = []
    await first.campaign("a")
    second_elected = anyio.Event()

    async def run_second() -> None:
        await second.campaign("b")
        second_elected.set()

    async with first.observe() as leaders, anyio.create_task_group() as tg:
        seen.append((await anext(leaders)).value)
        tg.start_soon(run_second)
        await eventually(lambda: _count(client, f"{name}/", 2))
        assert not second_elected.is_set()
        await first.proclaim("a2")
        seen.append((await anext(leaders)).value)
        await first.resign()
        seen.append((await anext(leaders)).value)
        with anyio.fail_after(5):
            await second_elected.wait()
        assert second.is_leader
    assert seen == [b"a", b"a2", b"b"]
    await second.resign()


async def _count(client: aetcd.Client, prefix: str, n: int) -> bool:
    return len((await client.get(prefix, prefix=True)).kvs) == n


async def test_observe_waits_for_a_first_leader(client: aetcd.Client, prefix: str) -> None:
    name = f"{prefix}E"
    election = client.election(name, ttl=5)
    observer = election.observe()
    got: list[aetcd.KeyValue] = []

    async def observe() -> None:
        got.append(await anext(observer))

    async with anyio.create_task_group() as tg:
        tg.start_soon(observe)
        await anyio.sleep(0.2)
        assert not got
        await election.campaign("v")
    assert got[0].value == b"v"
    await observer.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(observer)
    await election.resign()


async def test_proclaim_requires_candidacy(client: aetcd.Client, prefix: str) -> None:
    election = client.election(f"{prefix}E", ttl=5)
    with pytest.raises(ElectionNotLeaderError):
        await election.proclaim("x")
    await election.campaign("v")
    assert election.session is not None
    await client.lease_revoke(election.session.id)  # the key dies with the lease
    with pytest.raises(ElectionNotLeaderError):
        await election.proclaim("x")
    assert not election.is_leader


async def test_cancelled_campaign_leaves_nothing(client: aetcd.Client, prefix: str) -> None:
    name = f"{prefix}E"
    leader = client.election(name, ttl=5)
    await leader.campaign("leader")
    leases = set(await client.leases())
    with anyio.move_on_after(0.3):
        await client.election(name, ttl=5).campaign("late")
    assert [kv.value for kv in (await client.get(f"{name}/", prefix=True)).kvs] == [b"leader"]
    assert set(await client.leases()) <= leases
    await leader.resign()
    assert (await client.get(f"{name}/", prefix=True)).kvs == ()


async def test_campaign_again_updates_the_value(client: aetcd.Client, prefix: str) -> None:
    async with client.session(ttl=5) as session:
        election = client.election(f"{prefix}E", session=session)
        await election.campaign("v1")
        await election.campaign("v2")
        assert (await election.leader()).value == b"v2"  # type: ignore[union-attr]
        await election.resign()
        assert await election.leader() is None
        assert not session.closed


async def test_server_side_election_service(client: aetcd.Client, prefix: str) -> None:
    name = f"{prefix}E"
    service = ElectionService(client)
    assert await service.leader(name) is None
    async with client.session(ttl=5) as session:
        won = await service.campaign(name, session, "s1")
        assert won.leader.name == name.encode()
        assert won.leader.key == f"{name}/{session.id:x}".encode()
        # Client-side and server-side elections share the layout.
        assert (await client.election(name).leader()).value == b"s1"  # type: ignore[union-attr]
        async with service.observe(name) as leaders:
            assert (await anext(leaders)).value == b"s1"
            await service.proclaim(won.leader, "s2")
            assert (await anext(leaders)).value == b"s2"
        await service.resign(won.leader)
        assert await service.leader(name) is None
        with pytest.raises(ElectionNotLeaderError):
            await service.proclaim(won.leader, "s3")
