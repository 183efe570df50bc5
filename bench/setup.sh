#!/usr/bin/env bash
# Create the bench venvs under .bench/ (idempotent) and generate the grpc.aio stubs.
#
#   PYTHON=python3 bash bench/setup.sh
#
# One venv per peer client (bench/requirements/<name>.txt) plus `tools` (matplotlib,
# py-spy). A venv is rebuilt only when its requirements file changes (stamp file). A
# peer that fails to install does not fail the bench: the failure is recorded in
# .bench/venv-<name>.failed and the driver reports that client as "not installed".
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/.bench"
reqdir="$root/bench/requirements"
python="${PYTHON:-python3}"
mkdir -p "$bench"

build_venv() {
    local name="$1" req="$reqdir/$1.txt" venv="$bench/venv-$1"
    local stamp="$venv/.bench-stamp" log="$bench/venv-$1.log"
    local want
    want="$("$python" -c 'import sys; print(sys.version.split()[0])') $(sha256sum "$req" | cut -c1-16)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    echo "bench: creating .bench/venv-$name ($python, $(basename "$req"))"
    rm -rf "$venv" "$bench/venv-$name.failed"
    if "$python" -m venv "$venv" >"$log" 2>&1 &&
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >>"$log" 2>&1; then
        echo "$want" >"$stamp"
    else
        echo "bench: WARNING: installing $name failed (see .bench/venv-$name.log); it is reported as not installed" >&2
        tail -n 5 "$log" >&2
        cp "$log" "$bench/venv-$name.failed"
    fi
}

for name in aetcd-pypi etcd3aio grpcio tools; do
    build_venv "$name"
done

# Stubs for the raw grpc.aio peer, from our own proto/ (nothing generated is committed).
stubs="$bench/stubs"
if [[ -x "$bench/venv-grpcio/bin/python" && ! -f "$bench/venv-grpcio.failed" ]]; then
    want="$(cat "$reqdir/grpcio.txt" "$root"/proto/*/*.proto | sha256sum | cut -c1-16)"
    if [[ ! -f "$stubs/.bench-stamp" || "$(cat "$stubs/.bench-stamp")" != "$want" ]]; then
        echo "bench: generating grpc.aio stubs into .bench/stubs"
        rm -rf "$stubs" && mkdir -p "$stubs"
        mapfile -t protos < <(cd "$root/proto" && find . -name '*.proto' -type f | sed 's|^\./||' | LC_ALL=C sort)
        if (cd "$root/proto" && "$bench/venv-grpcio/bin/python" -m grpc_tools.protoc -I. \
            --python_out="$stubs" --grpc_python_out="$stubs" "${protos[@]}"); then
            echo "$want" >"$stubs/.bench-stamp"
        else
            echo "bench: WARNING: generating the grpc.aio stubs failed" >&2
            rm -rf "$stubs"
        fi
    fi
fi
exit 0
