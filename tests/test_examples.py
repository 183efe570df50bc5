"""Every program in examples/ runs against a throwaway etcd and prints what it should.

Each example (every `examples/*.py` except the `_`-prefixed helpers; `tour.py`, which
runs them all in one process, included) runs as a subprocess with this Python and
`ETCD_ENDPOINTS` pointing at one etcd member started for this module. It must exit 0,
print the lines listed for it in `EXPECTED` in that order (other lines may come in
between), and leave the server as it found it: no keys left behind and auth disabled,
so that the next example starts from a clean store.

The examples run one after another: `compaction.py` and `watch_compact.py` compact the
whole store, which would break an example reading old revisions at the same time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aetcd.testing import EtcdctlError, EtcdServer

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.glob("*.py") if not p.name.startswith("_"))
# Per example; the tour's lease stop alone waits about 12 s for TTLs to run out.
RUN_TIMEOUT = 90.0

HEX = r"[0-9a-f]+"
N = r"\d+"


def _rev_line(
    index: int, key: str, version: int, value: str, *, created_now: bool = False
) -> re.Pattern[str]:
    """A key-value line of revision.py; `created_now`: mod_revision == create_revision."""
    mod = r"\1" if created_now else N
    return re.compile(
        rf"kv\[{index}\]: key=/chapter3/rev/{key} create_revision=({N}) mod_revision={mod} "
        rf"version={version} value={value}"
    )


# Lines each example must print, in this order: a plain string is a whole line (with
# surrounding whitespace ignored), an re.Pattern must match a whole line. Only lines
# that do not depend on timing or on the state of the server are listed.
EXPECTED: dict[str, list[str | re.Pattern[str]]] = {
    "auth.py": [
        "user example-alice has roles ['example-reader']",
        "role example-reader: read prefix '/chapter3/auth/'",
        "auth enabled",
        "example-alice reads /chapter3/auth/greeting: 'hello'",
        "example-alice may not write: etcdserver: permission denied",
        "example-alice may not read outside /chapter3/auth/: etcdserver: permission denied",
        "a wrong password: etcdserver: authentication failed, invalid user ID or password",
        re.compile(r"no user at all: etcdserver: .+"),
        "users: ['example-alice', 'root'], roles: ['example-reader']",
        "auth disabled",
        "users, roles and keys removed",
    ],
    "client.py": [
        "/chapter3/client: hello, etcd",
        re.compile(rf"answered by member {HEX} of cluster {HEX}"),
    ],
    "cluster.py": [
        re.compile(rf"cluster {HEX}: 1 member\(s\)"),
        re.compile(r"\| ID +\| STATUS +\| NAME +\| PEER ADDRS +\| CLIENT ADDRS +\| IS LEARNER \|"),
        re.compile(rf"\| {HEX} +\| started +\| \S+ +\| http://\S+ +\| http://\S+ +\| false +\|"),
        re.compile(r"\| ENDPOINT +\| ID +\| VERSION +\| DB SIZE +\| IS LEADER +\| RAFT TERM .*"),
        re.compile(rf"\| http://\S+ +\| {HEX} +\| \d+\.\d+\.\d+ +\| .* \| true +\| {N} +\| +\|"),
        re.compile(r"http://\S+ is healthy \(took [\d.]+ ms\)"),
        re.compile(rf"http://\S+: hash {N} at revision {N}"),
    ],
    "compaction.py": [
        "--- prepared data:",
        re.compile(rf"rev: {N}, value: hoge"),
        re.compile(rf"rev: {N}, value: fuga"),
        re.compile(rf"rev: {N}, value: fuga"),
        re.compile(rf"--- compacted: {N}"),
        re.compile(
            rf"rev: {N}, failed to get: etcdserver: mvcc: required revision has been compacted"
        ),
        re.compile(
            rf"rev: {N}, failed to get: etcdserver: mvcc: required revision has been compacted"
        ),
        re.compile(rf"rev: {N}, value: fuga"),
    ],
    "election.py": [
        "alpha is elected",
        "alpha resigns",
        "beta is elected",
        "beta resigns",
        "gamma is elected",
        "gamma resigns",
        "leader now: None",
        re.compile(r"observed: \['alpha', .*'gamma.*\]"),
    ],
    "kv.py": [
        "my-value",
        "deleted 1 key",
        "after delete: count=0, kvs=[]",
    ],
    "lease.py": [
        re.compile(rf"granted lease {HEX} with a TTL of 5 s"),
        "'/chapter3/lease' disappeared",
        re.compile(rf"after 2 s the lease has {N} s left \(rounded down\)"),
        "kept alive once: the TTL is 5 s again",
        "revoked: '/chapter3/lease' exists? False",
        "after 4 s with a 2 s TTL, kept alive: '/chapter3/lease' exists? True",
        "after the block: '/chapter3/lease' exists? False",
    ],
    "lock.py": [
        "counter after 3 x 5 locked increments: 15",
        re.compile(rf"holding the lock: key /examples/lock/({HEX}) \(lease \1\)"),
        "try_acquire while held: False",
        "a lock with timeout=0.5 gave up: LockTimeoutError",
        "guarded write while holding the lock succeeded: True",
        "guarded write after releasing it succeeded: False",
    ],
    "namespace.py": [
        "/chapter3/ns/1: hoge",
        "/ns/2: test",
        "watch: PUT /ns/3 = watched",
        "keys of the lease, seen through the namespace: ['/ns/4']",
        "all keys in the namespace: ['/ns/1', '/ns/2', '/ns/3']",
    ],
    "opts.py": [
        "--- prefix, sorted by value, keys only:",
        "/chapter3/option/key2:",
        "/chapter3/option/key3:",
        "/chapter3/option/key1:",
        "--- count only:",
        "count=3, kvs returned=0",
        "--- first key:",
        "/chapter3/option/key1: val3 (more=True, count=3)",
        "--- last key:",
        "/chapter3/option/key3",
        "--- range [key1, key3):",
        "/chapter3/option/key1, /chapter3/option/key2",
        "--- deleted 3 keys",
    ],
    "revision.py": [
        _rev_line(0, "1", 1, "123", created_now=True),
        _rev_line(0, "1", 2, "456"),
        _rev_line(1, "2", 1, "999", created_now=True),
        re.compile(rf"--- as of revision {N}:"),
        _rev_line(0, "1", 1, "123", created_now=True),
    ],
    "service_discovery.py": [
        "registry:",
        "/examples/greeter/alpha -> {'name': 'alpha'}",
        "/examples/greeter/beta -> {'name': 'beta'}",
        "6 calls answered by: {'alpha': 3, 'beta': 3}",
        "registry: DELETE /examples/greeter/beta",
        "after beta left, 4 calls answered by: {'alpha': 4}",
    ],
    "timeout.py": [
        "healthy network: value",
        "slow network: deadline exceeded after 0.5 s",
        "network restored: value",
        "no etcd listening: ConnectError",
    ],
    "txn.py": [
        "alice: took ownership",
        "bob: already owned by alice",
        "alice -> bob: succeeded=True",
        "alice -> carol: succeeded=False",
        "counter after 5 concurrent increments: 5",
    ],
    "watch.py": [
        "CREATE b'/chapter3/watch/key1' : b'test'",
        "MODIFY b'/chapter3/watch/key1' : b'foo'",
        "DELETE b'/chapter3/watch/key1' : b''",
    ],
    "watch_compact.py": [
        re.compile(rf"watch from rev: {N}"),
        re.compile(rf"watch from rev: {N}"),  # the first start was compacted: retried
        *(f"PUT b'/chapter3/watch_compact' : b'{i}'" for i in range(4, 10)),
    ],
    "watch_file.py": [
        "loaded revision: 0",
        *(re.compile(rf"\[{N}\] PUT b'/chapter3/watch_file' : b'value{i}'") for i in range(1, 4)),
        "--- stopped; writing value4..value6",
        "--- restarted",
        re.compile(r"loaded revision: [1-9]\d*"),
        *(re.compile(rf"\[{N}\] PUT b'/chapter3/watch_file' : b'value{i}'") for i in range(4, 7)),
    ],
}


def _tour_lines() -> list[str | re.Pattern[str]]:
    """The tour prints a heading per example, and each example's own lines."""
    lines: list[str | re.Pattern[str]] = [re.compile(r"aetcd tour against http://\S+")]
    stops = re.findall(r'\("(\w+\.py)", "[^"]*"\)', (EXAMPLES_DIR / "tour.py").read_text())
    for number, name in enumerate(stops, start=1):
        lines.append(re.compile(rf"=== {number}\. {re.escape(name)} \(.*"))
        lines.extend(EXPECTED.get(name, []))
    lines.append("tour finished: every example ran")
    return lines


EXPECTED["tour.py"] = _tour_lines()


@pytest.fixture(scope="module")
def server() -> Iterator[EtcdServer]:
    with EtcdServer() as server:
        yield server


def _check_output(name: str, stdout: str) -> None:
    lines = [line.strip() for line in stdout.splitlines()]
    position = 0
    for expected in EXPECTED[name]:
        for index in range(position, len(lines)):
            line = lines[index]
            if (line == expected) if isinstance(expected, str) else expected.fullmatch(line):
                position = index + 1
                break
        else:
            shown = expected if isinstance(expected, str) else expected.pattern
            pytest.fail(
                f"{name}: expected a line {shown!r} after line {position}; it printed:\n{stdout}"
            )


def _check_server_is_clean(name: str, server: EtcdServer) -> None:
    try:
        # Fails with "user name is empty" if the example left auth enabled.
        count = server.etcdctl("get", "", "--prefix", "--keys-only").get("count", 0)
    except EtcdctlError as exc:
        pytest.fail(f"{name} left the server unusable without credentials: {exc}")
    if count:
        keys = server.etcdctl("get", "", "--prefix", "--keys-only", json_output=False)
        pytest.fail(f"{name} left keys behind:\n{keys}")


def test_every_example_has_expected_output() -> None:
    missing = [name for name in EXAMPLES if name not in EXPECTED]
    assert not missing, f"add the lines these examples print to EXPECTED: {missing}"


@pytest.mark.parametrize("name", EXAMPLES)
def test_example(name: str, server: EtcdServer) -> None:
    env = {**os.environ, "ETCD_ENDPOINTS": server.endpoint, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / name)],
        cwd=EXAMPLES_DIR.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = f"--- stdout:\n{proc.stdout}\n--- stderr:\n{proc.stderr}"
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}\n{output}"
    assert proc.stdout.strip(), f"{name} printed nothing\n{output}"
    if name in EXPECTED:
        _check_output(name, proc.stdout)
    _check_server_is_clean(name, server)
