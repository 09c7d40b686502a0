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
import sys

import torch

from embedding_study import gain_line, normalise, load_splits, ridge, scores


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
    splits, _, _ = load_splits(folder, old, new, data_dir)
    fa, fb, _ = splits["fit"]
    va, vb, _ = splits["validation"]
    maps = [("affine, fitted on train less validation", ridge(fa, fb), ["validation", "test"]),
            ("affine, fitted on validation itself", ridge(va, vb), ["validation"]),
            ("MLP 1024x2, fitted on validation itself", memorising_mlp(va, vb), ["validation"])]
    for name, transform, where in maps:
        for split in where:
            sa, sb, sy = splits[split]
            print(gain_line(name, split, scores(sa, sa, sy), scores(sb, transform(sa), sy), scores(sb, sb, sy)),
                  flush=True)


if __name__ == "__main__":
    main()
