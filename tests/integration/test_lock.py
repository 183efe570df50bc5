"""Locks against a real etcd member and the real `etcdctl lock` (Go's Mutex)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import anyio
import anyio.lowlevel
import pytest

import aetcd
from aetcd.testing import EtcdServer, find_etcdctl_binary
from aetcd.testing._etcdctl import child_env


class EtcdctlProcess:
    """A long-running `etcdctl` (lock, elect): its output lines collected by a thread."""

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

    async def wait_line(self, predicate: Callable[[str], bool], timeout: float) -> str:
        with anyio.fail_after(timeout):
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
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


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float) -> None:
    with anyio.fail_after(timeout):
        while True:
            if await predicate():
                return
            await anyio.sleep(0.02)


async def keys_under(client: aetcd.Client, prefix: str) -> list[bytes]:
    return [kv.key for kv in (await client.get(prefix, prefix=True)).kvs]


async def test_counter_under_lock_is_exact(etcd_server: EtcdServer, prefix: str) -> None:
    tasks, rounds = 10, 5
    counter = f"{prefix}counter"
    async with aetcd.Client(etcd_server.endpoint) as c1, aetcd.Client(etcd_server.endpoint) as c2:

        async def worker(client: aetcd.Client) -> None:
            for _ in range(rounds):
                async with client.lock(f"{prefix}L", ttl=5):
                    resp = await client.get(counter)
                    value = int(resp.kvs[0].value) if resp.kvs else 0
                    await anyio.lowlevel.checkpoint()  # let the others run meanwhile
                    await client.put(counter, str(value + 1))

        async with anyio.create_task_group() as tg:
            for i in range(tasks):
                tg.start_soon(worker, c1 if i % 2 else c2)
        assert int((await c1.get(counter)).kvs[0].value) == tasks * rounds
        assert await keys_under(c1, f"{prefix}L/") == []


async def test_key_layout_is_gos(client: aetcd.Client, prefix: str) -> None:
    async with client.lock(f"{prefix}L", ttl=5) as lock:
        assert lock.session is not None
        assert lock.key == f"{prefix}L/{lock.session.id:x}".encode()
        kv = (await client.get(lock.key)).kvs[0]
        assert kv.lease == lock.session.id
        assert kv.value == b""
        assert lock.revision == kv.create_revision
        assert lock.held
    assert lock.key is None
    assert not lock.held


async def test_etcdctl_lock_waits_for_aetcd(
    client: aetcd.Client, prefix: str, etcdctl_process: Callable[..., EtcdctlProcess]
) -> None:
    name = f"{prefix}L"
    lock = await client.lock(name, ttl=5)
    ours = lock.key
    other = etcdctl_process("lock", name)
    # etcdctl queued behind us: its key exists, but it does not hold the lock.
    await wait_until(lambda: _count(client, f"{name}/", 2), timeout=10)
    await anyio.sleep(0.5)
    assert other.lines == []
    await lock.release()
    line = await other.wait_line(lambda line: line.startswith(f"{name}/"), timeout=10)
    assert line.encode() != ours
    assert await keys_under(client, f"{name}/") == [line.encode()]


async def _count(client: aetcd.Client, prefix: str, n: int) -> bool:
    return len(await keys_under(client, prefix)) == n


async def test_lock_times_out_while_etcdctl_holds_it(
    client: aetcd.Client, prefix: str, etcdctl_process: Callable[..., EtcdctlProcess]
) -> None:
    name = f"{prefix}L"
    holder = etcdctl_process("lock", name, "--", "sleep", "3")
    await wait_until(lambda: _count(client, f"{name}/", 1), timeout=10)
    held_by_etcdctl = await keys_under(client, f"{name}/")
    leases_before = set(await client.leases())
    ran = False
    start = time.monotonic()
    with pytest.raises(aetcd.LockTimeoutError):
        async with client.lock(name, ttl=5, timeout=1):
            ran = True
    assert 0.9 < time.monotonic() - start < 3
    assert not ran
    # Nothing of ours is left: etcdctl's key only, no new lease.
    assert await keys_under(client, f"{name}/") == held_by_etcdctl
    assert set(await client.leases()) <= leases_before
    # Once etcdctl's command finishes, it releases and we get in.
    assert await anyio.to_thread.run_sync(holder.proc.wait, 10) == 0
    async with client.lock(name, ttl=5, timeout=5) as lock:
        assert await keys_under(client, f"{name}/") == [lock.key]


async def test_revoking_the_holders_lease_lets_the_next_waiter_in(
    client: aetcd.Client, prefix: str, etcd_server: EtcdServer
) -> None:
    name = f"{prefix}L"
    holder = await client.lock(name, ttl=3)
    assert holder.session is not None
    acquired = anyio.Event()

    async def waiter() -> None:
        async with client.lock(name, ttl=5):
            acquired.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await wait_until(lambda: _count(client, f"{name}/", 2), timeout=10)
        await anyio.sleep(0.2)
        assert not acquired.is_set()
        await anyio.to_thread.run_sync(
            etcd_server.etcdctl, "lease", "revoke", f"{holder.session.id:x}"
        )
        with anyio.fail_after(5):
            await acquired.wait()
    # The holder learns that its session (and so the lock) is gone, at its next
    # keep-alive (TTL/3).
    with anyio.fail_after(5):
        await holder.session.wait_expired()
    assert not holder.held
    await holder.release()  # harmless


async def test_killed_etcdctl_holder_expires_and_lets_us_in(
    client: aetcd.Client, prefix: str, etcdctl_process: Callable[..., EtcdctlProcess]
) -> None:
    name = f"{prefix}L"
    holder = etcdctl_process("lock", "--ttl=1", name)
    await holder.wait_line(lambda line: line.startswith(f"{name}/"), timeout=10)
    holder.kill()  # SIGKILL: no unlock, the lease just stops being renewed
    start = time.monotonic()
    async with client.lock(name, ttl=5, timeout=10):
        assert time.monotonic() - start < 5


async def test_try_acquire(client: aetcd.Client, prefix: str) -> None:
    name = f"{prefix}L"
    first = client.lock(name, ttl=5)
    second = client.lock(name, ttl=5)
    assert await first.try_acquire()
    leases = set(await client.leases())
    assert not await second.try_acquire()
    assert not second.held
    assert await keys_under(client, f"{name}/") == [first.key]
    assert set(await client.leases()) <= leases
    await first.release()
    assert await second.try_acquire()
    await second.release()
    assert await keys_under(client, f"{name}/") == []


async def test_is_owner_guards_a_transaction(client: aetcd.Client, prefix: str) -> None:
    lock = client.lock(f"{prefix}L", ttl=5)
    with pytest.raises(aetcd.UsageError):
        lock.is_owner()
    await lock.acquire()
    guard = lock.is_owner()
    resp = await client.txn([guard], [aetcd.Op.put(f"{prefix}x", "1")])
    assert resp.succeeded
    await lock.release()
    resp = await client.txn([guard], [aetcd.Op.put(f"{prefix}x", "2")])
    assert not resp.succeeded


async def test_waiters_are_served_in_order(client: aetcd.Client, prefix: str) -> None:
    name = f"{prefix}L"
    order: list[int] = []
    first = await client.lock(name, ttl=5)

    async def waiter(i: int) -> None:
        async with client.lock(name, ttl=5):
            order.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(waiter, i)
            # Queue them one after another (each puts its key before the next starts).
            await wait_until(lambda i=i: _count(client, f"{name}/", i + 2), timeout=5)
        await first.release()
    assert order == [0, 1, 2, 3]


async def test_cancelled_acquire_leaves_nothing_behind(client: aetcd.Client, prefix: str) -> None:
    name = f"{prefix}L"
    async with client.lock(name, ttl=5) as holder:
        leases = set(await client.leases())
        with anyio.move_on_after(0.3):
            await client.lock(name, ttl=5).acquire()
        assert await keys_under(client, f"{name}/") == [holder.key]
        assert set(await client.leases()) <= leases
    assert await keys_under(client, f"{name}/") == []


async def test_body_cancelled_still_releases(client: aetcd.Client, prefix: str) -> None:
    name = f"{prefix}L"
    with anyio.move_on_after(0.2):
        async with client.lock(name, ttl=30):
            await anyio.sleep_forever()
    assert await keys_under(client, f"{name}/") == []
    async with client.lock(name, ttl=5, timeout=2):
        pass


async def test_shared_session(client: aetcd.Client, prefix: str) -> None:
    async with client.session(ttl=5) as session:
        a = client.lock(f"{prefix}A", session=session)
        b = client.lock(f"{prefix}B", session=session)
        async with a, b:
            assert a.key == f"{prefix}A/{session.id:x}".encode()
            assert b.key == f"{prefix}B/{session.id:x}".encode()
        assert not session.closed  # releasing does not end a session it did not create
        assert await keys_under(client, f"{prefix}A/") == []
        assert (await client.lease_time_to_live(session.id)).ttl > 0


async def test_lost_session_while_waiting_raises(client: aetcd.Client, prefix: str) -> None:
    name = f"{prefix}L"
    async with client.lock(name, ttl=5), client.session(ttl=5) as session:
        waiter = client.lock(name, session=session)
        errors: list[Exception] = []

        async def revoke_soon() -> None:
            await wait_until(lambda: _count(client, f"{name}/", 2), timeout=5)
            await client.lease_revoke(session.id)

        async with anyio.create_task_group() as tg:
            tg.start_soon(revoke_soon)
            try:
                await waiter.acquire(timeout=5)
            except aetcd.LeaseExpiredError as exc:
                errors.append(exc)
        assert errors
        assert not waiter.held


async def test_bad_arguments(client: aetcd.Client) -> None:
    with pytest.raises(aetcd.ArgumentValueError):
        client.lock("")
    with pytest.raises(TypeError):
        client.lock(1)  # type: ignore[arg-type]
    with pytest.raises(aetcd.ArgumentValueError):
        client.lock("x", ttl=0)
    with pytest.raises(TypeError):
        client.lock("x", session="s")  # type: ignore[arg-type]


async def test_server_side_lock_service(client: aetcd.Client, prefix: str) -> None:
    from aetcd.concurrency import LockService

    name = f"{prefix}L"
    service = LockService(client)
    async with client.session(ttl=5) as session:
        held = await service.lock(name, session)
        # The server uses the same layout: our client-side lock waits for it.
        assert held.key == f"{name}/{session.id:x}".encode()
        with pytest.raises(aetcd.LockTimeoutError):
            await client.lock(name, ttl=5).acquire(timeout=0.5)
        await service.unlock(held.key)
        async with client.lock(name, ttl=5, timeout=2):
            with pytest.raises(aetcd.DeadlineExceededError):
                await service.lock(name, session, timeout=0.5)
