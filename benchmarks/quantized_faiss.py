"""Faiss on the same .npy files as `bct-bench quantized`: IndexFlatIP, and
IndexScalarQuantizer (QT_8bit, QT_fp16; inner product; trained on the base) under
IndexRefineFlat with k_factor 8 (the float32 vectors re-rank its candidates, as
bct's QuantizedFlatIndex does): recall@k against exact, batch-1 QPS at 1 and N threads,
bytes each search scans per vector. Prints one JSON object."""
import json
import sys
import time

import faiss
import numpy as np

base_path, query_path, k, seconds, threads = sys.argv[1:6]
k, seconds, threads = int(k), float(seconds), int(threads)
base = np.load(base_path).astype("float32")
queries = np.load(query_path).astype("float32")[:1000]
d = base.shape[1]

flat = faiss.IndexFlatIP(d)
flat.add(base)
faiss.omp_set_num_threads(threads)
_, truth = flat.search(queries, k)


def measure(name, index, scanned):
    _, got = index.search(queries, k)
    recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(got, truth)]))
    qps = {}
    for t in sorted({1, threads}):
        faiss.omp_set_num_threads(t)
        done, timed = 0, time.perf_counter()
        while time.perf_counter() - timed < seconds or done == 0:
            q = done % len(queries)
            index.search(queries[q : q + 1], k)
            done += 1
        qps[str(t)] = done / (time.perf_counter() - timed)
    faiss.omp_set_num_threads(threads)
    return {"index": name, "recall": recall, "qps_1_by_threads": qps, "scanned_bytes_per_vector": scanned}


results = [measure("flat", flat, 4 * d)]
for name, qtype, width in (("flat-sq8", faiss.ScalarQuantizer.QT_8bit, d), ("flat-f16", faiss.ScalarQuantizer.QT_fp16, 2 * d)):
    sq = faiss.IndexScalarQuantizer(d, qtype, faiss.METRIC_INNER_PRODUCT)
    start = time.perf_counter()
    refined = faiss.IndexRefineFlat(sq)
    refined.k_factor = 8
    refined.train(base)
    refined.add(base)
    build = time.perf_counter() - start
    row = measure(name, refined, width)
    row["build_seconds"] = build
    results.append(row)
print(json.dumps({"faiss": faiss.__version__, "results": results}))
