"""Profile aetcd's hot paths end to end with py-spy (sampling; no code changes).

    make bench BENCH_ARGS=--quick      # once, to create .bench/venv-tools (py-spy)
    .venv/bin/python bench/profile_hotpath.py [--count 20000] [--in-flight 64] [--cases put,range]
    .venv/bin/python bench/profile_hotpath.py --cases watch-live,watch-replay,lease-keepalive

Starts a throwaway etcd, runs the aetcd bench worker (bench/workers/worker_aetcd.py)
under `py-spy record` for each case (any case of bench/run.py; the watch cases get
`--count` events from the raw grpc.aio writer of .bench/venv-grpcio, as in `make bench`),
and prints the hot spots as Markdown:
- by component (the package of the innermost frame: aetcd, grpclib, h2, ...),
- by function, self time (innermost frame) and total time (anywhere on the stack).
Percentages are of the samples taken while the worker's event loop ran (start-up and
imports are left out; idle time in the selector is not sampled by py-spy). The raw
collapsed stacks stay in .bench/profile-<case>.txt (flamegraph.pl / speedscope input).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKERS = ROOT / "bench" / "workers"
DOT_BENCH = ROOT / ".bench"
PY_SPY = DOT_BENCH / "venv-tools" / "bin" / "py-spy"
WRITER_PYTHON = DOT_BENCH / "venv-grpcio" / "bin" / "python"

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*)\)$")

COMPONENTS = [
    ("aetcd", re.compile(r"/aetcd/(?!_proto/)")),
    ("aetcd._proto (generated)", re.compile(r"/aetcd/_proto/")),
    ("betterproto2", re.compile(r"/betterproto2/")),
    ("grpclib", re.compile(r"/grpclib/")),
    ("h2", re.compile(r"/h2/")),
    ("hpack", re.compile(r"/hpack/")),
    ("hyperframe", re.compile(r"/hyperframe/")),
    ("multidict", re.compile(r"/multidict/")),
    ("anyio", re.compile(r"/anyio/")),
    ("asyncio", re.compile(r"/asyncio/")),
    ("bench harness", re.compile(r"/bench/workers/")),
    ("other stdlib", re.compile(r"/lib/python3\.\d+/(?!site-packages)")),
]


# Named costs that cut across components: a sample counts once if any frame of its stack
# matches (so these overlap with each other and with the tables above).
SELECTED = [
    ("HPACK encode of request headers (hpack Encoder.encode)", r"^Encoder\.encode \(.*/hpack/"),
    (
        "HPACK decode of response headers + trailers (hpack Decoder.decode)",
        r"^Decoder\.decode \(.*/hpack/",
    ),
    (
        "h2: repr(frame) built for a trace log that is never printed",
        r"^(\w+\.)?(__repr__|_raw_data_repr) \(.*/(hyperframe|h2)/",
    ),
    ("h2 send_headers (validation + HPACK + frames)", r"^H2Connection\.send_headers \("),
    ("h2 receive_data (frame parsing + events)", r"^H2Connection\.receive_data \("),
    ("grpclib request metadata / header building", r"/grpclib/(metadata|encoding/)"),
    ("protobuf encode/decode (aetcd._wire, betterproto2)", r"/(aetcd/_wire\.py|betterproto2/)"),
    ("asyncio.current_task (grpclib Wrapper, anyio cancel scopes)", r"^current_task \("),
    ("anyio (cancel scopes, task groups, events)", r"/anyio/"),
    ("socket writes (transport.write)", r"^_SelectorSocketTransport\.write \("),
    (
        "event loop machinery, self time (asyncio base_events/events/selector_events, selectors)",
        r"LEAF:/(asyncio/(base_events|events|selector_events)|selectors)\.py\)$",
    ),
]


def component(path: str) -> str:
    for name, pattern in COMPONENTS:
        if pattern.search(path):
            return name
    return "other"


def short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m["file"]
    for marker in ("/site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    path = re.sub(r"^\.bench/src-[0-9a-f]+/", "", path)  # an --aetcd-ref style snapshot
    return f"{m['func']} ({path})"


def analyse(raw: Path, top: int) -> str:
    samples = 0
    self_time: collections.Counter[str] = collections.Counter()
    total_time: collections.Counter[str] = collections.Counter()
    by_component: collections.Counter[str] = collections.Counter()
    selected: collections.Counter[str] = collections.Counter()
    patterns = [(name, re.compile(rx)) for name, rx in SELECTED]
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        # Only the event loop's work: asyncio.run() of a case (not imports, not exit).
        if not any(
            f.startswith(("BaseEventLoop.run_until_complete ", "run_until_complete "))
            for f in frames
        ):
            continue
        count = int(count_text)
        samples += count
        leaf = frames[-1]
        self_time[short(leaf)] += count
        m = FRAME.match(leaf)
        by_component[component(m["file"] if m else leaf)] += count
        for f in set(frames):
            total_time[short(f)] += count
        for name, rx in patterns:
            if rx.pattern.startswith("LEAF:"):
                if re.search(rx.pattern[5:], leaf):
                    selected[name] += count
            elif any(rx.search(f) for f in frames):
                selected[name] += count
    if not samples:
        return "(no samples)"
    pct = lambda n: f"{100.0 * n / samples:.1f} %"  # noqa: E731
    out = [
        f"{samples} samples in the event loop.",
        "",
        "| component (innermost frame) | self |",
        "|---|--:|",
    ]
    out += [f"| {name} | {pct(n)} |" for name, n in by_component.most_common()]
    out += ["", "| selected cost (anywhere on the stack) | total |", "|---|--:|"]
    out += [f"| {name} | {pct(selected[name])} |" for name, _ in SELECTED]
    out += ["", "| function (self time) | self |", "|---|--:|"]
    out += [f"| `{name}` | {pct(n)} |" for name, n in self_time.most_common(top)]
    skip = re.compile(
        r"^(\w+\.)?(run_until_complete|run_forever|_run_once|run|Runner\.run|main|<module>|_run_case"
        r"|Task\.__step|__step|Handle\._run|_run|wait_for) "
    )
    out += ["", "| function (total time, incl. callees) | total |", "|---|--:|"]
    rows = [(name, n) for name, n in total_time.most_common() if not skip.match(name)]
    out += [f"| `{name}` | {pct(n)} |" for name, n in rows[:top]]
    return "\n".join(out)


def start_writer(endpoint: str, count: int) -> subprocess.Popen[str]:
    """The raw grpc.aio writer of the watch cases: puts `count` stamped values at 64 in
    flight and prints {"first_revision", ...} when done."""
    params = {"endpoint": endpoint, "prefix": "b/", "n": count, "conc": 64, "value_size": 256}
    return subprocess.Popen(
        [str(WRITER_PYTHON), str(WORKERS / "worker_grpcaio.py"), "writer", json.dumps(params)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "BENCH_STUBS": str(DOT_BENCH / "stubs")},
        cwd=str(WORKERS),
    )


def writer_result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"the watch writer failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def profile_case(
    endpoint: str, etcd_pid: int, case: str, count: int, conc: int, rate: int, fanout: int
) -> Path:
    raw = DOT_BENCH / f"profile-{case}.txt"
    cmd = [
        str(PY_SPY),
        "record",
        "--format",
        "raw",
        "--nolineno",
        "--full-filenames",
        "--rate",
        str(rate),
        "--output",
        str(raw),
        "--",
        sys.executable,
        str(WORKERS / "worker_aetcd.py"),
    ]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(WORKERS)
    )
    assert proc.stdin
    assert proc.stdout
    params = {
        "op": "case",
        "case": case,
        "conc": conc,
        "n": count,
        "endpoint": endpoint,
        "etcd_pid": etcd_pid,
        "prefix": "b/",
        "value_size": 256,
    }
    if case == "watch-fanout":  # `fanout` watches, each gets all `count` events
        params["watchers"] = fanout
    if case == "watch-replay":
        params["start_revision"] = writer_result(start_writer(endpoint, count))["first_revision"]
    proc.stdin.write(json.dumps(params) + "\n" + json.dumps({"op": "exit"}) + "\n")
    proc.stdin.flush()
    result = None
    writer = None
    for line in proc.stdout:
        if line.startswith("{"):
            msg = json.loads(line)
            if "ready" in msg:  # watch-live/-fanout: the watches exist, start writing
                writer = start_writer(endpoint, count)
            elif "result" in msg:
                result = msg["result"]
            elif "error" in msg or "na" in msg:
                raise SystemExit(f"{case}: {msg}")
    proc.wait()
    if writer is not None:
        writer_result(writer)
    if result:
        print(
            f"<!-- {case}{'' if case.startswith('watch') else f' @{conc}'}: "
            f"{result['ops_per_s']:,.0f} ops/s under py-spy, "
            f"{result['client_cpu_us_per_op']:.0f} µs client CPU per op -->"
        )
    return raw


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20000, help="requests, or events to watch")
    ap.add_argument("--in-flight", type=int, default=64)
    ap.add_argument("--fanout", type=int, default=16, help="watches in watch-fanout")
    ap.add_argument("--cases", default="put,range")
    ap.add_argument("--rate", type=int, default=250, help="samples per second")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    if not PY_SPY.exists():
        print(
            "py-spy is missing: run `make bench` (or `bash bench/setup.sh`) first", file=sys.stderr
        )
        return 2
    from aetcd.testing import EtcdServer

    with EtcdServer() as server:
        for case in args.cases.split(","):
            server.member.etcdctl("del", "--prefix", "b/")
            raw = profile_case(
                server.endpoint,
                server.member.pid,
                case,
                args.count,
                args.in_flight,
                args.rate,
                args.fanout,
            )
            where = "" if case.startswith("watch") else f" @{args.in_flight} in flight"
            print(f"\n### {case}{where}\n")
            print(analyse(raw, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
