"""Authentication and authorisation: enabling auth, users, roles and permissions.

Like Go's `auth.go`. Logging in is not here: a `Client` created with `username` and
`password` obtains its token (and refreshes it) in the transport
(`aetcd._transport._auth`). These calls manage etcd's auth store and need the root
role once auth is enabled.

User and role names are text in etcd's API (`str`; `bytes` are decoded as UTF-8);
permission keys and range ends are `bytes`, like every key.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import _rpcs as rpc
from ._base import ServiceBase
from ._config import DEFAULT, TimeoutArg
from ._exceptions import ArgumentTypeError, ArgumentValueError
from ._keys import ALL_KEYS, check_bool, prefix_range_end, resolve_range
from ._models import ResponseHeader, header
from ._proto import authpb
from ._proto import etcdserverpb as pb

__all__ = [
    "AuthMixin",
    "AuthResponse",
    "AuthStatusResponse",
    "Permission",
    "RoleGetResponse",
    "RoleListResponse",
    "RolePermission",
    "UserGetResponse",
    "UserListResponse",
]


class Permission(enum.IntEnum):
    """What a role may do on a key range (etcd's `authpb.Permission.Type`)."""

    READ = 0
    WRITE = 1
    READWRITE = 2


@dataclass(frozen=True, slots=True)
class RolePermission:
    """One permission of a role: `perm_type` on the keys `[key, range_end)`.

    `range_end` is empty for a single key and `b"\\x00"` for "every key from `key`
    on"; a `key` of `b"\\x00"` with that `range_end` covers the whole keyspace.
    """

    perm_type: Permission
    key: bytes
    range_end: bytes

    def __str__(self) -> str:
        kind = self.perm_type.name.lower()
        if not self.range_end:
            return f"{kind} {_show(self.key)}"
        if self.range_end == ALL_KEYS:
            if self.key == ALL_KEYS:
                return f"{kind} all keys"
            return f"{kind} keys from {_show(self.key)}"
        if self.range_end == prefix_range_end(self.key):
            return f"{kind} prefix {_show(self.key)}"
        return f"{kind} [{_show(self.key)}, {_show(self.range_end)})"


def _show(key: bytes) -> str:
    try:
        return repr(key.decode())
    except UnicodeDecodeError:
        return repr(key)


@dataclass(frozen=True, slots=True)
class AuthResponse:
    """Result of an auth store change (`auth_enable`, `user_add`, `role_grant_permission`,
    ...): the header of the member that applied it."""

    header: ResponseHeader


@dataclass(frozen=True, slots=True)
class AuthStatusResponse:
    """Result of `auth_status()`: whether auth is `enabled`, and the `auth_revision`
    (bumped by every change of users, roles or permissions)."""

    header: ResponseHeader
    enabled: bool
    auth_revision: int


@dataclass(frozen=True, slots=True)
class UserGetResponse:
    """Result of `user_get()`: the roles granted to the user."""

    header: ResponseHeader
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UserListResponse:
    """Result of `user_list()`: every user name (iterating the response yields them)."""

    header: ResponseHeader
    users: tuple[str, ...]

    def __iter__(self) -> Iterator[str]:
        return iter(self.users)

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True, slots=True)
class RoleGetResponse:
    """Result of `role_get()`: the role's permissions (iterating the response yields
    them)."""

    header: ResponseHeader
    perm: tuple[RolePermission, ...]

    def __iter__(self) -> Iterator[RolePermission]:
        return iter(self.perm)

    def __len__(self) -> int:
        return len(self.perm)


@dataclass(frozen=True, slots=True)
class RoleListResponse:
    """Result of `role_list()`: every role name (iterating the response yields them)."""

    header: ResponseHeader
    roles: tuple[str, ...]

    def __iter__(self) -> Iterator[str]:
        return iter(self.roles)

    def __len__(self) -> int:
        return len(self.roles)


def _name(arg: str, value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            value = bytes(value).decode()
        except UnicodeDecodeError:
            raise ArgumentValueError(f"{arg}: not valid UTF-8: {value!r}") from None
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{arg}: expected str, got {type(value).__name__}")
    if not value:
        raise ArgumentValueError(f"{arg}: must not be empty")
    return value


def _password(arg: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{arg}: expected str, got {type(value).__name__}")
    return value


def _permission(value: Any) -> Permission:
    if isinstance(value, Permission):
        return value
    if isinstance(value, str) and value.upper() in Permission.__members__:
        return Permission[value.upper()]
    raise ArgumentValueError(
        f"permission: expected aetcd.Permission (READ, WRITE, READWRITE), got {value!r}"
    )


def _perm_range(key: Any, range_end: Any, prefix: bool, from_key: bool) -> tuple[bytes, bytes]:
    # etcd stores permissions as intervals, so "every key" (an empty key with prefix
    # or from_key) is [b"\x00", b"\x00"), as etcdctl sends it; resolve_range does that.
    k, end = resolve_range(key, range_end, prefix=prefix, from_key=from_key)
    if end and end != ALL_KEYS and k >= end:
        raise ArgumentValueError(f"range_end: must be greater than key ({k!r} >= {end!r})")
    return k, end


def _role_permission(p: authpb.Permission) -> RolePermission:
    return RolePermission(Permission(int(p.perm_type)), p.key, p.range_end)


class AuthMixin(ServiceBase):
    """Auth store calls of `Client` (Go's `Auth` interface)."""

    async def _auth_change(self, method: Any, request: Any, timeout: TimeoutArg) -> AuthResponse:
        reply = await self._call(method, request, timeout)
        return AuthResponse(header(reply.header))

    # -- auth ---------------------------------------------------------------------

    async def auth_enable(self, *, timeout: TimeoutArg = DEFAULT) -> AuthResponse:
        """Turn authentication on. The `root` user must exist and hold the `root` role
        (`RootUserNotExistError`, `RootRoleNotExistError` otherwise); from then on
        every request needs a user (a `Client` with `username`/`password`)."""
        return await self._auth_change(rpc.AUTH_ENABLE, pb.AuthEnableRequest(), timeout)

    async def auth_disable(self, *, timeout: TimeoutArg = DEFAULT) -> AuthResponse:
        """Turn authentication off (needs the root role while it is on)."""
        return await self._auth_change(rpc.AUTH_DISABLE, pb.AuthDisableRequest(), timeout)

    async def auth_status(self, *, timeout: TimeoutArg = DEFAULT) -> AuthStatusResponse:
        """Whether authentication is enabled, and the auth store's revision (etcd >=
        3.5; etcd 3.4 has no such RPC and raises `UnimplementedError`)."""
        reply = await self._call(rpc.AUTH_STATUS, pb.AuthStatusRequest(), timeout)
        return AuthStatusResponse(header(reply.header), reply.enabled, reply.auth_revision)

    # -- users --------------------------------------------------------------------

    async def user_add(
        self,
        name: str,
        password: str | None = None,
        *,
        no_password: bool = False,
        timeout: TimeoutArg = DEFAULT,
    ) -> AuthResponse:
        """Add user `name` with `password`, or with `no_password=True` a user that
        cannot log in with a password (it authenticates with a TLS client certificate
        whose common name is `name`; etcd >= 3.4). Raises `UserAlreadyExistError`."""
        user = _name("name", name)
        if check_bool("no_password", no_password):
            if password is not None:
                raise ArgumentValueError("password: must not be given with no_password=True")
            request = pb.AuthUserAddRequest(
                name=user, options=authpb.UserAddOptions(no_password=True)
            )
        else:
            if password is None:
                raise ArgumentValueError(
                    "password: required (or pass no_password=True for a user that "
                    "authenticates with a client certificate)"
                )
            request = pb.AuthUserAddRequest(
                name=user,
                password=_password("password", password),
                options=authpb.UserAddOptions(no_password=False),
            )
        return await self._auth_change(rpc.USER_ADD, request, timeout)

    async def user_get(self, name: str, *, timeout: TimeoutArg = DEFAULT) -> UserGetResponse:
        """The roles of user `name`. Raises `UserNotFoundError`."""
        reply = await self._call(
            rpc.USER_GET, pb.AuthUserGetRequest(name=_name("name", name)), timeout
        )
        return UserGetResponse(header(reply.header), tuple(reply.roles))

    async def user_list(self, *, timeout: TimeoutArg = DEFAULT) -> UserListResponse:
        """Every user name."""
        reply = await self._call(rpc.USER_LIST, pb.AuthUserListRequest(), timeout)
        return UserListResponse(header(reply.header), tuple(reply.users))

    async def user_delete(self, name: str, *, timeout: TimeoutArg = DEFAULT) -> AuthResponse:
        """Delete user `name`. Raises `UserNotFoundError`."""
        return await self._auth_change(
            rpc.USER_DELETE, pb.AuthUserDeleteRequest(name=_name("name", name)), timeout
        )

    async def user_change_password(
        self, name: str, password: str, *, timeout: TimeoutArg = DEFAULT
    ) -> AuthResponse:
        """Set a new password for user `name`; its existing tokens stop working."""
        return await self._auth_change(
            rpc.USER_CHANGE_PASSWORD,
            pb.AuthUserChangePasswordRequest(
                name=_name("name", name), password=_password("password", password)
            ),
            timeout,
        )

    async def user_grant_role(
        self, user: str, role: str, *, timeout: TimeoutArg = DEFAULT
    ) -> AuthResponse:
        """Grant `role` to `user`. Raises `UserNotFoundError` or `RoleNotFoundError`."""
        return await self._auth_change(
            rpc.USER_GRANT_ROLE,
            pb.AuthUserGrantRoleRequest(user=_name("user", user), role=_name("role", role)),
            timeout,
        )

    async def user_revoke_role(
        self, user: str, role: str, *, timeout: TimeoutArg = DEFAULT
    ) -> AuthResponse:
        """Take `role` from `user`. Raises `RoleNotGrantedError` if it was not granted."""
        return await self._auth_change(
            rpc.USER_REVOKE_ROLE,
            pb.AuthUserRevokeRoleRequest(name=_name("user", user), role=_name("role", role)),
            timeout,
        )

    # -- roles --------------------------------------------------------------------

    async def role_add(self, name: str, *, timeout: TimeoutArg = DEFAULT) -> AuthResponse:
        """Add role `name` (without permissions). Raises `RoleAlreadyExistError`."""
        return await self._auth_change(
            rpc.ROLE_ADD, pb.AuthRoleAddRequest(name=_name("name", name)), timeout
        )

    async def role_get(self, name: str, *, timeout: TimeoutArg = DEFAULT) -> RoleGetResponse:
        """The permissions of role `name`. Raises `RoleNotFoundError`."""
        reply = await self._call(
            rpc.ROLE_GET, pb.AuthRoleGetRequest(role=_name("name", name)), timeout
        )
        return RoleGetResponse(header(reply.header), tuple(map(_role_permission, reply.perm)))

    async def role_list(self, *, timeout: TimeoutArg = DEFAULT) -> RoleListResponse:
        """Every role name."""
        reply = await self._call(rpc.ROLE_LIST, pb.AuthRoleListRequest(), timeout)
        return RoleListResponse(header(reply.header), tuple(reply.roles))

    async def role_delete(self, name: str, *, timeout: TimeoutArg = DEFAULT) -> AuthResponse:
        """Delete role `name` (users holding it lose it). Raises `RoleNotFoundError`."""
        return await self._auth_change(
            rpc.ROLE_DELETE, pb.AuthRoleDeleteRequest(role=_name("name", name)), timeout
        )

    async def role_grant_permission(
        self,
        role: str,
        key: str | bytes,
        *,
        range_end: str | bytes | None = None,
        prefix: bool = False,
        from_key: bool = False,
        permission: Permission = Permission.READ,
        timeout: TimeoutArg = DEFAULT,
    ) -> AuthResponse:
        """Let `role` read, write or both (`permission`) the key `key`, the range
        `[key, range_end)`, every key starting with `key` (`prefix=True`) or every key
        from `key` on (`from_key=True`). An empty `key` with `prefix` or `from_key`
        means every key. Granting again with another `permission` replaces it."""
        k, end = _perm_range(key, range_end, prefix, from_key)
        request = pb.AuthRoleGrantPermissionRequest(
            name=_name("role", role),
            perm=authpb.Permission(
                perm_type=authpb.PermissionType(int(_permission(permission))),
                key=k,
                range_end=end,
            ),
        )
        return await self._auth_change(rpc.ROLE_GRANT_PERMISSION, request, timeout)

    async def role_revoke_permission(
        self,
        role: str,
        key: str | bytes,
        *,
        range_end: str | bytes | None = None,
        prefix: bool = False,
        from_key: bool = False,
        timeout: TimeoutArg = DEFAULT,
    ) -> AuthResponse:
        """Remove the permission of `role` on exactly the range given as to
        `role_grant_permission`. Raises `PermissionNotGrantedError` when the role has
        no permission on that exact range."""
        k, end = _perm_range(key, range_end, prefix, from_key)
        request = pb.AuthRoleRevokePermissionRequest(role=_name("role", role), key=k, range_end=end)
        return await self._auth_change(rpc.ROLE_REVOKE_PERMISSION, request, timeout)
