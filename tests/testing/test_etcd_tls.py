"""TLS on the client port: https URLs, readiness probe and etcdctl with certificates."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest

from aetcd.testing import EtcdServer, find_etcdctl_binary, make_test_tls

if shutil.which("openssl") is None:  # pragma: no cover - Debian images ship it
    pytest.skip("the openssl command line tool is not installed", allow_module_level=True)


@pytest.mark.parametrize("client_cert_auth", [False, True])
def test_tls_server(tmp_path: Path, client_cert_auth: bool) -> None:
    tls = make_test_tls(tmp_path, client_cert_auth=client_cert_auth)
    with EtcdServer(tls=tls) as server:
        assert server.client_url.startswith("https://127.0.0.1:")
        server.etcdctl("put", "k", "v")
        assert server.etcdctl("get", "k")["count"] == 1

        # A client that verifies the server against our CA, by IP address.
        context = ssl.create_default_context(cafile=tls.ca_file)
        if client_cert_auth:
            assert tls.client_cert_file
            assert tls.client_key_file
            context.load_cert_chain(tls.client_cert_file, tls.client_key_file)
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
        with opener.open(f"{server.client_url}/health", timeout=5) as response:
            assert b'"health":"true"' in response.read()

        if client_cert_auth:
            # Without a client certificate the server refuses us.
            anonymous = subprocess.run(
                [
                    find_etcdctl_binary(),
                    f"--endpoints={server.client_url}",
                    f"--cacert={tls.ca_file}",
                    "--command-timeout=2s",
                    "get",
                    "k",
                ],
                env={"ETCDCTL_API": "3", "PATH": os.environ.get("PATH", "")},
                capture_output=True,
                timeout=30,
                check=False,
            )
            assert anonymous.returncode != 0
