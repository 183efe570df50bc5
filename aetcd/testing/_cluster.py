"""Test clusters: N etcd members on loopback ports, started and torn down together."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from ._errors import EtcdctlError, EtcdStartupError, EtcdTestingError
from ._member import EtcdConfig, EtcdMember, EtcdTLS, free_ports

__all__ = ["EtcdCluster", "EtcdServer"]

# A port picked as free may be taken by someone else before etcd binds it.
_PORT_ATTEMPTS = 3


class EtcdCluster:
    """A cluster of `size` real etcd members on free loopback ports.

    `start()`/`stop()` or `with EtcdCluster(3) as cluster: ...`. The API is
    synchronous (it spawns processes and polls `/health`), so it works from sync
    fixtures and, blocking briefly, inside async tests under any event loop.
    `extra_args` are added to every member's command line.
    """

    def __init__(
        self,
        size: int = 1,
        config: EtcdConfig | None = None,
        *,
        extra_args: Sequence[str] = (),
        tls: EtcdTLS | None = None,
        name_prefix: str = "etcd",
    ) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one member")
        config = config or EtcdConfig()
        self._config = dataclasses.replace(
            config,
            extra_args=(*config.extra_args, *extra_args),
            tls=tls or config.tls,
        )
        self._size = size
        self._name_prefix = name_prefix
        # Unique per cluster so a stray process from another cluster that got our
        # recycled port number can never join us.
        self._token = f"aetcd-{uuid.uuid4().hex[:12]}"
        self._members: list[EtcdMember] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoints}>"

    def __enter__(self) -> EtcdCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- views --------------------------------------------------------------------

    @property
    def config(self) -> EtcdConfig:
        """The configuration shared by the members."""
        return self._config

    @property
    def members(self) -> list[EtcdMember]:
        """All members, including stopped ones and those added later (a copy)."""
        return list(self._members)

    @property
    def running_members(self) -> list[EtcdMember]:
        """Members whose process is running (paused ones included)."""
        return [m for m in self._members if m.is_running]

    @property
    def endpoints(self) -> list[str]:
        """The client URLs of all members, e.g. `["http://127.0.0.1:41234", ...]`."""
        return [m.client_url for m in self._members]

    def member_by_name(self, name: str) -> EtcdMember:
        """The member called `name`."""
        for m in self._members:
            if m.name == name:
                return m
        raise KeyError(name)

    def member_by_id(self, member_id: int) -> EtcdMember:
        """The member with raft id `member_id` (asks the cluster via etcdctl)."""
        for info in self.etcdctl("member", "list")["members"]:
            if int(info["ID"]) == member_id:
                peer_urls = set(info.get("peerURLs", ()))
                for m in self._members:
                    if m.peer_url in peer_urls:
                        return m
        raise KeyError(f"{member_id:x}")

    def leader(self, timeout: float = 10.0) -> EtcdMember:
        """The current leader, waiting up to `timeout` seconds for one to be elected.

        Only a running, unpaused member counts: right after the leader is killed the
        survivors still name it for an election timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            alive = {m.peer_url: m for m in self.running_members if not m.is_paused}
            for m in alive.values():
                try:
                    status = m.etcdctl("endpoint", "status", timeout=5)
                    leader_id = int(status[0]["Status"]["leader"])
                    leader = self.member_by_id(leader_id) if leader_id else None
                except (EtcdTestingError, KeyError):
                    continue
                if leader is not None and leader.peer_url in alive:
                    return leader
            if time.monotonic() >= deadline:
                raise EtcdTestingError("the cluster has no leader")
            time.sleep(0.1)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start every member and wait until all report healthy.

        Retries with fresh ports when one was taken between picking and binding;
        other startup failures raise `EtcdStartupError` with the member's log tail.
        """
        if self._members:
            raise EtcdTestingError("the cluster is already started")
        for attempt in range(_PORT_ATTEMPTS):
            ports = free_ports(2 * self._size)
            names = [f"{self._name_prefix}{i}" for i in range(self._size)]
            initial_cluster = ",".join(
                f"{name}=http://127.0.0.1:{ports[2 * i + 1]}" for i, name in enumerate(names)
            )
            members: list[EtcdMember] = []
            try:
                for i, name in enumerate(names):
                    members.append(
                        EtcdMember(
                            name,
                            client_port=ports[2 * i],
                            peer_port=ports[2 * i + 1],
                            initial_cluster=initial_cluster,
                            cluster_token=self._token,
                            config=self._config,
                        )
                    )
                for m in members:
                    m.start(wait=False)
                _wait_all(members, self._config.start_timeout)
            except EtcdStartupError as exc:
                for m in members:
                    m.close()
                if exc.port_conflict and attempt + 1 < _PORT_ATTEMPTS:
                    continue
                raise
            except BaseException:
                for m in members:
                    m.close()
                raise
            self._members = members
            return

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every running member reports healthy (e.g. after restarts)."""
        _wait_all(self.running_members, self._config.start_timeout if timeout is None else timeout)

    def stop(self) -> None:
        """Kill every member and delete all data dirs and logs."""
        members, self._members = self._members, []
        for m in members:
            m.close()

    # -- membership changes ---------------------------------------------------------

    def spawn_member(
        self,
        name: str | None = None,
        *,
        initial_cluster: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> EtcdMember:
        """Create (but do not start) a member that will join this running cluster.

        It starts with `--initial-cluster-state existing`. Announce it first (a
        `MemberAdd` with `member.peer_url`, learner or not), then call `start()`.
        `initial_cluster` defaults to the cluster's membership as reported when the
        member starts. The member belongs to the cluster: `stop()` cleans it up.
        """
        taken = {m.name for m in self._members}
        if name is None:
            index = len(self._members)
            while f"{self._name_prefix}{index}" in taken:
                index += 1
            name = f"{self._name_prefix}{index}"
        elif name in taken:
            raise ValueError(f"a member called {name!r} exists already")
        client_port, peer_port = free_ports(2)
        member = EtcdMember(
            name,
            client_port=client_port,
            peer_port=peer_port,
            initial_cluster=initial_cluster or (lambda: self._initial_cluster_for(member)),
            initial_cluster_state="existing",
            cluster_token=self._token,
            config=self._config,
            extra_args=extra_args,
        )
        self._members.append(member)
        return member

    def add_member(
        self,
        name: str | None = None,
        *,
        learner: bool = False,
        extra_args: Sequence[str] = (),
        wait: bool = True,
    ) -> EtcdMember:
        """`spawn_member()`, announce it with `etcdctl member add`, and start it.

        etcd refuses membership changes until every voting member has been connected
        for 5 s (`--strict-reconfig-check`), so right after a (re)start this retries
        for up to `config.start_timeout`.
        """
        member = self.spawn_member(name, extra_args=extra_args)
        args = ["member", "add", member.name, f"--peer-urls={member.peer_url}"]
        if learner:
            args.append("--learner")
        deadline = time.monotonic() + self._config.start_timeout
        while True:
            try:
                self.etcdctl(*args)
                break
            except EtcdctlError as exc:
                if "unhealthy cluster" not in exc.stderr or time.monotonic() >= deadline:
                    self._members.remove(member)
                    member.close()
                    raise
            time.sleep(0.2)
        member.start(wait=wait)
        return member

    def remove_member(self, member: EtcdMember) -> None:
        """Remove `member` from the cluster (`etcdctl member remove`) and close it."""
        member_id = member.member_id
        others = [m.client_url for m in self.running_members if m is not member]
        self.etcdctl("member", "remove", f"{member_id:x}", endpoints=others or None)
        member.close()
        self._members.remove(member)

    # -- etcdctl --------------------------------------------------------------------

    def etcdctl(
        self,
        *args: str,
        json_output: bool = True,
        endpoints: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
        input: str | bytes | None = None,
        timeout: float = 60.0,
    ) -> Any:
        """Run `etcdctl` (API v3) against the running, unpaused members (or `endpoints`).

        Returns parsed JSON (`json_output=True`, the default) or stdout text; raises
        `EtcdctlError` with stderr on a non-zero exit.
        """
        if not self._members:
            raise EtcdTestingError("the cluster is not started")
        if endpoints is None:
            # A paused member would swallow whichever request is balanced onto it.
            endpoints = [
                m.client_url for m in self.running_members if not m.is_paused
            ] or self.endpoints
        return self._members[0].etcdctl(
            *args,
            json_output=json_output,
            endpoints=endpoints,
            env=env,
            input=input,
            timeout=timeout,
        )

    def _initial_cluster_for(self, new: EtcdMember) -> str:
        # Members announced but never started have no name in `member list`; ours
        # are recognised by peer URL. etcd insists that this list equals the
        # membership exactly, hence asking the cluster rather than trusting our list.
        others = [m.client_url for m in self.running_members if m is not new and not m.is_paused]
        by_peer = {m.peer_url: m.name for m in self._members}
        entries = []
        for info in self.etcdctl("member", "list", endpoints=others)["members"]:
            for url in info.get("peerURLs", ()):
                entries.append(f"{by_peer.get(url) or info.get('name') or ''}={url}")
        if not any(entry.endswith(f"={new.peer_url}") for entry in entries):
            entries.append(f"{new.name}={new.peer_url}")
        return ",".join(entries)


class EtcdServer(EtcdCluster):
    """A single-member `EtcdCluster` with shortcuts to its member."""

    def __init__(
        self,
        config: EtcdConfig | None = None,
        *,
        extra_args: Sequence[str] = (),
        tls: EtcdTLS | None = None,
        name: str = "etcd",
    ) -> None:
        super().__init__(1, config, extra_args=extra_args, tls=tls, name_prefix=name)

    def __enter__(self) -> EtcdServer:
        self.start()
        return self

    @property
    def member(self) -> EtcdMember:
        """The one member (the first one if members were added)."""
        if not self._members:
            raise EtcdTestingError("the server is not started")
        return self._members[0]

    @property
    def client_url(self) -> str:
        """The member's client URL."""
        return self.member.client_url

    @property
    def endpoint(self) -> str:
        """Same as `client_url`."""
        return self.member.client_url


def _wait_all(members: Sequence[EtcdMember], timeout: float) -> None:
    # Round-robin rather than one member at a time, so a member that dies early is
    # reported at once instead of after the others' deadline.
    deadline = time.monotonic() + timeout
    pending = list(members)
    while pending:
        for m in list(pending):
            if time.monotonic() >= deadline:
                m.wait_ready(0)  # raises with the log tail unless it just got healthy
                pending.remove(m)
                continue
            m.check_alive()
            if m.is_healthy():
                pending.remove(m)
        if pending:
            time.sleep(0.05)
