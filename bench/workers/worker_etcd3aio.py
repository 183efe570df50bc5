"""Bench worker for `etcd3aio` from PyPI (grpc.aio based; its own venv)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit

from _common import main


def info() -> dict[str, Any]:
    import etcd3aio  # noqa: F401

    return {"client": "etcd3aio", "version": version("etcd3aio"), "python": sys.version.split()[0]}


class Impl:
    def __init__(self) -> None:
        import etcd3aio

        self._etcd3aio = etcd3aio
        self.client: Any = None

    async def open(self, endpoint: str) -> None:
        url = urlsplit(endpoint)
        self.client = self._etcd3aio.Etcd3Client([f"{url.hostname}:{url.port}"])
        await self.client.connect()
        self.kv = self.client.kv

    async def close(self) -> None:
        await self.client.close()

    async def put(self, key: bytes, value: bytes) -> None:
        await self.kv.put(key, value, timeout=60)

    async def get(self, key: bytes, serializable: bool) -> bytes | None:
        resp = await self.kv.get(key, serializable=serializable, timeout=60)
        return resp.kvs[0].value if resp.kvs else None

    async def txn(self, key: bytes, value: bytes) -> None:
        kv = self.kv
        await kv.txn(
            [kv.txn_compare_value(key, value)],
            [kv.txn_op_put(key, value)],
            [kv.txn_op_get(key)],
            timeout=60,
        )

    async def lease_grant(self, ttl: int) -> int:
        return int((await self.client.lease.grant(ttl, timeout=60)).ID)

    async def lease_keep_alive_once(self, lease_id: int) -> None:
        # The library's public keep-alive: a LeaseKeepAlive stream carrying one request.
        call = self.client.lease.keep_alive(lease_id)
        try:
            async for _reply in call:
                break
        finally:
            call.cancel()

    async def lease_revoke(self, lease_id: int) -> None:
        await self.client.lease.revoke(lease_id, timeout=60)

    @contextlib.asynccontextmanager
    async def watch(
        self, prefix: bytes, start_revision: int | None
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        stream = self.client.watch.watch(
            prefix,
            range_end=self._etcd3aio.prefix_range_end(prefix),
            start_revision=start_revision or 0,
        )
        try:
            first = await stream.__anext__()  # the "created" response
            if not first.created:
                raise RuntimeError("etcd3aio: first watch response is not 'created'")
            yield _values(stream)
        finally:
            await stream.aclose()


async def _values(stream: Any) -> AsyncIterator[list[bytes]]:
    async for resp in stream:
        yield [event.kv.value for event in resp.events]


if __name__ == "__main__":
    main(Impl, info)
