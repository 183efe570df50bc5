"""Describes one RPC: its path, message types and whether it may be resent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from grpclib.const import Cardinality

__all__ = ["Decoder", "Method"]

Req = TypeVar("Req")
Rep = TypeVar("Rep")


class Decoder(Generic[Rep]):
    """Stands where grpclib expects a reply message class: grpclib's codec calls
    `reply_type.parse(data)`, so a hot-path decoder can build the public result straight
    from the wire bytes (see `aetcd._codec`)."""

    __slots__ = ("parse",)

    def __init__(self, parse: Callable[[bytes], Rep]) -> None:
        self.parse = parse


@dataclass(frozen=True, slots=True, eq=False)
class Method(Generic[Req, Rep]):
    """An RPC and its retry class.

    `idempotent` RPCs are resent on another endpoint after UNAVAILABLE or a lost
    connection; the others are resent only when the request cannot have reached any
    server (the connection was never established), as in Go's clientv3.
    `authenticated` is false for the RPC that obtains a token.
    """

    path: str
    request_type: type[Req]
    reply_type: type[Rep] | Decoder[Rep]
    idempotent: bool
    cardinality: Cardinality = Cardinality.UNARY_UNARY
    authenticated: bool = True

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def __repr__(self) -> str:
        return f"<Method {self.path}>"
