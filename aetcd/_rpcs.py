"""Every etcd RPC aetcd calls, with its retry class (Go clientv3's `retry.go` lists).

Idempotent RPCs are resent on another endpoint after UNAVAILABLE; the others only when
they cannot have reached a server. See `aetcd._transport._transport` for the rules.
"""

from __future__ import annotations

from grpclib.const import Cardinality

from . import _codec
from ._proto import etcdserverpb as pb
from ._proto import v3electionpb as epb
from ._proto import v3lockpb as lpb
from ._transport import Decoder, Method

__all__ = [
    "ALARM",
    "AUTHENTICATE",
    "AUTH_DISABLE",
    "AUTH_ENABLE",
    "AUTH_STATUS",
    "CAMPAIGN",
    "COMPACT",
    "DEFRAGMENT",
    "DELETE_RANGE",
    "HASH",
    "HASH_KV",
    "LEADER",
    "LEASE_GRANT",
    "LEASE_KEEP_ALIVE",
    "LEASE_LEASES",
    "LEASE_REVOKE",
    "LEASE_TIME_TO_LIVE",
    "LOCK",
    "MEMBER_ADD",
    "MEMBER_LIST",
    "MEMBER_PROMOTE",
    "MEMBER_REMOVE",
    "MEMBER_UPDATE",
    "MOVE_LEADER",
    "OBSERVE",
    "PROCLAIM",
    "PUT",
    "RANGE",
    "RESIGN",
    "ROLE_ADD",
    "ROLE_DELETE",
    "ROLE_GET",
    "ROLE_GRANT_PERMISSION",
    "ROLE_LIST",
    "ROLE_REVOKE_PERMISSION",
    "SNAPSHOT",
    "STATUS",
    "TXN",
    "UNLOCK",
    "USER_ADD",
    "USER_CHANGE_PASSWORD",
    "USER_DELETE",
    "USER_GET",
    "USER_GRANT_ROLE",
    "USER_LIST",
    "USER_REVOKE_ROLE",
    "WATCH",
]

_KV = "/etcdserverpb.KV/"
_WATCH = "/etcdserverpb.Watch/"
_LEASE = "/etcdserverpb.Lease/"
_CLUSTER = "/etcdserverpb.Cluster/"
_MAINT = "/etcdserverpb.Maintenance/"
_AUTH = "/etcdserverpb.Auth/"
_LOCK = "/v3lockpb.Lock/"
_ELECTION = "/v3electionpb.Election/"

# KV: only Range is idempotent. A Txn containing only reads would be too, but Go
# treats every Txn as a mutation and so do we.
# The KV replies are decoded straight into public results (aetcd._codec).
RANGE = Method(
    _KV + "Range", pb.RangeRequest, Decoder(_codec.decode_range_response), idempotent=True
)
PUT = Method(_KV + "Put", pb.PutRequest, Decoder(_codec.decode_put_response), idempotent=False)
DELETE_RANGE = Method(
    _KV + "DeleteRange",
    pb.DeleteRangeRequest,
    Decoder(_codec.decode_delete_response),
    idempotent=False,
)
TXN = Method(_KV + "Txn", pb.TxnRequest, Decoder(_codec.decode_txn_response), idempotent=False)
COMPACT = Method(_KV + "Compact", pb.CompactionRequest, pb.CompactionResponse, idempotent=False)

# Watch and keep-alive replies are decoded straight into what `_watch` and `_lease` use.
WATCH = Method(
    _WATCH + "Watch",
    pb.WatchRequest,
    Decoder(_codec.decode_watch_response),
    idempotent=False,
    cardinality=Cardinality.STREAM_STREAM,
)

# Lease: granting twice leaks at most a lease that expires on its own; Go retries it.
LEASE_GRANT = Method(
    _LEASE + "LeaseGrant", pb.LeaseGrantRequest, pb.LeaseGrantResponse, idempotent=True
)
LEASE_REVOKE = Method(
    _LEASE + "LeaseRevoke", pb.LeaseRevokeRequest, pb.LeaseRevokeResponse, idempotent=True
)
LEASE_KEEP_ALIVE = Method(
    _LEASE + "LeaseKeepAlive",
    pb.LeaseKeepAliveRequest,
    Decoder(_codec.decode_lease_keep_alive_response),
    idempotent=True,
    cardinality=Cardinality.STREAM_STREAM,
)
LEASE_TIME_TO_LIVE = Method(
    _LEASE + "LeaseTimeToLive",
    pb.LeaseTimeToLiveRequest,
    pb.LeaseTimeToLiveResponse,
    idempotent=True,
)
LEASE_LEASES = Method(
    _LEASE + "LeaseLeases", pb.LeaseLeasesRequest, pb.LeaseLeasesResponse, idempotent=True
)

MEMBER_ADD = Method(
    _CLUSTER + "MemberAdd", pb.MemberAddRequest, pb.MemberAddResponse, idempotent=False
)
MEMBER_REMOVE = Method(
    _CLUSTER + "MemberRemove", pb.MemberRemoveRequest, pb.MemberRemoveResponse, idempotent=False
)
MEMBER_UPDATE = Method(
    _CLUSTER + "MemberUpdate", pb.MemberUpdateRequest, pb.MemberUpdateResponse, idempotent=False
)
MEMBER_LIST = Method(
    _CLUSTER + "MemberList", pb.MemberListRequest, pb.MemberListResponse, idempotent=True
)
MEMBER_PROMOTE = Method(
    _CLUSTER + "MemberPromote",
    pb.MemberPromoteRequest,
    pb.MemberPromoteResponse,
    idempotent=False,
)

ALARM = Method(_MAINT + "Alarm", pb.AlarmRequest, pb.AlarmResponse, idempotent=True)
STATUS = Method(_MAINT + "Status", pb.StatusRequest, pb.StatusResponse, idempotent=True)
DEFRAGMENT = Method(
    _MAINT + "Defragment", pb.DefragmentRequest, pb.DefragmentResponse, idempotent=False
)
HASH = Method(_MAINT + "Hash", pb.HashRequest, pb.HashResponse, idempotent=True)
HASH_KV = Method(_MAINT + "HashKV", pb.HashKvRequest, pb.HashKvResponse, idempotent=True)
SNAPSHOT = Method(
    _MAINT + "Snapshot",
    pb.SnapshotRequest,
    pb.SnapshotResponse,
    idempotent=True,
    cardinality=Cardinality.UNARY_STREAM,
)
MOVE_LEADER = Method(
    _MAINT + "MoveLeader", pb.MoveLeaderRequest, pb.MoveLeaderResponse, idempotent=True
)

# A token issued twice is harmless, so logging in may be resent.
AUTHENTICATE = Method(
    _AUTH + "Authenticate",
    pb.AuthenticateRequest,
    pb.AuthenticateResponse,
    idempotent=True,
    authenticated=False,
)
AUTH_ENABLE = Method(
    _AUTH + "AuthEnable", pb.AuthEnableRequest, pb.AuthEnableResponse, idempotent=False
)
AUTH_DISABLE = Method(
    _AUTH + "AuthDisable", pb.AuthDisableRequest, pb.AuthDisableResponse, idempotent=False
)
AUTH_STATUS = Method(
    _AUTH + "AuthStatus", pb.AuthStatusRequest, pb.AuthStatusResponse, idempotent=True
)
USER_ADD = Method(
    _AUTH + "UserAdd", pb.AuthUserAddRequest, pb.AuthUserAddResponse, idempotent=False
)
USER_GET = Method(_AUTH + "UserGet", pb.AuthUserGetRequest, pb.AuthUserGetResponse, idempotent=True)
USER_LIST = Method(
    _AUTH + "UserList", pb.AuthUserListRequest, pb.AuthUserListResponse, idempotent=True
)
USER_DELETE = Method(
    _AUTH + "UserDelete", pb.AuthUserDeleteRequest, pb.AuthUserDeleteResponse, idempotent=False
)
USER_CHANGE_PASSWORD = Method(
    _AUTH + "UserChangePassword",
    pb.AuthUserChangePasswordRequest,
    pb.AuthUserChangePasswordResponse,
    idempotent=False,
)
USER_GRANT_ROLE = Method(
    _AUTH + "UserGrantRole",
    pb.AuthUserGrantRoleRequest,
    pb.AuthUserGrantRoleResponse,
    idempotent=False,
)
USER_REVOKE_ROLE = Method(
    _AUTH + "UserRevokeRole",
    pb.AuthUserRevokeRoleRequest,
    pb.AuthUserRevokeRoleResponse,
    idempotent=False,
)
ROLE_ADD = Method(
    _AUTH + "RoleAdd", pb.AuthRoleAddRequest, pb.AuthRoleAddResponse, idempotent=False
)
ROLE_GET = Method(_AUTH + "RoleGet", pb.AuthRoleGetRequest, pb.AuthRoleGetResponse, idempotent=True)
ROLE_LIST = Method(
    _AUTH + "RoleList", pb.AuthRoleListRequest, pb.AuthRoleListResponse, idempotent=True
)
ROLE_DELETE = Method(
    _AUTH + "RoleDelete", pb.AuthRoleDeleteRequest, pb.AuthRoleDeleteResponse, idempotent=False
)
ROLE_GRANT_PERMISSION = Method(
    _AUTH + "RoleGrantPermission",
    pb.AuthRoleGrantPermissionRequest,
    pb.AuthRoleGrantPermissionResponse,
    idempotent=False,
)
ROLE_REVOKE_PERMISSION = Method(
    _AUTH + "RoleRevokePermission",
    pb.AuthRoleRevokePermissionRequest,
    pb.AuthRoleRevokePermissionResponse,
    idempotent=False,
)

LOCK = Method(_LOCK + "Lock", lpb.LockRequest, lpb.LockResponse, idempotent=False)
UNLOCK = Method(_LOCK + "Unlock", lpb.UnlockRequest, lpb.UnlockResponse, idempotent=False)

CAMPAIGN = Method(
    _ELECTION + "Campaign", epb.CampaignRequest, epb.CampaignResponse, idempotent=False
)
PROCLAIM = Method(
    _ELECTION + "Proclaim", epb.ProclaimRequest, epb.ProclaimResponse, idempotent=False
)
LEADER = Method(_ELECTION + "Leader", epb.LeaderRequest, epb.LeaderResponse, idempotent=True)
OBSERVE = Method(
    _ELECTION + "Observe",
    epb.LeaderRequest,
    epb.LeaderResponse,
    idempotent=True,
    cardinality=Cardinality.UNARY_STREAM,
)
RESIGN = Method(_ELECTION + "Resign", epb.ResignRequest, epb.ResignResponse, idempotent=False)
