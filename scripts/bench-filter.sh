#!/usr/bin/env bash
# Filtered search, one run, same vectors and the same filters: bct's memory store path
# (metadata postings -> flat or HNSW segment, the planner choosing) vs faiss-cpu
# IndexFlatIP / IndexHNSWFlat with an IDSelector (bitmap or batch, the faster), at
# selectivities 0.1%, 1%, 5%, 10%, 100% of COUNT vectors (default 100,000), batch-1, k=10.
# The vectors are Fashion-MNIST embeddings by a small trained model (the train images
# grown to COUNT rows by shifted, rescaled, noisy copies; test images as queries), or
# with BENCH_DATA=random, random unit vectors x 128 (no graph index reaches high recall
# on those at any ef). Prints recall@10 and QPS per side and the ratio; HNSW is compared
# at the best QPS each side reaches with recall@10 >= 0.95. Usage:
# scripts/bench-filter.sh [COUNT] [SECONDS] [EFS]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-100000}"
seconds="${2:-2}"
efs="${3:-16,32,64,128,256,512}"
scripts/bootstrap.sh
source scripts/bench-venv.sh faiss-cpu
for product in bct bct-bench; do swift build -c release --product "$product" 2>&1 | tail -1; done
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
selectivities=0.001,0.01,0.05,0.1,1
if [ "${BENCH_DATA:-embeddings}" = random ]; then
  "$venv/bin/python" - "$work" "$count" <<'PY'
import sys, numpy as np
work, count = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
for name, rows in [("base", count), ("queries", 200)]:
    x = rng.standard_normal((rows, 128)).astype("float32")
    np.save(f"{work}/{name}.npy", x / np.linalg.norm(x, axis=1, keepdims=True))
PY
  data=()
else
  "$bin/bct" train --arch mlp --epochs 2 --fraction 0.2 --out "$work/model" >/dev/null 2>&1
  data=(--embed-model "$work/model" --augment-to "$count")
fi
ours=$("$bin/bct-bench" filter --base "$work/base.npy" --queries "$work/queries.npy" --selectivities "$selectivities" \
  --ef "$efs" --k 10 --seconds "$seconds" "${data[@]}")
theirs=$("$venv/bin/python" benchmarks/filter_faiss.py "$work/base.npy" "$work/queries.npy" "$selectivities" "$efs" 10 "$seconds" 1,2 200)
"$venv/bin/python" - "$ours" "$theirs" <<'PY'
import json, sys
o, f = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"== filtered search ({__import__('os').environ.get('BENCH_DATA', 'embeddings')}): {o['count']:,} x {o['dimension']}, k={o['k']}, batch 1; faiss-cpu {f['faiss']} (best of IDSelectorBitmap/Batch, 1 or 2 threads)")
print(f"unfiltered flat: bct {o['unfiltered_flat_qps']:.0f} QPS")
def best(rows, qps, recall):
    ok = [r for r in rows if r[recall] >= 0.95]
    return max(ok, key=lambda r: r[qps]) if ok else max(rows, key=lambda r: r[recall])
print(f"{'share':>6} {'passing':>8} | {'flat bct':>9} {'faiss':>9} {'ratio':>6} {'vs unfiltered':>13} | {'hnsw bct (ef, recall)':>24} {'faiss (ef, recall)':>24} {'ratio':>6}")
for a, b in zip(o["results"], f["results"]):
    assert a["passing"] == b["passing"], (a["passing"], b["passing"])
    agree = sum(len(set(x) & set(y)) for x, y in zip(a["first_truth"], b["first_truth"])) / sum(len(y) for y in b["first_truth"])
    assert agree > 0.99, f"exact filtered results disagree: {agree}"
    assert a["flat_recall"] > 0.999 and b["flat"]["recall"] > 0.999, (a["flat_recall"], b["flat"]["recall"])
    ha, hb = best(a["hnsw"], "qps", "recall"), best(b["hnsw"], "qps", "recall")
    print(f"{a['selectivity']*100:5.1f}% {a['passing']:8d} | {a['flat_qps']:9.0f} {b['flat']['qps']:9.0f} {a['flat_qps']/b['flat']['qps']:5.2f}x "
          f"{a['flat_qps']/o['unfiltered_flat_qps']:12.1f}x | {ha['qps']:9.0f} ({ha['ef']:4d}, {ha['recall']:.3f}) "
          f"{hb['qps']:9.0f} ({hb['ef']:4d}, {hb['recall']:.3f}) {ha['qps']/hb['qps']:5.2f}x")
print("HNSW rows: each side's fastest ef reaching recall@10 >= 0.95 (else its best recall). Build: bct "
      f"{o['hnsw_build_seconds']:.1f} s, faiss {f['hnsw_build_seconds']:.1f} s.")
print("Filter evaluation alone (bct, from the postings, per query): " + ", ".join(f"{a['selectivity']*100:.1f}%: {a['filter_us']:.0f} us" for a in o["results"]))
for a, b in zip(o["results"], f["results"]):
    print(f"  {a['selectivity']*100:5.1f}%: bct " + ", ".join(f"ef {r['ef']}: {r['recall']:.3f}/{r['qps']:.0f}" for r in a["hnsw"]))
    print(f"         faiss " + ", ".join(f"ef {r['ef']}: {r['recall']:.3f}/{r['qps']:.0f}" for r in b["hnsw"]))
PY
