"""argparse, bent to etcdctl's (cobra's) command-line conventions.

* Flags and arguments may be mixed in any order (`get foo --prefix`), and global
  flags may follow the command (`get foo -w json`).
* `--` ends the flags: everything after it is an argument (`put k -- -v`), or for
  `watch` the command to run on each event.
* Boolean flags also take `--flag=true` / `--flag=false`.
* Mistakes raise `UsageError` (one line, exit 128) instead of printing usage and
  exiting 2; `-h` prints help and exits 0.

Every leaf command takes its arguments as one list (`args`) and checks the count
itself, so the messages can be etcdctl's.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any, NoReturn, Protocol

from ._errors import UsageError

__all__ = [
    "ArgumentParser",
    "HelpExit",
    "FlagTarget",
    "add_flag",
    "normalize_bool_flags",
    "parse_duration",
    "parse_hex_id",
    "parse_int",
]

_TRUE = frozenset({"1", "t", "true"})
_FALSE = frozenset({"0", "f", "false"})


class HelpExit(Exception):
    """`-h` (or a bare command group) printed help: exit with `code`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class ArgumentParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` that reports errors as `UsageError`.

    Leaf commands (`leaf=True`) parse flags and arguments intermixed and split at `--`;
    `separator_dest` names the attribute that receives what follows `--` (by default it
    is appended to `args`).
    """

    def __init__(
        self, *args: Any, leaf: bool = False, separator_dest: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.leaf = leaf
        self.separator_dest = separator_dest
        self._intermixed_busy = False

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._print_message(message)
        raise HelpExit(status)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._intermixed_busy:
            return super().parse_known_args(args, namespace)
        # Each parser rewrites its own boolean flags (a command's flags reach only it).
        items = normalize_bool_flags(list(args or ()), _bool_flag_names(self))
        if not self.leaf:
            return super().parse_known_args(items, namespace)
        tail: list[str] | None = None
        if "--" in items:
            cut = items.index("--")
            items, tail = items[:cut], items[cut + 1 :]
        self._intermixed_busy = True
        try:
            ns, extras = self.parse_known_intermixed_args(items, namespace)
        finally:
            self._intermixed_busy = False
        if tail is not None:
            if self.separator_dest is not None:
                setattr(ns, self.separator_dest, tail)
            else:
                ns.args = [*getattr(ns, "args", []), *tail]
        return ns, extras


class FlagTarget(Protocol):
    """Anything flags are added to: a parser, an argument group, a `ParserSpec`."""

    def add_argument(self, *args: Any, **kwargs: Any) -> Any: ...


def add_flag(parser: FlagTarget, *names: str, help: str, default: Any = False) -> None:
    """A boolean flag: `--name`, `--name=true|false` and `--no-name`."""
    parser.add_argument(*names, action=argparse.BooleanOptionalAction, default=default, help=help)


def _bool_flag_names(parser: argparse.ArgumentParser) -> set[str]:
    return {
        option[2:]
        for action in parser._actions
        if isinstance(action, argparse.BooleanOptionalAction)
        for option in action.option_strings
        if option.startswith("--") and not option.startswith("--no-")
    }


def normalize_bool_flags(argv: Sequence[str], bool_flags: set[str]) -> list[str]:
    """Rewrite pflag's `--flag=true|false` into `--flag` / `--no-flag`."""
    result: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            result.extend(argv[i:])
            break
        name, eq, value = arg.partition("=")
        if eq and name.startswith("--") and name[2:] in bool_flags:
            if value.lower() in _TRUE:
                arg = name
            elif value.lower() in _FALSE:
                arg = "--no-" + name[2:]
            else:
                raise UsageError(f'invalid argument "{value}" for "{name}" flag: not a boolean')
        result.append(arg)
    return result


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str, flag: str) -> float:
    """A Go duration (`5s`, `500ms`, `1m30s`) or a plain number of seconds."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    pos, total = 0, 0.0
    while pos < len(value):
        match = _DURATION_PART.match(value, pos)
        if match is None:
            raise UsageError(f'invalid argument "{text}" for "{flag}" flag: bad duration')
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not value:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: empty duration')
    return total


def parse_int(text: str, what: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise UsageError(f"bad {what} {text!r}: expected a decimal integer") from None


def parse_hex_id(text: str, what: str) -> int:
    """A lease or member id as etcdctl prints them (hexadecimal)."""
    try:
        value = int(text, 16)
    except ValueError:
        raise UsageError(f"bad {what} arg ({text!r}), expecting ID in Hex") from None
    if value < 0:
        raise UsageError(f"bad {what} arg ({text!r}), expecting ID in Hex")
    return value
