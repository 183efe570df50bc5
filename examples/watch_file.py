"""Never miss a change: save the last processed revision, resume from the next one.

Port of "取りこぼしを防ぐ" (chapter3/08_watch_file) of the etcd programming book. A
watch only reports changes made while it runs; a program that was stopped resumes
from a saved revision with `start_revision=`, and etcd replays what it missed.

The book runs the program twice and writes with `etcdctl` in between; this example
does both runs itself: the first processes three writes, then, while "stopped", three
more are made, and the second run picks them up from the saved revision.

    ETCD_ENDPOINTS=http://127.0.0.1:2379 python examples/watch_file.py [REVISION_FILE]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import aetcd

KEY = "/chapter3/watch_file"


def next_rev(path: Path) -> int | None:
    """The revision after the last processed one, or None (= "from now") when there is
    no usable file; like the book's nextRev, a broken file is removed."""
    try:
        return int(path.read_text()) + 1
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return None


def save_rev(path: Path, rev: int) -> None:
    # Write a temporary file, flush it to disk and rename it over the old one, so a
    # crash leaves either the old or the new revision, never a torn file.
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(str(rev))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def do_something(ev: aetcd.Event) -> None:
    print(f"[{ev.kv.mod_revision}] {ev.type.name} {ev.kv.key!r} : {ev.kv.value!r}")


async def run(client: aetcd.Client, path: Path, events: int, values: list[str]) -> None:
    """One run of the book's program; it stops after processing `events` events (the
    book's runs until Ctrl-C). A task makes the writes `etcdctl` made, if any."""
    rev = next_rev(path)
    print(f"loaded revision: {rev or 0}")
    # Go: client.Watch(ctx, KEY, clientv3.WithRev(rev)); None means "from now on".
    async with client.watch(KEY, start_revision=rev) as watch:
        writer = asyncio.create_task(write(client, values))
        processed = 0
        async for ev in watch.events():
            do_something(ev)
            # Saving waits for the disk: do it in a thread, not in the event loop.
            await asyncio.to_thread(save_rev, path, ev.kv.mod_revision)
            print(f"saved: {ev.kv.mod_revision}")
            processed += 1
            if processed == events:
                break
        await writer


async def write(client: aetcd.Client, values: list[str]) -> None:
    for value in values:
        await client.put(KEY, value)


def forget(path: Path) -> None:
    path.unlink(missing_ok=True)


DEFAULT_PATH = Path(tempfile.gettempdir()) / "aetcd-example-last_revision"


async def main(endpoints: str, path: Path = DEFAULT_PATH) -> None:
    forget(path)  # start the demo afresh
    async with aetcd.Client(endpoints) as client:
        # First run: no saved revision, so it watches from now on.
        await run(client, path, 3, ["value1", "value2", "value3"])
        # The program is stopped: these writes happen while nobody watches ...
        print("--- stopped; writing value4..value6")
        for value in ("value4", "value5", "value6"):
            await client.put(KEY, value)
        # ... and the next run replays them from the saved revision + 1.
        print("--- restarted")
        await run(client, path, 3, [])
        await client.delete(KEY)
    forget(path)


if __name__ == "__main__":
    asyncio.run(
        main(
            os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379"),
            Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH,
        )
    )
