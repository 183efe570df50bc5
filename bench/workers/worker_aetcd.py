"""Bench worker for this repository's aetcd (runs in the project's .venv; public API only)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from _common import NotAvailable, main


def info() -> dict[str, Any]:
    import aetcd

    version = getattr(aetcd, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("aetcd")
    source = os.path.dirname(os.path.dirname(os.path.abspath(aetcd.__file__)))
    where = "this repo" if os.environ.get("PYTHONPATH") != source else f"snapshot {source}"
    return {
        "client": "aetcd",
        "version": f"{version} ({where})",
        "source": source,
        "python": sys.version.split()[0],
    }


class Impl:
    def __init__(self) -> None:
        import aetcd

        self._aetcd = aetcd
        self.client: Any = None

    async def open(self, endpoint: str) -> None:
        self.client = self._aetcd.Client(endpoint, timeout=60.0)
        await self.client.__aenter__()

    async def close(self) -> None:
        await self.client.close()

    async def put(self, key: bytes, value: bytes) -> None:
        await self.client.put(key, value)

    async def get(self, key: bytes, serializable: bool) -> bytes | None:
        resp = await self.client.get(key, serializable=serializable)
        return resp.kvs[0].value if resp.kvs else None

    async def txn(self, key: bytes, value: bytes) -> None:
        Compare, Op = self._aetcd.Compare, self._aetcd.Op
        await self.client.txn(
            compare=[Compare.value(key) == value],
            success=[Op.put(key, value)],
            failure=[Op.get(key)],
        )

    def _need(self, name: str) -> Any:
        method = getattr(self.client, name, None)
        if method is None:
            raise NotAvailable(f"aetcd.Client.{name} is not implemented yet")
        return method

    async def lease_grant(self, ttl: int) -> int:
        return int((await self._need("lease_grant")(ttl)).id)

    async def lease_keep_alive_once(self, lease_id: int) -> None:
        await self.client.lease_keep_alive_once(lease_id)

    async def lease_revoke(self, lease_id: int) -> None:
        await self.client.lease_revoke(lease_id)

    @contextlib.asynccontextmanager
    async def watch(
        self, prefix: bytes, start_revision: int | None
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        watch = self._need("watch")
        async with watch(prefix, prefix=True, start_revision=start_revision) as w:
            yield _values(w)


async def _values(w: Any) -> AsyncIterator[list[bytes]]:
    async for resp in w:
        yield [event.kv.value for event in resp.events]


if __name__ == "__main__":
    main(Impl, info)
