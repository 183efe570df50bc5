"""Client lifecycle across tasks: how pytest-asyncio fixtures and app frameworks use it."""

from __future__ import annotations

import asyncio

import pytest

import aetcd
from aetcd.testing import EtcdServer


async def test_enter_in_one_task_and_exit_in_another(etcd_server: EtcdServer) -> None:
    client = aetcd.Client(etcd_server.endpoint)
    await asyncio.create_task(client.__aenter__())
    await client.put("lifecycle/k", "v")
    started = asyncio.Event()

    async def background() -> None:
        started.set()
        await asyncio.sleep(3600)

    client.task_group.start_soon(background)
    await started.wait()
    await asyncio.create_task(client.__aexit__(None, None, None))
    assert client.closed
    # Every background task has finished by the time close() returns.
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in others if not t.done()]
    with pytest.raises(aetcd.ClientClosedError):
        await client.get("lifecycle/k")


async def test_a_crashed_background_task_is_reported_on_close(etcd_server: EtcdServer) -> None:
    client = aetcd.Client(etcd_server.endpoint)
    await client.__aenter__()

    async def crash() -> None:
        raise LookupError("boom")

    client.task_group.start_soon(crash)
    await asyncio.sleep(0.05)
    with pytest.raises(LookupError, match="boom"):
        await client.close()


async def test_entering_twice_is_a_usage_error(etcd_server: EtcdServer) -> None:
    async with aetcd.Client(etcd_server.endpoint) as client:
        with pytest.raises(aetcd.UsageError):
            await client.__aenter__()
