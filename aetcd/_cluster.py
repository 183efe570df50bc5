"""Cluster membership: list, add, remove, update and promote members; endpoint sync.

Like Go's `cluster.go`. Membership changes are not idempotent, so they are never
resent after they may have reached a server (see `aetcd._transport`); listing is.
`sync_endpoints()` (Go's `Client.Sync`) replaces the client's endpoints with the
client URLs the cluster advertises; `auto_sync_interval` runs it periodically
(the service lives in `_health.py`).

etcd's raft takes one membership change at a time and silently drops a change
proposed while the previous one is not yet marked applied inside raft, which lags a
moment behind the reply; such a call times out without being applied. Between changes
made in a row, a write (which goes through the log after the change) avoids that.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import _rpcs as rpc
from ._base import ServiceBase
from ._config import DEFAULT, TimeoutArg
from ._exceptions import ArgumentTypeError, ArgumentValueError
from ._keys import check_bool, check_int
from ._models import ResponseHeader, header
from ._proto import etcdserverpb as pb
from ._transport import Endpoint, parse_endpoint

__all__ = [
    "ClusterMixin",
    "Member",
    "MemberAddResponse",
    "MemberListResponse",
    "MemberPromoteResponse",
    "MemberRemoveResponse",
    "MemberUpdateResponse",
    "check_member_id",
    "member",
    "sync_targets",
]


@dataclass(frozen=True, slots=True)
class Member:
    """One cluster member as etcd reports it.

    `name` and `client_urls` stay empty until the member has started and published
    itself to the cluster (etcdctl prints such a member as "unstarted"); a learner
    (`is_learner`) replicates the log but does not vote and serves no client requests
    except status and serializable reads.
    """

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool

    @property
    def started(self) -> bool:
        """Whether the member has started and published its name (Go's test for
        "unstarted" members)."""
        return bool(self.name)

    def __str__(self) -> str:
        kind = "learner" if self.is_learner else "member"
        return f"{kind} {self.id:x} ({self.name or 'unstarted'})"


class _Members:
    """`for member in response` and `len(response)` over `members`."""

    __slots__ = ()
    members: tuple[Member, ...]

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def get(self, member_id: int) -> Member | None:
        """The member with id `member_id`, or `None`."""
        for m in self.members:
            if m.id == member_id:
                return m
        return None


@dataclass(frozen=True, slots=True)
class MemberListResponse(_Members):
    """Result of `member_list()`: every member, learners and unstarted ones included.

    Iterating the response yields its members; `len()` counts them and
    `get(id)` finds one.
    """

    header: ResponseHeader
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class MemberAddResponse(_Members):
    """Result of `member_add()`: the new `member` (not started yet, so without name
    or client URLs) and the membership after the change."""

    header: ResponseHeader
    member: Member
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class MemberRemoveResponse(_Members):
    """Result of `member_remove()`: the membership after the change."""

    header: ResponseHeader
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class MemberUpdateResponse(_Members):
    """Result of `member_update()`: the membership after the change."""

    header: ResponseHeader
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class MemberPromoteResponse(_Members):
    """Result of `member_promote()`: the membership after the change."""

    header: ResponseHeader
    members: tuple[Member, ...]


def member(m: pb.Member) -> Member:
    return Member(
        id=m.id,
        name=m.name,
        peer_urls=tuple(m.peer_ur_ls),
        client_urls=tuple(m.client_ur_ls),
        is_learner=m.is_learner,
    )


def _members(ms: Sequence[pb.Member]) -> tuple[Member, ...]:
    return tuple(member(m) for m in ms)


def check_member_id(name: str, value: Any) -> int:
    """A member id: a positive int (etcd prints them in hex; pass `int(text, 16)`)."""
    return check_int(name, value, minimum=1)


def _peer_urls(value: Any) -> list[str]:
    urls: Sequence[Any] = [value] if isinstance(value, str) else value
    if isinstance(value, (bytes, bytearray)) or not isinstance(urls, Sequence):
        raise ArgumentTypeError(
            f"peer_urls: expected a URL or a sequence of URLs, got {type(value).__name__}"
        )
    result: list[str] = []
    for url in urls:
        if not isinstance(url, str):
            raise ArgumentTypeError(f"peer_urls: expected str, got {type(url).__name__}")
        if not url.strip():
            raise ArgumentValueError("peer_urls: empty URL")
        result.append(url.strip())
    if not result:
        raise ArgumentValueError("peer_urls: at least one peer URL is required")
    return result


def sync_targets(members: Sequence[Member]) -> list[str]:
    """The client URLs a client may balance over: those of started voting members.

    Learners refuse most client requests and unstarted members advertise no client
    URLs yet, so neither belongs in the rotation (Go's `Client.Sync` does the same).
    """
    urls: list[str] = []
    for m in members:
        if m.is_learner or not m.client_urls:
            continue
        for url in m.client_urls:
            if url not in urls:
                urls.append(url)
    return urls


class ClusterMixin(ServiceBase):
    """Membership calls of `Client` (Go's `Cluster` interface) and endpoint sync."""

    async def member_list(
        self, *, linearizable: bool = False, timeout: TimeoutArg = DEFAULT
    ) -> MemberListResponse:
        """List the cluster's members (learners and unstarted members included).

        The answering member reports its own view; `linearizable=True` (etcd >= 3.5;
        ignored by 3.4) makes it first confirm with the leader that the view is
        current.
        """
        reply = await self._call(
            rpc.MEMBER_LIST,
            pb.MemberListRequest(linearizable=check_bool("linearizable", linearizable)),
            timeout,
        )
        return MemberListResponse(header(reply.header), _members(reply.members))

    async def member_add(
        self,
        peer_urls: str | Sequence[str],
        *,
        learner: bool = False,
        timeout: TimeoutArg = DEFAULT,
    ) -> MemberAddResponse:
        """Announce a new member reachable at `peer_urls`; start it afterwards with
        `--initial-cluster-state existing`.

        A `learner` joins without a vote and can be promoted with `member_promote()`
        once it has caught up, which keeps the quorum safe while it syncs. Raises
        `PeerURLExistError`, `MemberBadURLsError`, `TooManyLearnersError`, or
        `UnhealthyError` when etcd's strict reconfiguration check refuses the change.
        """
        reply = await self._call(
            rpc.MEMBER_ADD,
            pb.MemberAddRequest(
                peer_ur_ls=_peer_urls(peer_urls), is_learner=check_bool("learner", learner)
            ),
            timeout,
        )
        added = reply.member if reply.member is not None else pb.Member()
        return MemberAddResponse(header(reply.header), member(added), _members(reply.members))

    async def member_remove(
        self, id: int, *, timeout: TimeoutArg = DEFAULT
    ) -> MemberRemoveResponse:
        """Remove member `id` from the cluster (the removed member shuts itself down).

        Raises `MemberNotFoundError` for an unknown id, and `UnhealthyError` when the
        removal would leave too few started members for a quorum.
        """
        reply = await self._call(
            rpc.MEMBER_REMOVE, pb.MemberRemoveRequest(id=check_member_id("id", id)), timeout
        )
        return MemberRemoveResponse(header(reply.header), _members(reply.members))

    async def member_update(
        self, id: int, peer_urls: str | Sequence[str], *, timeout: TimeoutArg = DEFAULT
    ) -> MemberUpdateResponse:
        """Change the peer URLs of member `id` (client URLs are the member's own to
        publish)."""
        reply = await self._call(
            rpc.MEMBER_UPDATE,
            pb.MemberUpdateRequest(id=check_member_id("id", id), peer_ur_ls=_peer_urls(peer_urls)),
            timeout,
        )
        return MemberUpdateResponse(header(reply.header), _members(reply.members))

    async def member_promote(
        self, id: int, *, timeout: TimeoutArg = DEFAULT
    ) -> MemberPromoteResponse:
        """Make learner `id` a voting member.

        Raises `LearnerNotReadyError` while the learner's log is still behind the
        leader's (try again shortly), and `MemberNotLearnerError` for a voting member.
        """
        reply = await self._call(
            rpc.MEMBER_PROMOTE, pb.MemberPromoteRequest(id=check_member_id("id", id)), timeout
        )
        return MemberPromoteResponse(header(reply.header), _members(reply.members))

    async def sync_endpoints(self, *, timeout: TimeoutArg = DEFAULT) -> tuple[str, ...]:
        """Replace the client's endpoints with the client URLs of the cluster's started
        voting members (Go's `Client.Sync`); return the new endpoint list.

        Connections to endpoints that stay are kept. When the cluster advertises no
        usable URL the endpoints are left unchanged. `auto_sync_interval` calls this
        periodically.
        """
        response = await self.member_list(timeout=timeout)
        balancer = self._transport.balancer
        secure = any(ep.secure for ep in balancer.endpoints)
        endpoints: list[Endpoint] = []
        for url in sync_targets(response.members):
            try:
                endpoint = parse_endpoint(url, secure=secure)
            except ArgumentValueError:
                continue  # a URL the member advertises but we cannot dial
            if endpoint not in endpoints:
                endpoints.append(endpoint)
        if endpoints:
            balancer.set_endpoints(endpoints)
        return tuple(ep.url for ep in balancer.endpoints)
