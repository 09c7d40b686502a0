"""Peer for `scripts/bench-index.sh`: Faiss IndexFlatIP on the same vectors and
queries (the .npy files bct-bench wrote), k and batch sizes, same thread count.
Prints one JSON object with QPS and the first results (to compare with ours)."""
import json
import sys
import time

import faiss
import numpy as np

FOLDER, K, BATCH, SECONDS, THREADS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
faiss.omp_set_num_threads(THREADS)
vectors = np.load(f"{FOLDER}/vectors.npy")
queries = np.load(f"{FOLDER}/queries.npy")
index = faiss.IndexFlatIP(vectors.shape[1])
start = time.perf_counter()
index.add(vectors)
add_seconds = time.perf_counter() - start

# Batch 1 at one thread and at THREADS: the best of the two is Faiss's best configuration.
qps_1_by_threads = {}
for threads in sorted({1, THREADS}):
    faiss.omp_set_num_threads(threads)
    single = 0
    start = time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        index.search(queries[single % 1024: single % 1024 + 1], K)
        single += 1
    qps_1_by_threads[str(threads)] = single / (time.perf_counter() - start)
qps_1 = max(qps_1_by_threads.values())
faiss.omp_set_num_threads(THREADS)

batches = 0
start = time.perf_counter()
while time.perf_counter() - start < SECONDS or batches == 0:
    s = (batches * BATCH) % (1024 - BATCH + 1)
    index.search(queries[s:s + BATCH], K)
    batches += 1
qps_batch = batches * BATCH / (time.perf_counter() - start)

_, first = index.search(queries[:10], K)
print(json.dumps({"faiss": faiss.__version__, "add_seconds": add_seconds, "qps_1": qps_1, "qps_1_by_threads": qps_1_by_threads, "qps_batch": qps_batch,
                  "first_results": first.tolist()}))
