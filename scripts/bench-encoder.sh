#!/usr/bin/env bash
# Encoder speed, one run, same models and inputs: embeddings/s of the default MLP
# (v1) and CNN (v2) in process (bct) vs PyTorch CPU and ONNX Runtime (venv this
# script creates), and through a running bct-encoder over gRPC at batch 1 and 256
# (and 16 concurrent batch-1 clients, which dynamic batching coalesces).
# Prints the ratio to ONNX Runtime first, with the sgemm GFLOP/s of the same run.
# bct runs with OpenBLAS's own choice of kernels for the CPU: an OPENBLAS_CORETYPE in
# the environment (this machine's pins Haswell, AVX2, while ONNX Runtime uses AVX-512)
# is dropped for the run and reported; BENCH_KEEP_CORETYPE=1 keeps it. Release build.
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
pinned="${OPENBLAS_CORETYPE:-}"
[ "${BENCH_KEEP_CORETYPE:-0}" = 1 ] || unset OPENBLAS_CORETYPE
"$bin/bct" train --arch mlp --epochs 1 --fraction 0.1 --out "$work/models/v1" >/dev/null 2>&1
"$bin/bct" train --arch cnn --epochs 1 --fraction 0.1 --old "$work/models/v1" --out "$work/models/v2" >/dev/null 2>&1
"$bin/bct-encoder" --models "$work/models" --host 127.0.0.1 --port 0 --no-metrics --max-batch 256 --blas-threads 1 \
  >"$work/encoder.out" 2>"$work/encoder.log" &
encoder_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/encoder.out" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/encoder.out")
ours=$("$bin/bct-bench" encoder --models "$work/models" --versions v1,v2 --encoder "127.0.0.1:$port" --seconds "$seconds")
peers=$("$venv/bin/python" benchmarks/forward_pytorch.py "$work/models" v1,v2 "$threads" "$seconds" "$ours" 2>/dev/null)

"$venv/bin/python" - "$ours" "$peers" "$pinned" <<'PY'
import json, sys
ours, peers, pinned = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
arch = {"v1": "mlp", "v2": "cnn"}
peak = ours["sgemm_gflops"]
core = f"OpenBLAS {ours['blas_core']} kernels" + (f" (environment's OPENBLAS_CORETYPE={pinned} dropped for this run)" if pinned and not ours.get("blas_coretype_env") else "")
print(f"bct / ONNX Runtime {peers.get('onnxruntime_version', '?')}, {peers['threads']} threads; sgemm in this run: {peak:.0f} GFLOP/s 2048^3, {core}")
print(f"{'model':5} {'batch':>5} {'bct/ort':>8} {'bct':>10} {'onnxrt':>10} {'GFLOP/s':>8} {'of peak':>8}")
for v in ["v1", "v2"]:
    for b in ["1", "256"]:
        o, r = ours["in_process"][v][b], peers["onnxruntime"].get(v, {}).get(b)
        gflops = o * ours["flops_per_embedding"][v] / 1e9
        print(f"{arch[v]:5} {b:>5} {(o / r if r else 0):7.2f}x {o:10.0f} {(r or 0):10.0f} {gflops:8.1f} {100 * gflops / peak:7.0f}%")
print("largest |bct - ort| in the first embedding:", ", ".join(f"{arch[v]} {d:.1e}" for v, d in peers.get("max_abs_diff_ort", {}).items()),
      "| |bct - pytorch|:", ", ".join(f"{arch[v]} {d:.1e}" for v, d in peers["max_abs_diff"].items()))
print()
modes = ours["in_process_modes"]
print(f"in process, embeddings/s by threading (best above): OpenBLAS threads spread each GEMM | network spreads the batch; PyTorch {peers['torch']} (no MKLDNN: a weak peer)")
print(f"{'model':5} {'batch':>5} {'blas thr':>10} {'network thr':>12} {'pytorch':>10} {'bct/torch':>10}")
for v in ["v1", "v2"]:
    for b in ["1", "256"]:
        t = peers["pytorch"][v][b]
        print(f"{arch[v]:5} {b:>5} {modes['blas_threads'][v][b]:10.0f} {modes['network_threads'][v][b]:12.0f} {t:10.0f} {ours['in_process'][v][b] / t:9.2f}x")
print()
bare_us = 1e6 / ours["bare_rpc_per_second"]
print(f"over gRPC (bct-encoder on loopback, --blas-threads 1); bare unary RPC (ListModels) {bare_us:.0f} us")
print(f"{'model':5} {'batch 1':>9} {'us':>6} {'budget us':>10} {'ratio':>6} {'batch 256':>10} {'overhead@256':>13} {'16 clients x 1':>15}")
for v in ["v1", "v2"]:
    g, o = ours["grpc"][v], ours["in_process"][v]
    forward_us = 1e6 / ours["in_process_modes"]["network_threads"][v]["1"]
    call_us = 1e6 / g["1"]
    conc = [k for k in g if k.startswith("1x")][0]
    print(f"{arch[v]:5} {g['1']:9.0f} {call_us:6.0f} {bare_us + forward_us:10.0f} {call_us / (bare_us + forward_us):5.2f}x {g['256']:10.0f} {100 * (1 - g['256'] / o['256']):12.1f}% {g[conc]:15.0f}")
print("(budget: bare RPC + the encoder's own batch-1 forward pass; target ratio <= 1.2)")
PY
