#!/usr/bin/env bash
# Benchmarks Portico's cluster DNS against Unbound serving the same names, with dnsperf.
#
#   bench/dns.sh                          # 10,000 Services x 10 endpoints, 3 rounds of 10 s
#   SERVICES=2000 ENDPOINTS=5 ROUNDS=1 DURATION=5 bench/dns.sh
#   RATE=20000 bench/dns.sh               # the fixed offered rate of the latency runs
#
# Subject: the real server (crates/dns `Server`, UDP) answering a zone fed with generated
# Services and EndpointSlices as `portico dns` feeds it from its watchers (each object read
# into the compact `ZoneState`, then dropped; the example `zone_server`). The example also
# times incremental changes with every Service present (add a Service and its slice, change
# one slice, delete a Service; each until the new zone is in force), printed below. Peer: Unbound, one thread,
# the same names as `local-data` in a static `cluster.local` zone. There is no meaningful
# "direct" baseline for a DNS server, so none is run.
#
# Discipline (shared/research/perf-anchors.md, 6.3): the server under test on CPU 1, dnsperf on
# CPU 0; runs alternate ours/peer; two kinds of run:
#   - max:   dnsperf -c 20 -q 500 (as fast as it goes; on 2 cores dnsperf saturates first, so
#            the fair figure is queries per server CPU-second from /proc/PID/stat);
#   - fixed: dnsperf -Q $RATE (latency at the same offered load on both).
# Also the resident memory of both at the end. Installs dnsperf and unbound with apt if missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVICES=${SERVICES:-10000}
ENDPOINTS=${ENDPOINTS:-10}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
RATE=${RATE:-20000}
SUBJECT_CPU=${SUBJECT_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}

need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v unbound >/dev/null || [ -x /usr/sbin/unbound ] || need+=(unbound)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
UNBOUND=$(command -v unbound || echo /usr/sbin/unbound)

TARGET=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "building the zone_server example (release)..." >&2
cargo build --release --quiet -p portico-dns --example zone_server --manifest-path "$ROOT/Cargo.toml"
SERVER=$TARGET/release/examples/zone_server

WORK=$(mktemp -d "${TMPDIR:-/tmp}/portico-dns-bench.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# Portico: build the zone, write the query file and Unbound's local-data.
OURS_PORT=$(free_port)
taskset -c "$SUBJECT_CPU" "$SERVER" --services "$SERVICES" --endpoints "$ENDPOINTS" \
  --listen "127.0.0.1:$OURS_PORT" --queries "$WORK/queries.txt" --unbound "$WORK/local-data.conf" \
  >"$WORK/ours.out" 2>"$WORK/ours.log" &
OURS_PID=$!
PIDS+=("$OURS_PID")
for _ in $(seq 1 600); do
  grep -q '^ready' "$WORK/ours.out" 2>/dev/null && break
  kill -0 "$OURS_PID" 2>/dev/null || { cat "$WORK/ours.log" >&2; exit 1; }
  sleep 0.1
done
BUILD_MS=$(awk '/^ready/ {print $3}' "$WORK/ours.out")
read -r ADD_MS CHANGE_MS DELETE_MS < <(awk '/^update/ {print $2, $3, $4}' "$WORK/ours.out")

# Unbound: one thread, no validation or recursion, the same names.
PEER_PORT=$(free_port)
cat >"$WORK/unbound.conf" <<EOF
server:
    interface: 127.0.0.1
    port: $PEER_PORT
    num-threads: 1
    do-ip6: no
    do-tcp: yes
    username: ""
    chroot: ""
    directory: "$WORK"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    module-config: "iterator"
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: yes
    so-rcvbuf: 4m
include: "$WORK/local-data.conf"
remote-control:
    control-enable: no
EOF
taskset -c "$SUBJECT_CPU" "$UNBOUND" -d -c "$WORK/unbound.conf" >"$WORK/unbound.log" 2>&1 &
PEER_PID=$!
PIDS+=("$PEER_PID")
for _ in $(seq 1 100); do
  dig +short +tries=1 +time=1 -p "$PEER_PORT" @127.0.0.1 svc-1.ns-1.svc.cluster.local >/dev/null 2>&1 && break
  sleep 0.1
done

# Both answer the same.
for port in "$OURS_PORT" "$PEER_PORT"; do
  got=$(dig +short +tries=1 +time=2 -p "$port" @127.0.0.1 "svc-$((SERVICES - 1)).ns-$(((SERVICES - 1) % 10)).svc.cluster.local")
  [ -n "$got" ] || { echo "server on port $port does not answer" >&2; cat "$WORK/unbound.log" >&2; exit 1; }
  echo "port $port: svc-$((SERVICES - 1)) -> $got" >&2
done

# run NAME PID PORT KIND -> appends "NAME KIND qps cpu_s q_per_cpu_s avg_ms sd_ms lost" to results
run() {
  local name=$1 pid=$2 port=$3 kind=$4 args before after out
  if [ "$kind" = max ]; then args=(-c 20 -q 500); else args=(-c 20 -q 500 -Q "$RATE"); fi
  # Warm-up.
  taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries.txt" -l 2 "${args[@]}" >/dev/null 2>&1
  before=$(cpu_ticks "$pid")
  out=$(taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries.txt" -l "$DURATION" "${args[@]}" 2>&1)
  after=$(cpu_ticks "$pid")
  echo "$out" >"$WORK/dnsperf-$name-$kind-$(date +%s%N).txt"
  echo "--- $name ($kind) ---" >>"$WORK/raw.txt"
  echo "$out" >>"$WORK/raw.txt"
  python3 - "$name" "$kind" "$before" "$after" "$TICK" <<PY >>"$WORK/results.txt"
import re, sys
name, kind, before, after, tick = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
out = """$out"""
qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
done = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
avg = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1)) * 1000
sd = float(re.search(r"Latency StdDev \(s\):\s+([\d.]+)", out).group(1)) * 1000
cpu = (after - before) / tick
print(f"{name} {kind} {qps:.0f} {cpu:.2f} {done / cpu if cpu else 0:.0f} {avg:.3f} {sd:.3f} {lost}")
PY
}

: >"$WORK/results.txt"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS..." >&2
  for kind in max fixed; do
    if [ $((round % 2)) -eq 1 ]; then
      run portico "$OURS_PID" "$OURS_PORT" "$kind"; run unbound "$PEER_PID" "$PEER_PORT" "$kind"
    else
      run unbound "$PEER_PID" "$PEER_PORT" "$kind"; run portico "$OURS_PID" "$OURS_PORT" "$kind"
    fi
  done
done

OURS_RSS=$(rss_mib "$OURS_PID")
PEER_RSS=$(rss_mib "$PEER_PID")

echo
echo "raw dnsperf output:"
sed 's/^/  /' "$WORK/raw.txt"
echo
echo "Portico DNS vs Unbound 1.x (1 thread); $SERVICES Services x $ENDPOINTS endpoints;"
echo "server on CPU $SUBJECT_CPU, dnsperf on CPU $CLIENT_CPU; $ROUNDS rounds x ${DURATION}s; initial zone load ${BUILD_MS} ms"
echo "one service added with $(python3 -c "print(f'{$SERVICES:,}')") present: $ADD_MS ms; one EndpointSlice changed: $CHANGE_MS ms; one service deleted: $DELETE_MS ms (medians of 50, until the new zone is in force)"
python3 - "$WORK/results.txt" "$OURS_RSS" "$PEER_RSS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def col(name, kind, i):
    return [float(r[i]) for r in rows if r[0] == name and r[1] == kind]
def fmt(values, unit=""):
    if not values:
        return "-"
    m = statistics.median(values)
    return f"{m:,.0f}{unit} ({min(values):,.0f}-{max(values):,.0f})" if m >= 100 else \
           f"{m:.3f}{unit} ({min(values):.3f}-{max(values):.3f})"
print(f"{'':22}{'portico':>34}{'unbound':>34}")
for kind, label in [("max", "max load"), ("fixed", "fixed rate")]:
    for i, what in [(2, "queries/s"), (4, "queries/CPU-second"), (5, "avg latency ms"), (6, "latency sd ms"), (7, "lost")]:
        print(f"{label + ' ' + what:22}{fmt(col('portico', kind, i)):>34}{fmt(col('unbound', kind, i)):>34}")
def ratio(kind, i):
    a, b = col("portico", kind, i), col("unbound", kind, i)
    return statistics.median(a) / statistics.median(b) if a and b and statistics.median(b) else float("nan")
print(f"ratio portico/unbound: queries per CPU-second {ratio('max', 4):.2f}x (max load), "
      f"{ratio('fixed', 4):.2f}x (fixed rate); avg latency at fixed rate {ratio('fixed', 5):.2f}x")
print(f"resident memory: portico {sys.argv[2]} MiB (zone state and encoded answers), unbound {sys.argv[3]} MiB")
PY
