"""Helpers shared by the recipes: Go's `key.go` (waiting for deletions), cleanup, and
racing a wait against the loss of a session."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, TypeVar

import anyio

from .._exceptions import (
    ArgumentValueError,
    ClientClosedError,
    CompactedError,
    EtcdError,
    LeaseExpiredError,
)
from .._keys import to_bytes
from .._models import GetResponse, ResponseHeader, SortOrder, SortTarget, TxnResponse
from .._watch import EventType, WatchFilter

if TYPE_CHECKING:
    from ._mixin import RecipesMixin
    from ._session import Session

__all__ = [
    "CLEANUP_TIMEOUT",
    "name_prefix",
    "range_response",
    "shielded_cleanup",
    "until_lost",
    "wait_deletes",
]

T = TypeVar("T")

logger = logging.getLogger("aetcd.concurrency")

#: Bound on each cleanup step (deleting a key, revoking a lease) done after a failure,
#: a cancellation or on release; the steps run shielded from cancellation.
CLEANUP_TIMEOUT: Final = 5.0


def name_prefix(kind: str, name: object) -> bytes:
    """The key prefix of a lock or election: `name + "/"`, as Go's `NewMutex` and
    `NewElection` (so `etcdctl lock NAME` and `client.lock(NAME)` contend)."""
    raw = to_bytes("name", name)
    if not raw:
        raise ArgumentValueError(f"{kind}: name must not be empty", argument="name")
    return raw + b"/"


def range_response(resp: TxnResponse, index: int) -> GetResponse:
    """The `GetResponse` at `index` of a transaction's responses."""
    result = resp.responses[index]
    assert isinstance(result, GetResponse), result
    return result


async def shielded_cleanup(what: str, step: Callable[[], Awaitable[object]]) -> bool:
    """Run one cleanup step shielded from cancellation and bounded in time; log and
    swallow its failure. True when it completed."""
    with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
        try:
            await step()
        except ClientClosedError:
            return False
        except EtcdError as exc:
            logger.warning("%s failed: %s", what, exc)
            return False
        return True
    logger.warning("%s timed out after %s s", what, CLEANUP_TIMEOUT)
    return False


async def _wait_delete(kv: RecipesMixin, key: bytes, revision: int) -> None:
    """Return once `key` is deleted at or after `revision` (Go's `waitDelete`)."""
    async with kv.watch(key, start_revision=revision, filters=(WatchFilter.NOPUT,)) as watch:
        async for response in watch:
            if any(event.type is EventType.DELETE for event in response.events):
                return


async def wait_deletes(kv: RecipesMixin, prefix: bytes, max_create_revision: int) -> ResponseHeader:
    """Wait until no key under `prefix` has a create revision <= `max_create_revision`
    (Go's `waitDeletes`).

    Only the youngest such key is watched at a time: a waiter depends on its direct
    predecessor only, so one release wakes one waiter (no thundering herd).
    """
    while True:
        resp = await kv.get(
            prefix,
            prefix=True,
            sort_target=SortTarget.CREATE,
            sort_order=SortOrder.DESCEND,
            limit=1,
            max_create_revision=max_create_revision,
        )
        if not resp.kvs:
            return resp.header
        try:
            await _wait_delete(kv, resp.kvs[0].key, resp.header.revision + 1)
        except CompactedError:
            continue  # the history we would replay is gone: look again


async def until_lost(session: Session, wait: Callable[[], Awaitable[T]], what: str) -> T:
    """Run `wait()`, abandoning it with `LeaseExpiredError` if the session's lease is
    lost (or the session closed) first: a lock or election key dies with its lease, so
    waiting on would only wait for nothing."""
    lost: EtcdError | None = None
    error: Exception | None = None
    result: list[T] = []

    async with anyio.create_task_group() as tg:

        async def monitor() -> None:
            nonlocal lost
            try:
                await session.wait_expired()
                lost = LeaseExpiredError(
                    f"{what}: session lease {session.id:x} expired while waiting",
                    lease_id=session.id,
                )
            except EtcdError as exc:
                lost = exc
            tg.cancel_scope.cancel()

        tg.start_soon(monitor)
        try:
            result.append(await wait())
        except Exception as exc:  # raised after the task group, never as a group
            error = exc
        tg.cancel_scope.cancel()
    if error is not None:
        raise error
    if not result:
        assert lost is not None
        raise lost
    return result[0]
