"""`Client`: owns the transport and the task group of every background service."""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup

from . import _rpcs as rpc
from ._auth import AuthMixin
from ._cluster import ClusterMixin
from ._config import ClientConfig, TLSConfig
from ._exceptions import (
    ArgumentTypeError,
    AuthNotEnabledError,
    ClientClosedError,
    UsageError,
)
from ._health import HealthMixin
from ._kv import KVMixin
from ._lease import LeaseMixin
from ._maintenance import MaintenanceMixin
from ._proto import etcdserverpb as pb
from ._transport import Transport, parse_endpoints
from ._txn import TxnMixin
from ._watch import WatchMixin
from .concurrency._mixin import RecipesMixin

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["Client"]


async def _login(transport: Transport) -> str:
    config = transport.config
    try:
        reply = await transport.unary(
            rpc.AUTHENTICATE,
            pb.AuthenticateRequest(name=config.username or "", password=config.password or ""),
            timeout=config.timeout,
        )
    except AuthNotEnabledError:
        # As Go's client: with auth disabled, work without a token; the first refusal
        # after auth is enabled (user name empty) logs in again.
        return ""
    return reply.token


def _unwrap_group(exc: BaseException) -> BaseException:
    # Users see their own exception, not an ExceptionGroup of one.
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class Client(
    RecipesMixin,
    KVMixin,
    TxnMixin,
    LeaseMixin,
    WatchMixin,
    ClusterMixin,
    MaintenanceMixin,
    AuthMixin,
    HealthMixin,
):
    """An etcd v3 client.

        async with aetcd.Client("http://127.0.0.1:2379") as client:
            await client.put("k", "v")
            print((await client.get("k")).kvs)

    `endpoints` is one URL, a comma-separated list or a sequence (`http://`, `https://`,
    `unix://` or `host:port`); calls are balanced over them, fail over when a member is
    down, and wait up to their deadline for one to be reachable. `timeout` is the
    default per-call deadline in seconds (`None` for none); every call also takes
    `timeout=`. With `username`/`password` the client logs in and refreshes its token
    by itself. `tls` takes a `TLSConfig` or an `ssl.SSLContext` (whose ALPN protocols
    are set to `h2`, as gRPC requires). `require_leader` makes
    members without a leader refuse calls (so they fail over) instead of blocking.
    `auto_sync_interval` refreshes the endpoints from the cluster's member list every
    so many seconds; the option `health_check_interval` (see `ClientConfig`) takes
    members that are unresponsive or have no leader out of rotation until they recover.

    The client owns a task group for its background services (watches, keep-alives,
    endpoint sync); leave the `async with` block or call `close()` to stop them.
    """

    def __init__(
        self,
        endpoints: str | Sequence[str] = "http://127.0.0.1:2379",
        *,
        timeout: float | None = 5.0,
        connect_timeout: float = 5.0,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | TLSConfig | None = None,
        require_leader: bool = False,
        auto_sync_interval: float | None = None,
        **options: Any,
    ) -> None:
        try:
            self.config = ClientConfig(
                timeout=timeout,
                connect_timeout=connect_timeout,
                username=username,
                password=password,
                require_leader=require_leader,
                auto_sync_interval=auto_sync_interval,
                **options,
            )
        except TypeError as exc:
            if "unexpected keyword" not in str(exc):
                raise
            raise ArgumentTypeError(f"Client: {exc}") from None
        server_name = None
        if tls is None:
            ssl_context = None
        elif isinstance(tls, ssl.SSLContext):
            ssl_context = tls
            # gRPC needs HTTP/2, which TLS servers agree to through ALPN; without "h2"
            # etcd answers HTTP/1.1 and every call fails (Go's gRPC adds it too).
            ssl_context.set_alpn_protocols(["h2"])
        elif isinstance(tls, TLSConfig):
            ssl_context = tls.ssl_context()
            server_name = tls.server_name
        else:
            raise ArgumentTypeError(
                f"tls: expected ssl.SSLContext or aetcd.TLSConfig, got {type(tls).__name__}"
            )
        self._transport = Transport(
            parse_endpoints(endpoints, secure=tls is not None),
            self.config,
            ssl_context=ssl_context,
            server_name=server_name,
            login=_login if username is not None else None,
        )
        self._task_group: TaskGroup | None = None
        self._runner: asyncio.Task[None] | None = None
        self._entered = False
        self._services = {}

    def __repr__(self) -> str:
        endpoints = ",".join(ep.url for ep in self._transport.balancer.endpoints)
        state = "closed" if self._transport.closed else "open"
        return f"<aetcd.Client {endpoints} {state}>"

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The endpoints calls are balanced over."""
        return tuple(ep.url for ep in self._transport.balancer.endpoints)

    @property
    def closed(self) -> bool:
        """Whether the client is closed (calls then raise `ClientClosedError`)."""
        return self._transport.closed

    @property
    def task_group(self) -> TaskGroup:
        """The task group background services run in (inside `async with` only)."""
        self._transport.check_open()
        if self._task_group is None:
            raise ClientClosedError(
                "background services need the client to be entered: use `async with Client(...)`"
            )
        return self._task_group

    async def __aenter__(self) -> Client:
        self._transport.check_open()
        if self._entered:
            raise UsageError("a Client can be entered only once")
        self._entered = True
        # The task group lives in a task of its own rather than in the caller's: then
        # `__aexit__` may run in another task than `__aenter__`, which pytest-asyncio
        # does with async fixtures, and frameworks do with startup/shutdown hooks.
        ready = anyio.Event()
        self._runner = asyncio.get_running_loop().create_task(
            self._run_services(ready), name=f"aetcd-client-{id(self):x}"
        )
        await ready.wait()
        return self

    async def _run_services(self, ready: anyio.Event) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                self._start_endpoint_services(tg)  # auto-sync, health checks (if configured)
                ready.set()
                await anyio.sleep_forever()
        finally:
            self._task_group = None
            ready.set()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop background services and close every connection. Idempotent; calls made
        afterwards raise `ClientClosedError`.

        Waits (shielded from cancellation, so cleanup always completes) until every
        background task has finished.
        """
        if not self._transport.closed:
            self._transport.close()
            for service in list(self._services.values()):
                service.close()
            self._services.clear()
            if self._task_group is not None:
                self._task_group.cancel_scope.cancel()
        runner, self._runner = self._runner, None
        if runner is None or runner is asyncio.current_task():
            return
        with anyio.CancelScope(shield=True):
            await asyncio.wait([runner])
        if not runner.cancelled() and runner.exception() is not None:
            # A background service crashed: say so rather than lose it.
            raise _unwrap_group(runner.exception())  # type: ignore[arg-type]
