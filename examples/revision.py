"""Revisions and versions: every change moves the store's revision; `revision=` reads the past.

Port of "RevisionとVersion" (chapter3/04_revision) of the etcd programming book.

- `header.revision`: the store's revision; every change anywhere in the cluster adds one.
- `create_revision` / `mod_revision`: the revisions that created / last modified a key.
- `version`: how many times the key was written since it was created.
"""

from __future__ import annotations

import asyncio
import os

import aetcd

PREFIX = "/chapter3/rev/"


def print_response(resp: aetcd.GetResponse) -> None:
    print(f"header: revision={resp.header.revision}")
    for i, kv in enumerate(resp.kvs):
        print(
            f"kv[{i}]: key={kv.key.decode()} create_revision={kv.create_revision} "
            f"mod_revision={kv.mod_revision} version={kv.version} value={kv.value.decode()}"
        )
    print()


async def main(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as client:
        await client.put(PREFIX + "1", "123")
        resp = await client.get(PREFIX, prefix=True)
        print_response(resp)
        created = resp.kvs[0].create_revision

        # Updating a key: revision, mod_revision and version grow, create_revision stays.
        await client.put(PREFIX + "1", "456")
        print_response(await client.get(PREFIX, prefix=True))

        # Another key: the store's revision grows; the first key is untouched.
        await client.put(PREFIX + "2", "999")
        print_response(await client.get(PREFIX, prefix=True))

        # Read the prefix as it was when the first key was created: its old value, and
        # no second key yet. The header still carries the *current* revision.
        print(f"--- as of revision {created}:")
        print_response(await client.get(PREFIX, prefix=True, revision=created))

        await client.delete(PREFIX, prefix=True)


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
