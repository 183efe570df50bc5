"""Long-lived gRPC streams (watch, lease keep-alive) on the fast lane.

A live watch spent about half of its client CPU per event in grpclib's `Stream` and
h2 (per-frame event objects, a stream state machine, a `repr()` of every frame for a
trace log, a task-bound wrapper with `asyncio.current_task()` per message) rather than
in decoding the event. `LaneStream` carries a bidirectional stream on the connection's
`UnaryLane` instead: the lane hands it the stream's frames, it splits the DATA into gRPC
messages and wakes its one reader.

It offers the part of grpclib's client `Stream` that the watch and keep-alive loops
use, with the same errors: `GRPCError` for a status, `StreamTerminatedError` for a
reset stream ("Stream reset by remote party, ...") or a lost connection.

Receive windows are credited as data arrives, not as messages are read: the reader
must keep up on its own. The watch and keep-alive readers do (the watch multiplexer
bounds its own buffers); a snapshot, whose reader writes to disk, keeps grpclib's
stream and its backpressure.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Generic, TypeVar

from grpclib.client import Stream
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from .. import _wire
from ._unary import UnaryLane, check_response_headers, check_status

__all__ = ["CallStream", "LaneStream"]

Rep = TypeVar("Rep")


class LaneStream(Generic[Rep]):
    """One bidirectional-streaming call on a `UnaryLane` (see the module docstring).

    `fixed` and `extra` are the request's header blocks (`fixed_headers`) and per-call
    headers; `reply_type.parse(bytes)` decodes each reply message.
    """

    unary = False

    def __init__(
        self,
        lane: UnaryLane,
        fixed: bytes,
        extra: tuple[tuple[str, str], ...],
        reply_type: Any,
    ) -> None:
        self.id = 0
        self.unacked = 0  # received bytes not yet credited back (by the lane)
        self.headers: list[tuple[str, str]] | None = None
        self.trailers: list[tuple[str, str]] | None = None
        self.header_map: dict[str, str] = {}
        self.trailer_map: dict[str, str] = {}
        self.error: BaseException | None = None
        self.remote_ended = False  # the server's END_STREAM arrived
        self.local_ended = False  # ours was sent
        # Our send window on this stream, relative to the server's initial window
        # (which a SETTINGS frame may change for every stream at once).
        self.window_delta = 0
        self.window_waiter: asyncio.Future[None] | None = None
        self._lane = lane
        self._fixed = fixed
        self._extra = extra
        self._parse = reply_type.parse
        self._messages: deque[bytes] = deque()
        self._buffer = bytearray()  # the start of a message split across frames
        self._reader: asyncio.Future[None] | None = None
        self._initial_done = False
        self._trailers_only = False

    def __repr__(self) -> str:
        return f"<LaneStream id={self.id}>"

    # -- fed by the lane ----------------------------------------------------------

    def on_data(self, payload: bytes) -> None:
        buffer = self._buffer
        messages = self._messages
        if not buffer:
            # Usually a frame holds whole messages: no copying into the buffer.
            pos, n = 0, len(payload)
            while n - pos >= 5:
                end = pos + 5 + int.from_bytes(payload[pos + 1 : pos + 5], "big")
                if end > n:
                    break
                if payload[pos]:
                    self._compressed()
                    return
                messages.append(payload[pos + 5 : end])
                pos = end
            if pos < n:
                buffer += payload[pos:] if pos else payload
        else:
            buffer += payload
            while len(buffer) >= 5:
                end = 5 + int.from_bytes(buffer[1:5], "big")
                if len(buffer) < end:
                    break
                if buffer[0]:
                    self._compressed()
                    return
                messages.append(bytes(buffer[5:end]))
                del buffer[:end]
        if messages:
            self.wake()

    def _compressed(self) -> None:
        self.error = GRPCError(Status.INTERNAL, "compressed messages are not supported")
        self._lane.finish(self)
        self.wake()

    def window_update(self, increment: int) -> None:
        self.window_delta += increment
        waiter = self.window_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def wake(self) -> None:
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    def fail(self, reason: str) -> None:
        if self.error is None:
            self.error = StreamTerminatedError(reason)
        self.wake()
        self.window_update(0)

    # -- grpclib's client Stream, the part the watch and keep-alive loops use --------

    async def __aenter__(self) -> LaneStream[Rep]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Whatever happened, the stream is over for us: reset it if still open.
        if self.id:
            self._lane.finish(self)

    async def send_request(self) -> None:
        self._lane.open_stream(self, self._fixed, self._extra)

    async def send_message(self, message: Any, *, end: bool = False) -> None:
        data = message if isinstance(message, bytes) else _wire.encode(message)
        await self._lane.send_data(self, b"\x00" + len(data).to_bytes(4, "big") + data, end=end)

    async def end(self) -> None:
        await self._lane.send_data(self, b"", end=True)

    async def cancel(self) -> None:
        self._lane.finish(self)

    async def recv_initial_metadata(self) -> None:
        while self.headers is None:
            if self.error is not None:
                raise self.error
            if self.remote_ended:
                raise StreamTerminatedError("the stream ended without response headers")
            await self._wait()
        self._initial_done = True
        headers = self.header_map
        check_response_headers(headers)
        if "grpc-status" in headers:  # a trailers-only reply: no messages
            self._trailers_only = True
            check_status(headers)

    async def recv_message(self) -> Rep | None:
        """The next message; None once the server has ended the stream (its status
        is then read with `recv_trailing_metadata`)."""
        if not self._initial_done:
            await self.recv_initial_metadata()
        while True:
            # Messages that arrived before a failure are still delivered.
            if self._messages:
                return self._parse(self._messages.popleft())  # type: ignore[no-any-return]
            if self.error is not None:
                raise self.error
            if self.remote_ended:
                return None
            await self._wait()

    async def recv_trailing_metadata(self) -> None:
        if self._trailers_only:
            return
        while not self.remote_ended:
            if self.error is not None:
                raise self.error
            await self._wait()
        if self.trailers is None:
            raise StreamTerminatedError("the stream ended without trailers")
        check_status(self.trailer_map)

    async def _wait(self) -> None:
        reader = self._reader = asyncio.get_running_loop().create_future()
        try:
            await reader
        finally:
            self._reader = None


# A long-lived call's stream, whichever carries it.
CallStream = Stream[Any, Any] | LaneStream[Any]
