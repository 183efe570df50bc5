"""One etcd server process with its own ports, data directory and log."""

from __future__ import annotations

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._binaries import find_etcd_binary, find_etcdctl_binary
from ._errors import EtcdStartupError, EtcdTestingError
from ._etcdctl import child_env, run_etcdctl

__all__ = ["EtcdConfig", "EtcdMember", "EtcdTLS", "free_ports"]

HOST = "127.0.0.1"
_POLL_INTERVAL = 0.05
_LOG_TAIL_BYTES = 4000


@dataclass(frozen=True)
class EtcdTLS:
    """Client-side TLS for test servers (peer traffic stays plain HTTP).

    `cert_file`/`key_file` are the server's; with `client_cert_auth` etcd demands a
    client certificate signed by `ca_file`, and the helpers (readiness probe,
    `etcdctl`) present `client_cert_file`/`client_key_file`.
    """

    ca_file: str
    cert_file: str
    key_file: str
    client_cert_auth: bool = False
    client_cert_file: str | None = None
    client_key_file: str | None = None

    def server_args(self) -> list[str]:
        """The etcd flags that serve client traffic over TLS."""
        args = [f"--cert-file={self.cert_file}", f"--key-file={self.key_file}"]
        if self.client_cert_auth:
            # etcd demands client certificates as soon as --trusted-ca-file is given,
            # with or without --client-cert-auth, so it only goes with the latter.
            args += [f"--trusted-ca-file={self.ca_file}", "--client-cert-auth"]
        return args

    def etcdctl_args(self) -> list[str]:
        """The etcdctl flags that talk to such a server."""
        args = [f"--cacert={self.ca_file}"]
        if self.client_cert_file and self.client_key_file:
            args += [f"--cert={self.client_cert_file}", f"--key={self.client_key_file}"]
        return args

    def probe_context(self) -> ssl.SSLContext:
        """An SSL context for the readiness probe.

        It does not verify the server: the probe only asks "is it up?", and a
        certificate without a 127.0.0.1 SAN must not turn into a startup timeout.
        """
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if self.client_cert_file and self.client_key_file:
            context.load_cert_chain(self.client_cert_file, self.client_key_file)
        return context


@dataclass(frozen=True)
class EtcdConfig:
    """How the members of a test cluster are run (shared by all of them).

    The defaults favour fast elections and quiet logs. `extra_args` are appended to
    every member's command line (e.g. `("--auth-token", "simple")`).
    """

    binary: str | None = None
    etcdctl_binary: str | None = None
    extra_args: tuple[str, ...] = ()
    heartbeat_interval_ms: int = 50
    election_timeout_ms: int = 500
    log_level: str = "error"
    tls: EtcdTLS | None = None
    start_timeout: float = 30.0

    @property
    def client_scheme(self) -> str:
        """`https` when `tls` is set, else `http`."""
        return "https" if self.tls else "http"


def free_ports(count: int) -> list[int]:
    """Return `count` distinct loopback TCP ports that were free a moment ago."""
    sockets: list[socket.socket] = []
    try:
        # Holding all of them bound at once guarantees they are distinct.
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# Members whose temp directory still exists. Killed and removed at interpreter exit so
# that a crashed or interrupted test run leaves no etcd processes behind.
_LIVE: set[EtcdMember] = set()


@atexit.register
def _close_leftovers() -> None:
    for member in list(_LIVE):
        member.close()


class EtcdMember:
    """One etcd server process.

    Usually created by `EtcdCluster`. The member owns a temp directory holding its
    data dir and `etcd.log`; `stop()`/`kill()` keep it (so `restart()` resumes with
    the same state), `close()` deletes it.
    """

    def __init__(
        self,
        name: str,
        *,
        client_port: int,
        peer_port: int,
        initial_cluster: str | Callable[[], str],
        initial_cluster_state: str = "new",
        cluster_token: str = "aetcd-test",
        config: EtcdConfig | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self._name = name
        self._client_port = client_port
        self._peer_port = peer_port
        self._initial_cluster = initial_cluster
        self._initial_cluster_state = initial_cluster_state
        self._cluster_token = cluster_token
        self._config = config or EtcdConfig()
        self._extra_args = tuple(extra_args)
        self._binary = self._config.binary or find_etcd_binary()
        self._etcdctl_binary = self._config.etcdctl_binary
        self._dir = Path(tempfile.mkdtemp(prefix=f"aetcd-{name}-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._log_offset = 0
        self._member_id: int | None = None
        self._probe_opener = _make_opener(self._config.tls)
        _LIVE.add(self)

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<EtcdMember {self._name} {self.client_url} {state}>"

    # -- identity ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """The member's `--name`."""
        return self._name

    @property
    def config(self) -> EtcdConfig:
        """The configuration this member runs with."""
        return self._config

    @property
    def client_port(self) -> int:
        """The loopback port serving clients."""
        return self._client_port

    @property
    def peer_port(self) -> int:
        """The loopback port serving raft peers."""
        return self._peer_port

    @property
    def client_url(self) -> str:
        """`http://127.0.0.1:PORT` (`https` with TLS)."""
        return f"{self._config.client_scheme}://{HOST}:{self._client_port}"

    @property
    def endpoint(self) -> str:
        """Same as `client_url`: what a client is pointed at."""
        return self.client_url

    @property
    def address(self) -> tuple[str, int]:
        """`(host, client_port)`, e.g. as a `TcpProxy` target."""
        return (HOST, self._client_port)

    @property
    def peer_url(self) -> str:
        """`http://127.0.0.1:PEER_PORT`."""
        return f"http://{HOST}:{self._peer_port}"

    @property
    def data_dir(self) -> Path:
        """The member's `--data-dir`."""
        return self._dir / "data"

    @property
    def log_path(self) -> Path:
        """File receiving the process's stdout and stderr (appended across restarts)."""
        return self._dir / "etcd.log"

    @property
    def pid(self) -> int | None:
        """The process id while running, else None."""
        return self._proc.pid if self.is_running and self._proc else None

    @property
    def is_running(self) -> bool:
        """Whether the process exists (a paused process counts as running)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def is_paused(self) -> bool:
        """Whether the process is stopped with SIGSTOP."""
        return self._paused and self.is_running

    @property
    def member_id(self) -> int:
        """The raft member id (asked from the running member once, then cached)."""
        if self._member_id is None:
            status = self.etcdctl("endpoint", "status")
            self._member_id = int(status[0]["Status"]["header"]["member_id"])
        return self._member_id

    # -- lifecycle --------------------------------------------------------------

    def command(self) -> list[str]:
        """The etcd command line this member is started with."""
        cfg = self._config
        initial_cluster = self._initial_cluster
        if callable(initial_cluster):
            initial_cluster = self._initial_cluster = initial_cluster()
        args = [
            self._binary,
            f"--name={self._name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={initial_cluster}",
            f"--initial-cluster-state={self._initial_cluster_state}",
            f"--initial-cluster-token={self._cluster_token}",
            f"--heartbeat-interval={cfg.heartbeat_interval_ms}",
            f"--election-timeout={cfg.election_timeout_ms}",
            # 3.4 defaults to the deprecated capnslog logger, which ignores --log-level.
            "--logger=zap",
            f"--log-level={cfg.log_level}",
            "--auto-compaction-retention=0",
        ]
        if cfg.tls:
            args += cfg.tls.server_args()
        return [*args, *cfg.extra_args, *self._extra_args]

    def start(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Start the process; with `wait`, block until `/health` reports healthy.

        Raises `EtcdStartupError` (with the log tail) if it exits or stays unhealthy.
        """
        if self.is_running:
            raise EtcdTestingError(f"{self._name} is already running")
        if not self._dir.exists():
            raise EtcdTestingError(f"{self._name} was closed")
        cmd = self.command()
        with open(self.log_path, "ab") as log:
            log.write(f"==== {time.strftime('%H:%M:%S')} {' '.join(cmd)}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            # The child keeps its own copy of the descriptor; ours closes right away.
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(),
            )
        self._paused = False
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the member answers `GET /health` with `"health": "true"`."""
        deadline = time.monotonic() + (self._config.start_timeout if timeout is None else timeout)
        while True:
            self.check_alive()
            if self.is_healthy():
                return
            if time.monotonic() >= deadline:
                raise self._startup_error(f"{self._name} did not become healthy in time")
            time.sleep(_POLL_INTERVAL)

    def check_alive(self) -> None:
        """Raise `EtcdStartupError` with the log tail if the process has exited."""
        if self._proc is None:
            raise EtcdTestingError(f"{self._name} was never started")
        code = self._proc.poll()
        if code is not None:
            raise self._startup_error(f"{self._name} exited with status {code}")

    def is_healthy(self) -> bool:
        """One `GET /health` probe; False on any error."""
        url = f"{self.client_url}/health"
        try:
            with self._probe_opener.open(url, timeout=1.0) as response:
                body = json.loads(response.read())
        except (OSError, ValueError, http.client.HTTPException):
            # An unhealthy etcd answers 503, which urllib raises as HTTPError (an OSError).
            return False
        return isinstance(body, dict) and body.get("health") == "true"

    def kill(self) -> None:
        """SIGKILL the process and reap it (no-op when not running)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._reap(None)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process and wait (SIGKILL after `timeout`); keeps the data dir."""
        if self._proc is not None and self._proc.poll() is None:
            if self._paused:
                self._proc.send_signal(signal.SIGCONT)
            self._proc.terminate()
        self._reap(timeout)

    def restart(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Stop if running, then start again with the same name, ports and data dir."""
        self.stop()
        self.start(wait=wait, timeout=timeout)

    def pause(self) -> None:
        """Freeze the process with SIGSTOP (its sockets stay open but nothing answers)."""
        self._signal(signal.SIGSTOP)
        self._paused = True
        assert self._proc is not None
        _wait_stopped(self._proc.pid)

    def resume(self) -> None:
        """Undo `pause()` with SIGCONT."""
        self._signal(signal.SIGCONT)
        self._paused = False

    def close(self) -> None:
        """Kill the process and delete the temp directory (data dir and log)."""
        self.kill()
        shutil.rmtree(self._dir, ignore_errors=True)
        _LIVE.discard(self)

    def log_tail(self, limit: int = _LOG_TAIL_BYTES) -> str:
        """The last `limit` bytes of the log, decoded."""
        return self._read_log(limit, 0)

    def _read_log(self, limit: int, start: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(start, log.tell() - limit))
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    # -- etcdctl ----------------------------------------------------------------

    def etcdctl(
        self,
        *args: str,
        json_output: bool = True,
        endpoints: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
        input: str | bytes | None = None,
        timeout: float = 60.0,
    ) -> Any:
        """Run `etcdctl` (API v3) against this member; return parsed JSON or stdout.

        Raises `EtcdctlError` with stderr on a non-zero exit.
        """
        if self._etcdctl_binary is None:
            self._etcdctl_binary = find_etcdctl_binary()
        return run_etcdctl(
            self._etcdctl_binary,
            args,
            endpoints=endpoints or [self.client_url],
            json_output=json_output,
            tls_args=self._config.tls.etcdctl_args() if self._config.tls else (),
            env=env,
            input=input,
            timeout=timeout,
        )

    # -- internals --------------------------------------------------------------

    def _signal(self, signum: int) -> None:
        if self._proc is None or self._proc.poll() is not None:
            raise EtcdTestingError(f"{self._name} is not running")
        self._proc.send_signal(signum)

    def _reap(self, timeout: float | None) -> None:
        if self._proc is None:
            return
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._paused = False

    def _startup_error(self, message: str) -> EtcdStartupError:
        tail = self._read_log(_LOG_TAIL_BYTES, self._log_offset)
        # When the probe timed out the process may still run: don't leave it behind.
        self.kill()
        return EtcdStartupError(
            f"{message} (log: {self.log_path})\n--- log tail ---\n{tail}",
            port_conflict="address already in use" in tail,
        )


def _make_opener(tls: EtcdTLS | None) -> urllib.request.OpenerDirector:
    # No ProxyHandler entries: an HTTP(S)_PROXY in the environment must not capture
    # the probes to 127.0.0.1.
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if tls:
        handlers.append(urllib.request.HTTPSHandler(context=tls.probe_context()))
    return urllib.request.build_opener(*handlers)


def _wait_stopped(pid: int, timeout: float = 2.0) -> None:
    # SIGSTOP reaches the threads of a Go process one by one; until all of them are
    # stopped a request can still be answered, so "paused" would not yet be true.
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.is_dir():
        return  # not Linux: best effort
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = [
                (task / "stat").read_text().rpartition(")")[2].split()[0]
                for task in tasks.iterdir()
            ]
        except (OSError, IndexError):
            states = []  # a thread vanished while we looked: look again
        if states and all(state in "Tt" for state in states):
            return
        time.sleep(0.001)
