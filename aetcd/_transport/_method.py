"""Describes one RPC: its path, message types and whether it may be resent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from grpclib.const import Cardinality

__all__ = ["Method"]

Req = TypeVar("Req")
Rep = TypeVar("Rep")


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
    reply_type: type[Rep]
    idempotent: bool
    cardinality: Cardinality = Cardinality.UNARY_UNARY
    authenticated: bool = True

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def __repr__(self) -> str:
        return f"<Method {self.path}>"
