#!/usr/bin/env bash
# Sourced by the test command, the Milvus code generator and the Milvus benchmark: the
# virtual environment `.venv-milvus` with milvus-lite (a single-process Milvus server
# with Milvus's gRPC API) and pymilvus (whose compiled descriptors are Milvus's schema),
# both Apache-2.0. Never a dependency of the product: bct-retrieval speaks gRPC to any
# Milvus. Exports BCT_MILVUS_LITE, the server executable.
if ! /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
milvus_venv=.venv-milvus
[ -x "$milvus_venv/bin/python" ] || /usr/bin/python3 -m venv "$milvus_venv"
[ -x "$milvus_venv/bin/milvus-lite" ] && "$milvus_venv/bin/python" -c 'import pymilvus' 2>/dev/null \
  || "$milvus_venv/bin/pip" install -q milvus-lite==3.2.2 pymilvus==3.0.2
export BCT_MILVUS_LITE="$PWD/$milvus_venv/bin/milvus-lite"
