"""The endpoint registry of Go's `clientv3/naming/endpoints`, in its JSON format.

A service's endpoints live under `<target>/`: each key holds the JSON form of Go's
`naming/endpoints/internal.Update`,

    {"Op":0,"Addr":"10.0.0.7:50051","Metadata":null}

so Go services, Python services and `etcdctl put my-service/1.2.3.4
'{"Addr":"1.2.3.4"}'` share one registry. Registering with a lease that the service
keeps alive (`EndpointManager.register`) removes the endpoint by itself when the
service stops refreshing it (crash, partition).
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._base import ClosingIterator
from .._config import DEFAULT, TimeoutArg
from .._exceptions import ArgumentTypeError, ArgumentValueError, UsageError
from .._keys import LeaseId
from .._txn import Op
from .._watch import EventType, Watch
from ..concurrency._common import shielded_cleanup

if TYPE_CHECKING:
    from ..concurrency._mixin import RecipesMixin
    from ..concurrency._session import Session

__all__ = [
    "Endpoint",
    "EndpointManager",
    "EndpointWatch",
    "Operation",
    "Registration",
    "Update",
    "decode_endpoint",
    "encode_endpoint",
]

logger = logging.getLogger("aetcd.naming")


class Operation(enum.IntEnum):
    """Kind of an `Update` (Go's `endpoints.Operation`)."""

    ADD = 0
    DELETE = 1


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One address of a service (Go's `endpoints.Endpoint`): `addr` (usually
    `host:port`) and optional JSON-serialisable `metadata`."""

    addr: str
    metadata: Any = None


@dataclass(frozen=True, slots=True)
class Update:
    """One change of the registry: `op` ADD (`endpoint` is the new value) or DELETE
    (`endpoint` is the removed value when known, else None), for registry `key`."""

    op: Operation
    key: str
    endpoint: Endpoint | None


def encode_endpoint(endpoint: Endpoint) -> bytes:
    """The registry value for `endpoint`: Go's JSON, field for field."""
    doc = {"Op": int(Operation.ADD), "Addr": endpoint.addr, "Metadata": endpoint.metadata}
    try:
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ArgumentValueError(
            f"endpoint: metadata must be JSON-serialisable ({exc})", argument="endpoint"
        ) from None
    return text.encode()


def decode_endpoint(value: bytes) -> Endpoint | None:
    """The `Endpoint` stored in a registry value, or None when it is not one (Go skips
    such values too)."""
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    addr = doc.get("Addr", "")
    if not isinstance(addr, str):
        return None
    return Endpoint(addr=addr, metadata=doc.get("Metadata"))


def _key_str(key: bytes) -> str:
    return key.decode("utf-8", "surrogateescape")


class EndpointManager:
    """Add, delete, list and watch the endpoints of service `target` (Go's
    `endpoints.Manager`).

        mgr = aetcd.naming.EndpointManager(client, "my-service")
        await mgr.add_endpoint("my-service/10.0.0.7", Endpoint("10.0.0.7:50051"), lease=lease)
        print(await mgr.list_endpoints())          # {"my-service/10.0.0.7": Endpoint(...)}
        async for updates in mgr.watch(): ...       # lists of Update

    Keys are full registry keys and must start with `target + "/"`. `client` may be
    a client or a namespace view.
    """

    def __init__(self, client: RecipesMixin, target: str) -> None:
        if not isinstance(target, str):
            raise ArgumentTypeError(
                f"target: expected str, got {type(target).__name__}", argument="target"
            )
        if not target:
            raise ArgumentValueError("target: must not be empty", argument="target")
        self._client = client
        self._target = target
        self._prefix = (target + "/").encode()

    def __repr__(self) -> str:
        return f"<aetcd.naming.EndpointManager {self._target!r}>"

    @property
    def target(self) -> str:
        """The service name: every registry key starts with `target + "/"`."""
        return self._target

    @property
    def client(self) -> RecipesMixin:
        """The client (or namespace view) the registry is read and written with."""
        return self._client

    def _check_key(self, key: str) -> bytes:
        if not isinstance(key, str):
            raise ArgumentTypeError(f"key: expected str, got {type(key).__name__}", argument="key")
        raw = key.encode("utf-8", "surrogateescape")
        if not raw.startswith(self._prefix) or raw == self._prefix:
            raise ArgumentValueError(
                f"key: endpoint keys must start with {self._target + '/'!r}, got {key!r}",
                argument="key",
            )
        return raw

    def _op(self, update: Update, lease: LeaseId | None) -> Op:
        key = self._check_key(update.key)
        if update.op is Operation.ADD:
            if not isinstance(update.endpoint, Endpoint):
                raise ArgumentTypeError(
                    "endpoint: expected an aetcd.naming.Endpoint", argument="endpoint"
                )
            return Op.put(key, encode_endpoint(update.endpoint), lease=lease)
        if update.op is Operation.DELETE:
            return Op.delete(key)
        raise ArgumentValueError(f"op: expected an Operation, got {update.op!r}", argument="op")

    async def update(
        self,
        updates: Sequence[Update],
        *,
        lease: LeaseId | None = None,
        timeout: TimeoutArg = DEFAULT,
    ) -> None:
        """Apply several additions and deletions atomically (one transaction); added
        endpoints are attached to `lease` when given."""
        ops = [self._op(u, lease) for u in updates]
        await self._client.txn(success=ops, timeout=timeout)

    async def add_endpoint(
        self,
        key: str,
        endpoint: Endpoint,
        *,
        lease: LeaseId | None = None,
        timeout: TimeoutArg = DEFAULT,
    ) -> None:
        """Register `endpoint` under `key` (attached to `lease`, if given: the endpoint
        then disappears with the lease)."""
        await self.update([Update(Operation.ADD, key, endpoint)], lease=lease, timeout=timeout)

    async def delete_endpoint(self, key: str, *, timeout: TimeoutArg = DEFAULT) -> None:
        """Remove the endpoint registered under `key`."""
        await self.update([Update(Operation.DELETE, key, None)], timeout=timeout)

    async def list_endpoints(self, *, timeout: TimeoutArg = DEFAULT) -> dict[str, Endpoint]:
        """Every endpoint registered for the target, by registry key (values that are
        not endpoints are skipped)."""
        resp = await self._client.get(self._prefix, prefix=True, timeout=timeout)
        result: dict[str, Endpoint] = {}
        for kv in resp.kvs:
            endpoint = decode_endpoint(kv.value)
            if endpoint is None:
                logger.warning("skipping %r: not an endpoint (%r)", kv.key, kv.value[:100])
                continue
            result[_key_str(kv.key)] = endpoint
        return result

    def watch(self, *, timeout: TimeoutArg = DEFAULT) -> EndpointWatch:
        """An async iterator of update batches: the first is every registered endpoint
        (as ADD updates, possibly none), then one batch per change. See
        `EndpointWatch`."""
        self._client._transport.check_open()
        return EndpointWatch(self, timeout)

    def register(
        self,
        key: str,
        endpoint: Endpoint,
        *,
        ttl: int = 10,
        session: Session | None = None,
    ) -> Registration:
        """Register `endpoint` for as long as an `async with` block runs, attached to a
        lease kept alive meanwhile (see `Registration`)."""
        self._check_key(key)
        if not isinstance(endpoint, Endpoint):
            raise ArgumentTypeError(
                "endpoint: expected an aetcd.naming.Endpoint", argument="endpoint"
            )
        encode_endpoint(endpoint)  # validate now
        return Registration(self, key, endpoint, ttl, session)


class EndpointWatch(ClosingIterator):
    """Async iterator of `list[Update]` for one target (`EndpointManager.watch`).

    The first batch is the registry as it is (ADD updates, possibly an empty list),
    then each batch holds the changes of one watch response, in order, with nothing
    missed in between. Use `async with mgr.watch() as updates: async for batch in
    updates:` so that leaving the block cancels the underlying watch (`aclose()`).
    """

    def __init__(self, manager: EndpointManager, timeout: TimeoutArg) -> None:
        self._manager = manager
        self._timeout = timeout
        self._watch: Watch | None = None
        self._closed = False
        #: The registry revision the first batch was read at.
        self.revision: int | None = None

    async def aclose(self) -> None:
        """Cancel the underlying watch: the iteration ends. Idempotent."""
        self._closed = True
        watch, self._watch = self._watch, None
        if watch is not None:
            await watch.cancel()

    async def __anext__(self) -> list[Update]:
        if self._closed:
            raise StopAsyncIteration
        client = self._manager._client
        prefix = self._manager._prefix
        if self._watch is None:
            resp = await client.get(prefix, prefix=True, timeout=self._timeout)
            batch = []
            for kv in resp.kvs:
                endpoint = decode_endpoint(kv.value)
                if endpoint is None:
                    logger.warning("skipping %r: not an endpoint", kv.key)
                    continue
                batch.append(Update(Operation.ADD, _key_str(kv.key), endpoint))
            self.revision = resp.header.revision
            watch = client.watch(
                prefix,
                prefix=True,
                start_revision=resp.header.revision + 1,
                prev_kv=True,
                timeout=self._timeout,
            )
            self._watch = await watch
            return batch
        while True:
            response = await self._watch.__anext__()
            batch = list(_updates(response.events))
            if batch:
                return batch


def _updates(events: Iterable[Any]) -> Iterable[Update]:
    for event in events:
        key = _key_str(event.kv.key)
        if event.type is EventType.PUT:
            endpoint = decode_endpoint(event.kv.value)
            if endpoint is None:
                logger.warning("skipping %r: not an endpoint", event.kv.key)
                continue
            yield Update(Operation.ADD, key, endpoint)
        else:
            prev = None if event.prev_kv is None else decode_endpoint(event.prev_kv.value)
            yield Update(Operation.DELETE, key, prev)


class Registration:
    """An endpoint registered for the duration of an `async with` block
    (`EndpointManager.register`): the seed pattern "register with a lease and keep it
    alive; deregister on failure".

        async with mgr.register("my-service/node-1", Endpoint("10.0.0.7:50051"), ttl=10):
            await server.wait_closed()

    Entering grants a session lease of `ttl` seconds (or uses `session`), kept alive in
    the background, and adds the endpoint with it. Leaving deletes the endpoint and
    revokes the lease (shielded, bounded). If the process dies or loses etcd for
    longer than `ttl`, the lease expires and the endpoint disappears by itself;
    `wait_expired()` tells the service when that happened so it can register again.
    """

    def __init__(
        self,
        manager: EndpointManager,
        key: str,
        endpoint: Endpoint,
        ttl: int,
        session: Session | None,
    ) -> None:
        self._manager = manager
        self.key = key
        self.endpoint = endpoint
        self._ttl = ttl
        self._given_session = session
        self._session: Session | None = None
        self._registered = False

    def __repr__(self) -> str:
        state = "registered" if self._registered else "idle"
        return f"<aetcd.naming.Registration {self.key!r} {self.endpoint.addr!r} {state}>"

    @property
    def session(self) -> Session:
        """The session whose lease the endpoint is attached to (while registered)."""
        if self._session is None:
            raise UsageError("the registration is not active: use `async with`")
        return self._session

    async def __aenter__(self) -> Registration:
        return await self.start()

    async def start(self) -> Registration:
        """Register (what entering the `async with` block does)."""
        if self._registered:
            raise UsageError("this registration is already active")
        session = self._given_session
        if session is None:
            session = await self._manager._client.session(self._ttl)
        else:
            await session
        self._session = session
        try:
            await self._manager.add_endpoint(self.key, self.endpoint, lease=session.id)
        except BaseException:
            await self._end()
            raise
        self._registered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Deregister now (what leaving the block does): delete the endpoint and revoke
        the lease this registration granted. Idempotent."""
        await self._end()

    async def wait_expired(self) -> None:
        """Return once the lease is lost (the endpoint is then gone from the registry)."""
        await self.session.wait_expired()

    async def _end(self) -> None:
        self._registered = False
        session, self._session = self._session, None
        if session is None:
            return
        await shielded_cleanup(
            f"deregistering {self.key!r}", lambda: self._manager.delete_endpoint(self.key)
        )
        if session is not self._given_session:
            await session.close()
