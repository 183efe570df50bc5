"""Auth: users, roles, permissions, `auth enable`, and a read-only user at work.

The etcdctl walkthrough of users and roles (`user add`, `role add`,
`role grant-permission`, `user grant-role`, `user get`, `role get`, `auth enable`,
`user passwd`, `role revoke-permission`, `user revoke-role`, `auth disable`, `user
delete`, `role delete`), done with aetcd. It enables authentication on the cluster for
a moment and always disables it again and removes what it created, so run it against
a throwaway etcd where auth is off and no `root` user exists (`make demo` does). Set
ETCD_ENDPOINTS (default http://127.0.0.1:2379).
"""

from __future__ import annotations

import asyncio
import os

import aetcd

PREFIX = "/chapter3/auth/"
ROOT_PASSWORD = "root-example-pw"
USER, ROLE = "example-alice", "example-reader"


async def walkthrough(endpoints: str) -> None:
    async with aetcd.Client(endpoints) as admin:
        if "root" in await admin.user_list():
            print("a root user exists already: not touching this cluster's auth")
            return
        await admin.put(PREFIX + "greeting", "hello")

        # etcdctl user add root; etcdctl user grant-role root root
        await admin.user_add("root", ROOT_PASSWORD)
        await admin.user_grant_role("root", "root")
        # etcdctl role add example-reader
        # etcdctl role grant-permission example-reader read --prefix=true /chapter3/auth/
        await admin.role_add(ROLE)
        await admin.role_grant_permission(
            ROLE, PREFIX, prefix=True, permission=aetcd.Permission.READ
        )
        # etcdctl user add example-alice; etcdctl user grant-role example-alice example-reader
        await admin.user_add(USER, "alice-pw")
        await admin.user_grant_role(USER, ROLE)
        print(f"user {USER} has roles {list((await admin.user_get(USER)).roles)}")
        for perm in await admin.role_get(ROLE):
            print(f"role {ROLE}: {perm}")

        # etcdctl auth enable: from now on every request needs a user.
        await admin.auth_enable()
        print("auth enabled")
        try:
            await as_users(endpoints)
        finally:
            # etcdctl --user root:... auth disable (always: leave the cluster as found)
            async with aetcd.Client(endpoints, username="root", password=ROOT_PASSWORD) as root:
                await root.auth_disable()
            print("auth disabled")


async def as_users(endpoints: str) -> None:
    async with aetcd.Client(endpoints, username=USER, password="alice-pw") as alice:
        value = (await alice.get(PREFIX + "greeting")).kvs[0].value.decode()
        print(f"{USER} reads {PREFIX}greeting: {value!r}")
        try:
            await alice.put(PREFIX + "greeting", "hi")
        except aetcd.PermissionDeniedError as exc:
            print(f"{USER} may not write: {exc.message}")
        try:
            await alice.get("/elsewhere")
        except aetcd.PermissionDeniedError as exc:
            print(f"{USER} may not read outside {PREFIX}: {exc.message}")

    async with aetcd.Client(endpoints, username=USER, password="wrong") as impostor:
        try:
            await impostor.get(PREFIX + "greeting")
        except aetcd.AuthenticationFailedError as exc:
            print(f"a wrong password: {exc.message}")
    try:
        async with aetcd.Client(endpoints) as anonymous:
            await anonymous.get(PREFIX + "greeting")
    except aetcd.AuthError as exc:
        print(f"no user at all: {exc.message}")

    async with aetcd.Client(endpoints, username="root", password=ROOT_PASSWORD) as root:
        # etcdctl user passwd example-alice
        await root.user_change_password(USER, "new-alice-pw")
        # etcdctl role revoke-permission example-reader --prefix=true /chapter3/auth/
        await root.role_revoke_permission(ROLE, PREFIX, prefix=True)
        # etcdctl user revoke-role example-alice example-reader
        await root.user_revoke_role(USER, ROLE)
        print(f"users: {list(await root.user_list())}, roles: {list(await root.role_list())}")


async def clean_up(endpoints: str) -> None:
    """Remove what the walkthrough created (with auth disabled again)."""
    async with aetcd.Client(endpoints) as admin:
        users = set(await admin.user_list())
        for user in (USER, "root"):
            if user in users:
                await admin.user_delete(user)  # etcdctl user delete
        if ROLE in await admin.role_list():
            await admin.role_delete(ROLE)  # etcdctl role delete
        await admin.delete(PREFIX, prefix=True)
    print("users, roles and keys removed")


async def main(endpoints: str) -> None:
    created = False
    try:
        async with aetcd.Client(endpoints) as admin:
            created = "root" not in await admin.user_list()
        await walkthrough(endpoints)
    finally:
        if created:
            await clean_up(endpoints)


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("ETCD_ENDPOINTS", "http://127.0.0.1:2379")))
