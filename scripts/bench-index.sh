#!/usr/bin/env bash
# Index speed, one run, same data: bct's exact FlatIndex vs faiss-cpu IndexFlatIP
# (pip, in a venv this script creates) on the same N x D unit float32 vectors, k=10,
# query batches of 1 and 256; prints QPS, the ratios, the agreement of the results,
# and this machine's sgemm GFLOP/s (2048^3 through OpenBLAS) and memory read bandwidth
# (one thread streaming the vectors) measured in the run.
# Usage: scripts/bench-index.sh [COUNT] [THREADS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-1000000}"
threads="${2:-2}"
seconds="${3:-5}"
source scripts/bench-prelude.sh bct-bench
export OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads"
ours=$("$bin/bct-bench" index --out "$work" --count "$count" --k 10 --batch 256 --seconds "$seconds")
theirs=$("$venv/bin/python" benchmarks/index_faiss.py "$work" 10 256 "$seconds" "$threads")
"$venv/bin/python" - "$ours" "$theirs" <<'PY'
import json, sys
o, f = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"exact inner-product search, {o['count']:,} x {o['dimension']} float32, k={o['k']}, {o['threads']} threads; faiss-cpu {f['faiss']}")
bw = o['read_gbs_by_threads']
print(f"this machine's sgemm (2048^3, OpenBLAS): {o['sgemm_gflops']:.1f} GFLOP/s; memory read (streaming) by threads: " + ", ".join(f"{t}: {v:.1f} GB/s" for t, v in sorted(bw.items())))
gb = o['bytes_per_query'] / 1e9
for name, by in (("bct", o['qps_1_by_threads']), ("faiss", f['qps_1_by_threads'])):
    print(f"batch-1 streams {gb * 1000:.0f} MB per query, {name}: " + ", ".join(
        f"{t} threads {q * gb:.1f} GB/s ({q * gb / bw.get(t, bw[max(bw, key=int)]):.0%} of that read bandwidth)" for t, q in sorted(by.items())))
print(f"{'':14} {'bct':>10} {'faiss':>10} {'bct/faiss':>10}")
print(f"{'QPS batch 1':14} {o['qps_1']:10.1f} {f['qps_1']:10.1f} {o['qps_1'] / f['qps_1']:9.2f}x   (best of threads; bct {o['qps_1_by_threads']}, faiss {f['qps_1_by_threads']})")
print(f"{'QPS batch ' + str(o['batch']):14} {o['qps_batch']:10.1f} {f['qps_batch']:10.1f} {o['qps_batch'] / f['qps_batch']:9.2f}x")
print(f"{'add (s)':14} {o['add_seconds']:10.2f} {f['add_seconds']:10.2f}")
same = sum(len(set(a) & set(b)) for a, b in zip(o["first_results"], f["first_results"]))
print(f"same neighbours for the first 10 queries: {same} of {10 * o['k']}")
PY
