"""Transactions: `Compare` conditions, `Op` operations, and `Client.txn`.

Compare.value("k") == "v"          Compare.version("k") > 0
Op.put("k", "v")                   Op.txn(compare=[...], success=[...])
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import betterproto2

from . import _rpcs as rpc
from ._base import ServiceBase
from ._config import DEFAULT, TimeoutArg
from ._exceptions import ArgumentTypeError, EtcdError
from ._keys import check_int, resolve_range, to_bytes
from ._kv import delete_request, put_request, range_request
from ._models import TxnResponse
from ._proto import etcdserverpb as pb

T = TypeVar("T")

__all__ = ["Compare", "CompareResult", "CompareTarget", "Op", "TxnMixin", "txn_request"]


class CompareTarget(enum.IntEnum):
    """What a `Compare` looks at (etcd's `Compare.CompareTarget`)."""

    VERSION = 0
    CREATE = 1
    MOD = 2
    VALUE = 3
    LEASE = 4


class CompareResult(enum.IntEnum):
    """How a `Compare` compares (etcd's `Compare.CompareResult`)."""

    EQUAL = 0
    GREATER = 1
    LESS = 2
    NOT_EQUAL = 3


_OP_NAMES = {
    "request_range": "get",
    "request_put": "put",
    "request_delete_range": "delete",
    "request_txn": "txn",
}

_OPERAND_FIELD = {
    CompareTarget.VERSION: "version",
    CompareTarget.CREATE: "create_revision",
    CompareTarget.MOD: "mod_revision",
    CompareTarget.VALUE: "value",
    CompareTarget.LEASE: "lease",
}


@dataclass(frozen=True, slots=True)
class Compare:
    """One condition of a transaction, built with the comparison operators:

    Compare.value("k") == "v"
    Compare.version("k", prefix=True) > 0     # over every key with the prefix
    Compare.create_revision("k") == 0          # the key does not exist
    Compare.mod_revision("k") < 10
    Compare.lease("k") == lease_id
    """

    key: bytes
    range_end: bytes
    target: CompareTarget
    result: CompareResult
    operand: bytes | int

    @staticmethod
    def version(
        key: str | bytes, range_end: str | bytes | None = None, *, prefix: bool = False
    ) -> _Operand:
        """Compare the key's version (number of modifications; 0 if absent)."""
        return _Operand(CompareTarget.VERSION, key, range_end, prefix)

    @staticmethod
    def create_revision(
        key: str | bytes, range_end: str | bytes | None = None, *, prefix: bool = False
    ) -> _Operand:
        """Compare the revision that created the key (0 if absent)."""
        return _Operand(CompareTarget.CREATE, key, range_end, prefix)

    @staticmethod
    def mod_revision(
        key: str | bytes, range_end: str | bytes | None = None, *, prefix: bool = False
    ) -> _Operand:
        """Compare the revision of the key's last modification (0 if absent)."""
        return _Operand(CompareTarget.MOD, key, range_end, prefix)

    @staticmethod
    def value(
        key: str | bytes, range_end: str | bytes | None = None, *, prefix: bool = False
    ) -> _Operand:
        """Compare the key's value (bytes order)."""
        return _Operand(CompareTarget.VALUE, key, range_end, prefix)

    @staticmethod
    def lease(
        key: str | bytes, range_end: str | bytes | None = None, *, prefix: bool = False
    ) -> _Operand:
        """Compare the id of the lease attached to the key (0 for none)."""
        return _Operand(CompareTarget.LEASE, key, range_end, prefix)

    def _to_pb(self) -> pb.Compare:
        msg = pb.Compare(
            result=pb.CompareCompareResult(int(self.result)),
            target=pb.CompareCompareTarget(int(self.target)),
            key=self.key,
            range_end=self.range_end,
        )
        setattr(msg, _OPERAND_FIELD[self.target], self.operand)
        return msg


class _Operand:
    """Left-hand side of a comparison; the operators build the `Compare`."""

    __slots__ = ("_key", "_range_end", "_target")

    def __init__(self, target: CompareTarget, key: Any, range_end: Any, prefix: bool) -> None:
        self._target = target
        self._key, self._range_end = resolve_range(key, range_end, prefix=prefix)

    def _build(self, result: CompareResult, other: Any) -> Compare:
        if self._target is CompareTarget.VALUE:
            operand: bytes | int = to_bytes("value", other)
        else:
            name = _OPERAND_FIELD[self._target]
            operand = check_int(name, getattr(other, "id", other), minimum=0)
        return Compare(self._key, self._range_end, self._target, result, operand)

    def __eq__(self, other: object) -> Compare:  # type: ignore[override]
        return self._build(CompareResult.EQUAL, other)

    def __ne__(self, other: object) -> Compare:  # type: ignore[override]
        return self._build(CompareResult.NOT_EQUAL, other)

    def __lt__(self, other: object) -> Compare:
        return self._build(CompareResult.LESS, other)

    def __gt__(self, other: object) -> Compare:
        return self._build(CompareResult.GREATER, other)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, repr=False)
class Op:
    """One operation of a transaction branch: `Op.get`, `Op.put`, `Op.delete`, `Op.txn`.

    The builders take the same options as the client methods of the same name.
    """

    # Private: users build Ops with the classmethods; the wire message never leaks.
    _request: pb.RequestOp

    def __repr__(self) -> str:
        kind, body = betterproto2.which_one_of(self._request, "request")
        key = getattr(body, "key", None)
        return f"Op.{_OP_NAMES.get(kind, kind)}({key!r})"

    @classmethod
    def get(cls, key: str | bytes, **options: Any) -> Op:
        """A range read; options as for `Client.get`."""
        return cls(pb.RequestOp(request_range=_build("get", range_request, key, **options)))

    @classmethod
    def put(cls, key: str | bytes, value: str | bytes, **options: Any) -> Op:
        """A put; options as for `Client.put`."""
        return cls(pb.RequestOp(request_put=_build("put", put_request, key, value, **options)))

    @classmethod
    def delete(cls, key: str | bytes, **options: Any) -> Op:
        """A delete; options as for `Client.delete`."""
        request = _build("delete", delete_request, key, **options)
        return cls(pb.RequestOp(request_delete_range=request))

    @classmethod
    def txn(
        cls,
        compare: Iterable[Compare] = (),
        success: Iterable[Op] = (),
        failure: Iterable[Op] = (),
    ) -> Op:
        """A nested transaction (etcd >= 3.3)."""
        return cls(pb.RequestOp(request_txn=txn_request(compare, success, failure)))


def _build(name: str, builder: Callable[..., T], *args: Any, **options: Any) -> T:
    try:
        return builder(*args, **options)
    except TypeError as exc:
        # An unknown option is misuse, reported like every other bad argument.
        if isinstance(exc, EtcdError) or "unexpected keyword argument" not in str(exc):
            raise
        raise ArgumentTypeError(f"Op.{name}: {exc}") from None


def _ops(name: str, ops: Iterable[Op]) -> list[pb.RequestOp]:
    if isinstance(ops, (str, bytes, Op)):
        raise ArgumentTypeError(f"{name}: expected a sequence of Op")
    result = []
    for op in ops:
        if not isinstance(op, Op):
            raise ArgumentTypeError(f"{name}: expected Op items, got {type(op).__name__}")
        result.append(op._request)
    return result


def txn_request(
    compare: Iterable[Compare], success: Iterable[Op], failure: Iterable[Op]
) -> pb.TxnRequest:
    if isinstance(compare, Compare):
        raise ArgumentTypeError("compare: expected a sequence of Compare")
    compares = []
    for c in compare:
        if not isinstance(c, Compare):
            raise ArgumentTypeError(
                "compare: expected Compare items (e.g. Compare.value(k) == v), "
                f"got {type(c).__name__}"
            )
        compares.append(c._to_pb())
    return pb.TxnRequest(
        compare=compares, success=_ops("success", success), failure=_ops("failure", failure)
    )


class TxnMixin(ServiceBase):
    """The transaction call of `Client`."""

    async def txn(
        self,
        compare: Sequence[Compare] = (),
        success: Sequence[Op] = (),
        failure: Sequence[Op] = (),
        *,
        timeout: TimeoutArg = DEFAULT,
    ) -> TxnResponse:
        """Run `success` if every condition in `compare` holds, else `failure`, atomically
        at one revision. A transaction is never resent once it may have reached a server."""
        request = txn_request(compare, success, failure)
        return await self._call(rpc.TXN, request, timeout)
