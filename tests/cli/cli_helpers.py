"""Helpers for the `aetcdctl` tests: three ways to run a command line.

* `aetcdctl(*args, input=b"")`: `aetcd._cli.main(argv)` in this process (fast), with
  stdin, stdout and stderr captured;
* `aetcdctl_proc(*args, input=b"")`: `python -m aetcd` in a subprocess, as users run it;
* `etcdctl_cli(*args, input=b"")`: the real etcdctl, for comparisons.

Each returns a `Result` (exit code, stdout bytes, stderr text); the fixtures in
`conftest.py` run them against the session's `etcd_server` unless given other
`--endpoints`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from aetcd._cli import main


@dataclass(frozen=True)
class Result:
    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode()

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


Runner = Callable[..., Result]


def child_env() -> dict[str, str]:
    # etcdctl reads every ETCDCTL_* variable as a flag (and so does aetcdctl).
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
    env["ETCDCTL_API"] = "3"
    return env


def run_in_process(
    args: Sequence[str], input: bytes = b"", env: dict[str, str] | None = None
) -> Result:
    """`main(args)` with captured streams. From an async test (a running event loop)
    it runs in a thread, since `main` starts an event loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_main(args, input, env or {})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(_run_main, args, input, env or {}).result()


def _run_main(args: Sequence[str], input: bytes, env: dict[str, str]) -> Result:
    stdout = io.BytesIO()
    stderr = io.StringIO()
    stdin = io.TextIOWrapper(io.BytesIO(input), encoding="utf-8")
    text_out = io.TextIOWrapper(stdout, encoding="utf-8", write_through=True)
    with (
        contextlib.redirect_stdout(text_out),
        contextlib.redirect_stderr(stderr),
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setattr(sys, "stdin", stdin)
        for name in [n for n in os.environ if n.startswith("ETCDCTL_")]:
            mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        code = main(list(args))
    return Result(code, stdout.getvalue(), stderr.getvalue())


def run_process(
    cmd: Sequence[str], input: bytes = b"", timeout: float = 30, env: dict[str, str] | None = None
) -> Result:
    proc = subprocess.run(
        list(cmd),
        input=input,
        capture_output=True,
        env={**child_env(), **(env or {})},
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr.decode(errors="replace"))


def aetcdctl_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "aetcd", *args]


def with_endpoints(endpoint: str, args: Sequence[str | int]) -> list[str]:
    words = [str(a) for a in args]
    if any(w.startswith("--endpoints") for w in words):
        return words
    return [f"--endpoints={endpoint}", *words]


class Process:
    """A long-running command (watch, lock, elect) whose output is read as it comes."""

    def __init__(self, cmd: Sequence[str], stdin: bytes | None = None) -> None:
        self.proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(),
        )
        if stdin is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(stdin)
            self.proc.stdin.flush()
        self._buffer = b""

    def read_lines(self, count: int, timeout: float = 15) -> list[bytes]:
        """The next `count` lines of stdout (fewer if the process ends or time is up)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while self._buffer.count(b"\n") < count:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self._buffer += chunk
        *complete, partial = self._buffer.split(b"\n")
        taken, left = complete[:count], complete[count:]
        self._buffer = b"".join(line + b"\n" for line in left) + partial
        return taken

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15) -> Result:
        """Send `sig`, wait for the exit; the remaining output and the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 15) -> Result:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return Result(self.proc.returncode, self._buffer + out, err.decode(errors="replace"))
