#!/usr/bin/env bash
# Encoder speed, one run, same models and inputs: embeddings/s of the default MLP
# (v1) and CNN (v2) in process (bct) vs PyTorch CPU and ONNX Runtime (venv this
# script creates), and through a running bct-encoder over gRPC at batch 1 and 256
# (and 16 concurrent batch-1 clients, which dynamic batching coalesces).
# Prints a table with the ratios. Release build.
# Usage: scripts/bench-encoder.sh [THREADS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
seconds="${2:-3}"
scripts/bootstrap.sh
source scripts/bench-venv.sh onnxruntime onnx
for product in bct bct-encoder bct-bench; do swift build -c release --product "$product" 2>&1 | tail -1; done
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d)"
encoder_pid=""
cleanup() { [ -n "$encoder_pid" ] && kill "$encoder_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

export OPENBLAS_NUM_THREADS="$threads"
"$bin/bct" train --arch mlp --epochs 1 --fraction 0.1 --out "$work/models/v1" >/dev/null 2>&1
"$bin/bct" train --arch cnn --epochs 1 --fraction 0.1 --old "$work/models/v1" --out "$work/models/v2" >/dev/null 2>&1
"$bin/bct-encoder" --models "$work/models" --host 127.0.0.1 --port 0 --no-metrics --max-batch 256 \
  >"$work/encoder.out" 2>"$work/encoder.log" &
encoder_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/encoder.out" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/encoder.out")
ours=$("$bin/bct-bench" encoder --models "$work/models" --versions v1,v2 --encoder "127.0.0.1:$port" --seconds "$seconds")
peers=$("$venv/bin/python" benchmarks/forward_pytorch.py "$work/models" v1,v2 "$threads" "$seconds" "$ours" 2>/dev/null)

"$venv/bin/python" - "$ours" "$peers" <<'PY'
import json, sys
ours, peers = json.loads(sys.argv[1]), json.loads(sys.argv[2])
arch = {"v1": "mlp", "v2": "cnn"}
print(f"encoder forward pass, embeddings/s, {peers['threads']} threads; PyTorch {peers['torch']}"
      + (f", ONNX Runtime {peers['onnxruntime_version']}" if peers.get("onnxruntime_version") else ""))
print(f"{'model':5} {'batch':>5} {'bct':>10} {'pytorch':>10} {'onnxrt':>10} {'bct/torch':>10} {'bct/ort':>8}")
for v in ["v1", "v2"]:
    for b in ["1", "256"]:
        o, t = ours["in_process"][v][b], peers["pytorch"][v][b]
        r = peers["onnxruntime"].get(v, {}).get(b)
        print(f"{arch[v]:5} {b:>5} {o:10.0f} {t:10.0f} {(r or 0):10.0f} {o / t:9.2f}x {(o / r if r else 0):7.2f}x")
print("same weights, same inputs: largest |bct - pytorch| in the first embedding:",
      ", ".join(f"{arch[v]} {d:.1e}" for v, d in peers["max_abs_diff"].items()))
print()
print("over gRPC (bct-encoder on loopback), embeddings/s, and the overhead against in-process")
print(f"{'model':5} {'batch 1':>9} {'batch 256':>10} {'overhead@256':>13} {'16 clients x 1':>15}")
for v in ["v1", "v2"]:
    g, o = ours["grpc"][v], ours["in_process"][v]
    conc = [k for k in g if k.startswith("1x")][0]
    print(f"{arch[v]:5} {g['1']:9.0f} {g['256']:10.0f} {100 * (1 - g['256'] / o['256']):12.1f}% {g[conc]:15.0f}")
PY
