"""Cluster: list the members and the status of each endpoint.

What `etcdctl member list -w table` and `etcdctl endpoint status -w table` show, plus
the endpoint health check and the KV hash of each member (`etcdctl endpoint hashkv`).
Read-only: safe against any cluster. Set ETCD_ENDPOINTS (default
http://127.0.0.1:2379).
"""

from __future__ import annotations

import asyncio
import os

import aetcd


def table(titles: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(t), *(len(r[i]) for r in rows)) for i, t in enumerate(titles)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    line = "| " + " | ".join(t.ljust(w) for t, w in zip(titles, widths, strict=True)) + " |"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([rule, line, rule, *body, rule])


def size(n: int) -> str:
    return f"{n / 1024:.0f} kB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


async def main(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as client:
        members = await client.member_list()
        print(f"cluster {members.header.cluster_id:x}: {len(members)} member(s)")
        print(
            table(
                ["ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"],
                [
                    [
                        f"{m.id:x}",
                        "started" if m.started else "unstarted",
                        m.name,
                        ",".join(m.peer_urls),
                        ",".join(m.client_urls),
                        str(m.is_learner).lower(),
                    ]
                    for m in members
                ],
            )
        )

        # Each member's own view: pin the status call to its client URL.
        rows = []
        for m in members:
            if not m.client_urls:
                continue  # unstarted: nothing to ask yet
            endpoint = m.client_urls[0]
            try:
                status = await client.status(endpoint, timeout=3)
            except aetcd.EtcdError as exc:
                rows.append([endpoint, f"{m.id:x}", f"unreachable: {exc}", "", "", "", ""])
                continue
            rows.append(
                [
                    endpoint,
                    f"{status.member_id:x}",
                    status.version,
                    size(status.db_size),
                    str(status.is_leader).lower(),
                    str(status.raft_term),
                    ", ".join(status.errors),
                ]
            )
        print(
            table(
                ["ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "RAFT TERM", "ERRORS"],
                rows,
            )
        )

        # The health check the client can run in the background (health_check_interval):
        # is the endpoint up, and does it follow a leader?
        for health in await client.check_health(timeout=3):
            verdict = "healthy" if health.healthy else f"unhealthy: {health.error}"
            print(f"{health.endpoint} is {verdict} (took {health.took * 1000:.1f} ms)")

        # Consistent members report the same hash of their history at one revision.
        revision = (await client.get("health-check-any-key")).header.revision
        for endpoint in client.endpoints:
            hashed = await client.hash_kv(endpoint, revision)
            print(f"{endpoint}: hash {hashed.hash} at revision {revision}")


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
