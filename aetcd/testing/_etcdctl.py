"""Running the real `etcdctl` against test servers."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import EtcdctlError

__all__ = ["child_env", "run_etcdctl"]

# etcd and etcdctl read every `ETCD_*` / `ETCDCTL_*` variable as a flag. A developer's
# shell may export ETCDCTL_ENDPOINTS or ETCD_DATA_DIR for a real cluster (and we use
# ETCD_BINARY ourselves), so none of them may leak into the children.
_KEEP = frozenset({"ETCD_UNSUPPORTED_ARCH"})


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for an etcd/etcdctl child: ours minus flag-like variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in _KEEP or not key.startswith("ETCD")
    }
    env["ETCDCTL_API"] = "3"
    if extra:
        env.update(extra)
    return env


def run_etcdctl(
    binary: str,
    args: Sequence[str],
    *,
    endpoints: Sequence[str],
    json_output: bool = True,
    tls_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    input: str | bytes | None = None,
    timeout: float = 60.0,
) -> Any:
    """Run `etcdctl --endpoints=... [-w json] *args`; return parsed JSON or stdout text."""
    cmd = [binary, f"--endpoints={','.join(endpoints)}", *tls_args]
    if json_output:
        cmd += ["-w", "json"]
    cmd += list(args)
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run(
        cmd,
        input=data,
        stdin=None if data is not None else subprocess.DEVNULL,
        capture_output=True,
        env=child_env(env),
        timeout=timeout,
        check=False,
    )
    stdout = proc.stdout.decode(errors="replace")
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise EtcdctlError(cmd, proc.returncode, stdout, stderr)
    if not json_output:
        return stdout
    text = stdout.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # Some commands (e.g. `watch`, `member add`) print several JSON documents or
        # plain text even with `-w json`; hand back what they printed.
        decoder = json.JSONDecoder()
        docs: list[Any] = []
        pos = 0
        try:
            while pos < len(text):
                doc, pos = decoder.raw_decode(text, pos)
                docs.append(doc)
                while pos < len(text) and text[pos].isspace():
                    pos += 1
        except json.JSONDecodeError:
            return stdout
        return docs
