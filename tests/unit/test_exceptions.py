"""Tests for aetcd._exceptions: the exception tree and etcd error mapping."""

from __future__ import annotations

import asyncio
import pickle

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from aetcd import _exceptions as exc

# etcd's server error catalogue (api/v3rpc/rpctypes), with the gRPC code etcd 3.6
# sends for each message, and the class aetcd must raise.
CATALOGUE: list[tuple[str, Status, type[exc.EtcdError]]] = [
    ("etcdserver: key is not provided", Status.INVALID_ARGUMENT, exc.EmptyKeyError),
    ("etcdserver: key not found", Status.INVALID_ARGUMENT, exc.KeyNotFoundError),
    ("etcdserver: value is provided", Status.INVALID_ARGUMENT, exc.ValueProvidedError),
    ("etcdserver: lease is provided", Status.INVALID_ARGUMENT, exc.LeaseProvidedError),
    (
        "etcdserver: too many operations in txn request",
        Status.INVALID_ARGUMENT,
        exc.TooManyOpsError,
    ),
    (
        "etcdserver: duplicate key given in txn request",
        Status.INVALID_ARGUMENT,
        exc.DuplicateKeyError,
    ),
    (
        "etcdserver: invalid client api version",
        Status.INVALID_ARGUMENT,
        exc.InvalidClientAPIVersionError,
    ),
    ("etcdserver: invalid sort option", Status.INVALID_ARGUMENT, exc.InvalidSortOptionError),
    (
        "etcdserver: mvcc: required revision has been compacted",
        Status.OUT_OF_RANGE,
        exc.CompactedError,
    ),
    (
        "etcdserver: mvcc: required revision is a future revision",
        Status.OUT_OF_RANGE,
        exc.FutureRevisionError,
    ),
    ("etcdserver: mvcc: database space exceeded", Status.RESOURCE_EXHAUSTED, exc.NoSpaceError),
    ("etcdserver: requested lease not found", Status.NOT_FOUND, exc.LeaseNotFoundError),
    ("etcdserver: lease already exists", Status.FAILED_PRECONDITION, exc.LeaseExistsError),
    ("etcdserver: too large lease TTL", Status.OUT_OF_RANGE, exc.LeaseTTLTooLargeError),
    ("etcdserver: watch canceled", Status.CANCELLED, exc.WatchCanceledError),
    ("etcdserver: member ID already exist", Status.FAILED_PRECONDITION, exc.MemberExistError),
    ("etcdserver: Peer URLs already exists", Status.FAILED_PRECONDITION, exc.PeerURLExistError),
    (
        "etcdserver: re-configuration failed due to not enough started members",
        Status.FAILED_PRECONDITION,
        exc.MemberNotEnoughStartedError,
    ),
    (
        "etcdserver: given member URLs are invalid",
        Status.INVALID_ARGUMENT,
        exc.MemberBadURLsError,
    ),
    ("etcdserver: member not found", Status.NOT_FOUND, exc.MemberNotFoundError),
    (
        "etcdserver: can only promote a learner member",
        Status.FAILED_PRECONDITION,
        exc.MemberNotLearnerError,
    ),
    (
        "etcdserver: can only promote a learner member which is in sync with leader",
        Status.FAILED_PRECONDITION,
        exc.LearnerNotReadyError,
    ),
    (
        "etcdserver: too many learner members in cluster",
        Status.FAILED_PRECONDITION,
        exc.TooManyLearnersError,
    ),
    ("etcdserver: cluster ID mismatch", Status.FAILED_PRECONDITION, exc.ClusterIdMismatchError),
    ("etcdserver: request is too large", Status.INVALID_ARGUMENT, exc.RequestTooLargeError),
    ("etcdserver: too many requests", Status.RESOURCE_EXHAUSTED, exc.TooManyRequestsError),
    (
        "etcdserver: root user does not exist",
        Status.FAILED_PRECONDITION,
        exc.RootUserNotExistError,
    ),
    (
        "etcdserver: root user does not have root role",
        Status.FAILED_PRECONDITION,
        exc.RootRoleNotExistError,
    ),
    (
        "etcdserver: user name already exists",
        Status.FAILED_PRECONDITION,
        exc.UserAlreadyExistError,
    ),
    ("etcdserver: user name is empty", Status.INVALID_ARGUMENT, exc.UserEmptyError),
    ("etcdserver: user name not found", Status.FAILED_PRECONDITION, exc.UserNotFoundError),
    (
        "etcdserver: role name already exists",
        Status.FAILED_PRECONDITION,
        exc.RoleAlreadyExistError,
    ),
    ("etcdserver: role name not found", Status.FAILED_PRECONDITION, exc.RoleNotFoundError),
    ("etcdserver: role name is empty", Status.INVALID_ARGUMENT, exc.RoleEmptyError),
    (
        "etcdserver: authentication failed, invalid user ID or password",
        Status.INVALID_ARGUMENT,
        exc.AuthenticationFailedError,
    ),
    ("etcdserver: permission not given", Status.INVALID_ARGUMENT, exc.PermissionNotGivenError),
    ("etcdserver: permission denied", Status.PERMISSION_DENIED, exc.PermissionDeniedError),
    (
        "etcdserver: role is not granted to the user",
        Status.FAILED_PRECONDITION,
        exc.RoleNotGrantedError,
    ),
    (
        "etcdserver: permission is not granted to the role",
        Status.FAILED_PRECONDITION,
        exc.PermissionNotGrantedError,
    ),
    (
        "etcdserver: authentication is not enabled",
        Status.FAILED_PRECONDITION,
        exc.AuthNotEnabledError,
    ),
    ("etcdserver: invalid auth token", Status.UNAUTHENTICATED, exc.InvalidAuthTokenError),
    ("etcdserver: invalid auth management", Status.INVALID_ARGUMENT, exc.InvalidAuthMgmtError),
    (
        "etcdserver: revision of auth store is old",
        Status.INVALID_ARGUMENT,
        exc.AuthOldRevisionError,
    ),
    ("etcdserver: no leader", Status.UNAVAILABLE, exc.NoLeaderError),
    ("etcdserver: not leader", Status.FAILED_PRECONDITION, exc.NotLeaderError),
    ("etcdserver: leader changed", Status.UNAVAILABLE, exc.LeaderChangedError),
    ("etcdserver: not capable", Status.FAILED_PRECONDITION, exc.NotCapableError),
    ("etcdserver: server stopped", Status.UNAVAILABLE, exc.StoppedError),
    ("etcdserver: request timed out", Status.UNAVAILABLE, exc.ServerTimeoutError),
    (
        "etcdserver: request timed out, possibly due to previous leader failure",
        Status.UNAVAILABLE,
        exc.ServerTimeoutError,
    ),
    (
        "etcdserver: request timed out, possibly due to connection lost",
        Status.UNAVAILABLE,
        exc.ServerTimeoutError,
    ),
    (
        "etcdserver: request timed out, waiting for the applied index took too long",
        Status.UNAVAILABLE,
        exc.ServerTimeoutError,
    ),
    ("etcdserver: unhealthy cluster", Status.UNAVAILABLE, exc.UnhealthyError),
    ("etcdserver: corrupt cluster", Status.DATA_LOSS, exc.CorruptError),
    (
        "etcdserver: rpc not supported for learner",
        Status.FAILED_PRECONDITION,
        exc.NotSupportedForLearnerError,
    ),
    (
        "etcdserver: bad leader transferee",
        Status.FAILED_PRECONDITION,
        exc.BadLeaderTransfereeError,
    ),
    (
        "etcdserver: wrong downgrade target version format",
        Status.INVALID_ARGUMENT,
        exc.WrongDowngradeVersionFormatError,
    ),
    (
        "etcdserver: invalid downgrade target version",
        Status.INVALID_ARGUMENT,
        exc.InvalidDowngradeTargetVersionError,
    ),
    (
        "etcdserver: cluster version not found during downgrade",
        Status.FAILED_PRECONDITION,
        exc.ClusterVersionUnavailableError,
    ),
    (
        "etcdserver: cluster has a downgrade job in progress",
        Status.FAILED_PRECONDITION,
        exc.DowngradeInProcessError,
    ),
    (
        "etcdserver: no inflight downgrade job",
        Status.FAILED_PRECONDITION,
        exc.NoInflightDowngradeError,
    ),
    ("etcdserver: request canceled", Status.CANCELLED, exc.RequestCanceledError),
    (
        "etcdserver: context deadline exceeded",
        Status.DEADLINE_EXCEEDED,
        exc.DeadlineExceededError,
    ),
]

# Codes etcd 3.4 used for messages whose code changed later.
OLD_CODES: list[tuple[str, Status, type[exc.EtcdError]]] = [
    ("etcdserver: not capable", Status.UNAVAILABLE, exc.NotCapableError),
    (
        "etcdserver: cluster version not found during downgrade",
        Status.UNAVAILABLE,
        exc.ClusterVersionUnavailableError,
    ),
    (
        "etcdserver: rpc not supported for learner",
        Status.UNAVAILABLE,
        exc.NotSupportedForLearnerError,
    ),
]

# Internal messages that etcd passes through untranslated (status UNKNOWN).
UNTRANSLATED: list[tuple[str, type[exc.EtcdError]]] = [
    ("etcdserver: no space", exc.NoSpaceError),
    ("etcdserver: request cancelled", exc.RequestCanceledError),
    ("etcdserver: request timed out, leader transfer took too long", exc.ServerTimeoutError),
    (
        "auth: authentication failed, password was given for no password user",
        exc.AuthenticationFailedError,
    ),
    # The auth store's own messages (seen untranslated from etcd 3.5.1).
    ("auth: root user does not exist", exc.RootUserNotExistError),
    ("auth: root user does not have root role", exc.RootRoleNotExistError),
    ("auth: user already exists", exc.UserAlreadyExistError),
    ("auth: user name is empty", exc.UserEmptyError),
    ("auth: user not found", exc.UserNotFoundError),
    ("auth: role already exists", exc.RoleAlreadyExistError),
    ("auth: role not found", exc.RoleNotFoundError),
    ("auth: role name is empty", exc.RoleEmptyError),
    ("auth: permission not given", exc.PermissionNotGivenError),
    ("auth: authentication failed, invalid user ID or password", exc.AuthenticationFailedError),
    ("auth: permission denied", exc.PermissionDeniedError),
    ("auth: role is not granted to the user", exc.RoleNotGrantedError),
    ("auth: permission is not granted to the role", exc.PermissionNotGrantedError),
    ("auth: authentication is not enabled", exc.AuthNotEnabledError),
    ("auth: revision in header is old", exc.AuthOldRevisionError),
    ("auth: invalid auth token", exc.InvalidAuthTokenError),
    ("auth: invalid auth management", exc.InvalidAuthMgmtError),
]

EXPORTED_CLASSES: list[type[exc.EtcdError]] = [
    obj
    for name in exc.__all__
    if isinstance(obj := getattr(exc, name), type) and issubclass(obj, exc.EtcdError)
]
EXPORTED_NON_CLASSES = {"MESSAGE_TO_ERROR", "class_for_message", "error_for", "from_grpc_error"}


def _ids(cases: list[tuple[str, Status, type[exc.EtcdError]]]) -> list[str]:
    return [message for message, _, _ in cases]


# ------------------------------------------------------------------------- mapping


@pytest.mark.parametrize(("message", "status", "cls"), CATALOGUE, ids=_ids(CATALOGUE))
def test_catalogue_message_maps_to_class(
    message: str, status: Status, cls: type[exc.EtcdError]
) -> None:
    err = exc.from_grpc_error(GRPCError(status, message, details=["detail"]))
    assert type(err) is cls
    assert err.status is status
    assert err.message == message
    assert err.details == ["detail"]
    assert exc.MESSAGE_TO_ERROR[message] is cls
    assert exc.class_for_message(message) is cls


@pytest.mark.parametrize(("message", "status", "cls"), CATALOGUE, ids=_ids(CATALOGUE))
def test_message_wins_over_any_status(
    message: str, status: Status, cls: type[exc.EtcdError]
) -> None:
    for other in (Status.UNKNOWN, Status.INTERNAL, Status.UNAVAILABLE):
        err = exc.error_for(other, message)
        assert type(err) is cls
        assert err.status is other


@pytest.mark.parametrize(("message", "status", "cls"), OLD_CODES, ids=_ids(OLD_CODES))
def test_older_etcd_codes_map_by_message(
    message: str, status: Status, cls: type[exc.EtcdError]
) -> None:
    assert type(exc.error_for(status, message)) is cls


@pytest.mark.parametrize(("message", "cls"), UNTRANSLATED)
def test_untranslated_internal_messages(message: str, cls: type[exc.EtcdError]) -> None:
    err = exc.error_for(Status.UNKNOWN, message)
    assert type(err) is cls
    assert err.message == message


def test_registry_covers_whole_catalogue_and_nothing_unexpected() -> None:
    expected = {message for message, _, _ in CATALOGUE} | {m for m, _ in UNTRANSLATED}
    assert set(exc.MESSAGE_TO_ERROR) == expected
    assert all(m.startswith(("etcdserver: ", "auth: ")) for m in exc.MESSAGE_TO_ERROR)


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        exc.MESSAGE_TO_ERROR["x"] = exc.ServerError  # type: ignore[index]


def test_default_message_is_the_canonical_etcd_message() -> None:
    for cls in {cls for _, _, cls in CATALOGUE} - {exc.DeadlineExceededError}:
        assert exc.MESSAGE_TO_ERROR[cls.default_message] is cls, cls
        assert cls().message == cls.default_message


def test_message_with_appended_detail() -> None:
    err = exc.error_for(Status.UNAVAILABLE, "etcdserver: request timed out, something new in 3.7")
    assert type(err) is exc.ServerTimeoutError
    err = exc.error_for(Status.INVALID_ARGUMENT, "etcdserver: request is too large: 2 MiB")
    assert type(err) is exc.RequestTooLargeError
    assert err.message == "etcdserver: request is too large: 2 MiB"
    # Longest known message wins.
    err = exc.error_for(
        Status.FAILED_PRECONDITION,
        "etcdserver: can only promote a learner member which is in sync with leader (x)",
    )
    assert type(err) is exc.LearnerNotReadyError
    # A known message followed by more letters is a different word, not a suffix.
    assert exc.class_for_message("etcdserver: not leaderless") is None


def test_go_status_text_and_missing_prefix() -> None:
    # Watch cancel reasons may carry Go's status.Error() text.
    text = "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token"
    assert exc.class_for_message(text) is exc.InvalidAuthTokenError
    assert exc.class_for_message("mvcc: required revision has been compacted") is (
        exc.CompactedError
    )
    assert exc.class_for_message("") is None
    assert exc.class_for_message("something else entirely") is None


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (Status.UNAVAILABLE, exc.UnavailableError),
        (Status.DEADLINE_EXCEEDED, exc.DeadlineExceededError),
        (Status.CANCELLED, exc.RequestCanceledError),
        (Status.RESOURCE_EXHAUSTED, exc.ResourceExhaustedError),
        (Status.UNAUTHENTICATED, exc.UnauthenticatedError),
        (Status.PERMISSION_DENIED, exc.PermissionDeniedError),
        (Status.UNIMPLEMENTED, exc.UnimplementedError),
        (Status.UNKNOWN, exc.ServerError),
        (Status.INTERNAL, exc.ServerError),
        (Status.INVALID_ARGUMENT, exc.ServerError),
        (Status.FAILED_PRECONDITION, exc.ServerError),
        (Status.NOT_FOUND, exc.ServerError),
        (Status.OUT_OF_RANGE, exc.ServerError),
        (Status.DATA_LOSS, exc.ServerError),
    ],
)
def test_unknown_message_falls_back_by_status(status: Status, cls: type[exc.EtcdError]) -> None:
    err = exc.from_grpc_error(GRPCError(status, "some future etcd message", details=None))
    assert type(err) is cls
    assert err.status is status
    assert err.message == "some future etcd message"


def test_missing_message_uses_status_name() -> None:
    err = exc.from_grpc_error(GRPCError(Status.UNAVAILABLE))
    assert type(err) is exc.UnavailableError
    assert err.message == "UNAVAILABLE"
    assert err.status is Status.UNAVAILABLE
    err = exc.error_for(None, None)
    assert type(err) is exc.ServerError
    assert err.status is None


def test_from_grpc_error_with_unmapped_status_message_is_server_error() -> None:
    err = exc.from_grpc_error(GRPCError(Status.UNKNOWN, "boom"))
    assert isinstance(err, exc.ServerError)
    assert not isinstance(err, exc.UnavailableError)


# ------------------------------------------------------------------------- tree


def test_every_exported_class_is_an_etcd_error_with_docstring() -> None:
    assert len(EXPORTED_CLASSES) == len(exc.__all__) - len(EXPORTED_NON_CLASSES)
    for cls in EXPORTED_CLASSES:
        doc = cls.__doc__
        assert doc, cls
        assert "\n" not in doc.strip(), cls


def test_all_is_complete_and_resolvable() -> None:
    for name in exc.__all__:
        assert hasattr(exc, name), name
    public_classes = {
        name
        for name, obj in vars(exc).items()
        if isinstance(obj, type)
        and issubclass(obj, exc.EtcdError)
        and obj.__module__ == exc.__name__
        and not name.startswith("_")
    }
    assert public_classes <= set(exc.__all__)
    assert len(exc.__all__) == len(set(exc.__all__))


def test_every_class_is_named_in_the_docstring_tree() -> None:
    assert exc.__doc__ is not None
    for cls in EXPORTED_CLASSES:
        assert cls.__name__ in exc.__doc__, cls


def test_builtin_relations() -> None:
    assert issubclass(exc.DeadlineExceededError, TimeoutError)
    assert issubclass(exc.LockTimeoutError, TimeoutError)
    assert issubclass(exc.ArgumentValueError, ValueError)
    assert issubclass(exc.ArgumentTypeError, TypeError)
    assert issubclass(exc.EmptyKeyError, ValueError)
    assert issubclass(exc.RequestTooLargeError, ValueError)
    assert not issubclass(exc.ServerTimeoutError, TimeoutError)
    assert not issubclass(exc.ServerTimeoutError, exc.DeadlineExceededError)
    assert not issubclass(exc.RequestCanceledError, asyncio.CancelledError)
    assert not issubclass(exc.WatchCanceledError, asyncio.CancelledError)


def test_family_relations() -> None:
    assert issubclass(exc.EmptyKeyError, exc.ServerError)
    assert issubclass(exc.EmptyKeyError, exc.KVError)
    assert issubclass(exc.EmptyKeyError, exc.UsageError)
    assert issubclass(exc.RequestTooLargeError, exc.ServerError)
    assert issubclass(exc.RequestTooLargeError, exc.UsageError)
    assert issubclass(exc.ClientClosedError, exc.UsageError)
    assert issubclass(exc.ConnectError, exc.UnavailableError)
    assert not issubclass(exc.ConnectError, exc.ServerError)
    assert not issubclass(exc.UnavailableError, exc.ServerError)
    assert not issubclass(exc.DeadlineExceededError, exc.ServerError)
    for cls in (
        exc.NoLeaderError,
        exc.NotLeaderError,
        exc.LeaderChangedError,
        exc.NotSupportedForLearnerError,
        exc.StoppedError,
        exc.ServerTimeoutError,
        exc.UnhealthyError,
    ):
        assert issubclass(cls, exc.ServerUnavailableError)
        assert issubclass(cls, exc.UnavailableError)
        assert issubclass(cls, exc.ServerError)
    assert issubclass(exc.LeaseExpiredError, exc.LeaseNotFoundError)
    assert issubclass(exc.LeaseNotFoundError, exc.LeaseError)
    assert issubclass(exc.CompactedError, exc.KVError)
    assert issubclass(exc.InvalidAuthTokenError, exc.UnauthenticatedError)
    assert issubclass(exc.AuthenticationFailedError, exc.UnauthenticatedError)
    assert issubclass(exc.PermissionDeniedError, exc.AuthError)
    assert issubclass(exc.WatchCanceledError, exc.RequestCanceledError)
    assert issubclass(exc.NoSpaceError, exc.ResourceExhaustedError)
    assert issubclass(exc.TooManyRequestsError, exc.ResourceExhaustedError)
    assert issubclass(exc.DowngradeInProcessError, exc.DowngradeError)
    assert issubclass(exc.DowngradeError, exc.ClusterError)


def test_retry_flags() -> None:
    safe = {
        exc.ConnectError,
        exc.NoLeaderError,
        exc.NotLeaderError,
        exc.LeaderChangedError,
        exc.NotSupportedForLearnerError,
        exc.UnhealthyError,
        exc.TooManyRequestsError,
    }
    for cls in EXPORTED_CLASSES:
        assert cls.retry_elsewhere is (cls in safe), cls
        assert not (cls.retry_elsewhere and cls.maybe_applied), cls
    for cls in (
        exc.ServerTimeoutError,
        exc.StoppedError,
        exc.DeadlineExceededError,
        exc.UnavailableError,
        exc.RequestCanceledError,
    ):
        assert cls.maybe_applied, cls
    for cls in (exc.CompactedError, exc.PermissionDeniedError, exc.EmptyKeyError):
        assert not cls.maybe_applied, cls


# ------------------------------------------------------------------------- instances


def test_str_shows_message_and_status() -> None:
    err = exc.error_for(
        Status.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"
    )
    assert "etcdserver: mvcc: required revision has been compacted" in str(err)
    assert "OUT_OF_RANGE" in str(err)
    assert str(exc.ClientClosedError()) == "the etcd client is closed"


def test_client_side_constructors() -> None:
    closed = exc.ClientClosedError()
    assert closed.status is None
    assert closed.details is None

    big = exc.RequestTooLargeError(
        "request of 3000000 bytes exceeds the 2097152-byte limit", size=3000000, limit=2097152
    )
    assert big.status is None
    assert big.size == 3000000
    assert big.limit == 2097152
    assert "size=3000000" in str(big)
    assert exc.RequestTooLargeError().message == "etcdserver: request is too large"

    expired = exc.LeaseExpiredError(lease_id=7)
    assert expired.lease_id == 7
    assert isinstance(expired, exc.LeaseNotFoundError)
    assert "lease_id=7" in str(expired)

    lock = exc.LockTimeoutError("could not lock b'/locks/a' within 5s")
    assert isinstance(lock, TimeoutError)
    assert lock.message == "could not lock b'/locks/a' within 5s"

    empty = exc.EmptyKeyError("key must not be empty", argument="key")
    assert isinstance(empty, ValueError)
    assert empty.argument == "key"
    assert empty.status is None

    bad = exc.ArgumentTypeError("key must be bytes or str, not int", argument="key")
    assert isinstance(bad, TypeError)
    assert bad.argument == "key"

    deadline = exc.DeadlineExceededError()
    assert isinstance(deadline, TimeoutError)
    assert deadline.message == "deadline exceeded"


def test_compacted_error_carries_compact_revision() -> None:
    err = exc.CompactedError(compact_revision=42)
    assert err.compact_revision == 42
    assert err.message == "etcdserver: mvcc: required revision has been compacted"
    assert "compact_revision=42" in str(err)

    mapped = exc.from_grpc_error(
        GRPCError(Status.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted")
    )
    assert isinstance(mapped, exc.CompactedError)
    assert mapped.compact_revision is None
    mapped.compact_revision = 17
    assert mapped.compact_revision == 17
    assert "compact_revision=17" in str(mapped)


def test_errors_can_be_raised_and_caught_as_builtins() -> None:
    with pytest.raises(TimeoutError):
        raise exc.error_for(Status.DEADLINE_EXCEEDED, "context deadline exceeded")
    with pytest.raises(ValueError, match="key is not provided"):
        raise exc.error_for(Status.INVALID_ARGUMENT, "etcdserver: key is not provided")
    with pytest.raises(exc.UnavailableError):
        raise exc.error_for(Status.UNAVAILABLE, "etcdserver: no leader")


@pytest.mark.parametrize(
    "err",
    [
        exc.CompactedError(compact_revision=5, status=Status.OUT_OF_RANGE, details=None),
        exc.DeadlineExceededError("late", status=Status.DEADLINE_EXCEEDED),
        exc.LockTimeoutError(),
        exc.LeaseExpiredError(lease_id=3),
        exc.RequestTooLargeError(size=10, limit=5),
        exc.EmptyKeyError(argument="key"),
        exc.NoLeaderError(status=Status.UNAVAILABLE),
        exc.ClientClosedError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_pickle_round_trip(err: exc.EtcdError) -> None:
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is type(err)
    assert clone.message == err.message
    assert clone.status is err.status
    assert vars(clone) == vars(err)
    assert str(clone) == str(err)
