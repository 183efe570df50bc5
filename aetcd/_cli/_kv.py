"""`get`, `put`, `del` and `compaction`.

The flag definitions and the argument checks are shared with `txn`, whose operations
are written as `get`/`put`/`del` command lines (`_txn.py`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

import aetcd

from ._command import Commands, add_command
from ._context import Context
from ._errors import EXIT_BAD_FEATURE, CommandError, UsageError
from ._output import Output, header_json, kv_json, omit_empty
from ._parser import FlagTarget, add_flag, parse_int

__all__ = [
    "add_delete_flags",
    "add_get_flags",
    "add_put_flags",
    "delete_json",
    "delete_options",
    "get_json",
    "get_options",
    "print_delete",
    "print_get",
    "print_put",
    "put_json",
    "put_options",
    "register",
]

_SORT_ORDERS = {"ASCEND": aetcd.SortOrder.ASCEND, "DESCEND": aetcd.SortOrder.DESCEND}
_SORT_TARGETS = {
    "CREATE": aetcd.SortTarget.CREATE,
    "KEY": aetcd.SortTarget.KEY,
    "MODIFY": aetcd.SortTarget.MOD,
    "VALUE": aetcd.SortTarget.VALUE,
    "VERSION": aetcd.SortTarget.VERSION,
}


def arg_bytes(text: str) -> bytes:
    """A key or value from the command line, as the bytes the user typed (arguments
    that are not valid UTF-8 arrive as surrogate escapes)."""
    return os.fsencode(text)


# --------------------------------------------------------------------------- get


def add_get_flags(parser: FlagTarget) -> None:
    parser.add_argument("--consistency", default="l", help="Linearizable(l) or Serializable(s)")
    parser.add_argument(
        "--order", default="", help="Order of results; ASCEND or DESCEND (ASCEND by default)"
    )
    parser.add_argument(
        "--sort-by", default="", help="Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION"
    )
    parser.add_argument("--limit", default="0", help="Maximum number of results")
    add_flag(parser, "--prefix", help="Get keys with matching prefix")
    add_flag(
        parser,
        "--from-key",
        help="Get keys that are greater than or equal to the given key using byte compare",
    )
    parser.add_argument("--rev", default="0", help="Specify the kv revision")
    add_flag(parser, "--keys-only", help="Get only the keys")
    add_flag(parser, "--count-only", help="Get only the count")
    add_flag(
        parser,
        "--print-value-only",
        help='Only write values when using the "simple" output format',
    )


def _check_range_args(name: str, args: argparse.Namespace, *, max_args: int = 2) -> None:
    if not args.args or len(args.args) > max_args:
        raise UsageError(
            f"{name} command needs one argument as key and an optional argument as range_end"
        )
    if args.prefix and args.from_key:
        raise UsageError("`--prefix` and `--from-key` cannot be set at the same time, choose one")


def _range(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if len(args.args) > 1:
        if args.prefix or args.from_key:
            raise UsageError(
                "too many arguments, only accept one argument when `--prefix` or "
                "`--from-key` is set"
            )
        options["range_end"] = arg_bytes(args.args[1])
    elif not args.args[0] and not (args.prefix or args.from_key):
        # What the server would answer; said here, before connecting.
        raise CommandError("etcdserver: key is not provided")
    options["prefix"] = args.prefix
    options["from_key"] = args.from_key
    return options


def get_options(args: argparse.Namespace) -> tuple[bytes, dict[str, Any]]:
    """The key and `Client.get` keyword arguments of a `get` command line."""
    _check_range_args("get", args)
    if args.keys_only and args.count_only:
        raise UsageError(
            "`--keys-only` and `--count-only` cannot be set at the same time, choose one"
        )
    if args.consistency not in ("l", "s"):
        raise CommandError(f'unknown consistency flag "{args.consistency}"', EXIT_BAD_FEATURE)
    options = _range(args)
    options["serializable"] = args.consistency == "s"
    limit = parse_int(args.limit, "--limit")
    options["limit"] = limit if limit > 0 else None
    revision = parse_int(args.rev, "--rev")
    options["revision"] = revision if revision > 0 else None
    order = args.order.upper()
    if order and order not in _SORT_ORDERS:
        raise CommandError(f"bad sort order {args.order}", EXIT_BAD_FEATURE)
    target = args.sort_by.upper()
    if target and target not in _SORT_TARGETS:
        raise CommandError(f"bad sort target {args.sort_by}", EXIT_BAD_FEATURE)
    # As Go's clientv3.WithSort: ascending by key is the server's natural order, so
    # it is not requested (that would make the server sort the whole range).
    if (target or order) and not (target in ("", "KEY") and order in ("", "ASCEND")):
        options["sort_target"] = _SORT_TARGETS[target or "KEY"]
        options["sort_order"] = _SORT_ORDERS.get(order)  # None: ascending
    options["keys_only"] = args.keys_only
    options["count_only"] = args.count_only
    return arg_bytes(args.args[0]), options


def get_json(resp: aetcd.GetResponse) -> dict[str, Any]:
    return omit_empty(
        {
            "header": header_json(resp.header),
            "kvs": [kv_json(kv) for kv in resp.kvs],
            "more": resp.more,
            "count": resp.count,
        }
    )


def print_get(out: Output, resp: aetcd.GetResponse) -> None:
    for kv in resp.kvs:
        out.kv(kv)


async def _get(ctx: Context, args: argparse.Namespace) -> None:
    key, options = get_options(args)
    out = ctx.output
    out.require("simple", "json")
    if args.print_value_only:
        if not out.is_simple:
            raise UsageError("print-value-only is only for `--write-out=simple`")
        out.value_only = True
    async with ctx.client() as client:
        resp = await client.get(key, **options)
    if out.is_json:
        out.json(get_json(resp))
    elif args.count_only:
        # etcdctl prints counts only with `-w fields`; a bare number is what scripts want.
        out.line(str(resp.count))
    else:
        print_get(out, resp)


# --------------------------------------------------------------------------- put


def add_put_flags(parser: FlagTarget) -> None:
    parser.add_argument(
        "--lease", default="0", help="lease ID (in hexadecimal) to attach to the key"
    )
    add_flag(parser, "--prev-kv", help="return the previous key-value pair before modification")
    add_flag(parser, "--ignore-value", help="updates the key using its current value")
    add_flag(parser, "--ignore-lease", help="updates the key using its current lease")


_PUT_ARGS = "put command needs 1 argument and input from stdin or 2 arguments"


def put_options(
    args: argparse.Namespace, stdin: Callable[[], bytes] | None = None
) -> tuple[bytes, bytes, dict[str, Any]]:
    """The key, value and `Client.put` keyword arguments of a `put` command line.
    `stdin` (a callable returning bytes) supplies the value when it is not given."""
    if not args.args:
        raise UsageError(_PUT_ARGS)
    if args.ignore_value and len(args.args) > 1:
        raise UsageError("put command needs only 1 argument when 'ignore-value' is set")
    if len(args.args) > 2:
        raise UsageError(_PUT_ARGS)
    value = b""
    if not args.ignore_value:
        if len(args.args) > 1:
            value = arg_bytes(args.args[1])
        else:
            value = stdin() if stdin is not None else b""
            if not value:
                raise UsageError(_PUT_ARGS)
    try:
        lease = int(args.lease, 16)
    except ValueError:
        raise UsageError(f"bad lease ID ({args.lease!r}), expecting ID in Hex") from None
    options: dict[str, Any] = {
        "lease": lease or None,
        "prev_kv": args.prev_kv,
        "ignore_value": args.ignore_value,
        "ignore_lease": args.ignore_lease,
    }
    return arg_bytes(args.args[0]), value, options


def put_json(resp: aetcd.PutResponse) -> dict[str, Any]:
    return omit_empty(
        {
            "header": header_json(resp.header),
            "prev_kv": kv_json(resp.prev_kv) if resp.prev_kv is not None else None,
        }
    )


def print_put(out: Output, resp: aetcd.PutResponse) -> None:
    out.line("OK")
    if resp.prev_kv is not None:
        out.kv(resp.prev_kv)


async def _put(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    key, value, options = put_options(args, ctx.read_stdin)
    async with ctx.client() as client:
        resp = await client.put(key, value, **options)
    if ctx.output.is_json:
        ctx.output.json(put_json(resp))
    else:
        print_put(ctx.output, resp)


# --------------------------------------------------------------------------- del


def add_delete_flags(parser: FlagTarget) -> None:
    add_flag(parser, "--prefix", help="delete keys with matching prefix")
    add_flag(parser, "--prev-kv", help="return deleted key-value pairs")
    add_flag(
        parser,
        "--from-key",
        help="delete keys that are greater than or equal to the given key using byte compare",
    )


def delete_options(args: argparse.Namespace) -> tuple[bytes, dict[str, Any]]:
    """The key and `Client.delete` keyword arguments of a `del` command line."""
    _check_range_args("del", args)
    options = _range(args)
    options["prev_kv"] = args.prev_kv
    return arg_bytes(args.args[0]), options


def delete_json(resp: aetcd.DeleteResponse) -> dict[str, Any]:
    return omit_empty(
        {
            "header": header_json(resp.header),
            "deleted": resp.deleted,
            "prev_kvs": [kv_json(kv) for kv in resp.prev_kvs],
        }
    )


def print_delete(out: Output, resp: aetcd.DeleteResponse) -> None:
    out.line(str(resp.deleted))
    for kv in resp.prev_kvs:
        out.kv(kv)


async def _delete(ctx: Context, args: argparse.Namespace) -> None:
    ctx.output.require("simple", "json")
    key, options = delete_options(args)
    async with ctx.client() as client:
        resp = await client.delete(key, **options)
    if ctx.output.is_json:
        ctx.output.json(delete_json(resp))
    else:
        print_delete(ctx.output, resp)


# --------------------------------------------------------------------------- compaction


async def _compaction(ctx: Context, args: argparse.Namespace) -> None:
    if len(args.args) != 1:
        raise UsageError("compaction command needs 1 argument")
    try:
        revision = int(args.args[0], 10)
    except ValueError:
        raise CommandError(f"bad revision {args.args[0]!r}") from None
    async with ctx.client() as client:
        await client.compact(revision, physical=args.physical)
    ctx.output.line(f"compacted revision {revision}")


def register(commands: Commands) -> None:
    add_get_flags(
        add_command(
            commands,
            "get",
            _get,
            usage="[options] <key> [range_end]",
            help="Gets the key or a range of keys",
        )
    )
    add_put_flags(
        add_command(
            commands,
            "put",
            _put,
            usage="[options] <key> <value> (<value> can also be given from stdin)",
            help="Puts the given key into the store",
        )
    )
    add_delete_flags(
        add_command(
            commands,
            "del",
            _delete,
            usage="[options] <key> [range_end]",
            help="Removes the specified key or range of keys [key, range_end)",
        )
    )
    compaction = add_command(
        commands,
        "compaction",
        _compaction,
        usage="[options] <revision>",
        help="Compacts the event history in etcd",
    )
    add_flag(
        compaction,
        "--physical",
        help="'true' to wait for compaction to physically remove all old revisions",
    )
