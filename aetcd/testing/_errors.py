"""Exceptions raised by `aetcd.testing`."""

from __future__ import annotations

__all__ = [
    "EtcdBinaryNotFoundError",
    "EtcdStartupError",
    "EtcdTestingError",
    "EtcdctlError",
]


class EtcdTestingError(Exception):
    """Base class of the errors raised by `aetcd.testing`."""


class EtcdBinaryNotFoundError(EtcdTestingError, FileNotFoundError):
    """No usable etcd/etcdctl/etcdutl executable was found."""


class EtcdStartupError(EtcdTestingError):
    """An etcd process exited or did not become healthy in time.

    The message ends with the tail of the member's log. `port_conflict` is true when
    etcd could not bind one of its ports (another process took it after we picked it).
    """

    def __init__(self, message: str, *, port_conflict: bool = False) -> None:
        super().__init__(message)
        self.port_conflict = port_conflict


class EtcdctlError(EtcdTestingError):
    """`etcdctl` exited with a non-zero status; `stderr` holds what it printed."""

    def __init__(self, args: list[str], returncode: int, stdout: str, stderr: str) -> None:
        super().__init__(
            f"etcdctl exited with status {returncode}: {' '.join(args)}\n{stderr.strip()}"
        )
        self.cmd = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
