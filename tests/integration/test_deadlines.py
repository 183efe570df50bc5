"""The caller's deadline surfaces as DeadlineExceededError, whatever the member does."""

from __future__ import annotations

import time

import pytest

import aetcd
from aetcd.testing import EtcdServer, TcpProxy


async def test_deadline_on_a_silent_member_is_deadline_exceeded(etcd_server: EtcdServer) -> None:
    # A member that accepted the connection but never answers: the call must end at
    # its deadline with DeadlineExceededError (a TimeoutError), not a connection error.
    with TcpProxy(etcd_server.member) as proxy:
        async with aetcd.Client(proxy.url, timeout=5, probe_after=60) as client:
            await client.get("any")
            proxy.blackhole()
            start = time.monotonic()
            with pytest.raises(aetcd.DeadlineExceededError) as info:
                await client.get("any", timeout=0.5)
            assert isinstance(info.value, TimeoutError)
            assert 0.4 < time.monotonic() - start < 2.0


async def test_unreachable_endpoint_is_connect_error_at_the_deadline() -> None:
    # Nothing listens on a freshly freed port: the call waits for an endpoint until its
    # deadline and then says no endpoint was reachable.
    from aetcd.testing import free_ports

    (port,) = free_ports(1)
    async with aetcd.Client(f"127.0.0.1:{port}", timeout=0.5) as client:
        start = time.monotonic()
        with pytest.raises(aetcd.ConnectError):
            await client.get("k")
        assert time.monotonic() - start >= 0.4


async def test_a_short_deadline_while_connecting_does_not_blame_the_endpoint(
    etcd_server: EtcdServer,
) -> None:
    # The first call of a new client has to connect; a deadline too short for that is
    # the caller's deadline, and the healthy endpoint must stay in rotation.
    async with aetcd.Client(etcd_server.client_url) as client:
        with pytest.raises(aetcd.DeadlineExceededError):
            await client.get("k", timeout=1e-4)
        await client.get("k", timeout=2)
        assert all(c.failures == 0 for c in client._transport.balancer.connections)
