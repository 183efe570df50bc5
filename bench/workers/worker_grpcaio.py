"""Bench worker for raw grpc.aio with stubs generated from proto/ (its own venv).

The stubs are generated at bench time into .bench/stubs by grpcio-tools (see
bench/setup.sh); `BENCH_STUBS` (or --stubs) points there. No client library: this is
the floor a grpc.aio based client could reach.

`worker_grpcaio.py writer '<json>'` is the writer process of the watch cases: it puts
`n` stamped values (see _common.write_ts_value) with `conc` requests in flight and
prints {"first_revision", "last_revision", "ops_per_s"}.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit

from _common import keys_for, main, run_concurrently, write_ts_value

_STUBS = os.environ.get("BENCH_STUBS")
if _STUBS:
    sys.path.insert(0, _STUBS)


def info() -> dict[str, Any]:
    import grpc  # noqa: F401
    from etcdserverpb import rpc_pb2  # noqa: F401
    from google.protobuf.internal import api_implementation

    protobuf = f"protobuf {version('protobuf')} ({api_implementation.Type()})"
    return {
        "client": "grpc.aio",
        "version": f"grpcio {version('grpcio')}, {protobuf}",
        "python": sys.version.split()[0],
    }


def prefix_range_end(prefix: bytes) -> bytes:
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"


class Impl:
    def __init__(self) -> None:
        import grpc
        from etcdserverpb import rpc_pb2, rpc_pb2_grpc

        self.grpc = grpc
        self.pb = rpc_pb2
        self.pbg = rpc_pb2_grpc

    async def open(self, endpoint: str) -> None:
        url = urlsplit(endpoint)
        self.channel = self.grpc.aio.insecure_channel(f"{url.hostname}:{url.port}")
        self.kv = self.pbg.KVStub(self.channel)
        self.lease = self.pbg.LeaseStub(self.channel)
        self.watch_stub = self.pbg.WatchStub(self.channel)
        await self.channel.channel_ready()

    async def close(self) -> None:
        await self.channel.close()

    async def put(self, key: bytes, value: bytes) -> int:
        resp = await self.kv.Put(self.pb.PutRequest(key=key, value=value), timeout=60)
        return int(resp.header.revision)

    async def get(self, key: bytes, serializable: bool) -> bytes | None:
        resp = await self.kv.Range(
            self.pb.RangeRequest(key=key, serializable=serializable), timeout=60
        )
        return resp.kvs[0].value if resp.kvs else None

    async def txn(self, key: bytes, value: bytes) -> None:
        pb = self.pb
        await self.kv.Txn(
            pb.TxnRequest(
                compare=[
                    pb.Compare(
                        result=pb.Compare.EQUAL, target=pb.Compare.VALUE, key=key, value=value
                    )
                ],
                success=[pb.RequestOp(request_put=pb.PutRequest(key=key, value=value))],
                failure=[pb.RequestOp(request_range=pb.RangeRequest(key=key))],
            ),
            timeout=60,
        )

    async def lease_grant(self, ttl: int) -> int:
        return int((await self.lease.LeaseGrant(self.pb.LeaseGrantRequest(TTL=ttl), timeout=60)).ID)

    async def lease_keep_alive_once(self, lease_id: int) -> None:
        call = self.lease.LeaseKeepAlive(
            iter((self.pb.LeaseKeepAliveRequest(ID=lease_id),)), timeout=60
        )
        try:
            async for _reply in call:
                break
        finally:
            call.cancel()

    async def lease_revoke(self, lease_id: int) -> None:
        await self.lease.LeaseRevoke(self.pb.LeaseRevokeRequest(ID=lease_id), timeout=60)

    @contextlib.asynccontextmanager
    async def watch(
        self, prefix: bytes, start_revision: int | None
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        pb = self.pb
        call = self.watch_stub.Watch()
        try:
            await call.write(
                pb.WatchRequest(
                    create_request=pb.WatchCreateRequest(
                        key=prefix,
                        range_end=prefix_range_end(prefix),
                        start_revision=start_revision or 0,
                    )
                )
            )
            first = await call.read()
            if not first.created:
                raise RuntimeError("grpc.aio: first watch response is not 'created'")
            yield _values(call)
        finally:
            call.cancel()


async def _values(call: Any) -> AsyncIterator[list[bytes]]:
    while True:
        resp = await call.read()
        yield [event.kv.value for event in resp.events]


async def write(p: dict[str, Any]) -> dict[str, Any]:
    impl = Impl()
    await impl.open(p["endpoint"])
    keys = keys_for(p["prefix"].encode())
    size = p["value_size"]
    revisions: list[int] = []

    async def op(i: int) -> None:
        revisions.append(await impl.put(keys[i % len(keys)], write_ts_value(size)))

    t0 = time.perf_counter()
    await run_concurrently(op, p["n"], p["conc"], None)
    wall = time.perf_counter() - t0
    await impl.close()
    return {
        "first_revision": min(revisions),
        "last_revision": max(revisions),
        "ops_per_s": p["n"] / wall,
    }


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "writer":
        print(json.dumps(asyncio.run(write(json.loads(sys.argv[2])))), flush=True)
    else:
        main(Impl, info)
