"""Secure and local transports against real etcd: https:// with a CA and client
certificates, a plain `ssl.SSLContext`, `server_name` overrides, certificate
common names as users, clear errors for every TLS misconfiguration, and unix://
sockets."""

from __future__ import annotations

import os
import ssl
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import aetcd
from aetcd.testing import EtcdMember, EtcdServer, EtcdTLS, free_ports, make_test_tls
from aetcd.testing._tls import _issue

# A TLS misconfiguration is reported at once, not after the call's whole deadline.
FAST = 3.0


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> EtcdTLS:
    return make_test_tls(tmp_path_factory.mktemp("tls"), client_cert_auth=True)


@pytest.fixture(scope="module")
def tls_server(certs: EtcdTLS) -> Iterator[EtcdServer]:
    """etcd with --cert-file/--key-file/--trusted-ca-file/--client-cert-auth."""
    with EtcdServer(name="tls", tls=certs) as server:
        yield server


def client_tls(certs: EtcdTLS, **overrides: str | None) -> aetcd.TLSConfig:
    files: dict[str, str | None] = {
        "ca_file": certs.ca_file,
        "cert_file": certs.client_cert_file,
        "key_file": certs.client_key_file,
    }
    files.update(overrides)
    return aetcd.TLSConfig(**files)


async def connect_error(endpoint: str, tls: ssl.SSLContext | aetcd.TLSConfig | None) -> str:
    """The message of the `ConnectError` a put raises; checks it came fast."""
    start = time.monotonic()
    async with aetcd.Client(endpoint, tls=tls, timeout=10) as client:
        with pytest.raises(aetcd.ConnectError) as info:
            await client.put("k", "v")
    assert time.monotonic() - start < FAST
    message = str(info.value)
    assert f"TLS handshake with {endpoint} failed" in message
    return message


async def test_client_certificate(tls_server: EtcdServer, certs: EtcdTLS) -> None:
    assert tls_server.endpoint.startswith("https://")
    async with aetcd.Client(tls_server.endpoint, tls=client_tls(certs)) as client:
        await client.put("/tls/k", "v")
        assert (await client.get("/tls/k")).kvs[0].value == b"v"
        assert client.endpoints == (tls_server.endpoint,)
        # A bare host:port means TLS when the client has a TLS config, as in etcdctl.
        bare = tls_server.endpoint.removeprefix("https://")
        assert (await client.status(bare)).member_id == (await client.status()).member_id


async def test_plain_ssl_context(tls_server: EtcdServer, certs: EtcdTLS) -> None:
    context = ssl.create_default_context(cafile=certs.ca_file)
    assert certs.client_cert_file is not None
    context.load_cert_chain(certs.client_cert_file, certs.client_key_file)
    # No ALPN set here: the client asks for h2 itself, which gRPC needs.
    async with aetcd.Client(tls_server.endpoint, tls=context) as client:
        await client.put("/tls/ctx", "v")
        assert (await client.get("/tls/ctx")).kvs[0].value == b"v"


async def test_missing_client_certificate_is_a_clear_error(
    tls_server: EtcdServer, certs: EtcdTLS
) -> None:
    tls = client_tls(certs, cert_file=None, key_file=None)
    message = await connect_error(tls_server.endpoint, tls)
    assert "client certificate" in message


async def test_wrong_ca_is_a_clear_error(
    tls_server: EtcdServer, certs: EtcdTLS, tmp_path: Path
) -> None:
    other = make_test_tls(tmp_path)
    message = await connect_error(tls_server.endpoint, client_tls(certs, ca_file=other.ca_file))
    assert "certificate was rejected" in message
    assert "unable to get local issuer certificate" in message


async def test_system_cas_do_not_trust_a_private_ca(tls_server: EtcdServer) -> None:
    message = await connect_error(tls_server.endpoint, None)  # https:// with no TLS config
    assert "certificate was rejected" in message


async def test_pinned_call_reports_the_tls_problem(tls_server: EtcdServer, certs: EtcdTLS) -> None:
    tls = client_tls(certs, cert_file=None, key_file=None)
    async with aetcd.Client(tls_server.endpoint, tls=tls, timeout=10) as client:
        with pytest.raises(aetcd.ConnectError, match="TLS handshake"):
            await client.status(tls_server.endpoint)
        with pytest.raises(aetcd.ConnectError, match="TLS handshake"):
            await client.snapshot().__anext__()


async def test_server_name_override(certs: EtcdTLS) -> None:
    # A server whose certificate names neither 127.0.0.1 nor localhost, as when
    # members are reached through addresses their certificates do not list.
    directory = Path(certs.ca_file).parent
    _issue(
        directory,
        "internal",
        "/CN=etcd.internal",
        "subjectAltName=DNS:etcd.internal\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n",
    )
    internal = EtcdTLS(
        ca_file=certs.ca_file,
        cert_file=str(directory / "internal.crt"),
        key_file=str(directory / "internal.key"),
    )
    with EtcdServer(name="tls-name", tls=internal) as server:
        message = await connect_error(server.endpoint, aetcd.TLSConfig(ca_file=certs.ca_file))
        assert "mismatch" in message  # IP address mismatch
        message = await connect_error(
            server.endpoint, aetcd.TLSConfig(ca_file=certs.ca_file, server_name="other.internal")
        )
        assert "Hostname mismatch" in message
        tls = aetcd.TLSConfig(ca_file=certs.ca_file, server_name="etcd.internal")
        async with aetcd.Client(server.endpoint, tls=tls) as client:
            await client.put("k", "v")
            assert (await client.get("k")).kvs[0].value == b"v"


async def test_certificate_common_name_is_the_user(certs: EtcdTLS) -> None:
    # With --client-cert-auth and auth enabled, etcd takes the client certificate's
    # common name ("aetcd-client") as the user: a user without a password.
    with EtcdServer(name="tls-auth", tls=certs) as server:
        async with aetcd.Client(server.endpoint, tls=client_tls(certs)) as setup:
            await setup.user_add("root", "rootpw")
            await setup.user_grant_role("root", "root")
            await setup.role_add("tls-reader")
            await setup.role_grant_permission("tls-reader", "/tls/", prefix=True)
            await setup.user_add("aetcd-client", no_password=True)
            await setup.user_grant_role("aetcd-client", "tls-reader")
            await setup.put("/tls/k", "v")
            await setup.auth_enable()
        async with aetcd.Client(server.endpoint, tls=client_tls(certs)) as by_certificate:
            assert (await by_certificate.get("/tls/k")).kvs[0].value == b"v"
            with pytest.raises(aetcd.PermissionDeniedError):
                await by_certificate.put("/tls/k", "w")
        async with aetcd.Client(
            server.endpoint, tls=client_tls(certs), username="root", password="rootpw"
        ) as root:
            await root.put("/tls/k", "w")
            # A password login for the certificate-only user is refused.
            with pytest.raises(aetcd.AuthenticationFailedError):
                async with aetcd.Client(
                    server.endpoint, tls=client_tls(certs), username="aetcd-client", password="x"
                ) as impostor:
                    await impostor.get("/tls/k")
            await root.auth_disable()


@pytest.fixture
def unix_member() -> Iterator[tuple[EtcdMember, str]]:
    """A member that also listens on a unix socket; yields it with the socket path.

    etcd wants `unix://host:port` and creates the socket file of that name in its
    working directory, so the member is started from a temporary directory.
    """
    directory = tempfile.mkdtemp(prefix="aetcd-unix-")
    client_port, peer_port = free_ports(2)
    socket_name = f"localhost:{client_port}"
    member = EtcdMember(
        "unix",
        client_port=client_port,
        peer_port=peer_port,
        initial_cluster=f"unix=http://127.0.0.1:{peer_port}",
        extra_args=[f"--listen-client-urls=http://127.0.0.1:{client_port},unix://{socket_name}"],
    )
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        member.start(wait=False)
    finally:
        os.chdir(cwd)
    try:
        member.wait_ready()
        yield member, os.path.join(directory, socket_name)
    finally:
        member.close()
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)


async def test_unix_socket(unix_member: tuple[EtcdMember, str]) -> None:
    member, path = unix_member
    async with aetcd.Client(f"unix://{path}") as client:
        await client.put("k", "over a unix socket")
        assert client.endpoints == (f"unix://{path}",)
    # The same data over TCP: one member.
    async with aetcd.Client(member.endpoint) as tcp:
        assert (await tcp.get("k")).kvs[0].value == b"over a unix socket"
