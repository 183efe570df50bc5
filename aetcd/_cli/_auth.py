"""`auth enable|disable|status`, `user ...` and `role ...`."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

import aetcd

from ._command import Commands, add_command, add_group
from ._context import Context
from ._errors import UsageError
from ._kv import arg_bytes
from ._output import Output, b64, header_json, omit_empty
from ._parser import add_flag

__all__ = ["prefix_range_end", "register"]


def prefix_range_end(key: bytes) -> bytes:
    """Go's `clientv3.GetPrefixRangeEnd`."""
    end = bytearray(key)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\x00"


def _one_name(args: argparse.Namespace, message: str) -> str:
    if len(args.args) != 1:
        raise UsageError(message)
    name: str = args.args[0]
    return name


def _header_only(out: Output, resp: Any, text: str) -> None:
    if out.is_json:
        out.json(omit_empty({"header": header_json(resp.header)}))
    else:
        out.line(text)


# --------------------------------------------------------------------------- auth


async def _auth_enable(ctx: Context, args: argparse.Namespace) -> None:
    if args.args:
        raise UsageError("auth enable command does not accept any arguments")
    async with ctx.client() as client:
        while True:
            try:
                await client.auth_enable()
                break
            except aetcd.RootRoleNotExistError:
                # As etcdctl: create the root role and give it to root, then retry.
                await client.role_add("root")
                await client.user_grant_role("root", "root")
    ctx.output.line("Authentication Enabled")


async def _auth_disable(ctx: Context, args: argparse.Namespace) -> None:
    if args.args:
        raise UsageError("auth disable command does not accept any arguments")
    async with ctx.client() as client:
        await client.auth_disable()
    ctx.output.line("Authentication Disabled")


async def _auth_status(ctx: Context, args: argparse.Namespace) -> None:
    if args.args:
        raise UsageError("auth status command does not accept any arguments")
    out = ctx.output
    out.require("simple", "json")
    async with ctx.client() as client:
        resp = await client.auth_status()
    if out.is_json:
        out.json(
            omit_empty(
                {
                    "header": header_json(resp.header),
                    "enabled": resp.enabled,
                    "authRevision": resp.auth_revision,
                }
            )
        )
    else:
        out.line(f"Authentication Status: {str(resp.enabled).lower()}")
        out.line(f"AuthRevision: {resp.auth_revision}")


# --------------------------------------------------------------------------- users


def _ask_new_password(name: str) -> str:
    first = getpass.getpass(f"Password of {name}: ")
    if not first:
        raise UsageError("empty password")
    second = getpass.getpass(f"Type password of {name} again for confirmation: ")
    if first != second:
        raise UsageError("given passwords are different")
    return first


def _new_password(ctx: Context, name: str, interactive: bool) -> str:
    if interactive:
        return _ask_new_password(name)
    # etcdctl reads one word (fmt.Scanf("%s")) from stdin.
    words = ctx.read_stdin().decode().split()
    return words[0] if words else ""


async def _user_add(ctx: Context, args: argparse.Namespace) -> None:
    out = ctx.output
    out.require("simple", "json")
    spec = _one_name(args, "user add command requires user name as its argument")
    password: str | None = None
    if args.no_password:
        name = spec
    elif args.new_user_password:
        name, password = spec, args.new_user_password
    else:
        name, sep, password = spec.partition(":")
        if not sep:
            password = _new_password(ctx, name, args.interactive)
        elif not name:
            raise UsageError("empty user name is not allowed")
    async with ctx.client() as client:
        if password is None:
            resp = await client.user_add(name, no_password=True)
        else:
            resp = await client.user_add(name, password)
    _header_only(out, resp, f"User {name} created")


async def _user_delete(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    name = _one_name(args, "user delete command requires user name as its argument")
    async with ctx.client() as client:
        resp = await client.user_delete(name)
    _header_only(ctx.output, resp, f"User {name} deleted")


async def _user_get(ctx: Context, args: argparse.Namespace) -> None:
    out = ctx.output
    out.require("simple", "json")
    name = _one_name(args, "user get command requires user name as its argument")
    async with ctx.client() as client:
        resp = await client.user_get(name)
        if args.detail:
            out.line(f"User: {name}")
            for role in resp.roles:
                out.line()
                _show_role(out, role, await client.role_get(role))
            return
    if out.is_json:
        out.json(omit_empty({"header": header_json(resp.header), "roles": list(resp.roles)}))
    else:
        out.line(f"User: {name}")
        out.line("Roles:" + "".join(f" {role}" for role in resp.roles))


async def _user_list(ctx: Context, args: argparse.Namespace) -> None:
    out = ctx.output
    out.require("simple", "json")
    if args.args:
        raise UsageError("user list command requires no arguments")
    async with ctx.client() as client:
        resp = await client.user_list()
    if out.is_json:
        out.json(omit_empty({"header": header_json(resp.header), "users": list(resp.users)}))
    else:
        out.lines(resp.users)


async def _user_passwd(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    name = _one_name(args, "user passwd command requires user name as its argument")
    password = _new_password(ctx, name, args.interactive)
    async with ctx.client() as client:
        resp = await client.user_change_password(name, password)
    _header_only(ctx.output, resp, "Password updated")


async def _user_grant_role(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    if len(args.args) != 2:
        raise UsageError("user grant command requires user name and role name as its argument")
    user, role = args.args
    async with ctx.client() as client:
        resp = await client.user_grant_role(user, role)
    _header_only(ctx.output, resp, f"Role {role} is granted to user {user}")


async def _user_revoke_role(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    if len(args.args) != 2:
        raise UsageError("user revoke-role requires user name and role name as its argument")
    user, role = args.args
    async with ctx.client() as client:
        resp = await client.user_revoke_role(user, role)
    _header_only(ctx.output, resp, f"Role {role} is revoked from user {user}")


# --------------------------------------------------------------------------- roles


def _perm_json(p: Any) -> dict[str, Any]:
    return omit_empty(
        {"permType": int(p.perm_type), "key": b64(p.key), "range_end": b64(p.range_end)}
    )


def _show_role(out: Output, role: str, resp: Any) -> None:
    if out.is_json:
        perms = [_perm_json(p) for p in resp.perm]
        out.json(omit_empty({"header": header_json(resp.header), "perm": perms}))
        return
    out.line(f"Role {role}")
    for title, kinds in (
        ("KV Read:", ("READ", "READWRITE")),
        ("KV Write:", ("WRITE", "READWRITE")),
    ):
        out.line(title)
        for p in resp.perm:
            if p.perm_type.name not in kinds:
                continue
            if not p.range_end:
                out.line(b"\t" + p.key)
                continue
            end = b"<open ended>" if p.range_end == b"\x00" else p.range_end + b")"
            text = b"\t[" + p.key + b", " + end
            if prefix_range_end(p.key) == p.range_end:
                text += b" (prefix " + p.key + b")"
            out.line(text)


def _perm_range(args: argparse.Namespace, words: list[str]) -> tuple[bytes, bytes]:
    """etcdctl's `permRange`: the key and range end a permission command means."""
    key = arg_bytes(words[0])
    if not key:
        if args.prefix and args.from_key:
            raise UsageError("--from-key and --prefix flags are mutually exclusive")
        # etcd stores permissions as intervals: "every key" is ["\x00", "\x00").
        return b"\x00", b"\x00" if args.prefix or args.from_key else b""
    if len(words) == 1:
        if args.prefix:
            if args.from_key:
                raise UsageError("--from-key and --prefix flags are mutually exclusive")
            return key, prefix_range_end(key)
        return key, b"\x00" if args.from_key else b""
    if args.prefix:
        raise UsageError("unexpected endkey argument with --prefix flag")
    if args.from_key:
        raise UsageError("unexpected endkey argument with --from-key flag")
    return key, arg_bytes(words[1])


async def _role_add(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    name = _one_name(args, "role add command requires role name as its argument")
    async with ctx.client() as client:
        resp = await client.role_add(name)
    _header_only(ctx.output, resp, f"Role {name} created")


async def _role_delete(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    name = _one_name(args, "role delete command requires role name as its argument")
    async with ctx.client() as client:
        resp = await client.role_delete(name)
    _header_only(ctx.output, resp, f"Role {name} deleted")


async def _role_get(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    name = _one_name(args, "role get command requires role name as its argument")
    async with ctx.client() as client:
        resp = await client.role_get(name)
    _show_role(ctx.output, name, resp)


async def _role_list(ctx: Context, args: argparse.Namespace) -> None:
    out = ctx.output
    out.require("simple", "json")
    if args.args:
        raise UsageError("role list command requires no arguments")
    async with ctx.client() as client:
        resp = await client.role_list()
    if out.is_json:
        out.json(omit_empty({"header": header_json(resp.header), "roles": list(resp.roles)}))
    else:
        out.lines(resp.roles)


async def _role_grant_permission(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    if len(args.args) < 3:
        raise UsageError(
            "role grant command requires role name, permission type, and key [endkey] "
            "as its argument"
        )
    role, kind = args.args[0], args.args[1]
    try:
        permission = aetcd.Permission[kind.upper()]
    except KeyError:
        raise UsageError(f"invalid permission type: {kind}") from None
    key, end = _perm_range(args, args.args[2:])
    async with ctx.client() as client:
        resp = await client.role_grant_permission(
            role, key, range_end=end or None, permission=permission
        )
    _header_only(ctx.output, resp, f"Role {role} updated")


async def _role_revoke_permission(ctx: Context, args: argparse.Namespace) -> None:
    out = ctx.output
    out.require("simple", "json")
    if len(args.args) < 2:
        raise UsageError(
            "role revoke-permission command requires role name and key [endkey] as its argument"
        )
    role = args.args[0]
    key, end = _perm_range(args, args.args[1:])
    async with ctx.client() as client:
        resp = await client.role_revoke_permission(role, key, range_end=end or None)
    given = arg_bytes(args.args[1])
    if not end:
        text = b"Permission of key " + given
    elif end != b"\x00":
        text = b"Permission of range [" + given + b", " + end + b")"
    else:
        text = b"Permission of range [" + given + b", <open ended>"
    if out.is_json:
        _header_only(out, resp, "")
    else:
        out.line(text + f" is revoked from role {role}".encode())


def register(commands: Commands) -> None:
    auth = add_group(commands, "auth", help="Enable or disable authentication")
    add_command(auth, "enable", _auth_enable, usage="", help="Enables authentication")
    add_command(auth, "disable", _auth_disable, usage="", help="Disables authentication")
    add_command(auth, "status", _auth_status, usage="", help="Returns authentication status")

    user = add_group(commands, "user", help="User related commands")
    add = add_command(
        user,
        "add",
        _user_add,
        usage="<user name or user:password> [options]",
        help="Adds a new user",
    )
    add_flag(
        add,
        "--interactive",
        default=True,
        help="Read password from stdin instead of interactive terminal",
    )
    add.add_argument(
        "--new-user-password", default="", help="Supply password from the command line flag"
    )
    add_flag(add, "--no-password", help="Create a user without password (CN based auth only)")
    add_command(user, "delete", _user_delete, usage="<user name>", help="Deletes a user")
    get = add_command(
        user,
        "get",
        _user_get,
        usage="<user name> [options]",
        help="Gets detailed information of a user",
    )
    add_flag(get, "--detail", help="Show permissions of roles granted to the user")
    add_command(user, "list", _user_list, usage="", help="Lists all users")
    passwd = add_command(
        user, "passwd", _user_passwd, usage="<user name> [options]", help="Changes password of user"
    )
    add_flag(
        passwd,
        "--interactive",
        default=True,
        help="If true, read password from stdin instead of interactive terminal",
    )
    add_command(
        user,
        "grant-role",
        _user_grant_role,
        usage="<user name> <role name>",
        help="Grants a role to a user",
    )
    add_command(
        user,
        "revoke-role",
        _user_revoke_role,
        usage="<user name> <role name>",
        help="Revokes a role from a user",
    )

    role = add_group(commands, "role", help="Role related commands")
    add_command(role, "add", _role_add, usage="<role name>", help="Adds a new role")
    add_command(role, "delete", _role_delete, usage="<role name>", help="Deletes a role")
    add_command(
        role, "get", _role_get, usage="<role name>", help="Gets detailed information of a role"
    )
    add_command(role, "list", _role_list, usage="", help="Lists all roles")
    grant = add_command(
        role,
        "grant-permission",
        _role_grant_permission,
        usage="[options] <role name> <permission type> <key> [endkey]",
        help="Grants a key to a role",
    )
    revoke = add_command(
        role,
        "revoke-permission",
        _role_revoke_permission,
        usage="<role name> <key> [endkey]",
        help="Revokes a key from a role",
    )
    add_flag(grant, "--prefix", help="grant a prefix permission")
    add_flag(revoke, "--prefix", help="revoke a prefix permission")
    add_flag(
        grant,
        "--from-key",
        help="grant a permission of keys that are greater than or equal to the given key",
    )
    add_flag(
        revoke,
        "--from-key",
        help="revoke a permission of keys that are greater than or equal to the given key",
    )
