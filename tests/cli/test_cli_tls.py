"""--cacert/--cert/--key and --insecure-skip-tls-verify against a TLS server that
demands client certificates."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import run_in_process

from aetcd.testing import EtcdServer, make_test_tls


def test_tls_flags(tmp_path: Path) -> None:
    tls = make_test_tls(tmp_path, client_cert_auth=True)
    assert tls.client_cert_file is not None
    assert tls.client_key_file is not None
    with EtcdServer(tls=tls) as server:
        host_port = server.endpoint.split("://", 1)[1]
        client = [f"--cert={tls.client_cert_file}", f"--key={tls.client_key_file}"]
        # A bare host:port uses TLS as soon as a TLS flag is given, as in etcdctl.
        ok = run_in_process(
            [f"--endpoints={host_port}", f"--cacert={tls.ca_file}", *client, "put", "k", "v"]
        )
        assert (ok.code, ok.out) == (0, b"OK\n")
        skip = run_in_process(
            [f"--endpoints={host_port}", "--insecure-skip-tls-verify", *client, "get", "k"]
        )
        assert (skip.code, skip.out) == (0, b"k\nv\n")
        # Without a client certificate the server refuses: one line, exit 1.
        refused = run_in_process(
            [
                f"--endpoints={host_port}",
                f"--cacert={tls.ca_file}",
                "--dial-timeout=1s",
                "--command-timeout=2s",
                "get",
                "k",
            ]
        )
        assert refused.code == 1
        assert refused.err.startswith("Error: ")
        assert refused.err.count("\n") == 1
        half = run_in_process(
            [f"--endpoints={host_port}", f"--cert={tls.client_cert_file}", "get", "k"]
        )
        assert (half.code, half.err) == (128, "Error: --cert and --key must be given together\n")
