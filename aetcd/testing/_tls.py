"""Throwaway certificates for TLS tests, made with the `openssl` command line tool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ._errors import EtcdTestingError
from ._member import EtcdTLS

__all__ = ["make_test_tls"]

# P-256 keys: generated in milliseconds (RSA takes far longer) and accepted by Go.
_KEY_ARGS = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise EtcdTestingError("make_test_tls() needs the `openssl` command line tool")
    proc = subprocess.run(
        [openssl, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        raise EtcdTestingError(f"openssl {' '.join(args)} failed:\n{proc.stderr}")


def _issue(directory: Path, name: str, subject: str, extensions: str) -> None:
    _openssl(
        "req", *_KEY_ARGS, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
        cwd=directory,
    )  # fmt: skip
    (directory / f"{name}.ext").write_text(extensions)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext",
        cwd=directory,
    )  # fmt: skip


def make_test_tls(
    directory: str | Path,
    *,
    client_cert_auth: bool = False,
    client_common_name: str = "aetcd-client",
) -> EtcdTLS:
    """Create a CA, a server certificate for `127.0.0.1`/`localhost` and a client
    certificate (CN `client_common_name`, which etcd takes as the user name when
    auth is on) in `directory`; return the matching `EtcdTLS`.

    Needs the `openssl` command line tool.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", *_KEY_ARGS, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=aetcd-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=path,
    )  # fmt: skip
    _issue(
        path,
        "server",
        "/CN=localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n",
    )
    _issue(
        path,
        "client",
        f"/CN={client_common_name}",
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    return EtcdTLS(
        ca_file=str(path / "ca.crt"),
        cert_file=str(path / "server.crt"),
        key_file=str(path / "server.key"),
        client_cert_auth=client_cert_auth,
        client_cert_file=str(path / "client.crt"),
        client_key_file=str(path / "client.key"),
    )
