"""Auth against real etcd: user and role management, permissions enforced on a
read-only user, and a logged-in client that keeps working when its token expires
(simple and JWT tokens) or goes stale after auth store changes."""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import aetcd
from aetcd import _rpcs as rpc
from aetcd._auth import Permission, RolePermission
from aetcd.testing import EtcdServer

ROOT = ("root", "rootpw")
ALICE = ("alice", "alicepw")


@pytest.fixture
def server() -> Iterator[EtcdServer]:
    """A fresh member with auth disabled."""
    with EtcdServer(name="auth") as s:
        yield s


async def set_up_auth(endpoint: str) -> None:
    """root (with the root role) and alice, who may only read keys under /app/."""
    async with aetcd.Client(endpoint) as admin:
        await admin.user_add(*ROOT)
        await admin.user_grant_role("root", "root")
        await admin.role_add("reader")
        await admin.role_grant_permission("reader", "/app/", prefix=True)
        await admin.user_add(*ALICE)
        await admin.user_grant_role("alice", "reader")
        await admin.put("/app/config", "v1")
        await admin.auth_enable()


async def auth_enabled(client: aetcd.Client, etcd_version: tuple[int, int, int]) -> bool | None:
    """`auth_status().enabled`; None on etcd 3.4, which lacks the AuthStatus RPC."""
    if etcd_version < (3, 5):
        with pytest.raises(aetcd.UnimplementedError, match="AuthStatus"):
            await client.auth_status()
        return None
    status = await client.auth_status()
    assert status.auth_revision > 0
    return status.enabled


def token_of(client: aetcd.Client) -> str | None:
    auth = client._transport.auth
    assert auth is not None
    return auth.current


# -- management ------------------------------------------------------------------------


async def test_users_and_roles(server: EtcdServer) -> None:
    async with aetcd.Client(server.endpoint) as client:
        await client.user_add("alice", "pw")
        await client.user_add(b"bob", no_password=True)  # names may be bytes
        assert tuple(await client.user_list()) == ("alice", "bob")
        assert (await client.user_get("alice")).roles == ()
        with pytest.raises(aetcd.UserAlreadyExistError):
            await client.user_add("alice", "pw2")

        await client.role_add("reader")
        await client.role_add("writer")
        with pytest.raises(aetcd.RoleAlreadyExistError):
            await client.role_add("reader")
        assert set(await client.role_list()) == {"reader", "writer"}

        await client.role_grant_permission("reader", "/app/", prefix=True)
        await client.role_grant_permission("reader", "/cfg", permission=Permission.WRITE)  # one key
        await client.role_grant_permission(
            "reader", "/r/a", range_end="/r/z", permission=Permission.READWRITE
        )
        await client.role_grant_permission("reader", "/z/", from_key=True, permission="read")
        perms = await client.role_get("reader")
        assert set(perms) == {
            RolePermission(Permission.READ, b"/app/", b"/app0"),
            RolePermission(Permission.WRITE, b"/cfg", b""),
            RolePermission(Permission.READWRITE, b"/r/a", b"/r/z"),
            RolePermission(Permission.READ, b"/z/", b"\x00"),
        }
        # etcdctl reads the same permissions back.
        theirs = server.etcdctl("role", "get", "reader")["perm"]
        assert {
            (
                int(p.get("permType", 0)),
                base64.b64decode(p["key"]),
                base64.b64decode(p.get("range_end", "")),
            )
            for p in theirs
        } == {(int(p.perm_type), p.key, p.range_end) for p in perms}

        # Granting the same range again replaces the permission type.
        await client.role_grant_permission("reader", "/cfg", permission=Permission.READWRITE)
        assert (
            RolePermission(Permission.READWRITE, b"/cfg", b"")
            in (await client.role_get("reader")).perm
        )
        await client.role_revoke_permission("reader", "/app/", prefix=True)
        await client.role_revoke_permission("reader", "/z/", from_key=True)
        assert len(await client.role_get("reader")) == 2
        with pytest.raises(aetcd.PermissionNotGrantedError):
            await client.role_revoke_permission("reader", "/app/", prefix=True)

        # An empty key with prefix means every key, as etcdctl sends it.
        await client.role_grant_permission("writer", "", prefix=True, permission="readwrite")
        assert tuple(await client.role_get("writer")) == (
            RolePermission(Permission.READWRITE, b"\x00", b"\x00"),
        )

        await client.user_grant_role("alice", "reader")
        await client.user_grant_role("alice", "writer")
        assert set((await client.user_get("alice")).roles) == {"reader", "writer"}
        await client.user_revoke_role("alice", "writer")
        assert (await client.user_get("alice")).roles == ("reader",)
        with pytest.raises(aetcd.RoleNotGrantedError):
            await client.user_revoke_role("alice", "writer")
        with pytest.raises(aetcd.RoleNotFoundError):
            await client.user_grant_role("alice", "nobody")
        with pytest.raises(aetcd.UserNotFoundError):
            await client.user_grant_role("nobody", "reader")

        await client.user_change_password("alice", "new password")
        await client.user_delete("alice")
        with pytest.raises(aetcd.UserNotFoundError):
            await client.user_get("alice")
        await client.role_delete("reader")
        with pytest.raises(aetcd.RoleNotFoundError):
            await client.role_get("reader")
        assert tuple(await client.user_list()) == ("bob",)


async def test_bad_arguments_raise_before_sending(client: aetcd.Client) -> None:
    with pytest.raises(aetcd.ArgumentValueError, match="password"):
        await client.user_add("carol")
    with pytest.raises(aetcd.ArgumentValueError, match="password"):
        await client.user_add("carol", "pw", no_password=True)
    with pytest.raises(aetcd.ArgumentTypeError, match="password"):
        await client.user_add("carol", b"pw")  # type: ignore[arg-type]
    with pytest.raises(aetcd.ArgumentValueError, match="name"):
        await client.user_add("", "pw")
    with pytest.raises(aetcd.ArgumentTypeError, match="name"):
        await client.role_add(7)  # type: ignore[arg-type]
    with pytest.raises(aetcd.ArgumentValueError, match="permission"):
        await client.role_grant_permission("r", "k", permission="admin")  # type: ignore[arg-type]
    with pytest.raises(aetcd.ArgumentValueError, match="range_end"):
        await client.role_grant_permission("r", "b", range_end="a")
    with pytest.raises(aetcd.ArgumentValueError, match="mutually exclusive"):
        await client.role_revoke_permission("r", "k", prefix=True, from_key=True)
    with pytest.raises(aetcd.EmptyKeyError):
        await client.role_grant_permission("r", "")


# -- enforcement -------------------------------------------------------------------------


async def test_read_only_user_on_a_prefix(
    server: EtcdServer, etcd_version: tuple[int, int, int]
) -> None:
    await set_up_auth(server.endpoint)
    async with aetcd.Client(server.endpoint, username="alice", password="alicepw") as alice:
        assert (await alice.get("/app/config")).kvs[0].value == b"v1"
        assert len(await alice.get("/app/", prefix=True)) == 1
        with pytest.raises(aetcd.PermissionDeniedError) as denied:
            await alice.put("/app/config", "v2")
        assert denied.value.message == "etcdserver: permission denied"
        with pytest.raises(aetcd.PermissionDeniedError):
            await alice.get("/other")
        with pytest.raises(aetcd.PermissionDeniedError):
            await alice.user_list()  # needs the root role
        with pytest.raises(aetcd.PermissionDeniedError):
            await alice.txn(success=[aetcd.Op.delete("/app/config")])

    async with aetcd.Client(server.endpoint, username="root", password="rootpw") as root:
        assert await auth_enabled(root, etcd_version) in (True, None)
        await root.put("/app/config", "v2")

    async with aetcd.Client(server.endpoint) as anonymous:
        with pytest.raises(aetcd.AuthError):  # etcd: "user name is empty"
            await anonymous.get("/app/config")


async def test_wrong_password_fails_every_call(server: EtcdServer) -> None:
    await set_up_auth(server.endpoint)
    async with aetcd.Client(server.endpoint, username="alice", password="wrong") as client:
        for _ in range(2):
            with pytest.raises(aetcd.AuthenticationFailedError) as failed:
                await client.get("/app/config")
        assert "invalid user ID or password" in failed.value.message
    async with aetcd.Client(server.endpoint, username="mallory", password="x") as client:
        with pytest.raises(aetcd.AuthenticationFailedError):
            await client.get("/app/config")


async def test_credentials_work_before_and_after_auth_is_enabled(
    server: EtcdServer, etcd_version: tuple[int, int, int]
) -> None:
    # As Go's client: with auth disabled, a client with credentials works without a
    # token, logs in once auth is on, and drops the token when auth is off again.
    async with aetcd.Client(server.endpoint, username="root", password="rootpw") as root:
        await root.put("k", "1")
        assert token_of(root) == ""
        await root.user_add(*ROOT)
        await root.user_grant_role("root", "root")
        await root.auth_enable()
        await root.put("k", "2")  # refused for having no user, logs in, retried
        token = token_of(root)
        assert token
        assert await auth_enabled(root, etcd_version) in (True, None)
        await root.auth_disable()
        # Tokens die with auth: the stale one is refused, the login finds auth off.
        assert (await root.get("k")).kvs[0].value == b"2"
        assert await auth_enabled(root, etcd_version) in (False, None)


async def test_changed_password_is_reported_not_retried_forever(server: EtcdServer) -> None:
    await set_up_auth(server.endpoint)
    async with (
        aetcd.Client(server.endpoint, username="alice", password="alicepw") as alice,
        aetcd.Client(server.endpoint, username="root", password="rootpw") as root,
    ):
        await alice.get("/app/config")
        # Changing the password invalidates alice's token; her old password no longer
        # logs in, and the call says so after exactly one attempt to log in again.
        await root.user_change_password("alice", "changed")
        with pytest.raises(aetcd.AuthenticationFailedError):
            await alice.get("/app/config")


# -- token expiry ------------------------------------------------------------------------


async def idle_then_use(endpoint: str, idle: float) -> None:
    async with aetcd.Client(endpoint, username="alice", password="alicepw") as alice:
        assert (await alice.get("/app/config")).kvs[0].value == b"v1"
        first = token_of(alice)
        await anyio.sleep(idle)  # longer than the token's TTL: it expires
        assert (await alice.get("/app/config")).kvs[0].value == b"v1"
        assert token_of(alice) != first  # logged in again, once
        with pytest.raises(aetcd.PermissionDeniedError):
            await alice.put("/app/config", "v2")


async def test_simple_token_expiry_is_transparent() -> None:
    with EtcdServer(
        name="auth-simple", extra_args=["--auth-token=simple", "--auth-token-ttl=2"]
    ) as s:
        await set_up_auth(s.endpoint)
        await idle_then_use(s.endpoint, 5)


@pytest.fixture(scope="module")
def jwt_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl is not None, "the JWT tests need the openssl command line tool"
    directory = tmp_path_factory.mktemp("jwt")
    private, public = directory / "jwt.key", directory / "jwt.pub"
    for args in (
        ["genrsa", "-out", str(private), "2048"],
        ["rsa", "-in", str(private), "-pubout", "-out", str(public)],
    ):
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=60)
    return private, public


def jwt_server(keys: tuple[Path, Path], ttl: str) -> EtcdServer:
    private, public = keys
    option = f"jwt,pub-key={public},priv-key={private},sign-method=RS256,ttl={ttl}"
    return EtcdServer(name="auth-jwt", extra_args=[f"--auth-token={option}"])


async def test_jwt_token_expiry_is_transparent(jwt_keys: tuple[Path, Path]) -> None:
    with jwt_server(jwt_keys, "2s") as s:
        await set_up_auth(s.endpoint)
        await idle_then_use(s.endpoint, 5)


async def test_jwt_token_of_an_old_auth_revision_is_refreshed(
    jwt_keys: tuple[Path, Path],
) -> None:
    # A JWT carries the auth revision it was issued at; after any auth change etcd
    # refuses it ("revision of auth store is old") and the client logs in again.
    with jwt_server(jwt_keys, "5m") as s:
        await set_up_auth(s.endpoint)
        async with (
            aetcd.Client(s.endpoint, username="alice", password="alicepw") as alice,
            aetcd.Client(s.endpoint, username="root", password="rootpw") as root,
        ):
            await alice.get("/app/config")
            first = token_of(alice)
            await root.role_grant_permission("reader", "/more/", prefix=True)
            assert len(await alice.get("/more/", prefix=True)) == 0
            assert token_of(alice) != first


async def test_refresh_token_helper_for_streams() -> None:
    # Watch and keep-alive streams take their token from `metadata()`; after a stream
    # is refused for its token they call `refresh_token(metadata)`, which logs in once
    # however many streams report the same stale token.
    with EtcdServer(name="auth-helper", extra_args=["--auth-token-ttl=2"]) as s:
        await set_up_auth(s.endpoint)
        async with aetcd.Client(s.endpoint, username="alice", password="alicepw") as alice:
            transport = alice._transport
            stale = await transport.metadata(rpc.WATCH)
            assert dict(stale)["token"] == token_of(alice)
            assert not transport.token_refused(aetcd.PermissionDeniedError())
            assert transport.token_refused(aetcd.InvalidAuthTokenError())
            assert transport.token_refused(aetcd.AuthOldRevisionError())
            assert transport.token_refused(aetcd.UserEmptyError())
            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(transport.refresh_token, stale)
            fresh = await transport.metadata(rpc.WATCH)
            assert dict(fresh)["token"] != dict(stale)["token"]
            await transport.refresh_token(stale)  # already replaced: no new login
            assert await transport.metadata(rpc.WATCH) == fresh

            # The snapshot stream (root only) renews an expired token by itself.
        async with aetcd.Client(s.endpoint, username="root", password="rootpw") as root:
            await root.get("/app/config")
            await anyio.sleep(4)
            chunks = [chunk async for chunk in root.snapshot()]
            assert sum(map(len, chunks)) > 0

        async with aetcd.Client(s.endpoint) as anonymous:
            assert not await anonymous._transport.refresh_token(stale)
