"""`Session`: a lease kept alive for a lock, an election or a service registration
(Go's `concurrency.Session`)."""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._config import TimeoutArg
from .._exceptions import ClientClosedError, LeaseNotFoundError, UsageError
from .._lease import Lease, LeaseKeeper
from ._common import shielded_cleanup

if TYPE_CHECKING:
    from ._mixin import RecipesMixin

__all__ = ["Session"]


class Session:
    """A lease kept alive in the background: the liveness of one participant.

        async with client.session(ttl=60) as session:
            await client.put("member/me", "...", lease=session)
            await session.wait_expired()     # returns if the lease is lost

    Keys written with the session's lease (`lease=session` or `lease=session.id`)
    disappear when the session ends: on `close()` (the lease is revoked) or when the
    process dies and the lease's TTL runs out. Locks and elections attach their keys to
    a session, so a crashed holder releases its lock after at most `ttl` seconds.

    `client.session(ttl)` grants a new lease; `client.session(lease=id)` adopts an
    existing one (to resume after a restart, as Go's `WithLease`). Entering (or awaiting)
    grants the lease and starts the keep-alive; leaving the block or `close()` stops it
    and revokes the lease; `orphan()` stops it without revoking, leaving the lease to
    expire by itself (for handing it over, or when the connection is in doubt).
    Losing the lease is reported: `expired`, `wait_expired()`.
    """

    def __init__(
        self,
        client: RecipesMixin,
        ttl: int,
        lease_id: int | None,
        timeout: TimeoutArg,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._lease_id = lease_id
        self._timeout = timeout
        self._holder: Lease | LeaseKeeper | None = None
        self._starting = False
        self._orphaned = False
        self._closed = False

    def __repr__(self) -> str:
        if self._holder is None:
            return f"<aetcd.Session ttl={self._ttl} {'closed' if self._closed else 'new'}>"
        state = (
            "expired"
            if self.expired
            else "closed"
            if self._closed
            else "orphaned"
            if self._orphaned
            else "live"
        )
        return f"<aetcd.Session lease={self.id:x} ttl={self.ttl} {state}>"

    # -- state ---------------------------------------------------------------------------

    @property
    def client(self) -> RecipesMixin:
        """The client (or namespace view) the session belongs to."""
        return self._client

    @property
    def id(self) -> int:
        """The session's lease id (so `lease=session` works wherever a lease is taken)."""
        return self._require_started().id

    @property
    def ttl(self) -> int:
        """The lease TTL in seconds, as last granted or renewed by the server."""
        holder = self._holder
        if holder is not None and holder.ttl is not None:
            return holder.ttl
        return self._ttl

    @property
    def expired(self) -> bool:
        """True once the lease is known to be lost (revoked, or not renewed in time)."""
        return self._holder is not None and self._holder.expired

    @property
    def closed(self) -> bool:
        """True once `close()` or `orphan()` ended the keep-alive."""
        return self._closed or self._orphaned

    def _require_started(self) -> Lease | LeaseKeeper:
        if self._holder is None:
            raise UsageError("this session is not started: use `async with` or `await` it")
        return self._holder

    # -- life cycle ----------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Session]:
        return self._start().__await__()

    async def __aenter__(self) -> Session:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _start(self) -> Session:
        if self._closed or self._orphaned:
            raise ClientClosedError("this session is closed")
        if self._holder is not None:
            return self
        if self._starting:
            raise UsageError("this session is already being started by another task")
        self._starting = True
        try:
            holder: Lease | LeaseKeeper
            if self._lease_id is None:
                # The Lease handle leaves no lease behind if the grant fails or is
                # cancelled midway.
                holder = await self._client.lease(self._ttl, timeout=self._timeout)
            else:
                holder = await self._client.keep_alive(self._lease_id, timeout=self._timeout)
        finally:
            self._starting = False
        self._holder = holder
        return self

    async def wait_expired(self) -> None:
        """Return once the lease is lost. Raises `ClientClosedError` if the session (or
        its client) is closed or orphaned first."""
        await self._require_started().wait_expired()

    def orphan(self) -> None:
        """Stop keeping the lease alive without revoking it: its keys stay until the TTL
        runs out (Go's `Session.Orphan`). The session cannot be used afterwards."""
        holder = self._holder
        self._orphaned = True
        if holder is not None:
            holder._release()

    async def close(self) -> None:
        """Stop the keep-alive and revoke the lease, deleting the keys attached to it
        (shielded from cancellation, bounded in time; a failed revoke is logged and the
        lease then ends after its TTL). Idempotent; also revokes an orphaned session."""
        if self._closed:
            return
        self._closed = True
        holder = self._holder
        if holder is None:
            return
        if isinstance(holder, Lease) and not self._orphaned:
            await holder.close()  # shielded, bounded, never raises
            return
        holder._release()
        if holder.expired or self._client.closed:
            return
        lease_id = holder.id

        async def revoke() -> None:
            with contextlib.suppress(LeaseNotFoundError):
                await self._client.lease_revoke(lease_id)

        await shielded_cleanup(f"revoking session lease {lease_id:x}", revoke)
