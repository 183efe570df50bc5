"""Frozen, validated client settings."""

from __future__ import annotations

import enum
import math
import ssl
from dataclasses import dataclass
from typing import Final

from ._exceptions import ArgumentTypeError, ArgumentValueError
from ._keys import check_bool

__all__ = ["DEFAULT", "ClientConfig", "TLSConfig", "TimeoutArg", "UseDefault"]


class UseDefault(enum.Enum):
    """Sentinel type: "use the client's default timeout" (distinct from `None`, no timeout)."""

    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "aetcd.DEFAULT"


DEFAULT: Final = UseDefault.DEFAULT
"""Default of every call's `timeout`: use the client's `timeout` (`None` means no deadline)."""
TimeoutArg = float | None | UseDefault

# etcd's gRPC server enforces a minimum interval between client keepalive pings
# (--grpc-keepalive-min-time, 5 s by default) and closes connections that ping faster.
MIN_KEEPALIVE_TIME: Final = 5.0
MiB: Final = 1024 * 1024


def _check_positive(name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentTypeError(f"{name}: expected a number of seconds, got {value!r}")
    if not (value > 0) or math.isinf(value):
        raise ArgumentValueError(f"{name}: must be a positive finite number, got {value!r}")


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """Files for TLS: the CA that signed the servers' certificates, and an optional
    client certificate/key pair for etcd's `--client-cert-auth`.

    `server_name` overrides the name checked against the server certificate (and sent
    as SNI), for clusters reached through addresses their certificates do not name.
    """

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ArgumentValueError("tls: cert_file and key_file must be given together")

    def ssl_context(self) -> ssl.SSLContext:
        """Build the `ssl.SSLContext` these files describe (ALPN `h2`, TLS >= 1.2)."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file is not None:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        ctx.set_alpn_protocols(["h2"])
        return ctx


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Every tunable of a `Client`, validated once.

    Times are seconds. `timeout` is the default per-call deadline (`None`: no deadline);
    it covers waiting for an endpoint, retries and the server's work, and is sent to the
    server as `grpc-timeout`.
    """

    timeout: float | None = 5.0
    connect_timeout: float = 5.0
    require_leader: bool = False
    auto_sync_interval: float | None = None
    # Endpoint health (`_health.py`): every health_check_interval seconds each endpoint
    # is asked for its status (waiting up to health_check_timeout); members that do
    # not answer or follow no leader leave the rotation until they are healthy again.
    health_check_interval: float | None = None
    health_check_timeout: float = 2.0
    username: str | None = None
    password: str | None = None
    # HTTP/2 keepalive: ping a connection that has calls in flight after this much
    # silence; close it when the ping is not answered within keepalive_timeout.
    keepalive_time: float | None = 10.0
    keepalive_timeout: float = 5.0
    # A retryable call that has had no answer for this long probes its connection with
    # an HTTP/2 PING; an unanswered probe (after probe_timeout) marks the member dead,
    # so a black-holed member is left within about two seconds, not a whole deadline.
    probe_after: float = 1.0
    probe_timeout: float = 1.0
    # Largest request the client sends (etcd's own default limit is 1.5 MiB, so a
    # larger one would be refused by the server anyway).
    max_send_bytes: int = 2 * MiB
    # Go clientv3's retry backoff: after each round over a quorum of endpoints.
    backoff_wait_between: float = 0.025
    backoff_jitter: float = 0.10
    # A failed endpoint cools down before it is tried again: initial, doubling, capped.
    cooldown_initial: float = 0.1
    cooldown_max: float = 5.0
    # Gets issued in the same event-loop iteration while others are in progress go to
    # etcd as one Txn of Range operations (a get alone as a plain Range), which saves
    # the client most of the per-call cost when many reads are in flight. Results,
    # errors and deadlines are those of separate calls: a refused batch is resent read
    # by read (`_coalesce.py`). False: every get is a Range of its own.
    coalesce_reads: bool = True

    def __post_init__(self) -> None:
        _check_positive("timeout", self.timeout, allow_none=True)
        _check_positive("connect_timeout", self.connect_timeout)
        _check_positive("auto_sync_interval", self.auto_sync_interval, allow_none=True)
        _check_positive("health_check_interval", self.health_check_interval, allow_none=True)
        _check_positive("health_check_timeout", self.health_check_timeout)
        _check_positive("keepalive_time", self.keepalive_time, allow_none=True)
        _check_positive("keepalive_timeout", self.keepalive_timeout)
        _check_positive("probe_after", self.probe_after)
        _check_positive("probe_timeout", self.probe_timeout)
        _check_positive("backoff_wait_between", self.backoff_wait_between)
        _check_positive("cooldown_initial", self.cooldown_initial)
        _check_positive("cooldown_max", self.cooldown_max)
        if self.keepalive_time is not None and self.keepalive_time < MIN_KEEPALIVE_TIME:
            raise ArgumentValueError(
                f"keepalive_time: etcd closes connections that ping more often than every "
                f"{MIN_KEEPALIVE_TIME:g} s; got {self.keepalive_time!r}"
            )
        if isinstance(self.backoff_jitter, bool) or not isinstance(
            self.backoff_jitter, (int, float)
        ):
            raise ArgumentTypeError(
                f"backoff_jitter: expected a number, got {self.backoff_jitter!r}"
            )
        if not 0 <= self.backoff_jitter <= 1:
            raise ArgumentValueError(
                f"backoff_jitter: must be in [0, 1], got {self.backoff_jitter!r}"
            )
        if isinstance(self.max_send_bytes, bool) or not isinstance(self.max_send_bytes, int):
            raise ArgumentTypeError(f"max_send_bytes: expected int, got {self.max_send_bytes!r}")
        if self.max_send_bytes <= 0:
            raise ArgumentValueError(f"max_send_bytes: must be positive, got {self.max_send_bytes}")
        if (self.username is None) != (self.password is None):
            raise ArgumentValueError("username and password must be given together")
        if self.username is not None and not isinstance(self.username, str):
            raise ArgumentTypeError(f"username: expected str, got {type(self.username).__name__}")
        if self.password is not None and not isinstance(self.password, str):
            raise ArgumentTypeError(f"password: expected str, got {type(self.password).__name__}")
        if not isinstance(self.require_leader, bool):
            raise ArgumentTypeError(f"require_leader: expected bool, got {self.require_leader!r}")
        check_bool("coalesce_reads", self.coalesce_reads)

    def resolve_timeout(self, timeout: TimeoutArg) -> float | None:
        """The deadline length for one call: the client default unless overridden."""
        if timeout is DEFAULT:
            return self.timeout
        _check_positive("timeout", timeout, allow_none=True)
        return timeout
