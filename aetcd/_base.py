"""The one thing every service module needs from the client: a way to call an RPC."""

from __future__ import annotations

from typing import Protocol, TypeVar

from ._config import DEFAULT, TimeoutArg
from ._transport import Endpoint, Method, Transport

__all__ = ["BackgroundService", "ServiceBase"]

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
