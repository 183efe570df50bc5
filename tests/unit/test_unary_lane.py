"""The unary fast lane against a real h2 server-side connection (no network).

The client side is our real grpclib-based protocol (`_H2Protocol` with its `UnaryLane`);
the server side is h2's own state machine, which encodes headers with HPACK indexing,
splits large header blocks into CONTINUATION frames and enforces flow control: what a
Go server does on the wire, driven byte by byte.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import hpack
import pytest
from grpclib.exceptions import GRPCError, StreamTerminatedError
from h2.events import (
    DataReceived,
    PingAckReceived,
    RequestReceived,
    StreamEnded,
)
from h2wire import Wire
from hypothesis import given
from hypothesis import strategies as st

from aetcd._transport._transport import _watchdog
from aetcd._transport._unary import encode_timeout, fixed_headers, header_block


async def test_request_headers_and_message_reach_the_server() -> None:
    wire = Wire()
    await wire.handshake()
    stream = wire.send(b"\x0a\x03key", **{"grpc-timeout": "5100m", "token": "abc.def"})
    events = await wire.to_server()
    request = next(e for e in events if isinstance(e, RequestReceived))
    assert request.stream_id == stream.id
    assert list(request.headers) == [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/etcdserverpb.KV/Range"),
        (":authority", "etcd:2379"),
        ("te", "trailers"),
        ("content-type", "application/grpc"),
        ("user-agent", list(request.headers)[6][1]),
        ("grpc-timeout", "5100m"),
        ("token", "abc.def"),
    ]
    assert list(request.headers)[6][1].startswith("grpc-python-grpclib")
    data = b"".join(e.data for e in events if isinstance(e, DataReceived))
    assert data == b"\x00\x00\x00\x00\x05\x0a\x03key"
    assert any(isinstance(e, StreamEnded) for e in events)


async def test_replies_byte_by_byte_with_indexed_headers() -> None:
    wire = Wire()
    await wire.handshake()
    for i in range(3):
        # The server indexes content-type etc. in its HPACK table on the first reply and
        # refers to it afterwards: the client's decoder must follow.
        stream = wire.send()
        await wire.to_server()
        wire.reply(stream.id, b"reply %d" % i)
        wire.to_client(chunk=1)
        await stream.future
        assert stream.reply() == b"reply %d" % i
        wire.lane.finish(stream)
    assert wire.transport.take() == b""  # no reset for a stream that ended


async def test_large_reply_is_credited_back_so_it_does_not_stall() -> None:
    wire = Wire()
    await wire.handshake()
    message = bytes(range(256)) * 1200  # 300 KiB: several times both receive windows
    stream = wire.send()
    await wire.to_server()
    framed = b"\x00" + len(message).to_bytes(4, "big") + message
    wire.server.send_headers(stream.id, [(":status", "200"), ("content-type", "application/grpc")])
    await wire.send_within_window(stream.id, framed)
    wire.server.send_headers(stream.id, [("grpc-status", "0")], end_stream=True)
    wire.to_client()
    await stream.future
    assert stream.reply() == message


async def test_error_in_trailers_only_reply_with_continuation_frames() -> None:
    wire = Wire()
    await wire.handshake()
    stream = wire.send()
    await wire.to_server()
    # A header block larger than a frame: h2 sends HEADERS + CONTINUATION.
    long_message = "etcdserver: " + "x" * 40_000
    wire.server.send_headers(
        stream.id,
        [
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", "9"),
            ("grpc-message", long_message),
        ],
        end_stream=True,
    )
    wire.to_client(chunk=7000)
    await stream.future
    with pytest.raises(GRPCError) as info:
        stream.reply()
    assert info.value.status.value == 9
    assert info.value.message == long_message


async def test_reset_by_the_server_fails_only_that_call() -> None:
    wire = Wire()
    await wire.handshake()
    first, second = wire.send(), wire.send()
    await wire.to_server()
    wire.server.reset_stream(first.id, error_code=2)
    wire.reply(second.id, b"ok")
    wire.to_client()
    with pytest.raises(StreamTerminatedError, match="error_code: 2"):
        await first.future
    await second.future
    assert second.reply() == b"ok"


async def test_abandoned_call_is_reset_and_its_late_frames_keep_hpack_in_step() -> None:
    wire = Wire()
    await wire.handshake()
    abandoned = wire.send()
    await wire.to_server()
    wire.lane.finish(abandoned)  # the caller gave up (deadline, cancellation)
    # The server had already answered, before it saw the reset: with headers that
    # enter its HPACK table.
    wire.reply(abandoned.id, b"late", headers=[("x-indexed", "value")])
    wire.to_client()
    await asyncio.sleep(0)
    rst_stream_cancel = (
        b"\x00\x00\x04\x03\x00" + abandoned.id.to_bytes(4, "big") + b"\x00\x00\x00\x08"
    )
    assert rst_stream_cancel in wire.transport.written
    await wire.to_server()
    later = wire.send()
    await wire.to_server()
    wire.reply(later.id, b"fine", headers=[("x-indexed", "value")])
    wire.to_client()
    await later.future
    assert later.reply() == b"fine"
    assert ("x-indexed", "value") in later.headers
    assert not abandoned.future.done()


async def test_other_frames_still_reach_h2_in_order() -> None:
    wire = Wire()
    await wire.handshake()
    stream = wire.send()
    await wire.to_server()
    wire.server.send_headers(stream.id, [(":status", "200"), ("content-type", "application/grpc")])
    wire.server.ping(b"12345678")  # between the lane's frames
    wire.server.send_data(stream.id, b"\x00\x00\x00\x00\x02hi")
    wire.server.send_headers(stream.id, [("grpc-status", "0")], end_stream=True)
    wire.to_client(chunk=5)
    await stream.future
    assert stream.reply() == b"hi"
    events = await wire.to_server()
    assert any(isinstance(e, PingAckReceived) for e in events)


async def test_lost_connection_fails_waiting_calls() -> None:
    wire = Wire()
    await wire.handshake()
    stream = wire.send()
    wire.protocol.connection_lost(None)
    with pytest.raises(StreamTerminatedError, match="Connection lost"):
        await stream.future
    with pytest.raises(StreamTerminatedError):
        wire.send()


async def test_request_too_large_for_one_frame_takes_the_full_path() -> None:
    wire = Wire()
    await wire.handshake()
    assert wire.lane.send(fixed_headers("http", "a:1", "/p"), (), b"x" * 20_000) is None
    assert wire.transport.take() == b""


@given(
    st.lists(
        st.tuples(
            st.sampled_from([":path", ":authority", "content-type", "user-agent", "te", "token"])
            | st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=300),
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=300),
        ),
        max_size=8,
    )
)
def test_header_block_decodes_to_the_headers_and_leaves_the_table_alone(
    headers: list[tuple[str, str]],
) -> None:
    decoder = hpack.Decoder()
    assert [tuple(h) for h in decoder.decode(header_block(headers), raw=False)] == headers
    assert len(decoder.header_table.dynamic_entries) == 0


@pytest.mark.parametrize(
    ("seconds", "encoded"),
    [
        (0.0004, "100m"),
        (0.1, "200m"),
        (4.99, "5000m"),
        (5.0, "5100m"),
        (10.0, "10100m"),
        (61.5, "62S"),
    ],
)
def test_timeout_is_rounded_up(seconds: float, encoded: str) -> None:
    assert encode_timeout(seconds) == encoded


class _Probed:
    def __init__(self, wanted: int = 0) -> None:
        self.at: list[float] = []
        self.enough = asyncio.Event()
        self._wanted = wanted

    def probe(self) -> None:
        self.at.append(time.monotonic())
        if len(self.at) == self._wanted:
            self.enough.set()


async def test_watchdog_probes_every_interval_then_fails_the_call_at_its_deadline() -> None:
    wire = Wire()
    await wire.handshake()
    stream = wire.send()
    conn = _Probed()
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + 0.5
    stream.timer = loop.call_later(0.05, _watchdog, conn, stream, deadline, 0.1)
    with pytest.raises(TimeoutError):
        await stream.future
    assert time.monotonic() >= deadline
    assert conn.at, "no probe before the deadline"
    # (A timer may fire up to the clock's resolution early.)
    assert all(b - a >= 0.099 for a, b in itertools.pairwise(conn.at))
    assert all(t < deadline for t in conn.at)


async def test_watchdog_keeps_probing_a_call_without_deadline() -> None:
    wire = Wire()
    await wire.handshake()
    stream = wire.send()
    conn = _Probed(wanted=3)
    loop = asyncio.get_running_loop()
    stream.timer = loop.call_later(0, _watchdog, conn, stream, None, 0.02)
    await asyncio.wait_for(conn.enough.wait(), 10)
    stream.timer.cancel()
    assert not stream.future.done()


async def test_cached_header_decoding_follows_the_servers_table() -> None:
    # The same header block bytes mean different headers once the server has changed
    # its HPACK table: "dynamic entry 62" is whatever was added last. With room for one
    # entry only, the table's length stays the same while its content changes.
    wire = Wire()
    await wire.handshake()
    wire.server.encoder.header_table_size = 40
    fixed = [(":status", "200"), hpack.NeverIndexedHeaderTuple("content-type", "application/grpc")]
    blocks, seen = [], []
    for extra in [("x-a", "1"), ("x-a", "1"), ("x-b", "2"), ("x-b", "2"), ("x-a", "1")]:
        stream = wire.send()
        await wire.to_server()
        wire.server.send_headers(stream.id, [*fixed, extra])
        blocks.append(wire.server.data_to_send())
        wire.server.send_data(stream.id, b"\x00\x00\x00\x00\x00")
        wire.server.send_headers(
            stream.id, [hpack.NeverIndexedHeaderTuple("grpc-status", "0")], end_stream=True
        )
        wire.protocol.data_received(blocks[-1])
        wire.to_client()
        await stream.future
        seen.append(tuple(stream.headers[-1]))
        assert stream.reply() == b""
        wire.lane.finish(stream)
    assert blocks[1][9:] == blocks[3][9:]  # the same bytes, ...
    assert seen == [("x-a", "1"), ("x-a", "1"), ("x-b", "2"), ("x-b", "2"), ("x-a", "1")]


# One frame each: four such calls fill the 64 KiB connection send window.
FRAME = b"x" * 16_000


async def window_filled() -> tuple[Wire, list[Any]]:
    """A lane whose connection send window four calls of one `FRAME` each used up,
    and their streams."""
    wire = Wire()
    await wire.handshake()
    return wire, [wire.send(FRAME) for _ in range(4)]


async def test_calls_wait_in_the_lane_for_the_connections_send_window() -> None:
    wire, first = await window_filled()
    assert wire.lane.window_short(FRAME)

    async def fifth() -> Any:
        reserved = await wire.lane.wait_for_window(FRAME, None)
        return wire.send(FRAME, reserved)

    waiting = asyncio.create_task(fifth())
    events = await wire.to_server()
    assert not waiting.done()
    assert wire.lane.window_short(b"")  # later calls queue behind the waiting one
    # The server reads what it was sent and gives the window back.
    for stream in first:
        wire.server.acknowledge_received_data(16_005, stream.id)
    wire.to_client()
    stream = await asyncio.wait_for(waiting, 5)
    assert stream is not None  # sent on the lane, not handed to grpclib's stream
    assert not wire.lane.window_short(b"")
    events = await wire.to_server()
    assert sum(len(e.data) for e in events if isinstance(e, DataReceived)) == 16_005


async def test_calls_waiting_for_the_window_fail_when_the_connection_is_lost() -> None:
    wire, _ = await window_filled()
    waiting = asyncio.create_task(wire.lane.wait_for_window(FRAME, None))
    await asyncio.sleep(0)
    wire.protocol.connection_lost(None)
    with pytest.raises(StreamTerminatedError):
        await waiting


async def test_requests_larger_than_a_frame_never_wait_for_the_window() -> None:
    # They go grpclib's way, which splits them into frames as the window allows; waiting
    # for a window that takes them whole could wait forever.
    wire, _ = await window_filled()
    assert not wire.lane.window_short(b"x" * 100_000)


async def test_a_woken_call_that_gives_up_passes_its_window_on() -> None:
    # Four calls fill the window; four more wait. The server gives back enough for three
    # of them; the first of those is cancelled before it could send: the bytes it was
    # promised must go to the fourth waiter, with no further frame from the server.
    wire, first = await window_filled()
    sent: list[Any] = []

    async def call() -> None:
        reserved = await wire.lane.wait_for_window(FRAME, None)
        sent.append(wire.send(FRAME, reserved))

    waiting = [asyncio.create_task(call()) for _ in range(4)]
    await wire.to_server()
    for stream in first[:3]:
        wire.server.acknowledge_received_data(16_005, stream.id)
    wire.to_client()  # wakes the first three waiters
    waiting[0].cancel()
    await asyncio.wait_for(asyncio.gather(*waiting[1:]), 5)
    assert len(sent) == 3
    assert None not in sent


async def test_waiting_for_the_window_ends_at_the_deadline() -> None:
    wire, _ = await window_filled()
    with pytest.raises(TimeoutError):
        await wire.lane.wait_for_window(FRAME, time.monotonic() + 0.05)
    assert not wire.lane.window_short(b"")  # it left the queue
