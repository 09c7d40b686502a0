#!/usr/bin/env bash
# Regenerates the committed code for the schema in Protos/:
#   Sources/BCTProto/Generated/   Swift messages (swift-protobuf) + gRPC stubs (grpc-swift 2)
#   Sources/BCTProtoC/            the C binding (protoc-c), used by the wire-compatibility tests
#   Sources/BCTProto/Generated/protos.sha256   checksums of the .proto files, checked by a test
# The normal build never runs this: it needs protoc and the two Swift plugins, which this
# script installs (apt) and builds (from the mirrored grpc-swift-protobuf 2.4.1, which pins
# swift-protobuf 1.39.0) in .build-protoc-plugins/, ignored by git.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

need_apt=()
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
command -v protoc-c >/dev/null || need_apt+=(protobuf-c-compiler)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

plugins="$root/.build-protoc-plugins"
checkout="$plugins/grpc-swift-protobuf"
if [ ! -d "$checkout/.git" ]; then
  mkdir -p "$plugins"
  git clone -q https://github.com/grpc/grpc-swift-protobuf "$checkout"
fi
git -C "$checkout" checkout -q 2.4.1
(cd "$checkout" && swift build -c release --product protoc-gen-grpc-swift-2 >/dev/null \
                && swift build -c release --product protoc-gen-swift >/dev/null)
bin="$(cd "$checkout" && swift build -c release --show-bin-path)"

protos=$(cd Protos && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)

swift_out="Sources/BCTProto/Generated"
rm -rf "$swift_out" && mkdir -p "$swift_out"
(cd Protos && protoc -I . \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
  --swift_out="$root/$swift_out" --swift_opt=Visibility=Public,FileNaming=PathToUnderscores \
  --grpc-swift-2_out="$root/$swift_out" \
  --grpc-swift-2_opt=Visibility=Public,Server=true,Client=true,FileNaming=PathToUnderscores \
  $protos)

c_out="Sources/BCTProtoC"
rm -rf "$c_out/generated" "$c_out/include/bct" "$c_out/include/grpc"
mkdir -p "$c_out/generated"
(cd Protos && protoc-c -I . --c_out="$root/$c_out/generated" $protos)
# Headers go to the target's public include/ folder; sources stay beside it.
(cd "$c_out/generated" && find . -name '*.pb-c.h' | while read -r h; do
   mkdir -p "../include/$(dirname "$h")" && mv "$h" "../include/$h"; done)

(cd Protos && sha256sum $protos) > "$swift_out/protos.sha256"
echo "generated from: $(echo $protos)"
