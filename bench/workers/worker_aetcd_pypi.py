"""Bench worker for `aetcd==1.0.0` from PyPI (grpc.aio based; its own venv)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit

from _common import main


def info() -> dict[str, Any]:
    import aetcd

    if not hasattr(aetcd.Client, "transaction"):  # the wrong aetcd (this repo's) on sys.path
        raise ImportError(f"{aetcd.__file__} is not the PyPI aetcd 1.x")
    return {"client": "aetcd-pypi", "version": version("aetcd"), "python": sys.version.split()[0]}


class Impl:
    def __init__(self) -> None:
        import aetcd

        self._aetcd = aetcd
        self.client: Any = None

    async def open(self, endpoint: str) -> None:
        url = urlsplit(endpoint)
        self.client = self._aetcd.Client(host=url.hostname, port=url.port, timeout=60)
        await self.client.connect()

    async def close(self) -> None:
        await self.client.close()

    async def put(self, key: bytes, value: bytes) -> None:
        await self.client.put(key, value)

    async def get(self, key: bytes, serializable: bool) -> bytes | None:
        resp = await self.client.get(key, serializable=serializable)
        return None if resp is None else resp.value

    async def txn(self, key: bytes, value: bytes) -> None:
        t = self.client.transactions
        await self.client.transaction(
            compare=[t.value(key) == value], success=[t.put(key, value)], failure=[t.get(key)]
        )

    async def lease_grant(self, ttl: int) -> int:
        return int((await self.client.lease(ttl)).id)

    async def lease_keep_alive_once(self, lease_id: int) -> None:
        await self.client.refresh_lease(lease_id)

    async def lease_revoke(self, lease_id: int) -> None:
        await self.client.revoke_lease(lease_id)

    @contextlib.asynccontextmanager
    async def watch(
        self, prefix: bytes, start_revision: int | None
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        # watch_prefix() returns once the server has created the watch.
        w = await self.client.watch_prefix(prefix, start_revision=start_revision)
        try:
            yield _values(w)
        finally:
            await w.cancel()


async def _values(w: Any) -> AsyncIterator[list[bytes]]:
    # This client hands out single events (one queue item per event).
    async for event in w:
        yield [event.kv.value]


if __name__ == "__main__":
    main(Impl, info)
