"""Endpoint health checks and endpoint auto-sync: the client's background services
that keep its rotation of endpoints accurate.

* The health checker (`health_check_interval`) asks every endpoint in the rotation for
  its `Status`, pinned to that endpoint. A member that does not answer, or answers
  but follows no leader (it is partitioned from the majority, or an election is
  under way), is taken out of rotation until a later check finds it healthy again.
  This goes beyond Go's client, which only notices a partitioned member when a call
  on it fails (and only with `WithRequireLeader`). When every endpoint is unhealthy
  the balancer uses them anyway: a call then fails or succeeds on its own merits
  (serializable reads still work on a leaderless member) instead of waiting forever.
* Auto-sync (`auto_sync_interval`) replaces the endpoints with the client URLs the
  cluster advertises (`Client.sync_endpoints()`, Go's `Client.Sync`).

Both run in the client's task group and never end it: failures are logged (logger
`aetcd.health`) and retried at the next interval.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anyio
from anyio.abc import TaskGroup

from . import _rpcs as rpc
from ._base import ServiceBase
from ._cluster import ClusterMixin
from ._config import DEFAULT, TimeoutArg
from ._exceptions import EtcdError, NoLeaderError
from ._proto import etcdserverpb as pb
from ._transport import EndpointConnection, Transport

__all__ = ["AutoSync", "EndpointHealth", "HealthChecker", "HealthMixin"]

logger = logging.getLogger("aetcd.health")


@dataclass(frozen=True, slots=True)
class EndpointHealth:
    """The outcome of one health check of one endpoint.

    `healthy` means the member answered and follows a leader (`leader`, its member
    id; 0 when it knows none). Otherwise `error` says why: the call's error, or a
    `NoLeaderError` when the member answered without a leader. `took` is the check's
    round-trip time in seconds.
    """

    endpoint: str
    healthy: bool
    leader: int
    took: float
    error: EtcdError | None = None


async def _probe(
    transport: Transport, conn: EndpointConnection, timeout: float | None
) -> EndpointHealth:
    start = time.monotonic()
    url = conn.endpoint.url
    try:
        reply = await transport.unary(
            rpc.STATUS, pb.StatusRequest(), timeout=timeout, endpoint=conn.endpoint
        )
    except EtcdError as exc:
        return EndpointHealth(url, False, 0, time.monotonic() - start, exc)
    took = time.monotonic() - start
    if reply.leader == 0:
        return EndpointHealth(
            url, False, 0, took, NoLeaderError(f"{url} is up but follows no leader")
        )
    return EndpointHealth(url, True, reply.leader, took)


class HealthChecker:
    """Background service: checks every endpoint each `interval` seconds and keeps
    the unhealthy ones out of rotation (see the module docstring)."""

    def __init__(self, client: HealthMixin, interval: float, timeout: float) -> None:
        self._client = client
        self.interval = interval
        self.timeout = timeout
        self.rounds = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"<HealthChecker every {self.interval:g} s, rounds={self.rounds}>"

    def apply(self, conns: tuple[EndpointConnection, ...], results: list[EndpointHealth]) -> None:
        """Record the results of one round on the connections checked."""
        current = set(self._client._transport.balancer.connections)
        for conn, result in zip(conns, results, strict=True):
            if conn not in current:
                continue  # replaced by an endpoint sync meanwhile
            if conn.healthy != result.healthy:
                if result.healthy:
                    logger.info("endpoint %s is healthy again", result.endpoint)
                else:
                    logger.warning(
                        "endpoint %s is unhealthy, out of rotation: %s",
                        result.endpoint,
                        result.error,
                    )
            conn.healthy = result.healthy
        self.rounds += 1

    async def run(self) -> None:
        while not self._closed:
            try:
                await self._client.check_health(timeout=self.timeout)
            except Exception:  # never end the client's task group
                logger.exception("endpoint health check failed")
            await anyio.sleep(self.interval)

    def close(self) -> None:
        self._closed = True


class AutoSync:
    """Background service: `sync_endpoints()` every `interval` seconds (Go's
    `autoSync`; the first sync happens after one interval)."""

    def __init__(self, client: ClusterMixin, interval: float) -> None:
        self._client = client
        self.interval = interval
        self.syncs = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"<AutoSync every {self.interval:g} s, syncs={self.syncs}>"

    async def run(self) -> None:
        while not self._closed:
            await anyio.sleep(self.interval)
            try:
                endpoints = await self._client.sync_endpoints()
            except EtcdError as exc:
                logger.warning("endpoint auto-sync failed: %s", exc)
                continue
            except Exception:  # never end the client's task group
                logger.exception("endpoint auto-sync failed")
                continue
            self.syncs += 1
            logger.debug("endpoints synced: %s", ", ".join(endpoints))

    def close(self) -> None:
        self._closed = True


class HealthMixin(ServiceBase):
    """Endpoint health of `Client`, and the start of the endpoint services."""

    async def check_health(self, *, timeout: TimeoutArg = DEFAULT) -> tuple[EndpointHealth, ...]:
        """Check every endpoint in the rotation now, concurrently; one result each,
        in endpoint order.

        With `health_check_interval` configured the results also update the rotation,
        as the periodic check does; without it this only reports.
        """
        transport = self._transport
        transport.check_open()
        seconds = transport.config.resolve_timeout(timeout)
        conns = transport.balancer.connections
        results: list[EndpointHealth | None] = [None] * len(conns)

        async def check(i: int, conn: EndpointConnection) -> None:
            results[i] = await _probe(transport, conn, seconds)

        async with anyio.create_task_group() as tg:
            for i, conn in enumerate(conns):
                tg.start_soon(check, i, conn)
        done = [r for r in results if r is not None]
        checker = self._services.get("health")
        if isinstance(checker, HealthChecker):
            checker.apply(conns, done)
        return tuple(done)

    @property
    def unhealthy_endpoints(self) -> tuple[str, ...]:
        """Endpoints the health checker took out of rotation (always empty without
        `health_check_interval`)."""
        return tuple(c.endpoint.url for c in self._transport.balancer.connections if not c.healthy)

    def _start_endpoint_services(self, task_group: TaskGroup) -> None:
        """Start auto-sync and the health checker when configured (from `__aenter__`)."""
        config = self._transport.config
        if config.auto_sync_interval is not None and isinstance(self, ClusterMixin):
            sync = AutoSync(self, config.auto_sync_interval)
            self._services["auto_sync"] = sync
            task_group.start_soon(sync.run, name="aetcd auto-sync")
        if config.health_check_interval is not None:
            checker = HealthChecker(self, config.health_check_interval, config.health_check_timeout)
            self._services["health"] = checker
            task_group.start_soon(checker.run, name="aetcd endpoint health")
