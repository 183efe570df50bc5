"""The client on uvloop's event loop (the `uvloop` extra): calls, concurrency, deadlines,
streams, TLS and shutdown behave as on asyncio's own loop.

Each test is a plain function whose body runs under `uvloop.run()`, exactly as an
application starts its loop; the etcd fixtures are synchronous, so they work with any
loop. (pytest-asyncio >= 1.4 selects loops with a `pytest_asyncio_loop_factories`
hook, which parametrizes every async test below the conftest declaring it: more than
this module needs.)
"""

from __future__ import annotations

import asyncio
import functools
import gc
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, ParamSpec

import anyio
import pytest

import aetcd
from aetcd import Compare, Op
from aetcd.testing import EtcdServer, EtcdTLS, TcpProxy, make_test_tls

if sys.platform == "win32":
    pytest.skip("uvloop does not run on Windows", allow_module_level=True)

import uvloop

P = ParamSpec("P")


def on_uvloop(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run the coroutine test with `uvloop.run()`; afterwards, nothing may be left
    behind (a task, an unclosed transport: `filterwarnings = error` fails on those)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        async def main() -> None:
            assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
            await test(*args, **kwargs)
            others = asyncio.all_tasks() - {asyncio.current_task()}
            assert not others, f"tasks left running: {others}"

        uvloop.run(main())
        gc.collect()  # an unclosed socket or transport warns now, inside the test

    return run


@on_uvloop
async def test_put_get_delete_txn(etcd_server: EtcdServer, prefix: str) -> None:
    key = f"{prefix}k"
    async with aetcd.Client(etcd_server.endpoint) as client:
        put = await client.put(key, "v1")
        got = await client.get(key)
        assert got.kvs[0].value == b"v1"
        assert got.kvs[0].mod_revision == put.header.revision

        txn = await client.txn(
            compare=[Compare.value(key) == "v1"],
            success=[Op.put(key, "v2"), Op.get(key)],
            failure=[Op.get(key)],
        )
        assert txn.succeeded
        assert (await client.get(key)).kvs[0].value == b"v2"
        txn = await client.txn(
            compare=[Compare.value(key) == "v1"], success=[Op.put(key, "v3")], failure=[]
        )
        assert not txn.succeeded

        deleted = await client.delete(key, prev_kv=True)
        assert deleted.deleted == 1
        assert deleted.prev_kvs[0].value == b"v2"
        assert (await client.get(key)).kvs == ()


@on_uvloop
async def test_200_concurrent_gets_each_get_their_own_answer(
    etcd_server: EtcdServer, prefix: str
) -> None:
    n = 200
    keys = [f"{prefix}{i:03d}" for i in range(n)]
    async with aetcd.Client(etcd_server.endpoint) as client:
        await asyncio.gather(*(client.put(key, f"value {i}") for i, key in enumerate(keys)))
        results = await asyncio.gather(*(client.get(key) for key in keys))
        assert [r.kvs[0].value for r in results] == [f"value {i}".encode() for i in range(n)]
        # Serializable reads too, mixed with linearizable ones.
        mixed = await asyncio.gather(
            *(client.get(key, serializable=i % 2 == 0) for i, key in enumerate(keys))
        )
        assert [r.kvs[0].key for r in mixed] == [key.encode() for key in keys]


@on_uvloop
async def test_deadline_on_a_black_holed_endpoint(
    etcd_server: EtcdServer, etcd_proxy_factory: Callable[[Any], TcpProxy], prefix: str
) -> None:
    proxy = etcd_proxy_factory(etcd_server.member)
    # probe_after=60: the call's own deadline ends it, not a failed connection probe.
    async with aetcd.Client(proxy.url, timeout=5, probe_after=60) as client:
        await client.put(f"{prefix}k", "v")
        proxy.blackhole()
        for call in (
            lambda: client.get(f"{prefix}k", timeout=0.5),
            lambda: client.put(f"{prefix}k", "w", timeout=0.5),
        ):
            start = time.monotonic()
            with pytest.raises(aetcd.DeadlineExceededError) as info:
                await call()
            elapsed = time.monotonic() - start
            assert isinstance(info.value, TimeoutError)
            assert 0.4 < elapsed < 2.0, elapsed
        proxy.restore()
        assert (await client.get(f"{prefix}k", timeout=5)).kvs[0].value in (b"v", b"w")


@on_uvloop
async def test_a_silent_member_is_left_after_the_probe(
    etcd_server: EtcdServer, etcd_proxy_factory: Callable[[Any], TcpProxy], prefix: str
) -> None:
    # A black-holed member and a healthy one: the HTTP/2 PING probe (a call_later timer
    # and an unanswered PING on the connection) closes the silent connection, and the
    # idempotent get is answered by the other member within its deadline.
    silent = etcd_proxy_factory(etcd_server.member)
    healthy = etcd_proxy_factory(etcd_server.member)
    async with aetcd.Client([silent.url, healthy.url], timeout=10) as client:
        for _ in range(4):  # round-robin: both endpoints connected
            await client.put(f"{prefix}k", "v")
        silent.blackhole()
        start = time.monotonic()
        for _ in range(4):
            assert (await client.get(f"{prefix}k")).kvs[0].value == b"v"
        assert time.monotonic() - start < 5


@on_uvloop
async def test_watch_receives_events(etcd_server: EtcdServer, prefix: str) -> None:
    async with aetcd.Client(etcd_server.endpoint) as client:
        async with client.watch(prefix, prefix=True) as watch:
            await client.put(f"{prefix}a", "1")
            await client.put(f"{prefix}b", "2")
            await client.delete(f"{prefix}a")
            seen: list[tuple[str, bytes, bytes]] = []
            with anyio.fail_after(5):
                async for event in watch.events():
                    seen.append((event.type.name, event.kv.key, event.kv.value))
                    if len(seen) == 3:
                        break
        assert seen == [
            ("PUT", f"{prefix}a".encode(), b"1"),
            ("PUT", f"{prefix}b".encode(), b"2"),
            ("DELETE", f"{prefix}a".encode(), b""),
        ]


@on_uvloop
async def test_lease_kept_alive_then_revoked(etcd_server: EtcdServer, prefix: str) -> None:
    key = f"{prefix}session"
    async with aetcd.Client(etcd_server.endpoint) as client:
        async with client.lease(2) as lease:
            await client.put(key, "alive", lease=lease)
            responses = []
            with anyio.fail_after(10):
                async for resp in lease:
                    responses.append(resp)
                    if len(responses) == 4:  # > 1 TTL: only the keep-alive saves it
                        break
            assert all(r.id == lease.id and r.ttl == 2 for r in responses)
            assert (await client.get(key)).kvs
            assert (await lease.time_to_live()).ttl > 0
        assert lease.expired  # revoked on exit, with its key
        assert (await client.get(key)).kvs == ()
        assert lease.id not in await client.leases()


@on_uvloop
async def test_lock_is_held_by_one_task_at_a_time(etcd_server: EtcdServer, prefix: str) -> None:
    name, holder = f"{prefix}L", f"{prefix}holder"
    inside = most = entries = 0
    async with aetcd.Client(etcd_server.endpoint) as c1, aetcd.Client(etcd_server.endpoint) as c2:

        async def contend(client: aetcd.Client) -> None:
            nonlocal inside, most, entries
            for _ in range(3):
                async with client.lock(name, ttl=5) as lock:
                    inside += 1
                    most, entries = max(most, inside), entries + 1
                    # Round trips while holding it: nobody else writes in between.
                    await client.put(holder, lock.key or b"")
                    assert (await client.get(holder)).kvs[0].value == lock.key
                    inside -= 1

        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(contend, c1 if i % 2 else c2)
        assert (most, entries) == (1, 18)
        assert (await c1.get(f"{name}/", prefix=True)).kvs == ()


@on_uvloop
async def test_close_with_streams_open(etcd_server: EtcdServer, prefix: str) -> None:
    # A watch, a kept-alive lease and calls in flight when the client closes: everything
    # ends (the wrapper checks that no task is left), and the handles fail loudly.
    client = aetcd.Client(etcd_server.endpoint)
    await client.__aenter__()
    watch = await client.watch(prefix, prefix=True)
    lease = await client.lease(30)
    pending = [asyncio.ensure_future(client.get(f"{prefix}{i}")) for i in range(20)]
    await client.close()
    await asyncio.gather(*pending, return_exceptions=True)
    with pytest.raises(aetcd.ClientClosedError):
        await client.get(f"{prefix}k")
    with pytest.raises(aetcd.ClientClosedError):
        await watch.__anext__()
    with pytest.raises(aetcd.ClientClosedError):
        await lease.wait_expired()
    await lease.close()  # quiet after the client closed
    await watch.close()
    await anyio.to_thread.run_sync(etcd_server.etcdctl, "lease", "revoke", f"{lease.id:x}")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EtcdServer, EtcdTLS]]:
    certs = make_test_tls(tmp_path_factory.mktemp("tls"), client_cert_auth=True)
    with EtcdServer(name="uvloop-tls", tls=certs) as server:
        yield server, certs


@on_uvloop
async def test_tls(tls_server: tuple[EtcdServer, EtcdTLS]) -> None:
    # uvloop has an SSL layer of its own (not asyncio's sslproto).
    server, certs = tls_server
    tls = aetcd.TLSConfig(
        ca_file=certs.ca_file, cert_file=certs.client_cert_file, key_file=certs.client_key_file
    )
    async with aetcd.Client(server.endpoint, tls=tls) as client:
        await client.put("/uvloop/tls", "v")
        assert (await client.get("/uvloop/tls")).kvs[0].value == b"v"
        async with client.watch("/uvloop/tls") as watch:
            await client.put("/uvloop/tls", "w")
            with anyio.fail_after(5):
                async for event in watch.events():
                    assert event.kv.value == b"w"
                    break
