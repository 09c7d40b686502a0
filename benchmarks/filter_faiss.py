"""Faiss filtered search on the same .npy files as `bct-bench filter`: IndexFlatIP and
IndexHNSWFlat (M=16, efConstruction=200) searched with an IDSelector
(SearchParameters(sel=...)) passing the rows with bucket = (i * 7919) % 1000 below
1000 * selectivity. Each selector kind Faiss offers for an arbitrary id set
(IDSelectorBitmap, IDSelectorBatch) is built once per selectivity, outside the timing,
and the best is kept; recall@k against brute force over the passing rows; batch-1 QPS
at each OpenMP thread count given, best kept. Prints one JSON object."""
import json
import sys
import time

import faiss
import numpy as np

base_path, query_path, selectivities, efs, k, seconds, threads, max_queries = sys.argv[1:9]
k, seconds, max_queries = int(k), float(seconds), int(max_queries)
base = np.load(base_path).astype("float32")
queries = np.load(query_path).astype("float32")[:max_queries]
thread_counts = [int(t) for t in threads.split(",")]
bucket = (np.arange(base.shape[0], dtype=np.int64) * 7919) % 1000

flat = faiss.IndexFlatIP(base.shape[1])
flat.add(base)
hnsw = faiss.IndexHNSWFlat(base.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
hnsw.hnsw.efConstruction = 200
start = time.perf_counter()
hnsw.add(base)
build = time.perf_counter() - start


def timed(search):
    best = 0.0
    for t in thread_counts:
        faiss.omp_set_num_threads(t)
        done, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds or done == 0:
            search(done % len(queries))
            done += 1
        best = max(best, done / (time.perf_counter() - began))
    return best


def recall(search, truth):
    found = sum(len(set(search(q)) & set(truth[q])) for q in range(len(queries)))
    return found / max(1, sum(len(t) for t in truth))


results = []
for share in [float(s) for s in selectivities.split(",")]:
    mask = bucket < share * 1000
    rows = np.nonzero(mask)[0]
    scores = queries @ base[rows].T
    truth = [rows[np.argsort(-s, kind="stable")[:k]].tolist() for s in scores]
    bitmap = np.packbits(mask.astype(np.uint8), bitorder="little")
    selectors = {
        "bitmap": faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap)),
        "batch": faiss.IDSelectorBatch(rows.astype("int64")),
    }
    flat_best = None
    for name, selector in selectors.items():
        params = faiss.SearchParameters(sel=selector)
        search = lambda q, p=params: flat.search(queries[q : q + 1], k, params=p)[1][0]
        qps = timed(search)
        if flat_best is None or qps > flat_best["qps"]:
            flat_best = {"selector": name, "qps": qps, "recall": recall(search, truth)}
    hnsw_rows = []
    for ef in [int(e) for e in efs.split(",")]:
        best = None
        for name, selector in selectors.items():
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=ef)
            search = lambda q, p=params: hnsw.search(queries[q : q + 1], k, params=p)[1][0]
            qps = timed(search)
            if best is None or qps > best["qps"]:
                best = {"ef": ef, "selector": name, "qps": qps, "recall": recall(search, truth)}
        hnsw_rows.append(best)
    results.append({"selectivity": share, "passing": int(mask.sum()), "flat": flat_best, "hnsw": hnsw_rows,
                    "first_truth": truth[:5]})
    del selectors, bitmap

faiss.omp_set_num_threads(thread_counts[0])
print(json.dumps({"faiss": faiss.__version__, "hnsw_build_seconds": build, "results": results}))
