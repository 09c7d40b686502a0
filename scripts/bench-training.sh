#!/usr/bin/env bash
# Training speed: one epoch of the default MLP (30k examples) and CNN (60k examples)
# in `bct train` and in PyTorch CPU (Debian's python3-torch, in a venv this script
# creates), same data, batch 256, Adam, same thread count. Prints seconds and ratios.
# Usage: scripts/bench-training.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
scripts/bootstrap.sh
source scripts/bench-venv.sh
swift build -c release --product bct
bct="$(swift build -c release --show-bin-path)/bct"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$bct" train --arch mlp --epochs 1 --fraction 0.5 --threads "$threads" --out "$work/mlp" 2>/dev/null >/dev/null
"$bct" train --arch cnn --epochs 1 --threads "$threads" --out "$work/cnn" 2>/dev/null >/dev/null
ours_mlp=$("$venv/bin/python" -c "import json;print(json.load(open('$work/mlp/manifest.json'))['training']['seconds'])")
ours_cnn=$("$venv/bin/python" -c "import json;print(json.load(open('$work/cnn/manifest.json'))['training']['seconds'])")
torch_json=$("$venv/bin/python" benchmarks/train_pytorch.py /usr/share/datasets/fashion-mnist "$threads")

"$venv/bin/python" - "$ours_mlp" "$ours_cnn" "$torch_json" <<'PY'
import json, sys
ours_mlp, ours_cnn, ref = float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
print(f"one training epoch, {ref['threads']} threads, PyTorch {ref['torch']} CPU")
print(f"{'model':6} {'examples':>8} {'bct s':>8} {'torch s':>8} {'torch/bct':>10}")
for name, ours, theirs, n in [("mlp", ours_mlp, ref["mlp_seconds"], ref["mlp_examples"]),
                              ("cnn", ours_cnn, ref["cnn_seconds"], ref["cnn_examples"])]:
    print(f"{name:6} {n:8d} {ours:8.2f} {theirs:8.2f} {theirs / ours:9.2f}x")
print("(ratio > 1: bct is faster)")
PY
