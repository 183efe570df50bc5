"""Endpoint parsing: the forms etcd users write on the command line and in config files."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from .._exceptions import ArgumentTypeError, ArgumentValueError

__all__ = ["DEFAULT_PORT", "Endpoint", "parse_endpoint", "parse_endpoints"]

DEFAULT_PORT = 2379

Scheme = Literal["http", "https", "unix", "unixs"]
_SCHEMES: frozenset[str] = frozenset({"http", "https", "unix", "unixs"})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One etcd client URL, parsed.

    `host`/`port` are set for TCP endpoints, `path` for unix sockets. `secure` tells
    whether the connection uses TLS (`https://` and `unixs://`).
    """

    scheme: Scheme
    host: str | None = None
    port: int | None = None
    path: str | None = None

    @property
    def secure(self) -> bool:
        return self.scheme in ("https", "unixs")

    @property
    def url(self) -> str:
        if self.path is not None:
            return f"{self.scheme}://{self.path}"
        assert self.host is not None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __str__(self) -> str:
        return self.url


def parse_endpoint(value: str, *, secure: bool = False) -> Endpoint:
    """Parse `http://h:p`, `https://h:p`, `unix:///path`, `unix://path` or `host[:port]`.

    A bare `host[:port]` uses TLS when `secure` is true (a TLS config was given),
    like etcdctl does.
    """
    if not isinstance(value, str):
        raise ArgumentTypeError(f"endpoints: expected str, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ArgumentValueError("endpoints: empty endpoint")
    if "://" not in text:
        text = ("https://" if secure else "http://") + text
    scheme, _, rest = text.partition("://")
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise ArgumentValueError(
            f"endpoints: unsupported scheme {scheme!r} in {value!r} "
            "(expected http, https, unix or unixs)"
        )
    if scheme in ("unix", "unixs"):
        # etcd accepts both unix:///abs/path and unix://relative/path (Go's grpc resolver
        # strips the scheme only), so keep whatever follows the scheme as the path.
        if not rest:
            raise ArgumentValueError(f"endpoints: unix endpoint without a path: {value!r}")
        return Endpoint(scheme=scheme, path=rest)  # type: ignore[arg-type]
    parts = urlsplit(text)
    try:
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise ArgumentValueError(f"endpoints: invalid endpoint {value!r}: {exc}") from None
    if not host:
        raise ArgumentValueError(f"endpoints: no host in {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ArgumentValueError(f"endpoints: unexpected path or query in {value!r}")
    with contextlib.suppress(ValueError):  # normalise IP literals; names stay as written
        host = str(ipaddress.ip_address(host))
    if port == 0:
        raise ArgumentValueError(f"endpoints: port 0 is not a valid port in {value!r}")
    return Endpoint(scheme=scheme, host=host, port=port or DEFAULT_PORT)  # type: ignore[arg-type]


def parse_endpoints(value: str | Sequence[str], *, secure: bool = False) -> tuple[Endpoint, ...]:
    """Parse one endpoint, a comma-separated list, or a sequence of endpoints."""
    if isinstance(value, str):
        items: Sequence[str] = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        items = value
    else:
        raise ArgumentTypeError(
            f"endpoints: expected str or a sequence of str, got {type(value).__name__}"
        )
    if not items:
        raise ArgumentValueError("endpoints: at least one endpoint is required")
    result: list[Endpoint] = []
    for item in items:
        endpoint = parse_endpoint(item, secure=secure)
        if endpoint not in result:
            result.append(endpoint)
    return tuple(result)
