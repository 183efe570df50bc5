"""Client settings (`aetcd._config`): frozen, validated once, errors naming the option."""

from __future__ import annotations

import dataclasses
import math
import ssl

import pytest

import aetcd
from aetcd import DEFAULT, ClientConfig, TLSConfig


def test_defaults() -> None:
    config = ClientConfig()
    assert config.timeout == 5.0
    assert config.connect_timeout == 5.0
    assert config.require_leader is False
    assert config.auto_sync_interval is None
    assert config.username is None
    assert config.password is None
    assert config.keepalive_time is not None
    assert config.keepalive_time >= 5
    assert config.max_send_bytes == 2 * 1024 * 1024


def test_frozen() -> None:
    config = ClientConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.timeout = 1.0  # type: ignore[misc]
    changed = dataclasses.replace(config, timeout=1.0)
    assert changed.timeout == 1.0
    assert config.timeout == 5.0


@pytest.mark.parametrize(
    "name",
    [
        "timeout",
        "connect_timeout",
        "auto_sync_interval",
        "keepalive_time",
        "keepalive_timeout",
        "probe_after",
        "probe_timeout",
        "backoff_wait_between",
        "cooldown_initial",
        "cooldown_max",
    ],
)
@pytest.mark.parametrize("value", [0, -1, -0.5, math.inf, math.nan])
def test_durations_must_be_positive_and_finite(name: str, value: float) -> None:
    with pytest.raises(aetcd.ArgumentValueError) as info:
        ClientConfig(**{name: value})
    assert str(info.value).startswith(f"{name}:")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", ["timeout", "connect_timeout", "keepalive_timeout", "probe_after"])
@pytest.mark.parametrize("value", ["5", True, [1]])
def test_durations_must_be_numbers(name: str, value: object) -> None:
    with pytest.raises(aetcd.ArgumentTypeError) as info:
        ClientConfig(**{name: value})
    assert str(info.value).startswith(f"{name}:")
    assert isinstance(info.value, TypeError)


def test_none_disables_optional_durations() -> None:
    config = ClientConfig(timeout=None, auto_sync_interval=None, keepalive_time=None)
    assert (config.timeout, config.auto_sync_interval, config.keepalive_time) == (None,) * 3
    for name in ("connect_timeout", "keepalive_timeout", "probe_after"):
        with pytest.raises(aetcd.ArgumentTypeError, match=f"^{name}:"):
            ClientConfig(**{name: None})


def test_keepalive_time_below_etcds_minimum_is_refused() -> None:
    # etcd closes connections that ping more often than every 5 s
    # (--grpc-keepalive-min-time): such a setting could only break connections.
    for value in (0.1, 1, 4.99):
        with pytest.raises(aetcd.ArgumentValueError, match=r"^keepalive_time:.*5 s"):
            ClientConfig(keepalive_time=value)
    assert ClientConfig(keepalive_time=5).keepalive_time == 5
    assert ClientConfig(keepalive_time=30.0).keepalive_time == 30.0


@pytest.mark.parametrize("value", [-0.01, 1.01, 2])
def test_backoff_jitter_range(value: float) -> None:
    with pytest.raises(aetcd.ArgumentValueError, match=r"^backoff_jitter:"):
        ClientConfig(backoff_jitter=value)


def test_backoff_jitter_bounds_are_allowed() -> None:
    assert ClientConfig(backoff_jitter=0).backoff_jitter == 0
    assert ClientConfig(backoff_jitter=1).backoff_jitter == 1


@pytest.mark.parametrize("value", ["0.1", None])
def test_backoff_jitter_type(value: object) -> None:
    # Like every other option: an aetcd error (also a TypeError) naming the option,
    # not a bare comparison TypeError from deep inside the validation.
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^backoff_jitter:"):
        ClientConfig(backoff_jitter=value)  # type: ignore[arg-type]


def test_max_send_bytes() -> None:
    assert ClientConfig(max_send_bytes=1).max_send_bytes == 1
    for value in (0, -1):
        with pytest.raises(aetcd.ArgumentValueError, match=r"^max_send_bytes:"):
            ClientConfig(max_send_bytes=value)
    for bad_type in (1.5, True, "1"):
        with pytest.raises(aetcd.ArgumentTypeError, match=r"^max_send_bytes:"):
            ClientConfig(max_send_bytes=bad_type)  # type: ignore[arg-type]


def test_credentials() -> None:
    config = ClientConfig(username="root", password="secret")
    assert (config.username, config.password) == ("root", "secret")
    with pytest.raises(aetcd.ArgumentValueError, match="username and password"):
        ClientConfig(username="root")
    with pytest.raises(aetcd.ArgumentValueError, match="username and password"):
        ClientConfig(password="secret")
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^username:"):
        ClientConfig(username=b"root", password="x")  # type: ignore[arg-type]
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^password:"):
        ClientConfig(username="root", password=123)  # type: ignore[arg-type]


def test_require_leader_must_be_bool() -> None:
    assert ClientConfig(require_leader=True).require_leader is True
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^require_leader:"):
        ClientConfig(require_leader=1)  # type: ignore[arg-type]


def test_resolve_timeout() -> None:
    config = ClientConfig(timeout=3.0)
    assert config.resolve_timeout(DEFAULT) == 3.0
    assert config.resolve_timeout(None) is None
    assert config.resolve_timeout(0.25) == 0.25
    assert config.resolve_timeout(2) == 2
    assert ClientConfig(timeout=None).resolve_timeout(DEFAULT) is None
    with pytest.raises(aetcd.ArgumentValueError, match=r"^timeout:"):
        config.resolve_timeout(0)
    with pytest.raises(aetcd.ArgumentValueError, match=r"^timeout:"):
        config.resolve_timeout(-1)
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^timeout:"):
        config.resolve_timeout("1")  # type: ignore[arg-type]


def test_default_sentinel() -> None:
    assert repr(DEFAULT) == "aetcd.DEFAULT"
    assert DEFAULT is not None
    assert aetcd.DEFAULT is DEFAULT


def test_client_builds_its_config() -> None:
    client = aetcd.Client(
        "a:1", timeout=None, connect_timeout=2, require_leader=True, probe_after=3
    )
    assert client.config == ClientConfig(
        timeout=None, connect_timeout=2, require_leader=True, probe_after=3
    )
    with pytest.raises(aetcd.ArgumentValueError, match=r"^keepalive_time:"):
        aetcd.Client("a:1", keepalive_time=1)
    with pytest.raises(aetcd.ArgumentTypeError, match="no_such_option"):
        aetcd.Client("a:1", no_such_option=True)


def test_tls_config() -> None:
    with pytest.raises(aetcd.ArgumentValueError, match="cert_file and key_file"):
        TLSConfig(cert_file="client.pem")
    with pytest.raises(aetcd.ArgumentValueError, match="cert_file and key_file"):
        TLSConfig(key_file="client.key")
    context = TLSConfig().ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.verify_mode is ssl.CERT_REQUIRED
    with pytest.raises(dataclasses.FrozenInstanceError):
        TLSConfig().ca_file = "x"  # type: ignore[misc]


def test_client_tls_argument() -> None:
    # TLS makes bare host:port endpoints https, like etcdctl with --cacert.
    client = aetcd.Client("a:1", tls=TLSConfig())
    assert client.endpoints == ("https://a:1",)
    client = aetcd.Client("a:1", tls=ssl.create_default_context())
    assert client.endpoints == ("https://a:1",)
    with pytest.raises(aetcd.ArgumentTypeError, match=r"^tls:"):
        aetcd.Client("a:1", tls="yes")  # type: ignore[arg-type]
