"""`lock` and `elect`, on the same keys as etcdctl's and Go's `concurrency` package
(so `aetcdctl lock x` and `etcdctl lock x` exclude each other).

Both hold on until SIGINT/SIGTERM, then release the lock or resign and exit 0; if the
session's lease is lost first they exit 1. `lock NAME -- COMMAND...` runs the command
while holding the lock and exits with its status.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable

import anyio

import aetcd

from ._command import Commands, add_command
from ._context import Context
from ._errors import CommandError, UsageError
from ._kv import get_json, print_get
from ._output import kv_json, omit_empty
from ._parser import add_flag, parse_int

__all__ = ["register"]


async def _until_signal(lost: Callable[[], Awaitable[None]]) -> bool:
    """Wait for SIGINT/SIGTERM (True) or for `lost()` to return (False); an error
    raised by `lost()` is raised here."""
    interrupted = False
    failure: list[Exception] = []
    async with anyio.create_task_group() as tg:

        async def on_signal() -> None:
            nonlocal interrupted
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    interrupted = True
                    break
            tg.cancel_scope.cancel()

        async def on_lost() -> None:
            try:
                await lost()
            except Exception as exc:
                failure.append(exc)
            tg.cancel_scope.cancel()

        tg.start_soon(on_signal)
        tg.start_soon(on_lost)
    if failure:
        raise failure[0]
    return interrupted


async def _show_key(ctx: Context, client: aetcd.Client, key: bytes) -> None:
    resp = await client.get(key)
    if ctx.output.is_json:
        ctx.output.json(get_json(resp))
    else:
        print_get(ctx.output, resp)


async def _lock(ctx: Context, args: argparse.Namespace) -> int:
    ctx.output.require("simple", "json")
    if not args.args:
        raise UsageError("lock takes a lock name argument and an optional command to execute")
    name, command = args.args[0], args.args[1:]
    ttl = parse_int(args.ttl, "--ttl")
    async with (
        ctx.client(deadline=False) as client,
        client.lock(os.fsencode(name), ttl=ttl) as lock,
    ):
        assert lock.key is not None
        assert lock.session is not None
        if command:
            env = dict(os.environ)
            env["ETCD_LOCK_KEY"] = os.fsdecode(lock.key)
            env["ETCD_LOCK_REV"] = str(lock.revision)
            try:
                result = await anyio.run_process(
                    command, env=env, stdout=None, stderr=None, check=False
                )
            except OSError as exc:
                raise CommandError(str(exc)) from None
            return result.returncode
        await _show_key(ctx, client, lock.key)
        if not await _until_signal(lock.session.wait_expired):
            raise CommandError("session expired")
    return 0


async def _observe(ctx: Context, client: aetcd.Client, name: bytes) -> None:
    out = ctx.output

    async def follow() -> None:
        async with client.election(name).observe() as leaders:
            async for kv in leaders:
                if out.is_json:
                    # etcdctl prints the range answer that found the leader; the
                    # observer yields the key-value alone.
                    out.json(omit_empty({"kvs": [kv_json(kv)], "count": 1}))
                else:
                    out.kv(kv)

    if not await _until_signal(follow):
        raise CommandError("elect: observer lost")


async def _campaign(ctx: Context, client: aetcd.Client, name: bytes, proposal: bytes) -> None:
    election = client.election(name)
    await election.campaign(proposal)
    try:
        assert election.key is not None
        assert election.session is not None
        await _show_key(ctx, client, election.key)
        if not await _until_signal(election.session.wait_expired):
            raise CommandError("elect: session expired")
    finally:
        # After a lost session there is nothing left to resign: report the loss.
        with anyio.CancelScope(shield=True), contextlib.suppress(aetcd.EtcdError):
            await election.resign()


async def _elect(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    if len(args.args) not in (1, 2):
        raise UsageError("elect takes one election name argument and an optional proposal argument")
    if len(args.args) == 1 and not args.listen:
        raise UsageError("no proposal argument but -l not set")
    if len(args.args) == 2 and args.listen:
        raise UsageError("proposal given but -l is set")
    name = os.fsencode(args.args[0])
    async with ctx.client(deadline=False) as client:
        if args.listen:
            await _observe(ctx, client, name)
        else:
            await _campaign(ctx, client, name, os.fsencode(args.args[1]))


def register(commands: Commands) -> None:
    lock = add_command(
        commands,
        "lock",
        _lock,
        usage="<lockname> [--] [exec-command arg1 arg2 ...]",
        help="Acquires a named lock",
    )
    lock.add_argument("--ttl", default="10", help="timeout for session")
    elect = add_command(
        commands,
        "elect",
        _elect,
        usage="<election-name> [proposal]",
        help="Observes and participates in leader election",
    )
    add_flag(elect, "-l", "--listen", help="observation mode")
