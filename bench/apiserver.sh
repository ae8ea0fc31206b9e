#!/usr/bin/env bash
# Benchmarks Portico's API server on SQLite and on etcd against the raw stores underneath.
#
#   bench/apiserver.sh                 # N=10000 Services, 16 clients, 100 watchers
#   N=2000 bench/apiserver.sh          # smaller run
#   CONCURRENCY=8 WATCHERS=50 WATCH_EVENTS=100 bench/apiserver.sh
#   PORTICO_BIN=/path/to/portico bench/apiserver.sh   # benchmark a prebuilt server
#
# Builds with --release, starts two etcd members (one behind Portico, one for the raw put
# baseline) and two Portico servers on free 127.0.0.1 ports in a temporary directory, runs
# portico-bench, and removes everything on exit. Needs /usr/bin/etcd, curl and python3.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ETCD=${ETCD:-/usr/bin/etcd}
export N=${N:-10000} CONCURRENCY=${CONCURRENCY:-16} WATCHERS=${WATCHERS:-100}
[ -n "${WATCH_EVENTS:-}" ] && export WATCH_EVENTS

TARGET=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if [ -n "${PORTICO_BIN:-}" ]; then
  # A prebuilt server (e.g. to compare two builds); only the benchmark is built.
  echo "building portico-bench (release); server: $PORTICO_BIN" >&2
  cargo build --release --quiet -p portico-bench --manifest-path "$ROOT/Cargo.toml"
  PORTICO=$PORTICO_BIN
else
  echo "building portico and portico-bench (release)..." >&2
  cargo build --release --quiet -p portico -p portico-bench --manifest-path "$ROOT/Cargo.toml"
  PORTICO=$TARGET/release/portico
fi
BENCH=$TARGET/release/portico-bench

WORK=$(mktemp -d "${TMPDIR:-/tmp}/portico-bench.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_etcd NAME -> prints the client URL
start_etcd() {
  local name=$1 client peer
  client=$(free_port); peer=$(free_port)
  "$ETCD" --name "$name" --data-dir "$WORK/$name" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$name=http://127.0.0.1:$peer" --log-level error >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:$client/health" 2>/dev/null | grep -q '"health":"true"'; then
      ETCD_URL="http://127.0.0.1:$client"
      return 0
    fi
    sleep 0.1
  done
  echo "etcd $name did not start; log:" >&2; cat "$WORK/$name.log" >&2; exit 1
}

# start_portico NAME [ARGS...] -> sets KUBECONFIG_OUT
start_portico() {
  local name=$1; shift
  # The API server alone: the controllers (on by default) would add their own writes.
  PORTICO_LOG=warn "$PORTICO" server --data-dir "$WORK/$name" --listen 127.0.0.1:0 \
    --controllers false "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.log" &
  PIDS+=($!)
  for _ in $(seq 1 300); do
    if grep -q "is ready at" "$WORK/$name.out" 2>/dev/null; then
      KUBECONFIG_OUT=$WORK/$name/kubeconfig
      return 0
    fi
    sleep 0.1
  done
  echo "portico $name did not start; log:" >&2; cat "$WORK/$name.log" >&2; exit 1
}

start_etcd etcd-portico; ETCD_PORTICO=$ETCD_URL
start_etcd etcd-raw; ETCD_RAW=$ETCD_URL
start_portico portico-sqlite; KC_SQLITE=$KUBECONFIG_OUT
start_portico portico-etcd --etcd "$ETCD_PORTICO"; KC_ETCD=$KUBECONFIG_OUT
mkdir -p "$WORK/raw"

echo "etcd $("$ETCD" --version | head -1 | awk '{print $3}'), $(nproc) cores, data in $WORK" >&2
"$BENCH" --sqlite-kubeconfig "$KC_SQLITE" --etcd-kubeconfig "$KC_ETCD" \
  --raw-etcd "$ETCD_RAW" --scratch-dir "$WORK/raw"
