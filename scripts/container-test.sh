#!/usr/bin/env bash
# Opt-in container test (not in the default test command; `BCT_CONTAINER_TEST=1
# scripts/test.sh` or run this script): builds docker/Dockerfile's runtime stage
# from locally built static binaries on a debootstrap'ed Debian base (no registry is
# needed), starts the encoder and retrieval containers on a podman network the way
# docker/compose.yaml wires them (service name `encoder`, env configuration,
# published loopback ports, named data volume), waits for their HEALTHCHECKs, runs
# an index / search / backfill / stats round from the host through the published
# ports, and tears everything down. With BCT_CONTAINER_STORE=milvus the retrieval
# container keeps its documents in Milvus, as docker/compose.milvus.yaml wires it
# (BCT_STORE=milvus://...): the Milvus server is a milvus-lite on the host (the
# Milvus image cannot be fetched offline), reached from the container as
# host.containers.internal, and a second, --read-only retrieval container serves
# the same catalogue.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
work="$root/.build-containers"
mkdir -p "$work"

missing=()
for tool in podman buildah runc debootstrap netavark aardvark-dns iptables; do
  command -v "$tool" >/dev/null || [ -x "/usr/lib/podman/$tool" ] || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    podman buildah runc debootstrap netavark aardvark-dns iptables uidmap >/dev/null
fi
cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
[network]
network_backend = "netavark"
CONF
export CONTAINERS_CONF="$work/containers.conf"

echo "== static release binaries"
for product in bct bct-encoder bct-retrieval; do
  swift build -c release --static-swift-stdlib --scratch-path .build-static --product "$product" 2>&1 | grep -E "error|warning: unre|Compiling|Build" | grep -v "^\[" | tail -5
done
bin="$(swift build -c release --static-swift-stdlib --scratch-path .build-static --show-bin-path)"

echo "== base image (debootstrap, cached)"
if ! podman image exists localhost/bct-base:bookworm; then
  rm -rf "$work/rootfs"
  debootstrap --variant=minbase --include=libopenblas0-pthread,zlib1g,libstdc++6 \
    bookworm "$work/rootfs" http://deb.debian.org/debian >/dev/null
  tar -C "$work/rootfs" -c . | podman import - localhost/bct-base:bookworm >/dev/null
  rm -rf "$work/rootfs"
fi

echo "== runtime image from docker/Dockerfile's runtime stage"
context="$work/context"
rm -rf "$context" && mkdir -p "$context/bin"
cp "$bin/bct" "$bin/bct-encoder" "$bin/bct-retrieval" "$context/bin/"
awk '/^FROM .* AS runtime$/{p=1} /^FROM runtime AS trainer$/{p=0} p' docker/Dockerfile \
  | sed -e 's|^FROM .* AS runtime$|FROM localhost/bct-base:bookworm|' -e 's|^COPY --from=builder /out/ |COPY bin/ |' \
  >"$context/Containerfile"
podman build -q --format docker -t localhost/bct:test "$context" >/dev/null

echo "== models (trained on the host with the same binary)"
models="$work/models"
if [ ! -f "$models/v2/manifest.json" ]; then
  rm -rf "$models"
  "$bin/bct" train --arch mlp --epochs 1 --fraction 0.05 --out "$models/v1" >/dev/null 2>&1
  "$bin/bct" train --arch cnn --epochs 1 --fraction 0.05 --old "$models/v1" --out "$models/v2" >/dev/null 2>&1
fi

store="${BCT_CONTAINER_STORE:-memory}"
net=bct-test; encoder=bct-test-encoder; retrieval=bct-test-retrieval; reader=bct-test-reader; volume=bct-test-data
milvus_pid=""
cleanup() {
  [ -n "$milvus_pid" ] && kill "$milvus_pid" 2>/dev/null || true
  podman rm -f -t 5 "$reader" "$retrieval" "$encoder" >/dev/null 2>&1 || true
  podman network rm -f "$net" >/dev/null 2>&1 || true
  podman volume rm -f "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
podman network create "$net" >/dev/null
podman volume create "$volume" >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
encoder_port=$(free_port); retrieval_port=$(free_port)

wait_healthy() {
  for _ in $(seq 60); do
    if podman healthcheck run "$1" >/dev/null 2>&1; then echo "$1 healthy"; return 0; fi
    sleep 1
  done
  echo "$1 never became healthy"; podman logs "$1" | tail -20; return 1
}

echo "== containers"
podman run -d --name "$encoder" --network "$net" --network-alias encoder \
  -e BCT_MODELS=/models -e BCT_PORT=50051 -e BCT_METRICS_PORT=9091 -e BCT_HEALTH_SERVICE=encoder -e BCT_LOG_FORMAT=json \
  -v "$models:/models:ro" -p "127.0.0.1:$encoder_port:50051" localhost/bct:test bct-encoder >/dev/null
wait_healthy "$encoder"
store_env=()
if [ "$store" = milvus ]; then
  source scripts/milvus-venv.sh
  milvus_port=$(free_port)
  mkdir -p "$work/milvus" && rm -rf "$work/milvus"/*
  "$BCT_MILVUS_LITE" server --data-dir "$work/milvus" --host 0.0.0.0 --port "$milvus_port" >"$work/milvus.log" 2>&1 &
  milvus_pid=$!
  for _ in $(seq 300); do grep -q "listening on" "$work/milvus.log" && break; sleep 0.1; done
  store_env=(-e "BCT_STORE=milvus://host.containers.internal:$milvus_port/bct")
fi
podman run -d --name "$retrieval" --network "$net" "${store_env[@]}" \
  -e BCT_ENCODER=encoder:50051 -e BCT_DATA_DIR=/data -e BCT_PORT=50052 -e BCT_METRICS_PORT=9092 \
  -e BCT_HEALTH_SERVICE=retrieval -e BCT_LOG_FORMAT=json \
  -v "$volume:/data:U" -p "127.0.0.1:$retrieval_port:50052" localhost/bct:test bct-retrieval >/dev/null
wait_healthy "$retrieval"

echo "== from the host, through the published ports"
export BCT_ENCODER="127.0.0.1:$encoder_port" BCT_RETRIEVAL="127.0.0.1:$retrieval_port"
"$bin/bct" health
"$bin/bct" models
"$bin/bct" index --split test --range 0-999 --model-version v1 --id-prefix test-
"$bin/bct" search --split test --range 0-0 -k 3 --model-version v1 | tee "$work/search.txt"
grep -q "test-0" "$work/search.txt"
"$bin/bct" backfill --to v2 | tee "$work/backfill.txt"
grep -q "completed" "$work/backfill.txt"
"$bin/bct" stats
echo "== restart the retrieval container: the documents are still there"
podman restart -t 10 "$retrieval" >/dev/null
wait_healthy "$retrieval"
"$bin/bct" stats --json | tee "$work/stats.json"
grep -q '"documents":1000' "$work/stats.json"
if [ "$store" = milvus ]; then
  echo "== a read-only replica container over the same Milvus catalogue"
  reader_port=$(free_port)
  podman run -d --name "$reader" --network "$net" "${store_env[@]}" -e BCT_READ_ONLY=1 \
    -e BCT_ENCODER=encoder:50051 -e BCT_DATA_DIR=/tmp/bct -e BCT_PORT=50052 -e BCT_METRICS_PORT=9092 \
    -e BCT_HEALTH_SERVICE=retrieval -e BCT_LOG_FORMAT=json \
    -p "127.0.0.1:$reader_port:50052" localhost/bct:test bct-retrieval >/dev/null
  wait_healthy "$reader"
  BCT_RETRIEVAL="127.0.0.1:$reader_port" "$bin/bct" stats --json | tee "$work/reader.json"
  grep -q '"documents":1000' "$work/reader.json"
  BCT_RETRIEVAL="127.0.0.1:$reader_port" "$bin/bct" search --split test --range 0-0 -k 3 --model-version v2 | tee "$work/reader-search.txt"
  grep -q "test-0" "$work/reader-search.txt"
  if BCT_RETRIEVAL="127.0.0.1:$reader_port" "$bin/bct" delete test-0 2>"$work/reader-delete.txt"; then
    echo "the read-only replica accepted a delete"; exit 1
  fi
  grep -q "FAILED_PRECONDITION" "$work/reader-delete.txt"
fi
echo "container test passed ($store store)"
