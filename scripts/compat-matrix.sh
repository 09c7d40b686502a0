#!/usr/bin/env bash
# The scenario matrix (release build): upgrades a search team ships x 3 seeds x
# compatibility methods, each new generation also trained without a compatibility
# term (new*), every pair measured on the validation split (carved from the training
# data, never trained on) and on the test split, with G and the new/new cost.
#   scripts/compat-matrix.sh quick [bct compat-matrix flags...]   MLP scenarios b-e (~20 min on 2 cores)
#   scripts/compat-matrix.sh full  [flags...]                     a-e with the CNN (~2 h on 2 cores)
# Trained models are kept in models/compat-matrix-MODE and reused, so a run resumes.
# The report is printed and written to models/compat-matrix-MODE.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-quick}"
shift || true
scripts/bootstrap.sh
swift build -c release --product bct 2>&1 | tail -1
bct="$(swift build -c release --show-bin-path)/bct"
"$bct" compat-matrix --mode "$mode" --out "models/compat-matrix-$mode" --json "models/compat-matrix-$mode.json" "$@"
