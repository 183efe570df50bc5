"""`member list|add|remove|update|promote`. Member ids are hexadecimal, as etcdctl
prints and reads them."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any, Protocol

import aetcd

from ._command import Commands, add_command, add_group
from ._context import Context
from ._errors import UsageError
from ._output import Output, header_json, omit_empty
from ._parser import add_flag, parse_hex_id

__all__ = ["member_rows", "members_json", "register"]

MEMBER_HEADER = ("ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner")


class MemberLike(Protocol):
    """What the CLI reads of a member (`aetcd`'s `Member`)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def peer_urls(self) -> tuple[str, ...]: ...
    @property
    def client_urls(self) -> tuple[str, ...]: ...
    @property
    def is_learner(self) -> bool: ...


def member_json(m: MemberLike, *, hex_ids: bool = False) -> dict[str, Any]:
    return omit_empty(
        {
            "ID": f"{m.id:x}" if hex_ids else m.id,
            "name": m.name,
            "peerURLs": list(m.peer_urls),
            "clientURLs": list(m.client_urls),
            "isLearner": m.is_learner,
        }
    )


def members_json(
    header: aetcd.ResponseHeader,
    members: Iterable[MemberLike],
    *,
    hex_ids: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A membership response; with `hex_ids` (--hex) ids are hex strings."""
    h = header_json(header)
    if hex_ids and h is not None:
        h = {**h, "cluster_id": f"{header.cluster_id:x}", "member_id": f"{header.member_id:x}"}
    return omit_empty(
        {"header": h, **extra, "members": [member_json(m, hex_ids=hex_ids) for m in members]}
    )


def member_rows(members: Iterable[MemberLike]) -> list[list[str]]:
    return [
        [
            f"{m.id:x}",
            "started" if m.name else "unstarted",
            m.name,
            ",".join(m.peer_urls),
            ",".join(m.client_urls),
            "true" if m.is_learner else "false",
        ]
        for m in members
    ]


def _member_id(args: argparse.Namespace) -> int:
    if len(args.args) != 1:
        raise UsageError("member ID is not provided")
    return parse_hex_id(args.args[0], "member ID")


def _peer_urls(args: argparse.Namespace) -> list[str]:
    urls = [u.strip() for u in args.peer_urls.split(",") if u.strip()]
    if not urls:
        raise UsageError("member peer urls not provided")
    return urls


async def _list(ctx: Context, args: argparse.Namespace) -> None:
    out = ctx.output
    async with ctx.client() as client:
        resp = await client.member_list()
    if out.is_json:
        out.json(members_json(resp.header, resp.members, hex_ids=out.hex))
    else:
        out.table(MEMBER_HEADER, member_rows(resp.members))


async def _add(ctx: Context, args: argparse.Namespace) -> None:
    out = ctx.output
    out.require("simple", "json")
    if not args.args:
        raise UsageError("member name not provided")
    if len(args.args) > 1:
        hint = "".join(
            f", did you mean --peer-urls={a}" for a in args.args if a.lower().startswith("http")
        )
        raise UsageError("too many arguments" + hint)
    name = args.args[0]
    urls = _peer_urls(args)
    async with ctx.client() as client:
        resp = await client.member_add(urls, learner=args.learner)
    if out.is_json:
        out.json(
            members_json(
                resp.header,
                resp.members,
                hex_ids=out.hex,
                member=member_json(resp.member, hex_ids=out.hex),
            )
        )
        return
    out.line(f"Member {resp.member.id:16x} added to cluster {resp.header.cluster_id:16x}")
    # The configuration the new member must be started with, as etcdctl prints it.
    initial = ",".join(
        f"{name if m.id == resp.member.id else m.name}={url}"
        for m in resp.members
        for url in m.peer_urls
    )
    out.line()
    out.line(f'ETCD_NAME="{name}"')
    out.line(f'ETCD_INITIAL_CLUSTER="{initial}"')
    out.line(f'ETCD_INITIAL_ADVERTISE_PEER_URLS="{args.peer_urls}"')
    out.line('ETCD_INITIAL_CLUSTER_STATE="existing"')


class _Membership(Protocol):
    @property
    def header(self) -> aetcd.ResponseHeader: ...
    @property
    def members(self) -> tuple[MemberLike, ...]: ...


def _changed(out: Output, verb: str, member_id: int, resp: _Membership) -> None:
    if out.is_json:
        out.json(members_json(resp.header, resp.members, hex_ids=out.hex))
    else:
        out.line(f"Member {member_id:16x} {verb} cluster {resp.header.cluster_id:16x}")


async def _remove(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    member_id = _member_id(args)
    async with ctx.client() as client:
        resp = await client.member_remove(member_id)
    _changed(ctx.output, "removed from", member_id, resp)


async def _update(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    member_id = _member_id(args)
    urls = _peer_urls(args)
    async with ctx.client() as client:
        resp = await client.member_update(member_id, urls)
    _changed(ctx.output, "updated in", member_id, resp)


async def _promote(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    member_id = _member_id(args)
    async with ctx.client() as client:
        resp = await client.member_promote(member_id)
    _changed(ctx.output, "promoted in", member_id, resp)


def register(commands: Commands) -> None:
    member = add_group(commands, "member", help="Membership related commands")
    add_command(member, "list", _list, usage="", help="Lists all members in the cluster")
    add = add_command(
        member, "add", _add, usage="<memberName> [options]", help="Adds a member into the cluster"
    )
    add.add_argument(
        "--peer-urls", default="", help="comma separated peer URLs for the new member."
    )
    add_flag(add, "--learner", help="indicates if the new member is raft learner")
    add_command(
        member, "remove", _remove, usage="<memberID>", help="Removes a member from the cluster"
    )
    update = add_command(
        member,
        "update",
        _update,
        usage="<memberID> [options]",
        help="Updates a member in the cluster",
    )
    update.add_argument(
        "--peer-urls", default="", help="comma separated peer URLs for the updated member."
    )
    add_command(
        member,
        "promote",
        _promote,
        usage="<memberID>",
        help="Promotes a non-voting member in the cluster",
    )
