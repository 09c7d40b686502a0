#!/usr/bin/env bash
# The main job: installs what is missing, builds the release binaries and runs the
# end-to-end demo on the embedded default data (Fashion-MNIST from Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
for product in bct bct-encoder bct-retrieval; do swift build -c release --product "$product"; done
bin="$(swift build -c release --show-bin-path)"
exec "$bin/bct" demo "$@"
