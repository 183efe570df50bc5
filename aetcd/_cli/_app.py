"""The `aetcdctl` program: build the parser, run the command, turn failures into
one-line messages and etcdctl's exit codes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

import aetcd

from . import _auth, _cluster, _concurrency, _kv, _lease, _maintenance, _txn, _watch
from ._command import Commands, add_command
from ._context import Context, add_global_flags, context_from_args
from ._errors import EXIT_ERROR, EXIT_KEYBOARD_INTERRUPT, CommandError
from ._parser import ArgumentParser, HelpExit

__all__ = ["build_parser", "main"]

PROG = "aetcdctl"


async def _version(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.line(f"{PROG} version: {aetcd.__version__}")
    ctx.output.line("API version: 3.5")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        usage="%(prog)s [global flags] <command> [flags] [arguments]",
        description="A command line client for etcd v3, speaking etcdctl's commands and flags.",
    )
    add_global_flags(parser)
    parser.set_defaults(handler=None, group=None)
    commands = Commands()
    commands.bind(parser, "commands")
    _kv.register(commands)
    _txn.register(commands)
    _watch.register(commands)
    _lease.register(commands)
    _cluster.register(commands)
    _maintenance.register(commands)
    _auth.register(commands)
    _concurrency.register(commands)
    add_command(commands, "version", _version, usage="", help="Prints the version of aetcdctl")
    return parser


def _configure_logging(debug: bool) -> None:
    # The library logs recoverable trouble (a lost keep-alive stream, a failover) for
    # applications; here the outcome is reported by the command itself, as etcdctl
    # keeps gRPC's logs quiet unless --debug.
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
    else:
        library = logging.getLogger("aetcd")
        if not any(isinstance(h, logging.NullHandler) for h in library.handlers):
            library.addHandler(logging.NullHandler())


def _fail(message: str) -> None:
    # One line, always: a multi-line server message would read as several errors.
    sys.stderr.write("Error: " + " ".join(message.split()) + "\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run `aetcdctl` with `argv` (default: `sys.argv[1:]`); return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = False
    try:
        parser = build_parser()
        args = parser.parse_args(args_list)
        if args.handler is None:
            (args.group or parser).print_help()
            return 0
        ctx = context_from_args(args)
        debug = ctx.debug
        _configure_logging(debug)
        code = asyncio.run(args.handler(ctx, args))
        return int(code or 0)
    except HelpExit as exc:
        return exc.code
    except BaseException as exc:  # never a traceback, unless asked for with --debug
        if debug and not isinstance(exc, KeyboardInterrupt):
            raise
        return _report(exc)


def _report(exc: BaseException) -> int:
    """Print the one-line message for a failure; return the exit code."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]  # a failure inside a task group
    if isinstance(exc, CommandError):
        _fail(exc.message)
        return exc.code
    if isinstance(exc, aetcd.EtcdError):
        _fail(exc.message or str(exc))
        return EXIT_ERROR
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_KEYBOARD_INTERRUPT
    if isinstance(exc, BrokenPipeError):
        # The reader went away (`aetcdctl get --prefix '' | head`): stop quietly, and
        # keep Python from complaining about the unflushable stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    if isinstance(exc, (SystemExit, GeneratorExit)) or not isinstance(exc, Exception):
        raise exc
    _fail(str(exc) or type(exc).__name__)
    return EXIT_ERROR
