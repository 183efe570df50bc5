"""`lease grant|revoke|timetolive|list|keep-alive`. Lease ids are hexadecimal, as
etcdctl prints and reads them."""

from __future__ import annotations

import argparse
from typing import Any

import aetcd

from ._command import Commands, add_command, add_group
from ._context import Context
from ._errors import EXIT_BAD_CONNECTION, CommandError, UsageError
from ._output import b64, header_fields
from ._parser import add_flag, parse_hex_id

__all__ = ["register"]


# etcd's message; aetcd raises LeaseNotFoundError with its own when a keep-alive reply
# says the lease is gone (TTL 0), which is how etcd reports it on that stream.
_LEASE_NOT_FOUND = "etcdserver: requested lease not found"


def _lease_id(args: argparse.Namespace, usage: str) -> int:
    if len(args.args) != 1:
        raise UsageError(usage)
    return parse_hex_id(args.args[0], "lease ID")


async def _current_header(client: aetcd.Client) -> aetcd.ResponseHeader:
    # `leases()` returns bare ids and `lease_time_to_live()` raises for an expired
    # lease, so neither hands back the header etcdctl prints; a cheap serializable
    # read of the same cluster stands in for it.
    return (await client.get(b"\x00", count_only=True, serializable=True)).header


async def _grant(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    if len(args.args) != 1:
        raise UsageError("lease grant command needs TTL argument")
    try:
        ttl = int(args.args[0], 10)
    except ValueError:
        raise UsageError(f"bad TTL ({args.args[0]!r} is not a decimal integer)") from None
    try:
        async with ctx.client() as client:
            resp = await client.lease_grant(ttl)
    except aetcd.EtcdError as exc:
        raise CommandError(f"failed to grant lease ({exc.message})") from None
    if ctx.output.is_json:
        ctx.output.json({**header_fields(resp.header), "ID": resp.id, "TTL": resp.ttl, "Error": ""})
    else:
        ctx.output.line(f"lease {resp.id:016x} granted with TTL({resp.ttl}s)")


async def _revoke(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    lease_id = _lease_id(args, "lease revoke command needs 1 argument")
    try:
        async with ctx.client() as client:
            resp = await client.lease_revoke(lease_id)
    except aetcd.EtcdError as exc:
        raise CommandError(f"failed to revoke lease ({exc.message})") from None
    if ctx.output.is_json:
        ctx.output.json({"header": header_fields(resp.header)})
    else:
        ctx.output.line(f"lease {lease_id:016x} revoked")


async def _time_to_live(ctx: Context, args: argparse.Namespace) -> None:
    out = ctx.output
    out.require("simple", "json")
    lease_id = _lease_id(args, "lease timetolive command needs lease ID as argument")
    try:
        async with ctx.client() as client:
            try:
                resp = await client.lease_time_to_live(lease_id, keys=args.keys)
            except aetcd.LeaseNotFoundError:
                if out.is_json:
                    header = await _current_header(client)
                    out.json(
                        {
                            **header_fields(header),
                            "id": lease_id,
                            "ttl": -1,
                            "granted-ttl": 0,
                            "keys": None,
                        }
                    )
                else:
                    out.line(f"lease {lease_id:016x} already expired")
                return
    except aetcd.EtcdError as exc:
        raise CommandError(exc.message, EXIT_BAD_CONNECTION) from None
    if out.is_json:
        out.json(
            {
                **header_fields(resp.header),
                "id": resp.id,
                "ttl": resp.ttl,
                "granted-ttl": resp.granted_ttl,
                "keys": [b64(k) for k in resp.keys] or None,
            }
        )
        return
    text = f"lease {resp.id:016x} granted with TTL({resp.granted_ttl}s), remaining({resp.ttl}s)"
    if args.keys:
        # Go's fmt of a []string: [a b c]; keys are printed as raw bytes.
        keys = b" ".join(resp.keys)
        out.line(text.encode() + b", attached keys([" + keys + b"])")
    else:
        out.line(text)


async def _list(ctx: Context, args: argparse.Namespace) -> None:
    out = ctx.output
    out.require("simple", "json")
    try:
        async with ctx.client() as client:
            ids = await client.leases()
            header = await _current_header(client) if out.is_json else None
    except aetcd.EtcdError as exc:
        raise CommandError(exc.message, EXIT_BAD_CONNECTION) from None
    if header is not None:
        out.json({**header_fields(header), "leases": [{"id": i} for i in ids]})
        return
    out.line(f"found {len(ids)} leases")
    out.lines(f"{i:016x}" for i in ids)


def _keep_alive_json(resp: aetcd.LeaseKeepAliveResponse) -> dict[str, Any]:
    return {**header_fields(resp.header), "ID": resp.id, "TTL": resp.ttl}


async def _keep_alive(ctx: Context, args: argparse.Namespace) -> None:
    out = ctx.output
    out.require("simple", "json")
    lease_id = _lease_id(args, "lease keep-alive command needs lease ID as argument")

    def show(resp: aetcd.LeaseKeepAliveResponse) -> None:
        if out.is_json:
            out.json(_keep_alive_json(resp))
        else:
            out.line(f"lease {resp.id:016x} keepalived with TTL({resp.ttl})")

    if args.once:
        try:
            async with ctx.client() as client:
                show(await client.lease_keep_alive_once(lease_id))
        except aetcd.LeaseNotFoundError:
            raise CommandError(_LEASE_NOT_FOUND, EXIT_BAD_CONNECTION) from None
        except aetcd.EtcdError as exc:
            raise CommandError(exc.message, EXIT_BAD_CONNECTION) from None
        return
    try:
        async with ctx.client() as client, client.keep_alive(lease_id) as keeper:
            async for resp in keeper:
                show(resp)
    except (aetcd.LeaseNotFoundError, aetcd.LeaseExpiredError):
        pass
    except aetcd.EtcdError as exc:
        raise CommandError(exc.message, EXIT_BAD_CONNECTION) from None
    if out.is_simple:
        out.line(f"lease {lease_id:016x} expired or revoked.")


def register(commands: Commands) -> None:
    lease = add_group(commands, "lease", help="Lease related commands")
    add_command(lease, "grant", _grant, usage="<ttl>", help="Creates leases")
    add_command(lease, "revoke", _revoke, usage="<leaseID>", help="Revokes leases")
    ttl = add_command(
        lease,
        "timetolive",
        _time_to_live,
        usage="<leaseID> [options]",
        help="Get lease information",
    )
    add_flag(ttl, "--keys", help="Get keys attached to this lease")
    add_command(lease, "list", _list, usage="", help="List all active leases")
    keep = add_command(
        lease,
        "keep-alive",
        _keep_alive,
        usage="[options] <leaseID>",
        help="Keeps leases alive (renew)",
    )
    add_flag(
        keep,
        "--once",
        help="Resets the keep-alive time to its original value and exits immediately",
    )
