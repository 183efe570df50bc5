"""Distributed coordination recipes (Go's `clientv3/concurrency`), wire-compatible with
Go programs and `etcdctl lock` / `etcdctl elect` on the same names.

The entry points are methods of `aetcd.Client` (and of namespace views):

    async with client.session(ttl=60) as session: ...          # Session
    async with client.lock("name", ttl=60, timeout=None): ...   # Lock
    election = client.election("name", ttl=60)                 # Election
    await client.stm(fn, isolation=aetcd.Isolation.SERIALIZABLE_SNAPSHOT)

`LockService` and `ElectionService` are thin calls to etcd's server-side `v3lock` and
`v3election` services.
"""

from .._exceptions import ElectionNotLeaderError
from ._election import Election, ElectionObserver
from ._lock import Lock
from ._server import (
    CampaignResponse,
    ElectionService,
    LeaderKey,
    LockResponse,
    LockService,
    ServerObserver,
)
from ._session import Session
from ._stm import STM, Isolation

__all__ = [
    "STM",
    "CampaignResponse",
    "Election",
    "ElectionNotLeaderError",
    "ElectionObserver",
    "ElectionService",
    "Isolation",
    "LeaderKey",
    "Lock",
    "LockResponse",
    "LockService",
    "ServerObserver",
    "Session",
]

# Public names report this package, not the private module they live in (the top-level
# package renames those it re-exports to `aetcd`).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("aetcd.concurrency._"):
        _obj.__module__ = __name__
del _name, _obj
