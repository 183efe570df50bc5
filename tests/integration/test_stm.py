"""Software transactional memory (Go's concurrency/stm.go) against a real etcd member."""

from __future__ import annotations

import random

import anyio
import anyio.lowlevel
import pytest

import aetcd
from aetcd.concurrency import STM, Isolation

ACCOUNTS = 5
START = 100

# The levels whose conflict checks cover every key read (Go's stm tests run transfers
# under these three); READ_COMMITTED checks nothing and may lose updates.
CONSISTENT = [Isolation.SERIALIZABLE_SNAPSHOT, Isolation.SERIALIZABLE, Isolation.REPEATABLE_READS]


@pytest.mark.parametrize("isolation", CONSISTENT, ids=lambda i: i.name)
async def test_concurrent_transfers_preserve_the_total(
    client: aetcd.Client, prefix: str, isolation: Isolation
) -> None:
    keys = [f"{prefix}account/{i}" for i in range(ACCOUNTS)]
    for key in keys:
        await client.put(key, str(START))
    rng = random.Random(1234)
    attempts = 0
    transfers = []
    for _ in range(20):
        src, dst = rng.sample(keys, 2)
        transfers.append((src, dst, rng.randint(1, 20)))

    async def transfer(src: str, dst: str, amount: int) -> None:
        nonlocal attempts

        async def apply(stm: STM) -> None:
            nonlocal attempts
            attempts += 1
            a = int(await stm.get(src) or 0)
            await anyio.lowlevel.checkpoint()  # interleave with the other transfers
            b = int(await stm.get(dst) or 0)
            stm.put(src, str(a - amount))
            stm.put(dst, str(b + amount))

        await client.stm(apply, isolation=isolation)

    async with anyio.create_task_group() as tg:
        for src, dst, amount in transfers:
            tg.start_soon(transfer, src, dst, amount)

    balances = {
        kv.key.decode(): int(kv.value) for kv in await client.get(keys[0][:-1], prefix=True)
    }
    assert sum(balances.values()) == ACCOUNTS * START
    expected = dict.fromkeys(keys, START)
    for src, dst, amount in transfers:
        expected[src] -= amount
        expected[dst] += amount
    assert balances == expected  # every transfer applied exactly once
    assert attempts >= len(transfers)


async def test_read_committed_runs_without_conflict_checks(
    client: aetcd.Client, prefix: str
) -> None:
    key = f"{prefix}k"
    await client.put(key, "1")

    async def apply(stm: STM) -> int:
        value = int(await stm.get(key) or 0)
        await client.put(key, "100")  # a concurrent write: not a conflict at this level
        stm.put(key, str(value + 1))
        return value

    assert await client.stm(apply, isolation=Isolation.READ_COMMITTED) == 1
    assert (await client.get(key)).kvs[0].value == b"2"


@pytest.mark.parametrize("isolation", CONSISTENT, ids=lambda i: i.name)
async def test_conflict_reruns_the_function(
    client: aetcd.Client, prefix: str, isolation: Isolation
) -> None:
    key = f"{prefix}k"
    await client.put(key, "1")
    runs = 0

    async def apply(stm: STM) -> None:
        nonlocal runs
        runs += 1
        value = int(await stm.get(key) or 0)
        if runs == 1:
            await client.put(key, "10")  # someone else writes what we read
        stm.put(key, str(value + 1))

    await client.stm(apply, isolation=isolation)
    assert runs == 2
    assert (await client.get(key)).kvs[0].value == b"11"


async def test_snapshot_isolation_checks_blind_writes(client: aetcd.Client, prefix: str) -> None:
    # SERIALIZABLE_SNAPSHOT also fails when a key only written was changed after the
    # snapshot (write-write conflict); SERIALIZABLE does not check it.
    read, written = f"{prefix}r", f"{prefix}w"
    await client.put(read, "x")
    runs = 0

    async def apply(stm: STM) -> None:
        nonlocal runs
        runs += 1
        await stm.get(read)
        if runs == 1:
            await client.put(written, "other")
        stm.put(written, "mine")

    await client.stm(apply, isolation=Isolation.SERIALIZABLE_SNAPSHOT)
    assert runs == 2
    runs = 0
    await client.stm(apply, isolation=Isolation.SERIALIZABLE)
    assert runs == 1


async def test_reads_writes_deletes_and_result(client: aetcd.Client, prefix: str) -> None:
    a, b = f"{prefix}a", f"{prefix}b"
    await client.put(a, "1")

    async def apply(stm: STM) -> tuple[bytes | None, ...]:
        before = await stm.get(b)
        await stm.put(b, "2")  # awaiting put/delete is optional
        mine = await stm.get(b)
        stm.delete(a)
        gone = await stm.get(a)
        assert await stm.rev(b) == 0
        return before, mine, gone

    assert await client.stm(apply, prefetch=[a, b]) == (None, b"2", None)
    assert not (await client.get(a)).kvs
    assert (await client.get(b)).kvs[0].value == b"2"


async def test_an_exception_aborts_without_writing(client: aetcd.Client, prefix: str) -> None:
    async def apply(stm: STM) -> None:
        stm.put(f"{prefix}k", "v")
        raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        await client.stm(apply)
    assert not (await client.get(f"{prefix}k")).kvs


async def test_stm_in_a_namespace(client: aetcd.Client, prefix: str) -> None:
    ns = client.with_namespace(prefix)

    async def apply(stm: STM) -> None:
        stm.put("k", str(int(await stm.get("k") or 0) + 1))

    await ns.stm(apply)
    await ns.stm(apply)
    assert (await client.get(f"{prefix}k")).kvs[0].value == b"2"


async def test_bad_arguments(client: aetcd.Client) -> None:
    async def apply(stm: STM) -> None:
        return None

    with pytest.raises(TypeError):
        await client.stm("nope")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await client.stm(apply, isolation=9)  # type: ignore[arg-type]
    assert aetcd.concurrency.Isolation.SERIALIZABLE_SNAPSHOT == 0
