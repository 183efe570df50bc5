"""Endpoint parsing (`aetcd._transport._endpoints`): the forms etcd users write."""

from __future__ import annotations

import pytest

import aetcd
from aetcd._transport._endpoints import DEFAULT_PORT, Endpoint, parse_endpoint, parse_endpoints


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://127.0.0.1:2379", Endpoint("http", "127.0.0.1", 2379)),
        ("https://etcd.example.com:23790", Endpoint("https", "etcd.example.com", 23790)),
        ("HTTP://Etcd.Example.COM:1", Endpoint("http", "etcd.example.com", 1)),
        ("  http://10.0.0.1:2379  ", Endpoint("http", "10.0.0.1", 2379)),
        ("http://10.0.0.1:2379/", Endpoint("http", "10.0.0.1", 2379)),
        # Defaults: scheme http, port 2379.
        ("10.0.0.1:2380", Endpoint("http", "10.0.0.1", 2380)),
        ("localhost", Endpoint("http", "localhost", DEFAULT_PORT)),
        ("http://localhost", Endpoint("http", "localhost", DEFAULT_PORT)),
        ("https://localhost", Endpoint("https", "localhost", DEFAULT_PORT)),
        # IPv6, bracketed, normalised.
        ("http://[::1]:2379", Endpoint("http", "::1", 2379)),
        ("[::1]:2380", Endpoint("http", "::1", 2380)),
        ("[2001:DB8:0::1]", Endpoint("http", "2001:db8::1", DEFAULT_PORT)),
        ("https://[fe80::1]", Endpoint("https", "fe80::1", DEFAULT_PORT)),
        # Unix sockets: absolute and relative paths (etcd accepts both).
        ("unix:///var/run/etcd.sock", Endpoint("unix", path="/var/run/etcd.sock")),
        ("unix://etcd.sock", Endpoint("unix", path="etcd.sock")),
        ("unix://localhost:2379", Endpoint("unix", path="localhost:2379")),
        ("unixs:///tmp/etcd.sock", Endpoint("unixs", path="/tmp/etcd.sock")),
    ],
)
def test_parse_endpoint(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected


def test_bare_host_port_uses_tls_when_secure() -> None:
    assert parse_endpoint("10.0.0.1:2379", secure=True) == Endpoint("https", "10.0.0.1", 2379)
    # An explicit scheme wins.
    assert parse_endpoint("http://10.0.0.1:2379", secure=True).scheme == "http"
    assert parse_endpoints("a:1,b:2", secure=True) == (
        Endpoint("https", "a", 1),
        Endpoint("https", "b", 2),
    )


@pytest.mark.parametrize(
    ("endpoint", "url", "secure"),
    [
        (Endpoint("http", "127.0.0.1", 2379), "http://127.0.0.1:2379", False),
        (Endpoint("https", "::1", 2379), "https://[::1]:2379", True),
        (Endpoint("unix", path="/tmp/e.sock"), "unix:///tmp/e.sock", False),
        (Endpoint("unixs", path="e.sock"), "unixs://e.sock", True),
    ],
)
def test_endpoint_url(endpoint: Endpoint, url: str, secure: bool) -> None:
    assert endpoint.url == url
    assert str(endpoint) == url
    assert endpoint.secure is secure
    # The URL parses back to the same endpoint.
    assert parse_endpoint(url) == endpoint


def test_parse_endpoints_forms() -> None:
    expected = (Endpoint("http", "a", 1), Endpoint("http", "b", 2), Endpoint("https", "c", 3))
    assert parse_endpoints("a:1,b:2,https://c:3") == expected
    assert parse_endpoints(" a:1 , b:2,, https://c:3 ,") == expected
    assert parse_endpoints(["a:1", "http://b:2", "https://c:3"]) == expected
    assert parse_endpoints(("a:1", "b:2", "https://c:3")) == expected
    assert parse_endpoints("unix:///s") == (Endpoint("unix", path="/s"),)


def test_parse_endpoints_keeps_order_and_drops_duplicates() -> None:
    assert parse_endpoints(
        [
            "http://b:2",
            "a:1",
            "b:2",
            "http://a:1",
            "HTTP://A:1",
            "http://127.0.0.1",
            "127.0.0.1:2379",
            "[::1]",
            "http://[0:0::1]:2379",
        ]
    ) == (
        Endpoint("http", "b", 2),
        Endpoint("http", "a", 1),
        Endpoint("http", "127.0.0.1", 2379),
        Endpoint("http", "::1", 2379),
    )
    # http and https to the same address are different endpoints.
    assert len(parse_endpoints(["http://a:1", "https://a:1"])) == 2


@pytest.mark.parametrize(
    "text",
    [
        "ftp://a:1",
        "grpc://a:1",
        "tcp://a:1",
        "dns://a:1",
        "http+unix://x",
        "://a:1",
    ],
)
def test_unsupported_schemes(text: str) -> None:
    with pytest.raises(aetcd.ArgumentValueError, match=r"^endpoints: unsupported scheme"):
        parse_endpoints(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        ",",
        " , ,",
        "http://",
        "http://:2379",
        "unix://",
        "http://a:99999",
        "http://a:-1",
        "http://a:port",
        "http://a:1/v3",
        "http://a:1?x=1",
        "http://a:1#frag",
        "::1",
    ],
)
def test_invalid_endpoints(text: str) -> None:
    with pytest.raises(aetcd.ArgumentValueError) as info:
        parse_endpoints(text)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("endpoints:")


def test_port_zero_is_refused() -> None:
    # Port 0 cannot be connected to; it must not silently become the default port.
    with pytest.raises(aetcd.ArgumentValueError, match="endpoints"):
        parse_endpoint("http://a:0")


@pytest.mark.parametrize("value", [2379, None, b"http://a:1", [b"http://a:1"], ["a:1", 2]])
def test_invalid_types(value: object) -> None:
    with pytest.raises(aetcd.ArgumentTypeError) as info:
        parse_endpoints(value)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)
    assert str(info.value).startswith("endpoints:")


def test_empty_sequence() -> None:
    with pytest.raises(aetcd.ArgumentValueError, match="at least one endpoint"):
        parse_endpoints([])
    with pytest.raises(aetcd.ArgumentValueError, match="empty endpoint"):
        parse_endpoints(["a:1", ""])


def test_client_uses_the_parsed_endpoints() -> None:
    client = aetcd.Client("a:1, a:1 ,https://b,unix:///s")
    assert client.endpoints == ("http://a:1", "https://b:2379", "unix:///s")
    assert aetcd.Client().endpoints == ("http://127.0.0.1:2379",)
