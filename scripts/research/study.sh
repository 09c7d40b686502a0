#!/usr/bin/env bash
# A research study of the document transform between two versions of a model
# repository: embeds the built-in training and test splits with both (bct-encoder +
# bct embed) and runs STUDY.py (Debian's python3-torch) on them.
#   scripts/research/study.sh STUDY MODELS OLD NEW [PORT]
# STUDY: transform-ceiling (how far any map of the old embedding goes) or
# side-information (what FCT's second, self-supervised vector adds). E.g. after
# `bct compat-matrix --adapters independent --out /tmp/cm`:
#   scripts/research/study.sh transform-ceiling /tmp/cm/f/seed0 g1 g2-independent
set -euo pipefail
cd "$(dirname "$0")/../.."
study=$1 models=$2 old=$3 new=$4 port=${5:-50091}
[ -f "scripts/research/$study.py" ] || { echo "unknown study: $study" >&2; exit 1; }
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch" 2>/dev/null || {
  echo "needs Debian's python3-torch: apt-get install -y python3-torch" >&2; exit 1; }
swift build -c release --product bct-encoder >/dev/null && swift build -c release --product bct >/dev/null
bin=.build/release out=$(mktemp -d)
"$bin/bct-encoder" --models "$models" --port "$port" --metrics-port=-1 --reload-interval 0 > "$out/encoder.log" 2>&1 &
encoder=$!
trap 'kill $encoder 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 120); do grep -q listening "$out/encoder.log" && break; sleep 0.5; done
for version in "$old" "$new"; do
  for split in train test; do
    "$bin/bct" embed --encoder "127.0.0.1:$port" --split "$split" --model-version "$version" \
      --out "$out/$version-$split.npy" --deadline 300 >/dev/null
  done
done
/usr/bin/python3 "scripts/research/$study.py" "$out" "$old" "$new"
