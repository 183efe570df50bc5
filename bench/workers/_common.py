"""The measuring harness shared by every bench worker (standard library only).

A worker is one long-lived process per client, running in that client's own venv.
It reads one JSON command per line on stdin and answers with JSON lines on the
protocol stream (the process's original stdout; `sys.stdout` is pointed at stderr so a
stray print() of a client library cannot corrupt the protocol):

    -> {"op": "case", "case": "put", "conc": 64, "n": 20000, "endpoint": ..., ...}
    <- {"ready": true}                          (watch-live and watch-fanout only)
    <- {"result": {...}}  |  {"na": "reason"}  |  {"error": "message"}
    -> {"op": "exit"}

Each case runs in a fresh event loop with a fresh client: asyncio's own loop, or
uvloop's when the worker is started with `--loop uvloop` (as the driver's
`aetcd+uvloop` client is; uvloop is imported only then). The timed section of a case
measures, in the worker itself:
- wall time and per-request latency (time.perf_counter around each awaited call),
- the worker's CPU time (time.process_time: all threads of the process, so grpc's
  C-core threads are counted for the grpc.aio based clients),
- the etcd server's CPU time (utime + stime of /proc/<etcd pid>/stat).

A client implementation (the `Impl` protocol below) only maps the bench's operations
onto its library's public API; everything else (workload, timing, statistics) is here,
so every client pays the same harness overhead.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import sys
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Protocol

__all__ = ["NotAvailable", "main", "write_ts_value"]

KEY_SPACE = 1000
"""Distinct keys a case cycles over (`<prefix><6 digits>`: 8 bytes with a 2-byte prefix)."""

_TICK = os.sysconf("SC_CLK_TCK")
_TS_DIGITS = 20


class NotAvailable(Exception):
    """The client (or this version of it) cannot run the case: reported as n/a."""


class Impl(Protocol):
    """What a worker implements for its client library (all public API)."""

    async def open(self, endpoint: str) -> None: ...
    async def close(self) -> None: ...
    async def put(self, key: bytes, value: bytes) -> None: ...
    async def get(self, key: bytes, serializable: bool) -> bytes | None: ...
    async def txn(self, key: bytes, value: bytes) -> None:
        """`if value(key) == value: put(key, value) else: get(key)`."""

    async def lease_grant(self, ttl: int) -> int: ...
    async def lease_keep_alive_once(self, lease_id: int) -> None: ...
    async def lease_revoke(self, lease_id: int) -> None: ...
    def watch(
        self, prefix: bytes, start_revision: int | None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[list[bytes]]]:
        """Enter once the server has created the watch; iterate the values of the
        events of each response (one list per response, or per event if the library
        only hands out events)."""


# -- helpers -------------------------------------------------------------------------


def server_cpu(pid: int | None) -> float:
    """utime + stime of a process in seconds (0.0 without a pid)."""
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    # The command name may contain spaces: split after its closing parenthesis.
    fields = data[data.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def keys_for(prefix: bytes) -> list[bytes]:
    return [prefix + b"%06d" % i for i in range(KEY_SPACE)]


def write_ts_value(size: int) -> bytes:
    """A value of `size` bytes starting with the current CLOCK_MONOTONIC in ns (the
    live-watch writer stamps every value; watchers compute delivery latency)."""
    stamp = b"%0*d" % (_TS_DIGITS, time.monotonic_ns())
    return stamp + b"v" * (size - len(stamp))


def value_of(size: int) -> bytes:
    return b"v" * size


async def run_concurrently(
    op: Callable[[int], Awaitable[Any]],
    n: int,
    conc: int,
    latencies: list[float] | None,
    max_seconds: float | None = None,
) -> None:
    """Run op(0..n-1) with `conc` calls in flight; append each latency (s). With
    `max_seconds`, no new call starts after that long (a guard against a pathologically
    slow client blowing the time budget: rates stay valid, fewer requests are made)."""
    next_index = iter(range(n)).__next__
    perf = time.perf_counter
    deadline = perf() + max_seconds if max_seconds else None

    async def loop() -> None:
        while True:
            try:
                i = next_index()
            except StopIteration:
                return
            if deadline is not None and perf() > deadline:
                return
            if latencies is None:
                await op(i)
            else:
                t = perf()
                await op(i)
                latencies.append(perf() - t)

    await asyncio.gather(*(loop() for _ in range(conc)))


class Meter:
    """Wall, process CPU and server CPU over a timed section."""

    def __init__(self, etcd_pid: int | None) -> None:
        self.pid = etcd_pid

    def start(self) -> None:
        gc.collect()
        self.s0 = server_cpu(self.pid)
        self.c0 = time.process_time()
        self.t0 = time.perf_counter()

    def stop(self) -> None:
        self.t1 = time.perf_counter()
        self.c1 = time.process_time()
        self.s1 = server_cpu(self.pid)

    def result(
        self,
        ops: int,
        latencies: list[float] | None,
        wall: float | None = None,
        rate_ops: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Figures over `ops` operations; the rate is `rate_ops` (default `ops`) over
        `wall` (default the timed section), CPU per op is over all `ops`."""
        wall = self.t1 - self.t0 if wall is None else wall
        rate_ops = ops if rate_ops is None else rate_ops
        out: dict[str, Any] = {
            "ops": ops,
            "wall_s": wall,
            "ops_per_s": rate_ops / wall if wall > 0 else None,
            "client_cpu_us_per_op": (self.c1 - self.c0) / ops * 1e6,
            "server_cpu_us_per_op": (self.s1 - self.s0) / ops * 1e6 if self.pid else None,
            "client_cpu_s": self.c1 - self.c0,
            "server_cpu_s": self.s1 - self.s0,
            "p50_us": None,
            "p99_us": None,
        }
        if latencies:
            latencies.sort()
            out["p50_us"] = percentile(latencies, 0.50) * 1e6
            out["p99_us"] = percentile(latencies, 0.99) * 1e6
            out["mean_us"] = sum(latencies) / len(latencies) * 1e6
        out.update(extra)
        return out


# -- the cases -----------------------------------------------------------------------


async def _preload(impl: Impl, keys: list[bytes], value: bytes) -> None:
    await run_concurrently(lambda i: impl.put(keys[i], value), len(keys), 64, None)


async def case_unary(
    impl: Impl, p: dict[str, Any], send: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    case = p["case"]
    n, conc = p["n"], p["conc"]
    prefix = p["prefix"].encode()
    keys = keys_for(prefix)
    value = value_of(p["value_size"])
    nkeys = len(keys)
    lease_ids: list[int] = []

    if case == "put":

        async def op(i: int) -> None:
            await impl.put(keys[i % nkeys], value)
    elif case in ("range", "range-serializable"):
        serializable = case == "range-serializable"
        await _preload(impl, keys, value)
        got = await impl.get(keys[0], serializable)
        if got != value:
            raise RuntimeError(f"{case}: read back {got!r:.40}, not the value written")

        async def op(i: int) -> None:
            await impl.get(keys[i % nkeys], serializable)
    elif case == "txn":
        await _preload(impl, keys, value)

        async def op(i: int) -> None:
            await impl.txn(keys[i % nkeys], value)
    elif case == "lease-keepalive":
        try:
            lease_ids = [await impl.lease_grant(300) for _ in range(conc)]
        except NotAvailable:
            raise
        except AttributeError as exc:
            raise NotAvailable(f"lease API missing: {exc}") from exc

        # Each request in flight renews its own lease: i % conc maps calls onto leases.
        async def op(i: int) -> None:
            await impl.lease_keep_alive_once(lease_ids[i % conc])
    else:
        raise ValueError(f"unknown case {case!r}")

    warmup = min(p.get("warmup", 500), max(conc, n // 10))
    await run_concurrently(op, warmup, conc, None)

    latencies: list[float] = []
    meter = Meter(p.get("etcd_pid"))
    meter.start()
    await run_concurrently(op, n, conc, latencies, p.get("max_seconds"))
    meter.stop()
    result = meter.result(len(latencies), latencies, capped=len(latencies) < n)
    for lease_id in lease_ids:
        with contextlib.suppress(Exception):
            await impl.lease_revoke(lease_id)
    return result


REPLAY_BATCH = 1000
"""Revisions etcd hands a watcher that lags behind in one pass of its sync loop
(`watchBatchMaxRevs`); a pass runs every 100 ms or so (see docs/performance.md)."""


async def case_watch(
    impl: Impl, p: dict[str, Any], send: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """watch-live: tell the driver we are watching, count `n` events written by a
    separate writer process; watch-fanout: the same with `watchers` watches of the
    prefix in one client, each of which gets all `n` events; watch-replay: watch from
    `start_revision` over `n` existing events."""
    live = p["case"] != "watch-replay"
    n = p["n"]
    watchers = p.get("watchers", 1)
    prefix = p["prefix"].encode()
    start_revision = None if live else p["start_revision"]
    latencies: list[float] | None = [] if live else None
    meter = Meter(p.get("etcd_pid"))
    perf = time.perf_counter
    mono = time.monotonic_ns
    received = 0  # over all watchers
    first_at = last_at = 0.0
    # watch-replay: where the end of etcd's first batch was seen, and how many events
    # had arrived by then.
    batch_at = 0.0
    batch_count = 0

    async def consume(stream: AsyncIterator[list[bytes]]) -> None:
        nonlocal received, first_at, last_at, batch_at, batch_count
        got = 0
        async for values in stream:
            if not values:
                continue
            now = perf()
            if not first_at:
                first_at = now
            if latencies is not None:
                now_ns = mono()
                for v in values:
                    latencies.append((now_ns - int(v[:_TS_DIGITS])) / 1e9)
            got += len(values)
            received += len(values)
            if not batch_count and received >= REPLAY_BATCH:
                batch_at, batch_count = now, received
            if got >= n:
                last_at = max(last_at, now)
                break

    if not live:
        meter.start()
    async with contextlib.AsyncExitStack() as stack:
        streams = []
        for _ in range(watchers):
            try:
                cm = impl.watch(prefix, start_revision)
            except AttributeError as exc:
                raise NotAvailable(f"watch API missing: {exc}") from exc
            streams.append(await stack.enter_async_context(cm))
        if live:
            meter.start()
            send({"ready": True})
        await asyncio.gather(*map(consume, streams))
    meter.stop()
    total = n * watchers
    if received != total:
        raise RuntimeError(f"expected {total} events, got {received}")
    if live:
        # Delivery rate over the stream of events (the writer's start-up is excluded).
        wall = last_at - first_at
        return meter.result(total, latencies, wall=wall, rate_ops=max(total - 1, 1))
    from_start = last_at - meter.t0
    if batch_count and batch_count < n:
        # Replay rate from the end of etcd's first batch to the last event. When the
        # first batch comes depends only on where etcd's sync loop was when the watch
        # was created (0-100 ms, up to 4 % of a 20 000-event replay): noise no client
        # controls. Clients that hand out one event at a time and those that hand out
        # whole responses both pass the mark at the end of that batch.
        return meter.result(
            n,
            None,
            wall=last_at - batch_at,
            rate_ops=n - batch_count,
            first_batch_s=batch_at - meter.t0,
            ops_per_s_from_start=n / from_start,
        )
    return meter.result(n, None, wall=from_start)


CASES: dict[
    str,
    Callable[[Impl, dict[str, Any], Callable[[dict[str, Any]], None]], Awaitable[dict[str, Any]]],
] = {
    "put": case_unary,
    "range": case_unary,
    "range-serializable": case_unary,
    "txn": case_unary,
    "lease-keepalive": case_unary,
    "watch-live": case_watch,
    "watch-replay": case_watch,
    "watch-fanout": case_watch,
}


async def _run_case(
    make_impl: Callable[[], Impl], p: dict[str, Any], send: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    impl = make_impl()
    await impl.open(p["endpoint"])
    try:
        coro = CASES[p["case"]](impl, p, send)
        return await asyncio.wait_for(coro, p.get("case_timeout", 600.0))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(impl.close(), 10)


def event_loop(argv: list[str]) -> tuple[str, Callable[[Coroutine[Any, Any, Any]], Any]]:
    """The loop a worker runs its cases on, from `--loop asyncio|uvloop` in `argv`:
    its description and a `run(coroutine)` that runs one case in a fresh loop."""
    name = argv[argv.index("--loop") + 1] if "--loop" in argv else "asyncio"
    if name == "asyncio":
        return "asyncio", asyncio.run
    if name == "uvloop":
        import uvloop  # the `uvloop` extra (the project's test extra installs it too)

        # uvloop.run: a fresh uvloop loop per call, like asyncio.run (Python >= 3.8).
        return f"uvloop {uvloop.__version__}", uvloop.run
    raise ValueError(f"unknown --loop {name!r} (asyncio or uvloop)")


def main(make_impl: Callable[[], Impl], info: Callable[[], dict[str, Any]]) -> None:
    """The worker's command loop (see the module docstring)."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(msg: dict[str, Any]) -> None:
        proto.write(json.dumps(msg) + "\n")
        proto.flush()

    try:
        loop, run = event_loop(sys.argv[1:])
        send({"hello": {**info(), "loop": loop}})
    except Exception as exc:  # the library (or uvloop) does not import: reported as n/a
        send({"na": f"{type(exc).__name__}: {exc}"})
        return
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd.get("op") == "exit":
            break
        try:
            result = run(_run_case(make_impl, cmd, send))
        except NotAvailable as exc:
            send({"na": str(exc)})
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            traceback.print_exc()
            send({"error": f"{type(exc).__name__}: {exc}"[:500]})
        else:
            send({"result": result})
