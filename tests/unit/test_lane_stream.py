"""Long-lived streams on the fast lane (`LaneStream`) against h2's server state machine.

See tests/h2wire.py: the server enforces flow control and HPACK the way etcd's Go
server does, so these tests fail on any frame the lane gets wrong.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from grpclib.exceptions import GRPCError, StreamTerminatedError
from h2.events import DataReceived, RequestReceived, StreamEnded, StreamReset
from h2.settings import SettingCodes
from h2wire import Wire

from aetcd._transport._lane_stream import LaneStream
from aetcd._transport._unary import fixed_headers

_PATH = "/etcdserverpb.Watch/Watch"


class _Bytes:
    """A reply type whose messages stay bytes."""

    @staticmethod
    def parse(data: bytes) -> bytes:
        return bytes(data)


def _framed(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(4, "big") + message


async def _open(wire: Wire, **extra: str) -> LaneStream[bytes]:
    stream: LaneStream[bytes] = LaneStream(
        wire.lane, fixed_headers("http", "etcd:2379", _PATH), tuple(extra.items()), _Bytes
    )
    await stream.__aenter__()
    await stream.send_request()
    return stream


async def _opened() -> tuple[Wire, LaneStream[bytes]]:
    """A lane stream whose request the server has read."""
    wire = Wire()
    await wire.handshake()
    stream = await _open(wire)
    await wire.to_server()
    return wire, stream


def _respond(wire: Wire, stream_id: int) -> None:
    wire.server.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc")])


async def _recv(stream: LaneStream[bytes]) -> bytes | None:
    return await asyncio.wait_for(stream.recv_message(), 1.0)


async def test_messages_both_ways_whole_batched_and_split_across_frames() -> None:
    wire = Wire()
    await wire.handshake()
    stream = await _open(wire, hasleader="true", token="abc")
    await stream.send_message(b"create")
    await stream.send_message(b"progress")
    events = await wire.to_server()
    request = next(e for e in events if isinstance(e, RequestReceived))
    assert request.stream_id == stream.id
    assert dict(request.headers)[":path"] == _PATH
    assert ("hasleader", "true") in request.headers
    assert ("token", "abc") in request.headers
    assert not any(isinstance(e, StreamEnded) for e in events)  # the stream stays open
    sent = b"".join(e.data for e in events if isinstance(e, DataReceived))
    assert sent == _framed(b"create") + _framed(b"progress")

    _respond(wire, stream.id)
    wire.server.send_data(stream.id, _framed(b"one") + _framed(b"two"))  # two in a frame
    wire.server.send_data(stream.id, _framed(b"three" * 1000))
    wire.to_client(chunk=7)  # and every message split across many reads
    assert [await _recv(stream) for _ in range(3)] == [b"one", b"two", b"three" * 1000]

    wire.server.send_headers(stream.id, [("grpc-status", "0")], end_stream=True)
    wire.to_client()
    assert await _recv(stream) is None
    await stream.end()
    await stream.recv_trailing_metadata()
    await stream.__aexit__(None, None, None)
    assert not any(isinstance(e, StreamReset) for e in await wire.to_server())
    assert not wire.lane.streaming


async def test_error_status_in_trailers_after_messages() -> None:
    wire, stream = await _opened()
    _respond(wire, stream.id)
    wire.server.send_data(stream.id, _framed(b"event"))
    wire.server.send_headers(
        stream.id,
        [("grpc-status", "16"), ("grpc-message", "etcdserver: invalid auth token")],
        end_stream=True,
    )
    wire.to_client()
    assert await _recv(stream) == b"event"  # what arrived before the end is delivered
    assert await _recv(stream) is None
    await stream.end()
    with pytest.raises(GRPCError) as info:
        await stream.recv_trailing_metadata()
    assert info.value.status.value == 16
    assert info.value.message == "etcdserver: invalid auth token"


async def test_trailers_only_error_fails_the_first_receive() -> None:
    wire, stream = await _opened()
    wire.server.send_headers(
        stream.id,
        [
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", "14"),
            ("grpc-message", "etcdserver: no leader"),
        ],
        end_stream=True,
    )
    wire.to_client()
    with pytest.raises(GRPCError) as info:
        await _recv(stream)
    assert info.value.status.value == 14


async def test_reset_by_the_server_after_delivering_what_arrived() -> None:
    wire, stream = await _opened()
    _respond(wire, stream.id)
    wire.server.send_data(stream.id, _framed(b"last"))
    wire.server.reset_stream(stream.id, error_code=8)
    wire.to_client()
    assert await _recv(stream) == b"last"
    # The wording the watch loop reads to tell a stream reset from a lost connection.
    with pytest.raises(
        StreamTerminatedError, match=r"^Stream reset by remote party, error_code: 8"
    ):
        await _recv(stream)
    with pytest.raises(StreamTerminatedError):
        await stream.send_message(b"more")
    assert not wire.lane.streaming


async def test_a_waiting_reader_fails_when_the_connection_is_lost() -> None:
    wire, stream = await _opened()
    _respond(wire, stream.id)
    wire.to_client()
    reader = asyncio.ensure_future(stream.recv_message())
    await asyncio.sleep(0)
    assert not reader.done()
    wire.protocol.connection_lost(None)
    with pytest.raises(StreamTerminatedError, match="Connection lost"):
        await asyncio.wait_for(reader, 1.0)


async def test_sending_waits_for_the_servers_stream_window() -> None:
    wire = Wire()
    # The server reads slowly: a 100-byte window per stream.
    wire.server.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 100})
    await wire.handshake()
    stream = await _open(wire)
    message = bytes(range(250))
    sending = asyncio.ensure_future(stream.send_message(message))
    received = b""
    for _ in range(10):
        await asyncio.sleep(0)
        # h2 raises FlowControlError if the client sends past the window.
        for event in await wire.to_server():
            if isinstance(event, DataReceived):
                received += event.data
                wire.server.acknowledge_received_data(event.flow_controlled_length, stream.id)
        wire.to_client()
        if sending.done():
            break
    assert sending.done()
    await sending
    assert received == _framed(message)


async def test_leaving_with_an_error_resets_the_stream_and_late_frames_are_absorbed() -> None:
    wire, stream = await _opened()
    # The server answers, with headers it indexes, before it sees the reset.
    wire.server.send_headers(
        stream.id, [(":status", "200"), ("content-type", "application/grpc"), ("x-i", "v")]
    )
    wire.server.send_data(stream.id, _framed(b"late"))
    with pytest.raises(RuntimeError):
        async with stream:
            raise RuntimeError("a watch loop failed")
    late = wire.server.data_to_send()
    events = await wire.to_server()
    assert any(isinstance(e, StreamReset) and e.stream_id == stream.id for e in events)
    wire.protocol.data_received(late)
    # HPACK stays in step: a new stream decodes the indexed header.
    again = await _open(wire)
    await wire.to_server()
    wire.server.send_headers(
        again.id, [(":status", "200"), ("content-type", "application/grpc"), ("x-i", "v")]
    )
    wire.server.send_data(again.id, _framed(b"fresh"))
    wire.to_client()
    assert await _recv(again) == b"fresh"
    assert ("x-i", "v") in (again.headers or [])


async def test_large_replies_are_credited_back_as_they_arrive() -> None:
    wire, stream = await _opened()
    _respond(wire, stream.id)
    message = bytes(range(256)) * 1000
    framed = _framed(message) * 3  # several times the 64 KiB receive windows
    await wire.send_within_window(stream.id, framed)
    assert [await _recv(stream) for _ in range(3)] == [message] * 3


async def test_keepalive_pings_while_only_a_lane_stream_is_open() -> None:
    # grpclib pings only for its own open streams; an idle watch on the lane must
    # still be pinged, or a dead member goes unnoticed.
    wire = Wire(keepalive_time=10.0)
    await wire.handshake()
    connection: Any = wire.protocol.connection
    assert not connection._is_need_send_ping()
    stream = await _open(wire)
    assert connection._is_need_send_ping()
    connection.last_ping_sent = time.monotonic()  # the rate limit still applies
    assert not connection._is_need_send_ping()
    connection.last_ping_sent = None
    await stream.cancel()
    assert not connection._is_need_send_ping()
