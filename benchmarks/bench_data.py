"""Shared by the benchmark peers: reading Debian's Fashion-MNIST IDX files."""
import gzip

import numpy as np

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def idx(path):
    """An IDX (gzip) file as a numpy array of its stored type (uint8 here)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    rank = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)
