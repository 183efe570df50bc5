"""Declaring commands: a leaf command is a parser with a handler; a group (`lease`,
`member`, ...) only holds subcommands.

Parsers are built lazily: `add_command` records the flags a command takes, and the
parser is only constructed when that command is the one being run (or its help is
shown). A full tree of ~50 argparse parsers costs tens of milliseconds at every start,
mostly in argparse's gettext look-ups, for one command line that uses one of them.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from ._context import Context, add_global_flags
from ._parser import ArgumentParser

__all__ = ["Commands", "Handler", "ParserSpec", "add_command", "add_group"]

#: `async def handler(ctx, args) -> exit code (None for 0)`.
Handler: TypeAlias = Callable[[Context, argparse.Namespace], Awaitable["int | None"]]
_Make: TypeAlias = Callable[[str], ArgumentParser]
_EPILOG = "The global flags (aetcdctl --help) are accepted here too."


class _LazyParsers(dict[str, Any]):
    """argparse's name → subparser map, whose entries are built on first access."""

    def add_pending(self, name: str, make: _Make, prog: str) -> None:
        super().__setitem__(name, _Pending(make, prog))

    def __getitem__(self, name: str) -> ArgumentParser:
        value = super().__getitem__(name)
        if isinstance(value, _Pending):
            value = value.make(value.prog)
            super().__setitem__(name, value)
        assert isinstance(value, ArgumentParser)
        return value


class _Pending:
    __slots__ = ("make", "prog")

    def __init__(self, make: _Make, prog: str) -> None:
        self.make = make
        self.prog = prog


class Commands:
    """The subcommands of the program or of a group. Registrations are kept until
    the group's parser exists (`bind`), then installed as lazy entries."""

    def __init__(self) -> None:
        self._entries: list[tuple[str, str, _Make]] = []
        self._action: argparse._SubParsersAction[ArgumentParser] | None = None
        self._parsers = _LazyParsers()
        self._prog = ""

    def add(self, name: str, help: str, make: _Make) -> None:
        self._entries.append((name, help, make))
        if self._action is not None:
            self._install(name, help, make)

    def bind(self, parser: ArgumentParser, title: str) -> None:
        """Attach to `parser` as its subcommands."""
        self._prog = parser.prog
        self._action = parser.add_subparsers(
            title=title, metavar=f"<{title[:-1]}>", parser_class=ArgumentParser
        )
        # argparse reads the map through both attributes (dispatch and "invalid choice").
        self._action._name_parser_map = self._parsers
        self._action.choices = self._parsers
        for name, help, make in self._entries:
            self._install(name, help, make)

    def _install(self, name: str, help: str, make: _Make) -> None:
        # What `_SubParsersAction.add_parser` does, minus building the parser now.
        action = self._action
        assert action is not None
        action._choices_actions.append(action._ChoicesPseudoAction(name, (), help))
        self._parsers.add_pending(name, make, f"{self._prog} {name}")


class ParserSpec:
    """The flags of one command, recorded by `add_argument`/`set_defaults` calls and
    replayed onto the real parser when it is built."""

    def __init__(self) -> None:
        self._calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        self._calls.append(("add_argument", args, kwargs))

    def set_defaults(self, **kwargs: Any) -> None:
        self._calls.append(("set_defaults", (), kwargs))

    def apply(self, parser: ArgumentParser) -> None:
        for method, args, kwargs in self._calls:
            getattr(parser, method)(*args, **kwargs)


def add_command(
    commands: Commands,
    name: str,
    handler: Handler,
    *,
    usage: str,
    help: str,
    separator_dest: str | None = None,
) -> ParserSpec:
    """A leaf command; add its flags to the returned spec. Its arguments arrive as
    `args.args` (a list of str); `usage` is etcdctl's usage line without the command
    path, e.g. `"[options] <key>"`."""
    spec = ParserSpec()

    def make(prog: str) -> ArgumentParser:
        parser = ArgumentParser(
            prog=prog,
            usage=f"%(prog)s {usage}",
            description=help,
            epilog=_EPILOG,
            leaf=True,
            separator_dest=separator_dest,
        )
        parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
        spec.apply(parser)
        add_global_flags(parser, documented=False)
        parser.set_defaults(handler=handler, group=None)
        return parser

    commands.add(name, help, make)
    return spec


def add_group(commands: Commands, name: str, *, help: str) -> Commands:
    """A command group; returns the `Commands` to add its subcommands to."""
    subcommands = Commands()

    def make(prog: str) -> ArgumentParser:
        parser = ArgumentParser(prog=prog, description=help, epilog=_EPILOG)
        add_global_flags(parser, documented=False)
        parser.set_defaults(handler=None, group=parser)
        subcommands.bind(parser, "subcommands")
        return parser

    commands.add(name, help, make)
    return subcommands
