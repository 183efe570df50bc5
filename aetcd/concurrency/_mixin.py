"""`RecipesMixin`: the recipe entry points of `Client` (and of namespace views).

`client.session`, `client.lock`, `client.election`, `client.stm` and
`client.with_namespace`. The recipes use only the KV, Txn, Lease and Watch calls of
the object they are created from, so on a namespace view (`with_namespace`) they work
inside the namespace, as Go's recipes do on a client with a namespaced KV.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from .._config import DEFAULT, TimeoutArg
from .._exceptions import ArgumentTypeError, ArgumentValueError
from .._keys import LeaseId
from .._kv import KVMixin
from .._lease import LeaseMixin, check_lease_id, check_ttl
from .._txn import TxnMixin
from .._watch import WatchMixin
from ._election import Election
from ._lock import Lock
from ._session import Session
from ._stm import STM, Isolation, run_stm

if TYPE_CHECKING:
    from .._namespace import Namespace

__all__ = ["RecipesMixin"]

T = TypeVar("T")


def _check_timeout(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentTypeError(
            f"{name}: expected seconds (float) or None, got {type(value).__name__}",
            argument=name,
        )
    if value < 0:
        raise ArgumentValueError(f"{name}: must be >= 0, got {value}", argument=name)
    return float(value)


def _check_session(value: object) -> Session | None:
    if value is not None and not isinstance(value, Session):
        raise ArgumentTypeError(
            f"session: expected an aetcd.Session, got {type(value).__name__}",
            argument="session",
        )
    return value


class RecipesMixin(KVMixin, TxnMixin, LeaseMixin, WatchMixin):
    """Sessions, locks, elections, STM and namespaces (Go's `concurrency` and
    `namespace` packages) on top of the KV, Txn, Lease and Watch calls."""

    def session(
        self, ttl: int = 60, *, lease: LeaseId | None = None, timeout: TimeoutArg = DEFAULT
    ) -> Session:
        """A `Session`: a lease of `ttl` seconds kept alive until the session ends.
        `async with client.session(ttl=60) as session:` or `await client.session()`.
        `lease` adopts an existing lease instead of granting one. `timeout` applies to
        the grant (or the first keep-alive) and to the revoke."""
        self._transport.check_open()
        check_ttl(ttl)
        lease_id = None if lease is None else check_lease_id(lease, "lease")
        self._transport.config.resolve_timeout(timeout)  # validate now
        return Session(self, ttl, lease_id, timeout)

    def lock(
        self,
        name: str | bytes,
        *,
        ttl: int = 60,
        timeout: float | None = None,
        session: Session | None = None,
    ) -> Lock:
        """A `Lock` on `name`, with Go's and `etcdctl lock`'s key layout.
        `async with client.lock(name, ttl=60, timeout=None) as lock:` holds it for the
        block; `timeout` bounds the wait (`LockTimeoutError`). Each handle grants its own
        session (lease of `ttl` seconds) per acquisition unless `session` is given."""
        self._transport.check_open()
        check_ttl(ttl)
        return Lock(
            self,
            name,
            ttl=ttl,
            timeout=_check_timeout("timeout", timeout),
            session=_check_session(session),
        )

    def election(
        self, name: str | bytes, *, ttl: int = 60, session: Session | None = None
    ) -> Election:
        """An `Election` on `name`, with Go's and `etcdctl elect`'s key layout. A
        campaign grants its own session (lease of `ttl` seconds) unless `session` is
        given."""
        self._transport.check_open()
        check_ttl(ttl)
        return Election(self, name, ttl=ttl, session=_check_session(session))

    async def stm(
        self,
        fn: Callable[[STM], Awaitable[T]],
        isolation: Isolation = Isolation.SERIALIZABLE_SNAPSHOT,
        *,
        prefetch: Iterable[str | bytes] = (),
        timeout: TimeoutArg = DEFAULT,
    ) -> T:
        """Run `fn(stm)` as a software transaction and return its result.

        `fn` reads with `await stm.get(key)` and writes with `stm.put(key, value)` /
        `stm.delete(key)`; the writes are committed atomically when `fn` returns,
        guarded by the conflict checks of `isolation`, and on a conflict `fn` runs
        again on fresh data (so it must not have other side effects). An exception from
        `fn` aborts without writing anything. `prefetch` keys are read in one round
        trip before each run. `timeout` applies to each call.
        """
        self._transport.check_open()
        if not callable(fn):
            raise ArgumentTypeError(
                f"fn: expected an async function of the STM, got {type(fn).__name__}",
                argument="fn",
            )
        try:
            level = Isolation(isolation)
        except ValueError:
            raise ArgumentTypeError(
                f"isolation: expected aetcd.Isolation, got {isolation!r}", argument="isolation"
            ) from None
        if isinstance(prefetch, (str, bytes)):
            prefetch = (prefetch,)
        self._transport.config.resolve_timeout(timeout)
        return await run_stm(self, fn, level, prefetch, timeout)

    def with_namespace(self, prefix: str | bytes) -> Namespace:
        """A view of this client in which every key is prefixed with `prefix`: the same
        KV, Txn, watch, lease and recipe calls, with the prefix added to the keys sent
        and removed from the keys returned, and ranges kept inside the namespace (Go's
        `namespace` package). The view shares the client's connections and streams."""
        from .._namespace import Namespace

        self._transport.check_open()
        return Namespace(self, prefix)
