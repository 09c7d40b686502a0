#!/usr/bin/env bash
# Sourced by the code generators: installs protoc (and protoc-c) with apt where missing,
# and builds the two Swift plugins from the mirrored grpc-swift-protobuf 2.4.1 (which
# pins swift-protobuf 1.39.0) in .build-protoc-plugins/, ignored by git. Sets
# $plugin_flags, the protoc arguments that name both plugins.
need_apt=()
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
command -v protoc-c >/dev/null || need_apt+=(protobuf-c-compiler)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

plugins="$PWD/.build-protoc-plugins"
checkout="$plugins/grpc-swift-protobuf"
if [ ! -d "$checkout/.git" ]; then
  mkdir -p "$plugins"
  git clone -q https://github.com/grpc/grpc-swift-protobuf "$checkout"
fi
git -C "$checkout" checkout -q 2.4.1
(cd "$checkout" && swift build -c release --product protoc-gen-grpc-swift-2 >/dev/null \
                && swift build -c release --product protoc-gen-swift >/dev/null)
plugin_bin="$(cd "$checkout" && swift build -c release --show-bin-path)"
plugin_flags=(--plugin=protoc-gen-swift="$plugin_bin/protoc-gen-swift"
              --plugin=protoc-gen-grpc-swift-2="$plugin_bin/protoc-gen-grpc-swift-2")
