"""Faiss on the same .npy files as `bct-bench quantized`: IndexFlatIP, and
IndexScalarQuantizer (QT_8bit, QT_fp16; inner product; trained on the base) under
IndexRefineFlat with the k_factors bct's QuantizedFlatIndex uses (SQ8, f16), so that
the float32 vectors re-rank as many candidates on both sides: recall@k against exact, batch-1 QPS at 1 and N threads,
bytes each search scans per vector. Prints one JSON object."""
import json
import sys
import time

import faiss
import numpy as np

base_path, query_path, k, seconds, threads, factor_sq8, factor_f16 = sys.argv[1:8]
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
for name, qtype, width, factor in (
    ("flat-sq8", faiss.ScalarQuantizer.QT_8bit, d, int(factor_sq8)),
    ("flat-f16", faiss.ScalarQuantizer.QT_fp16, 2 * d, int(factor_f16)),
):
    sq = faiss.IndexScalarQuantizer(d, qtype, faiss.METRIC_INNER_PRODUCT)
    start = time.perf_counter()
    refined = faiss.IndexRefineFlat(sq)
    refined.k_factor = factor
    refined.train(base)
    refined.add(base)
    build = time.perf_counter() - start
    row = measure(name, refined, width)
    row["build_seconds"] = build
    results.append(row)
print(json.dumps({"faiss": faiss.__version__, "results": results}))
