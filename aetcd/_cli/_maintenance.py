"""`endpoint status|health|hashkv`, `defrag`, `snapshot save`, `alarm list|disarm`.

The endpoint commands ask each endpoint (or with `--cluster`, each member's client
URLs) separately, report failures per endpoint on stderr and exit 1 if any failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

import anyio

import aetcd

from ._command import Commands, add_command, add_group
from ._context import Context
from ._errors import EXIT_ERROR, EXIT_INTERRUPTED, CommandError, UsageError
from ._output import go_duration, header_json, humanize_bytes, omit_empty
from ._parser import add_flag, parse_int

__all__ = ["Progress", "register"]

STATUS_HEADER = (
    "endpoint",
    "ID",
    "version",
    "db size",
    "is leader",
    "is learner",
    "raft term",
    "raft index",
    "raft applied index",
    "errors",
)
HEALTH_HEADER = ("endpoint", "health", "took", "error")
HASHKV_HEADER = ("endpoint", "hash")


def _no_args(args: argparse.Namespace, command: str) -> None:
    if args.args:
        raise UsageError(f"{command} command accepts no arguments")


async def _targets(ctx: Context, args: argparse.Namespace) -> list[str]:
    """The endpoints to visit: --endpoints, or every member's client URLs (--cluster)."""
    if not args.cluster:
        return list(ctx.endpoints)
    try:
        # As etcdctl: listing members needs no authentication, so no password prompt.
        async with ctx.client(auth=False) as client:
            members = (await client.member_list()).members
    except aetcd.EtcdError as exc:
        raise CommandError(
            f"failed to fetch endpoints from etcd cluster member list: {exc.message}"
        ) from None
    return [url for m in members for url in m.client_urls]


# --------------------------------------------------------------------------- status


def _status_json(ep: str, s: Any) -> dict[str, Any]:
    status = omit_empty(
        {
            "header": header_json(s.header),
            "version": s.version,
            "dbSize": s.db_size,
            "leader": s.leader,
            "raftIndex": s.raft_index,
            "raftTerm": s.raft_term,
            "raftAppliedIndex": s.raft_applied_index,
            "errors": list(s.errors),
            "dbSizeInUse": s.db_size_in_use,
            "isLearner": s.is_learner,
            "storageVersion": s.storage_version,
            "dbSizeQuota": s.db_size_quota,
        }
    )
    return {"Endpoint": ep, "Status": status}


def _status_row(ep: str, s: Any) -> list[str]:
    member_id = s.header.member_id
    return [
        ep,
        f"{member_id:x}",
        s.version,
        humanize_bytes(s.db_size),
        str(s.leader == member_id).lower(),
        str(s.is_learner).lower(),
        str(s.raft_term),
        str(s.raft_index),
        str(s.raft_applied_index),
        ", ".join(s.errors),
    ]


async def _status(ctx: Context, args: argparse.Namespace) -> int:
    _no_args(args, "endpoint status")
    out = ctx.output
    results: list[tuple[str, Any]] = []
    failed = False
    targets = await _targets(ctx, args)
    async with ctx.client() as client:
        for ep in targets:
            try:
                results.append((ep, await client.status(ep)))
            except aetcd.EtcdError as exc:
                failed = True
                out.error(f"Failed to get the status of endpoint {ep} ({exc.message})")
    if out.is_json:
        out.json([_status_json(ep, s) for ep, s in results])
    else:
        out.table(STATUS_HEADER, [_status_row(ep, s) for ep, s in results])
    return EXIT_ERROR if failed else 0


# --------------------------------------------------------------------------- health


@dataclass
class _Health:
    endpoint: str
    health: bool = False
    took: str = ""
    error: str = ""

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"endpoint": self.endpoint, "health": self.health, "took": self.took}
        if self.error:
            data["error"] = self.error
        return data


async def _check(ctx: Context, endpoint: str) -> _Health:
    """etcdctl's check: a linearizable read (it goes through raft, so a member without
    quorum fails it; permission denied is fine), then no active alarm."""
    result = _Health(endpoint)
    start = time.monotonic()
    try:
        async with ctx.client([endpoint]) as client:
            start = time.monotonic()
            with contextlib.suppress(aetcd.PermissionDeniedError):
                await client.get("health")
            result.took = go_duration(time.monotonic() - start)
            result.health = True
            try:
                alarms = (await client.alarms()).alarms
            except aetcd.EtcdError:
                result.health, result.error = False, "Unable to fetch the alarm list"
            else:
                if alarms:
                    names = "".join(f"{a.alarm.name} " for a in alarms)
                    result.health, result.error = False, f"Active Alarm(s): {names}"
    except aetcd.EtcdError as exc:
        result.health, result.error = False, exc.message
        result.took = result.took or go_duration(time.monotonic() - start)
    return result


async def _health(ctx: Context, args: argparse.Namespace) -> None:
    _no_args(args, "endpoint health")
    out = ctx.output
    targets = await _targets(ctx, args)
    results: list[_Health] = [_Health(ep) for ep in targets]

    async def check(i: int) -> None:
        results[i] = await _check(ctx, targets[i])

    async with anyio.create_task_group() as tg:
        for i in range(len(targets)):
            tg.start_soon(check, i)
    if out.is_json:
        out.json([h.json() for h in results])
    elif out.format == "table":
        out.table(
            HEALTH_HEADER, [[h.endpoint, str(h.health).lower(), h.took, h.error] for h in results]
        )
    else:
        for h in results:
            if not h.error:
                out.line(
                    f"{h.endpoint} is healthy: successfully committed proposal: took = {h.took}"
                )
            else:
                out.error(f"{h.endpoint} is unhealthy: failed to commit proposal: {h.error}")
    if any(h.error for h in results):
        raise CommandError("unhealthy cluster")


# --------------------------------------------------------------------------- hashkv


async def _hashkv(ctx: Context, args: argparse.Namespace) -> None:
    _no_args(args, "endpoint hashkv")
    out = ctx.output
    revision = parse_int(args.rev, "--rev")
    results: list[tuple[str, Any]] = []
    error: aetcd.EtcdError | None = None
    targets = await _targets(ctx, args)
    async with ctx.client() as client:
        for ep in targets:
            try:
                results.append((ep, await client.hash_kv(ep, revision if revision > 0 else None)))
            except aetcd.EtcdError as exc:
                error = exc
                out.error(f"Failed to get the hash of endpoint {ep} ({exc.message})")
    if out.is_json:
        out.json(
            [
                {
                    "Endpoint": ep,
                    "HashKV": omit_empty(
                        {
                            "header": header_json(r.header),
                            "hash": r.hash,
                            "compact_revision": r.compact_revision,
                            "hash_revision": r.hash_revision,
                        }
                    ),
                }
                for ep, r in results
            ]
        )
    else:
        out.table(HASHKV_HEADER, [[ep, str(r.hash)] for ep, r in results])
    if error is not None:
        raise CommandError(error.message)


# --------------------------------------------------------------------------- defrag


async def _defrag(ctx: Context, args: argparse.Namespace) -> int:
    _no_args(args, "defrag")
    out = ctx.output
    failures = 0
    targets = await _targets(ctx, args)
    async with ctx.client() as client:
        for ep in targets:
            try:
                await client.defragment(ep)
            except aetcd.EtcdError as exc:
                failures += 1
                out.error(f"Failed to defragment etcd member[{ep}] ({exc.message})")
            else:
                out.line(f"Finished defragmenting etcd member[{ep}]")
    return EXIT_ERROR if failures else 0


# --------------------------------------------------------------------------- snapshot


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal, otherwise a single
    summary line at the end (so logs stay readable)."""

    WIDTH = 30

    def __init__(self, stream: IO[str] | None = None, *, interval: float = 0.1) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty()
        self._interval = interval
        self._start = time.monotonic()
        self._drawn = 0.0

    def _text(self, done: int, total: int | None) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = f"{humanize_bytes(int(done / elapsed))}/s"
        if not total:
            return f"{humanize_bytes(done)}  {rate}"
        fraction = min(done / total, 1.0)
        filled = int(fraction * self.WIDTH)
        bar = "=" * filled + (">" if filled < self.WIDTH else "") + " " * (self.WIDTH - filled - 1)
        return (
            f"[{bar[: self.WIDTH]}] {fraction * 100:3.0f}%  "
            f"{humanize_bytes(done)} / {humanize_bytes(total)}  {rate}"
        )

    def update(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if self._tty and now - self._drawn >= self._interval:
            self._drawn = now
            self._stream.write("\r" + self._text(done, total) + "\x1b[K")
            self._stream.flush()

    def finish(self, done: int) -> None:
        text = self._text(done, done)
        self._stream.write(f"\r{text}\x1b[K\n" if self._tty else f"{text}\n")
        self._stream.flush()

    def abort(self) -> None:
        if self._tty and self._drawn:
            self._stream.write("\n")
            self._stream.flush()


async def _snapshot_save(ctx: Context, args: argparse.Namespace) -> None:
    if len(args.args) != 1:
        raise UsageError("snapshot save expects one argument")
    if len(ctx.endpoints) != 1:
        raise UsageError(
            "snapshot must be requested to one selected node, not multiple "
            f"[{' '.join(ctx.endpoints)}]"
        )
    path = args.args[0]
    part = path + ".part"
    progress = Progress()

    def private(name: str, flags: int) -> int:
        return os.open(name, flags, 0o600)  # a snapshot holds every key: owner only

    # The timeout bounds the wait for each chunk, not the whole transfer.
    chunk_timeout = ctx.dial_timeout + ctx.command_timeout
    try:
        async with (
            ctx.client(deadline=False) as client,
            client.snapshot(timeout=chunk_timeout) as snap,
        ):
            async with await anyio.open_file(part, "wb", opener=private) as f:
                async for chunk in snap:
                    await f.write(chunk)
                    remaining = snap.remaining_bytes
                    total = snap.received + remaining if remaining is not None else None
                    progress.update(snap.received, total)
                await f.flush()
                await anyio.to_thread.run_sync(os.fsync, f.wrapped.fileno())
            os.replace(part, path)
            progress.finish(snap.received)
    except BaseException as exc:
        progress.abort()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
        if isinstance(exc, aetcd.EtcdError):
            raise CommandError(exc.message, EXIT_INTERRUPTED) from None
        raise
    ctx.output.line(f"Snapshot saved at {path}")


# --------------------------------------------------------------------------- alarms


def _alarm_output(ctx: Context, resp: Any) -> None:
    out = ctx.output
    if out.is_json:
        alarms = [omit_empty({"memberID": a.member_id, "alarm": int(a.alarm)}) for a in resp.alarms]
        out.json(omit_empty({"header": header_json(resp.header), "alarms": alarms}))
    else:
        # etcd's protobuf text form of an AlarmMember, as etcdctl prints it.
        out.lines(f"memberID:{a.member_id} alarm:{a.alarm.name} " for a in resp.alarms)


async def _alarm_list(ctx: Context, args: argparse.Namespace) -> None:
    if args.args:
        raise UsageError("alarm list command accepts no arguments")
    ctx.output.require("simple", "json")
    async with ctx.client() as client:
        _alarm_output(ctx, await client.alarms())


async def _alarm_disarm(ctx: Context, args: argparse.Namespace) -> None:
    if args.args:
        raise UsageError("alarm disarm command accepts no arguments")
    ctx.output.require("simple", "json")
    async with ctx.client() as client:
        _alarm_output(ctx, await client.alarm_disarm())


def register(commands: Commands) -> None:
    endpoint = add_group(commands, "endpoint", help="Endpoint related commands")
    status = add_command(
        endpoint,
        "status",
        _status,
        usage="",
        help="Prints out the status of endpoints specified in `--endpoints` flag",
    )
    health = add_command(
        endpoint,
        "health",
        _health,
        usage="",
        help="Checks the healthiness of endpoints specified in `--endpoints` flag",
    )
    hashkv = add_command(
        endpoint,
        "hashkv",
        _hashkv,
        usage="",
        help="Prints the KV history hash for each endpoint in --endpoints",
    )
    hashkv.add_argument(
        "--rev", default="0", help="maximum revision to hash (default: all revisions)"
    )
    defrag = add_command(
        commands,
        "defrag",
        _defrag,
        usage="",
        help="Defragments the storage of the etcd members with given endpoints",
    )
    for parser in (status, health, hashkv, defrag):
        add_flag(parser, "--cluster", help="use all endpoints from the cluster member list")

    snapshot = add_group(commands, "snapshot", help="Manages etcd node snapshots")
    add_command(
        snapshot,
        "save",
        _snapshot_save,
        usage="<filename>",
        help="Stores an etcd node backend snapshot to a given file",
    )

    alarm = add_group(commands, "alarm", help="Alarm related commands")
    add_command(alarm, "list", _alarm_list, usage="", help="Lists all alarms")
    add_command(alarm, "disarm", _alarm_disarm, usage="", help="Disarms all alarms")
