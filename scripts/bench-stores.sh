#!/usr/bin/env bash
# The two stores of bct-retrieval through the service, one run on the same machine:
# --store memory (in process; --index hnsw, the same algorithm Milvus runs, and flat,
# exact) against --store milvus:// on the real Milvus server (2.3.5 standalone, from
# scripts/milvus-server.sh) and on a local milvus-lite. Each service gets COUNT
# documents by embedding (random unit 128-d vectors, upserts of 1,000; the memory
# store's HNSW is built as they arrive, Milvus builds its index after flushes, so the
# Milvus side then waits until Milvus reports every row indexed, and that wait is
# printed), then: search RPCs (k=10, one query) from 1 and 8 clients, and upserts of
# one document from 8 clients. Prints throughput and p50/p99 latency per store.
# Release build.
# Usage: scripts/bench-stores.sh [COUNT] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-100000}"
seconds="${2:-10}"
source scripts/milvus-venv.sh
source scripts/milvus-server.sh
source scripts/service-bench.sh

"$bin/bct" train --arch mlp --epochs 1 --fraction 0.05 --out "$work/models/v1" >/dev/null 2>&1

milvus_port=$("$milvus_venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/milvus"
"$BCT_MILVUS_LITE" server --data-dir "$work/milvus" --host 127.0.0.1 --port "$milvus_port" >"$work/milvus.log" 2>&1 &
pids+=("$!")
for _ in $(seq 300); do grep -q "listening on" "$work/milvus.log" && break; sleep 0.1; done
trap 'stop_milvus_server; cleanup' EXIT
start_milvus_server "$work/milvus-server" >/dev/null

start bct-encoder "$work/encoder.out" --models "$work/models" --host 127.0.0.1 --port 0 --no-metrics
enc_port=$started_port
results="$work/results.jsonl"
for store in "memory hnsw" "memory flat" "milvus://$BCT_MILVUS_SERVER/bench milvus-2.3.5" "milvus://127.0.0.1:$milvus_port/bench milvus-lite"; do
  set -- $store
  if [ "$1" = memory ]; then args=(--store memory --index "$2" --fsync always); name="memory ($2)"; else args=(--store "$1"); name="$2"; fi
  start bct-retrieval "$work/retrieval-$RANDOM.out" --encoder "127.0.0.1:$enc_port" --data-dir "$(mktemp -d -p "$work")" \
    --host 127.0.0.1 --port 0 --no-metrics "${args[@]}"
  load() { "$bin/bct-bench" load --encoder "127.0.0.1:$enc_port" --retrieval "127.0.0.1:$started_port" --pids "$started_pid" --seconds "$seconds" "$@"; }
  load --workload search --clients 1 --seconds 0 --preload "$count" \
    | python3 -c "import json,sys; r=json.load(sys.stdin); print(json.dumps({'store': '$name', 'preload': r['preload']}))" >>"$results"
  if [ "$name" = milvus-2.3.5 ]; then
    "$BCT_MILVUS_SERVER_PYTHON" - "$BCT_MILVUS_SERVER" >>"$results" <<'PY'
import json, sys, time
from pymilvus import connections, utility
host, port = sys.argv[1].split(":")
connections.connect(host=host, port=port)
start = time.time()
name = next(c for c in utility.list_collections() if c.startswith("bench_v_"))
utility.flush_all() if hasattr(utility, "flush_all") else None
while True:
    progress = utility.index_building_progress(name, index_name="")
    if progress.get("pending_index_rows", 0) == 0 and progress.get("indexed_rows", 0) >= progress.get("total_rows", 1):
        break
    time.sleep(0.2)
print(json.dumps({"store": "milvus-2.3.5", "index_wait_seconds": time.time() - start, "indexed_rows": progress.get("indexed_rows")}))
PY
  fi
  if [ "$name" = milvus-lite ]; then
    "$milvus_venv/bin/python" - "$milvus_port" >>"$results" <<'PY'
import json, sys, time
from pymilvus import MilvusClient
client = MilvusClient(uri=f"http://127.0.0.1:{sys.argv[1]}")
start = time.time()
name = next(c for c in client.list_collections() if c.startswith("bench_v_"))
while True:
    index = client.describe_index(name, "embedding")
    if index.get("pending_index_rows", 1) == 0 and index.get("indexed_rows", 0) >= index.get("total_rows", 1):
        break
    time.sleep(0.2)
print(json.dumps({"store": "milvus-lite", "index_wait_seconds": time.time() - start, "indexed_rows": index.get("indexed_rows")}))
PY
  fi
  for run in "search 1" "search 8" "upsert 8"; do
    set -- $run
    load --workload "$1" --clients "$2" | python3 -c "import json,sys; r=json.load(sys.stdin); r['store']='$name'; print(json.dumps(r))" >>"$results"
  done
  kill -TERM "$started_pid"; wait "$started_pid" || true
done

python3 - "$results" "$count" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
count = int(sys.argv[2])
print(f"bct-retrieval stores, {count:,} documents (random unit 128-d), loopback gRPC, k=10")
print(f"{'store':14} {'what':40} {'per s':>9} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}")
for r in rows:
    if "preload" in r:
        p = r["preload"]
        print(f"{r['store']:14} {'upsert %d documents, batches of 1,000' % p['documents']:40} {p['documents_per_second']:9.0f} {p['batch_p50_ms']:9.1f} {p['batch_p99_ms']:9.1f} {0:7d}")
        continue
    if "index_wait_seconds" in r:
        print(f"{r['store']:14} then waited {r['index_wait_seconds']:.1f} s until Milvus reported {r['indexed_rows']} rows indexed")
        continue
    what = {"search": "search, 1 query", "upsert": "upsert, 1 document"}[r["workload"]] + f", {r['clients']} client{'s' if r['clients'] > 1 else ''}"
    print(f"{r['store']:14} {what:40} {r['qps']:9.0f} {r['p50_ms']:9.2f} {r['p99_ms']:9.2f} {r['errors']:7d}")
PY
