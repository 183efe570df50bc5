"""Check what a watch delivered against the server's own history of the key range.

The reference history is read with a plain gRPC Watch stream (grpclib directly, none of
aetcd's multiplexing, resuming or buffering) from a healthy member, and is itself
cross-checked against point-in-time reads (`get(revision=r)`), so a bug in the watch
code cannot hide in the reference.

    expected = await server_history(endpoint, key, range_end, start, end)
    report = check_delivered(responses, expected)    # raises HistoryError on a mismatch
    await check_against_kv(client, expected, key, range_end, start, end)

`check_delivered` verifies etcd's watch guarantees end to end: ordered (revisions
never go backwards), unique (no revision delivered twice), reliable (no revision of
the range missing between `start` and `end`), atomic (all events of a revision in one
response) and intact (every event equal to the server's: type, key, value, revisions,
version, lease, and prev_kv when asked for).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import anyio
from grpclib.client import Channel
from grpclib.const import Cardinality

import aetcd
from aetcd import Op
from aetcd._proto import etcdserverpb as pb
from aetcd._proto import mvccpb
from aetcd._transport._connection import Codec

__all__ = [
    "Change",
    "Collector",
    "HistoryError",
    "Report",
    "change_from_event",
    "check_against_kv",
    "check_delivered",
    "collect_until",
    "poll",
    "random_writes",
    "server_history",
]


class HistoryError(AssertionError):
    """What a watch delivered differs from the server's history."""


@dataclass(frozen=True, slots=True)
class Change:
    """One event, comparable between aetcd's `Event` and the raw protobuf one."""

    revision: int
    type: str  # "PUT" or "DELETE"
    key: bytes
    value: bytes
    create_revision: int
    version: int
    lease: int
    prev_value: bytes | None = None
    prev_mod_revision: int | None = None


def change_from_event(event: aetcd.Event, *, prev_kv: bool = False) -> Change:
    kv = event.kv
    prev = event.prev_kv if prev_kv else None
    return Change(
        kv.mod_revision,
        event.type.name,
        kv.key,
        kv.value,
        kv.create_revision,
        kv.version,
        kv.lease,
        None if prev is None else prev.value,
        None if prev is None else prev.mod_revision,
    )


def _change_from_pb(event: mvccpb.Event, *, prev_kv: bool) -> Change:
    kv = event.kv or mvccpb.KeyValue()
    prev = event.prev_kv if prev_kv else None
    return Change(
        kv.mod_revision,
        "PUT" if int(event.type) == 0 else "DELETE",
        kv.key,
        kv.value,
        kv.create_revision,
        kv.version,
        kv.lease,
        None if prev is None else prev.value,
        None if prev is None else prev.mod_revision,
    )


async def server_history(
    endpoint: str,
    key: bytes,
    range_end: bytes,
    start: int,
    end: int,
    *,
    prev_kv: bool = False,
    timeout: float = 60.0,
) -> list[Change]:
    """Every event of `[key, range_end)` with `start <= revision <= end`, replayed by
    the server on a plain Watch stream. The range must have an event at `end` (write
    a marker key last), which is how the replay knows it is complete."""
    hostport = endpoint.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    channel = Channel(host, int(port), codec=Codec())
    changes: list[Change] = []
    try:
        with anyio.fail_after(timeout):
            async with channel.request(
                "/etcdserverpb.Watch/Watch",
                Cardinality.STREAM_STREAM,
                pb.WatchRequest,
                pb.WatchResponse,
            ) as stream:
                create = pb.WatchCreateRequest(
                    key=key, range_end=range_end, start_revision=start, prev_kv=prev_kv
                )
                await stream.send_message(pb.WatchRequest(create_request=create))
                while not changes or changes[-1].revision < end:
                    response = await stream.recv_message()
                    if response is None:
                        raise HistoryError("the reference watch stream ended early")
                    if response.canceled:
                        raise HistoryError(
                            f"the reference watch was cancelled: {response.cancel_reason!r} "
                            f"compact_revision={response.compact_revision}"
                        )
                    changes.extend(_change_from_pb(e, prev_kv=prev_kv) for e in response.events)
                await stream.cancel()
    finally:
        channel.close()
    return [c for c in changes if c.revision <= end]


@dataclass(frozen=True, slots=True)
class Report:
    events: int
    revisions: int
    responses: int
    progress_notifies: int
    max_revisions_per_response: int


def _first_difference(got: Sequence[Change], want: Sequence[Change]) -> str:
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            return f"first difference at event #{i}:\n  delivered {g}\n  expected  {w}"
    if len(got) > len(want):
        return f"{len(got) - len(want)} extra events, first {got[len(want)]}"
    return f"{len(want) - len(got)} events missing, first {want[len(got)]}"


def check_delivered(
    responses: Iterable[aetcd.WatchResponse],
    expected: Sequence[Change],
    *,
    prev_kv: bool = False,
    start: int | None = None,
    end: int | None = None,
) -> Report:
    """Compare the delivered responses with the server's history; raise HistoryError.

    Events after `end` (default: the last expected revision) are ignored, as are
    responses after the one that reached it.
    """
    responses = list(responses)
    if end is None:
        end = expected[-1].revision if expected else 0
    delivered: list[Change] = []
    where: dict[int, set[int]] = {}
    progress = 0
    max_revs = 0
    last_revision = 0
    for index, response in enumerate(responses):
        if not response.events:
            if not response.is_progress_notify:
                raise HistoryError(f"response #{index} has no events but is not a progress notify")
            progress += 1
            continue
        if response.is_progress_notify:
            raise HistoryError(f"response #{index} has events but claims to be a progress notify")
        revisions = set()
        for event in response.events:
            change = change_from_event(event, prev_kv=prev_kv)
            if change.revision < last_revision:
                raise HistoryError(
                    f"revision {change.revision} delivered after {last_revision} "
                    f"(response #{index}): out of order"
                )
            last_revision = change.revision
            if start is not None and change.revision < start:
                raise HistoryError(f"revision {change.revision} is before the start {start}")
            if change.revision <= end:
                delivered.append(change)
                revisions.add(change.revision)
                where.setdefault(change.revision, set()).add(index)
        max_revs = max(max_revs, len(revisions))
    split = {rev: sorted(idx) for rev, idx in where.items() if len(idx) > 1}
    if split:
        rev, idx = next(iter(sorted(split.items())))
        raise HistoryError(
            f"{len(split)} revisions split across responses (duplicated or not atomic), "
            f"e.g. revision {rev} in responses {idx}"
        )
    if delivered != list(expected):
        want = Counter(c.revision for c in expected)
        got = Counter(c.revision for c in delivered)
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        raise HistoryError(
            f"delivered {len(delivered)} events / {len(got)} revisions, expected "
            f"{len(expected)} / {len(want)}; missing revisions {missing[:10]}"
            f"{'...' if len(missing) > 10 else ''} ({len(missing)}), unexpected revisions "
            f"{extra[:10]} ({len(extra)}); {_first_difference(delivered, expected)}"
        )
    return Report(
        events=len(delivered),
        revisions=len(where),
        responses=len(responses) - progress,
        progress_notifies=progress,
        max_revisions_per_response=max_revs,
    )


def _snapshot(kvs: Iterable[aetcd.KeyValue]) -> dict[bytes, tuple[bytes, int, int, int, int]]:
    return {
        kv.key: (kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease) for kv in kvs
    }


async def check_against_kv(
    client: aetcd.Client,
    expected: Sequence[Change],
    key: bytes,
    range_end: bytes,
    start: int,
    end: int,
    *,
    samples: int = 60,
    seed: int = 0,
) -> int:
    """Replay `expected` on top of the range as of `start - 1` and compare the result
    with `get(revision=r)` at every revision (few changes) or at `samples` random
    revisions plus `end`. Also checks each event's own metadata (versions and create
    revisions follow from the previous state). Returns the number of revisions read."""
    state = _snapshot(
        (await client.get(key, range_end=range_end, revision=start - 1)).kvs if start > 1 else ()
    )
    revisions = sorted({c.revision for c in expected} | {end})
    if len(revisions) > samples:
        chosen = set(random.Random(seed).sample(revisions[:-1], samples - 1)) | {end}
    else:
        chosen = set(revisions)
    by_revision: dict[int, list[Change]] = {}
    for change in expected:
        by_revision.setdefault(change.revision, []).append(change)
    checked = 0
    for rev in revisions:
        for change in by_revision.get(rev, ()):
            before = state.get(change.key)
            if change.type == "PUT":
                version = 1 if before is None else before[3] + 1
                create = rev if before is None else before[1]
                if (change.version, change.create_revision) != (version, create):
                    raise HistoryError(
                        f"revision {rev} PUT {change.key!r}: version/create_revision "
                        f"{change.version}/{change.create_revision}, expected {version}/{create}"
                    )
                state[change.key] = (change.value, create, rev, version, change.lease)
            else:
                if before is None:
                    raise HistoryError(
                        f"revision {rev} deletes {change.key!r}, which did not exist"
                    )
                del state[change.key]
        if rev in chosen:
            actual = _snapshot((await client.get(key, range_end=range_end, revision=rev)).kvs)
            if actual != state:
                diff = sorted(set(actual.items()) ^ set(state.items()))[:4]
                raise HistoryError(f"the range at revision {rev} differs from the replay: {diff}")
            checked += 1
    return checked


async def random_writes(
    client: aetcd.Client,
    prefix: str,
    *,
    ops: int | None = None,
    duration: float | None = None,
    stop: anyio.Event | None = None,
    keys: int = 40,
    writers: int = 16,
    seed: int = 0,
    tolerate_errors: bool = False,
) -> int:
    """Random puts, deletes, multi-key transactions (several events in one revision)
    and prefix deletes under `prefix`, by `writers` concurrent tasks, until `ops` were
    attempted, `duration` passed or `stop` is set. With `tolerate_errors`, failed
    writes (member killed, connection cut, ...) are skipped: the server's history is
    the reference, not what was attempted. Returns the number of writes attempted."""
    rng = random.Random(seed)
    attempted = 0
    deadline = None if duration is None else time.monotonic() + duration

    def more() -> bool:
        if ops is not None and attempted >= ops:
            return False
        if deadline is not None and time.monotonic() >= deadline:
            return False
        return stop is None or not stop.is_set()

    async def write() -> None:
        key = f"{prefix}{rng.randrange(keys):02}"
        roll = rng.random()
        if roll < 0.70:
            await client.put(key, rng.randbytes(rng.randrange(0, 200)))
        elif roll < 0.85:
            await client.delete(key)
        elif roll < 0.97:
            chosen = {f"{prefix}{rng.randrange(keys):02}" for _ in range(rng.randrange(2, 6))}
            await client.txn(compare=[], success=[Op.put(k, rng.randbytes(8)) for k in chosen])
        else:
            await client.delete(f"{prefix}{rng.randrange(min(keys, 4))}", prefix=True)

    async def writer() -> None:
        nonlocal attempted
        while more():
            attempted += 1
            try:
                await write()
            except aetcd.EtcdError:
                if not tolerate_errors:
                    raise
                await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        for _ in range(writers):
            tg.start_soon(writer)
    return attempted


async def collect_until(
    watch: aetcd.Watch, end: int, into: list[aetcd.WatchResponse]
) -> list[aetcd.WatchResponse]:
    """Append the watch's responses to `into` until one reaches revision `end`."""
    async for response in watch:
        into.append(response)
        if response.events and response.events[-1].kv.mod_revision >= end:
            break
    return into


class Collector:
    """Consumes a watch (run `collector.run` in a task), keeping every response and
    the last delivered revision, which tests can wait for."""

    def __init__(self, watch: aetcd.Watch) -> None:
        self.watch = watch
        self.responses: list[aetcd.WatchResponse] = []
        self.revision = 0
        self._changed = anyio.Event()

    async def run(self) -> None:
        async for response in self.watch:
            self.responses.append(response)
            if response.events:
                self.revision = response.events[-1].kv.mod_revision
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_until(self, predicate: Callable[[int], bool], timeout: float) -> float:
        """Wait until `predicate(last delivered revision)`; return the time it took."""
        t0 = time.monotonic()
        with anyio.fail_after(timeout):
            while not predicate(self.revision):
                await self._changed.wait()
        return time.monotonic() - t0

    async def wait_for(self, revision: int, timeout: float) -> float:
        """Wait until `revision` is delivered; return the time it took."""
        return await self.wait_until(lambda delivered: delivered >= revision, timeout)


async def poll(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> None:
    """Wait until `condition()` holds (for state without an event to wait on)."""
    with anyio.fail_after(timeout):
        for _ in iter(int, 1):
            if condition():
                return
            await anyio.sleep(interval)
