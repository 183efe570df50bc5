"""`watch`: print events as they happen, optionally running a command for each.

    aetcdctl watch foo --prefix
    aetcdctl watch foo -- sh -c 'echo "$ETCD_WATCH_KEY changed"'
    aetcdctl watch -i        # then type `watch foo`, `watch bar --prefix`, `progress`

The watch runs until interrupted (exit 130) or cancelled by the server, e.g. when
`--rev` is compacted (exit 5, like etcdctl). Lost connections are resumed by the
client without losing or repeating events.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import threading
from typing import IO, Any

import anyio

import aetcd

from ._command import Commands, add_command
from ._context import Context
from ._errors import EXIT_INTERRUPTED, EXIT_INVALID_INPUT, CommandError, UsageError
from ._kv import arg_bytes
from ._output import Output, go_quote, header_fields, kv_json, omit_empty
from ._parser import ArgumentParser, FlagTarget, HelpExit, add_flag, parse_int
from ._txn import argify

__all__ = ["register", "watch_json"]


def watch_json(resp: aetcd.WatchResponse) -> dict[str, Any]:
    """etcdctl prints clientv3's `WatchResponse` struct, whose fields have no JSON tags."""
    events = [
        omit_empty(
            {
                "type": int(ev.type),
                "kv": kv_json(ev.kv),
                "prev_kv": kv_json(ev.prev_kv) if ev.prev_kv is not None else None,
            }
        )
        for ev in resp.events
    ]
    return {
        "Header": header_fields(resp.header),
        "Events": events or None,
        "CompactRevision": 0,
        "Canceled": False,
        "Created": False,
    }


def _show(out: Output, resp: aetcd.WatchResponse) -> None:
    if resp.is_progress_notify:
        out.line(f"progress notify: {resp.header.revision}")
    if out.is_json:
        out.json(watch_json(resp))
        return
    for ev in resp.events:
        out.line(ev.type.name)
        if ev.prev_kv is not None:
            out.kv(ev.prev_kv)
        out.kv(ev.kv)


def _add_watch_flags(parser: FlagTarget) -> None:
    add_flag(parser, "--prefix", help="Watch on a prefix if prefix is set")
    parser.add_argument("--rev", default="0", help="Revision to start watching")
    add_flag(parser, "--prev-kv", help="get the previous key-value pair before the event happens")
    add_flag(
        parser, "--progress-notify", help="get periodic watch progress notification from server"
    )


def _watch_options(args: argparse.Namespace) -> tuple[bytes, dict[str, Any]]:
    if not args.args or len(args.args) > 2:
        raise UsageError("bad number of arguments")
    options: dict[str, Any] = {}
    if len(args.args) == 2:
        if args.prefix:
            raise UsageError("`range_end` and `--prefix` are mutually exclusive")
        options["range_end"] = arg_bytes(args.args[1])
    revision = parse_int(args.rev, "--rev")
    options["start_revision"] = revision if revision > 0 else None
    options["prefix"] = args.prefix
    options["prev_kv"] = args.prev_kv
    options["progress_notify"] = args.progress_notify
    return arg_bytes(args.args[0]), options


async def _run_for_event(command: list[str], resp: aetcd.WatchResponse, event: aetcd.Event) -> None:
    env = dict(os.environ)
    env["ETCD_WATCH_REVISION"] = str(resp.header.revision)
    env["ETCD_WATCH_EVENT_TYPE"] = f'"{event.type.name}"'
    env["ETCD_WATCH_KEY"] = go_quote(event.kv.key)
    env["ETCD_WATCH_VALUE"] = go_quote(event.kv.value)
    try:
        result = await anyio.run_process(command, env=env, stdout=None, stderr=None, check=False)
    except OSError as exc:
        raise CommandError(f"command {command!r} error ({exc})") from None
    if result.returncode != 0:
        raise CommandError(f"command {command!r} error (exit status {result.returncode})")


async def _follow(
    ctx: Context,
    client: aetcd.Client,
    key: bytes,
    options: dict[str, Any],
    command: list[str] | None,
    watches: list[aetcd.Watch] | None = None,
) -> None:
    """Print one watch until it ends; raises when the server cancels it."""
    out = ctx.output
    timeout = ctx.dial_timeout + ctx.command_timeout
    async with client.watch(key, timeout=timeout, **options) as watch:
        if watches is not None:
            watches.append(watch)
        try:
            async for resp in watch:
                _show(out, resp)
                for event in resp.events if command else ():
                    assert command is not None
                    await _run_for_event(command, resp, event)
        except (aetcd.CompactedError, aetcd.WatchCanceledError) as exc:
            out.error(f"watch was canceled ({exc.message})")
        finally:
            if watches is not None:
                watches.remove(watch)
    raise CommandError("watch is canceled by the server", EXIT_INTERRUPTED)


async def _watch(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    if args.interactive:
        await _interactive(ctx, args)
        return
    command: list[str] | None = args.exec_command
    if command is not None and not command:
        raise UsageError("bad number of arguments (found separator --, but no commands)")
    key, options = _watch_options(args)
    async with ctx.client(deadline=False) as client:
        await _follow(ctx, client, key, options, command)


# --------------------------------------------------------------------------- -i


def _line_parser(defaults: argparse.Namespace) -> ArgumentParser:
    """Parses `watch [flags] key [range_end] [-- command]` lines; flags default to the
    ones given on the command line."""
    parser = ArgumentParser(prog="watch", add_help=False, leaf=True, separator_dest="exec_command")
    _add_watch_flags(parser)
    parser.add_argument("args", nargs="*")
    parser.set_defaults(
        prefix=defaults.prefix,
        rev=defaults.rev,
        prev_kv=defaults.prev_kv,
        progress_notify=defaults.progress_notify,
        exec_command=None,
    )
    return parser


def _start_reader(stream: IO[bytes]) -> asyncio.Queue[bytes | None]:
    """Lines of `stream`, read by a daemon thread (a blocked read must not keep the
    process alive at exit, which a worker thread of the event loop would)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def read() -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: we are exiting
            for raw in iter(stream.readline, b""):
                loop.call_soon_threadsafe(queue.put_nowait, raw)
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="aetcdctl-stdin", daemon=True).start()
    return queue


async def _interactive(ctx: Context, args: argparse.Namespace) -> None:
    out = ctx.output
    parser = _line_parser(args)
    queue = _start_reader(ctx.stdin_lines())
    watches: list[aetcd.Watch] = []
    started = 0

    async def follow(key: bytes, options: dict[str, Any], command: list[str] | None) -> None:
        try:
            await _follow(ctx, client, key, options, command, watches)
        except CommandError as exc:
            out.error(f"Error: {exc.message}")

    async with ctx.client(deadline=False) as client, anyio.create_task_group() as tg:
        while (raw := await queue.get()) is not None:
            line = os.fsdecode(raw).rstrip("\n")
            words = argify(line)
            if not words:
                out.error(f"Invalid command: {line} (watch and progress supported)")
            elif words[0] == "progress":
                for watch in list(watches):
                    await watch.request_progress()
            elif words[0] == "watch":
                try:
                    key, options = _watch_options(parser.parse_args(words[1:]))
                    command = parser.parse_args(words[1:]).exec_command
                except (CommandError, HelpExit) as exc:
                    reason = exc.message if isinstance(exc, CommandError) else "help"
                    out.error(f"Invalid command {line} ({reason})")
                    continue
                started += 1
                tg.start_soon(follow, key, options, command)
            else:
                out.error(f"Invalid command {line} (only support watch)")
        if not started:
            raise CommandError("error reading watch request line: EOF", EXIT_INVALID_INPUT)
        # Input ended: keep printing the watches already started until interrupted.


def register(commands: Commands) -> None:
    parser = add_command(
        commands,
        "watch",
        _watch,
        usage="[options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
        help="Watches events stream on keys or prefixes",
        separator_dest="exec_command",
    )
    parser.set_defaults(exec_command=None)
    add_flag(parser, "-i", "--interactive", help="Interactive mode")
    _add_watch_flags(parser)
