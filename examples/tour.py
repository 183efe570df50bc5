"""A guided tour of aetcd: runs the examples of this folder in order.

    make demo                                   # starts a throwaway etcd and runs this
    ETCD_ENDPOINTS=http://127.0.0.1:2379 python examples/tour.py

Each example is a standalone script with `async def main(endpoints)`; the tour loads
them by file path, prints a heading (the first line of the example's docstring) and
awaits them one after another. Examples not written yet are skipped with a note. Exits
non-zero if any example failed.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import inspect
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent

# (file, section of the etcd programming book's chapter 3 it ports)
STOPS = [
    ("client.py", "01_client"),
    ("kv.py", "02_kv"),
    ("opts.py", "03_opts"),
    ("revision.py", "04_revision"),
    ("compaction.py", "05_compaction"),
    ("timeout.py", "06_timeout"),
    ("watch.py", "07_watch"),
    ("watch_file.py", "08_watch_file"),
    ("watch_compact.py", "09_watch_compact"),
    ("lease.py", "10_lease"),
    ("txn.py", "transactions"),
]
# A stop that takes longer than this is reported as failed rather than hanging the tour.
STOP_TIMEOUT = 60.0


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"aetcd_example_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_docstring(path: Path) -> str | None:
    # Read the docstring without importing (an example may fail to import).
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))


async def run_stop(path: Path, endpoints: str) -> None:
    module = load(path)
    main = getattr(module, "main", None)
    if main is None or not inspect.iscoroutinefunction(main):
        raise TypeError(f"{path.name} has no `async def main(endpoints)`")
    takes_endpoints = bool(inspect.signature(main).parameters)
    await asyncio.wait_for(main(endpoints) if takes_endpoints else main(), STOP_TIMEOUT)


async def tour(endpoints: str) -> int:
    print(f"aetcd tour against {endpoints}")
    failed: list[str] = []
    for number, (filename, section) in enumerate(STOPS, start=1):
        path = HERE / filename
        if not path.exists():
            print(f"\n=== {number}. {filename} ({section}): not written yet, skipped")
            continue
        title = (load_docstring(path) or filename).strip().splitlines()[0]
        print(f"\n=== {number}. {filename} ({section}): {title}\n")
        sys.stdout.flush()
        try:
            await run_stop(path, endpoints)
        except Exception:
            traceback.print_exc()
            failed.append(filename)
        sys.stdout.flush()
    print()
    if failed:
        print(f"tour finished with failures: {', '.join(failed)}")
        return 1
    print("tour finished: every example ran")
    return 0


if __name__ == "__main__":
    endpoints = os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")
    sys.exit(asyncio.run(tour(endpoints)))
