"""The sync helpers inside async tests (pytest-asyncio gives each test a fresh loop)."""

from __future__ import annotations

import asyncio

import pytest

from aetcd.testing import EtcdCluster, EtcdServer, TcpProxy


async def _health_via(address: tuple[str, int], timeout: float) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_session_server_from_async_test(etcd_server: EtcdServer, key_prefix: bytes) -> None:
    etcd_server.etcdctl("put", key_prefix.decode() + "k", "v")
    with TcpProxy(etcd_server.member) as proxy:
        assert b'"health":"true"' in await _health_via(proxy.address, timeout=5)
        proxy.blackhole()
        # asyncio.TimeoutError: on Python 3.10 it is not yet the builtin TimeoutError.
        with pytest.raises(asyncio.TimeoutError):
            await _health_via(proxy.address, timeout=0.3)
        proxy.restore()
        assert b'"health":"true"' in await _health_via(proxy.address, timeout=5)


async def test_cluster_fixture_from_async_test(etcd_cluster: EtcdCluster) -> None:
    victim = etcd_cluster.members[0]
    victim.kill()
    await asyncio.sleep(0)
    victim.restart()
    assert victim.is_healthy()
