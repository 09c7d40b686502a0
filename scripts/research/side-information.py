#!/usr/bin/env python3
"""Would side information lift the document transform? FCT's second vector, measured.

FCT (Ramanujan et al. 2022) stores, beside each old embedding, a second embedding
from a self-supervised "side-information" model trained at the old model's time,
and transforms [old, side] into the new space. This study trains such a model
(SimCLR: NT-Xent, temperature 0.2, on two augmented views: shifts of up to 3
pixels, horizontal flips, contrast, an 8x8 erased patch) on bct's training split
less validation, and compares ridge affine transforms (fitted on the training
split less validation) of the old embedding alone, of the side embedding alone,
and of both, the ridge weight chosen on validation. It prints old/old, new
queries on transformed documents, new/new and G on validation and test.

    side-information.py FOLDER OLD NEW [DATA_DIR] [EPOCHS]

FOLDER holds OLD-train.npy, OLD-test.npy, NEW-train.npy, NEW-test.npy (as
`bct embed --split` writes them); the side embeddings are cached there too.
Research only (Debian's python3-torch); the product does not use it.
"""
import gzip
import os
import sys

import numpy as np
import torch

from embedding_study import gain_line, normalise, load_splits, scores, validation_indices


def images(data_dir, split):
    name = "train" if split == "train" else "t10k"
    with gzip.open(f"{data_dir}/{name}-images-idx3-ubyte.gz") as f:
        raw = np.frombuffer(f.read()[16:], dtype=np.uint8)
    return torch.tensor(raw.reshape(-1, 1, 28, 28).astype(np.float32) / 255)


def side_network():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64 * 49, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128))


def augment(x):
    n = len(x)
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3))
    dx, dy = torch.randint(0, 7, (n,)), torch.randint(0, 7, (n,))
    out = torch.stack([padded[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28] for i in range(n)])
    flip = torch.rand(n) < 0.5
    out[flip] = out[flip].flip(-1)
    out = out * (0.6 + 0.8 * torch.rand(n, 1, 1, 1))
    ex, ey, erase = torch.randint(0, 20, (n,)), torch.randint(0, 20, (n,)), torch.rand(n) < 0.5
    for i in torch.nonzero(erase).flatten().tolist():
        out[i, :, ey[i]:ey[i] + 8, ex[i]:ex[i] + 8] = 0
    return out


def train_side_model(x, epochs, temperature=0.2, batch=256):
    torch.manual_seed(0)
    net, head = side_network(), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(128, 128))
    optimiser = torch.optim.Adam(list(net.parameters()) + list(head.parameters()), 1e-3)
    for epoch in range(epochs):
        order, total = torch.randperm(len(x)), 0.0
        for start in range(0, len(x) - batch + 1, batch):
            views = x[order[start:start + batch]]
            z = normalise(head(net(torch.cat([augment(views), augment(views)]))))
            similarity = z @ z.T / temperature
            similarity.fill_diagonal_(-1e9)
            partner = torch.cat([torch.arange(batch, 2 * batch), torch.arange(0, batch)])
            loss = torch.nn.functional.cross_entropy(similarity, partner)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item()
        print(f"side model epoch {epoch + 1}/{epochs}: NT-Xent {total / (len(x) // batch):.3f}", flush=True)
    net.eval()
    return net


def side_embeddings(folder, data_dir, epochs):
    paths = {s: f"{folder}/side-{s}.npy" for s in ("train", "test")}
    if not all(os.path.exists(p) for p in paths.values()):
        train = images(data_dir, "train")
        fit = np.ones(len(train), bool)
        fit[validation_indices(len(train))] = False
        net = train_side_model(train[fit], epochs)
        with torch.no_grad():
            for split, path in paths.items():
                x = train if split == "train" else images(data_dir, "test")
                np.save(path, torch.cat([net(x[s:s + 2000]) for s in range(0, len(x), 2000)]).numpy())
    return {s: torch.tensor(np.load(p)) for s, p in paths.items()}


def affine(x, y, lam):
    x1 = torch.cat([x, torch.ones(len(x), 1)], 1)
    w = torch.linalg.solve(x1.T @ x1 + lam * len(x) * torch.eye(x1.shape[1]), x1.T @ normalise(y))
    return lambda z: torch.cat([z, torch.ones(len(z), 1)], 1) @ w


def main():
    folder, old, new = sys.argv[1:4]
    data_dir = sys.argv[4] if len(sys.argv) > 4 else "/usr/share/datasets/fashion-mnist"
    epochs = int(sys.argv[5]) if len(sys.argv) > 5 else 6
    torch.set_num_threads(2)
    splits, held, fit = load_splits(folder, old, new, data_dir)
    side = side_embeddings(folder, data_dir, epochs)
    side = {"fit": side["train"][fit], "validation": side["train"][held], "test": side["test"]}
    mean, spread = side["fit"].mean(0), side["fit"].std(0) + 1e-6
    width = splits["fit"][0].shape[1]
    inputs = {
        "old embedding alone": lambda s: normalise(splits[s][0]) * width ** 0.5,
        "side embedding alone": lambda s: (side[s] - mean) / spread,
        "old and side embeddings": lambda s: torch.cat(
            [normalise(splits[s][0]) * width ** 0.5, (side[s] - mean) / spread], 1)}
    for name, features in inputs.items():
        va, vb, vy = splits["validation"]
        fitted = {lam: affine(features("fit"), splits["fit"][1], lam) for lam in (1e-5, 1e-4, 1e-3)}
        chosen = max(fitted, key=lambda lam: sum(scores(vb, fitted[lam](features("validation")), vy)))
        for split in ("validation", "test"):
            sa, sb, sy = splits[split]
            cross = scores(sb, fitted[chosen](features(split)), sy)
            print(gain_line(f"{name}, ridge {chosen:g}", split, scores(sa, sa, sy), cross, scores(sb, sb, sy)),
                  flush=True)


if __name__ == "__main__":
    main()
