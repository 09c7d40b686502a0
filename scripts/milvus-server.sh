#!/usr/bin/env bash
# Sourced by the test command and the store benchmark: the real Milvus standalone
# server (PyPI's `milvus` 2.3.5, Apache-2.0, etcd built in) in the virtual environment
# `.venv-milvus-server`, never a dependency of the product. Exports
# BCT_MILVUS_SERVER_PYTHON (the venv's Python, which scripts/milvus-server.py runs on)
# and defines:
#   start_milvus_server DIR   starts a server on DIR in the background, waits until it
#                             is healthy, exports BCT_MILVUS_SERVER=127.0.0.1:PORT and
#                             BCT_MILVUS_SERVER_PID
#   stop_milvus_server        SIGTERM, waits for it to exit (SIGKILL after 30 s)
# Only one server runs per machine (etcd's peer port 2380 is fixed).
if ! /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
milvus_server_venv=.venv-milvus-server
[ -x "$milvus_server_venv/bin/python" ] || /usr/bin/python3 -m venv "$milvus_server_venv"
# pymilvus 2.3.7 with setuptools < 70 and marshmallow < 4: newer ones break the package's imports.
"$milvus_server_venv/bin/python" -c 'import milvus, pymilvus' 2>/dev/null \
  || "$milvus_server_venv/bin/pip" install -q milvus==2.3.5 pymilvus==2.3.7 "setuptools<70" "marshmallow<4"
export BCT_MILVUS_SERVER_PYTHON="$PWD/$milvus_server_venv/bin/python"

start_milvus_server() {
  local dir=$1 launch line port metrics
  mkdir -p "$dir"
  launch="$dir/launch.log"
  "$BCT_MILVUS_SERVER_PYTHON" scripts/milvus-server.py --data "$dir" >"$launch" 2>&1 &
  export BCT_MILVUS_SERVER_PID=$!
  for _ in $(seq 1 1200); do
    line=$(head -n 1 "$launch" 2>/dev/null || true)
    if [[ $line == \{* ]]; then
      port=$("$BCT_MILVUS_SERVER_PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])["port"])' "$line")
      metrics=$("$BCT_MILVUS_SERVER_PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])["metrics_port"])' "$line")
      if "$BCT_MILVUS_SERVER_PYTHON" -c 'import sys, urllib.request; sys.exit(0 if b"OK" in urllib.request.urlopen(sys.argv[1], timeout=2).read() else 1)' \
        "http://127.0.0.1:$metrics/healthz" 2>/dev/null; then
        export BCT_MILVUS_SERVER="127.0.0.1:$port"
        echo "real Milvus 2.3.5 serving at $BCT_MILVUS_SERVER (data $dir, pid $BCT_MILVUS_SERVER_PID)"
        return 0
      fi
    fi
    kill -0 "$BCT_MILVUS_SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "the real Milvus server did not become healthy; its logs:" >&2
  tail -n 30 "$launch" "$dir"/logs/*.log >&2 || true
  stop_milvus_server
  return 1
}

stop_milvus_server() {
  [ -n "${BCT_MILVUS_SERVER_PID:-}" ] || return 0
  kill "$BCT_MILVUS_SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$BCT_MILVUS_SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$BCT_MILVUS_SERVER_PID" 2>/dev/null || true
  wait "$BCT_MILVUS_SERVER_PID" 2>/dev/null || true
  unset BCT_MILVUS_SERVER_PID BCT_MILVUS_SERVER
}
