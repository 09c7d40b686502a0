#!/usr/bin/env python3
"""How far can any map of old embeddings go? The ceiling of a document transform T.

Reads train/test embeddings of an old and a new version (unit rows, as
`bct embed --split train|test` writes them), carves bct's validation split
(10%, seed 0; the same rows `bct train` and `bct compat-matrix` hold out), and
prints old/old, new queries on T(old) documents, and new/new on it, top-1 and
mAP by class, with G = (cross - old/old) / (new/new - old/old), for:

  - the ridge affine T fitted on the training split less validation (bct's fit);
  - the same affine T fitted on the validation split itself (in-sample);
  - a 128-1024-1024-128 MLP fitted on the validation split itself for 60 epochs
    (L2 onto the new embeddings; it memorises those very documents).

The in-sample fits are ceilings, not methods: no map of the old embedding alone,
linear or not, does better on those documents than one fitted to them.
Research only (Debian's python3-torch); the product does not use it.
"""
import gzip
import sys

import numpy as np
import torch

MASK = (1 << 64) - 1


def splitmix(seed):
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def below(generator, n):
    """Swift's RandomNumberGenerator.next(upperBound:) (Lemire's method)."""
    product = next(generator) * n
    if product & MASK < n:
        threshold = ((-n) & MASK) % n
        while product & MASK < threshold:
            product = next(generator) * n
    return product >> 64


def validation_indices(count, fraction=0.1, seed=0):
    """Dataset.validationIndices: Swift's shuffle driven by SeededGenerator."""
    generator, order = splitmix(seed ^ 0x5A11DA7E), list(range(count))
    for i, amount in enumerate(range(count, 1, -1)):
        j = below(generator, amount)
        order[i], order[i + j] = order[i + j], order[i]
    take = min(count - 1, max(1, round(count * fraction)))
    return np.array(sorted(order[:take]))


def labels(data_dir, split):
    name = "train" if split == "train" else "t10k"
    with gzip.open(f"{data_dir}/{name}-labels-idx1-ubyte.gz") as f:
        return torch.tensor(np.frombuffer(f.read()[8:], dtype=np.uint8).astype(np.int64))


def normalise(x):
    return torch.nn.functional.normalize(x, dim=1)


def scores(queries, documents, y):
    """Top-1 and mAP (%) by class, every row a query against all others."""
    queries, documents, n = normalise(queries), normalise(documents), len(y)
    top1, precisions = 0.0, []
    for start in range(0, n, 1000):
        rows = torch.arange(start, min(start + 1000, n))
        similarity = queries[rows] @ documents.T
        similarity[torch.arange(len(rows)), rows] = -9
        order = similarity.argsort(dim=1, descending=True)[:, :-1]
        relevant = (y[order] == y[rows][:, None]).float()
        top1 += relevant[:, 0].sum().item()
        hits = relevant.cumsum(1) / torch.arange(1, n).float()
        precisions.append((hits * relevant).sum(1) / relevant.sum(1).clamp(min=1))
    return 100 * top1 / n, 100 * torch.cat(precisions).mean().item()


def ridge(a, b, lam=1e-4):
    x = torch.cat([a, torch.ones(len(a), 1)], 1)
    w = torch.linalg.solve(x.T @ x + lam * len(a) * torch.eye(x.shape[1]), x.T @ b)
    return lambda z: torch.cat([z, torch.ones(len(z), 1)], 1) @ w


def memorising_mlp(a, b, epochs=60):
    torch.manual_seed(0)
    width = a.shape[1]
    net = torch.nn.Sequential(
        torch.nn.Linear(width, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
        torch.nn.Linear(1024, b.shape[1]))
    optimiser, target = torch.optim.Adam(net.parameters(), 1e-3), normalise(b)
    for _ in range(epochs):
        order = torch.randperm(len(a))
        for start in range(0, len(a), 256):
            rows = order[start:start + 256]
            loss = ((normalise(net(a[rows])) - target[rows]) ** 2).sum(1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return lambda z: net(z).detach()


def main():
    folder, old, new = sys.argv[1:4]
    data_dir = sys.argv[4] if len(sys.argv) > 4 else "/usr/share/datasets/fashion-mnist"
    load = lambda v, s: torch.tensor(np.load(f"{folder}/{v}-{s}.npy"), dtype=torch.float32)
    a, b, y = load(old, "train"), load(new, "train"), labels(data_dir, "train")
    held = validation_indices(len(y))
    fit = np.ones(len(y), bool)
    fit[held] = False
    splits = {"validation": (a[held], b[held], y[held]),
              "test": (load(old, "test"), load(new, "test"), labels(data_dir, "test"))}
    va, vb, _ = splits["validation"]
    maps = [("affine, fitted on train less validation", ridge(a[fit], b[fit]), ["validation", "test"]),
            ("affine, fitted on validation itself", ridge(va, vb), ["validation"]),
            ("MLP 1024x2, fitted on validation itself", memorising_mlp(va, vb), ["validation"])]
    for name, transform, where in maps:
        for split in where:
            sa, sb, sy = splits[split]
            oo, cross, nn = scores(sa, sa, sy), scores(sb, transform(sa), sy), scores(sb, sb, sy)
            g = [(cross[i] - oo[i]) / (nn[i] - oo[i]) for i in range(2)]
            print(f"{name:42s} {split:10s} top-1 {oo[0]:.1f}/{cross[0]:.1f}/{nn[0]:.1f} G {g[0]:+.2f}"
                  f"  mAP {oo[1]:.1f}/{cross[1]:.1f}/{nn[1]:.1f} G {g[1]:+.2f}", flush=True)


if __name__ == "__main__":
    main()
