#!/usr/bin/env bash
# The test command: installs what is missing, builds (debug) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/test-clients.sh
source scripts/milvus-venv.sh
swift build --build-tests
swift test --skip-build --disable-xctest
if [ "${BCT_CONTAINER_TEST:-0}" = "1" ]; then
  scripts/container-test.sh
  BCT_CONTAINER_STORE=milvus scripts/container-test.sh
fi
