#!/usr/bin/env python3
"""Applies an adapter file (bct adapt's safetensors) to vectors with NumPy: an
independent check of what the services compute. Reads a JSON list of vectors on
stdin, writes the mapped, unit-length vectors as JSON on stdout. With --npy, maps
the rows of an .npy file in float32 (as the services do), writes them to another and
prints the seconds the mapping took (the peer of scripts/bench-transform.sh).

    python3 scripts/apply-adapter.py models/w1/adapter-document-v1.safetensors < in.json
    python3 scripts/apply-adapter.py ADAPTER --npy in.npy out.npy
"""
import json
import struct
import sys
import time

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        assert spec["dtype"] == "F32", spec
        start, end = spec["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype="<f4").reshape(spec["shape"])
    return tensors


def apply(t, x):
    y = x @ t["linear"] + t["bias"]
    if "inner" in t:
        y = y + np.maximum(x @ t["inner"] + t["inner_bias"], 0) @ t["outer"]
    return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)


def main():
    t = read_safetensors(sys.argv[1])
    if len(sys.argv) == 5 and sys.argv[2] == "--npy":
        x = np.load(sys.argv[3]).astype(np.float32)
        started = time.perf_counter()
        y = apply(t, x)
        seconds = time.perf_counter() - started
        np.save(sys.argv[4], y.astype(np.float32))
        print(f"{seconds:.6f}")
        return
    x = np.asarray(json.load(sys.stdin), dtype=np.float64)
    json.dump(apply(t, x).tolist(), sys.stdout)


if __name__ == "__main__":
    main()
