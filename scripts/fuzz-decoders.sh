#!/usr/bin/env bash
# libFuzzer on the pure decoders (request tensors, WAL records, snapshots,
# safetensors, npy, IDX, gzip) with AddressSanitizer, for SECONDS (default 60).
# Starts from Tests/FuzzCorpus; new inputs go to .build-fuzz/corpus; a crash is
# written as .build-fuzz/crash-* and reproduces with
#   .build-fuzz/bct-fuzz-decoders .build-fuzz/crash-...
# Once fixed, copy it into Tests/FuzzCorpus: the test command replays that folder.
#
# SwiftPM names an executable's entry point itself, which clashes with
# libFuzzer's main, so SwiftPM only compiles (instrumented, -D FUZZING) and this
# script links the objects with libFuzzer and lld.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
scripts/bootstrap.sh >/dev/null
build=.build-fuzz
swift build --product bct-fuzz-decoders --build-path "$build" -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING 2>&1 \
  | grep -E "^error:" | grep -v "link command failed" || true
modules="$PWD/$build/x86_64-unknown-linux-gnu/debug"
objects="$PWD/$build/objects.rsp"
(cd "$modules" && ls -d ./*.build \
  | grep -vE "/(bct|bct_bench|bct_encoder|bct_retrieval)\.build$|Tests|-tool|/protoc_gen|/generate_|/bctPackage|TestKit|TestUtils" \
  | while read -r d; do find "$d" -name "*.o"; done | sed "s|^\./|\"$modules/|; s|\$|\"|") >"$objects"
rm -f "$build/bct-fuzz-decoders"
swiftc -sanitize=fuzzer,address -use-ld=lld @"$objects" -o "$build/bct-fuzz-decoders" -lprotobuf-c -lopenblas -lz -lstdc++ 2>&1 \
  | grep -v "Cannot export local symbol" || true
mkdir -p "$build/corpus"
"$build/bct-fuzz-decoders" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 -artifact_prefix="$build/" \
  -print_final_stats=1 "$build/corpus" Tests/FuzzCorpus
