#!/usr/bin/env bash
# Exact search from compressed vectors, one run per data set, same vectors: bct's flat,
# flat-sq8 and flat-f16 indexes (a compressed scan, its best 32k (SQ8) or 8k (f16)
# candidates re-ranked exactly) against faiss-cpu's IndexFlatIP and IndexScalarQuantizer
# (QT_8bit, QT_fp16) under IndexRefineFlat with the same k_factors. Two data sets:
# COUNT random unit 128-d vectors (default 1M), and the Fashion-MNIST embeddings of a
# small trained model grown to COUNT rows (see scripts/bench-ann.sh). Prints, per index: bytes each search scans
# per vector, recall@10 against exact, batch-1 QPS at 1 and THREADS cores, the best
# against float32 flat and against Faiss's best for the same encoding.
# Usage: scripts/bench-quantized.sh [COUNT] [THREADS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-1000000}"
threads="${2:-2}"
seconds="${3:-3}"
source scripts/bench-prelude.sh bct bct-bench
export OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads"
random_vectors_and_model "$count"
run() { # name base queries [extra]
  local name="$1" base="$2" queries="$3"; shift 3
  ours=$("$bin/bct-bench" quantized --base "$base" --queries "$queries" --k 10 --seconds "$seconds" "$@")
  factors=$(echo "$ours" | "$venv/bin/python" -c 'import json, sys; print(" ".join(map(str, json.load(sys.stdin)["rerank_factors"])))')
  theirs=$("$venv/bin/python" benchmarks/quantized_faiss.py "$base" "$queries" 10 "$seconds" "$threads" $factors)
  "$venv/bin/python" - "$name" "$ours" "$theirs" <<'PY'
import json, sys
name, o, f = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"\n== {name}: {o['count']:,} x {o['dimension']}, k={o['k']}, re-rank factors (sq8, f16) {o['rerank_factors']}; faiss-cpu {f['faiss']}")
print(f"{'index':>9} {'scanned B':>9} {'recall bct':>10} {'recall faiss':>12} {'QPS bct (1 / all cores)':>24} {'QPS faiss (1 / all)':>20} {'best bct/faiss':>14} {'bct vs flat':>11}")
theirs = {r["index"]: r for r in f["results"]}
flat_best = max(o["results"][0]["qps_1_by_threads"].values())
for r in o["results"]:
    t = theirs[r["index"]]
    ours_q, their_q = r["qps_1_by_threads"], t["qps_1_by_threads"]
    best, their_best = max(ours_q.values()), max(their_q.values())
    print(f"{r['index']:>9} {r['scanned_bytes_per_vector']:9d} {r['recall']:10.4f} {t['recall']:12.4f} "
          f"{' / '.join(f'{v:.0f}' for _, v in sorted(ours_q.items())):>24} {' / '.join(f'{v:.0f}' for _, v in sorted(their_q.items())):>20} "
          f"{best / their_best:13.2f}x {best / flat_best:10.2f}x")
ok = all(r["recall"] >= 0.99 for r in o["results"]) and abs(o["results"][0]["recall"] - 1) < 1e-9
print("agreement (bct recall >= 0.99 everywhere, flat exact):", "ok" if ok else "FAILED")
PY
}
run "random unit vectors" "$work/random.npy" "$work/random-queries.npy"
run "Fashion-MNIST embeddings grown to $count" "$work/fm-base.npy" "$work/fm-queries.npy" \
  --embed-model "$work/model" --augment-to "$count"
