"""Peers for `scripts/bench-encoder.sh`: the same model versions (weights read from
our safetensors files) run forward in PyTorch CPU and, exported to ONNX, in ONNX
Runtime, at batch 1 and 256 on the same Fashion-MNIST test images, same thread
count. ONNX Runtime is measured two ways and the faster reported: NumPy normalising
the graph's output, and the normalisation inside the graph run through a
preallocated I/O binding. Prints one JSON object: embeddings/s per runtime, version
and batch size, and the largest difference from bct's embedding of the first test
image."""
import io
import json
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

from bench_data import idx

MODELS, VERSIONS, THREADS, SECONDS = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), float(sys.argv[4])
BCT = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
DATA = "/usr/share/datasets/fashion-mnist"
torch.set_num_threads(THREADS)



def safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        tensors[name] = torch.from_numpy(
            np.frombuffer(raw, dtype="<f4", count=(end - start) // 4, offset=8 + length + start).reshape(info["shape"]).copy())
    return tensors


def build(manifest):
    params = manifest["architecture"]["parameters"]
    dim = manifest["embedding_dim"]
    c, h, w = manifest["input_shape"]
    layers = []
    if manifest["architecture"]["name"] == "mlp":
        prev = c * h * w
        for width in [int(x) for x in params["hidden"].split(",")]:
            layers += [nn.Linear(prev, width), nn.ReLU()]
            prev = width
        layers.append(nn.Linear(prev, dim))
        return nn.Sequential(*layers), True
    prev = c
    for out in [int(x) for x in params["channels"].split(",")]:
        layers += [nn.Conv2d(prev, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        prev, h, w = out, h // 2, w // 2
    hidden = int(params["hidden"])
    layers += [nn.Flatten(), nn.Linear(prev * h * w, hidden), nn.ReLU(), nn.Linear(hidden, dim)]
    return nn.Sequential(*layers), False


class Normalized(nn.Module):
    """A backbone whose outputs are scaled to unit length, as bct's embeddings are."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, x):
        return nn.functional.normalize(self.backbone(x), dim=1)


def rate(fn, rows):
    fn(0)
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < SECONDS:
        fn(calls)
        calls += 1
    return calls * rows / (time.perf_counter() - start)


images = idx(f"{DATA}/t10k-images-idx3-ubyte.gz")[:256].astype(np.float32)
out = {"torch": torch.__version__, "threads": THREADS, "pytorch": {}, "onnxruntime": {}, "max_abs_diff": {}}
try:
    import onnxruntime as ort
    out["onnxruntime_version"] = ort.__version__
except ImportError:
    ort = None

for version in VERSIONS:
    manifest = json.load(open(f"{MODELS}/{version}/manifest.json"))
    model, flat = build(manifest)
    model.load_state_dict(safetensors(f"{MODELS}/{version}/backbone.safetensors"))
    model.eval()
    norm = manifest["input_normalization"]
    x = torch.from_numpy((images * norm["scale"] - norm["mean"]) / norm["std"]).unsqueeze(1)
    if flat:
        x = x.reshape(len(x), -1)

    def embed(batch):
        return nn.functional.normalize(model(batch), dim=1)

    with torch.no_grad():
        first = embed(x[:1]).numpy().ravel()
        if version in BCT.get("first_embedding", {}):
            out["max_abs_diff"][version] = float(np.abs(first - np.array(BCT["first_embedding"][version])).max())
        out["pytorch"][version] = {
            "1": rate(lambda i: embed(x[i % 256:i % 256 + 1]), 1),
            "256": rate(lambda i: embed(x), 256),
        }
    if ort is not None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1

        def session_of(module):
            buffer = io.BytesIO()
            torch.onnx.export(module, x[:1], buffer, input_names=["x"], output_names=["z"],
                              dynamic_axes={"x": {0: "n"}, "z": {0: "n"}}, opset_version=13)
            return ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])

        # Two ways to run ONNX Runtime, the better one reported: the backbone's graph
        # with NumPy normalising its output, and the normalisation inside the graph run
        # through an I/O binding with preallocated input and output (no Python-side
        # copies or allocations per call).
        session, fused = session_of(model), session_of(Normalized(model))
        xn = x.numpy()

        def ort_embed(batch):
            z = session.run(None, {"x": batch})[0]
            return z / np.linalg.norm(z, axis=1, keepdims=True)

        rows = [xn[i:i + 1] for i in range(256)]
        bindings = []
        for batch in rows + [xn]:
            binding = fused.io_binding()
            binding.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy(batch))
            binding.bind_ortvalue_output("z", ort.OrtValue.ortvalue_from_numpy(np.empty((len(batch), manifest["embedding_dim"]), np.float32)))
            bindings.append(binding)

        if version in BCT.get("first_embedding", {}):
            first = np.array(BCT["first_embedding"][version])
            fused.run_with_iobinding(bindings[0])
            out.setdefault("max_abs_diff_ort", {})[version] = float(max(
                np.abs(ort_embed(xn[:1]).ravel() - first).max(),
                np.abs(bindings[0].get_outputs()[0].numpy().ravel() - first).max()))
        out["onnxruntime"][version] = {
            "1": max(rate(lambda i: ort_embed(rows[i % 256]), 1),
                     rate(lambda i: fused.run_with_iobinding(bindings[i % 256]), 1)),
            "256": max(rate(lambda i: ort_embed(xn), 256),
                       rate(lambda i: fused.run_with_iobinding(bindings[256]), 256)),
        }
print(json.dumps(out))
