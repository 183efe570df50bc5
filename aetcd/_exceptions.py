"""Exceptions raised by aetcd, and the mapping from etcd's gRPC errors to them.

Every exception aetcd raises is an :class:`EtcdError`. The tree::

    Exception
     └── EtcdError
          ├── UsageError                      misuse, raised before any network call
          │    ├── ArgumentValueError         (also ValueError)
          │    │    ├── EmptyKeyError         (also KVError)
          │    │    └── RequestTooLargeError  (also ServerError)
          │    ├── ArgumentTypeError          (also TypeError)
          │    └── ClientClosedError
          ├── UnavailableError                no member could serve the request
          │    ├── ConnectError               no endpoint could be connected to
          │    └── ServerUnavailableError     (also ServerError)
          │         ├── NoLeaderError
          │         ├── NotLeaderError
          │         ├── LeaderChangedError
          │         ├── NotSupportedForLearnerError
          │         ├── StoppedError
          │         ├── ServerTimeoutError
          │         └── UnhealthyError
          ├── DeadlineExceededError           (also TimeoutError)
          ├── LockTimeoutError                (also TimeoutError)
          ├── ElectionNotLeaderError          proclaim/resign without leading
          └── ServerError                     etcd answered with an error status
               ├── KVError
               │    ├── EmptyKeyError
               │    ├── KeyNotFoundError
               │    ├── ValueProvidedError
               │    ├── LeaseProvidedError
               │    ├── TooManyOpsError
               │    ├── DuplicateKeyError
               │    ├── InvalidSortOptionError
               │    ├── CompactedError
               │    └── FutureRevisionError
               ├── LeaseError
               │    ├── LeaseNotFoundError
               │    │    └── LeaseExpiredError
               │    ├── LeaseExistsError
               │    └── LeaseTTLTooLargeError
               ├── ClusterError
               │    ├── MemberExistError
               │    ├── PeerURLExistError
               │    ├── MemberNotEnoughStartedError
               │    ├── MemberBadURLsError
               │    ├── MemberNotFoundError
               │    ├── MemberNotLearnerError
               │    ├── LearnerNotReadyError
               │    ├── TooManyLearnersError
               │    ├── ClusterIdMismatchError
               │    ├── BadLeaderTransfereeError
               │    └── DowngradeError
               │         ├── ClusterVersionUnavailableError
               │         ├── WrongDowngradeVersionFormatError
               │         ├── InvalidDowngradeTargetVersionError
               │         ├── DowngradeInProcessError
               │         └── NoInflightDowngradeError
               ├── AuthError
               │    ├── UnauthenticatedError
               │    │    ├── AuthenticationFailedError
               │    │    └── InvalidAuthTokenError
               │    ├── PermissionDeniedError
               │    ├── AuthNotEnabledError
               │    ├── AuthOldRevisionError
               │    ├── InvalidAuthMgmtError
               │    ├── RootUserNotExistError
               │    ├── RootRoleNotExistError
               │    ├── UserAlreadyExistError
               │    ├── UserEmptyError
               │    ├── UserNotFoundError
               │    ├── RoleAlreadyExistError
               │    ├── RoleNotFoundError
               │    ├── RoleEmptyError
               │    ├── RoleNotGrantedError
               │    ├── PermissionNotGivenError
               │    └── PermissionNotGrantedError
               ├── ResourceExhaustedError
               │    ├── NoSpaceError
               │    └── TooManyRequestsError
               ├── RequestCanceledError
               │    └── WatchCanceledError
               ├── RequestTooLargeError
               ├── InvalidClientAPIVersionError
               ├── NotCapableError
               ├── CorruptError
               ├── UnimplementedError
               └── ServerUnavailableError

Every instance has ``status`` (the :class:`grpclib.const.Status` the server sent,
or ``None`` for errors raised by the client itself), ``message`` (etcd's message,
verbatim, e.g. ``"etcdserver: mvcc: required revision has been compacted"``) and
``details`` (the gRPC error details, usually ``None``).

Decisions worth knowing:

* Server errors are recognised by etcd's message first, because etcd's gRPC code
  for the same error changed between releases (``"etcdserver: not capable"`` was
  UNAVAILABLE in 3.4 and FAILED_PRECONDITION from 3.5). Unknown messages fall back
  to the gRPC status (see :func:`error_for`).
* ``ServerTimeoutError`` ("etcdserver: request timed out", and its variants) is a
  server-side outcome: the member gave up waiting for the proposal, which may
  still be applied. It is deliberately *not* a ``TimeoutError`` nor a
  :class:`DeadlineExceededError` (which means the caller's own deadline passed);
  it is an :class:`UnavailableError`.
* A server CANCELLED status becomes :class:`RequestCanceledError`, never
  ``asyncio.CancelledError``: cancelling the caller's own task is reported by the
  event loop, not by this module.
* Two class attributes describe how a retry layer may treat an error:
  ``retry_elsewhere`` (the request was certainly not applied and another member
  may serve it, so even a write may be re-sent) and ``maybe_applied`` (the
  request's outcome is unknown; only idempotent requests may be re-sent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from grpclib.const import Status
from grpclib.exceptions import GRPCError

__all__ = [
    # base
    "EtcdError",
    # misuse
    "UsageError",
    "ArgumentValueError",
    "ArgumentTypeError",
    "ClientClosedError",
    # transport
    "UnavailableError",
    "ConnectError",
    "DeadlineExceededError",
    # client-side recipes
    "LockTimeoutError",
    "ElectionNotLeaderError",
    # server
    "ServerError",
    "ServerUnavailableError",
    # kv
    "KVError",
    "EmptyKeyError",
    "KeyNotFoundError",
    "ValueProvidedError",
    "LeaseProvidedError",
    "TooManyOpsError",
    "DuplicateKeyError",
    "InvalidSortOptionError",
    "CompactedError",
    "FutureRevisionError",
    # request-level
    "RequestTooLargeError",
    "InvalidClientAPIVersionError",
    "ResourceExhaustedError",
    "NoSpaceError",
    "TooManyRequestsError",
    "RequestCanceledError",
    "WatchCanceledError",
    "UnimplementedError",
    # lease
    "LeaseError",
    "LeaseNotFoundError",
    "LeaseExpiredError",
    "LeaseExistsError",
    "LeaseTTLTooLargeError",
    # cluster
    "ClusterError",
    "MemberExistError",
    "PeerURLExistError",
    "MemberNotEnoughStartedError",
    "MemberBadURLsError",
    "MemberNotFoundError",
    "MemberNotLearnerError",
    "LearnerNotReadyError",
    "TooManyLearnersError",
    "ClusterIdMismatchError",
    "BadLeaderTransfereeError",
    "DowngradeError",
    "ClusterVersionUnavailableError",
    "WrongDowngradeVersionFormatError",
    "InvalidDowngradeTargetVersionError",
    "DowngradeInProcessError",
    "NoInflightDowngradeError",
    # auth
    "AuthError",
    "UnauthenticatedError",
    "AuthenticationFailedError",
    "InvalidAuthTokenError",
    "PermissionDeniedError",
    "AuthNotEnabledError",
    "AuthOldRevisionError",
    "InvalidAuthMgmtError",
    "RootUserNotExistError",
    "RootRoleNotExistError",
    "UserAlreadyExistError",
    "UserEmptyError",
    "UserNotFoundError",
    "RoleAlreadyExistError",
    "RoleNotFoundError",
    "RoleEmptyError",
    "RoleNotGrantedError",
    "PermissionNotGivenError",
    "PermissionNotGrantedError",
    # server state
    "NoLeaderError",
    "NotLeaderError",
    "LeaderChangedError",
    "NotSupportedForLearnerError",
    "StoppedError",
    "ServerTimeoutError",
    "UnhealthyError",
    "NotCapableError",
    "CorruptError",
    # mapping
    "MESSAGE_TO_ERROR",
    "class_for_message",
    "error_for",
    "from_grpc_error",
]


# --------------------------------------------------------------------------- base


class EtcdError(Exception):
    """Base class of every error raised by aetcd."""

    #: Message used when the constructor is given none.
    default_message: ClassVar[str] = "etcd error"
    #: The request was certainly not applied and another member may serve it.
    retry_elsewhere: ClassVar[bool] = False
    #: The request may or may not have been applied.
    maybe_applied: ClassVar[bool] = False

    status: Status | None
    message: str
    details: Any

    def __init__(
        self,
        message: str | None = None,
        *,
        status: Status | None = None,
        details: Any = None,
    ) -> None:
        if message is None:
            message = type(self).default_message
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details

    def _str_extras(self) -> list[str]:
        """Extra ``name=value`` fragments shown by ``str()``."""
        return []

    def __str__(self) -> str:
        parts: list[str] = []
        if self.status is not None:
            parts.append(f"gRPC status {self.status.name}")
        parts.extend(self._str_extras())
        if not parts:
            return self.message
        return f"{self.message} ({', '.join(parts)})"


# --------------------------------------------------------------------------- misuse


class UsageError(EtcdError):
    """Raised before any network call when the client is used incorrectly."""

    default_message = "invalid use of the etcd client"


class ArgumentValueError(UsageError, ValueError):
    """Raised at once when an argument has a bad value; the message names the argument."""

    default_message = "invalid argument value"

    argument: str | None

    def __init__(
        self,
        message: str | None = None,
        *,
        argument: str | None = None,
        status: Status | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, status=status, details=details)
        self.argument = argument


class ArgumentTypeError(UsageError, TypeError):
    """Raised at once when an argument has a bad type; the message names the argument."""

    default_message = "invalid argument type"

    argument: str | None

    def __init__(
        self,
        message: str | None = None,
        *,
        argument: str | None = None,
        status: Status | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, status=status, details=details)
        self.argument = argument


class ClientClosedError(UsageError):
    """Raised when a client (or an object bound to it) is used after it was closed."""

    default_message = "the etcd client is closed"


# --------------------------------------------------------------------------- transport


class UnavailableError(EtcdError):
    """Raised when no member could serve the request (gRPC UNAVAILABLE), after retries."""

    default_message = "etcd is unavailable"
    maybe_applied = True


class ConnectError(UnavailableError):
    """Raised when no endpoint could be connected to, so nothing was sent."""

    default_message = "could not connect to any etcd endpoint"
    retry_elsewhere = True
    maybe_applied = False


class DeadlineExceededError(EtcdError, TimeoutError):
    """Raised when the caller's deadline passed, locally or as server DEADLINE_EXCEEDED."""

    default_message = "deadline exceeded"
    maybe_applied = True


class LockTimeoutError(EtcdError, TimeoutError):
    """Raised by the lock recipe when the lock was not acquired within the timeout."""

    default_message = "timed out waiting to acquire the lock"


class ElectionNotLeaderError(EtcdError):
    """Raised by `Election.proclaim`/`resign` when this candidate no longer leads."""

    default_message = "election: not leader"


# --------------------------------------------------------------------------- server


class ServerError(EtcdError):
    """Raised when etcd answered with an error that has no more specific class."""

    default_message = "etcd server error"


class ServerUnavailableError(ServerError, UnavailableError):
    """Raised when the contacted member cannot serve the request right now."""

    default_message = "etcdserver: unavailable"


# kv ---------------------------------------------------------------------------------


class KVError(ServerError):
    """Base of errors about a key-value request (range, put, delete, txn, compaction)."""

    default_message = "etcdserver: invalid key-value request"


class EmptyKeyError(KVError, ArgumentValueError):
    """Raised when a request's key is empty (before sending, or by the server)."""

    default_message = "etcdserver: key is not provided"


class KeyNotFoundError(KVError):
    """Raised when a put with ignore_lease or ignore_value targets a missing key."""

    default_message = "etcdserver: key not found"


class ValueProvidedError(KVError):
    """Raised when a put sets ignore_value and also gives a value."""

    default_message = "etcdserver: value is provided"


class LeaseProvidedError(KVError):
    """Raised when a put sets ignore_lease and also gives a lease."""

    default_message = "etcdserver: lease is provided"


class TooManyOpsError(KVError):
    """Raised when a transaction has more operations than the server's --max-txn-ops."""

    default_message = "etcdserver: too many operations in txn request"


class DuplicateKeyError(KVError):
    """Raised when a transaction writes the same key more than once in one branch."""

    default_message = "etcdserver: duplicate key given in txn request"


class InvalidSortOptionError(KVError):
    """Raised when a range request gives an unknown sort order or sort target."""

    default_message = "etcdserver: invalid sort option"


class CompactedError(KVError):
    """Raised when a requested revision was compacted away (reads and watches)."""

    default_message = "etcdserver: mvcc: required revision has been compacted"

    #: The cluster's compaction revision, when known (watch responses carry it).
    compact_revision: int | None

    def __init__(
        self,
        message: str | None = None,
        *,
        compact_revision: int | None = None,
        status: Status | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, status=status, details=details)
        self.compact_revision = compact_revision

    def _str_extras(self) -> list[str]:
        if self.compact_revision is None:
            return []
        return [f"compact_revision={self.compact_revision}"]


class FutureRevisionError(KVError):
    """Raised when a requested revision is newer than the store's current revision."""

    default_message = "etcdserver: mvcc: required revision is a future revision"


# request-level ----------------------------------------------------------------------


class RequestTooLargeError(ServerError, ArgumentValueError):
    """Raised when a request exceeds the server's or the client's maximum message size."""

    default_message = "etcdserver: request is too large"

    #: Encoded size of the refused request in bytes, when known.
    size: int | None
    #: The size limit in bytes, when known.
    limit: int | None

    def __init__(
        self,
        message: str | None = None,
        *,
        size: int | None = None,
        limit: int | None = None,
        argument: str | None = None,
        status: Status | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, argument=argument, status=status, details=details)
        self.size = size
        self.limit = limit

    def _str_extras(self) -> list[str]:
        extras = []
        if self.size is not None:
            extras.append(f"size={self.size}")
        if self.limit is not None:
            extras.append(f"limit={self.limit}")
        return extras


class InvalidClientAPIVersionError(ServerError):
    """Raised when the server rejects the client API version sent in the metadata."""

    default_message = "etcdserver: invalid client api version"


class ResourceExhaustedError(ServerError):
    """Raised when the server reports RESOURCE_EXHAUSTED with no more specific message."""

    default_message = "etcdserver: resource exhausted"


class NoSpaceError(ResourceExhaustedError):
    """Raised when the NOSPACE alarm is active: the backend quota is exceeded."""

    default_message = "etcdserver: mvcc: database space exceeded"


class TooManyRequestsError(ResourceExhaustedError):
    """Raised when the member's apply backlog is too long to accept a new proposal."""

    default_message = "etcdserver: too many requests"
    retry_elsewhere = True


class RequestCanceledError(ServerError):
    """Raised when the server canceled the request (gRPC CANCELLED) while the caller waited."""

    default_message = "etcdserver: request canceled"
    maybe_applied = True


class WatchCanceledError(RequestCanceledError):
    """Raised when the server or the client cancels a watch that the caller still uses."""

    default_message = "etcdserver: watch canceled"
    maybe_applied = False


class UnimplementedError(ServerError):
    """Raised when the server does not implement the RPC (gRPC UNIMPLEMENTED; old etcd)."""

    default_message = "etcdserver: method not implemented"


# lease ------------------------------------------------------------------------------


class LeaseError(ServerError):
    """Base of errors about a lease."""

    default_message = "etcdserver: lease error"

    #: The lease concerned, when known.
    lease_id: int | None

    def __init__(
        self,
        message: str | None = None,
        *,
        lease_id: int | None = None,
        status: Status | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, status=status, details=details)
        self.lease_id = lease_id

    def _str_extras(self) -> list[str]:
        if self.lease_id is None:
            return []
        return [f"lease_id={self.lease_id}"]


class LeaseNotFoundError(LeaseError):
    """Raised when the lease does not exist (never granted, revoked or expired)."""

    default_message = "etcdserver: requested lease not found"


class LeaseExpiredError(LeaseNotFoundError):
    """Raised by the client when keep-alive finds that a lease is gone or has expired."""

    default_message = "lease expired"


class LeaseExistsError(LeaseError):
    """Raised when granting a lease with an ID that is already in use."""

    default_message = "etcdserver: lease already exists"


class LeaseTTLTooLargeError(LeaseError):
    """Raised when a lease grant asks for a TTL above the server's maximum."""

    default_message = "etcdserver: too large lease TTL"


# cluster ----------------------------------------------------------------------------


class ClusterError(ServerError):
    """Base of errors about cluster membership, leadership transfer and downgrades."""

    default_message = "etcdserver: cluster error"


class MemberExistError(ClusterError):
    """Raised when adding a member whose ID already exists."""

    default_message = "etcdserver: member ID already exist"


class PeerURLExistError(ClusterError):
    """Raised when adding or updating a member with peer URLs already in use."""

    default_message = "etcdserver: Peer URLs already exists"


class MemberNotEnoughStartedError(ClusterError):
    """Raised when a reconfiguration would leave too few started members for quorum."""

    default_message = "etcdserver: re-configuration failed due to not enough started members"


class MemberBadURLsError(ClusterError):
    """Raised when the given member peer URLs are invalid."""

    default_message = "etcdserver: given member URLs are invalid"


class MemberNotFoundError(ClusterError):
    """Raised when the member ID is unknown or was removed."""

    default_message = "etcdserver: member not found"


class MemberNotLearnerError(ClusterError):
    """Raised when promoting a member that is not a learner."""

    default_message = "etcdserver: can only promote a learner member"


class LearnerNotReadyError(ClusterError):
    """Raised when promoting a learner that has not caught up with the leader."""

    default_message = "etcdserver: can only promote a learner member which is in sync with leader"


class TooManyLearnersError(ClusterError):
    """Raised when adding a learner would exceed the cluster's learner limit."""

    default_message = "etcdserver: too many learner members in cluster"


class ClusterIdMismatchError(ClusterError):
    """Raised when a request's cluster ID does not match the member's cluster."""

    default_message = "etcdserver: cluster ID mismatch"


class BadLeaderTransfereeError(ClusterError):
    """Raised when moving leadership to a member that cannot become leader."""

    default_message = "etcdserver: bad leader transferee"


class DowngradeError(ClusterError):
    """Base of errors about cluster downgrade jobs."""

    default_message = "etcdserver: downgrade error"


class ClusterVersionUnavailableError(DowngradeError):
    """Raised when a downgrade is requested before the cluster version is known."""

    default_message = "etcdserver: cluster version not found during downgrade"


class WrongDowngradeVersionFormatError(DowngradeError):
    """Raised when the downgrade target version is not in major.minor form."""

    default_message = "etcdserver: wrong downgrade target version format"


class InvalidDowngradeTargetVersionError(DowngradeError):
    """Raised when the downgrade target is not exactly one minor version lower."""

    default_message = "etcdserver: invalid downgrade target version"


class DowngradeInProcessError(DowngradeError):
    """Raised when a downgrade is requested while another is in progress."""

    default_message = "etcdserver: cluster has a downgrade job in progress"


class NoInflightDowngradeError(DowngradeError):
    """Raised when cancelling a downgrade while none is in progress."""

    default_message = "etcdserver: no inflight downgrade job"


# auth -------------------------------------------------------------------------------


class AuthError(ServerError):
    """Base of authentication, authorisation and user/role management errors."""

    default_message = "etcdserver: auth error"


class UnauthenticatedError(AuthError):
    """Raised when the caller is not authenticated (gRPC UNAUTHENTICATED)."""

    default_message = "etcdserver: unauthenticated"


class AuthenticationFailedError(UnauthenticatedError):
    """Raised when authenticating with a wrong user name or password."""

    default_message = "etcdserver: authentication failed, invalid user ID or password"


class InvalidAuthTokenError(UnauthenticatedError):
    """Raised when the auth token is invalid or expired; the client re-authenticates."""

    default_message = "etcdserver: invalid auth token"


class PermissionDeniedError(AuthError):
    """Raised when the authenticated user lacks permission for the request."""

    default_message = "etcdserver: permission denied"


class AuthNotEnabledError(AuthError):
    """Raised when an operation requires authentication to be enabled but it is not."""

    default_message = "etcdserver: authentication is not enabled"


class AuthOldRevisionError(AuthError):
    """Raised when the token predates an auth store change; retry after re-authenticating."""

    default_message = "etcdserver: revision of auth store is old"


class InvalidAuthMgmtError(AuthError):
    """Raised on an invalid auth management request (e.g. revoking root from root)."""

    default_message = "etcdserver: invalid auth management"


class RootUserNotExistError(AuthError):
    """Raised when enabling auth while the root user does not exist."""

    default_message = "etcdserver: root user does not exist"


class RootRoleNotExistError(AuthError):
    """Raised when enabling auth while the root user lacks the root role."""

    default_message = "etcdserver: root user does not have root role"


class UserAlreadyExistError(AuthError):
    """Raised when adding a user that already exists."""

    default_message = "etcdserver: user name already exists"


class UserEmptyError(AuthError):
    """Raised when a user name is empty."""

    default_message = "etcdserver: user name is empty"


class UserNotFoundError(AuthError):
    """Raised when the named user does not exist."""

    default_message = "etcdserver: user name not found"


class RoleAlreadyExistError(AuthError):
    """Raised when adding a role that already exists."""

    default_message = "etcdserver: role name already exists"


class RoleNotFoundError(AuthError):
    """Raised when the named role does not exist."""

    default_message = "etcdserver: role name not found"


class RoleEmptyError(AuthError):
    """Raised when a role name is empty."""

    default_message = "etcdserver: role name is empty"


class RoleNotGrantedError(AuthError):
    """Raised when revoking a role the user does not have."""

    default_message = "etcdserver: role is not granted to the user"


class PermissionNotGivenError(AuthError):
    """Raised when granting a role permission without giving the permission."""

    default_message = "etcdserver: permission not given"


class PermissionNotGrantedError(AuthError):
    """Raised when revoking a permission the role does not have."""

    default_message = "etcdserver: permission is not granted to the role"


# server state -----------------------------------------------------------------------


class NoLeaderError(ServerUnavailableError):
    """Raised when the member has no leader (lost quorum or mid-election)."""

    default_message = "etcdserver: no leader"
    retry_elsewhere = True
    maybe_applied = False


class NotLeaderError(ServerUnavailableError):
    """Raised when a leader-only request (e.g. lease renewal) reached a non-leader."""

    default_message = "etcdserver: not leader"
    retry_elsewhere = True
    maybe_applied = False


class LeaderChangedError(ServerUnavailableError):
    """Raised when leadership changed while a read or lease lookup was in progress."""

    default_message = "etcdserver: leader changed"
    retry_elsewhere = True
    maybe_applied = False


class NotSupportedForLearnerError(ServerUnavailableError):
    """Raised when a learner member receives an RPC only voting members serve."""

    default_message = "etcdserver: rpc not supported for learner"
    retry_elsewhere = True
    maybe_applied = False


class StoppedError(ServerUnavailableError):
    """Raised when the member stopped while handling the request; outcome unknown."""

    default_message = "etcdserver: server stopped"


class ServerTimeoutError(ServerUnavailableError):
    """Raised when the member timed out waiting for a proposal; it may still be applied."""

    default_message = "etcdserver: request timed out"


class UnhealthyError(ServerUnavailableError):
    """Raised when a reconfiguration is refused because the cluster is unhealthy."""

    default_message = "etcdserver: unhealthy cluster"
    retry_elsewhere = True
    maybe_applied = False


class NotCapableError(ServerError):
    """Raised when the cluster version is too old for the requested feature."""

    default_message = "etcdserver: not capable"


class CorruptError(ServerError):
    """Raised when the CORRUPT alarm is active: member data is inconsistent."""

    default_message = "etcdserver: corrupt cluster"


# --------------------------------------------------------------------------- mapping

_CATALOGUE: dict[str, type[EtcdError]] = {
    # key-value
    "etcdserver: key is not provided": EmptyKeyError,
    "etcdserver: key not found": KeyNotFoundError,
    "etcdserver: value is provided": ValueProvidedError,
    "etcdserver: lease is provided": LeaseProvidedError,
    "etcdserver: too many operations in txn request": TooManyOpsError,
    "etcdserver: duplicate key given in txn request": DuplicateKeyError,
    "etcdserver: invalid sort option": InvalidSortOptionError,
    "etcdserver: mvcc: required revision has been compacted": CompactedError,
    "etcdserver: mvcc: required revision is a future revision": FutureRevisionError,
    # request-level
    "etcdserver: invalid client api version": InvalidClientAPIVersionError,
    "etcdserver: request is too large": RequestTooLargeError,
    "etcdserver: mvcc: database space exceeded": NoSpaceError,
    "etcdserver: too many requests": TooManyRequestsError,
    "etcdserver: request canceled": RequestCanceledError,
    "etcdserver: context deadline exceeded": DeadlineExceededError,
    "etcdserver: watch canceled": WatchCanceledError,
    # lease
    "etcdserver: requested lease not found": LeaseNotFoundError,
    "etcdserver: lease already exists": LeaseExistsError,
    "etcdserver: too large lease TTL": LeaseTTLTooLargeError,
    # cluster
    "etcdserver: member ID already exist": MemberExistError,
    "etcdserver: Peer URLs already exists": PeerURLExistError,
    "etcdserver: re-configuration failed due to not enough started members": (
        MemberNotEnoughStartedError
    ),
    "etcdserver: given member URLs are invalid": MemberBadURLsError,
    "etcdserver: member not found": MemberNotFoundError,
    "etcdserver: can only promote a learner member": MemberNotLearnerError,
    "etcdserver: can only promote a learner member which is in sync with leader": (
        LearnerNotReadyError
    ),
    "etcdserver: too many learner members in cluster": TooManyLearnersError,
    "etcdserver: cluster ID mismatch": ClusterIdMismatchError,
    "etcdserver: bad leader transferee": BadLeaderTransfereeError,
    "etcdserver: cluster version not found during downgrade": ClusterVersionUnavailableError,
    "etcdserver: wrong downgrade target version format": WrongDowngradeVersionFormatError,
    "etcdserver: invalid downgrade target version": InvalidDowngradeTargetVersionError,
    "etcdserver: cluster has a downgrade job in progress": DowngradeInProcessError,
    "etcdserver: no inflight downgrade job": NoInflightDowngradeError,
    # auth
    "etcdserver: root user does not exist": RootUserNotExistError,
    "etcdserver: root user does not have root role": RootRoleNotExistError,
    "etcdserver: user name already exists": UserAlreadyExistError,
    "etcdserver: user name is empty": UserEmptyError,
    "etcdserver: user name not found": UserNotFoundError,
    "etcdserver: role name already exists": RoleAlreadyExistError,
    "etcdserver: role name not found": RoleNotFoundError,
    "etcdserver: role name is empty": RoleEmptyError,
    "etcdserver: authentication failed, invalid user ID or password": AuthenticationFailedError,
    "etcdserver: permission not given": PermissionNotGivenError,
    "etcdserver: permission denied": PermissionDeniedError,
    "etcdserver: role is not granted to the user": RoleNotGrantedError,
    "etcdserver: permission is not granted to the role": PermissionNotGrantedError,
    "etcdserver: authentication is not enabled": AuthNotEnabledError,
    "etcdserver: invalid auth token": InvalidAuthTokenError,
    "etcdserver: invalid auth management": InvalidAuthMgmtError,
    "etcdserver: revision of auth store is old": AuthOldRevisionError,
    # server state
    "etcdserver: no leader": NoLeaderError,
    "etcdserver: not leader": NotLeaderError,
    "etcdserver: leader changed": LeaderChangedError,
    "etcdserver: not capable": NotCapableError,
    "etcdserver: server stopped": StoppedError,
    "etcdserver: request timed out": ServerTimeoutError,
    "etcdserver: request timed out, possibly due to previous leader failure": ServerTimeoutError,
    "etcdserver: request timed out, possibly due to connection lost": ServerTimeoutError,
    "etcdserver: request timed out, waiting for the applied index took too long": (
        ServerTimeoutError
    ),
    "etcdserver: unhealthy cluster": UnhealthyError,
    "etcdserver: corrupt cluster": CorruptError,
    "etcdserver: rpc not supported for learner": NotSupportedForLearnerError,
}

# Server-internal messages that etcd does not translate, so they reach the client
# verbatim (with gRPC status UNKNOWN).
_UNTRANSLATED: dict[str, type[EtcdError]] = {
    "etcdserver: no space": NoSpaceError,
    "etcdserver: request cancelled": RequestCanceledError,
    "etcdserver: request timed out, leader transfer took too long": ServerTimeoutError,
    # The auth store's own errors. Some paths return them untranslated (status
    # UNKNOWN): in etcd 3.5.1 a read with a JWT of an old auth revision, and the
    # Snapshot stream with an expired token.
    "auth: root user does not exist": RootUserNotExistError,
    "auth: root user does not have root role": RootRoleNotExistError,
    "auth: user already exists": UserAlreadyExistError,
    "auth: user name is empty": UserEmptyError,
    "auth: user not found": UserNotFoundError,
    "auth: role already exists": RoleAlreadyExistError,
    "auth: role not found": RoleNotFoundError,
    "auth: role name is empty": RoleEmptyError,
    "auth: permission not given": PermissionNotGivenError,
    "auth: authentication failed, invalid user ID or password": AuthenticationFailedError,
    "auth: permission denied": PermissionDeniedError,
    "auth: role is not granted to the user": RoleNotGrantedError,
    "auth: permission is not granted to the role": PermissionNotGrantedError,
    "auth: authentication is not enabled": AuthNotEnabledError,
    "auth: revision in header is old": AuthOldRevisionError,
    "auth: invalid auth token": InvalidAuthTokenError,
    "auth: invalid auth management": InvalidAuthMgmtError,
    "auth: authentication failed, password was given for no password user": (
        AuthenticationFailedError
    ),
}

#: etcd's exact error message -> the class raised for it. Read-only.
MESSAGE_TO_ERROR: Mapping[str, type[EtcdError]] = MappingProxyType({**_CATALOGUE, **_UNTRANSLATED})

# Longest first, so that the most specific known message wins a prefix match.
_BY_LENGTH: tuple[tuple[str, type[EtcdError]], ...] = tuple(
    sorted(MESSAGE_TO_ERROR.items(), key=lambda item: len(item[0]), reverse=True)
)

# Go's status.Error(...).Error() form, which etcd puts in some watch cancel reasons.
_GO_STATUS_TEXT = re.compile(r"rpc error: code = \w+ desc = (?P<desc>.*)", re.DOTALL)

_SERVER_PREFIX = "etcdserver: "

_BY_STATUS: Mapping[Status, type[EtcdError]] = MappingProxyType(
    {
        Status.UNAVAILABLE: UnavailableError,
        Status.DEADLINE_EXCEEDED: DeadlineExceededError,
        Status.CANCELLED: RequestCanceledError,
        Status.RESOURCE_EXHAUSTED: ResourceExhaustedError,
        Status.UNAUTHENTICATED: UnauthenticatedError,
        Status.PERMISSION_DENIED: PermissionDeniedError,
        Status.UNIMPLEMENTED: UnimplementedError,
    }
)


def _lookup(message: str) -> type[EtcdError] | None:
    exact = MESSAGE_TO_ERROR.get(message)
    if exact is not None:
        return exact
    # A known message followed by detail the server appended.
    for known, cls in _BY_LENGTH:
        if message.startswith(known) and not message[len(known)].isalnum():
            return cls
    return None


def class_for_message(message: str) -> type[EtcdError] | None:
    """Return the class for one of etcd's error messages, or None if it is unknown.

    Tries, in order: the exact message; the message without Go's
    ``"rpc error: code = ... desc = "`` wrapper; the message with the
    ``"etcdserver: "`` prefix added; and each of these as a known message
    followed by appended detail (longest known message wins).
    """
    message = message.strip()
    if not message:
        return None
    candidates = [message]
    wrapped = _GO_STATUS_TEXT.fullmatch(message)
    if wrapped is not None:
        candidates.append(wrapped.group("desc").strip())
    for candidate in list(candidates):
        if not candidate.startswith(_SERVER_PREFIX):
            candidates.append(_SERVER_PREFIX + candidate)
    for candidate in candidates:
        cls = _lookup(candidate)
        if cls is not None:
            return cls
    return None


def error_for(status: Status | None, message: str | None, details: Any = None) -> EtcdError:
    """Build the exception for a gRPC status and etcd message.

    The message decides when it is one of etcd's (see :func:`class_for_message`);
    otherwise the status does: UNAVAILABLE -> :class:`UnavailableError`,
    DEADLINE_EXCEEDED -> :class:`DeadlineExceededError`, CANCELLED ->
    :class:`RequestCanceledError`, RESOURCE_EXHAUSTED -> :class:`ResourceExhaustedError`,
    UNAUTHENTICATED -> :class:`UnauthenticatedError`, PERMISSION_DENIED ->
    :class:`PermissionDeniedError`, UNIMPLEMENTED -> :class:`UnimplementedError`,
    anything else -> :class:`ServerError`. The instance keeps ``status``, the
    message verbatim (or the status name when there is none) and ``details``.
    """
    cls = class_for_message(message) if message else None
    if cls is None:
        fallback = _BY_STATUS.get(status) if status is not None else None
        cls = fallback if fallback is not None else ServerError
    if not message:
        message = status.name if status is not None else cls.default_message
    return cls(message, status=status, details=details)


def from_grpc_error(exc: GRPCError) -> EtcdError:
    """Translate a grpclib ``GRPCError`` into the matching :class:`EtcdError`.

    The result is not chained; callers should ``raise from_grpc_error(e) from e``.
    """
    return error_for(exc.status, exc.message, exc.details)
