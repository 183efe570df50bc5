"""`Lock`: a distributed mutex with the key layout of Go's `concurrency.Mutex`.

Each contender puts the key `<name>/<lease id in hex>` attached to its session's
lease; the key with the lowest create revision holds the lock, and every other
contender waits only for the deletion of the key created just before its own. So a
Python process, a Go program and `etcdctl lock <name>` exclude each other.
"""

from __future__ import annotations

import enum
from collections.abc import Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import LeaseExpiredError, LockTimeoutError, UsageError
from .._models import SortOrder, SortTarget
from .._txn import Compare, Op
from ._common import name_prefix, range_response, shielded_cleanup, until_lost, wait_deletes

if TYPE_CHECKING:
    from ._mixin import RecipesMixin
    from ._session import Session

__all__ = ["Lock"]


class _Unset(enum.Enum):
    UNSET = 0


_UNSET = _Unset.UNSET


class Lock:
    """A distributed lock, interoperable with Go's `concurrency.Mutex` and
    `etcdctl lock`.

        async with client.lock("jobs/cleanup", ttl=60, timeout=10) as lock:
            ...                                   # runs only while the lock is held

        lock = client.lock("jobs/cleanup")
        if await lock.try_acquire():
            try:
                await client.txn([lock.is_owner()], [Op.put("state", "x")])
            finally:
                await lock.release()

    Entering (or `await lock.acquire()`) waits until the lock is held, for at most
    `timeout` seconds (`None`: no limit), and raises `LockTimeoutError` otherwise; the
    body of `async with` never runs unless the lock is held. Acquiring costs one
    transaction when the lock is free; a contender waits by watching only the key of
    the contender just before it.

    Unless a `session` is given, each acquisition grants its own session lease (TTL
    `ttl`), revoked on release: a process that dies while holding the lock releases it
    after at most `ttl` seconds. An attempt that fails, times out or is cancelled
    deletes its key and revokes its own lease (shielded, bounded), leaving nothing
    behind. Leaving the block releases the lock, also when the task is cancelled.

    If the session's lease is lost while the lock is held, so is the lock: watch
    `lock.session.wait_expired()` when that matters, and guard writes with
    `lock.is_owner()` in a transaction.
    """

    def __init__(
        self,
        client: RecipesMixin,
        name: str | bytes,
        *,
        ttl: int,
        timeout: float | None,
        session: Session | None,
    ) -> None:
        self._client = client
        self._prefix = name_prefix("lock", name)
        self._ttl = ttl
        self._timeout = timeout
        self._given_session = session
        self._session: Session | None = session
        self._key: bytes | None = None
        self._revision: int | None = None
        self._held = False
        self._busy = False

    def __repr__(self) -> str:
        state = "held" if self._held else "free"
        return f"<aetcd.Lock name={self.name!r} {state}>"

    # -- state ---------------------------------------------------------------------------

    @property
    def name(self) -> bytes:
        """The lock's name; contenders' keys are under `name + b"/"`."""
        return self._prefix[:-1]

    @property
    def prefix(self) -> bytes:
        """`name + b"/"`: every contender's key is under this prefix."""
        return self._prefix

    @property
    def key(self) -> bytes | None:
        """This contender's key (`<name>/<lease hex>`) while the lock is held."""
        return self._key if self._held else None

    @property
    def revision(self) -> int | None:
        """The create revision of the key while the lock is held: it increases with each
        acquisition of the lock, so it serves as a fencing token."""
        return self._revision if self._held else None

    @property
    def session(self) -> Session | None:
        """The session whose lease the key is attached to (while acquired)."""
        return self._session

    @property
    def held(self) -> bool:
        """True while this handle holds the lock (as far as it knows: a lost session
        lease makes it False)."""
        return self._held and not (self._session is not None and self._session.expired)

    def is_owner(self) -> Compare:
        """A `Compare` that holds only while this handle holds the lock, for guarding
        writes in a transaction: `client.txn([lock.is_owner()], [...])`."""
        if not self._held or self._key is None or self._revision is None:
            raise UsageError("is_owner(): the lock is not held by this handle")
        return Compare.create_revision(self._key) == self._revision

    # -- acquire / release ---------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Lock]:
        return self.acquire().__await__()

    async def __aenter__(self) -> Lock:
        return await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()

    async def acquire(self, *, timeout: float | _Unset | None = _UNSET) -> Lock:
        """Wait until the lock is held (at most `timeout` seconds, the handle's
        `timeout` by default; `None` waits for ever). Raises `LockTimeoutError` when the
        time is up, `LeaseExpiredError` if the session's lease is lost while waiting."""
        limit = self._timeout if timeout is _UNSET else timeout
        self._begin()
        try:
            with anyio.move_on_after(limit):
                await self._attempt(wait=True)
                return self
        finally:
            self._busy = False
        raise LockTimeoutError(f"lock {self.name!r} not acquired within {limit} s")

    async def try_acquire(self) -> bool:
        """Take the lock if it is free, without waiting. False (with nothing left
        behind) when another session holds it."""
        self._begin()
        try:
            return await self._attempt(wait=False)
        finally:
            self._busy = False

    async def release(self) -> None:
        """Release the lock: delete the key (and revoke the lease of the session this
        handle created). Shielded from cancellation and bounded in time. A no-op when
        the lock is not held."""
        if not self._held:
            return
        self._held = False
        await self._abandon()

    def _begin(self) -> None:
        if self._busy:
            raise UsageError(f"lock {self.name!r}: another task is acquiring this handle")
        if self._held:
            raise UsageError(f"lock {self.name!r} is already held by this handle")
        self._busy = True

    async def _attempt(self, *, wait: bool) -> bool:
        try:
            if self._session is None:
                self._session = await self._client.session(self._ttl)
            else:
                await self._session  # a given session: start it if needed
            session = self._session
            lease_id = session.id
            key = self._prefix + f"{lease_id:x}".encode()
            self._key = key
            my_rev, acquired = await self._try_once(key, lease_id)
            if not acquired:
                if not wait:
                    await self._abandon()
                    return False
                await until_lost(
                    session,
                    lambda: wait_deletes(self._client, self._prefix, my_rev - 1),
                    f"lock {self.name!r}",
                )
                # The key dies with the lease: make sure ours is still there.
                if not (await self._client.get(key, keys_only=True)).kvs:
                    raise LeaseExpiredError(
                        f"lock {self.name!r}: the key was deleted while waiting "
                        f"(session lease {lease_id:x} lost or revoked)",
                        lease_id=lease_id,
                    )
        except BaseException:
            await self._abandon()
            raise
        self._revision = my_rev
        self._held = True
        return True

    async def _try_once(self, key: bytes, lease_id: int) -> tuple[int, bool]:
        """Go's `tryAcquire`: one transaction that puts our key unless it exists, and
        reads the current owner (the key with the lowest create revision)."""
        owner = Op.get(
            self._prefix,
            prefix=True,
            sort_target=SortTarget.CREATE,
            sort_order=SortOrder.ASCEND,
            limit=1,
        )
        resp = await self._client.txn(
            compare=[Compare.create_revision(key) == 0],
            success=[Op.put(key, b"", lease=lease_id), owner],
            # The session already has a key here (another handle of it): reuse it.
            failure=[Op.get(key), owner],
        )
        if resp.succeeded:
            my_rev = resp.header.revision
        else:
            my_rev = range_response(resp, 0).kvs[0].create_revision
        holder = range_response(resp, 1).kvs
        return my_rev, not holder or holder[0].create_revision == my_rev

    async def _abandon(self) -> None:
        """Delete our key and end the session this handle created (shielded)."""
        key, self._key = self._key, None
        self._revision = None
        session = self._session
        if session is not None and session is not self._given_session:
            # Revoking the lease deletes the key with it.
            self._session = None
            await session.close()
            return
        if key is not None:
            await shielded_cleanup(f"deleting lock key {key!r}", lambda: self._client.delete(key))
