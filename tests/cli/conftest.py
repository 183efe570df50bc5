"""Fixtures running `aetcdctl` (in this process or as `python -m aetcd`) and the real
etcdctl against the session's `etcd_server` (see `cli_helpers`)."""

from __future__ import annotations

import pytest
from cli_helpers import (
    Result,
    Runner,
    aetcdctl_command,
    run_in_process,
    run_process,
    with_endpoints,
)

from aetcd.testing import EtcdServer, find_etcdctl_binary


@pytest.fixture
def aetcdctl(etcd_server: EtcdServer) -> Runner:
    """`aetcdctl` run in this process against `etcd_server`."""

    def run(*args: str | int, input: bytes = b"") -> Result:
        return run_in_process(with_endpoints(etcd_server.endpoint, args), input)

    return run


@pytest.fixture
def aetcdctl_proc(etcd_server: EtcdServer) -> Runner:
    """`python -m aetcd` in a subprocess against `etcd_server`."""

    def run(*args: str | int, input: bytes = b"") -> Result:
        return run_process(aetcdctl_command(*with_endpoints(etcd_server.endpoint, args)), input)

    return run


@pytest.fixture
def etcdctl_cli(etcd_server: EtcdServer) -> Runner:
    """The real etcdctl against `etcd_server`."""
    binary = find_etcdctl_binary()

    def run(*args: str | int, input: bytes = b"") -> Result:
        return run_process([binary, *with_endpoints(etcd_server.endpoint, args)], input)

    return run
