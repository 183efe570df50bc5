"""Watches on an etcd with authentication: refusals are typed errors, expired stream
tokens are renewed without losing events."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

import aetcd
from aetcd._watch import WatchMultiplexer
from aetcd.testing import EtcdServer

ROOT = "--user=root:rootpw"


def _setup_auth(server: EtcdServer) -> None:
    ctl = server.etcdctl
    ctl("user", "add", "root", "--new-user-password=rootpw", json_output=False)
    ctl("user", "grant-role", "root", "root", json_output=False)
    ctl("role", "add", "reader", json_output=False)
    ctl(
        "role",
        "grant-permission",
        "reader",
        "readwrite",
        "/allowed/",
        "--prefix=true",
        json_output=False,
    )
    ctl("user", "add", "alice", "--new-user-password=alicepw", json_output=False)
    ctl("user", "grant-role", "alice", "reader", json_output=False)
    ctl("auth", "enable", json_output=False)


@pytest.fixture(scope="module")
def server() -> Iterator[EtcdServer]:
    # Simple tokens expire after 1 s without use, to exercise token renewal.
    with EtcdServer(extra_args=("--auth-token=simple", "--auth-token-ttl=1")) as s:
        _setup_auth(s)
        yield s


async def drain(watch: aetcd.Watch) -> None:
    """Iterate to the end; the watches here must fail before delivering anything."""
    with anyio.fail_after(10):
        async for response in watch:
            pytest.fail(f"the watch delivered {response}")


def mux_of(client: aetcd.Client) -> WatchMultiplexer:
    service = client._services["watch"]
    assert isinstance(service, WatchMultiplexer)
    return service


async def next_response(watch: aetcd.Watch, timeout: float = 5.0) -> aetcd.WatchResponse:
    with anyio.fail_after(timeout):
        return await watch.__anext__()


async def test_forbidden_watch_raises_permission_denied(server: EtcdServer) -> None:
    async with aetcd.Client(server.endpoint, username="alice", password="alicepw") as client:
        async with client.watch("/allowed/before") as before:
            async with client.watch("/forbidden/k") as forbidden:
                with pytest.raises(aetcd.PermissionDeniedError) as info:
                    await drain(forbidden)
            assert "permission denied" in info.value.message
            assert forbidden.closed
            # The refusal did not disturb the watch created before it on the same stream
            # (etcd 3.5.1 answers a refused create with the watch id it was given).
            async with client.watch("/allowed/after") as after:
                await client.put("/allowed/before", "1")
                await client.put("/allowed/after", "2")
                assert (await next_response(before)).events[0].kv.value == b"1"
                assert (await next_response(after)).events[0].kv.value == b"2"
        with pytest.raises(aetcd.PermissionDeniedError):
            async with client.watch("/forbidden/", prefix=True) as watch:
                await watch.__anext__()


async def test_expired_stream_token_is_renewed(server: EtcdServer) -> None:
    async with (
        aetcd.Client(server.endpoint, username="alice", password="alicepw") as client,
        client.watch("/allowed/", prefix=True) as first,
    ):
        await client.put("/allowed/a", "1")
        assert (await next_response(first)).events[0].kv.value == b"1"
        # Nothing uses the token for longer than its TTL: the stream's token expires.
        await anyio.sleep(2.5)
        async with client.watch("/allowed/b") as second:
            await client.put("/allowed/b", "2")
            assert (await next_response(second)).events[0].kv.value == b"2"
            event = (await next_response(first)).events[0]
            assert (event.kv.key, event.kv.value) == (b"/allowed/b", b"2")
        # The refused create was retried on a new stream with a fresh token.
        assert mux_of(client).streams_opened == 2
