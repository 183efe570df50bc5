"""`Client`: owns the transport and the task group of every background service."""

from __future__ import annotations

import ssl
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup

from . import _rpcs as rpc
from ._config import ClientConfig, TLSConfig
from ._exceptions import ArgumentTypeError, ClientClosedError
from ._kv import KVMixin
from ._proto import etcdserverpb as pb
from ._transport import Transport, parse_endpoints
from ._txn import TxnMixin

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["Client"]


async def _login(transport: Transport) -> str:
    config = transport.config
    reply = await transport.unary(
        rpc.AUTHENTICATE,
        pb.AuthenticateRequest(name=config.username or "", password=config.password or ""),
        timeout=config.timeout,
    )
    return reply.token


def _unwrap_group(exc: BaseException) -> BaseException:
    # Users see their own exception, not an ExceptionGroup of one.
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class Client(KVMixin, TxnMixin):
    """An etcd v3 client.

        async with aetcd.Client("http://127.0.0.1:2379") as client:
            await client.put("k", "v")
            print((await client.get("k")).kvs)

    `endpoints` is one URL, a comma-separated list or a sequence (`http://`, `https://`,
    `unix://` or `host:port`); calls are balanced over them, fail over when a member is
    down, and wait up to their deadline for one to be reachable. `timeout` is the
    default per-call deadline in seconds (`None` for none); every call also takes
    `timeout=`. With `username`/`password` the client logs in and refreshes its token
    by itself. `tls` takes an `ssl.SSLContext` or a `TLSConfig`. `require_leader` makes
    members without a leader refuse calls (so they fail over) instead of blocking.

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
            raise RuntimeError("a Client can be entered only once")
        self._entered = True
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._task_group = tg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg = self._task_group
        await self.close()
        if tg is None:
            return None
        self._task_group = None
        try:
            return await tg.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            inner = _unwrap_group(group)
            if inner is group:
                raise
            raise inner from None

    async def close(self) -> None:
        """Stop background services and close every connection. Idempotent; calls made
        afterwards raise `ClientClosedError`."""
        if self._transport.closed:
            return
        self._transport.close()
        for service in list(self._services.values()):
            service.close()
        self._services.clear()
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()
