"""Watch features that need a dedicated etcd: huge revisions (fragments), compaction,
periodic progress notifications."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

import aetcd
from aetcd import Op
from aetcd._watch import WatchMultiplexer
from aetcd.testing import EtcdServer

MiB = 1024 * 1024
VALUE_SIZE = 100 * 1024
KEYS = 36  # 3.6 MiB of new values in one revision, with prev_kv 7.2 MiB per response


@pytest.fixture(scope="module")
def server() -> Iterator[EtcdServer]:
    # The transaction is 3.6 MiB (etcd's default request limit is 1.5 MiB); etcd also
    # fragments watch responses at this size, so with prev_kv (twice the size) the
    # response of that one revision must be split.
    with EtcdServer(
        extra_args=(
            f"--max-request-bytes={4 * MiB}",
            "--experimental-watch-progress-notify-interval=300ms",
        )
    ) as s:
        yield s


async def drain(watch: aetcd.Watch) -> None:
    """Iterate to the end; the watches here must fail before delivering anything."""
    with anyio.fail_after(10):
        async for response in watch:
            pytest.fail(f"the watch delivered {response}")


def mux_of(client: aetcd.Client) -> WatchMultiplexer:
    service = client._services["watch"]
    assert isinstance(service, WatchMultiplexer)
    return service


async def test_huge_revision_arrives_as_one_response(server: EtcdServer) -> None:
    async with aetcd.Client(server.endpoint, max_send_bytes=8 * MiB, timeout=30) as client:
        keys = [f"/big/{i:02}" for i in range(KEYS)]
        for key in keys:
            await client.put(key, b"o" * VALUE_SIZE)
        async with (
            client.watch("/big/", prefix=True, prev_kv=True, fragment=True) as fragmented,
            client.watch("/big/", prefix=True, prev_kv=True) as whole,
            client.watch("/big/", prefix=True, fragment=True) as small,
        ):
            values = {key: bytes([65 + i % 26]) * VALUE_SIZE for i, key in enumerate(keys)}
            resp = await client.txn(compare=[], success=[Op.put(k, v) for k, v in values.items()])
            assert sum(map(len, values.values())) > 3 * MiB
            for watch, prev in ((fragmented, True), (whole, True), (small, False)):
                with anyio.fail_after(20):
                    response = await watch.__anext__()
                assert len(response.events) == KEYS
                assert {e.kv.mod_revision for e in response.events} == {resp.header.revision}
                assert {e.kv.key.decode(): e.kv.value for e in response.events} == values
                prev_values = {
                    None if e.prev_kv is None else e.prev_kv.value for e in response.events
                }
                assert prev_values == ({b"o" * VALUE_SIZE} if prev else {None})
            # The server really split the prev_kv response (7.2 MiB > 4 MiB limit).
            assert mux_of(client).fragments_received >= 1
            # After the huge revision, the watches go on normally.
            await client.put("/big/00", "small")
            for watch in (fragmented, whole, small):
                with anyio.fail_after(5):
                    response = await watch.__anext__()
                assert [e.kv.value for e in response.events] == [b"small"]
        await client.delete("/big/", prefix=True)


async def test_compacted_start_revision_raises_compacted_error(server: EtcdServer) -> None:
    async with aetcd.Client(server.endpoint) as client:
        revs = [(await client.put("/compact/k", str(i))).header.revision for i in range(6)]
        await client.compact(revs[3])
        async with client.watch("/compact/k", start_revision=revs[1]) as watch:
            with pytest.raises(aetcd.CompactedError) as info:
                await drain(watch)
        assert info.value.compact_revision == revs[3]
        assert watch.closed
        # The error stays: the iterator is not silently dead.
        with pytest.raises(aetcd.CompactedError):
            await watch.__anext__()
        # As in the book: start again from the compact revision.
        async with client.watch("/compact/k", start_revision=info.value.compact_revision) as watch:
            with anyio.fail_after(5):
                response = await watch.__anext__()
        assert [e.kv.value for e in response.events] == [b"3", b"4", b"5"]
        # Another watch on the same client and stream was not disturbed.
        assert mux_of(client).streams_opened == 1


async def test_compaction_error_does_not_disturb_other_watches(server: EtcdServer) -> None:
    async with aetcd.Client(server.endpoint) as client:
        revs = [(await client.put("/compact2/k", str(i))).header.revision for i in range(3)]
        await client.compact(revs[2])
        async with client.watch("/compact2/other") as other:
            async with client.watch("/compact2/k", start_revision=revs[0]) as watch:
                with pytest.raises(aetcd.CompactedError):
                    await watch.__anext__()
            await client.put("/compact2/other", "v")
            with anyio.fail_after(5):
                assert (await other.__anext__()).events[0].kv.value == b"v"


async def test_periodic_progress_notify_moves_the_resume_point(server: EtcdServer) -> None:
    async with aetcd.Client(server.endpoint) as client:
        rev = (await client.put("/progress/unrelated", "v")).header.revision
        async with client.watch("/progress/k", progress_notify=True) as watch:
            with anyio.fail_after(5):
                response = await watch.__anext__()
            assert response.is_progress_notify
            assert response.events == ()
            assert response.header.revision >= rev
            state = next(iter(mux_of(client)._watches.values()))
            assert state.next_rev == response.header.revision + 1
            await client.put("/progress/k", "v")
            with anyio.fail_after(5):
                async for response in watch:
                    if response.events:
                        break
            assert response.events[0].kv.value == b"v"
