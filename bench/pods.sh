#!/usr/bin/env bash
# Benchmarks `portico up` and pods, in one run:
#   1. startup: `portico up` from the spawn to its "ready" line, R times, alternating with
#      the direct baseline `portico server` (API server + controllers only);
#   2. a Deployment of 100 replicas (registry.k8s.io/pause, then luksa/kubia with a
#      readiness probe) to 100 Ready pods, on `--nodes 1` and `--nodes 2`;
#   3. per-pod start latency (watch ADDED -> Ready, client clock; and Kubernetes' own
#      definitions from the creation timestamp), p50/p90/p99/max;
#   4. memory (PSS and RSS from /proc) of Portico's processes and of the containers with no
#      pods and with the pods Ready and idle, per pod.
# Prints Markdown tables with ratios on stdout; progress goes to stderr.
#
#   bench/pods.sh                          # R=10 startup runs, NODES=1,2, REPLICAS=100
#   RUNS=3 NODES=1 bench/pods.sh           # quicker
#   IMAGES=pause REPLICAS=200 bench/pods.sh
#   RUNS=0 bench/pods.sh                   # skip the startup phase
#   PORTICO_BIN=/path/to/portico bench/pods.sh   # benchmark a prebuilt binary
#   ADDRESS_PREFIX=127.78.0 API_PORT=18443 bench/pods.sh   # other host addresses / port
#   TIMEOUT=120 STALL=30 bench/pods.sh   # give up on a Deployment after TIMEOUT s, or STALL s without a new Ready pod
#   SA_TOKEN=false bench/pods.sh         # pods without the service account token volume
#
# Builds with --release, runs every cluster in a temporary directory on 127.77.0.x (one
# address per cluster), stops each cluster after use, and removes everything on exit.
# Needs python3 (only to read cargo metadata).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export RUNS=${RUNS:-${R:-10}}

TARGET=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if [ -n "${PORTICO_BIN:-}" ]; then
  echo "building portico-bench-pods (release); portico: $PORTICO_BIN" >&2
  cargo build --release --quiet -p portico-bench-pods --manifest-path "$ROOT/Cargo.toml"
  PORTICO=$PORTICO_BIN
else
  echo "building portico and portico-bench-pods (release)..." >&2
  cargo build --release --quiet -p portico -p portico-bench-pods --manifest-path "$ROOT/Cargo.toml"
  PORTICO=$TARGET/release/portico
fi
BENCH=$TARGET/release/portico-bench-pods

WORK=$(mktemp -d "${TMPDIR:-/tmp}/portico-bench-pods.XXXXXX")
DRIVER_PID=
cleanup() {
  if [ -n "$DRIVER_PID" ]; then
    kill "$DRIVER_PID" 2>/dev/null || true
    wait "$DRIVER_PID" 2>/dev/null || true
  fi
  # The driver stops what it started; this catches a cluster left behind if it was killed.
  for home in "$WORK"/startup-up-* "$WORK"/cluster-n*; do
    [ -d "$home" ] && "$PORTICO" down --home "$home" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BENCH" --portico "$PORTICO" --work "$WORK" &
DRIVER_PID=$!
status=0
wait "$DRIVER_PID" || status=$?
DRIVER_PID=
if [ "$status" -ne 0 ]; then
  for log in "$WORK"/*.log; do
    [ -s "$log" ] || continue
    echo "== $log (last 20 lines)" >&2; tail -n 20 "$log" >&2
  done
fi
exit "$status"
