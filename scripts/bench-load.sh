#!/usr/bin/env bash
# Load, overload and graceful shutdown on loopback (release build), one run:
#   - search RPCs by embedding at 100,000 documents, 1 and 32 concurrent clients
#   - embed RPCs (one image), 1 and 32 clients; upserts (fsync=always), 8 clients
#   - overload: an encoder with a small queue under 32 clients of 64-image batches:
#     callers must get RESOURCE_EXHAUSTED quickly, not unbounded latency
#   - SIGTERM to the retrieval service under 32-client search load: exit status and time
# Prints QPS, p50/p95/p99 latency, errors, and resident memory (peak, growth over the
# second half of the run: flat memory at steady load means no leak).
# Usage: scripts/bench-load.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
source scripts/service-bench.sh

"$bin/bct" train --arch mlp --epochs 1 --fraction 0.05 --out "$work/models/v1" >/dev/null 2>&1
"$bin/bct" train --arch cnn --epochs 1 --fraction 0.05 --old "$work/models/v1" --out "$work/models/v2" >/dev/null 2>&1

start bct-encoder "$work/encoder.out" --models "$work/models" --host 127.0.0.1 --port 0 --no-metrics
enc_pid=$started_pid; enc_port=$started_port
start bct-retrieval "$work/retrieval.out" --encoder "127.0.0.1:$enc_port" --data-dir "$work/data" --host 127.0.0.1 --port 0 --no-metrics
ret_pid=$started_pid; ret_port=$started_port
load() { "$bin/bct-bench" load --encoder "127.0.0.1:$enc_port" --retrieval "127.0.0.1:$ret_port" --pids "$enc_pid,$ret_pid" --seconds "$seconds" "$@"; }

results="$work/results.jsonl"
load --workload search --clients 1 --preload 100000 >>"$results"
load --workload search --clients 32 >>"$results"
load --workload embed --clients 1 >>"$results"
load --workload embed --clients 32 >>"$results"
load --workload upsert --clients 8 >>"$results"

start bct-encoder "$work/small.out" --models "$work/models" --host 127.0.0.1 --port 0 --no-metrics --max-batch 64 --max-queue 128
small_pid=$started_pid; small_port=$started_port
"$bin/bct-bench" load --encoder "127.0.0.1:$small_port" --retrieval "127.0.0.1:$ret_port" --pids "$small_pid" \
  --workload embed-batch --rows 64 --clients 32 --seconds "$seconds" >>"$results"

# Encoder outage under load: raw upserts (which need the encoder) from 8 clients;
# kill -9 the encoder after 2 s, start it again on the same port after 4 s.
outage_before=$(BCT_RETRIEVAL="127.0.0.1:$ret_port" "$bin/bct" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])')
"$bin/bct-bench" load --encoder "127.0.0.1:$enc_port" --retrieval "127.0.0.1:$ret_port" --workload upsert-raw --clients 8 --seconds 8 >"$work/outage.json" &
outage_load=$!
sleep 2
kill -9 "$enc_pid"
sleep 2
start bct-encoder "$work/encoder-again.out" --models "$work/models" --host 127.0.0.1 --port "$enc_port" --no-metrics
enc_pid=$started_pid
wait "$outage_load"
outage_after=$(BCT_RETRIEVAL="127.0.0.1:$ret_port" "$bin/bct" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])')
retrieval_alive=$(kill -0 "$ret_pid" 2>/dev/null && echo yes || echo no)

# Graceful shutdown under load.
"$bin/bct-bench" load --encoder "127.0.0.1:$enc_port" --retrieval "127.0.0.1:$ret_port" --workload search --clients 32 --seconds 6 >"$work/shutdown-load.json" &
load_pid=$!
sleep 3
term_start=$(date +%s.%N)
kill -TERM "$ret_pid"
set +e
wait "$ret_pid"; ret_status=$?
set -e
term_seconds=$(python3 -c "import time; print(f'{time.time() - $term_start:.2f}')")
wait "$load_pid" || true
snapshots=$(ls "$work/data" | grep -c '^snapshot-' || true)
start bct-retrieval "$work/retrieval2.out" --encoder "127.0.0.1:$enc_port" --data-dir "$work/data" --host 127.0.0.1 --port 0 --no-metrics
BCT_RETRIEVAL="127.0.0.1:$started_port" "$bin/bct" stats --json >"$work/after.json"

python3 - "$results" "$ret_status" "$term_seconds" "$snapshots" "$work/after.json" "$work/retrieval.out.log" \
  "$work/outage.json" "$outage_before" "$outage_after" "$retrieval_alive" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
names = ["search, 100k docs", "search, 100k docs", "embed (1 image)", "embed (1 image)", "upsert (fsync always)", "overload: embed 64 x 32 clients, queue 128"]
print(f"{'workload':44} {'clients':>7} {'QPS':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}  memory (peak MiB / growth 2nd half)")
for name, r in zip(names, rows):
    mem = "; ".join(f"{m['peak_mib']:.0f} / {m['second_half_growth_mib']:+.1f}" for m in r["memory"].values())
    errors = f"{r['errors']}" + (f" {r['error_codes']}" if r["errors"] else "")
    print(f"{name:44} {r['clients']:7d} {r['qps']:9.0f} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['p99_ms']:8.2f} {errors:>7}  {mem}")
over = rows[5]
print(f"overload: {over['errors']} calls refused, p99 latency of a refusal {over['error_p99_ms']:.2f} ms; accepted p99 {over['p99_ms']:.1f} ms")
after = json.load(open(sys.argv[5]))
log = open(sys.argv[6]).read()
o = json.load(open(sys.argv[7]))
print(f"encoder killed for 2 s under 8-client raw upserts: {o['ok']} acknowledged, errors {o['error_codes']}, "
      f"retrieval alive: {sys.argv[10]}, documents added {int(sys.argv[9]) - int(sys.argv[8])} "
      f"(= acknowledged: {int(sys.argv[9]) - int(sys.argv[8]) == o['ok']})")
print(f"SIGTERM under 32-client load: exit status {sys.argv[2]} after {sys.argv[3]} s; final snapshot written: {'snapshot written' in log}; "
      f"restart restored {after['documents']} documents")
PY
