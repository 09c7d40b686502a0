#!/usr/bin/env bash
# The test command: installs what is missing, builds (debug) and runs every test.
# The Milvus store's tests run on the real Milvus server (2.3.5): one server for the
# whole suite, then, alone, the tests that stop, crash and move a server of their own
# (only one can run per machine).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/test-clients.sh
source scripts/milvus-venv.sh
source scripts/milvus-server.sh
swift build --build-tests
milvus_dir=$(mktemp -d /tmp/bct-milvus-suite.XXXXXX)
trap 'stop_milvus_server; rm -rf "$milvus_dir"' EXIT
start_milvus_server "$milvus_dir"
swift test --skip-build --disable-xctest
stop_milvus_server
BCT_MILVUS_EXCLUSIVE=1 swift test --skip-build --disable-xctest --filter RealMilvusRestartTests
if [ "${BCT_CONTAINER_TEST:-0}" = "1" ]; then
  scripts/container-test.sh
  BCT_CONTAINER_STORE=milvus scripts/container-test.sh
fi
