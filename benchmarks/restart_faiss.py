"""Faiss IndexHNSWFlat (inner product) on the same .npy files as `bct-bench restart`:
build, write_index, then time read_index (the peer's restart: a saved graph read back),
and recall@10 of the read index against exact search. Prints one JSON object."""
import json
import os
import sys
import tempfile
import time

import faiss
import numpy as np

base_path, query_path, m, ef_construction, threads = sys.argv[1:6]
m, ef_construction, threads = int(m), int(ef_construction), int(threads)
base = np.load(base_path).astype("float32")
queries = np.load(query_path).astype("float32")
faiss.omp_set_num_threads(threads)

index = faiss.IndexHNSWFlat(base.shape[1], m, faiss.METRIC_INNER_PRODUCT)
index.hnsw.efConstruction = ef_construction
start = time.perf_counter()
index.add(base)
build = time.perf_counter() - start
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "hnsw.faiss")
    faiss.write_index(index, path)
    size = os.path.getsize(path)
    del index
    start = time.perf_counter()
    index = faiss.read_index(path)
    load = time.perf_counter() - start
index.hnsw.efSearch = 64
exact = faiss.IndexFlatIP(base.shape[1])
exact.add(base)
_, truth = exact.search(queries, 10)
_, got = index.search(queries, 10)
recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth)]))
print(json.dumps({"faiss": faiss.__version__, "build_seconds": build, "file_bytes": size, "read_index_seconds": load, "recall_at_10": recall}))
