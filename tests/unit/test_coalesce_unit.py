"""The read batcher (`aetcd._coalesce`) against a scripted caller: which reads go in
which Txn, and what each caller gets back when the Txn fails or a caller gives up.

In a burst on an idle batcher the first read is sent at once (nothing else was in
progress) and the others are batched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

import aetcd
from aetcd import _rpcs as rpc
from aetcd._coalesce import MAX_OPS, ReadCoalescer
from aetcd._config import ClientConfig
from aetcd._models import GetResponse, KeyValue, ResponseHeader, TxnResponse
from aetcd._proto import etcdserverpb as pb

TXN_HEADER = ResponseHeader(cluster_id=7, member_id=8, revision=42, raft_term=3)


class Transport:
    def __init__(self) -> None:
        self.config = ClientConfig()
        self.closed = False

    def check_open(self) -> None:
        if self.closed:
            raise aetcd.ClientClosedError("the client is closed")


class Caller:
    """Answers Range and Txn like etcd (a range's header inside a Txn has only its
    revision), after one loop iteration; records what was sent."""

    def __init__(self) -> None:
        self._transport = Transport()
        self.sent: list[tuple[str, list[bytes]]] = []
        self.refuse_txn: Exception | None = None
        self.nested_header: ResponseHeader | None = ResponseHeader(0, 0, 42, 0)

    async def _call(self, method: Any, request: Any, timeout: Any = None) -> Any:
        self._transport.check_open()
        if method is rpc.TXN:
            keys = [op.request_range.key for op in request.success]
            self.sent.append(("Txn", keys))
            await asyncio.sleep(0)
            if self.refuse_txn is not None:
                raise self.refuse_txn
            nested = self.nested_header or TXN_HEADER  # empty: the decoder's fallback
            return TxnResponse(TXN_HEADER, True, tuple(self._range(k, nested) for k in keys))
        self.sent.append(("Range", [request.key]))
        await asyncio.sleep(0)
        if request.revision == 1:
            raise aetcd.CompactedError("etcdserver: mvcc: required revision has been compacted")
        return self._range(request.key, TXN_HEADER)

    @staticmethod
    def _range(key: bytes, header: ResponseHeader) -> GetResponse:
        return GetResponse(header, (KeyValue(key, b"v:" + key, 1, 1, 1, 0),), 1, False)

    def methods(self) -> list[tuple[str, int]]:
        return [(method, len(keys)) for method, keys in self.sent]


@asynccontextmanager
async def coalescer() -> AsyncIterator[ReadCoalescer]:
    async with anyio.create_task_group() as tg:
        c = ReadCoalescer()
        tg.start_soon(c.run)
        yield c
        tg.cancel_scope.cancel()


async def get(c: ReadCoalescer, caller: Caller, key: str, **options: Any) -> GetResponse:
    timeout = options.pop("timeout", 5.0)
    request = pb.RangeRequest(key=key.encode(), **options)
    return await c.get(caller, request, timeout)  # type: ignore[arg-type]


def value(resp: Any) -> bytes:
    assert isinstance(resp, GetResponse), resp
    return resp.kvs[0].value


async def test_a_read_alone_is_a_range_and_a_burst_one_txn() -> None:
    caller = Caller()
    async with coalescer() as c:
        assert value(await get(c, caller, "a")) == b"v:a"
        results = await asyncio.gather(*(get(c, caller, k) for k in "bcd"))
    assert [value(r) for r in results] == [b"v:b", b"v:c", b"v:d"]
    assert caller.sent == [("Range", [b"a"]), ("Range", [b"b"]), ("Txn", [b"c", b"d"])]


@pytest.mark.parametrize(
    "nested", [ResponseHeader(0, 0, 42, 0), None], ids=["revision-only", "empty"]
)
async def test_headers_are_those_of_a_range(nested: ResponseHeader | None) -> None:
    caller = Caller()
    caller.nested_header = nested
    async with coalescer() as c:
        results = await asyncio.gather(*(get(c, caller, k) for k in "abc"))
    assert caller.methods() == [("Range", 1), ("Txn", 2)]
    assert [r.header for r in results] == [TXN_HEADER] * 3


async def test_serializable_reads_go_in_their_own_txn() -> None:
    caller = Caller()
    async with coalescer() as c:
        await asyncio.gather(
            *(get(c, caller, k) for k in "ab"),
            *(get(c, caller, k, serializable=True) for k in "cd"),
            get(c, caller, "e"),
        )
    assert sorted(caller.sent) == [("Range", [b"a"]), ("Txn", [b"b", b"e"]), ("Txn", [b"c", b"d"])]


async def test_a_burst_is_split_at_max_ops() -> None:
    caller = Caller()
    keys = [f"k{i}" for i in range(2 * MAX_OPS + 44)]
    async with coalescer() as c:
        results = await asyncio.gather(*(get(c, caller, k) for k in keys))
    assert [value(r) for r in results] == [b"v:" + k.encode() for k in keys]
    assert caller.methods() == [("Range", 1), ("Txn", MAX_OPS), ("Txn", MAX_OPS), ("Txn", 43)]


async def test_a_refused_txn_is_resent_read_by_read() -> None:
    caller = Caller()
    caller.refuse_txn = aetcd.CompactedError("etcdserver: mvcc: required revision ...")
    async with coalescer() as c:
        results = await asyncio.gather(
            *(get(c, caller, k) for k in "ab"),
            get(c, caller, "c", revision=1),
            return_exceptions=True,
        )
    assert [value(r) for r in results[:2]] == [b"v:a", b"v:b"]
    assert isinstance(results[2], aetcd.CompactedError)
    assert caller.methods() == [("Range", 1), ("Txn", 2), ("Range", 1), ("Range", 1)]


async def test_too_many_ops_halves_the_batches_down_to_none() -> None:
    caller = Caller()
    caller.refuse_txn = aetcd.TooManyOpsError("etcdserver: too many operations in txn request")
    async with coalescer() as c:
        for _ in range(4):
            results = await asyncio.gather(*(get(c, caller, f"k{i}") for i in range(6)))
            assert [value(r) for r in results] == [f"v:k{i}".encode() for i in range(6)]
    txns = [n for method, n in caller.methods() if method == "Txn"]
    # After the first read of each burst: 5 refused, then 3 + 2, then none at all.
    assert txns == [5, 3, 2]


async def test_cancelled_waiters_are_left_out() -> None:
    caller = Caller()
    async with coalescer() as c:
        tasks = [asyncio.create_task(get(c, caller, k)) for k in "abcde"]
        await asyncio.sleep(0)  # every read has joined the batch, not sent yet
        tasks[1].cancel()
        tasks[3].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [value(results[i]) for i in (0, 2, 4)] == [b"v:a", b"v:c", b"v:e"]
    assert all(isinstance(results[i], asyncio.CancelledError) for i in (1, 3))
    assert caller.sent == [("Range", [b"a"]), ("Txn", [b"c", b"e"])]


async def test_a_deadline_is_each_readers_own() -> None:
    caller = Caller()
    never = asyncio.Event()

    timeouts: dict[str, Any] = {}

    async def slow_call(method: Any, request: Any, timeout: Any = None) -> Any:
        timeouts[method.name] = timeout
        await never.wait()

    caller._call = slow_call  # type: ignore[method-assign]
    async with coalescer() as c:
        first = asyncio.create_task(get(c, caller, "a"))  # goes alone
        short = asyncio.create_task(get(c, caller, "b", timeout=0.05))
        other = asyncio.create_task(get(c, caller, "c", timeout=None))
        with anyio.fail_after(5), pytest.raises(aetcd.DeadlineExceededError):
            await short
        assert not other.done()  # still waiting for the batch
        # The Txn's deadline is the latest of its reads': one has none.
        assert timeouts == {"Range": 5.0, "Txn": None}
        first.cancel()
        other.cancel()


async def test_close_sends_unsent_reads_alone() -> None:
    caller = Caller()
    keys = [f"k{i}" for i in range(MAX_OPS + 2)]  # one alone, a full batch, one more
    async with coalescer() as c:
        tasks = [asyncio.create_task(get(c, caller, k)) for k in keys]
        await asyncio.sleep(0)  # all issued, the batches' tasks not started yet
        caller._transport.closed = True
        c.close()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert value(results[0]) == b"v:k0"  # went alone before the close
    assert all(isinstance(r, aetcd.ClientClosedError) for r in results[1:]), results
    assert caller.sent == [("Range", [b"k0"])]


def test_the_option_is_a_bool_on_by_default() -> None:
    assert ClientConfig().coalesce_reads is True
    assert ClientConfig(coalesce_reads=False).coalesce_reads is False
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^coalesce_reads: expected bool"):
        ClientConfig(coalesce_reads=1)  # type: ignore[arg-type]
    with pytest.raises(aetcd.ArgumentTypeError, match="coalesce_reads"):
        aetcd.Client("127.0.0.1:1", coalesce_reads="no")
