"""An endpoint that accepts TCP connections but never speaks (a black hole, a wedged
member, a proxy without a backend) is found out while connecting, when sending the
request elsewhere is still safe for every RPC, writes included."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import aetcd
from aetcd.testing import EtcdServer, TcpProxy


async def test_writes_avoid_an_endpoint_that_accepts_but_never_answers(
    etcd_server: EtcdServer, etcd_proxy_factory: Callable[..., TcpProxy], prefix: str
) -> None:
    silent = etcd_proxy_factory(etcd_server.client_url)
    silent.blackhole()  # before the client's first connection
    async with aetcd.Client([silent.url, etcd_server.client_url], timeout=10) as client:
        started = time.monotonic()
        for i in range(6):
            # A put that reached the silent endpoint could not be resent: it would raise
            # UnavailableError ("may have been applied"). Refused at connect, it goes on.
            resp = await client.put(f"{prefix}{i}", "v")
            assert resp.header.revision > 0
        # About probe_after + probe_timeout (2 s) for the silent endpoint's turn.
        assert time.monotonic() - started < 8
        assert silent.accepted_connections >= 1
        listing = await client.get(prefix, prefix=True)
    assert [kv.version for kv in listing.kvs] == [1] * 6


async def test_an_endpoint_that_never_answers_is_reported_as_such(
    etcd_proxy_factory: Callable[..., TcpProxy], etcd_server: EtcdServer
) -> None:
    silent = etcd_proxy_factory(etcd_server.client_url)
    silent.blackhole()
    async with aetcd.Client(silent.url, timeout=5) as client:
        # Tried every probe_after + probe_timeout (2 s) until the deadline cuts an attempt.
        with pytest.raises(aetcd.DeadlineExceededError) as info:
            await client.get("k")
    assert "accepted the connection but sent nothing" in str(info.value)
