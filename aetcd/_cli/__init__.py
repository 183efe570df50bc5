"""`aetcdctl`: etcdctl's commands, flags and output formats, on aetcd's public API.

    aetcdctl --endpoints=127.0.0.1:2379 put greeting hello
    aetcdctl get greeting -w json
    python -m aetcd lease grant 60

`main(argv)` runs one command line and returns its exit code (the console script
and `python -m aetcd` call it). One module per command group (`_kv`, `_txn`,
`_watch`, `_lease`, `_cluster`, `_maintenance`, `_auth`, `_concurrency`); output
formats live in `_output`, global flags in `_context`, parsing rules in `_parser`.
"""

from ._app import main

__all__ = ["main"]
