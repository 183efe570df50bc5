"""Service discovery (Go's naming/endpoints and gRPC resolver) against a real etcd."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from grpclib.client import UnaryUnaryMethod
from grpclib.const import Status
from grpclib.encoding.base import CodecBase
from grpclib.exceptions import GRPCError

import aetcd
import aetcd.naming
from aetcd.naming import Endpoint, EndpointManager, Operation, ServiceChannel, Update
from aetcd.testing import EtcdServer

SAY_HELLO = "/demo.Greeter/SayHello"

# A gRPC server in its own process: it registers itself with a lease of 1 s kept
# alive, so killing it (SIGKILL) leaves its registry key until the lease expires.
SERVER = textwrap.dedent(
    """
    import asyncio, json, sys
    import aetcd, aetcd.naming
    from grpclib.server import Server
    from grpclib.const import Cardinality, Handler
    from grpclib.encoding.base import CodecBase

    class JSONCodec(CodecBase):
        __content_subtype__ = "json"
        def encode(self, message, message_type):
            return json.dumps(message).encode()
        def decode(self, data, message_type):
            return json.loads(data)

    class Greeter:
        def __init__(self, name):
            self.name = name
        async def say_hello(self, stream):
            request = await stream.recv_message()
            await stream.send_message({"from": self.name, "echo": request["n"]})
        def __mapping__(self):
            return {SAY_HELLO: Handler(self.say_hello, Cardinality.UNARY_UNARY, dict, dict)}

    async def main(endpoints, service, name, port):
        server = Server([Greeter(name)], codec=JSONCodec())
        await server.start("127.0.0.1", int(port))
        async with aetcd.Client(endpoints) as client:
            mgr = aetcd.naming.EndpointManager(client, service)
            endpoint = aetcd.naming.Endpoint(f"127.0.0.1:{port}", metadata={"name": name})
            async with mgr.register(f"{service}/{name}", endpoint, ttl=1):
                print("ready", flush=True)
                await asyncio.Event().wait()

    SAY_HELLO = "/demo.Greeter/SayHello"
    asyncio.run(main(*sys.argv[1:]))
    """
)


class JSONCodec(CodecBase):
    __content_subtype__ = "json"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return json.dumps(message).encode()

    def decode(self, data: bytes, message_type: Any) -> Any:
        return json.loads(data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def service(prefix: str) -> str:
    return f"{prefix}svc"


@pytest.fixture
def mgr(client: aetcd.Client, service: str) -> EndpointManager:
    return EndpointManager(client, service)


async def test_values_are_gos_json(
    client: aetcd.Client, mgr: EndpointManager, service: str
) -> None:
    await mgr.add_endpoint(f"{service}/a", Endpoint("1.2.3.4:50051"))
    await mgr.add_endpoint(f"{service}/b", Endpoint("1.2.3.5:50051", metadata={"zone": "x"}))
    raw = {kv.key: kv.value for kv in await client.get(f"{service}/", prefix=True)}
    assert raw[f"{service}/a".encode()] == b'{"Op":0,"Addr":"1.2.3.4:50051","Metadata":null}'
    assert raw[f"{service}/b".encode()] == (
        b'{"Op":0,"Addr":"1.2.3.5:50051","Metadata":{"zone":"x"}}'
    )
    assert await mgr.list_endpoints() == {
        f"{service}/a": Endpoint("1.2.3.4:50051"),
        f"{service}/b": Endpoint("1.2.3.5:50051", {"zone": "x"}),
    }
    await mgr.delete_endpoint(f"{service}/a")
    assert list(await mgr.list_endpoints()) == [f"{service}/b"]


async def test_reads_what_etcdctl_writes(
    mgr: EndpointManager, service: str, etcd_server: EtcdServer
) -> None:
    # The registration of etcd's naming guide, written with etcdctl.
    value = '{"Addr":"1.2.3.4","Metadata":"..."}'
    await anyio.to_thread.run_sync(etcd_server.etcdctl, "put", f"{service}/1.2.3.4", value)
    await anyio.to_thread.run_sync(etcd_server.etcdctl, "put", f"{service}/junk", "not json")
    assert await mgr.list_endpoints() == {f"{service}/1.2.3.4": Endpoint("1.2.3.4", "...")}


async def test_keys_must_be_under_the_target(mgr: EndpointManager, service: str) -> None:
    with pytest.raises(aetcd.ArgumentValueError):
        await mgr.add_endpoint("elsewhere/a", Endpoint("1.2.3.4:1"))
    with pytest.raises(aetcd.ArgumentValueError):
        await mgr.add_endpoint(f"{service}-2/a", Endpoint("1.2.3.4:1"))
    with pytest.raises(aetcd.ArgumentValueError):
        await mgr.add_endpoint(f"{service}/a", Endpoint("1.2.3.4:1", metadata=object()))


async def test_update_is_atomic(mgr: EndpointManager, service: str) -> None:
    await mgr.add_endpoint(f"{service}/a", Endpoint("a:1"))
    await mgr.update(
        [
            Update(Operation.DELETE, f"{service}/a", None),
            Update(Operation.ADD, f"{service}/b", Endpoint("b:1")),
        ]
    )
    assert await mgr.list_endpoints() == {f"{service}/b": Endpoint("b:1")}


async def test_watch_batches(client: aetcd.Client, mgr: EndpointManager, service: str) -> None:
    await mgr.add_endpoint(f"{service}/a", Endpoint("a:1"))
    async with mgr.watch() as updates:
        with anyio.fail_after(5):
            assert await anext(updates) == [Update(Operation.ADD, f"{service}/a", Endpoint("a:1"))]
            await client.put(f"{service}0", "not ours: a sibling prefix")
            lease = await client.lease_grant(1)
            await mgr.add_endpoint(f"{service}/b", Endpoint("b:1"), lease=lease)
            assert await anext(updates) == [Update(Operation.ADD, f"{service}/b", Endpoint("b:1"))]
            await mgr.delete_endpoint(f"{service}/a")
            assert await anext(updates) == [
                Update(Operation.DELETE, f"{service}/a", Endpoint("a:1"))
            ]
            # The lease is not kept alive: the endpoint goes away by itself.
            assert await anext(updates) == [
                Update(Operation.DELETE, f"{service}/b", Endpoint("b:1"))
            ]
    assert (await mgr.watch().__anext__()) == []


async def test_register_deregisters_and_revokes(
    client: aetcd.Client, mgr: EndpointManager, service: str
) -> None:
    async with mgr.register(f"{service}/me", Endpoint("me:1"), ttl=1) as registration:
        await anyio.sleep(1.5)  # kept alive past the TTL
        assert list(await mgr.list_endpoints()) == [f"{service}/me"]
        lease_id = registration.session.id
    assert await mgr.list_endpoints() == {}
    with pytest.raises(aetcd.LeaseNotFoundError):
        await client.lease_time_to_live(lease_id)


class ServerProcess:
    def __init__(self, endpoint: str, service: str, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, endpoint, service, name, str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if not k.startswith("ETCD")},
        )

    async def ready(self) -> None:
        assert self.proc.stdout is not None
        line = await anyio.to_thread.run_sync(self.proc.stdout.readline)
        assert line.strip() == b"ready", line

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        with anyio.fail_after(10):
            while True:
                if self.proc.poll() is not None:
                    return
                await anyio.sleep(0.01)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def servers(etcd_server: EtcdServer, service: str) -> Iterator[dict[str, ServerProcess]]:
    procs = {name: ServerProcess(etcd_server.endpoint, service, name) for name in ("a", "b")}
    yield procs
    for proc in procs.values():
        proc.close()


async def test_calls_keep_succeeding_while_a_server_dies(
    client: aetcd.Client, service: str, servers: dict[str, ServerProcess]
) -> None:
    with anyio.fail_after(20):
        for server in servers.values():
            await server.ready()
    async with ServiceChannel(client, service, codec=JSONCodec()) as channel:
        assert sorted(channel.endpoints) == [f"{service}/a", f"{service}/b"]
        say_hello = UnaryUnaryMethod[dict[str, Any], dict[str, Any]](channel, SAY_HELLO, dict, dict)
        answered = Counter([(await say_hello({"n": i}))["from"] for i in range(10)])
        assert answered == {"a": 5, "b": 5}  # round robin

        # b dies; its registry key stays until its lease (TTL 1 s) expires.
        await servers["b"].kill()
        killed_at = time.monotonic()
        calls = 0
        with anyio.fail_after(10):
            while f"{service}/b" in channel.endpoints:
                reply = await say_hello({"n": calls}, timeout=5)
                assert reply == {"from": "a", "echo": calls}
                calls += 1
                await anyio.sleep(0.02)
        assert calls > 10  # calls went on throughout the lease's lifetime
        assert time.monotonic() - killed_at < 5
        answered = Counter([(await say_hello({"n": i}))["from"] for i in range(5)])
        assert answered == {"a": 5}

        # a dies too: with no reachable endpoint, calls fail with UNAVAILABLE.
        await servers["a"].kill()
        # Wait until the client has seen a's connection close: a call sent before that
        # goes out on the dying connection and fails with grpclib's StreamTerminatedError
        # instead (a race of the test, about 1 run in 6; see the issue notes).
        with anyio.fail_after(5):
            # No event tells when grpclib sees a connection close: poll it.
            while any(b.channel._connected for b in channel._backends.values()):  # noqa: ASYNC110
                await anyio.sleep(0.01)
        with pytest.raises(GRPCError) as info:
            await say_hello({"n": 0}, timeout=5)
        assert info.value.status is Status.UNAVAILABLE


async def test_channel_with_no_endpoint(client: aetcd.Client, service: str) -> None:
    async with ServiceChannel(client, service, codec=JSONCodec()) as channel:
        say_hello = UnaryUnaryMethod[dict[str, Any], dict[str, Any]](channel, SAY_HELLO, dict, dict)
        with pytest.raises(GRPCError) as info:
            await say_hello({"n": 0}, timeout=2)
        assert info.value.status is Status.UNAVAILABLE
