#!/usr/bin/env bash
# Approximate search, one run, same vectors: bct's HNSWIndex (its own graph) vs faiss-cpu
# IndexHNSWFlat with the same M and efConstruction (pip, in the bench venv), inner
# product, k=10. Three data sets: random unit vectors (COUNT x 128, default 1M; uniform
# on the sphere, the hardest case for any graph index: recall stays low at every ef),
# the embeddings of Fashion-MNIST (train = base, test = queries) by a small trained
# model, and a COUNT-row catalogue of such embeddings (the train images and shifted,
# rescaled, noisy copies of them; test queries), real-embedding structure at 1M.
# Prints build time and memory per vector, then recall@10 (against exact ground truth,
# checked to agree between the two sides) and batch-1 QPS per efSearch, and QPS at
# equal recall (interpolated). Usage: scripts/bench-ann.sh [COUNT] [THREADS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-1000000}"
threads="${2:-2}"
seconds="${3:-2}"
efs="${BENCH_EFS:-16,32,64,128,256,512,1024,2048}"
source scripts/bench-prelude.sh bct bct-bench
export OMP_NUM_THREADS="$threads"
random_vectors_and_model "$count"
run() { # name base queries [extra]
  local name="$1" base="$2" queries="$3"; shift 3
  ours=$("$bin/bct-bench" ann --base "$base" --queries "$queries" --m 16 --ef-construction 200 --ef "$efs" --k 10 --seconds "$seconds" "$@")
  if [ ! -s "$queries" ]; then echo "no queries for $name" >&2; exit 1; fi
  "$venv/bin/python" - "$work/qsub.npy" "$queries" <<'PY'
import sys, numpy as np
np.save(sys.argv[1], np.load(sys.argv[2])[:1000])
PY
  theirs=$("$venv/bin/python" benchmarks/ann_faiss.py "$base" "$work/qsub.npy" 16 200 "$efs" 10 "$seconds" "$threads")
  "$venv/bin/python" - "$name" "$ours" "$theirs" <<'PY'
import json, sys
import numpy as np
name, o, f = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
agree = np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(o["first_truth"], f["first_truth"])])
print(f"\n== {name}: {o['count']:,} x {o['dimension']}, M={o['m']}, efConstruction={o['ef_construction']}, k={o['k']}; faiss-cpu {f['faiss']}")
print(f"exact ground truth agrees with Faiss's: {agree:.3f}")
print(f"build: bct {o['build_seconds']:.1f} s, faiss {f['build_seconds']:.1f} s -> bct/faiss {o['build_seconds'] / f['build_seconds']:.2f}x (target <= 1.5x)")
print(f"memory per vector: bct {o['memory_bytes_per_vector']:.0f} B (graph, striped locks, visited lists, id tables), faiss {f['memory_bytes_per_vector']:.0f} B (serialised) -> {o['memory_bytes_per_vector'] / f['memory_bytes_per_vector']:.2f}x")
print(f"{'ef':>5} {'recall bct':>11} {'recall faiss':>13} {'QPS bct':>9} {'QPS faiss':>10} {'ratio':>7}")
for a, b in zip(o["results"], f["results"]):
    print(f"{a['ef']:5d} {a['recall']:11.4f} {b['recall']:13.4f} {a['qps_1']:9.0f} {b['qps_1']:10.0f} {a['qps_1'] / b['qps_1']:6.2f}x")
def qps_at(rows, target):
    """The best QPS of a setting reaching `target` recall: a measured ef, or one
    interpolated (log QPS, linear in recall) between two neighbouring efs."""
    best = [r["qps_1"] for r in rows if r["recall"] >= target]
    for lo, hi in zip(rows, rows[1:]):
        if lo["recall"] < target <= hi["recall"]:
            t = (target - lo["recall"]) / (hi["recall"] - lo["recall"])
            best.append(np.exp(np.log(lo["qps_1"]) * (1 - t) + np.log(hi["qps_1"]) * t))
    return max(best) if best else None
for target in (0.50, 0.60, 0.90, 0.95, 0.99):
    a, b = qps_at(o["results"], target), qps_at(f["results"], target)
    if a and b:
        print(f"QPS at recall {target:.2f}: bct {a:.0f}, faiss {b:.0f} -> {a / b:.2f}x")
    else:
        print(f"QPS at recall {target:.2f}: not reached by both within ef {o['results'][-1]['ef']}")
PY
}
run "random unit vectors" "$work/random.npy" "$work/random-queries.npy"
run "Fashion-MNIST embeddings (train 60k base, test queries)" "$work/fm-base.npy" "$work/fm-queries.npy" --embed-model "$work/model"
run "Fashion-MNIST embeddings grown to $count (train + shifted/noisy copies base, test queries)" \
  "$work/fm-grown-base.npy" "$work/fm-grown-queries.npy" --embed-model "$work/model" --augment-to "$count"
