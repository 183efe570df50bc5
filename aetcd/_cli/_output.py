"""Output in etcdctl's three formats: simple text, JSON and tables.

`Output` is the one place that writes to stdout. The `*_json` functions build the
objects etcdctl's JSON printer produces: Go's `encoding/json` over etcd's protobuf
structs, so zero values are omitted (`omitempty`), keys and values are base64, field
names are the protobuf JSON names (`create_revision`, `dbSize`, `peerURLs`, ...), and
some responses flatten their header (`lease grant`). `render_table` draws the
tables of etcdctl's `tablewriter`.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any, Protocol

import aetcd

from ._errors import EXIT_BAD_FEATURE, CommandError

__all__ = [
    "Output",
    "b64",
    "go_duration",
    "go_quote",
    "header_fields",
    "header_json",
    "humanize_bytes",
    "kv_json",
    "omit_empty",
    "render_table",
]

FORMATS = ("simple", "json", "table")


# --------------------------------------------------------------------------- JSON


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def omit_empty(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop zero values, like Go's `omitempty` on protobuf structs."""
    return {k: v for k, v in obj.items() if v not in (None, 0, "", False, [], {})}


def header_fields(h: aetcd.ResponseHeader) -> dict[str, Any]:
    return omit_empty(
        {
            "cluster_id": h.cluster_id,
            "member_id": h.member_id,
            "revision": h.revision,
            "raft_term": h.raft_term,
        }
    )


def header_json(h: aetcd.ResponseHeader) -> dict[str, Any] | None:
    """A response's `header`, or None (omitted) when the response has none."""
    return header_fields(h) or None


def kv_json(kv: aetcd.KeyValue) -> dict[str, Any]:
    return omit_empty(
        {
            "key": b64(kv.key),
            "create_revision": kv.create_revision,
            "mod_revision": kv.mod_revision,
            "version": kv.version,
            "value": b64(kv.value),
            "lease": kv.lease,
        }
    )


def dumps(obj: Any) -> str:
    """JSON as Go's `json.Marshal` writes it: compact, UTF-8, HTML characters escaped."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    # These characters occur only inside strings, so replacing them everywhere is safe.
    for char, escape in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


# --------------------------------------------------------------------------- text


def _hex_escape(data: bytes) -> bytes:
    # etcdctl's --hex: every byte as \xNN.
    return "".join(f"\\x{b:02x}" for b in data).encode("ascii")


def go_quote(data: bytes) -> str:
    """Go's `%q` of a byte string: double-quoted, printable ASCII kept, the rest escaped."""
    named = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}
    out = ['"']
    text = data.decode("utf-8", errors="surrogateescape")
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not valid UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code in named:
            out.append(named[code])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def humanize_bytes(size: int) -> str:
    """go-humanize's `Bytes` (SI units), as etcdctl prints database sizes."""
    if size < 10:
        return f"{size} B"
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    exp = min(math.floor(math.log(size, 1000)), len(units) - 1)
    value = math.floor(size / 1000**exp * 10 + 0.5) / 10
    return f"{value:.0f} {units[exp]}" if value >= 10 else f"{value:.1f} {units[exp]}"


def _decimal(whole: int, frac: int, digits: int) -> str:
    text = f"{whole}.{frac:0{digits}d}".rstrip("0")
    return text.rstrip(".")


def go_duration(seconds: float) -> str:
    """Go's `time.Duration.String()`: 850ns, 4.018994ms, 1.5s, 2m3.5s."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_decimal(ns // 1_000, ns % 1_000, 3)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_decimal(ns // 1_000_000, ns % 1_000_000, 6)}ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = _decimal(rest // 10**9, rest % 10**9, 9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table like etcdctl's (olekukonko/tablewriter with right-aligned cells)."""
    titles = [h.upper() for h in header]
    widths = [len(t) for t in titles]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def centred(text: str, width: int) -> str:
        gap = width - len(text)
        return " " * (gap // 2) + text + " " * (gap - gap // 2)

    lines = [
        rule,
        "| " + " | ".join(centred(t, w) for t, w in zip(titles, widths, strict=True)) + " |",
        rule,
    ]
    for row in rows:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    lines.append(rule)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- writer


class BinarySink(Protocol):
    """Where output bytes go (`sys.stdout.buffer`, a file opened in binary mode)."""

    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> object: ...


class Output:
    """Where and how a command prints: the `-w` format, `--hex`, and the streams.

    Text goes to stdout as bytes (keys and values are printed verbatim, like etcdctl
    does, whatever their encoding) and is flushed after every call, so `watch` output
    reaches a pipe as it happens.
    """

    def __init__(
        self,
        fmt: str = "simple",
        *,
        hex: bool = False,
        stdout: BinarySink | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.format = fmt
        self.hex = hex
        #: Print only values (get --print-value-only).
        self.value_only = False
        self._out = stdout if stdout is not None else _binary(sys.stdout)
        self._err = stderr if stderr is not None else sys.stderr

    @property
    def is_json(self) -> bool:
        return self.format == "json"

    @property
    def is_simple(self) -> bool:
        return self.format == "simple"

    def require(self, *formats: str) -> None:
        """Refuse output formats this command has no printer for (etcdctl's wording)."""
        if self.format not in formats:
            raise CommandError(f"{self.format} not supported as output format", EXIT_BAD_FEATURE)

    def write(self, data: bytes | str) -> None:
        self._out.write(data.encode() if isinstance(data, str) else data)
        self._out.flush()

    def line(self, data: bytes | str = b"") -> None:
        self.write((data.encode() if isinstance(data, str) else data) + b"\n")

    def lines(self, items: Iterable[bytes | str]) -> None:
        for item in items:
            self.line(item)

    def json(self, obj: Any) -> None:
        self.line(dumps(obj))

    def kv(self, kv: aetcd.KeyValue) -> None:
        """etcdctl's `printKV`: the key (unless --print-value-only), then the value."""
        key, value = kv.key, kv.value
        if self.hex:
            key, value = _hex_escape(key), _hex_escape(value)
        if not self.value_only:
            self.line(key)
        self.line(value)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """Rows as a table (`-w table`) or as comma-separated lines (`-w simple`)."""
        if self.format == "table":
            self.write(render_table(header, rows))
        else:
            self.lines(", ".join(row) for row in rows)

    def error(self, message: str) -> None:
        """A line on stderr (warnings and per-endpoint failures)."""
        self._err.write(message + "\n")
        self._err.flush()


def _binary(stream: IO[str]) -> BinarySink:
    buffer: BinarySink | None = getattr(stream, "buffer", None)
    return buffer if buffer is not None else _TextAsBinary(stream)


class _TextAsBinary:
    """Bytes written to a text-only stream (e.g. a replaced `sys.stdout`)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, data: bytes) -> int:
        return self._stream.write(data.decode("utf-8", errors="replace"))

    def flush(self) -> None:
        self._stream.flush()
