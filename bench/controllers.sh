#!/usr/bin/env bash
# Benchmarks Portico's endpoint controllers: N Services of P Ready pods each, created from
# empty; the time until every Service has EndpointSlices and Endpoints listing all its pods;
# then K pods turned not Ready and back, with the delay from each status patch to the
# EndpointSlice / Endpoints watch event (p50/p90/p99/max).
#
#   bench/controllers.sh                    # N=100, then 1000, then 10000 Services, P=10, K=500
#   N=10000 bench/controllers.sh            # one size only
#   SIZES="100 1000" P=10 K=200 bench/controllers.sh
#   CONCURRENCY=16 NODES=10 RATE=20 bench/controllers.sh   # RATE: flips started per second (0: one at a time)
#   PORTICO_BIN=/path/to/portico bench/controllers.sh      # benchmark a prebuilt server
#   BASELINE=1 N=1000 bench/controllers.sh  # also fill a server without controllers, for comparison
#
# Builds with --release, starts a fresh Portico server (SQLite store, controllers on) on a
# free 127.0.0.1 port in a temporary directory for each size, runs portico-bench-controllers
# against it, and removes everything on exit. Needs python3 (only to read cargo metadata).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${N:-}" ]; then SIZES=${SIZES:-$N}; else SIZES=${SIZES:-"100 1000 10000"}; fi
export P=${P:-10} K=${K:-500}
unset N

TARGET=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if [ -n "${PORTICO_BIN:-}" ]; then
  echo "building portico-bench-controllers (release); server: $PORTICO_BIN" >&2
  cargo build --release --quiet -p portico-bench-controllers --manifest-path "$ROOT/Cargo.toml"
  PORTICO=$PORTICO_BIN
else
  echo "building portico and portico-bench-controllers (release)..." >&2
  cargo build --release --quiet -p portico -p portico-bench-controllers --manifest-path "$ROOT/Cargo.toml"
  PORTICO=$TARGET/release/portico
fi
BENCH=$TARGET/release/portico-bench-controllers

WORK=$(mktemp -d "${TMPDIR:-/tmp}/portico-bench-controllers.XXXXXX")
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# start_portico NAME CONTROLLERS(true|false) -> sets KUBECONFIG_OUT and SERVER_PID
start_portico() {
  local name=$1 controllers=$2
  PORTICO_LOG=${PORTICO_LOG:-warn} "$PORTICO" server --data-dir "$WORK/$name" --listen 127.0.0.1:0 \
    --controllers="$controllers" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    if grep -q "is ready at" "$WORK/$name.out" 2>/dev/null; then
      KUBECONFIG_OUT=$WORK/$name/kubeconfig
      return 0
    fi
    sleep 0.1
  done
  echo "portico $name did not start; log:" >&2; cat "$WORK/$name.log" >&2; exit 1
}

# run NAME CONTROLLERS [BENCH ARGS...]: one fresh server, one benchmark run against it.
status=0
run() {
  local name=$1 controllers=$2; shift 2
  start_portico "$name" "$controllers"
  echo "== $name (controllers $controllers): server pid $SERVER_PID, data in $WORK/$name" >&2
  if ! "$BENCH" --kubeconfig "$KUBECONFIG_OUT" --server-pid "$SERVER_PID" "$@"; then
    status=1
    echo "server log (last 40 lines):" >&2; tail -n 40 "$WORK/$name.log" >&2
  fi
  echo "store on disk: $(du -sh "$WORK/$name" | cut -f1)"
  echo
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  rm -rf "$WORK/$name"
}

for n in $SIZES; do
  if [ -n "${BASELINE:-}" ]; then
    N=$n run "n$n-baseline" false --fill-only
  fi
  N=$n run "n$n" true
done
exit $status
