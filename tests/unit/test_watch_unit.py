"""The watch multiplexer's bookkeeping, driven with hand-made responses (no server)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from grpclib.const import Status

import aetcd
from aetcd import _codec
from aetcd._config import ClientConfig
from aetcd._models import KeyValue
from aetcd._proto import etcdserverpb as pb
from aetcd._proto import mvccpb
from aetcd._transport import Transport, parse_endpoints
from aetcd._watch import (
    Event,
    EventType,
    Watch,
    WatchFilter,
    WatchMultiplexer,
    _reason_error,
    _Spec,
    _StreamEnd,
    _unavailable,
    _WatchState,
)


class RecordingTaskGroup:
    def __init__(self) -> None:
        self.started: list[Any] = []

    def start_soon(self, func: Any, *args: Any, name: object = None) -> None:
        self.started.append((func, args))


def make_mux() -> WatchMultiplexer:
    transport = Transport(parse_endpoints("http://127.0.0.1:1"), ClientConfig())
    return WatchMultiplexer(transport, RecordingTaskGroup())  # type: ignore[arg-type]


def spec(key: bytes = b"k", start_revision: int = 0, **options: Any) -> _Spec:
    values: dict[str, Any] = {
        "range_end": b"",
        "prev_kv": False,
        "progress_notify": False,
        "filters": (),
        "fragment": False,
    }
    values.update(options)
    return _Spec(key=key, start_revision=start_revision, **values)


def hdr(revision: int) -> pb.ResponseHeader:
    return pb.ResponseHeader(cluster_id=1, member_id=2, revision=revision, raft_term=3)


def put(key: bytes, revision: int, version: int = 1, value: bytes = b"v") -> mvccpb.Event:
    kv = mvccpb.KeyValue(
        key=key,
        value=value,
        create_revision=revision - version + 1,
        mod_revision=revision,
        version=version,
    )
    return mvccpb.Event(type=mvccpb.EventEventType.PUT, kv=kv)


def events(
    watch_id: int, *evs: mvccpb.Event, revision: int | None = None, **kw: Any
) -> pb.WatchResponse:
    rev = revision if revision is not None else max(e.kv.mod_revision for e in evs if e.kv)
    return pb.WatchResponse(header=hdr(rev), watch_id=watch_id, events=list(evs), **kw)


def feed(mux: WatchMultiplexer, response: pb.WatchResponse) -> None:
    """Hand `response` to the multiplexer as its stream does: decoded from the wire."""
    mux._handle(_codec.decode_watch_response(bytes(response)))


def created(mux: WatchMultiplexer, revision: int = 10) -> int:
    """Send the next create and answer it; returns the watch id."""
    request, _ = mux._next_request()
    assert request is not None
    assert request.create_request is not None
    wid = request.create_request.watch_id
    feed(mux, pb.WatchResponse(header=hdr(revision), watch_id=wid, created=True))
    return wid


def handle(mux: WatchMultiplexer, state: _WatchState) -> Watch:
    watch = Watch(None, state.spec, aetcd.DEFAULT)  # type: ignore[arg-type]
    watch._mux, watch._state = mux, state
    return watch


def drain(state: _WatchState) -> list[aetcd.WatchResponse]:
    out = []
    while state.buffer:
        out.append(state.pop())
    return out


# --------------------------------------------------------------------------- public types


def test_event_kinds() -> None:
    kv1 = KeyValue(b"k", b"v", 5, 5, 1, 0)
    kv2 = KeyValue(b"k", b"w", 5, 6, 2, 0)
    assert Event(EventType.PUT, kv1).is_create
    assert not Event(EventType.PUT, kv1).is_modify
    assert Event(EventType.PUT, kv2).is_modify
    deleted = Event(EventType.DELETE, KeyValue(b"k", b"", 0, 7, 0, 0))
    assert not deleted.is_create
    assert not deleted.is_modify


def test_argument_errors_are_raised_at_once() -> None:
    client = aetcd.Client("http://127.0.0.1:1")
    with pytest.raises(aetcd.ArgumentTypeError, match="key"):
        client.watch(1)  # type: ignore[arg-type]
    with pytest.raises(aetcd.EmptyKeyError):
        client.watch("")
    with pytest.raises(aetcd.ArgumentValueError, match="start_revision"):
        client.watch("k", start_revision=0)
    with pytest.raises(aetcd.ArgumentValueError, match="mutually exclusive"):
        client.watch("k", prefix=True, range_end="z")
    with pytest.raises(aetcd.ArgumentValueError, match="range_end"):
        client.watch("b", range_end="a")
    with pytest.raises(aetcd.ArgumentValueError, match="filters"):
        client.watch("k", filters=["NOTHING"])
    with pytest.raises(aetcd.ArgumentTypeError, match="prev_kv"):
        client.watch("k", prev_kv=1)  # type: ignore[arg-type]
    with pytest.raises(aetcd.ArgumentValueError, match="timeout"):
        client.watch("k", timeout=-1)
    watch = client.watch("k", filters=["noput", WatchFilter.NOPUT, WatchFilter.NODELETE])
    assert watch._spec.filters == (WatchFilter.NOPUT, WatchFilter.NODELETE)
    assert client.watch("", prefix=True).key == b"\x00"


def test_cancel_reasons_map_to_typed_errors() -> None:
    err = _reason_error(
        "rpc error: code = PermissionDenied desc = etcdserver: permission denied",
        aetcd.WatchCanceledError,
    )
    assert isinstance(err, aetcd.PermissionDeniedError)
    assert err.status is Status.PERMISSION_DENIED
    assert err.message.startswith("rpc error: code = PermissionDenied")
    assert type(_reason_error("", aetcd.WatchCanceledError)) is aetcd.WatchCanceledError
    odd = _reason_error("mvcc: something new", aetcd.WatchCanceledError)
    assert isinstance(odd, aetcd.WatchCanceledError)
    assert odd.message == "mvcc: something new"
    no_leader = _reason_error("etcdserver: no leader", aetcd.WatchCanceledError)
    assert isinstance(no_leader, aetcd.NoLeaderError)
    assert _unavailable(no_leader)
    assert not _unavailable(err)


# --------------------------------------------------------------------------- multiplexer


def test_creates_are_serialised_and_matched_in_order() -> None:
    mux = make_mux()
    a = mux.add(spec(b"a"))
    b = mux.add(spec(b"b", start_revision=3))
    first, _ = mux._next_request()
    assert first is not None
    assert first.create_request is not None
    assert first.create_request.key == b"a"
    assert first.create_request.start_revision == 0
    assert mux._next_request() == (None, [])  # one create in flight at a time
    feed(
        mux, pb.WatchResponse(header=hdr(10), watch_id=first.create_request.watch_id, created=True)
    )
    assert a.created
    assert a.answered.is_set()
    assert a.next_rev == 11  # "now" = after the revision the server had
    second, _ = mux._next_request()
    assert second is not None
    assert second.create_request is not None
    assert second.create_request.key == b"b"
    assert second.create_request.start_revision == 3
    assert second.create_request.watch_id != first.create_request.watch_id
    feed(
        mux, pb.WatchResponse(header=hdr(10), watch_id=second.create_request.watch_id, created=True)
    )
    assert b.next_rev == 3  # a replay from 3 keeps its own start


def test_fragments_are_reassembled() -> None:
    mux = make_mux()
    state = mux.add(spec(b"k", range_end=b"l", fragment=True))
    wid = created(mux)
    evs = [put(b"k%d" % i, 11) for i in range(5)]
    feed(mux, events(wid, *evs[:2], fragment=True))
    feed(mux, events(wid, *evs[2:4], fragment=True))
    assert not state.buffer
    feed(mux, events(wid, evs[4]))
    (response,) = drain(state)
    assert [e.kv.key for e in response.events] == [b"k%d" % i for i in range(5)]
    assert mux.fragments_received == 2


def test_replayed_revisions_are_dropped() -> None:
    mux = make_mux()
    state = mux.add(spec())
    wid = created(mux)
    feed(mux, events(wid, put(b"k", 11), put(b"k", 12, 2)))
    feed(mux, events(wid, put(b"k", 12, 2)))  # already delivered
    feed(mux, events(wid, put(b"k", 12, 2), put(b"k", 13, 3)))
    revisions = [[e.kv.mod_revision for e in r.events] for r in drain(state)]
    assert revisions == [[11, 12], [13]]
    assert state.next_rev == 14


def test_responses_for_unknown_watch_ids_are_cancelled() -> None:
    mux = make_mux()
    mux.add(spec())
    created(mux)
    feed(mux, events(999, put(b"x", 20)))
    request, _ = mux._next_request()
    assert request is not None
    assert request.cancel_request is not None
    assert request.cancel_request.watch_id == 999
    feed(mux, events(999, put(b"x", 21)))  # in flight: ignored, not cancelled twice
    assert mux._next_request() == (None, [])
    feed(mux, pb.WatchResponse(header=hdr(21), watch_id=999, canceled=True))
    assert 999 not in mux._cancelling


def test_progress_notifications() -> None:
    mux = make_mux()
    a = mux.add(spec(b"a"))
    b = mux.add(spec(b"b"))
    wid_a = created(mux, 10)
    created(mux, 10)
    # Requested progress (watch id -1) reaches every watch but is no resume point.
    feed(mux, pb.WatchResponse(header=hdr(15), watch_id=-1))
    for state in (a, b):
        (response,) = drain(state)
        assert response.is_progress_notify
        assert response.header.revision == 15
        assert state.next_rev == 11
    # A watch's own notification is ordered with its events: it moves the resume point.
    feed(mux, pb.WatchResponse(header=hdr(16), watch_id=wid_a))
    assert drain(a)[0].header.revision == 16
    assert a.next_rev == 17
    # One that would go backwards (a member that is behind) is not delivered.
    feed(mux, pb.WatchResponse(header=hdr(12), watch_id=wid_a))
    assert not a.buffer
    assert a.next_rev == 17


async def test_compaction_is_raised_after_earlier_responses() -> None:
    mux = make_mux()
    state = mux.add(spec())
    wid = created(mux)
    watch = handle(mux, state)
    feed(mux, events(wid, put(b"k", 11)))
    feed(mux, pb.WatchResponse(header=hdr(30), watch_id=wid, canceled=True, compact_revision=25))
    assert (await watch.__anext__()).events[0].kv.mod_revision == 11
    with pytest.raises(aetcd.CompactedError) as info:
        await watch.__anext__()
    assert info.value.compact_revision == 25
    with pytest.raises(aetcd.CompactedError):
        await watch.__anext__()
    assert watch.closed
    assert mux.watch_count == 0


async def test_refused_create_fails_only_that_watch() -> None:
    mux = make_mux()
    ok = mux.add(spec(b"ok"))
    refused = mux.add(spec(b"secret"))
    created(mux)
    request, _ = mux._next_request()
    assert request is not None
    assert request.create_request is not None
    feed(
        mux,
        pb.WatchResponse(
            header=hdr(10),
            watch_id=request.create_request.watch_id,
            created=True,
            canceled=True,
            cancel_reason="rpc error: code = PermissionDenied desc = etcdserver: permission denied",
        ),
    )
    assert refused.answered.is_set()
    with pytest.raises(aetcd.PermissionDeniedError):
        await handle(mux, refused).__anext__()
    assert ok.live
    assert ok.watch_id is not None


def test_no_leader_moves_the_stream() -> None:
    mux = make_mux()
    state = mux.add(spec())
    wid = created(mux)
    with pytest.raises(_StreamEnd) as info:
        feed(
            mux,
            pb.WatchResponse(
                header=hdr(10), watch_id=wid, canceled=True, cancel_reason="etcdserver: no leader"
            ),
        )
    assert info.value.mark_failed
    assert isinstance(info.value.reason, aetcd.NoLeaderError)
    assert state.live
    mux._reset_stream_state()
    request, _ = mux._next_request()
    assert request is not None
    assert request.create_request is not None
    assert request.create_request.start_revision == 11  # resumes, not restarts


async def test_slow_consumer_is_detached_and_resumed() -> None:
    mux = make_mux()
    mux.buffer_limit_events = 4
    slow = mux.add(spec(b"slow"))
    other = mux.add(spec(b"other"))
    wid = created(mux)
    other_wid = created(mux)
    for rev in range(11, 16):
        feed(mux, events(wid, put(b"slow", rev, rev - 10)))
    assert slow.detached
    assert mux.detaches == 1
    request, _ = mux._next_request()
    assert request is not None
    assert request.cancel_request is not None
    assert request.cancel_request.watch_id == wid
    # Responses still in flight for the old id are dropped (they will be replayed) ...
    feed(mux, events(wid, put(b"slow", 16, 6)))
    assert len(slow.buffer) == 5
    # ... and the other watch is not affected.
    feed(mux, events(other_wid, put(b"other", 17)))
    assert len(other.buffer) == 1
    watch = handle(mux, slow)
    for rev in range(11, 14):
        assert (await watch.__anext__()).events[0].kv.mod_revision == rev
    # Drained to half of the limit: recreated from the next unseen revision.
    assert not slow.detached
    request, _ = mux._next_request()
    assert request is not None
    assert request.create_request is not None
    assert request.create_request.start_revision == 16
    new_wid = request.create_request.watch_id
    feed(mux, pb.WatchResponse(header=hdr(17), watch_id=new_wid, created=True))
    feed(mux, events(new_wid, put(b"slow", 16, 6), revision=17))
    revisions = [(await watch.__anext__()).events[0].kv.mod_revision for _ in range(3)]
    assert revisions == [14, 15, 16]


async def test_stream_reset_recreates_watches_in_order_from_their_next_revision() -> None:
    mux = make_mux()
    states = [mux.add(spec(b"k%d" % i)) for i in range(3)]
    for _ in states:
        created(mux, 10)
    feed(mux, events(states[1].watch_id or 0, put(b"k1", 12)))
    mux.remove(states[2])
    mux._reset_stream_state()
    starts = []
    for _ in range(2):
        request, _ = mux._next_request()
        assert request is not None
        assert request.create_request is not None
        starts.append((request.create_request.key, request.create_request.start_revision))
        feed(
            mux,
            pb.WatchResponse(
                header=hdr(20), watch_id=request.create_request.watch_id, created=True
            ),
        )
    assert starts == [(b"k0", 11), (b"k1", 13)]
    assert mux._next_request() == (None, [])


async def test_close_fails_every_watch_with_client_closed() -> None:
    mux = make_mux()
    state = mux.add(spec())
    created(mux)
    watch = handle(mux, state)
    mux.close()
    with pytest.raises(aetcd.ClientClosedError):
        await watch.__anext__()
    with pytest.raises(aetcd.ClientClosedError):
        mux.add(spec())


async def test_cancel_stops_iteration_and_cancels_on_the_server() -> None:
    mux = make_mux()
    state = mux.add(spec())
    wid = created(mux)
    watch = handle(mux, state)
    await watch.cancel()
    with pytest.raises(StopAsyncIteration):
        await watch.__anext__()
    request, _ = mux._next_request()
    assert request is not None
    assert request.cancel_request is not None
    assert request.cancel_request.watch_id == wid


async def test_owner_leaving_during_create_cancels_the_created_watch() -> None:
    mux = make_mux()
    state = mux.add(spec())
    request, _ = mux._next_request()
    assert request is not None
    assert request.create_request is not None
    mux.remove(state)
    wid = request.create_request.watch_id
    feed(mux, pb.WatchResponse(header=hdr(10), watch_id=wid, created=True))
    cancel, _ = mux._next_request()
    assert cancel is not None
    assert cancel.cancel_request is not None
    assert cancel.cancel_request.watch_id == wid


async def test_signal_wakes_every_waiter() -> None:
    mux = make_mux()
    state = mux.add(spec())
    wid = created(mux)
    watch = handle(mux, state)
    got: list[int] = []

    async def consume() -> None:
        got.append((await watch.__anext__()).events[0].kv.mod_revision)

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.sleep(0.01)
            feed(mux, events(wid, put(b"k", 11)))
    assert got == [11]
