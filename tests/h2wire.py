"""A client protocol and an h2 server connected back to back, for the fast-lane tests.

The client side is our real grpclib-based protocol (`_H2Protocol` with its `UnaryLane`);
the server side is h2's own state machine, which encodes headers with HPACK indexing,
splits large header blocks into CONTINUATION frames and enforces flow control: what a
Go server does on the wire, driven byte by byte.
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpclib.client import Handler
from grpclib.config import Configuration
from h2.config import H2Configuration
from h2.connection import H2Connection

from aetcd._transport._connection import _H2Protocol
from aetcd._transport._unary import UnaryLane, fixed_headers

__all__ = ["WINDOW", "Wire"]

WINDOW = 65535  # the smallest receive windows grpclib allows: crediting is exercised


class _FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: Any) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def take(self) -> bytes:
        data, self.written = bytes(self.written), bytearray()
        return data


class Wire:
    """A client protocol and an h2 server connected back to back."""

    def __init__(self, keepalive_time: float | None = None) -> None:
        config = Configuration(
            _keepalive_time=keepalive_time,
            http2_connection_window_size=WINDOW,
            http2_stream_window_size=WINDOW,
        )
        self.protocol = _H2Protocol(
            Handler(),
            config,
            H2Configuration(
                client_side=True,
                header_encoding="ascii",
                validate_inbound_headers=False,
                validate_outbound_headers=False,
                normalize_inbound_headers=False,
                normalize_outbound_headers=False,
            ),
        )
        self.transport = _FakeTransport()
        self.protocol.connection_made(self.transport)
        self.server = H2Connection(H2Configuration(client_side=False, header_encoding="ascii"))
        self.server.initiate_connection()

    @property
    def lane(self) -> UnaryLane:
        return self.protocol.unary_lane

    async def to_server(self) -> list[Any]:
        await asyncio.sleep(0)  # the coalescing transport writes at the end of the iteration
        await asyncio.sleep(0)
        return self.server.receive_data(self.transport.take())

    def to_client(self, *, chunk: int | None = None) -> None:
        data = self.server.data_to_send()
        if chunk is None:
            self.protocol.data_received(data)
        else:
            for i in range(0, len(data), chunk):
                self.protocol.data_received(data[i : i + chunk])

    async def handshake(self) -> None:
        await self.to_server()
        self.to_client()
        await self.to_server()

    def send(self, data: bytes = b"request", reserved: int = 0, **extra: str) -> Any:
        stream = self.lane.send(
            fixed_headers("http", "etcd:2379", "/etcdserverpb.KV/Range"),
            tuple(extra.items()),
            data,
            reserved,
        )
        assert stream is not None
        return stream

    async def send_within_window(self, stream_id: int, data: bytes) -> None:
        """Send `data` from the server as its send window allows, handing each frame to
        the client: fails unless the client credits its receive window back."""
        sent = 0
        while sent < len(data):
            window = self.server.local_flow_control_window(stream_id)
            assert window > 0, "the client did not give the receive window back"
            chunk = min(window, self.server.max_outbound_frame_size, len(data) - sent)
            self.server.send_data(stream_id, data[sent : sent + chunk])
            sent += chunk
            self.to_client()
            await self.to_server()

    def reply(
        self,
        stream_id: int,
        message: bytes,
        *,
        status: str = "0",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.server.send_headers(
            stream_id,
            [(":status", "200"), ("content-type", "application/grpc"), *(headers or [])],
        )
        self.server.send_data(stream_id, b"\x00" + len(message).to_bytes(4, "big") + message)
        self.server.send_headers(
            stream_id, [("grpc-status", status), ("grpc-message", "")], end_stream=True
        )
