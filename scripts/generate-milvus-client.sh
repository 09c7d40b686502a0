#!/usr/bin/env bash
# Regenerates Sources/BCTMilvusProto/Generated/: Swift messages and a grpc-swift 2 client
# for the part of Milvus's gRPC API that bct-retrieval's Milvus store calls. The schema
# comes from pymilvus's compiled descriptors (pinned in scripts/milvus-venv.sh), cut to
# the methods listed in scripts/milvus_descriptors.py; no Milvus .proto file is kept in
# the repository. The normal build never runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/protoc-plugins.sh
source scripts/milvus-venv.sh

out="Sources/BCTMilvusProto/Generated"
descriptors="$(mktemp)"
trap 'rm -f "$descriptors"' EXIT
"$milvus_venv/bin/python" scripts/milvus_descriptors.py "$descriptors"
files=$("$milvus_venv/bin/python" -c '
import sys
from google.protobuf import descriptor_pb2
s = descriptor_pb2.FileDescriptorSet.FromString(open(sys.argv[1], "rb").read())
print(" ".join(f.name for f in s.file))' "$descriptors")
rm -rf "$out" && mkdir -p "$out"
protoc --descriptor_set_in="$descriptors" "${plugin_flags[@]}" \
  --swift_out="$out" --swift_opt=Visibility=Public \
  --grpc-swift-2_out="$out" --grpc-swift-2_opt=Visibility=Public,Server=false,Client=true \
  $files
# Files without a service get an empty client file; drop those.
for f in "$out"/*.grpc.swift; do grep -q "struct Client" "$f" || rm "$f"; done
echo "generated from pymilvus $("$milvus_venv/bin/python" -c 'import pymilvus; print(pymilvus.__version__)'): $files"
