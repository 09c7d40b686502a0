"""Faiss IndexHNSWFlat (inner product) on the same .npy files as `bct-bench ann`:
build time, memory per vector (serialised size), recall@k against Faiss's exact
IndexFlatIP, and batch-1 QPS per efSearch. Prints one JSON object."""
import json
import sys
import time

import faiss
import numpy as np

base_path, query_path, m, ef_construction, efs, k, seconds, threads = sys.argv[1:9]
m, ef_construction, k, seconds, threads = int(m), int(ef_construction), int(k), float(seconds), int(threads)
base = np.load(base_path).astype("float32")
queries = np.load(query_path).astype("float32")
faiss.omp_set_num_threads(threads)

exact = faiss.IndexFlatIP(base.shape[1])
exact.add(base)
_, truth = exact.search(queries, k)

index = faiss.IndexHNSWFlat(base.shape[1], m, faiss.METRIC_INNER_PRODUCT)
index.hnsw.efConstruction = ef_construction
start = time.perf_counter()
index.add(base)
build = time.perf_counter() - start
memory = len(faiss.serialize_index(index)) / base.shape[0]

rows = []
for ef in [int(e) for e in efs.split(",")]:
    index.hnsw.efSearch = ef
    found = 0
    for q in range(len(queries)):
        _, got = index.search(queries[q : q + 1], k)
        found += len(set(got[0]) & set(truth[q]))
    done, timed = 0, time.perf_counter()
    while time.perf_counter() - timed < seconds or done == 0:
        q = done % len(queries)
        index.search(queries[q : q + 1], k)
        done += 1
    rows.append({"ef": ef, "recall": found / (len(queries) * k), "qps_1": done / (time.perf_counter() - timed)})

print(json.dumps({
    "faiss": faiss.__version__, "build_seconds": build, "memory_bytes_per_vector": memory, "results": rows,
    "first_truth": truth[:5].tolist(),
}))
