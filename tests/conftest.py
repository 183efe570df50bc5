"""Fixtures shared by the whole test suite.

The etcd processes come from `aetcd.testing` (the pytest plugin registered by the
package): `etcd_server` is one member shared by the session and `key_prefix` is a
unique prefix whose keys are deleted after the test. On top of those:

* `client`: an entered `aetcd.Client` on `etcd_server`;
* `prefix`: the test's unique key prefix as `str` (keys are returned as `bytes`);
* `etcdctl`: the real `etcdctl` against `etcd_server`, with its JSON output decoded
  into aetcd's own result types, so tests compare like with like;
* `etcd_version`: the `(major, minor, patch)` of the etcd server under test.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

import aetcd
from aetcd.testing import EtcdServer
from aetcd.testing import etcd_version as _etcd_version


@pytest.fixture
async def client(etcd_server: EtcdServer) -> AsyncIterator[aetcd.Client]:
    """An entered client on `etcd_server`, closed after the test.

    Written the way users write it: pytest-asyncio runs this setup and teardown in two
    different tasks, which the client supports (its task group lives in its own task).
    """
    async with aetcd.Client(etcd_server.endpoint) as c:
        yield c


@pytest.fixture
def prefix(key_prefix: bytes) -> str:
    """A unique key prefix for this test (`str`, ends with `/`); its keys are deleted
    afterwards."""
    return key_prefix.decode()


@pytest.fixture(scope="session")
def etcd_version(etcd_server: EtcdServer) -> tuple[int, int, int]:
    """The version of the etcd server under test (3.5.1 by default, 3.4.x with
    `ETCD_BINARY=/usr/bin/etcd`)."""
    return _etcd_version()


def _arg(value: str | bytes | int) -> str:
    # etcdctl takes keys as raw argv bytes: non-UTF-8 keys travel as surrogate escapes,
    # which subprocess turns back into the original bytes.
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return str(value)


def _b64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def header_from_json(data: dict[str, Any]) -> aetcd.ResponseHeader:
    """etcdctl omits zero fields (3.4 and 3.5 alike): absent means 0."""
    return aetcd.ResponseHeader(
        cluster_id=int(data.get("cluster_id", 0)),
        member_id=int(data.get("member_id", 0)),
        revision=int(data.get("revision", 0)),
        raft_term=int(data.get("raft_term", 0)),
    )


def kv_from_json(data: dict[str, Any]) -> aetcd.KeyValue:
    """One key-value of etcdctl's JSON: base64 key and value, zero fields omitted."""
    return aetcd.KeyValue(
        key=_b64(data.get("key")),
        value=_b64(data.get("value")),
        create_revision=int(data.get("create_revision", 0)),
        mod_revision=int(data.get("mod_revision", 0)),
        version=int(data.get("version", 0)),
        lease=int(data.get("lease", 0)),
    )


@dataclass(frozen=True)
class Listing:
    """A range as etcdctl saw it, in aetcd's terms."""

    header: aetcd.ResponseHeader
    kvs: tuple[aetcd.KeyValue, ...]
    count: int
    more: bool

    @property
    def revision(self) -> int:
        return self.header.revision

    @property
    def keys(self) -> list[bytes]:
        return [kv.key for kv in self.kvs]

    def by_key(self) -> dict[bytes, aetcd.KeyValue]:
        return {kv.key: kv for kv in self.kvs}


def listing_from_json(data: dict[str, Any]) -> Listing:
    return Listing(
        header=header_from_json(data.get("header", {})),
        kvs=tuple(kv_from_json(kv) for kv in data.get("kvs") or ()),
        count=int(data.get("count", 0)),
        more=bool(data.get("more", False)),
    )


class Etcdctl:
    """The real `etcdctl` (same installation as the server) with decoded answers."""

    def __init__(self, server: EtcdServer) -> None:
        self.server = server

    def __call__(self, *args: str | bytes | int, input: str | None = None) -> Any:
        """Run `etcdctl -w json *args` and return the parsed JSON."""
        return self.server.etcdctl(*map(_arg, args), input=input)

    def text(self, *args: str | bytes | int) -> str:
        """Run `etcdctl *args` with its default (simple) output."""
        return str(self.server.etcdctl(*map(_arg, args), json_output=False))

    @staticmethod
    def kvs(data: dict[str, Any]) -> tuple[aetcd.KeyValue, ...]:
        """The key-values of one range answer of etcdctl's JSON (e.g. inside a txn)."""
        return tuple(kv_from_json(kv) for kv in data.get("kvs") or ())

    def get(self, key: str | bytes, *flags: str | bytes | int) -> Listing:
        """`etcdctl get KEY FLAGS...`, decoded."""
        return listing_from_json(self("get", key, *flags))

    def get_prefix(self, prefix: str | bytes, revision: int | None = None) -> Listing:
        """Every key under `prefix` with all its fields (optionally at `revision`)."""
        flags: list[str] = ["--prefix"]
        if revision is not None:
            flags.append(f"--rev={revision}")
        return self.get(prefix, *flags)

    def put(self, key: str | bytes, value: str | bytes, *flags: str) -> aetcd.ResponseHeader:
        return header_from_json(self("put", key, value, *flags)["header"])

    def lease_grant(self, ttl: int) -> int:
        return int(self("lease", "grant", ttl)["ID"])

    def lease_revoke(self, lease_id: int) -> None:
        self.text("lease", "revoke", f"{lease_id:x}")

    def txn(self, compares: list[str], success: list[str], failure: list[str]) -> dict[str, Any]:
        """Non-interactive `etcdctl txn`: compares, success ops and failure ops, one per
        line, each block ended by an empty line."""
        blocks = (compares, success, failure)
        script = "".join("".join(f"{line}\n" for line in block) + "\n" for block in blocks)
        data: dict[str, Any] = self("txn", input=script)
        return data


@pytest.fixture
def etcdctl(etcd_server: EtcdServer) -> Etcdctl:
    """The real etcdctl against `etcd_server`, with JSON answers decoded."""
    return Etcdctl(etcd_server)
