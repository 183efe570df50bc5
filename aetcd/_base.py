"""The one thing every service module needs from the client: a way to call an RPC."""

from __future__ import annotations

from collections.abc import Generator
from types import TracebackType
from typing import Any, Protocol, TypeVar

from ._config import DEFAULT, TimeoutArg
from ._transport import Endpoint, Method, Transport

__all__ = ["BackgroundService", "ClosingIterator", "Handle", "ServiceBase"]

H = TypeVar("H", bound="Handle")
C = TypeVar("C", bound="ClosingIterator")
Req = TypeVar("Req")
Rep = TypeVar("Rep")


class BackgroundService(Protocol):
    """A long-lived helper of the client (watch multiplexer, keep-alive manager, ...)."""

    def close(self) -> None:
        """Stop at once (no awaiting): the client is closing and cancels its task group."""


class ServiceBase:
    """Base of the service mixins that make up `Client` (KV, Txn, Lease, ...).

    Each mixin lives in its own module, like Go's `kv.go`, `lease.go`, ...; they share
    the transport through `_call`.
    """

    _transport: Transport
    # Background services register here when first started; `Client.close()` closes
    # them all before cancelling the task group.
    _services: dict[str, BackgroundService]

    async def _call(
        self,
        method: Method[Req, Rep],
        request: Req,
        timeout: TimeoutArg = DEFAULT,
        *,
        endpoint: Endpoint | None = None,
    ) -> Rep:
        transport = self._transport
        return await transport.unary(
            method,
            request,
            timeout=transport.config.resolve_timeout(timeout),
            endpoint=endpoint,
        )


class Handle:
    """A handle that is both awaitable and an async context manager (like asyncpg's
    `pool.acquire()`): `h = await client.x(...)` starts it and the caller closes it;
    `async with client.x(...) as h:` closes it on exit. Subclasses implement `_start`
    (idempotent, returns self) and `close`.
    """

    async def _start(self: H) -> H:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def __await__(self: H) -> Generator[Any, None, H]:
        return self._start().__await__()

    async def __aenter__(self: H) -> H:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class ClosingIterator:
    """An async iterator that is also an async context manager which closes it on exit
    (`async with client.snapshot() as chunks: async for chunk in chunks: ...`).
    Subclasses implement `__anext__` and an idempotent `aclose`."""

    def __aiter__(self: C) -> C:
        return self

    async def __aenter__(self: C) -> C:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        raise NotImplementedError
