"""Watch against a real etcd member: events, ranges, options, progress, lifecycle."""

from __future__ import annotations

import time

import anyio
import pytest

import aetcd
from aetcd import Compare, Op
from aetcd._watch import WatchMultiplexer
from aetcd.testing import EtcdServer


def mux_of(client: aetcd.Client) -> WatchMultiplexer:
    service = client._services["watch"]
    assert isinstance(service, WatchMultiplexer)
    return service


async def next_response(watch: aetcd.Watch, timeout: float = 5.0) -> aetcd.WatchResponse:
    with anyio.fail_after(timeout):
        return await watch.__anext__()


async def collect_events(
    watch: aetcd.Watch, count: int, timeout: float = 10.0
) -> list[aetcd.Event]:
    events: list[aetcd.Event] = []
    with anyio.fail_after(timeout):
        async for response in watch:
            events.extend(response.events)
            if len(events) >= count:
                break
    return events


async def test_put_modify_delete(client: aetcd.Client, prefix: str) -> None:
    key = prefix + "k"
    async with client.watch(key, prev_kv=True) as watch:
        r1 = await client.put(key, "v1")
        r2 = await client.put(key, "v2")
        r3 = await client.delete(key)
        events = await collect_events(watch, 3)
    assert [e.type for e in events] == [
        aetcd.EventType.PUT,
        aetcd.EventType.PUT,
        aetcd.EventType.DELETE,
    ]
    create, modify, delete = events
    assert create.is_create
    assert not create.is_modify
    assert modify.is_modify
    assert not modify.is_create
    assert not delete.is_create
    assert not delete.is_modify
    assert create.kv == aetcd.KeyValue(
        key.encode(), b"v1", r1.header.revision, r1.header.revision, 1, 0
    )
    assert create.prev_kv is None
    assert modify.kv.value == b"v2"
    assert modify.kv.mod_revision == r2.header.revision
    assert modify.prev_kv is not None
    assert modify.prev_kv.value == b"v1"
    assert delete.kv.key == key.encode()
    assert delete.kv.mod_revision == r3.header.revision
    assert delete.prev_kv is not None
    assert delete.prev_kv.value == b"v2"


async def test_without_prev_kv_events_have_none(client: aetcd.Client, prefix: str) -> None:
    key = prefix + "k"
    async with client.watch(key) as watch:
        await client.put(key, "a")
        await client.put(key, "b")
        events = await collect_events(watch, 2)
    assert [e.prev_kv for e in events] == [None, None]


async def test_every_write_after_entering_is_delivered(client: aetcd.Client, prefix: str) -> None:
    # No sleep between entering and writing: entering waits for the server's `created`.
    for i in range(20):
        key = f"{prefix}k{i}"
        async with client.watch(key) as watch:
            rev = (await client.put(key, "v")).header.revision
            response = await next_response(watch)
            assert [e.kv.mod_revision for e in response.events] == [rev]
            assert response.header.revision >= rev
            assert not response.is_progress_notify
            assert response.compact_revision is None


async def test_ranges_prefixes_and_from_key(client: aetcd.Client, prefix: str) -> None:
    async with (
        client.watch(prefix + "a/", prefix=True) as by_prefix,
        client.watch(prefix + "a/1", range_end=prefix + "a/3") as by_range,
        client.watch(prefix + "b", from_key=True) as by_from_key,
        client.watch(prefix + "a/1") as single,
    ):
        for key in ("a/1", "a/2", "a/3", "a", "b", "c/1"):
            await client.put(prefix + key, key)
        # A final write every watch sees, so that "nothing else" can be asserted.
        await client.txn(
            compare=[],
            success=[Op.put(prefix + "a/1", "end"), Op.put(prefix + "c/2", "end")],
        )
        keys = {}
        for name, watch, count in (
            ("prefix", by_prefix, 4),
            ("range", by_range, 3),
            ("from_key", by_from_key, 3),
            ("single", single, 2),
        ):
            keys[name] = [
                e.kv.key.decode()[len(prefix) :] for e in await collect_events(watch, count)
            ]
    assert keys["prefix"] == ["a/1", "a/2", "a/3", "a/1"]
    assert keys["range"] == ["a/1", "a/2", "a/1"]
    assert keys["from_key"] == ["b", "c/1", "c/2"]
    assert keys["single"] == ["a/1", "a/1"]


async def test_start_revision_replays_history(client: aetcd.Client, prefix: str) -> None:
    key = prefix + "k"
    revs = [(await client.put(key, str(i))).header.revision for i in range(5)]
    async with client.watch(key, start_revision=revs[1]) as watch:
        events = await collect_events(watch, 4)
    assert [e.kv.mod_revision for e in events] == revs[1:]
    assert [e.kv.value for e in events] == [b"1", b"2", b"3", b"4"]


async def test_filters(client: aetcd.Client, prefix: str) -> None:
    key = prefix + "k"
    async with (
        client.watch(key, filters=[aetcd.WatchFilter.NOPUT]) as deletes,
        client.watch(key, filters=(aetcd.WatchFilter.NODELETE,)) as puts,
    ):
        for i in range(3):
            await client.put(key, str(i))
            await client.delete(key)
        assert {e.type for e in await collect_events(deletes, 3)} == {aetcd.EventType.DELETE}
        assert {e.type for e in await collect_events(puts, 3)} == {aetcd.EventType.PUT}


async def test_one_revision_is_one_response(client: aetcd.Client, prefix: str) -> None:
    async with client.watch(prefix, prefix=True) as watch:
        resp = await client.txn(
            compare=[Compare.version(prefix + "x") == 0],
            success=[Op.put(f"{prefix}{i}", str(i)) for i in range(50)],
        )
        response = await next_response(watch)
    assert len(response.events) == 50
    assert {e.kv.mod_revision for e in response.events} == {resp.header.revision}


async def test_request_progress(client: aetcd.Client, prefix: str) -> None:
    async with client.watch(prefix + "k") as watch, client.watch(prefix + "other") as other:
        rev = (await client.put(prefix + "unwatched", "v")).header.revision
        await watch.request_progress()
        response = await next_response(watch)
        assert response.is_progress_notify
        assert response.events == ()
        assert response.header.revision >= rev
        # The request concerns the stream, so every watch on it is told.
        assert (await next_response(other)).is_progress_notify


async def test_events_iterator_flattens_and_skips_progress(
    client: aetcd.Client, prefix: str
) -> None:
    async with client.watch(prefix, prefix=True) as watch:
        await client.txn(compare=[], success=[Op.put(prefix + "a", "1"), Op.put(prefix + "b", "2")])
        await watch.request_progress()
        await client.put(prefix + "c", "3")
        events = []
        with anyio.fail_after(5):
            async for event in watch.events():
                events.append(event.kv.key)
                if len(events) == 3:
                    break
    assert events == [(prefix + k).encode() for k in "abc"]


async def test_leaving_cancels_and_stops_iteration(client: aetcd.Client, prefix: str) -> None:
    async with client.watch(prefix + "k") as watch:
        assert not watch.closed
    assert watch.closed
    with pytest.raises(StopAsyncIteration):
        await watch.__anext__()
    mux = mux_of(client)
    assert mux.watch_count == 0
    # The stream is still usable (and reused) by the next watch.
    opened = mux.streams_opened
    async with client.watch(prefix + "k") as watch:
        await client.put(prefix + "k", "v")
        assert (await next_response(watch)).events[0].kv.value == b"v"
    assert mux.streams_opened == opened


async def test_awaitable_form(client: aetcd.Client, prefix: str) -> None:
    watch = await client.watch(prefix + "k")
    try:
        await client.put(prefix + "k", "v")
        assert (await next_response(watch)).events[0].kv.value == b"v"
    finally:
        await watch.cancel()
    await watch.cancel()  # idempotent
    assert watch.closed


async def test_handle_misuse(client: aetcd.Client, prefix: str) -> None:
    watch = client.watch(prefix + "k")
    with pytest.raises(aetcd.UsageError):
        await watch.__anext__()
    async with watch:
        pass
    with pytest.raises(aetcd.UsageError):
        await watch.__aenter__()


async def test_cancelled_while_entering_leaves_client_consistent(
    client: aetcd.Client, prefix: str
) -> None:
    with anyio.move_on_after(0):  # cancelled before the server answers
        async with client.watch(prefix + "gone"):
            pytest.fail("entered a cancelled watch")
    mux = mux_of(client)
    async with client.watch(prefix + "k") as watch:
        await client.put(prefix + "gone", "x")
        await client.put(prefix + "k", "v")
        assert (await next_response(watch)).events[0].kv.key == (prefix + "k").encode()
    assert mux.watch_count == 0


async def test_client_close_ends_iteration_with_client_closed_error(
    etcd_server: EtcdServer, prefix: str
) -> None:
    errors: list[BaseException] = []

    async def consume(watch: aetcd.Watch) -> None:
        try:
            async for _ in watch:
                pass
        except aetcd.ClientClosedError as exc:
            errors.append(exc)

    async with aetcd.Client(etcd_server.endpoint) as client:
        watch = await client.watch(prefix + "k")
        await client.put(prefix + "k", "v")
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume, watch)
                await anyio.sleep(0.1)
                await client.close()
        assert len(errors) == 1
        assert watch.closed
        with pytest.raises(aetcd.ClientClosedError):
            client.watch(prefix + "k")
        with pytest.raises(aetcd.ClientClosedError):
            await watch.request_progress()


async def test_watch_after_close(etcd_server: EtcdServer) -> None:
    client = aetcd.Client(etcd_server.endpoint)
    async with client:
        pass
    with pytest.raises(aetcd.ClientClosedError):
        client.watch("k")


async def test_many_watches_share_one_stream(client: aetcd.Client, prefix: str) -> None:
    n = 1000
    start = time.monotonic()
    watches = [client.watch(f"{prefix}{i:04}") for i in range(n)]
    async with anyio.create_task_group() as tg:
        for watch in watches:
            tg.start_soon(watch.__aenter__)
    created = time.monotonic() - start
    try:
        mux = mux_of(client)
        assert mux.streams_opened == 1
        assert mux.watch_count == n
        # Every key written in one transaction would be one response per watch; write
        # them in a few transactions so that the revisions differ too.
        for chunk in range(0, n, 100):
            await client.txn(
                compare=[],
                success=[Op.put(f"{prefix}{i:04}", str(i)) for i in range(chunk, chunk + 100)],
            )
        for i, watch in enumerate(watches):
            response = await next_response(watch)
            assert [e.kv.key for e in response.events] == [f"{prefix}{i:04}".encode()]
            assert response.events[0].kv.value == str(i).encode()
    finally:
        for watch in watches:
            await watch.cancel()
    assert mux.streams_opened == 1
    assert created < 20, f"creating {n} watches took {created:.1f} s"


async def test_watches_of_the_same_keys_each_get_their_events(
    client: aetcd.Client, prefix: str
) -> None:
    # Watches of the same keys on one stream get the same events from etcd, one reply
    # after another (which the decoder shares); a watch with other options or another
    # range must still get exactly its own.
    async with (
        client.watch(prefix, prefix=True) as a,
        client.watch(prefix, prefix=True) as b,
        client.watch(prefix, prefix=True, prev_kv=True) as c,
        client.watch(prefix + "x", prefix=True) as d,
    ):
        await client.put(prefix + "k", "1")
        await client.put(prefix + "k", "2")
        await client.put(prefix + "x", "3")
        await client.delete(prefix + "k")
        got = [await collect_events(w, n) for w, n in ((a, 4), (b, 4), (c, 4), (d, 1))]
    plain = [(e.type, e.kv.key, e.kv.value, e.prev_kv) for e in got[0]]
    assert plain == [
        (aetcd.EventType.PUT, (prefix + "k").encode(), b"1", None),
        (aetcd.EventType.PUT, (prefix + "k").encode(), b"2", None),
        (aetcd.EventType.PUT, (prefix + "x").encode(), b"3", None),
        (aetcd.EventType.DELETE, (prefix + "k").encode(), b"", None),
    ]
    assert got[1] == got[0]
    with_prev = [None if e.prev_kv is None else e.prev_kv.value for e in got[2]]
    assert with_prev == [None, b"1", None, b"2"]
    assert [e.kv for e in got[2]] == [e.kv for e in got[0]]
    assert [e.kv.value for e in got[3]] == [b"3"]
