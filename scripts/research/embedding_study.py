"""Shared pieces of the research studies: bct's validation split, labels, and
class-relevance top-1 and mAP of a query set against a document set.
Research only (Debian's python3-torch); the product does not use it.
"""
import gzip

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


def load_splits(folder, old, new, data_dir):
    """Old and new embeddings and labels of the validation split (carved from the
    training split as bct carves it), the rest of the training split, and test."""
    load = lambda v, s: torch.tensor(np.load(f"{folder}/{v}-{s}.npy"), dtype=torch.float32)
    a, b, y = load(old, "train"), load(new, "train"), labels(data_dir, "train")
    held = validation_indices(len(y))
    fit = np.ones(len(y), bool)
    fit[held] = False
    return {"fit": (a[fit], b[fit], y[fit]), "validation": (a[held], b[held], y[held]),
            "test": (load(old, "test"), load(new, "test"), labels(data_dir, "test"))}, held, fit


def gain_line(name, split, old_old, cross, new_new):
    g = [(cross[i] - old_old[i]) / (new_new[i] - old_old[i]) for i in range(2)]
    return (f"{name:42s} {split:10s} top-1 {old_old[0]:.1f}/{cross[0]:.1f}/{new_new[0]:.1f} G {g[0]:+.2f}"
            f"  mAP {old_old[1]:.1f}/{cross[1]:.1f}/{new_new[1]:.1f} G {g[1]:+.2f}")
