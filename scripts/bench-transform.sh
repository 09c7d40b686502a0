#!/usr/bin/env bash
# The transform backfill's throughput through the memory store, beside a
# re-embedding backfill of the same documents, and NumPy applying the same adapter
# (the peer), in one run on loopback (release build):
#   1. v1 (MLP, 128-d) and w1 (an independent wider MLP, 128-d); bct adapt fits the
#      document transform T (affine kind). The benchmark measures speed, not quality
#      (the adapter study measures that), so it marks T's certificate passing, as a
#      stronger pair's would be.
#   2. N (default 200,000) random unit v1 embeddings indexed with bct index
#      --embeddings; bct backfill --to w1 --transform; documents per second.
#   3. NumPy maps the same N rows by the adapter file (float32); documents per second.
#      Agreement: the first 100 rows as NumPy mapped them, searched as w1 queries,
#      each find their own document at cosine > 0.9999.
#   4. A second service: 20,000 Fashion-MNIST images indexed with v1; a transform
#      backfill (then rolled back) and a re-embedding shadow backfill of the same
#      documents through the encoder; documents per second of each.
#   5. The real Milvus server (2.3.5, scripts/milvus-server.sh): the first
#      BENCH_TRANSFORM_MILVUS_ROWS (default 50,000) random rows indexed through
#      --store milvus://, then the same transform backfill; documents per second.
# Never run it beside a build or another benchmark.
# Usage: scripts/bench-transform.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-200000}"
source scripts/service-bench.sh
source scripts/bench-venv.sh numpy
py="$venv/bin/python"

"$bin/bct" train --arch mlp --epochs 1 --fraction 0.05 --val-fraction 0.05 --out "$work/models/v1" >/dev/null 2>&1
"$bin/bct" train --arch mlp --hidden 512 --epochs 1 --fraction 0.2 --val-fraction 0.05 --seed 7 --out "$work/models/w1" >/dev/null 2>&1
"$bin/bct" adapt --old "$work/models/v1" --new "$work/models/w1" --directions document --kinds affine --resamples 200 >/dev/null
"$py" - "$work/models/w1/manifest.json" <<'PY'
import json, sys
path = sys.argv[1]
m = json.load(open(path))
for record in m["adapters"]:
    for step in record["certificate"]["bounds"]["steps"]:
        step["lower_bound_points"] = 2.0
json.dump(m, open(path, "w"), indent=2)
PY
adapter="$work/models/w1/adapter-document-v1.safetensors"

start bct-encoder "$work/encoder.out" --models "$work/models" --host 127.0.0.1 --port 0 --no-metrics
enc_port=$started_port
start bct-retrieval "$work/retrieval.out" --encoder "127.0.0.1:$enc_port" --data-dir "$work/data" --host 127.0.0.1 --port 0 --no-metrics
export BCT_ENCODER="127.0.0.1:$enc_port" BCT_RETRIEVAL="127.0.0.1:$started_port"

"$py" -c "import numpy as np; g = np.random.default_rng(0); x = g.standard_normal(($n, 128)).astype(np.float32); np.save('$work/docs.npy', x / np.linalg.norm(x, axis=1, keepdims=True))"
"$bin/bct" index --file "$work/docs.npy" --embeddings --model-version v1 --id-prefix doc- --batch 1000 | tail -1
t0=$(date +%s.%N)
"$bin/bct" backfill --to w1 --transform --batch-size 4096 2>/dev/null | tail -1
t1=$(date +%s.%N)
service_rate=$(python3 -c "print(f'{$n / ($t1 - $t0):.0f}')")
numpy_seconds=$("$py" scripts/apply-adapter.py "$adapter" --npy "$work/docs.npy" "$work/mapped.npy")
numpy_rate=$(python3 -c "print(f'{$n / $numpy_seconds:.0f}')")
"$py" -c "import numpy as np; np.save('$work/probe.npy', np.load('$work/mapped.npy')[:100])"
"$bin/bct" search --file "$work/probe.npy" --embeddings --model-version w1 -k 1 --json >"$work/probe.json"
agree=$(python3 -c "
import json
r = json.load(open('$work/probe.json'))['results']
print(sum(1 for q in r if q['hits'] and q['hits'][0]['id'] == f\"doc-{q['query']}\" and q['hits'][0]['score'] > 0.9999))")

start bct-retrieval "$work/retrieval2.out" --encoder "127.0.0.1:$enc_port" --data-dir "$work/data2" --host 127.0.0.1 --port 0 --no-metrics
export BCT_RETRIEVAL="127.0.0.1:$started_port"
"$bin/bct" index --split train --range 0-19999 --model-version v1 --id-prefix img- 2>/dev/null | tail -1
t0=$(date +%s.%N)
"$bin/bct" backfill --to w1 --transform --batch-size 4096 2>/dev/null | tail -1
t1=$(date +%s.%N)
"$bin/bct" backfill --rollback 2>/dev/null | tail -1
"$bin/bct" backfill --to w1 --mode shadow --batch-size 256 2>/dev/null | tail -1
t2=$(date +%s.%N)
small_transform=$(python3 -c "print(f'{20000 / ($t1 - $t0):.0f}')")
small_reembed=$(python3 -c "print(f'{20000 / ($t2 - $t1):.0f}')")

# 5. The same transform on the real Milvus server: the first M random rows.
m="${BENCH_TRANSFORM_MILVUS_ROWS:-50000}"
source scripts/milvus-server.sh
trap 'stop_milvus_server; cleanup' EXIT
start_milvus_server "$work/milvus-server" >/dev/null
"$py" -c "import numpy as np; np.save('$work/milvus-docs.npy', np.load('$work/docs.npy')[:$m])"
start bct-retrieval "$work/retrieval3.out" --encoder "127.0.0.1:$enc_port" --data-dir "$work/data3" --store "milvus://$BCT_MILVUS_SERVER/bench" --host 127.0.0.1 --port 0 --no-metrics
export BCT_RETRIEVAL="127.0.0.1:$started_port"
"$bin/bct" index --file "$work/milvus-docs.npy" --embeddings --model-version v1 --id-prefix doc- --batch 1000 | tail -1
t0=$(date +%s.%N)
"$bin/bct" backfill --to w1 --transform --batch-size 4096 2>/dev/null | tail -1
t1=$(date +%s.%N)
milvus_rate=$(python3 -c "print(f'{$m / ($t1 - $t0):.0f}')")

echo
echo "transform backfill, memory store, $n documents at 128 dimensions: $service_rate documents/s"
echo "NumPy applying the same adapter (float32 GEMM + normalise, no store): $numpy_rate documents/s"
echo "ratio service / NumPy: $(python3 -c "print(f'{$service_rate / $numpy_rate:.3f}')")"
echo "agreement: $agree of 100 NumPy-mapped rows find their own document at cosine > 0.9999"
echo "20,000 Fashion-MNIST documents: transform backfill $small_transform documents/s, re-embedding backfill through the encoder $small_reembed documents/s"
echo "transform backfill, Milvus 2.3.5 store, $m documents at 128 dimensions: $milvus_rate documents/s"
