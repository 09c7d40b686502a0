"""PyTorch CPU reference for `scripts/bench-training.sh`: one epoch of the same MLP
and CNN, on the same Fashion-MNIST data, batch size, optimizer and thread count as
`bct train`. Prints one JSON object with seconds per epoch."""
import json
import sys
import time

import numpy as np
import torch
from torch import nn

from bench_data import idx

DATA = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
THREADS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(THREADS)
torch.manual_seed(0)



images = idx(f"{DATA}/train-images-idx3-ubyte.gz").astype(np.float32)
labels = idx(f"{DATA}/train-labels-idx1-ubyte.gz").astype(np.int64)
x_all = torch.from_numpy((images / 255.0 - 0.2860) / 0.3530).unsqueeze(1)
y_all = torch.from_numpy(labels)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 128))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Linear(256, 128))


def epoch(backbone, x, y):
    head = nn.Linear(128, 10)
    params = list(backbone.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(x))
    start = time.perf_counter()
    for i in range(0, len(x), 256):
        idx_ = order[i:i + 256]
        opt.zero_grad()
        loss = loss_fn(head(backbone(x[idx_])), y[idx_])
        loss.backward()
        opt.step()
    return time.perf_counter() - start


half = torch.from_numpy(np.random.default_rng(0).permutation(len(x_all))[: len(x_all) // 2])
result = {
    "torch": torch.__version__,
    "threads": THREADS,
    "mlp_examples": len(half),
    "mlp_seconds": epoch(mlp(), x_all[half], y_all[half]),
    "cnn_examples": len(x_all),
    "cnn_seconds": epoch(cnn(), x_all, y_all),
}
print(json.dumps(result))
