"""gRPC service discovery: servers register in etcd, a client balances over them.

The pattern of etcd's "gRPC naming and discovery" guide with aetcd and grpclib: each
server registers `<service>/<name>` in the JSON format of Go's `naming/endpoints`,
attached to a lease it keeps alive (so a crashed server disappears by itself after the
TTL); the client's `ServiceChannel` follows the registry and sends each call to the next
live server, round robin. Run against a local etcd, or set ETCD_ENDPOINTS (default
http://127.0.0.1:2379).

The service needs no protobuf codegen: grpclib takes any codec, and this one sends
JSON documents (content type `application/grpc+json`).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections import Counter
from typing import Any

from grpclib.client import Channel, UnaryUnaryMethod
from grpclib.const import Cardinality, Handler
from grpclib.encoding.base import CodecBase
from grpclib.server import Server, Stream

import aetcd
import aetcd.naming

SERVICE = "/examples/greeter"
SAY_HELLO = "/demo.Greeter/SayHello"


class JSONCodec(CodecBase):
    """gRPC messages as JSON documents (plain dicts)."""

    __content_subtype__ = "json"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return json.dumps(message).encode()

    def decode(self, data: bytes, message_type: Any) -> Any:
        return json.loads(data)


class Greeter:
    """The service: `SayHello({"name": ...})` answers, saying which server answered."""

    def __init__(self, server_name: str) -> None:
        self.server_name = server_name

    async def say_hello(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        assert request is not None
        await stream.send_message({"message": f"hello {request['name']}", "from": self.server_name})

    def __mapping__(self) -> dict[str, Handler]:
        return {SAY_HELLO: Handler(self.say_hello, Cardinality.UNARY_UNARY, dict, dict)}


class GreeterStub:
    """What protobuf codegen would generate: one method per RPC."""

    def __init__(self, channel: Channel) -> None:
        self.SayHello = UnaryUnaryMethod[dict[str, Any], dict[str, Any]](
            channel, SAY_HELLO, dict, dict
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as client:
        mgr = aetcd.naming.EndpointManager(client, SERVICE)

        # Two servers start and register themselves (a lease of 5 s, kept alive).
        servers: dict[str, Server] = {}
        registrations: dict[str, aetcd.naming.Registration] = {}
        for name in ("alpha", "beta"):
            port = free_port()
            servers[name] = Server([Greeter(name)], codec=JSONCodec())
            await servers[name].start("127.0.0.1", port)
            endpoint = aetcd.naming.Endpoint(f"127.0.0.1:{port}", metadata={"name": name})
            registrations[name] = mgr.register(f"{SERVICE}/{name}", endpoint, ttl=5)
            await registrations[name].start()
        print("registry:")
        for key, endpoint in sorted((await mgr.list_endpoints()).items()):
            print(f"  {key} -> {endpoint.metadata}")

        # The client knows only the service name.
        async with aetcd.naming.ServiceChannel(client, SERVICE, codec=JSONCodec()) as channel:
            stub = GreeterStub(channel)
            answered = Counter(
                [(await stub.SayHello({"name": f"call {i}"}))["from"] for i in range(6)]
            )
            print(f"6 calls answered by: {dict(sorted(answered.items()))}")

            # beta shuts down: it deregisters first, so no call is sent to it any more.
            async with mgr.watch() as updates:
                await anext(updates)  # the registry as it is
                await registrations["beta"].close()
                servers["beta"].close()
                await servers["beta"].wait_closed()
                for update in await anext(updates):
                    print(f"registry: {update.op.name} {update.key}")
            while True:  # the channel follows the same registry
                if len(channel.endpoints) == 1:
                    break
                await asyncio.sleep(0.01)
            answered = Counter(
                [(await stub.SayHello({"name": f"call {i}"}))["from"] for i in range(4)]
            )
            print(f"after beta left, 4 calls answered by: {dict(answered)}")

        await registrations["alpha"].close()
        servers["alpha"].close()
        await servers["alpha"].wait_closed()


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
