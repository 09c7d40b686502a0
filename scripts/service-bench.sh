# Sourced by the service benchmarks (bench-load.sh, bench-stores.sh): builds the
# release executables, makes a work folder removed on exit, and defines `start`,
# which runs a service in the background, waits for its "listening on" line and sets
# $started_pid and $started_port. Processes started (and any pid added to `pids`)
# are killed on exit.
scripts/bootstrap.sh
for product in bct bct-encoder bct-retrieval bct-bench; do
  swift build -c release --product "$product" 2>&1 | tail -1
done
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

start() { # name out-file args... ; sets $started_pid and $started_port
  local name="$1" out="$2"; shift 2
  "$bin/$name" "$@" >"$out" 2>"$out.log" &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq 600); do grep -q "listening on" "$out" && break; sleep 0.05; done
  started_port=$(sed -n 's/.* listening on .*:\([0-9]*\)$/\1/p' "$out")
}
