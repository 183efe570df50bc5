"""Lease logic without a server: argument checks and the keep-alive schedule."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import aetcd
from aetcd import _codec
from aetcd._lease import (
    SEND_SLACK,
    LeaseKeepAliveResponse,
    _KeepAliveManager,
    _KeptLease,
    _Schedule,
    retry_interval,
)
from aetcd._proto import etcdserverpb as pb
from aetcd.testing import free_ports


@asynccontextmanager
async def unreachable_client() -> AsyncIterator[aetcd.Client]:
    # Nothing listens there: every check below must fail before any network call.
    # (Not a fixture: pytest-asyncio sets fixtures up and tears them down in different
    # tasks, and the client's task group must be exited by the task that entered it.)
    async with aetcd.Client(f"http://127.0.0.1:{free_ports(1)[0]}", timeout=0.5) as client:
        yield client


# --------------------------------------------------------------------------- arguments

BAD_TTLS: list[tuple[Any, type[Exception]]] = [
    ("5", aetcd.ArgumentTypeError),
    (5.0, aetcd.ArgumentTypeError),
    (None, aetcd.ArgumentTypeError),
    (True, aetcd.ArgumentTypeError),
    (0, aetcd.ArgumentValueError),
    (-1, aetcd.ArgumentValueError),
    (2**63, aetcd.ArgumentValueError),
]

BAD_IDS: list[tuple[Any, type[Exception]]] = [
    ("1", aetcd.ArgumentTypeError),
    (1.0, aetcd.ArgumentTypeError),
    (None, aetcd.ArgumentTypeError),
    (False, aetcd.ArgumentTypeError),
    (0, aetcd.ArgumentValueError),
    (-5, aetcd.ArgumentValueError),
    (2**63, aetcd.ArgumentValueError),
]


@pytest.mark.parametrize(("ttl", "error"), BAD_TTLS)
async def test_bad_ttl_raises_at_once(ttl: Any, error: type[Exception]) -> None:
    async with unreachable_client() as client:
        with pytest.raises(error, match=r"^ttl: ") as info:
            client.lease(ttl)
        assert info.value.argument == "ttl"  # type: ignore[attr-defined]
        assert isinstance(info.value, aetcd.EtcdError)
        assert isinstance(
            info.value, ValueError if error is aetcd.ArgumentValueError else TypeError
        )
        with pytest.raises(error, match=r"^ttl: "):
            await client.lease_grant(ttl)


@pytest.mark.parametrize(("lease_id", "error"), BAD_IDS)
async def test_bad_lease_id_raises_at_once(lease_id: Any, error: type[Exception]) -> None:
    async with unreachable_client() as client:
        with pytest.raises(error, match=r"^id: "):
            client.keep_alive(lease_id)
        if lease_id is not None:  # id=None means "choose one"
            with pytest.raises(error, match=r"^id: "):
                client.lease(5, id=lease_id)
        with pytest.raises(error, match=r"^id: "):
            await client.lease_revoke(lease_id)
        with pytest.raises(error, match=r"^id: "):
            await client.lease_time_to_live(lease_id)
        with pytest.raises(error, match=r"^id: "):
            await client.lease_keep_alive_once(lease_id)
        if lease_id is not None:
            with pytest.raises(error, match=r"^id: "):
                await client.lease_grant(5, id=lease_id)


async def test_lease_ids_are_accepted_from_objects_with_an_id() -> None:
    async with unreachable_client() as client:

        class Holder:
            id = "not an int"

        with pytest.raises(aetcd.ArgumentTypeError, match=r"^id: "):
            await client.lease_revoke(Holder())  # type: ignore[arg-type]
        lease = client.lease(5, id=42)
        assert lease.id == 42
        keeper = client.keep_alive(lease)
        assert keeper.id == 42


async def test_other_bad_arguments() -> None:
    async with unreachable_client() as client:
        with pytest.raises(aetcd.ArgumentTypeError, match=r"^keys: "):
            await client.lease_time_to_live(1, keys="yes")  # type: ignore[arg-type]
        with pytest.raises(aetcd.ArgumentValueError, match=r"^timeout: "):
            client.lease(5, timeout=-1)
        with pytest.raises(aetcd.ArgumentValueError, match=r"^timeout: "):
            client.keep_alive(1, timeout=0)


async def test_handles_need_an_entered_client() -> None:
    client = aetcd.Client(f"http://127.0.0.1:{free_ports(1)[0]}")
    with pytest.raises(aetcd.ClientClosedError, match="entered"):
        await client.lease(5)
    with pytest.raises(aetcd.ClientClosedError, match="entered"):
        await client.keep_alive(1)
    await client.close()
    with pytest.raises(aetcd.ClientClosedError):
        client.lease(5)
    with pytest.raises(aetcd.ClientClosedError):
        client.keep_alive(1)


async def test_unstarted_handle_misuse() -> None:
    async with unreachable_client() as client:
        lease = client.lease(5)
        assert lease.ttl == 5
        assert not lease.expired
        assert lease.id > 0  # chosen by the client, before granting
        with pytest.raises(aetcd.UsageError, match="not started"):
            await lease.wait_expired()
        with pytest.raises(aetcd.UsageError, match="not started"):
            await lease.__anext__()
        await lease.close()  # closing an unstarted handle is a no-op
        with pytest.raises(aetcd.ClientClosedError, match="closed"):
            await lease


async def test_random_ids_differ() -> None:
    async with unreachable_client() as client:
        ids = {client.lease(5).id for _ in range(1000)}
        assert len(ids) == 1000
        assert all(0 < i < 2**63 for i in ids)


# --------------------------------------------------------------------------- scheduling


def entry(lease_id: int = 1) -> _KeptLease:
    return _KeptLease(lease_id)


def test_retry_interval() -> None:
    assert retry_interval(None) == 1.0
    assert retry_interval(3) == 1.0
    assert retry_interval(60) == 20.0


def test_reply_schedules_next_send_at_a_third_and_deadline_at_ttl() -> None:
    s = _Schedule()
    e = entry()
    s.on_reply(e, 6, now=100.0)
    assert e.ttl == 6
    assert e.next_send == 102.0
    assert e.deadline == 106.0
    assert s.next_wakeup() == 102.0
    # Not due yet, even with the batching slack.
    assert s.pop_due(102.0 - SEND_SLACK - 0.01) == ([], [])
    # Due: sent, and a resend is scheduled in case no reply comes.
    sends, expired = s.pop_due(102.0)
    assert sends == [e]
    assert expired == []
    assert e.next_send == 102.0 + 2.0


def test_sends_due_within_the_slack_are_batched() -> None:
    s = _Schedule()
    entries = [entry(i) for i in range(1, 101)]
    for i, e in enumerate(entries):
        s.on_reply(e, 3, now=10.0 + i * (SEND_SLACK / 200))
    first = s.next_wakeup()
    assert first == pytest.approx(11.0)
    assert first is not None
    sends, _ = s.pop_due(first)
    assert sends == entries
    assert s.pop_due(first + 0.5) == ([], [])


def test_a_reply_postpones_without_growing_the_heaps() -> None:
    s = _Schedule()
    e = entry()
    s.on_reply(e, 3, now=0.0)
    size = len(s)
    assert size == 2  # one send, one deadline
    for k in range(1, 1000):
        s.on_reply(e, 3, now=k * 0.5)
    assert len(s) == size
    # The stale early items are re-pushed at the real times when they come up.
    assert s.pop_due(1.0) == ([], [])
    assert e.next_send == pytest.approx(999 * 0.5 + 1.0)
    assert s.next_wakeup() == 3.0  # the first deadline, not yet looked at
    assert s.pop_due(3.0) == ([], [])
    assert s.next_wakeup() == pytest.approx(e.next_send)
    assert len(s) == 2


def test_deadline_passes_without_reply() -> None:
    s = _Schedule()
    e = entry()
    s.on_reply(e, 3, now=0.0)
    expired_at = None
    t = 0.0
    while t < 10:  # the timer's view: wake when asked, send when due, no replies
        wake = s.next_wakeup()
        assert wake is not None
        t = wake
        _, expired = s.pop_due(t)
        if expired:
            expired_at = t
            break
    assert expired_at == 3.0


def test_reply_extends_the_deadline() -> None:
    s = _Schedule()
    e = entry()
    s.on_reply(e, 3, now=0.0)
    s.on_reply(e, 3, now=2.0)
    assert s.pop_due(3.0)[1] == []  # the old deadline is not the real one any more
    assert e.deadline == 5.0
    assert s.pop_due(5.0)[1] == [e]


def test_earlier_time_is_pushed_and_reported() -> None:
    s = _Schedule()
    e = entry()
    s.on_reply(e, 30, now=0.0)
    assert s.next_wakeup() == 10.0
    assert s.set_next_send(e, 1.0) is True  # earlier: the timer must wake
    assert s.next_wakeup() == 1.0
    assert s.set_next_send(e, 5.0) is False  # later: lazily re-pushed
    assert s.pop_due(1.0) == ([], [])
    assert s.pop_due(5.0)[0] == [e]


def test_finished_entries_are_skipped() -> None:
    s = _Schedule()
    a, b = entry(1), entry(2)
    s.on_reply(a, 3, now=0.0)
    s.on_reply(b, 3, now=0.0)
    a.finished = True
    assert s.pop_due(1.0)[0] == [b]
    assert s.pop_due(3.0)[1] == [b]
    assert s.next_wakeup() is not None  # b's resend; a left nothing behind
    b.finished = True
    s.pop_due(100.0)
    assert s.next_wakeup() is None
    assert len(s) == 0


def test_unknown_ttl_is_sent_at_once_and_has_no_deadline() -> None:
    s = _Schedule()
    e = entry()
    s.set_next_send(e, 5.0)
    assert e.deadline == math.inf
    assert s.pop_due(5.0) == ([e], [])
    assert e.next_send == 6.0  # resent after 1 s until a reply tells the TTL


# --------------------------------------------------------------------------- loss reporting


class _FakeTransport:
    """Enough of a transport for the manager's bookkeeping (no stream is opened)."""

    class config:
        probe_after = 1.0


def reply(lease_id: int, ttl: int) -> LeaseKeepAliveResponse:
    # As the keep-alive stream hands it over: decoded from the wire by `_codec`.
    msg = pb.LeaseKeepAliveResponse(header=pb.ResponseHeader(revision=7), id=lease_id, ttl=ttl)
    return _codec.decode_lease_keep_alive_response(bytes(msg))


async def test_zero_ttl_reply_reports_loss_to_every_holder() -> None:
    async with unreachable_client() as client:
        manager = _KeepAliveManager(_FakeTransport())  # type: ignore[arg-type]
        a = client.keep_alive(7)
        b = client.keep_alive(7)
        a._manager = b._manager = manager
        ea = a._register(None)
        eb = b._register(None)
        assert ea is eb  # one entry per lease id, shared
        assert manager.lease_ids == (7,)
        aiter = a.__aiter__()
        manager._on_reply(reply(7, 9))
        assert a.ttl == 9
        assert await aiter.__anext__() == LeaseKeepAliveResponse(
            aetcd.ResponseHeader(0, 0, 7, 0), 7, 9
        )
        manager._on_reply(reply(7, 0))
        assert a.expired
        assert b.expired
        assert manager.lease_ids == ()
        await a.wait_expired()
        await b.wait_expired()
        with pytest.raises(aetcd.LeaseExpiredError) as info:
            await aiter.__anext__()
        assert info.value.lease_id == 7


async def test_release_is_refcounted() -> None:
    async with unreachable_client() as client:
        manager = _KeepAliveManager(_FakeTransport())  # type: ignore[arg-type]
        a = client.keep_alive(7)
        b = client.keep_alive(7)
        a._manager = b._manager = manager
        a._register(None)
        b._register(None)
        await a.close()
        assert manager.lease_ids == (7,)
        with pytest.raises(aetcd.ClientClosedError, match="handle is closed"):
            await a.wait_expired()
        with pytest.raises(StopAsyncIteration):
            await a.__anext__()
        await b.close()
        assert manager.lease_ids == ()
        assert not a.expired


async def test_manager_close_reports_client_closed() -> None:
    async with unreachable_client() as client:
        manager = _KeepAliveManager(_FakeTransport())  # type: ignore[arg-type]
        a = client.keep_alive(7)
        a._manager = manager
        a._register(None)
        manager._on_reply(reply(7, 9))
        manager.close()
        assert not a.expired
        with pytest.raises(aetcd.ClientClosedError):
            await a.wait_expired()
        with pytest.raises(aetcd.ClientClosedError):
            await a.__anext__()
        with pytest.raises(aetcd.ClientClosedError):
            manager.keep(8, None, a)
