"""Global flags (etcdctl's), and the `Context` every command runs with.

Global flags are accepted before or after the command, and default to the
`ETCDCTL_*` environment variables etcdctl reads (`ETCDCTL_ENDPOINTS`,
`ETCDCTL_USER`, `ETCDCTL_WRITE_OUT`, ...), then to etcdctl's defaults.
"""

from __future__ import annotations

import argparse
import getpass
import os
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import aetcd

from ._errors import EXIT_BAD_FEATURE, CommandError, UsageError
from ._output import FORMATS, Output
from ._parser import add_flag, parse_duration

__all__ = ["Context", "add_global_flags", "context_from_args"]


@dataclass(frozen=True)
class _Global:
    dest: str
    flags: tuple[str, ...]
    default: Any
    help: str
    boolean: bool = False


_GLOBALS = (
    _Global("endpoints", ("--endpoints",), "127.0.0.1:2379", "gRPC endpoints (comma-separated)"),
    _Global("user", ("--user",), "", "username[:password] for authentication"),
    _Global("password", ("--password",), "", "password for authentication (with --user)"),
    _Global("cacert", ("--cacert",), "", "verify servers' TLS certificates with this CA bundle"),
    _Global("cert", ("--cert",), "", "identify this client with this TLS certificate file"),
    _Global("key", ("--key",), "", "identify this client with this TLS key file"),
    _Global(
        "insecure_skip_tls_verify",
        ("--insecure-skip-tls-verify",),
        False,
        "skip server certificate verification (for testing only)",
        boolean=True,
    ),
    _Global(
        "insecure_transport",
        ("--insecure-transport",),
        True,
        "allow plain-text connections when no TLS flag is given",
        boolean=True,
    ),
    _Global("dial_timeout", ("--dial-timeout",), "2s", "dial timeout for client connections"),
    _Global(
        "command_timeout",
        ("--command-timeout",),
        "5s",
        "timeout for short running commands (excluding dial timeout)",
    ),
    _Global("hex", ("--hex",), False, "print byte strings as hex encoded strings", boolean=True),
    _Global(
        "write_out",
        ("-w", "--write-out"),
        "simple",
        "output format (simple, json, table)",
    ),
    _Global("debug", ("--debug",), False, "show Python tracebacks on errors", boolean=True),
)


def add_global_flags(parser: argparse.ArgumentParser, *, documented: bool = True) -> None:
    """Add the global flags to `parser` without defaults, so that a flag given at any
    level wins and the defaults are filled in once, by `context_from_args`. Only the
    program's own help lists them (`documented`)."""
    group = parser.add_argument_group("global flags") if documented else parser
    for g in _GLOBALS:
        text = g.help if documented else argparse.SUPPRESS
        if g.boolean:
            add_flag(group, *g.flags, help=text, default=argparse.SUPPRESS)
        else:
            group.add_argument(*g.flags, dest=g.dest, default=argparse.SUPPRESS, help=text)


def _env_name(g: _Global) -> str:
    return "ETCDCTL_" + g.flags[-1].lstrip("-").upper().replace("-", "_")


def _global_values(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for g in _GLOBALS:
        if hasattr(args, g.dest):
            values[g.dest] = getattr(args, g.dest)
            continue
        env = os.environ.get(_env_name(g))
        if env is None:
            values[g.dest] = g.default
        elif g.boolean:
            values[g.dest] = env.strip().lower() in ("1", "t", "true")
        else:
            values[g.dest] = env
    if values["write_out"] not in FORMATS:
        raise CommandError("unsupported output format", EXIT_BAD_FEATURE)
    return values


@dataclass
class Context:
    """What a command needs besides its own arguments: how to connect and to print."""

    output: Output
    endpoints: list[str]
    dial_timeout: float
    command_timeout: float
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: ssl.SSLContext | None = None
    debug: bool = False
    stdin: IO[bytes] | None = None

    def client(
        self,
        endpoints: Sequence[str] | None = None,
        *,
        auth: bool = True,
        deadline: bool = True,
    ) -> aetcd.Client:
        """A new client (enter it with `async with`) on `endpoints` (default: the
        --endpoints). Calls have --command-timeout as their deadline, or none with
        `deadline=False` (long-running commands: watch, lock, keep-alive, snapshot)."""
        username = password = None
        if auth and self.username is not None:
            username, password = self.username, self._password()
        return aetcd.Client(
            list(endpoints or self.endpoints),
            timeout=self.command_timeout if deadline else None,
            connect_timeout=self.dial_timeout,
            username=username,
            password=password,
            tls=self.tls,
        )

    def _password(self) -> str:
        if self.password is None:
            # etcdctl asks too when --user has no ":password" and --password is absent.
            self.password = getpass.getpass("Password: ")
        return self.password

    def read_stdin(self) -> bytes:
        stream = self.stdin if self.stdin is not None else sys.stdin.buffer
        return stream.read()

    def stdin_lines(self) -> IO[bytes]:
        return self.stdin if self.stdin is not None else sys.stdin.buffer


def _tls_context(values: dict[str, Any]) -> ssl.SSLContext | None:
    cacert, cert, key = values["cacert"] or None, values["cert"] or None, values["key"] or None
    skip_verify = bool(values["insecure_skip_tls_verify"])
    wanted = cacert or cert or key or skip_verify or not values["insecure_transport"]
    if not wanted:
        return None
    if (cert is None) != (key is None):
        raise UsageError("--cert and --key must be given together")
    try:
        ctx = aetcd.TLSConfig(ca_file=cacert, cert_file=cert, key_file=key).ssl_context()
    except OSError as exc:
        raise UsageError(f"cannot load TLS files: {exc}") from None
    if skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def context_from_args(
    args: argparse.Namespace, *, stdin: IO[bytes] | None = None, output: Output | None = None
) -> Context:
    values = _global_values(args)
    endpoints = [e.strip() for e in str(values["endpoints"]).split(",") if e.strip()]
    if not endpoints:
        raise UsageError("no endpoints given (--endpoints)")
    username: str | None = None
    password: str | None = None
    if values["user"]:
        if values["password"]:
            username, password = values["user"], values["password"]
        else:
            username, sep, rest = str(values["user"]).partition(":")
            password = rest if sep else None
    out = output or Output(values["write_out"], hex=bool(values["hex"]))
    out.format = values["write_out"]
    out.hex = bool(values["hex"])
    return Context(
        output=out,
        endpoints=endpoints,
        dial_timeout=parse_duration(str(values["dial_timeout"]), "--dial-timeout"),
        command_timeout=parse_duration(str(values["command_timeout"]), "--command-timeout"),
        username=username,
        password=password,
        tls=_tls_context(values),
        debug=bool(values["debug"]),
        stdin=stdin,
    )
