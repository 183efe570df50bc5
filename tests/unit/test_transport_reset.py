"""A stream reset by the server fails (or retries) that call only: the connection and
the other calls on it live on. Uses an in-process grpclib server on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import grpclib.const
import grpclib.exceptions
import grpclib.server
import pytest
from grpclib.server import Server

import aetcd
from aetcd._proto import etcdserverpb as pb


class _KV:
    def __init__(self) -> None:
        self.ranges = 0
        self.put_started = asyncio.Event()
        self.release_put = asyncio.Event()

    async def range(self, stream: Any) -> None:
        await stream.recv_message()
        self.ranges += 1
        if self.ranges == 1:
            stream._stream.reset_nowait()  # RST_STREAM this call only
            return
        await stream.send_message(pb.RangeResponse(header=pb.ResponseHeader(revision=7)))

    async def put(self, stream: Any) -> None:
        await stream.recv_message()
        self.put_started.set()
        await self.release_put.wait()
        await stream.send_message(pb.PutResponse(header=pb.ResponseHeader(revision=8)))

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        unary = grpclib.const.Cardinality.UNARY_UNARY
        return {
            "/etcdserverpb.KV/Range": grpclib.const.Handler(
                self.range, unary, pb.RangeRequest, pb.RangeResponse
            ),
            "/etcdserverpb.KV/Put": grpclib.const.Handler(
                self.put, unary, pb.PutRequest, pb.PutResponse
            ),
        }


async def test_reset_stream_keeps_the_connection_and_its_other_calls() -> None:
    kv = _KV()
    server = Server([kv])
    await server.start("127.0.0.1", 0)
    port = server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aetcd.Client(f"127.0.0.1:{port}", timeout=5) as client:
            put = asyncio.create_task(client.put("k", "v"))
            await kv.put_started.wait()
            # The range is reset once, retried (idempotent) and answered.
            resp = await client.get("k")
            assert resp.header.revision == 7
            assert kv.ranges == 2
            # The put in flight on the same connection was not dropped.
            kv.release_put.set()
            assert (await put).header.revision == 8
    finally:
        server.close()
        await server.wait_closed()


class _Leaderless:
    """Every Put is refused with etcd's "no leader" (UNAVAILABLE)."""

    def __init__(self) -> None:
        self.puts = 0

    async def put(self, stream: Any) -> None:
        await stream.recv_message()
        self.puts += 1
        raise grpclib.exceptions.GRPCError(
            grpclib.const.Status.UNAVAILABLE, "etcdserver: no leader"
        )

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        return {
            "/etcdserverpb.KV/Put": grpclib.const.Handler(
                self.put, grpclib.const.Cardinality.UNARY_UNARY, pb.PutRequest, pb.PutResponse
            ),
        }


async def test_refusals_until_the_deadline_report_the_servers_error() -> None:
    # A member that answers "no leader" is reachable: when it (and every other) keeps
    # refusing until the deadline, the caller sees NoLeaderError, not ConnectError.
    kv = _Leaderless()
    server = Server([kv])
    await server.start("127.0.0.1", 0)
    port = server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aetcd.Client(f"127.0.0.1:{port}", timeout=1) as client:
            with pytest.raises(aetcd.NoLeaderError):
                await client.put("k", "v")
            assert kv.puts >= 2  # "no leader" proves the put was not applied: resent
    finally:
        server.close()
        await server.wait_closed()
