"""The bench's measuring harness (bench/workers/_common.py): the figures it reports for
the watch cases, on a fake clock and fake clients."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load_harness() -> ModuleType:
    # bench/ is not a package (its workers run in other venvs): load the file itself.
    path = Path(__file__).resolve().parents[2] / "bench" / "workers" / "_common.py"
    spec = importlib.util.spec_from_file_location("bench_harness", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


class Clock:
    """`time.perf_counter` that moves only when a fake client says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Replay:
    """A replay as etcd serves it: batches of `batch` events, the first `first_after`
    seconds after the watch call (where etcd's sync loop happened to be), then one every
    `period`. Handed out as whole responses, or one event at a time as some libraries
    do."""

    def __init__(
        self, clock: Clock, *, per_event: bool, first_after: float, batches: int = 5
    ) -> None:
        self.clock = clock
        self.per_event = per_event
        self.first_after = first_after
        self.batches = batches
        self.batch = harness.REPLAY_BATCH
        self.period = 0.1

    @contextlib.asynccontextmanager
    async def watch(
        self, prefix: bytes, start_revision: int | None
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        yield self._values()

    async def _values(self) -> AsyncIterator[list[bytes]]:
        self.clock.now += self.first_after
        for i in range(self.batches):
            if i:
                self.clock.now += self.period
            values = [b"v"] * self.batch
            if self.per_event:
                for value in values:
                    yield [value]
            else:
                yield values
            await asyncio.sleep(0)


def _replay(impl: Replay, n: int) -> dict[str, Any]:
    params = {"case": "watch-replay", "n": n, "prefix": "b/", "start_revision": 1}
    return asyncio.run(harness.case_watch(impl, params, lambda msg: None))


@pytest.mark.parametrize("per_event", [False, True], ids=["responses", "single events"])
@pytest.mark.parametrize("first_after", [0.01, 0.09])
def test_replay_rate_leaves_out_the_wait_for_the_first_batch(
    monkeypatch: pytest.MonkeyPatch, per_event: bool, first_after: float
) -> None:
    # Whenever etcd's first pass comes, and however the library hands the events out,
    # the rate is that of the batches after the first: 4 000 events in 0.4 s.
    clock = Clock()
    monkeypatch.setattr(time, "perf_counter", clock)
    result = _replay(Replay(clock, per_event=per_event, first_after=first_after), 5000)
    assert result["ops"] == 5000
    assert result["ops_per_s"] == pytest.approx(10_000)
    assert result["first_batch_s"] == pytest.approx(first_after)
    assert result["ops_per_s_from_start"] == pytest.approx(5000 / (first_after + 0.4))


def test_a_replay_of_one_batch_is_timed_from_the_watch_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr(time, "perf_counter", clock)
    result = _replay(Replay(clock, per_event=False, first_after=0.05, batches=1), 1000)
    assert result["ops_per_s"] == pytest.approx(1000 / 0.05)
    assert "first_batch_s" not in result


class Live:
    """Watches that each get the same `n` time-stamped events."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.opened = 0

    @contextlib.asynccontextmanager
    async def watch(
        self, prefix: bytes, start_revision: int | None
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        self.opened += 1
        yield self._values()

    async def _values(self) -> AsyncIterator[list[bytes]]:
        for _ in range(self.n):
            await asyncio.sleep(0)
            yield [harness.write_ts_value(64)]


def test_fanout_counts_every_event_of_every_watch() -> None:
    impl = Live(50)
    said: list[dict[str, Any]] = []
    params = {"case": "watch-fanout", "n": 50, "watchers": 4, "prefix": "b/"}
    result = asyncio.run(harness.case_watch(impl, params, said.append))
    assert impl.opened == 4
    assert said == [{"ready": True}]  # once every watch exists, before any event
    assert result["ops"] == 200
    assert result["p50_us"] is not None
