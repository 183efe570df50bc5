"""Per-call timeouts: a call that cannot finish in time raises `DeadlineExceededError`.

Port of "context" (chapter3/06_timeout) of the etcd programming book. Go passes
`context.WithTimeout(ctx, 1*time.Second)`; aetcd takes `timeout=` (seconds) on every
call, overriding the client's default (`Client(timeout=5.0)`). The deadline is also sent
to the server, so etcd stops working on a request nobody waits for any more.

The book slows the network with `tc qdisc ... netem delay 3s` (root, Linux only). This
port puts a `TcpProxy` from `aetcd.testing` between the client and etcd and makes it
hold back all traffic: no root needed, and the call times out every time.
"""

from __future__ import annotations

import asyncio
import os

import aetcd
from aetcd.testing import TcpProxy, free_ports

KEY = "/chapter3/timeout"


async def main(endpoints: str) -> None:
    first_endpoint = endpoints.split(",")[0]
    with TcpProxy(first_endpoint) as proxy:
        async with aetcd.Client(proxy.url) as client:
            await client.put(KEY, "value")
            resp = await client.get(KEY, timeout=1.0)
            print(f"healthy network: {resp.kvs[0].value.decode()}")

            proxy.blackhole()  # from now on, nothing gets through
            try:
                await client.get(KEY, timeout=0.5)
            except aetcd.DeadlineExceededError:
                # Also a TimeoutError, so `except TimeoutError` works too.
                print("slow network: deadline exceeded after 0.5 s")

            proxy.restore()  # the network is back: the client recovers by itself
            resp = await client.get(KEY, timeout=5.0)
            print(f"network restored: {resp.kvs[0].value.decode()}")
            await client.delete(KEY)

    # With no etcd listening at all, nothing can even be sent: ConnectError (an
    # UnavailableError) once the deadline has passed without any endpoint answering.
    (port,) = free_ports(1)
    async with aetcd.Client(f"http://127.0.0.1:{port}", timeout=0.5) as client:
        try:
            await client.get(KEY)
        except aetcd.ConnectError:
            print("no etcd listening: ConnectError")


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
