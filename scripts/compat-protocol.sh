#!/usr/bin/env bash
# Reproduces the compatibility study on Fashion-MNIST (the issue's 50% protocol):
#   v1             MLP 784-512-256-128 on a fixed 50% of the training split
#   v2-<objective> CNN conv32-conv64-256-128 on all of it, trained against v1 with
#                  --compat contrastive (default), influence, l2
#   v2-independent the same CNN with no compatibility term
# then prints `bct eval` over all of them side by side. Release build; ~25 min on 2 cores.
# Usage: scripts/compat-protocol.sh [OUT_DIR] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-models/protocol}"
epochs="${2:-5}"
scripts/bootstrap.sh
swift build -c release --product bct
bct="$(swift build -c release --show-bin-path)/bct"
mkdir -p "$out"
[ -f "$out/v1/manifest.json" ] || "$bct" train --arch mlp --epochs "$epochs" --fraction 0.5 --seed 0 --out "$out/v1"
for objective in contrastive influence l2; do
  [ -f "$out/v2-$objective/manifest.json" ] || "$bct" train --arch cnn --epochs "$epochs" --seed 1 \
    --old "$out/v1" --compat "$objective" --out "$out/v2-$objective"
done
[ -f "$out/v2-independent/manifest.json" ] || "$bct" train --arch cnn --epochs "$epochs" --seed 1 \
  --out "$out/v2-independent"
"$bct" eval --models "$out/v1,$out/v2-contrastive,$out/v2-influence,$out/v2-l2,$out/v2-independent" "${@:3}"
