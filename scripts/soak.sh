#!/usr/bin/env bash
# Long-running mixed load against the release build (not part of the test command):
# bct-encoder and bct-retrieval (memory store, HNSW, fsync=always) serve a catalogue
# of Fashion-MNIST training images while, for SECONDS (default 600), a writer upserts
# and deletes, a reader searches, the encoder is sent SIGHUP every 15 s, and the
# index moves back and forth between v1 and v2: an in-place backfill when the pair
# is certified (else a shadow one), then a shadow backfill back, each finalized.
# The retrieval process's resident memory is sampled every 2 s into a CSV; after
# each finalize it must come back, within 20 s, to within 10% of its post-load level
# (documents loaded, mixed load running 20 s, no upgrade yet).
# Prints the curve's summary and exits non-zero if a check fails.
# Usage: scripts/soak.sh [SECONDS] [DOCUMENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
documents="${2:-20000}"
source scripts/service-bench.sh

"$bin/bct" train --arch mlp --epochs 1 --fraction 0.05 --out "$work/models/v1" >/dev/null 2>&1
"$bin/bct" train --arch cnn --epochs 1 --fraction 0.05 --old "$work/models/v1" --out "$work/models/v2" >/dev/null 2>&1

start bct-encoder "$work/encoder.out" --models "$work/models" --host 127.0.0.1 --port 0 --no-metrics --reload-interval 0
enc_pid=$started_pid; enc_port=$started_port
start bct-retrieval "$work/retrieval.out" --encoder "127.0.0.1:$enc_port" --data-dir "$work/data" --host 127.0.0.1 --port 0 \
  --no-metrics --index hnsw --fsync always --shadow-grace 3600
ret_pid=$started_pid; ret_port=$started_port
cli() { "$bin/bct" "$@" --encoder "127.0.0.1:$enc_port" --retrieval "127.0.0.1:$ret_port" --deadline 600; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$ret_pid/status"; }
csv="${BCT_SOAK_CSV:-$work/rss.csv}"
echo "seconds,rss_kib,phase" >"$csv"
set_phase() { echo "$1" >"$work/phase"; }
set_phase load
started=$(date +%s)
sample() { echo "$(( $(date +%s) - started )),$(rss),$(cat "$work/phase")" >>"$csv"; }

cli index --split train --range "0-$((documents - 1))" --model-version v1 --batch 500 >/dev/null
sleep 3
echo "after loading $documents documents: RSS $(( $(rss) / 1024 )) MiB"
set_phase mixed

( while true; do sample; sleep 2; done ) & pids+=($!)
( while true; do kill -HUP "$enc_pid"; sleep 15; done ) & pids+=($!)
( i=0; while true; do
    from=$(( (i * 200) % documents ))
    cli delete --allow-missing $(seq -f "item-%g" "$from" $((from + 49))) >/dev/null 2>&1 || true
    cli index --split train --range "$from-$((from + 199))" --batch 100 >/dev/null 2>&1 || true
    i=$((i + 1))
  done ) & pids+=($!)
( while true; do cli search --split test --range 0-31 -k 10 >/dev/null 2>&1 || true; done ) & pids+=($!)

# The post-load level: documents loaded and the mixed load running (its connections,
# buffers and threads warmed up), before any upgrade.
sleep 20
base=$(rss)
echo "post-load level under the mixed load: RSS $((base / 1024)) MiB"
failures=0
cycle=0
end=$((started + seconds))
while [ "$(date +%s)" -lt "$end" ]; do
  cycle=$((cycle + 1))
  for target in v2 v1; do
    [ "$target" = v2 ] && mode=auto || mode=shadow
    set_phase "backfill-$target"
    cli backfill --to "$target" --mode "$mode" --batch-size 256 >/dev/null 2>&1 || echo "cycle $cycle: backfill to $target failed"
    cli backfill --finalize >/dev/null 2>&1 || true  # a shadow upgrade that switched; nothing to do after an in-place one
    set_phase "settled-$target"
    # Memory must come back: sampled every second for up to 20 s, it passes as soon as
    # it is within the limit (a snapshot being written holds a transient copy of the
    # collection for several seconds); `now` is the least sample.
    limit=$((base * 110 / 100))
    now=$(rss)
    for _ in $(seq 20); do
      [ "$now" -le "$limit" ] && break
      sleep 1
      sample_now=$(rss)
      [ "$sample_now" -lt "$now" ] && now=$sample_now
    done
    verdict="ok"
    if [ "$now" -gt "$limit" ]; then verdict="OVER"; failures=$((failures + 1)); fi
    documents_now=$(cli stats --json 2>/dev/null | sed -n 's/.*"documents" *: *\([0-9]*\).*/\1/p' | head -1)
    echo "cycle $cycle, $target finalized at $(( $(date +%s) - started )) s: RSS $((now / 1024)) MiB (base $((base / 1024)), limit $((limit / 1024))), ${documents_now:-?} documents: $verdict"
    [ "$(date +%s)" -lt "$end" ] || break
  done
done
kill -0 "$ret_pid" && kill -0 "$enc_pid" || { echo "a service died"; failures=$((failures + 1)); }
echo "RSS curve: $csv ($(wc -l <"$csv") samples); peak $(( $(cut -d, -f2 "$csv" | sort -n | tail -1) / 1024 )) MiB"
[ -n "${BCT_SOAK_CSV:-}" ] || awk -F, 'NR > 1 && NR % 15 == 0 {printf "  t=%ss rss=%d MiB %s\n", $1, $2 / 1024, $3}' "$csv"
[ "$failures" -eq 0 ] || { echo "soak: $failures checks failed"; exit 1; }
echo "soak: passed"
