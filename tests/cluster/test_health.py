"""Endpoint health: members that are up but follow no leader (cut off from the
majority) or do not answer leave the rotation until they recover, and a client
whose endpoints are all unhealthy keeps using them rather than waiting forever."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import pytest

import aetcd
from aetcd import ClientConfig
from aetcd._transport import Balancer, parse_endpoints
from aetcd.testing import EtcdCluster, EtcdServer, free_ports

pytestmark = pytest.mark.cluster

FAST_CHECKS = {"health_check_interval": 0.2, "health_check_timeout": 1.0}


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float) -> float:
    """Poll `predicate` until it holds; return the seconds it took."""
    start = time.monotonic()
    with anyio.fail_after(timeout):
        while True:
            if await predicate():
                return time.monotonic() - start
            await anyio.sleep(0.05)


async def served_by(client: aetcd.Client, n: int = 12) -> set[int]:
    """The members that answered `n` serializable gets (they work without a leader)."""
    return {(await client.get("k", serializable=True)).header.member_id for _ in range(n)}


# -- the balancer's side (no etcd) -------------------------------------------------------


def make_balancer(n: int) -> Balancer:
    endpoints = parse_endpoints([f"http://127.0.0.1:{p}" for p in free_ports(n)])
    return Balancer(endpoints, ClientConfig(), ssl_context=None, server_name=None)


def test_unhealthy_endpoints_are_skipped() -> None:
    balancer = make_balancer(3)
    a, b, c = balancer.connections
    b.healthy = False
    assert {balancer.pick() for _ in range(6)} == {a, c}
    # The endpoint that just failed is avoided as well; with only it and unhealthy
    # ones left, an unhealthy one is tried first (its verdict may be stale).
    assert balancer.pick(exclude=a) is c
    c.healthy = False
    assert {balancer.pick() for _ in range(6)} == {a}
    assert balancer.pick(exclude=a) in (b, c)


def test_all_unhealthy_endpoints_are_used_rather_than_none() -> None:
    balancer = make_balancer(2)
    a, b = balancer.connections
    a.healthy = b.healthy = False
    assert {balancer.pick() for _ in range(4)} == {a, b}
    a.mark_failed(close=False)  # cooling down: the unhealthy b is all that is left
    assert {balancer.pick() for _ in range(4)} == {b}


def test_health_check_options_are_validated() -> None:
    with pytest.raises(aetcd.ArgumentValueError, match="health_check_interval"):
        aetcd.Client("127.0.0.1:2379", health_check_interval=0)
    with pytest.raises(aetcd.ArgumentTypeError, match="health_check_timeout"):
        aetcd.Client("127.0.0.1:2379", health_check_timeout="1")


# -- against etcd ----------------------------------------------------------------------


async def test_check_health_reports_every_endpoint(etcd_server: EtcdServer) -> None:
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    async with aetcd.Client([etcd_server.endpoint, dead]) as client:
        up, down = await client.check_health(timeout=2)
        assert (up.endpoint, up.healthy, up.error) == (etcd_server.endpoint, True, None)
        assert up.leader == (await client.status()).member_id
        assert (down.endpoint, down.healthy, down.leader) == (dead, False, 0)
        assert isinstance(down.error, aetcd.ConnectError)
        # Without health_check_interval, checking only reports.
        assert client.unhealthy_endpoints == ()


async def test_leaderless_member_leaves_the_rotation_until_it_recovers(
    etcd_cluster: EtcdCluster, etcd_server: EtcdServer
) -> None:
    # A member that is up but has no leader needs a partition; freezing the other two
    # members of its cluster makes one. The client also knows a healthy member (of
    # another cluster: the balancer does not care), so "out of rotation" shows as
    # every read being answered by that one.
    a, b, c = etcd_cluster.members
    async with aetcd.Client([a.endpoint, etcd_server.endpoint], **FAST_CHECKS) as client:
        a_id = (await client.status(a.endpoint)).member_id
        healthy_id = (await client.status(etcd_server.endpoint)).member_id
        assert await served_by(client) == {a_id, healthy_id}
        assert client.unhealthy_endpoints == ()

        b.pause()
        c.pause()
        try:

            async def a_out() -> bool:
                return client.unhealthy_endpoints == (a.endpoint,)

            # An election timeout (0.5 s) after the pause, `a` follows no leader.
            await wait_until(a_out, 15)
            report = {h.endpoint: h for h in await client.check_health()}
            assert report[a.endpoint].healthy is False
            assert report[a.endpoint].leader == 0
            assert isinstance(report[a.endpoint].error, aetcd.NoLeaderError)
            assert (await client.status(a.endpoint)).leader == 0  # it is up, though
            assert await served_by(client) == {healthy_id}
        finally:
            b.resume()
            c.resume()

        async def a_back() -> bool:
            return client.unhealthy_endpoints == ()

        await wait_until(a_back, 15)
        assert await served_by(client) == {a_id, healthy_id}


async def test_all_endpoints_unhealthy_still_serve(etcd_cluster: EtcdCluster) -> None:
    a, b, c = etcd_cluster.members
    async with aetcd.Client([a.endpoint, b.endpoint], timeout=10, **FAST_CHECKS) as client:
        a_id = (await client.status(a.endpoint)).member_id
        b.pause()
        c.pause()
        try:

            async def both_out() -> bool:
                return set(client.unhealthy_endpoints) == {a.endpoint, b.endpoint}

            await wait_until(both_out, 15)
            report = {h.endpoint: h for h in await client.check_health(timeout=1)}
            assert isinstance(report[a.endpoint].error, aetcd.NoLeaderError)
            # The frozen member does not answer at all.
            assert isinstance(
                report[b.endpoint].error, (aetcd.DeadlineExceededError, aetcd.UnavailableError)
            )
            # No deadlock: the unhealthy endpoints are still used, and `a` can serve a
            # serializable read without a leader.
            assert await served_by(client, 3) == {a_id}
        finally:
            b.resume()
            c.resume()

        async def all_back() -> bool:
            return client.unhealthy_endpoints == ()

        await wait_until(all_back, 15)
        await client.put("k", "v")
