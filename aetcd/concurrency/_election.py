"""`Election`: leader election with the key layout of Go's `concurrency.Election`.

Each candidate puts `<name>/<lease id in hex>` (its proposal as the value) attached to
its session's lease; the key with the lowest create revision is the leader. A candidate
waits for the deletion of every key created before its own, so Python candidates, Go
programs and `etcdctl elect <name>` take part in the same election.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from .._base import ClosingIterator
from .._exceptions import (
    CompactedError,
    DeadlineExceededError,
    ElectionNotLeaderError,
    LeaseExpiredError,
)
from .._keys import to_bytes
from .._models import KeyValue, SortOrder, SortTarget
from .._txn import Compare, Op
from .._watch import EventType
from ._common import name_prefix, range_response, shielded_cleanup, until_lost, wait_deletes

if TYPE_CHECKING:
    from ._mixin import RecipesMixin
    from ._session import Session

__all__ = ["Election", "ElectionObserver"]


class Election:
    """One candidate's handle on an election, interoperable with Go's
    `concurrency.Election` and `etcdctl elect`.

        election = client.election("service/leader", ttl=10)
        await election.campaign("node-1")        # returns once elected
        await election.proclaim("node-1 v2")     # a new value, still the leader
        await election.resign()                  # let the next candidate in

        print(await election.leader())           # the leader's KeyValue, or None
        async for kv in election.observe(): ...  # each leader (and value) in turn

    Unless a `session` is given, `campaign` grants a session lease (TTL `ttl`) for the
    candidacy and `resign` revokes it; a leader that dies is replaced after at most
    `ttl` seconds. A campaign that fails, times out or is cancelled withdraws its key
    (shielded, bounded), leaving nothing behind. `leader()` and `observe()` need no
    session.
    """

    def __init__(
        self,
        client: RecipesMixin,
        name: str | bytes,
        *,
        ttl: int,
        session: Session | None,
    ) -> None:
        self._client = client
        self._prefix = name_prefix("election", name)
        self._ttl = ttl
        self._given_session = session
        self._session: Session | None = session
        self._key: bytes | None = None
        self._revision: int | None = None
        self._leader = False

    def __repr__(self) -> str:
        state = "leader" if self._leader else "campaigning" if self._key else "idle"
        return f"<aetcd.Election name={self.name!r} {state}>"

    @property
    def name(self) -> bytes:
        """The election's name; candidates' keys are under `name + b"/"`."""
        return self._prefix[:-1]

    @property
    def prefix(self) -> bytes:
        """`name + b"/"`: every candidate's key is under this prefix."""
        return self._prefix

    @property
    def key(self) -> bytes | None:
        """This candidate's key while campaigning or leading."""
        return self._key

    @property
    def revision(self) -> int | None:
        """The create revision of this candidate's key while campaigning or leading."""
        return self._revision

    @property
    def session(self) -> Session | None:
        """The session whose lease the candidate's key is attached to (while campaigning)."""
        return self._session

    @property
    def is_leader(self) -> bool:
        """True after `campaign` returned and until `resign` (or a lost session)."""
        return self._leader and not (self._session is not None and self._session.expired)

    # -- candidate -----------------------------------------------------------------------

    async def campaign(self, value: str | bytes, *, timeout: float | None = None) -> None:
        """Become a candidate with `value` and return once elected leader.

        Waits at most `timeout` seconds (`None`: for ever), then withdraws and raises
        `DeadlineExceededError`. Raises `LeaseExpiredError` if the session's lease is
        lost while waiting. Campaigning again while a candidate only updates the value.
        """
        val = to_bytes("value", value)
        with anyio.move_on_after(timeout):
            await self._campaign(val)
            return
        raise DeadlineExceededError(f"election {self.name!r}: not elected within {timeout} s")

    async def _campaign(self, value: bytes) -> None:
        try:
            if self._session is None:
                self._session = await self._client.session(self._ttl)
            else:
                await self._session
            session = self._session
            lease_id = session.id
            key = self._prefix + f"{lease_id:x}".encode()
            self._key = key
            resp = await self._client.txn(
                compare=[Compare.create_revision(key) == 0],
                success=[Op.put(key, value, lease=lease_id)],
                failure=[Op.get(key)],
            )
            self._revision = resp.header.revision
            if not resp.succeeded:
                kv = range_response(resp, 0).kvs[0]
                self._revision = kv.create_revision
                if kv.value != value:
                    await self.proclaim(value)
            await until_lost(
                session,
                lambda: wait_deletes(self._client, self._prefix, self._revision_or_raise() - 1),
                f"election {self.name!r}",
            )
            if not (await self._client.get(key, keys_only=True)).kvs:
                raise LeaseExpiredError(
                    f"election {self.name!r}: the key was deleted while campaigning "
                    f"(session lease {lease_id:x} lost or revoked)",
                    lease_id=lease_id,
                )
        except BaseException:
            await self._withdraw()
            raise
        self._leader = True

    def _revision_or_raise(self) -> int:
        if self._revision is None:
            raise ElectionNotLeaderError(f"election {self.name!r}: not campaigning")
        return self._revision

    async def proclaim(self, value: str | bytes) -> None:
        """Announce a new value without a new election. Raises `ElectionNotLeaderError`
        unless this candidate is campaigning and its key is still the one it created."""
        val = to_bytes("value", value)
        key, revision, session = self._key, self._revision, self._session
        if key is None or revision is None or session is None:
            raise ElectionNotLeaderError(f"election {self.name!r}: not a candidate")
        resp = await self._client.txn(
            compare=[Compare.create_revision(key) == revision],
            success=[Op.put(key, val, lease=session.id)],
        )
        if not resp.succeeded:
            self._key = self._revision = None
            self._leader = False
            raise ElectionNotLeaderError(
                f"election {self.name!r}: the candidate's key is gone (lease lost?)"
            )

    async def resign(self) -> None:
        """Stop being leader (or candidate): delete the key if it is still ours, and
        revoke the session lease this handle created. Shielded from cancellation,
        bounded in time; a no-op when not campaigning."""
        self._leader = False
        await self._withdraw()

    async def _withdraw(self) -> None:
        key, revision = self._key, self._revision
        self._key = self._revision = None
        self._leader = False
        session = self._session
        if session is not None and session is not self._given_session:
            self._session = None
            await session.close()  # revoking the lease deletes the key
            return
        if key is None:
            return
        compare = [] if revision is None else [Compare.create_revision(key) == revision]

        async def delete() -> None:
            await self._client.txn(compare=compare, success=[Op.delete(key)])

        await shielded_cleanup(f"resigning election key {key!r}", delete)

    def leader_compare(self) -> Compare:
        """A `Compare` that holds only while this candidate's key is the one it
        created, for guarding a leader's writes in a transaction."""
        if self._key is None or self._revision is None:
            raise ElectionNotLeaderError(f"election {self.name!r}: not a candidate")
        return Compare.create_revision(self._key) == self._revision

    # -- observers -----------------------------------------------------------------------

    async def leader(self) -> KeyValue | None:
        """The current leader's key-value (key and proclaimed value), or None."""
        resp = await self._client.get(
            self._prefix,
            prefix=True,
            sort_target=SortTarget.CREATE,
            sort_order=SortOrder.ASCEND,
            limit=1,
        )
        return resp.kvs[0] if resp.kvs else None

    def observe(self) -> ElectionObserver:
        """An async iterator of the leader's `KeyValue`, yielding the current leader
        first and then each new leader or proclaimed value (see `ElectionObserver`)."""
        return ElectionObserver(self._client, self._prefix)


class ElectionObserver(ClosingIterator):
    """Async iterator of the leaders of an election (Go's `Election.Observe`).

        async with election.observe() as leaders:
            async for kv in leaders:
                print(kv.key, kv.value)

    Yields the current leader (waiting for one if there is none), then a `KeyValue`
    for each value the leader proclaims and for each next leader, in order. As Go's,
    it always reports the latest leader but may skip leaders that came and went
    while the consumer was not reading. Nothing is held between two items (each wait
    watches from the last revision seen), so breaking out of `async for` leaks
    nothing; `aclose()` or leaving `async with` ends the iteration.
    """

    def __init__(self, client: RecipesMixin, prefix: bytes) -> None:
        self._client = client
        self._prefix = prefix
        self._last: KeyValue | None = None
        self._closed = False

    async def aclose(self) -> None:
        """Stop observing: the iteration ends. Idempotent."""
        self._closed = True

    async def __anext__(self) -> KeyValue:
        while not self._closed:
            last = self._last
            kv = await (self._first_leader() if last is None else self._next_of(last))
            self._last = kv
            if kv is not None:
                return kv
        raise StopAsyncIteration

    async def _first_leader(self) -> KeyValue:
        """The current leader, or the first one to appear."""
        while True:
            resp = await self._client.get(
                self._prefix,
                prefix=True,
                sort_target=SortTarget.CREATE,
                sort_order=SortOrder.ASCEND,
                limit=1,
            )
            if resp.kvs:
                return resp.kvs[0]
            try:
                async with self._client.watch(
                    self._prefix, prefix=True, start_revision=resp.header.revision + 1
                ) as watch:
                    async for response in watch:
                        for event in response.events:
                            # The first key created with no key left is the leader.
                            if event.type is EventType.PUT:
                                return event.kv
            except CompactedError:
                continue

    async def _next_of(self, last: KeyValue) -> KeyValue | None:
        """The leader key's next value, or None once it is deleted."""
        start = last.mod_revision + 1
        while True:
            try:
                async with self._client.watch(last.key, start_revision=start) as watch:
                    async for response in watch:
                        for event in response.events:
                            if event.type is EventType.DELETE:
                                return None
                            return event.kv
            except CompactedError:
                # Too far behind to replay: look at the key as it is now.
                resp = await self._client.get(last.key)
                if not resp.kvs or resp.kvs[0].create_revision != last.create_revision:
                    return None
                if resp.kvs[0].mod_revision != last.mod_revision:
                    return resp.kvs[0]
                start = resp.header.revision + 1
