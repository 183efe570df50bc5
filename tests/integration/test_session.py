"""Sessions (Go's concurrency.Session): a lease kept alive, reported when lost."""

from __future__ import annotations

import anyio
import pytest

import aetcd
from aetcd.testing import EtcdServer


async def test_session_keeps_its_lease_and_revokes_it(client: aetcd.Client, prefix: str) -> None:
    async with client.session(ttl=1) as session:
        assert session.ttl == 1
        await client.put(f"{prefix}k", "v", lease=session)
        await anyio.sleep(1.5)  # longer than the TTL: kept alive meanwhile
        assert (await client.get(f"{prefix}k")).kvs
        assert not session.expired
        lease_id = session.id
    assert session.closed
    assert not (await client.get(f"{prefix}k")).kvs
    with pytest.raises(aetcd.LeaseNotFoundError):
        await client.lease_time_to_live(lease_id)


async def test_session_reports_expiry(client: aetcd.Client, etcd_server: EtcdServer) -> None:
    session = await client.session(ttl=3)
    try:
        await anyio.to_thread.run_sync(etcd_server.etcdctl, "lease", "revoke", f"{session.id:x}")
        with anyio.fail_after(5):  # noticed at the next keep-alive (TTL/3)
            await session.wait_expired()
        assert session.expired
    finally:
        await session.close()  # the lease is gone: nothing to revoke, no error


async def test_orphan_leaves_the_lease_to_expire(client: aetcd.Client, prefix: str) -> None:
    session = await client.session(ttl=1)
    await client.put(f"{prefix}k", "v", lease=session)
    session.orphan()
    assert session.closed
    assert (await client.get(f"{prefix}k")).kvs  # not revoked
    with anyio.fail_after(5):
        while True:
            if not (await client.get(f"{prefix}k")).kvs:
                break
            await anyio.sleep(0.1)
    await session.close()  # harmless
    with pytest.raises(aetcd.ClientClosedError):
        await session


async def test_close_after_orphan_revokes(client: aetcd.Client) -> None:
    session = await client.session(ttl=30)
    session.orphan()
    await session.close()
    with pytest.raises(aetcd.LeaseNotFoundError):
        await client.lease_time_to_live(session.id)


async def test_adopt_an_existing_lease(client: aetcd.Client) -> None:
    granted = await client.lease_grant(1)
    async with client.session(lease=granted.id) as session:
        assert session.id == granted.id
        await anyio.sleep(1.5)
        await client.lease_time_to_live(granted.id)  # still there (raises if not)
    with pytest.raises(aetcd.LeaseNotFoundError):
        await client.lease_time_to_live(granted.id)


async def test_adopting_an_unknown_lease_fails(client: aetcd.Client) -> None:
    with pytest.raises(aetcd.LeaseNotFoundError):
        await client.session(lease=0x1234567)


async def test_session_misuse(client: aetcd.Client) -> None:
    session = client.session(ttl=5)
    with pytest.raises(aetcd.UsageError):
        session.id  # noqa: B018  (not started)
    with pytest.raises(aetcd.ArgumentValueError):
        client.session(ttl=0)
    with pytest.raises(TypeError):
        client.session(lease="x")  # type: ignore[arg-type]
    await session.close()  # closing a session never started is a no-op
    with pytest.raises(aetcd.ClientClosedError):
        await session


async def test_closing_the_client_ends_the_session(etcd_server: EtcdServer) -> None:
    async with aetcd.Client(etcd_server.endpoint) as client:
        session = await client.session(ttl=5)
    with pytest.raises(aetcd.ClientClosedError):
        await session.wait_expired()
    await session.close()  # no error after the client closed
