"""`txn`: a transaction read from stdin in etcdctl's syntax.

    value("k") = "v"          compares, one per line, then an empty line
    mod("k") > "3"
                              (create/c, mod/m, version/ver, value/val, lease)
    put k v2                  success operations, then an empty line
    get k --prefix
                              (each a get/put/del command line with its flags)
    get k                     failure operations, then an empty line

Compare operands are Go-quoted strings; revisions and versions are decimal and lease
ids hexadecimal. With `-i` each block is prompted for. Malformed input exits 3
before anything is sent, as does input that ends before the third empty line.
"""

from __future__ import annotations

import argparse
import operator
import os
import re
from collections.abc import Callable
from typing import IO, Any

import aetcd

from ._command import Commands, add_command
from ._context import Context
from ._errors import EXIT_INVALID_INPUT, CommandError
from ._kv import (
    add_delete_flags,
    add_get_flags,
    add_put_flags,
    delete_json,
    delete_options,
    get_json,
    get_options,
    print_delete,
    print_get,
    print_put,
    put_json,
    put_options,
)
from ._output import Output, header_json, omit_empty
from ._parser import ArgumentParser, HelpExit, add_flag

__all__ = ["argify", "parse_compare", "parse_op", "register", "txn_json"]

_Operand = Callable[[bytes], Any]
_TARGETS: dict[str, tuple[_Operand, int | None]] = {
    # target -> (Compare builder, base of the operand; None for a value compare)
    "ver": (aetcd.Compare.version, 10),
    "version": (aetcd.Compare.version, 10),
    "c": (aetcd.Compare.create_revision, 10),
    "create": (aetcd.Compare.create_revision, 10),
    "m": (aetcd.Compare.mod_revision, 10),
    "mod": (aetcd.Compare.mod_revision, 10),
    "val": (aetcd.Compare.value, None),
    "value": (aetcd.Compare.value, None),
    "lease": (aetcd.Compare.lease, 16),
}
_RESULTS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_SIMPLE_ESCAPES = {
    "a": 7,
    "b": 8,
    "f": 12,
    "n": 10,
    "r": 13,
    "t": 9,
    "v": 11,
    "\\": 92,
    "'": 39,
    '"': 34,
}


def _invalid(message: str) -> CommandError:
    return CommandError(message, EXIT_INVALID_INPUT)


# --------------------------------------------------------------------------- quoting


def scan_quoted(text: str, pos: int) -> tuple[bytes, int]:
    """Read a Go-quoted string (`"..."` with Go's escapes, or a `` `raw` `` string) at
    `pos` (leading blanks skipped); return its bytes and the position after it."""
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    if pos >= len(text) or text[pos] not in '"`':
        raise ValueError("expected a quoted string")
    quote = text[pos]
    pos += 1
    if quote == "`":
        end = text.find("`", pos)
        if end < 0:
            raise ValueError("unterminated string")
        return text[pos:end].encode("utf-8", "surrogateescape"), end + 1
    out = bytearray()
    while pos < len(text):
        ch = text[pos]
        if ch == '"':
            return bytes(out), pos + 1
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            pos += 1
            continue
        esc = text[pos + 1 : pos + 2]
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
            pos += 2
        elif esc == "x":
            out.append(int(text[pos + 2 : pos + 4], 16))
            pos += 4
        elif esc in ("u", "U"):
            width = 4 if esc == "u" else 8
            out += chr(int(text[pos + 2 : pos + 2 + width], 16)).encode()
            pos += 2 + width
        elif esc in "01234567" and esc:
            out.append(int(text[pos + 1 : pos + 4], 8))
            pos += 4
        else:
            raise ValueError(f"bad escape \\{esc}")
    raise ValueError("unterminated string")


_ARG = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^'\"\s]\S*[^'\"\s]?")


def argify(line: str) -> list[str]:
    """Split an operation line into arguments like etcdctl: blanks separate them,
    `'single'` quotes are literal and `"double"` quotes take Go escapes."""
    args = []
    for word in _ARG.findall(line):
        if word.startswith("'"):
            word = word[1:-1]
        elif word.startswith('"'):
            try:
                data, _ = scan_quoted(word, 0)
            except (ValueError, IndexError):
                raise _invalid(f"invalid quoted argument: {word}") from None
            word = os.fsdecode(data)
        args.append(word)
    return args


# --------------------------------------------------------------------------- parsing


def parse_compare(line: str) -> aetcd.Compare:
    """One compare line, e.g. `mod("k") > "3"`."""
    malformed = _invalid(f"malformed comparison: {line}")
    target, paren, rest = line.partition("(")
    if not paren:
        raise malformed
    target = target.strip()
    if target not in _TARGETS:
        raise _invalid(f"malformed comparison: {line} (unknown target {target})")
    try:
        key, pos = scan_quoted(rest, 0)
        match = re.compile(r"\s*\)\s*([=!<>]+)\s*").match(rest, pos)
        if match is None:
            raise ValueError("expected ') <op>'")
        op = match.group(1)
        operand, pos = scan_quoted(rest, match.end())
    except (ValueError, IndexError):
        raise malformed from None
    if rest[pos:].strip():
        raise malformed
    if op not in _RESULTS:
        raise _invalid(f"malformed comparison: {line} (unknown operator {op})")
    build, base = _TARGETS[target]
    value: bytes | int = operand
    try:
        if base is not None:
            value = int(operand.decode(), base)
        return _RESULTS[op](build(key), value)  # type: ignore[no-any-return]
    except (ValueError, UnicodeDecodeError, aetcd.EtcdError):
        raise _invalid(f"invalid txn compare request: {line}") from None


def _op_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="txn", add_help=False)
    ops = parser.add_subparsers(dest="op", parser_class=ArgumentParser)
    add_get_flags(ops.add_parser("get", leaf=True, add_help=False))
    add_put_flags(ops.add_parser("put", leaf=True, add_help=False))
    add_delete_flags(ops.add_parser("del", leaf=True, add_help=False))
    for sub in ops.choices.values():
        sub.add_argument("args", nargs="*")
    return parser


def parse_op(line: str, parser: ArgumentParser | None = None) -> aetcd.Op:
    """One operation line: `get`, `put` or `del` with the flags those commands take."""
    parser = parser or _op_parser()
    words = argify(line)
    if len(words) < 2:
        raise _invalid(f"invalid txn compare request: {line}")
    try:
        args = parser.parse_args(words)
        if args.op == "get":
            key, options = get_options(args)
            return aetcd.Op.get(key, **options)
        if args.op == "put":
            key, value, options = put_options(args)
            return aetcd.Op.put(key, value, **options)
        key, options = delete_options(args)
        return aetcd.Op.delete(key, **options)
    except (CommandError, HelpExit, aetcd.EtcdError):
        raise _invalid(f"invalid txn request: {line}") from None


def _read_block(stream: IO[bytes], parse: Callable[[str], Any]) -> list[Any]:
    items: list[Any] = []
    while True:
        raw = stream.readline()
        if not raw:
            # etcdctl refuses a transaction whose input ends early: it may be truncated.
            raise _invalid("EOF")
        line = os.fsdecode(raw).strip()
        if not line:
            return items
        items.append(parse(line))


# --------------------------------------------------------------------------- output


def txn_json(resp: aetcd.TxnResponse) -> dict[str, Any]:
    responses = []
    for r in resp.responses:
        if isinstance(r, aetcd.GetResponse):
            body = {"response_range": get_json(r)}
        elif isinstance(r, aetcd.PutResponse):
            body = {"response_put": put_json(r)}
        elif isinstance(r, aetcd.DeleteResponse):
            body = {"response_delete_range": delete_json(r)}
        else:
            body = {"response_txn": txn_json(r)}
        responses.append({"Response": body})
    return omit_empty(
        {
            "header": header_json(resp.header),
            "succeeded": resp.succeeded,
            "responses": responses,
        }
    )


def print_txn(out: Output, resp: aetcd.TxnResponse) -> None:
    out.line("SUCCESS" if resp.succeeded else "FAILURE")
    for r in resp.responses:
        out.line()
        if isinstance(r, aetcd.GetResponse):
            print_get(out, r)
        elif isinstance(r, aetcd.PutResponse):
            print_put(out, r)
        elif isinstance(r, aetcd.DeleteResponse):
            print_delete(out, r)
        else:
            print_txn(out, r)


async def _txn(ctx: Context, args: argparse.Namespace) -> None:
    if args.args:
        raise CommandError("txn command does not accept argument", 128)
    out = ctx.output
    out.require("simple", "json")
    stream = ctx.stdin_lines()
    parser = _op_parser()

    def block(prompt: str, parse: Callable[[str], Any]) -> list[Any]:
        if args.interactive:
            out.line(prompt)
        return _read_block(stream, parse)

    compares = block("compares:", parse_compare)
    success = block("success requests (get, put, del):", lambda line: parse_op(line, parser))
    failure = block("failure requests (get, put, del):", lambda line: parse_op(line, parser))
    async with ctx.client() as client:
        resp = await client.txn(compares, success, failure)
    if out.is_json:
        out.json(txn_json(resp))
    else:
        print_txn(out, resp)


def register(commands: Commands) -> None:
    parser = add_command(
        commands,
        "txn",
        _txn,
        usage="[options]",
        help="Txn processes all the requests in one transaction",
    )
    add_flag(parser, "-i", "--interactive", help="Input transaction in interactive mode")
