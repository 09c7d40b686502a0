#!/usr/bin/env bash
# libFuzzer on the pure decoders (request tensors, WAL records, snapshots,
# safetensors, npy, IDX, gzip) with AddressSanitizer, for SECONDS (default 60).
# Starts from Tests/FuzzCorpus; new inputs go to .build-fuzz/corpus; a crash is
# written as .build-fuzz/crash-* and reproduces with
#   .build-fuzz/debug/bct-fuzz-decoders .build-fuzz/crash-...
# Copy it into Tests/FuzzCorpus (the tests replay that folder) once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
scripts/bootstrap.sh >/dev/null
swift build --product bct-fuzz-decoders --build-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING 2>&1 | grep -vE "warning: Cannot export local symbol" | tail -3
mkdir -p .build-fuzz/corpus
.build-fuzz/debug/bct-fuzz-decoders -max_total_time="$seconds" -max_len=65536 -artifact_prefix=.build-fuzz/ \
  -print_final_stats=1 .build-fuzz/corpus Tests/FuzzCorpus
