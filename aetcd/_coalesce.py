"""Coalesced reads: the `get`s issued in one event-loop iteration travel as one Txn.

With many reads in flight, the client's CPU per RPC (HTTP/2 framing, headers, a
stream, a task wake-up, all in Python) costs more than the server's work. A `get`
issued while other reads of the client are in progress therefore joins a batch; one
loop iteration later (once the tasks ready in this one have run) the batch is sent as
a `Txn` whose success branch is the batch's Range requests (no compares), and each
caller gets its own `GetResponse` from the reply. A `get` issued while no other read
is in progress is sent at once as a Range: a client that reads one key at a time
pays nothing for this.

Semantics stay those of separate calls:

* Linearizable: the Txn is sent after every read in it was issued and answered
  before any of them returns, so its linearization point lies inside each read's
  interval. etcd serves a Txn of ranges only as it serves a Range: after a
  ReadIndex round, unless every range is serializable, and then from the member's
  local state (`isTxnReadonly`/`isTxnSerializable` in etcd 3.4 and 3.5's
  `v3_server.go`). Serializable and linearizable reads go in separate batches.
* A read alone in its batch is sent as a plain Range; a batch holds at most
  `MAX_OPS` reads (etcd's default `--max-txn-ops`), a larger burst is split.
* When the Txn fails for any reason (too many ops for the server, a compacted or
  future revision or a denied key in one read, a lost connection, ...), every read
  of the batch is resent alone, so each caller gets exactly the result or the error
  it would have got by itself.
* A caller's deadline is its own: it raises `DeadlineExceededError` at its deadline
  even while the batch goes on for the others (whose deadline is the latest of its
  reads', or none if one has none); a cancelled caller just stops waiting.
* Headers: inside a Txn, etcd (3.4 and 3.5) fills only the revision of a range's
  header (the decoder gives an empty one the Txn's header); cluster, member and raft
  term come from the Txn's header, so a coalesced result's header is the one a Range
  served at that moment would have had.

Each batch is sent by a task of its own, which the coalescer's `run` task (in the
client's task group) cancels and waits for when the client closes, so none outlives
`Client.close()`; a client used without `async with` has no task group and sends
every read alone. Batches are kept per caller object (a client or a namespace view,
whose `_call` adds its prefix to the Txn like to a Range).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final, cast

import anyio

from . import _rpcs as rpc
from ._config import TimeoutArg
from ._exceptions import DeadlineExceededError, TooManyOpsError
from ._models import GetResponse, ResponseHeader, TxnResponse
from ._proto import etcdserverpb as pb

if TYPE_CHECKING:
    from ._base import ServiceBase

__all__ = ["MAX_OPS", "ReadCoalescer"]

MAX_OPS: Final = 128
"""Most reads in one Txn: etcd's default `--max-txn-ops`."""

# What a batch answers a read that must be sent alone (batch of one, failed Txn, ...).
_ALONE: Final = object()
# How long closing waits for the batches' tasks to end (they are cancelled: at once).
_CLOSE_WAIT: Final = 5.0


class _Read:
    __slots__ = ("deadline", "future", "request")

    def __init__(
        self, request: pb.RangeRequest, future: asyncio.Future[object], deadline: float | None
    ) -> None:
        self.request = request
        self.future = future
        self.deadline = deadline  # loop.time() clock, like time.monotonic()


class _Batch:
    """The reads of one Txn, and one timer for all their deadlines (cheaper than a
    timer each: most reads of a batch have about the same deadline)."""

    __slots__ = ("reads", "timer")

    def __init__(self, reads: list[_Read]) -> None:
        self.reads = reads
        self.timer: asyncio.TimerHandle | None = None

    def expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fail the reads whose deadline has passed; wait for the next deadline."""
        now = loop.time()
        soonest: float | None = None
        for read in self.reads:
            deadline = read.deadline
            if deadline is None or read.future.done():
                continue
            if deadline <= now:
                read.future.set_exception(DeadlineExceededError("Range: deadline exceeded"))
            elif soonest is None or deadline < soonest:
                soonest = deadline
        self.timer = None if soonest is None else loop.call_at(soonest, self.expire, loop)

    def alone(self) -> None:
        """Every read still waiting is sent alone (the batch failed or was not sent)."""
        if self.timer is not None:
            self.timer.cancel()
        _alone(self.reads)


def _others_ready() -> bool:
    """Whether other callbacks (tasks) are ready to run before the loop next polls.

    asyncio's own loops keep them in `_ready`; on another loop, assume there are.
    """
    ready = getattr(asyncio.get_running_loop(), "_ready", None)
    return ready is None or len(ready) > 0


def _alone(reads: list[_Read]) -> None:
    for read in reads:
        if not read.future.done():
            read.future.set_result(_ALONE)


class ReadCoalescer:
    """Batches the client's concurrent `get`s into Txns: a background service in
    `Client._services` (shared by the client's namespace views) whose `run` task, in
    the client's task group, outlives every batch it sends."""

    def __init__(self) -> None:
        # Batches filling up in this loop iteration, by (caller, serializable).
        self._pending: dict[tuple[ServiceBase, bool], list[_Read]] = {}
        # Lowered when a server refuses a batch as too many operations.
        self._max_ops = MAX_OPS
        # Reads in progress (sent alone or in a batch, or waiting to be).
        self._active = 0
        # The batches' tasks and their reads: plain asyncio tasks (an anyio task per
        # batch costs more than a small batch saves), cancelled and awaited by `run`
        # when the client closes.
        self._tasks: dict[asyncio.Task[None], list[_Read]] = {}
        self._closed = False

    async def run(self) -> None:
        """Wait for the client to close, then end the batches in flight (each of their
        reads is then sent alone, and fails as the closed client's calls do)."""
        try:
            await anyio.sleep_forever()
        finally:
            self.close()
            with anyio.move_on_after(_CLOSE_WAIT, shield=True):
                while self._tasks:
                    await asyncio.wait(set(self._tasks))

    def close(self) -> None:
        self._closed = True
        self._pending = {}
        for task, reads in self._tasks.items():
            task.cancel()
            _alone(reads)  # also those of a task cancelled before it could start

    async def get(
        self, caller: ServiceBase, request: pb.RangeRequest, timeout: TimeoutArg
    ) -> GetResponse:
        """`caller._call(rpc.RANGE, request, timeout)`, possibly coalesced with others."""
        self._active += 1
        try:
            # A read joins the batch filling up in this iteration, or starts one if
            # other reads are in progress and other tasks are about to run, whose
            # reads could join it. Else waiting could only delay it: it goes at once
            # (as does every read if the server takes no Txn of two).
            if self._active > 1 and self._max_ops > 1 and not self._closed:
                key = (caller, request.serializable)
                reads = self._pending.get(key)
                if reads is not None or _others_ready():
                    return await self._coalesce(caller, request, timeout, key, reads)
            return await caller._call(rpc.RANGE, request, timeout)
        finally:
            self._active -= 1

    async def _coalesce(
        self,
        caller: ServiceBase,
        request: pb.RangeRequest,
        timeout: TimeoutArg,
        key: tuple[ServiceBase, bool],
        reads: list[_Read] | None,
    ) -> GetResponse:
        transport = caller._transport
        transport.check_open()
        seconds = transport.config.resolve_timeout(timeout)
        loop = asyncio.get_running_loop()
        read = _Read(
            request, loop.create_future(), None if seconds is None else loop.time() + seconds
        )
        if reads is None:
            # A new batch: its task starts in the next loop iteration, once the tasks
            # ready in this one have run (and their reads joined the batch).
            reads = self._pending[key] = [read]
            task = loop.create_task(self._send(caller, key, reads), name="aetcd coalesced reads")
            self._tasks[task] = reads
            task.add_done_callback(self._tasks.pop)
        else:
            reads.append(read)
            if len(reads) >= self._max_ops:
                del self._pending[key]  # full: the next read starts another batch
        result = await read.future
        if result is not _ALONE:
            return cast(GetResponse, result)
        if read.deadline is not None:
            seconds = read.deadline - loop.time()
            if seconds <= 0:
                raise DeadlineExceededError("Range: deadline exceeded")
        return await caller._call(rpc.RANGE, request, seconds)

    async def _send(
        self, caller: ServiceBase, key: tuple[ServiceBase, bool], pending: list[_Read]
    ) -> None:
        if self._pending.get(key) is pending:
            del self._pending[key]
        batch = _Batch([read for read in pending if not read.future.done()])  # not cancelled
        reads = batch.reads
        try:
            if len(reads) < 2:
                return  # alone: sent by its own task, below
            loop = asyncio.get_running_loop()
            # The Txn's deadline is the latest of its reads' (none if one has none);
            # each read's own deadline is kept by the batch's timer.
            first: float | None = None
            last: float | None = 0.0
            for read in reads:
                deadline = read.deadline
                if deadline is None:
                    last = None
                    continue
                if first is None or deadline < first:
                    first = deadline
                if last is not None and deadline > last:
                    last = deadline
            if first is not None:
                batch.timer = loop.call_at(first, batch.expire, loop)
            timeout = None if last is None else last - loop.time()
            if timeout is not None and timeout <= 0:
                return  # every read raises DeadlineExceededError
            request = pb.TxnRequest(success=[pb.RequestOp(request_range=r.request) for r in reads])
            reply = await caller._call(rpc.TXN, request, timeout)
            _deliver(reads, reply)
        except TooManyOpsError:
            # The server's --max-txn-ops is below ours: smaller batches from now on.
            self._max_ops = min(self._max_ops, (len(reads) + 1) // 2)
        except Exception:
            # Whatever failed (a refusal caused by one read, an unavailable member,
            # ...), the reads are resent alone below: each gets its own outcome.
            pass
        finally:
            # Also when cancelled (the client is closing): no read is left waiting.
            batch.alone()


def _deliver(reads: list[_Read], reply: TxnResponse) -> None:
    responses = reply.responses
    if len(responses) != len(reads):
        return
    h = reply.header
    merged: ResponseHeader | None = None  # all the ranges' headers are alike: share it
    for read, resp in zip(reads, responses, strict=True):
        if read.future.done() or not isinstance(resp, GetResponse):
            continue  # cancelled or timed out (or not a range: resent alone)
        inner = resp.header
        if inner is not h:
            # Inside a Txn etcd sets only the revision of a range's header; the
            # member, cluster and term are the Txn's.
            revision = inner.revision or h.revision
            if merged is None or merged.revision != revision:
                merged = ResponseHeader(h.cluster_id, h.member_id, revision, h.raft_term)
            resp = GetResponse(merged, resp.kvs, resp.count, resp.more)
        read.future.set_result(resp)
