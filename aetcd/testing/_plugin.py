"""pytest plugin (entry point `aetcd`): fixtures that run real etcd servers.

All fixtures are synchronous so they work with any event loop, including
pytest-asyncio's fresh loop per test. When no etcd binary is found they fail with
the discovery message rather than skip: a test run that silently skips every
integration test looks green and proves nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import pytest

from ._cluster import EtcdCluster, EtcdServer
from ._member import EtcdMember
from ._proxy import TcpProxy

__all__ = ["etcd_cluster", "etcd_proxy_factory", "etcd_server", "key_prefix"]

ProxyFactory = Callable[[EtcdMember | str | tuple[str, int]], TcpProxy]


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    """One etcd member shared by the whole session; isolate tests with `key_prefix`.

    Do not kill, pause or reconfigure it: use `etcd_cluster` (or your own
    `EtcdServer`) for that.
    """
    with EtcdServer() as server:
        yield server


@pytest.fixture
def etcd_cluster() -> Iterator[EtcdCluster]:
    """A fresh 3-member cluster for one test (tests may kill and pause members)."""
    with EtcdCluster(3) as cluster:
        yield cluster


@pytest.fixture
def etcd_proxy_factory() -> Iterator[ProxyFactory]:
    """Returns `make(target) -> TcpProxy`; every proxy made is closed after the test."""
    proxies: list[TcpProxy] = []

    def make(target: EtcdMember | str | tuple[str, int]) -> TcpProxy:
        proxy = TcpProxy(target)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


@pytest.fixture
def key_prefix(request: pytest.FixtureRequest, etcd_server: EtcdServer) -> Iterator[bytes]:
    """A unique `bytes` key prefix for this test; its keys are deleted from
    `etcd_server` afterwards (`etcdctl del --prefix`)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:60]
    prefix = f"/aetcd-test/{name}/{uuid.uuid4().hex[:8]}/"
    yield prefix.encode()
    etcd_server.etcdctl("del", "--prefix", prefix)
