"""Round-robin over the endpoints that are not cooling down; wait (until the caller's
deadline) when every endpoint is."""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence

import anyio

from .._config import ClientConfig
from ._connection import EndpointConnection
from ._endpoints import Endpoint

__all__ = ["Balancer", "NoEndpointReady"]


class NoEndpointReady(Exception):
    """Internal: the deadline passed while every endpoint was cooling down."""


class Balancer:
    """Hands out endpoint connections for calls.

    Healthy endpoints are used in turn. A failed endpoint cools down (see
    `EndpointConnection.mark_failed`) and is tried again when its cool-down ends, which
    is how a restarted member is probed back into rotation: the next call simply
    connects to it. When all endpoints are cooling down, a call waits for the first to
    come back instead of failing at once.
    """

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        config: ClientConfig,
        *,
        ssl_context: ssl.SSLContext | None,
        server_name: str | None,
    ) -> None:
        self._config = config
        self._ssl = ssl_context
        self._server_name = server_name
        self._conns: list[EndpointConnection] = [self._new(ep) for ep in endpoints]
        self._next = 0
        # Pinned calls (status(endpoint=...)) to endpoints outside the rotation.
        self._extra: dict[Endpoint, EndpointConnection] = {}

    def _new(self, endpoint: Endpoint) -> EndpointConnection:
        return EndpointConnection(
            endpoint, self._config, ssl_context=self._ssl, server_name=self._server_name
        )

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(c.endpoint for c in self._conns)

    @property
    def connections(self) -> tuple[EndpointConnection, ...]:
        return tuple(self._conns)

    @property
    def quorum(self) -> int:
        return len(self._conns) // 2 + 1

    def set_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        """Replace the rotation (auto-sync), keeping connections to endpoints that stay."""
        if not endpoints:
            return
        current: dict[Endpoint, EndpointConnection | None] = {c.endpoint: c for c in self._conns}
        new = [current.pop(ep, None) or self._new(ep) for ep in endpoints]
        for stale in current.values():
            if stale is not None:
                stale.shut_down()
        self._conns = new
        self._next %= len(new)

    def connection_for(self, endpoint: Endpoint) -> EndpointConnection:
        """The connection for one specific endpoint, in the rotation or not."""
        for conn in self._conns:
            if conn.endpoint == endpoint:
                return conn
        extra = self._extra.get(endpoint)
        if extra is None:
            extra = self._extra[endpoint] = self._new(endpoint)
        return extra

    def pick(self, *, exclude: EndpointConnection | None = None) -> EndpointConnection | None:
        """The next endpoint in turn that is not cooling down, or `None`.

        `exclude` skips the endpoint that just failed when another one is available.
        Endpoints the health checker marked unhealthy (up but without a leader) are
        used only when no healthy one is available: never a deadlock.
        """
        now = time.monotonic()
        n = len(self._conns)
        unhealthy: EndpointConnection | None = None
        fallback: EndpointConnection | None = None
        for i in range(n):
            conn = self._conns[(self._next + i) % n]
            if conn.available_at > now:
                continue
            if conn is exclude and n > 1:
                fallback = conn
                continue
            if not conn.healthy:
                if unhealthy is None:
                    unhealthy = conn
                continue
            self._next = (self._next + i + 1) % n
            return conn
        if unhealthy is not None:
            self._next = (self._conns.index(unhealthy) + 1) % n
            return unhealthy
        return fallback

    async def acquire(
        self, deadline: float | None, *, exclude: EndpointConnection | None = None
    ) -> EndpointConnection:
        """Wait for an endpoint that is not cooling down, until `deadline` (monotonic)."""
        while True:
            conn = self.pick(exclude=exclude)
            if conn is not None:
                return conn
            wake = min(c.available_at for c in self._conns)
            if deadline is not None and wake >= deadline:
                await anyio.sleep(max(0.0, deadline - time.monotonic()))
                raise NoEndpointReady
            await anyio.sleep(max(0.0, wake - time.monotonic()))

    def close(self) -> None:
        for conn in (*self._conns, *self._extra.values()):
            conn.shut_down()
        self._extra.clear()
