#!/usr/bin/env bash
# What keeping documents in Milvus costs, one run: COUNT Fashion-MNIST embeddings
# (train images and shifted/rescaled/noisy copies, embedded by a small trained mlp;
# test-image queries), each with its 784-value raw input, upserted into a local
# milvus-lite server through bct's Milvus client, against the same documents in bct's
# in-process HNSW index. Prints upsert throughput, flush time, and batch-1 search QPS,
# p50/p99 latency and recall@10 (the in-process side at several ef, to read at equal
# recall). BENCH_CONSISTENCY (strong, session, bounded, eventually; default strong) sets
# what Milvus searches wait for. Release build. Usage: scripts/bench-milvus.sh [COUNT] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-100000}"
seconds="${2:-5}"
scripts/bootstrap.sh
source scripts/milvus-venv.sh
for product in bct bct-bench; do swift build -c release --product "$product" 2>&1 | tail -1; done
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d)"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin/bct" train --arch mlp --epochs 2 --fraction 0.2 --out "$work/model" >/dev/null 2>&1
"$bin/bct-bench" ann --embed-model "$work/model" --augment-to "$count" --base "$work/base.npy" --queries "$work/queries.npy" \
  --ef 64 --seconds 0.1 --max-queries 10 >/dev/null
port=$("$milvus_venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/milvus"
"$BCT_MILVUS_LITE" server --data-dir "$work/milvus" --host 127.0.0.1 --port "$port" >"$work/milvus.log" 2>&1 &
server_pid=$!
for _ in $(seq 300); do grep -q "listening on" "$work/milvus.log" && break; sleep 0.1; done
result=$("$bin/bct-bench" milvus --milvus "127.0.0.1:$port" --base "$work/base.npy" --queries "$work/queries.npy" \
  --count "$count" --seconds "$seconds" --consistency "${BENCH_CONSISTENCY:-strong}")
"$milvus_venv/bin/python" - "$result" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
m, v = r["memory"], r["milvus"]
print(f"{r['count']} documents x {r['dimension']}-d embeddings + {r['input_size']}-value raw inputs; "
      f"{r['milvus_version']} on loopback; batches of {r['batch']}; k={r['k']}")
print(f"writes   in-process HNSW add {m['adds_per_second']:,.0f}/s | Milvus upsert {v['upserts_per_second']:,.0f}/s "
      f"(batch p50 {v['upsert_batch_p50_ms']:.1f} ms, p99 {v['upsert_batch_p99_ms']:.1f} ms), flush {v['flush_seconds']:.1f} s, "
      f"index built {v['index_wait_seconds']:.1f} s later ({v['indexed']:,} rows), stored {v['stored']:,}")
print(f"{'search (batch 1)':28} {'QPS':>8} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>10}")
for name, s in sorted(m["search"].items(), key=lambda kv: int(kv[0][2:])):
    print(f"{'in-process HNSW ' + name:28} {s['qps']:8,.0f} {s['p50_ms']:8.3f} {s['p99_ms']:8.3f} {s['recall']:10.3f}")
s = v["search"]
print(f"{'Milvus HNSW ef' + str(r['ef']):28} {s['qps']:8,.0f} {s['p50_ms']:8.3f} {s['p99_ms']:8.3f} {s['recall']:10.3f}")
PY
