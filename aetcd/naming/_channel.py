"""`ServiceChannel`: a grpclib channel that balances calls over a service's registry.

grpclib stubs take a `grpclib.client.Channel`; this one is a `Channel` whose
connection is chosen per call. Each call's stream asks its channel to connect
(`Channel.__connect__`), and `ServiceChannel` answers with the connection of the next
live endpoint, round robin, following the registry kept by `EndpointManager` (Go's
gRPC resolver `etcd:///my-service` with the round-robin balancer).

An endpoint that cannot be connected to is skipped (nothing was sent, so the call
simply goes to the next endpoint) and cooled down for a while; it leaves the rotation
for good when its registry key is deleted, e.g. when its lease expires after the
server died. Endpoints removed from the registry keep serving the calls already on
them and are closed after `drain_timeout`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import anyio
from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.const import Status
from grpclib.encoding.base import CodecBase, StatusDetailsCodecBase
from grpclib.exceptions import GRPCError
from grpclib.protocol import H2Protocol

from .._exceptions import ArgumentValueError, ClientClosedError, EtcdError
from ._endpoints import EndpointManager, EndpointWatch, Operation, Update

if TYPE_CHECKING:
    import ssl

    from ..concurrency._mixin import RecipesMixin

__all__ = ["ServiceChannel"]

logger = logging.getLogger("aetcd.naming")

#: How long an endpoint that refused a connection is tried only after the others.
COOL_DOWN: Final = 1.0
#: Wait before following the registry again after the watch failed.
RETRY_WAIT: Final = 0.5


def _parse_addr(addr: str) -> dict[str, Any]:
    """`host:port`, `[v6]:port` or `unix:/path` → grpclib `Channel` arguments."""
    if addr.startswith("unix:"):
        path = addr[len("unix:") :]
        if path.startswith("//"):
            path = path[2:]
        return {"path": path}
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ArgumentValueError(f"endpoint address {addr!r}: expected host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return {"host": host or "127.0.0.1", "port": int(port)}


@dataclass(eq=False)
class _Backend:
    key: str
    addr: str
    channel: Channel
    down_until: float = 0.0
    failures: int = field(default=0)


class ServiceChannel(Channel):
    """A grpclib `Channel` for service `target`, balancing calls round robin over the
    endpoints registered in etcd (see `EndpointManager`).

        async with aetcd.naming.ServiceChannel(client, "my-service") as channel:
            stub = GreeterStub(channel)          # any grpclib stub
            reply = await stub.SayHello(request)

    Entering reads the registry and starts following it in the client's task group;
    leaving (or `close()`) stops that and closes every connection. Calls made before
    entering start it on first use. `codec`, `status_details_codec`, `ssl` and
    `config` are passed to the grpclib channel of each endpoint. When no registered
    endpoint can be connected to, a call fails with `GRPCError(Status.UNAVAILABLE)`.
    """

    def __init__(
        self,
        client: RecipesMixin,
        target: str,
        *,
        codec: CodecBase | None = None,
        status_details_codec: StatusDetailsCodecBase | None = None,
        ssl: ssl.SSLContext | bool | None = None,
        config: Configuration | None = None,
        connect_timeout: float = 5.0,
        drain_timeout: float = 10.0,
    ) -> None:
        super().__init__(
            codec=codec, status_details_codec=status_details_codec, ssl=ssl, config=config
        )
        self._manager = EndpointManager(client, target)
        self._client = client
        self._target = target
        self._options: dict[str, Any] = {
            "codec": codec,
            "status_details_codec": status_details_codec,
            "ssl": ssl,
            "config": config,
        }
        self._connect_timeout = connect_timeout
        self._drain_timeout = drain_timeout
        self._backends: dict[str, _Backend] = {}
        self._draining: list[tuple[float, Channel]] = []
        self._next = 0
        self._started = False
        self._starting: anyio.Event | None = None
        self._scope: anyio.CancelScope | None = None
        self._closed_flag = False

    def __repr__(self) -> str:
        addrs = ", ".join(b.addr for b in self._backends.values())
        return f"<aetcd.naming.ServiceChannel {self._target!r} [{addrs}]>"

    @property
    def target(self) -> str:
        """The service name whose registry the channel follows."""
        return self._target

    @property
    def endpoints(self) -> dict[str, str]:
        """The endpoints currently in rotation: registry key → address."""
        return {key: b.addr for key, b in self._backends.items()}

    # -- life cycle ----------------------------------------------------------------------

    async def __aenter__(self) -> ServiceChannel:
        await self.start()
        return self

    async def start(self) -> None:
        """Read the registry and follow it (idempotent)."""
        if self._closed_flag:
            raise ClientClosedError(f"the channel to {self._target!r} is closed")
        if self._started:
            return
        if self._starting is not None:
            await self._starting.wait()
            return
        self._starting = anyio.Event()
        try:
            watch = self._manager.watch()
            try:
                self._sync(await watch.__anext__())
            except BaseException:
                await watch.aclose()
                raise
            self._scope = anyio.CancelScope()
            self._client.task_group.start_soon(
                self._follow, watch, name=f"aetcd naming {self._target}"
            )
            self._started = True
        finally:
            self._starting.set()
            self._starting = None

    def close(self) -> None:
        """Stop following the registry and close every connection."""
        self._closed_flag = True
        if self._scope is not None:
            self._scope.cancel()
        for backend in self._backends.values():
            backend.channel.close()
        self._backends.clear()
        for _, channel in self._draining:
            channel.close()
        self._draining.clear()

    # -- the registry --------------------------------------------------------------------

    async def _follow(self, watch: EndpointWatch) -> None:
        assert self._scope is not None
        with self._scope:
            while True:
                try:
                    async for batch in watch:
                        self._apply(batch)
                        self._close_drained()
                    return
                except ClientClosedError:
                    return
                except EtcdError as exc:
                    logger.warning(
                        "following the registry of %r failed (%s); reading it again",
                        self._target,
                        exc,
                    )
                finally:
                    with anyio.CancelScope(shield=True):
                        await watch.aclose()
                try:
                    watch = await self._reread()
                except ClientClosedError:
                    return

    async def _reread(self) -> EndpointWatch:
        """A new watch of the registry, its current state applied (retried until it
        works; the client's closing ends it)."""
        while True:
            await anyio.sleep(RETRY_WAIT)
            watch = self._manager.watch()
            try:
                self._sync(await watch.__anext__())
                return watch
            except EtcdError as exc:
                with anyio.CancelScope(shield=True):
                    await watch.aclose()
                if isinstance(exc, ClientClosedError):
                    raise
                logger.warning("reading the registry of %r failed: %s", self._target, exc)

    def _sync(self, batch: list[Update]) -> None:
        """The registry as it is now: replace the rotation."""
        present = {u.key for u in batch}
        for key in list(self._backends):
            if key not in present:
                self._remove(key)
        self._apply(batch)

    def _apply(self, batch: list[Update]) -> None:
        for update in batch:
            if update.op is Operation.DELETE or update.endpoint is None:
                self._remove(update.key)
                continue
            addr = update.endpoint.addr
            current = self._backends.get(update.key)
            if current is not None and current.addr == addr:
                continue
            try:
                options = _parse_addr(addr)
            except ArgumentValueError as exc:
                logger.warning("registry key %r: %s; ignored", update.key, exc)
                self._remove(update.key)
                continue
            self._remove(update.key)
            channel = Channel(**options, **self._options)
            self._backends[update.key] = _Backend(update.key, addr, channel)
            logger.debug("%s: endpoint %s (%s) added", self._target, update.key, addr)

    def _remove(self, key: str) -> None:
        backend = self._backends.pop(key, None)
        if backend is not None:
            logger.debug("%s: endpoint %s (%s) removed", self._target, key, backend.addr)
            self._draining.append((time.monotonic() + self._drain_timeout, backend.channel))

    def _close_drained(self) -> None:
        now = time.monotonic()
        keep = []
        for until, channel in self._draining:
            if until <= now:
                channel.close()
            else:
                keep.append((until, channel))
        self._draining = keep

    # -- calls ---------------------------------------------------------------------------

    def _candidates(self) -> list[_Backend]:
        backends = list(self._backends.values())
        if not backends:
            return []
        start = self._next % len(backends)
        self._next += 1
        ordered = backends[start:] + backends[:start]
        now = time.monotonic()
        # Endpoints that failed lately come last: still tried if nothing else works.
        return [b for b in ordered if b.down_until <= now] + [
            b for b in ordered if b.down_until > now
        ]

    async def __connect__(self) -> H2Protocol:
        """The connection for one call: the next reachable endpoint, round robin."""
        if not self._started:
            await self.start()
        self._close_drained()
        candidates = self._candidates()
        if not candidates:
            raise GRPCError(Status.UNAVAILABLE, f"no endpoint registered for {self._target!r}")
        errors = []
        for backend in candidates:
            try:
                with anyio.fail_after(self._connect_timeout):
                    protocol = await backend.channel.__connect__()
            except (OSError, TimeoutError) as exc:
                backend.failures += 1
                backend.down_until = time.monotonic() + min(
                    COOL_DOWN * 2 ** (backend.failures - 1), 10.0
                )
                errors.append(f"{backend.addr}: {exc or type(exc).__name__}")
                logger.debug("%s: cannot connect to %s: %s", self._target, backend.addr, exc)
                continue
            backend.failures = 0
            backend.down_until = 0.0
            # The stream builds its headers from this channel right after this returns
            # (no await in between), so the `:authority` is the chosen endpoint's.
            self._authority = backend.channel._authority
            return protocol
        raise GRPCError(
            Status.UNAVAILABLE,
            f"no endpoint of {self._target!r} reachable: {'; '.join(errors)}",
        )
