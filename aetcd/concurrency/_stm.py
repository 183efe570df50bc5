"""Software transactional memory over etcd (Go's `concurrency/stm.go`).

`client.stm(fn)` runs `fn(stm)`, recording what it reads and buffering what it
writes, then commits the writes in one transaction guarded by conflict checks; when
another writer got in between, `fn` runs again on fresh data.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from .._config import DEFAULT, TimeoutArg
from .._keys import LeaseId, resolve_range, to_bytes
from .._models import GetResponse, TxnResponse
from .._txn import Compare, Op

if TYPE_CHECKING:
    from ._mixin import RecipesMixin

__all__ = ["STM", "Isolation", "run_stm"]

T = TypeVar("T")


class Isolation(enum.IntEnum):
    """Isolation level of `client.stm` (Go's `concurrency.Isolation`, same order)."""

    #: Reads see one snapshot (the revision of the first read); the commit fails if a
    #: key read changed, or a key written was changed since that snapshot. The default.
    SERIALIZABLE_SNAPSHOT = 0
    #: Reads see one snapshot; the commit fails if a key read has changed.
    SERIALIZABLE = 1
    #: Each key is read once per attempt (later reads repeat it); the commit fails if
    #: a key read has changed.
    REPEATABLE_READS = 2
    #: Reads see whatever is committed; no conflict checks (no atomicity across keys).
    READ_COMMITTED = 3


class _Done:
    """What `STM.put` and `STM.delete` return: they only buffer a write, and awaiting
    the result is optional (`await stm.put(...)` and `stm.put(...)` both work)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover  (makes this a generator)


_DONE = _Done()
_MAX_REVISION = sys.maxsize  # int64 max


class _Read:
    """One key of the read set: its range response and the revision it was read at."""

    __slots__ = ("resp", "revision")

    def __init__(self, resp: GetResponse, revision: int) -> None:
        self.resp = resp
        self.revision = revision

    @property
    def mod_revision(self) -> int:
        return self.resp.kvs[0].mod_revision if self.resp.kvs else 0

    @property
    def value(self) -> bytes | None:
        return self.resp.kvs[0].value if self.resp.kvs else None


class _Write:
    __slots__ = ("op", "value")

    def __init__(self, value: bytes | None, op: Op) -> None:
        self.value = value
        self.op = op


def _key(key: Any) -> bytes:
    return resolve_range(key)[0]


class STM:
    """The transaction handle passed to the function run by `client.stm`.

        async def transfer(stm: aetcd.STM) -> None:
            a = int(await stm.get("accounts/a") or 0)
            b = int(await stm.get("accounts/b") or 0)
            stm.put("accounts/a", str(a - 10))
            stm.put("accounts/b", str(b + 10))

        await client.stm(transfer)

    `get` reads through the write set (a key written in this attempt reads back its
    new value, a deleted one `None`); `put` and `delete` only buffer (awaiting them
    is optional); `rev` is a key's mod revision as read. Nothing is written until the
    function returns and the commit succeeds.
    """

    def __init__(
        self,
        client: RecipesMixin,
        isolation: Isolation,
        timeout: TimeoutArg,
    ) -> None:
        self._client = client
        self._isolation = isolation
        self._timeout = timeout
        self._rset: dict[bytes, _Read] = {}
        self._wset: dict[bytes, _Write] = {}
        self._prefetched: dict[bytes, _Read] = {}
        # Serializable levels: the revision every read after the first is pinned to.
        self._read_revision: int | None = None
        #: How many times the function ran (1 + the number of conflicts).
        self.attempts = 0

    @property
    def isolation(self) -> Isolation:
        """The isolation level of this transaction."""
        return self._isolation

    def __repr__(self) -> str:
        return (
            f"<aetcd.STM {self._isolation.name} reads={len(self._rset)} "
            f"writes={len(self._wset)} attempt={self.attempts}>"
        )

    # -- the user's side -------------------------------------------------------------------

    async def get(self, key: str | bytes) -> bytes | None:
        """The value of `key` (None if absent), recording it in the read set."""
        k = _key(key)
        written = self._wset.get(k)
        if written is not None:
            return written.value
        return (await self._read([k])).value

    def put(self, key: str | bytes, value: str | bytes, *, lease: LeaseId | None = None) -> _Done:
        """Buffer a put of `key` (written at commit)."""
        k = _key(key)
        v = to_bytes("value", value)
        self._wset[k] = _Write(v, Op.put(k, v, lease=lease))
        return _DONE

    def delete(self, key: str | bytes) -> _Done:
        """Buffer the deletion of `key` (done at commit)."""
        k = _key(key)
        self._wset[k] = _Write(None, Op.delete(k))
        return _DONE

    async def rev(self, key: str | bytes) -> int:
        """The mod revision of `key` as read in this attempt (0 if absent)."""
        return (await self._read([_key(key)])).mod_revision

    # -- reads ------------------------------------------------------------------------------

    @property
    def _serializable(self) -> bool:
        return self._isolation in (Isolation.SERIALIZABLE_SNAPSHOT, Isolation.SERIALIZABLE)

    async def _read(self, keys: list[bytes]) -> _Read:
        """Go's `fetch` (and `stmSerializable.Get`): the first key's read, fetching
        every key not read yet in one transaction."""
        first_read = not self._rset
        if self._serializable:
            for k in keys:
                pre = self._prefetched.pop(k, None)
                if pre is not None:
                    self._rset[k] = pre
        read = self._rset.get(keys[0])
        if read is None:
            missing = [k for k in dict.fromkeys(keys) if k not in self._rset]
            options: dict[str, Any] = {}
            if not self._serializable:
                options["serializable"] = True
            elif self._read_revision is not None:
                # After the first read, every read sees the snapshot of the first one.
                options = {"revision": self._read_revision, "serializable": True}
            resp = await self._client.txn(
                success=[Op.get(k, **options) for k in missing], timeout=self._timeout
            )
            self._add_reads(missing, resp)
            read = self._rset[keys[0]]
        if self._serializable and first_read:
            self._read_revision = read.revision
        return read

    def _add_reads(self, keys: list[bytes], resp: TxnResponse) -> None:
        for k, r in zip(keys, resp.responses, strict=True):
            assert isinstance(r, GetResponse), r
            # Go uses each range's own header; etcd 3.4 sends none inside a txn.
            self._rset[k] = _Read(r, r.header.revision or resp.header.revision)

    async def _prefetch(self, keys: list[bytes]) -> None:
        if keys:
            await self._read(keys)

    # -- commit -----------------------------------------------------------------------------

    def _reset(self) -> None:
        self._rset = {}
        self._wset = {}
        self.attempts += 1

    def _conflicts(self) -> list[Compare]:
        iso = self._isolation
        if iso is Isolation.READ_COMMITTED:
            return []
        cmps = [Compare.mod_revision(k) == read.mod_revision for k, read in self._rset.items()]
        if iso is Isolation.SERIALIZABLE_SNAPSHOT:
            first = min((read.revision for read in self._rset.values()), default=_MAX_REVISION - 1)
            cmps.extend(Compare.mod_revision(k) < first + 1 for k in self._wset)
        return cmps

    async def _commit(self) -> TxnResponse | None:
        writes = [w.op for w in self._wset.values()]
        if not self._serializable:
            resp = await self._client.txn(
                compare=self._conflicts(), success=writes, timeout=self._timeout
            )
            return resp if resp.succeeded else None
        keys = list(self._rset)
        resp = await self._client.txn(
            compare=self._conflicts(),
            success=writes,
            # On a conflict the failure branch re-reads the read set, so the next
            # attempt starts without a round trip (Go does the same).
            failure=[Op.get(k) for k in keys],
            timeout=self._timeout,
        )
        if resp.succeeded:
            return resp
        self._rset = {}
        self._add_reads(keys, resp)
        self._prefetched = self._rset
        self._rset = {}
        self._read_revision = None
        return None


async def run_stm(
    client: RecipesMixin,
    fn: Callable[[STM], Awaitable[T]],
    isolation: Isolation,
    prefetch: Iterable[str | bytes],
    timeout: TimeoutArg = DEFAULT,
) -> T:
    """Run `fn` until its writes commit without conflict; return its result."""
    if not isinstance(isolation, Isolation):
        isolation = Isolation(isolation)
    keys = [_key(k) for k in prefetch]
    stm: STM = STM(client, isolation, timeout)
    while True:
        stm._reset()
        await stm._prefetch(keys)
        result = await fn(stm)
        if await stm._commit() is not None:
            return result
