"""The unary call's fast lane, beside grpclib's streams on the same HTTP/2 connection.

Profiling `make bench` showed where a unary call's client CPU went: grpclib's general
`Stream` (a task-bound `Wrapper` with an `asyncio.current_task()` per step, several
`asyncio.Event`s, a `Queue` per DATA frame, an anyio cancel scope for the deadline), and
h2's per-frame machinery: HPACK-encoding the same request headers every time, header
validation, a stream state machine, event objects, and a `repr()` of every received
frame for a trace log nobody reads. Together they cost several times what etcd itself
took to answer.

A unary call needs little of that: one HEADERS frame and one DATA frame out, in one
write; HEADERS, DATA and trailers back, delivered to one future. `UnaryLane` does just
that for the calls of one connection:

* Request headers are HPACK-encoded once per RPC path as literals that never enter the
  server's dynamic table (`header_block`), so a block does not depend on what was sent
  before and can be cached and written in any order relative to h2's own frames.
* Incoming frames are demultiplexed by stream: frames of lane streams are handled
  here, everything else (SETTINGS, PING, GOAWAY, the watch and keep-alive streams) goes
  to h2 and grpclib unchanged, in order. Response headers are decoded with h2's own
  HPACK decoder, so its dynamic table stays in step with the server's encoder.
* h2 is told what it must know: the stream ids the lane uses (so it never reuses one)
  and the connection send window the lane's DATA consumed. Receive windows are credited
  back by the lane for the bytes it consumed, and by h2 for the rest.

Calls that do not fit (a request larger than the peer's frame size or window, the
peer's stream limit reached, writing paused) take grpclib's full `Stream` instead.

The lane also carries long-lived streams (`_lane_stream.LaneStream`: watch and lease
keep-alive): their frames are demultiplexed the same way, their DATA is sent within
the stream's and the connection's send windows, and while one is open the
connection's keepalive pings as it would for a grpclib stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from grpclib.metadata import USER_AGENT, decode_grpc_message
from grpclib.protocol import Connection, H2Protocol
from h2.connection import H2Connection

if TYPE_CHECKING:
    from ._lane_stream import LaneStream

__all__ = [
    "UnaryLane",
    "UnaryStream",
    "check_response_headers",
    "check_status",
    "encode_timeout",
    "fixed_headers",
    "header_block",
]

# HTTP/2 frame types and flags (RFC 9113 §6).
_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _WINDOW_UPDATE, _CONTINUATION = 0, 1, 2, 3, 8, 9
_LANE_FRAME_TYPES = frozenset(
    (_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _WINDOW_UPDATE, _CONTINUATION)
)
_END_STREAM, _END_HEADERS, _PADDED, _PRIORITY_FLAG = 0x1, 0x4, 0x8, 0x20
_CANCEL = 0x8  # RST_STREAM error code
# Receive-window credit is returned once this many bytes were consumed: small enough
# that neither the stream's (at least 64 KiB) nor the connection's window ever runs dry.
_CREDIT_AFTER = 32 * 1024
# Stream ids the lane gave up on (reset by us) whose frames may still arrive; their
# header blocks must still be decoded to keep HPACK in step. Oldest forgotten past this.
_MAX_ABANDONED = 4096

# The HTTP status codes gRPC maps to a status when a proxy or a non-gRPC server answers
# (gRPC's "HTTP to gRPC status code mapping").
_HTTP_TO_GRPC = {
    "400": Status.INTERNAL,
    "401": Status.UNAUTHENTICATED,
    "403": Status.PERMISSION_DENIED,
    "404": Status.UNIMPLEMENTED,
    "429": Status.UNAVAILABLE,
    "502": Status.UNAVAILABLE,
    "503": Status.UNAVAILABLE,
    "504": Status.UNAVAILABLE,
}
_STATUSES = {s.value: s for s in Status}


def _frame_header(length: int, frame_type: int, flags: int, stream_id: int) -> bytes:
    return length.to_bytes(3, "big") + bytes((frame_type, flags)) + stream_id.to_bytes(4, "big")


def _hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    # HPACK integer representation (RFC 7541 §5.1).
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_str(value: str) -> bytes:
    raw = value.encode("ascii")
    return _hpack_int(len(raw), 7) + raw  # no Huffman coding


# Static table indexes (RFC 7541 appendix A) of the names and pairs we send.
_STATIC_NAMES = {":authority": 1, ":path": 4, "content-type": 31, "user-agent": 58}
_STATIC_PAIRS = {(":method", "POST"): 3, (":scheme", "http"): 6, (":scheme", "https"): 7}


def header_block(headers: Sequence[tuple[str, str]]) -> bytes:
    """HPACK block for `headers` that leaves the decoder's dynamic table untouched:
    static-table references and literals "without indexing" (RFC 7541 §6.2.2)."""
    out = bytearray()
    for name, value in headers:
        pair = _STATIC_PAIRS.get((name, value))
        if pair is not None:
            out += _hpack_int(pair, 7, 0x80)
            continue
        index = _STATIC_NAMES.get(name)
        if index is not None:
            out += _hpack_int(index, 4)
        else:
            out += b"\x00" + _hpack_str(name)
        out += _hpack_str(value)
    return bytes(out)


def fixed_headers(scheme: str, authority: str, path: str) -> bytes:
    """The HPACK block of the headers every call to `path` sends."""
    return header_block(
        [
            (":method", "POST"),
            (":scheme", scheme),
            (":path", path),
            (":authority", authority),
            ("te", "trailers"),
            ("content-type", "application/grpc"),
            ("user-agent", USER_AGENT),
        ]
    )


def encode_timeout(seconds: float) -> str:
    """`grpc-timeout` for `seconds`, rounded *up* to 100 ms (whole seconds above 10 s).

    It only tells the server when to give up; the client enforces the exact deadline.
    """
    if seconds > 10:
        return f"{int(seconds) + 1}S"
    return f"{(int(seconds * 10) + 1) * 100}m"


class UnaryStream:
    """One unary call's HTTP/2 stream: filled by `UnaryLane`, completing `future` when
    the stream ends (or fails with `StreamTerminatedError`)."""

    unary = True  # see LaneStream

    __slots__ = (
        "chunks",
        "future",
        "header_map",
        "headers",
        "id",
        "timer",
        "trailer_map",
        "trailers",
        "unacked",
    )

    def __init__(self, stream_id: int, future: asyncio.Future[None]) -> None:
        self.id = stream_id
        self.future = future
        self.chunks: list[bytes] = []
        self.headers: list[tuple[str, str]] | None = None
        self.trailers: list[tuple[str, str]] | None = None
        self.header_map: dict[str, str] = {}
        self.trailer_map: dict[str, str] = {}
        self.unacked = 0
        # The call's one timer (probe, then deadline); set and cancelled by the caller.
        self.timer: asyncio.TimerHandle | None = None

    def reply(self) -> bytes:
        """The reply message, or the call's error as `GRPCError`."""
        headers = self.header_map
        check_response_headers(headers)
        # A reply without a message carries its status in the headers ("trailers-only").
        check_status(headers if "grpc-status" in headers else self.trailer_map)
        chunks = self.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if len(body) < 5:
            raise StreamTerminatedError("no reply message")
        if body[0]:
            raise GRPCError(Status.INTERNAL, "compressed replies are not supported")
        size = int.from_bytes(body[1:5], "big")
        if len(body) != 5 + size:
            raise GRPCError(
                Status.INTERNAL, f"reply framing: {len(body) - 5} bytes for a message of {size}"
            )
        return body[5:]

    def fail(self, reason: str) -> None:
        if not self.future.done():
            self.future.set_exception(StreamTerminatedError(reason))


def check_response_headers(headers: dict[str, str]) -> None:
    """Raise `GRPCError` unless `headers` open a gRPC reply (HTTP 200, gRPC content)."""
    http_status = headers.get(":status")
    if http_status != "200":
        if http_status is None:
            raise StreamTerminatedError("the stream ended without response headers")
        raise GRPCError(
            _HTTP_TO_GRPC.get(http_status, Status.UNKNOWN),
            f"Received :status = {http_status!r}",
        )
    content_type = headers.get("content-type", "")
    if not content_type.startswith("application/grpc"):
        raise GRPCError(Status.UNKNOWN, f"Invalid content-type: {content_type!r}")


def check_status(trailers: dict[str, str]) -> None:
    """Raise `GRPCError` unless `trailers` carry `grpc-status` OK."""
    raw_status = trailers.get("grpc-status")
    if raw_status is None:
        raise GRPCError(Status.UNKNOWN, "Missing grpc-status header")
    status = _STATUSES.get(int(raw_status)) if raw_status.isdigit() else None
    if status is None:
        raise GRPCError(Status.UNKNOWN, f"Invalid grpc-status: {raw_status!r}")
    if status is not Status.OK:
        message = trailers.get("grpc-message")
        raise GRPCError(status, None if message is None else decode_grpc_message(message))


class UnaryLane:
    """The fast unary calls of one HTTP/2 connection (see the module docstring).

    `protocol` is grpclib's protocol for the connection; `feed_h2` hands it the frames
    that are not the lane's (its original `data_received`).
    """

    def __init__(self, protocol: H2Protocol, feed_h2: Callable[[bytes], None]) -> None:
        self._protocol = protocol
        self._h2_data_received = feed_h2
        self._streams: dict[int, UnaryStream | LaneStream[Any]] = {}
        # The open long-lived streams (watch, keep-alive) and those of them waiting
        # for send window.
        self._long: set[LaneStream[Any]] = set()
        self._blocked: set[LaneStream[Any]] = set()
        self._abandoned: dict[int, None] = {}  # insertion-ordered set
        self._partial = b""
        # A header block continued in CONTINUATION frames: (stream id, block, END_STREAM).
        self._continued: tuple[int, bytearray, bool] | None = None
        self._unacked = 0  # connection-level bytes consumed, not yet credited back
        self._closed_reason: str | None = None
        # HPACK blocks of the per-call headers (grpc-timeout, token, hasleader): they
        # take few distinct values.
        self._blocks: dict[tuple[tuple[str, str], ...], bytes] = {}
        # Calls waiting for the connection's send window (see wait_for_window), in order.
        self._window_waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._reserved = 0  # window promised to woken waiters that have not sent yet
        # Decoded response header blocks, see _decode.
        self._decoded: dict[
            bytes, tuple[Any, int, int, tuple[list[tuple[str, str]], dict[str, str]]]
        ] = {}

    # -- sending -----------------------------------------------------------------

    def window_short(self, data: bytes) -> bool:
        """Whether a call with `data` must first wait for the connection's send window
        (`wait_for_window`): what is left of it (less what woken calls are about to
        send) is smaller than the request, or other calls already wait.

        The server's window for the whole connection (64 KiB from etcd) is shared by
        every call in flight; with a few hundred puts in flight it runs out until etcd
        has read what was sent. Waiting keeps those calls in the lane; grpclib's stream
        would wait the same way, at several times the cost per call."""
        h2 = self._protocol.connection._connection
        size = len(data) + 5
        if not _fits_one_frame(h2, size):
            return False  # never sent on the lane: grpclib's stream splits it
        return bool(self._window_waiters) or (
            size > h2.outbound_flow_control_window - self._reserved
        )

    async def wait_for_window(self, data: bytes, deadline: float | None) -> int:
        """Wait, in turn, until the connection's send window takes `data`; raises
        `TimeoutError` at `deadline` (a `time.monotonic()` value). Returns the bytes
        reserved for the call, to be passed to `send` right away (no suspension in
        between)."""
        size = len(data) + 5
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (size, future)
        self._window_waiters.append(entry)
        timer = None
        if deadline is not None:
            timer = loop.call_later(max(deadline - time.monotonic(), 0.0), _time_out, future)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled() and future.exception() is None:
                self._reserved -= size  # woken, then cancelled before sending
            else:
                with contextlib.suppress(ValueError):
                    self._window_waiters.remove(entry)
            # Leaving may let the calls behind go.
            self._wake_window_waiters()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return size

    def _wake_window_waiters(self) -> None:
        # Let the waiting calls that the window now covers go, oldest first. A woken
        # call's bytes stay reserved until it has sent them (`send`), so that neither
        # a newcomer nor the next waiter is promised the same bytes.
        available = self._protocol.connection._connection.outbound_flow_control_window
        available -= self._reserved
        waiters = self._window_waiters
        while waiters:
            size, future = waiters[0]
            if future.done():
                waiters.popleft()
                continue
            if size > available:
                break
            waiters.popleft()
            available -= size
            self._reserved += size
            future.set_result(None)

    def send(
        self,
        fixed: bytes,
        extra: tuple[tuple[str, str], ...],
        data: bytes,
        reserved: int = 0,
    ) -> UnaryStream | None:
        """Open a stream and send the call in one write. None when the call must take
        grpclib's full path instead. `reserved`: what `wait_for_window` returned."""
        self._reserved -= reserved
        connection = self._open_connection()
        h2 = connection._connection
        block = self._block(fixed, extra)
        size = len(data) + 5
        if (
            not _fits_one_frame(h2, size)
            or len(block) > h2.max_outbound_frame_size
            or size > h2.outbound_flow_control_window
            or not self._stream_slot_free(h2)
            or not connection.write_ready.is_set()
        ):
            return None
        stream_id = h2.get_next_available_stream_id()
        # h2 must never hand out this id again, and the server's send window for the
        # connection now covers our DATA too.
        h2.highest_outbound_stream_id = stream_id
        h2.outbound_flow_control_window -= size
        stream = UnaryStream(stream_id, asyncio.get_running_loop().create_future())
        self._streams[stream_id] = stream
        connection.flush()  # anything h2 has queued goes first
        connection._transport.write(
            _frame_header(len(block), _HEADERS, _END_HEADERS, stream_id)
            + block
            + _frame_header(size, _DATA, _END_STREAM, stream_id)
            + b"\x00"
            + len(data).to_bytes(4, "big")
            + data
        )
        connection.data_send_process()
        if self._window_waiters:
            self._wake_window_waiters()
        return stream

    def _open_connection(self) -> Connection:
        """grpclib's connection, or `StreamTerminatedError` if it is gone or going."""
        connection = self._protocol.connection
        if self._closed_reason is not None or connection.is_closing():
            raise StreamTerminatedError(self._closed_reason or "the connection is closing")
        return connection

    def _stream_slot_free(self, h2: H2Connection) -> bool:
        # The server's limit counts the lane's streams and grpclib's alike.
        return len(self._streams) + len(h2.streams) < h2.remote_settings.max_concurrent_streams

    def _block(self, fixed: bytes, extra: tuple[tuple[str, str], ...]) -> bytes:
        if not extra:
            return fixed
        tail = self._blocks.get(extra)
        if tail is None:
            if len(self._blocks) >= 64:
                self._blocks.clear()
            tail = self._blocks[extra] = header_block(extra)
        return fixed + tail

    # -- long-lived streams (see _lane_stream) --------------------------------------

    @property
    def streaming(self) -> bool:
        """Whether a long-lived lane stream is open (HTTP/2 keepalive must ping)."""
        return bool(self._long)

    def can_open_stream(self) -> bool:
        """Whether a long-lived stream may be opened now (connection up, the server's
        stream limit not reached)."""
        connection = self._protocol.connection
        return (
            self._closed_reason is None
            and not connection.is_closing()
            and self._stream_slot_free(connection._connection)
        )

    def open_stream(
        self, stream: LaneStream[Any], fixed: bytes, extra: tuple[tuple[str, str], ...]
    ) -> None:
        """Open `stream` on the connection: send its request headers."""
        connection = self._open_connection()
        h2 = connection._connection
        block = self._block(fixed, extra)
        stream_id = h2.get_next_available_stream_id()
        h2.highest_outbound_stream_id = stream_id
        stream.id = stream_id
        self._streams[stream_id] = stream
        self._long.add(stream)
        # A block larger than a frame continues in CONTINUATION frames.
        limit = h2.max_outbound_frame_size
        frames = bytearray()
        frame_type = _HEADERS
        for start in range(0, len(block), limit):
            chunk = block[start : start + limit]
            flags = _END_HEADERS if start + limit >= len(block) else 0
            frames += _frame_header(len(chunk), frame_type, flags, stream_id) + chunk
            frame_type = _CONTINUATION
        connection.flush()
        connection._transport.write(bytes(frames))
        connection.headers_send_process()

    async def send_data(self, stream: LaneStream[Any], payload: bytes, *, end: bool) -> None:
        """Send `payload` on `stream` as DATA frames within the send windows (waiting
        for the server to open them), the last one ending the stream when `end`."""
        pos, n = 0, len(payload)
        while True:
            if stream.error is not None:
                raise stream.error
            if stream.local_ended:
                raise StreamTerminatedError("the stream was already ended")
            connection = self._open_connection()
            h2 = connection._connection
            room = min(
                n - pos,
                h2.max_outbound_frame_size,
                h2.remote_settings.initial_window_size + stream.window_delta,
                h2.outbound_flow_control_window - self._reserved,
            )
            if room <= 0 and pos < n:
                await self._wait_for_stream_window(stream)
                continue
            chunk = payload[pos : pos + room] if room < n else payload
            pos += room
            last = pos >= n
            stream.window_delta -= room
            h2.outbound_flow_control_window -= room
            connection.flush()
            connection._transport.write(
                _frame_header(room, _DATA, _END_STREAM if last and end else 0, stream.id) + chunk
            )
            connection.data_send_process()
            if last:
                if end:
                    stream.local_ended = True
                    if stream.remote_ended:
                        self._release(stream)
                return

    async def _wait_for_stream_window(self, stream: LaneStream[Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stream.window_waiter = future
        self._blocked.add(stream)
        try:
            await future
        finally:
            stream.window_waiter = None
            self._blocked.discard(stream)

    def _wake_blocked(self) -> None:
        for stream in self._blocked:
            waiter = stream.window_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _release(self, stream: UnaryStream | LaneStream[Any]) -> bool:
        # Forget a stream (closed, reset or given up): False if it was already gone.
        if self._streams.pop(stream.id, None) is None:
            return False
        if not stream.unary:
            self._long.discard(cast("LaneStream[Any]", stream))
        self._credit(stream, closed=True)
        return True

    def finish(self, stream: UnaryStream | LaneStream[Any]) -> None:
        """The caller is done with `stream` (answered, failed, cancelled or timed out).
        A stream still open is reset, so the server stops working for nobody, and its
        late frames are still read (HPACK state, flow-control credit)."""
        if not self._release(stream):
            return
        connection = self._protocol.connection
        if self._closed_reason is None and not connection.is_closing():
            self._abandoned[stream.id] = None
            if len(self._abandoned) > _MAX_ABANDONED:
                del self._abandoned[next(iter(self._abandoned))]
            connection.flush()
            connection._transport.write(
                _frame_header(4, _RST_STREAM, 0, stream.id) + _CANCEL.to_bytes(4, "big")
            )

    # -- receiving ---------------------------------------------------------------

    def _feed_h2(self, data: bytes) -> None:
        self._h2_data_received(data)
        # The frames may have opened the connection's send window (WINDOW_UPDATE,
        # SETTINGS).
        if self._window_waiters:
            self._wake_window_waiters()
        if self._blocked:
            self._wake_blocked()

    def feed(self, data: bytes) -> None:
        """Everything the server sent: the lane's frames are handled here, the others
        go to h2/grpclib in their original order and as whole frames (an incomplete
        last frame waits for the rest)."""
        if self._partial:
            data = self._partial + data
            self._partial = b""
        h2 = self._protocol.connection._connection
        max_frame = h2.max_inbound_frame_size
        streams, abandoned = self._streams, self._abandoned
        pos = slow_start = 0
        n = len(data)
        while n - pos >= 9:
            length = int.from_bytes(data[pos : pos + 3], "big")
            if length > max_frame:
                # A protocol error: let h2 see it and close the connection.
                self._feed_h2(data[slow_start:])
                return
            end = pos + 9 + length
            if end > n:
                break
            # Without lane streams (a watch-only connection) every frame is h2's.
            if (streams or abandoned) and data[pos + 3] in _LANE_FRAME_TYPES:
                stream_id = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
                if stream_id in streams or stream_id in abandoned:
                    if slow_start < pos:
                        self._feed_h2(data[slow_start:pos])
                        if self._closed_reason is not None or (
                            self._protocol.connection.is_closing()
                        ):
                            return
                    self._frame(data[pos + 3], data[pos + 4], stream_id, data[pos + 9 : end])
                    slow_start = end
            pos = end
        if slow_start < pos:
            self._feed_h2(data if slow_start == 0 and pos == n else data[slow_start:pos])
        if pos < n:
            self._partial = data[pos:]

    def _frame(self, frame_type: int, flags: int, stream_id: int, payload: bytes) -> None:
        stream = self._streams.get(stream_id)
        if frame_type == _DATA:
            flow_length = len(payload)
            self._unacked += flow_length
            if stream is not None:
                if flags & _PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                if stream.unary:
                    cast(UnaryStream, stream).chunks.append(payload)
                else:
                    cast("LaneStream[Any]", stream).on_data(payload)
                stream.unacked += flow_length
                self._protocol.connection.last_data_received = time.monotonic()
            if self._unacked >= _CREDIT_AFTER or (
                stream is not None and stream.unacked >= _CREDIT_AFTER
            ):
                self._credit(stream)
            if flags & _END_STREAM:
                self._ended(stream_id, stream)
        elif frame_type == _HEADERS:
            if flags & _PADDED:
                payload = payload[1 : len(payload) - payload[0]]
            if flags & _PRIORITY_FLAG:
                payload = payload[5:]
            if flags & _END_HEADERS:
                self._headers(stream_id, stream, payload, bool(flags & _END_STREAM))
            else:
                self._continued = (stream_id, bytearray(payload), bool(flags & _END_STREAM))
        elif frame_type == _CONTINUATION:
            continued = self._continued
            if continued is None or continued[0] != stream_id:
                self._protocol.processor.close("Protocol error")
                return
            continued[1].extend(payload)
            if flags & _END_HEADERS:
                self._continued = None
                self._headers(stream_id, stream, bytes(continued[1]), continued[2])
        elif frame_type == _RST_STREAM:
            self._abandoned.pop(stream_id, None)
            if stream is not None:
                self._release(stream)
                code = int.from_bytes(payload[:4], "big")
                stream.fail(f"Stream reset by remote party, error_code: {code}")
        elif frame_type == _WINDOW_UPDATE and stream is not None and not stream.unary:
            # A unary call's request was sent whole: only long-lived streams wait.
            cast("LaneStream[Any]", stream).window_update(
                int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            )
        # PRIORITY needs nothing: priorities are advisory.

    def _headers(
        self,
        stream_id: int,
        stream: UnaryStream | LaneStream[Any] | None,
        block: bytes,
        end_stream: bool,
    ) -> None:
        try:
            headers, mapping = self._decode(block)
        except Exception:  # hpack.HPACKError and friends: the connection is unusable
            self._protocol.processor.close("Protocol error")
            return
        if stream is not None:
            if stream.headers is None:
                stream.headers, stream.header_map = headers, mapping
            else:
                stream.trailers, stream.trailer_map = headers, mapping
            if not stream.unary:
                cast("LaneStream[Any]", stream).wake()
        if end_stream:
            self._ended(stream_id, stream)

    def _decode(self, block: bytes) -> tuple[list[tuple[str, str]], dict[str, str]]:
        # h2's decoder: its dynamic table must follow every block the server sent. A
        # server answers every call with the same few blocks (indexed `:status`,
        # `content-type`, `grpc-status`, ...), so decoding is cached: a block whose
        # decoding left the table unchanged decodes the same way for as long as the
        # table stays as it was (same newest entry object, size and limit).
        table = self._protocol.connection._connection.decoder.header_table
        entries = table.dynamic_entries
        state = (entries[0] if entries else None, len(entries), table.maxsize)
        cached = self._decoded.get(block)
        if (
            cached is not None
            and cached[0] is state[0]
            and cached[1] == state[1]
            and cached[2] == state[2]
        ):
            return cached[3]
        decoder = self._protocol.connection._connection.decoder
        headers = cast(list[tuple[str, str]], decoder.decode(block, raw=False))
        result = headers, dict(headers)
        if (entries[0] if entries else None) is state[0] and (len(entries), table.maxsize) == (
            state[1],
            state[2],
        ):
            if len(self._decoded) >= 64:
                self._decoded.clear()
            self._decoded[block] = (*state, result)
        return result

    def _ended(self, stream_id: int, stream: UnaryStream | LaneStream[Any] | None) -> None:
        self._abandoned.pop(stream_id, None)
        if stream is not None and not stream.unary:
            long = cast("LaneStream[Any]", stream)
            long.remote_ended = True
            if long.local_ended:
                self._release(long)
            long.wake()
        elif stream is not None:
            stream = cast(UnaryStream, stream)
            self._release(stream)
            if not stream.future.done():
                stream.future.set_result(None)

    def _credit(
        self, stream: UnaryStream | LaneStream[Any] | None, *, closed: bool = False
    ) -> None:
        # Give back receive window for the bytes consumed: the connection's once enough
        # has accumulated, a stream's only while it is open (a reply larger than its
        # window must not stall).
        frames = b""
        if self._unacked >= _CREDIT_AFTER:
            frames += _frame_header(4, _WINDOW_UPDATE, 0, 0) + self._unacked.to_bytes(4, "big")
            self._unacked = 0
        if stream is not None and not closed and stream.unacked >= _CREDIT_AFTER:
            frames += _frame_header(4, _WINDOW_UPDATE, 0, stream.id) + stream.unacked.to_bytes(
                4, "big"
            )
            stream.unacked = 0
        if frames and not self._protocol.connection.is_closing():
            self._protocol.connection._transport.write(frames)

    def close(self, reason: str) -> None:
        """The connection is gone: fail every call still waiting."""
        self._closed_reason = reason
        waiters, self._window_waiters = self._window_waiters, deque()
        for _, future in waiters:
            if not future.done():
                future.set_exception(StreamTerminatedError(reason))
        streams, self._streams = self._streams, {}
        self._long = set()
        for stream in streams.values():
            stream.fail(reason)


def _fits_one_frame(h2: H2Connection, size: int) -> bool:
    # A lane request is one DATA frame, within a new stream's send window.
    return size <= h2.max_outbound_frame_size and size <= h2.remote_settings.initial_window_size


def _time_out(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
