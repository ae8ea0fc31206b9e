#!/usr/bin/env bash
# Benchmarks the service proxy (issue 6), all inside one `portico up` sandbox per datapath:
#   1. throughput and latency with wrk (Debian's) from a pod, to the same nginx backend
#      (Debian's nginx-light, one process) reached four ways: directly on its pod IP (the
#      physical limit), through a cluster IP with the nftables datapath, through a cluster
#      IP with the userspace datapath, and through HAProxy (Debian's) in TCP mode run as a
#      pod (all CPUs, `option splice-auto`: the userspace proxy splices too);
#      keep-alive and `Connection: close`, a 100-byte and a 1 MiB response.
#      Both clusters run side by side and the runs alternate (round by round, target by
#      target); each figure is the median over the rounds. Requests/s and p99 are given as
#      ratios to direct (in the same cluster), with the machine's CPU time per request.
#      In the nftables cluster a fourth path, kernel-dnat, is the kernel's floor for any DNAT:
#      one rule of the bench's own (FLOOR=0 leaves it out); Portico's cluster IP is also given
#      as a ratio to it.
#   2. the time one endpoint change takes to reach the datapath with SERVICES services
#      present: a selector-less Service whose EndpointSlice is switched between the two
#      backends through the API (one curl PATCH, timed from just before it), one poller in
#      a pod opening a new connection to the cluster IP every 2 ms until the other backend
#      answers (p50/p99/max over FLIPS changes), the proxy's own sync durations, and the
#      RSS of the node process that runs the proxy.
#   3. latency at one connection (wrk -c1, 100 B), keep-alive and `Connection: close` (the
#      first packet's path), p50 and p99 as ratios to direct, run in the same rounds.
#   ROUNDS=0 skips the wrk runs, FLIPS=0 the endpoint changes; CONNECTIONS="keep-alive"
#   and SIZES="small" narrow the throughput cases (CONNECTIONS="" skips them), LATENCY="" the
#   one-connection runs.
# Prints Markdown on stdout; progress goes to stderr.
#
#   bench/proxy.sh                               # DUR=10 s per run, ROUNDS=3, SERVICES=1000
#   DUR=5 ROUNDS=1 SERVICES=200 FLIPS=10 bench/proxy.sh   # quicker
#   MODES=nftables bench/proxy.sh                # one datapath only
#   PORTICO_BIN=/path/to/portico bench/proxy.sh  # a prebuilt binary (else cargo build --release)
#   CONNS=32 WRK_CPU=1 CLUSTER_CPUS=0 ADDRESS_PREFIX=127.79.0 API_PORT=18643 bench/proxy.sh
#
# Installs wrk, haproxy, nginx-light and conntrack with apt-get if missing. wrk is pinned to
# CPU WRK_CPU (taskset); the clusters (nginx, the proxies, HAProxy and everything else) to
# CLUSTER_CPUS (all CPUs if empty), so that load generator and subject never share a CPU.
# Before each run the node's connection tracking table is flushed (`conntrack -F` in its
# network namespace), so no run meets the TIME_WAIT entries of the one before. Packets that
# pods send are steered to CLUSTER_CPUS (receive packet steering on the node's side of each
# veth; STEER=0 leaves it off), so the datapath's work is charged to the subject, not to
# the load generator's CPU.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUR=${DUR:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
SERVICES=${SERVICES:-1000}
FLIPS=${FLIPS:-20}
MODES=${MODES:-"nftables userspace"}
CONNECTIONS=${CONNECTIONS-"keep-alive close"}
SIZES=${SIZES-"small big"}
WRK_CPU=${WRK_CPU:-1}
CLUSTER_CPUS=${CLUSTER_CPUS-0}
ADDRESS_PREFIX=${ADDRESS_PREFIX:-127.79.0}
API_PORT=${API_PORT:-18643}
STEER=${STEER:-1}
LATENCY=${LATENCY-"keep-alive close"}
FLOOR=${FLOOR:-1}
FLOOR_IP=${FLOOR_IP:-10.200.0.1}
TARGETS=${TARGETS:-"direct cluster-ip kernel-dnat haproxy"}

log() { echo "[$(date +%T)] $*" >&2; }

# --- tools --------------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v conntrack >/dev/null || missing+=(conntrack)
[ "$FLOOR" = 1 ] && ! command -v nft >/dev/null && missing+=(nftables)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} with apt-get"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi

if [ -n "${PORTICO_BIN:-}" ]; then
  PORTICO=$PORTICO_BIN
else
  log "building portico (release)..."
  cargo build --release --quiet -p portico --manifest-path "$ROOT/Cargo.toml"
  TARGET=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  PORTICO=$TARGET/release/portico
fi

WORK=$(mktemp -d /tmp/portico-bench-proxy.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- clusters -----------------------------------------------------------------------------
k() { local mode=$1; shift; kubectl --kubeconfig "$WORK/$mode/kubeconfig" "$@"; }

declare -A UP_PID
start_cluster() {
  local mode=$1 idx=$2
  mkdir -p "$WORK/$mode"
  local pin=()
  [ -n "$CLUSTER_CPUS" ] && pin=(taskset -c "$CLUSTER_CPUS")
  "${pin[@]}" "$PORTICO" up --nodes 1 --home "$WORK/$mode" --proxy-mode "$mode" \
    --listen-address "$ADDRESS_PREFIX.$((idx + 2))" --api-port "$((API_PORT + idx))" \
    --lb-pool "127.80.$idx.0/24" >"$WORK/$mode.out" 2>&1 &
  PIDS+=($!)
  UP_PID[$mode]=$!
  for _ in $(seq 1 600); do
    grep -q "^Portico is ready" "$WORK/$mode.out" && return 0
    sleep 0.2
  done
  log "portico up ($mode) did not get ready:"; cat "$WORK/$mode.out" >&2; exit 1
}

# nginx: one process, no access log, sendfile; /small (100 B), /big (1 MiB), /id (pod name).
WEB='apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: debian
        command:
        - bash
        - -c
        - |
          mkdir -p /tmp/www /tmp/nginx
          head -c 100 /dev/zero | tr "\0" x > /tmp/www/small
          head -c 1048576 /dev/zero | tr "\0" x > /tmp/www/big
          cat > /tmp/nginx/nginx.conf <<CONF
          master_process off;
          user root root;
          pid /tmp/nginx/nginx.pid;
          error_log stderr warn;
          events { worker_connections 8192; }
          http {
            access_log off;
            sendfile on;
            tcp_nopush on;
            keepalive_requests 100000000;
            keepalive_timeout 300s;
            client_body_temp_path /tmp/nginx/body;
            proxy_temp_path /tmp/nginx/proxy;
            fastcgi_temp_path /tmp/nginx/fastcgi;
            uwsgi_temp_path /tmp/nginx/uwsgi;
            scgi_temp_path /tmp/nginx/scgi;
            server {
              listen 8080 backlog=4096;
              listen 8081 backlog=4096;
              listen 8082 backlog=4096;
              root /tmp/www;
              location = /id { default_type text/plain; return 200 "\$hostname"; }
            }
          }
          CONF
          exec /usr/sbin/nginx -c /tmp/nginx/nginx.conf -g "daemon off;"
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /small, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec:
  containers:
  - {name: tools, image: debian, command: [sleep, infinity]}
'

haproxy_pod() {
  local a=$1
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: haproxy, labels: {app: haproxy}}
spec:
  containers:
  - name: haproxy
    image: debian
    command:
    - bash
    - -c
    - |
      cat > /tmp/haproxy.cfg <<CONF
      global
        maxconn 4000
      defaults
        mode tcp
        option splice-auto
        timeout connect 5s
        timeout client 300s
        timeout server 300s
      frontend web
        bind :8080
        default_backend web
      backend web
        balance roundrobin
        server a $a:8080
      CONF
      exec /usr/sbin/haproxy -db -f /tmp/haproxy.cfg
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
EOF
}

wait_ready() {
  local mode=$1 selector=$2 n=$3
  for _ in $(seq 1 300); do
    local r
    r=$(k "$mode" get pods -l "$selector" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true)
    [ "$r" -ge "$n" ] && return 0
    sleep 0.5
  done
  log "$mode: pods $selector not Ready"; k "$mode" get pods -o wide >&2; exit 1
}

# A veth hands each packet to the network stack on the CPU that sent it, so the bridging,
# routing, NAT and connection tracking of every request would run on the load generator's
# CPU and be charged to it. Receive packet steering on the node's side of every pod's veth
# moves that work to the cluster's CPUs, as a NIC interrupt on the receiving machine would.
cpu_mask() { # "0", "0-1", "0,2" -> hex mask
  local mask=0 part a b
  for part in ${1//,/ }; do
    a=${part%-*}; b=${part#*-}
    for ((i = a; i <= b; i++)); do mask=$((mask | (1 << i))); done
  done
  printf '%x' "$mask"
}
steer() {
  local mode=$1 mask
  mask=$(cpu_mask "${CLUSTER_CPUS:-0-$(($(nproc) - 1))}")
  nsenter -t "${NODE_PID[$mode]}" -n unshare -m sh -c "mount -t sysfs sysfs /sys &&
    for q in /sys/class/net/veth*/queues/rx-*/rps_cpus; do echo $mask > \$q; done" ||
    { log "$mode: cannot set receive packet steering (STEER=0 runs without)"; exit 1; }
}

declare -A TARGET POD_A POD_B NAME_A NAME_B NODE_PID
for mode in $MODES; do
  idx=$([ "$mode" = nftables ] && echo 0 || echo 1)
  log "starting a cluster with the $mode proxy"
  start_cluster "$mode" "$idx"
  echo "$WEB" | k "$mode" apply -f - >/dev/null
  wait_ready "$mode" app=web 2
  wait_ready "$mode" app=client 1
  # wrk closes each `Connection: close` connection as soon as it has parsed the response,
  # often before the proxy's FIN arrives, so the client holds the TIME_WAIT entries: 28k
  # ports per destination last 60 s, and at a few thousand connections per second every
  # connect() ends up scanning a full port range (a run collapses to ~150 requests/s, for
  # HAProxy as for us). Letting the client reuse ports in TIME_WAIT (timestamps keep that
  # safe) is the load generator's business, as in any connection-per-request load test.
  k "$mode" exec client -- sh -c 'echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse'
  read -r POD_A["$mode"] NAME_A["$mode"] POD_B["$mode"] NAME_B["$mode"] < <(k "$mode" get pods -l app=web \
    -o jsonpath='{range .items[*]}{.status.podIP} {.metadata.name} {end}'; echo)
  # Throughput goes to pod A alone on every path, so that each compares the same backend.
  k "$mode" label pod "${NAME_A[$mode]}" bench=a >/dev/null
  # The cluster IP path reaches pod A on its second port: with `Connection: close` the
  # server keeps TIME_WAIT for each client port, and a direct run's entries (client
  # timestamps offset for the pod IP) would make the next run's SYNs through the cluster IP
  # (offset for the service IP) fail PAWS and wait out 1 s retransmits.
  k "$mode" create service clusterip web-a --tcp=80:8081 >/dev/null
  k "$mode" set selector service web-a bench=a >/dev/null
  haproxy_pod "${POD_A[$mode]}" | k "$mode" apply -f - >/dev/null
  wait_ready "$mode" app=haproxy 1
  TARGET["$mode/direct"]="${POD_A[$mode]}:8080"
  TARGET["$mode/cluster-ip"]="$(k "$mode" get svc web-a -o jsonpath='{.spec.clusterIP}'):80"
  TARGET["$mode/haproxy"]="$(k "$mode" get pod haproxy -o jsonpath='{.status.podIP}'):8080"
  NODE_PID[$mode]=$(pgrep -f "node --kubeconfig $WORK/$mode/" | head -1)
  if [ "$mode" = nftables ] && [ "$FLOOR" = 1 ]; then
    # The kernel's own floor for a DNAT'd path: one rule in a table of the bench's, beside
    # Portico's, sending an address no service uses to pod A's third port (so its
    # TIME_WAIT entries meet neither of the other paths'). Same bridge, same conntrack, same
    # hooks as the cluster IP; only the ruleset differs.
    nsenter -t "${NODE_PID[$mode]}" -n nft -f - <<EOF
table ip bench {
  chain prerouting {
    type nat hook prerouting priority -110;
    ip daddr $FLOOR_IP tcp dport 80 dnat to ${POD_A[$mode]}:8082
  }
}
EOF
    TARGET["$mode/kernel-dnat"]="$FLOOR_IP:80"
  fi
  [ "$STEER" = 1 ] && steer "$mode"
done

# --- wrk ----------------------------------------------------------------------------------
cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
HZ=$(getconf CLK_TCK)

# run_wrk MODE TARGET CONN SIZE [CONNECTIONS] -> "rps p99_ms cpu_us_per_request p50_ms"
run_wrk() {
  local mode=$1 target=$2 conn=$3 size=$4 conns=${5:-$CONNS} out before after
  local hdr=()
  nsenter -t "${NODE_PID[$mode]}" -n conntrack -F >/dev/null 2>&1 || true
  [ "$conn" = close ] && hdr=(-H "Connection: close")
  before=$(cpu_busy)
  out=$(k "$mode" exec client -- taskset -c "$WRK_CPU" wrk -t1 -c"$conns" -d"${DUR}s" --latency \
    "${hdr[@]}" "http://${TARGET[$mode/$target]}/$size" 2>&1) || true
  after=$(cpu_busy)
  echo "$out" | awk -v busy=$((after - before)) -v hz="$HZ" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /requests in/ { n = $1 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /^Requests\/sec/ { rps = $2 }
    END { if (n == 0) n = 1; printf "%s %s %.1f %s\n", rps + 0, p99 + 0, busy / hz * 1e6 / n, p50 + 0 }'
  if echo "$out" | grep -q -E "Socket errors|Non-2xx"; then
    log "$mode $target $conn $size: $(echo "$out" | grep -E 'Socket errors|Non-2xx' | tr -s ' ')"
  fi
}

if [ "$ROUNDS" -gt 0 ]; then
declare -A RES
for round in $(seq 1 "$ROUNDS"); do
  for conn in $CONNECTIONS; do
    for size in $SIZES; do
      for target in $TARGETS; do
        for mode in $MODES; do
          [ -n "${TARGET[$mode/$target]:-}" ] || continue
          RES["$mode/$target/$conn/$size/$round"]=$(run_wrk "$mode" "$target" "$conn" "$size")
          log "round $round: $mode $target $conn $size: ${RES[$mode/$target/$conn/$size/$round]}"
        done
      done
    done
  done
  for conn in $LATENCY; do
    for target in $TARGETS; do
      for mode in $MODES; do
        [ -n "${TARGET[$mode/$target]:-}" ] || continue
        RES["$mode/$target/$conn/c1/$round"]=$(run_wrk "$mode" "$target" "$conn" small 1)
        log "round $round: $mode $target $conn c1: ${RES[$mode/$target/$conn/c1/$round]}"
      done
    done
  done
done

median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print 0; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
field() { # field MODE TARGET CONN SIZE COLUMN -> the median over rounds
  for round in $(seq 1 "$ROUNDS"); do echo "${RES[$1/$2/$3/$4/$round]}" | awk -v c="$5" '{print $c}'; done | median
}
# ratio MODE TARGET BASE CONN SIZE COLUMN -> the median over rounds of TARGET ÷ BASE in the
# same round: the machine's speed drifts between rounds, and a ratio of runs seconds apart
# cancels most of that drift where a ratio of two medians would not.
ratio() {
  [ -n "${RES[$1/$3/$4/$5/1]:-}" ] || { echo nan; return; } # that path was not run
  for round in $(seq 1 "$ROUNDS"); do
    printf '%s %s\n' "${RES[$1/$2/$4/$5/$round]}" "${RES[$1/$3/$4/$5/$round]}" \
      | awk -v c="$6" '{ b = $(c + NF / 2); print (b > 0 ? $c / b : 0) }'
  done | median
}

# floor_ratios CONNECTIONS SIZES COLUMN: Portico's cluster IP against the one-rule DNAT.
floor_ratios() {
  [ -n "${TARGET[nftables/kernel-dnat]:-}" ] || return 0
  local conn size r
  for conn in $1; do
    for size in $2; do
      r=$(ratio nftables cluster-ip kernel-dnat "$conn" "$size" "$3")
      [ "$r" = nan ] || printf -- '- nftables cluster IP ÷ kernel-dnat, %s %s: %.2f\n' "$conn" "$size" "$r"
    done
  done
  echo
}

if [ -n "$CONNECTIONS" ] && [ -n "$SIZES" ]; then
  echo "## Proxy throughput (wrk -t1 -c$CONNS -d${DUR}s, $ROUNDS rounds)"
  echo
  echo "Figures are medians over the rounds; ratios are medians of the ratios within each round."
  echo
  echo "| datapath | path | connection | response | requests/s | × direct | × haproxy | p99 ms | × direct | CPU µs/request |"
  echo "|---|---|---|---|---:|---:|---:|---:|---:|---:|"
  for mode in $MODES; do
    for conn in $CONNECTIONS; do
      for size in $SIZES; do
        for target in $TARGETS; do
          [ -n "${TARGET[$mode/$target]:-}" ] || continue
          rps=$(field "$mode" "$target" "$conn" "$size" 1)
          p99=$(field "$mode" "$target" "$conn" "$size" 2)
          cpu=$(field "$mode" "$target" "$conn" "$size" 3)
          x_direct=$(ratio "$mode" "$target" direct "$conn" "$size" 1)
          x_haproxy=$(ratio "$mode" "$target" haproxy "$conn" "$size" 1)
          p99_direct=$(ratio "$mode" "$target" direct "$conn" "$size" 2)
          label=$([ "$size" = big ] && echo "1 MiB" || echo "100 B")
          printf '| %s | %s | %s | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f |\n' "$mode" "$target" \
            "$conn" "$label" "$rps" "$x_direct" "$x_haproxy" "$p99" "$p99_direct" "$cpu"
        done
      done
    done
  done
  echo
  echo "(direct, kernel-dnat and haproxy do not go through the service proxy; they are measured in each cluster as baselines.)"
  echo
  floor_ratios "$CONNECTIONS" "$SIZES" 1
fi
if [ -n "$LATENCY" ]; then
  echo "## Latency at one connection (wrk -t1 -c1 -d${DUR}s, 100 B, $ROUNDS rounds)"
  echo
  echo "With \`Connection: close\` every request opens a connection: the first packet's path."
  echo
  echo "| datapath | path | connection | p50 µs | × direct | p99 µs | × direct | CPU µs/request |"
  echo "|---|---|---|---:|---:|---:|---:|---:|"
  for mode in $MODES; do
    for conn in $LATENCY; do
      for target in $TARGETS; do
        [ -n "${TARGET[$mode/$target]:-}" ] || continue
        p50=$(field "$mode" "$target" "$conn" c1 4)
        p99=$(field "$mode" "$target" "$conn" c1 2)
        cpu=$(field "$mode" "$target" "$conn" c1 3)
        printf '| %s | %s | %s | %.0f | %.2f | %.0f | %.2f | %.0f |\n' "$mode" "$target" "$conn" \
          "$(awk -v v="$p50" 'BEGIN { print v * 1000 }')" "$(ratio "$mode" "$target" direct "$conn" c1 4)" \
          "$(awk -v v="$p99" 'BEGIN { print v * 1000 }')" "$(ratio "$mode" "$target" direct "$conn" c1 2)" "$cpu"
      done
    done
  done
  echo
  floor_ratios "$LATENCY" c1 4
fi
fi

[ "$FLIPS" -gt 0 ] || exit 0

# --- one endpoint change with SERVICES services ------------------------------------------
# The API server's address, token and CA are read from the kubeconfig once per cluster, so
# that each change costs one curl PATCH and nothing else on the measured path.
declare -A API_SERVER API_TOKEN
api_setup() { # api_setup MODE
  local mode=$1
  API_SERVER[$mode]=$(k "$mode" config view --raw -o jsonpath='{.clusters[0].cluster.server}')
  API_TOKEN[$mode]=$(k "$mode" config view --raw -o jsonpath='{.users[0].user.token}')
  k "$mode" config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' \
    | base64 -d >"$WORK/$mode/ca.crt"
}
api_patch() { # api_patch MODE PATH JSON-PATCH
  local mode=$1 path=$2 body=$3
  curl -sf --cacert "$WORK/$mode/ca.crt" -H "Authorization: Bearer ${API_TOKEN[$mode]}" -X PATCH \
    -H "Content-Type: application/json-patch+json" --data "$body" "${API_SERVER[$mode]}$path" >/dev/null
}

# One long-running poller in the client pod: a new TCP connection to the cluster IP every
# 2 ms (bash's /dev/tcp, and `read -t` on a FIFO as the pause: no process per poll), printing
# "<pod name> <epoch seconds.micros>" each time the answering backend changes.
read -r -d '' POLLER <<'SH' || true
ip=$1
mkfifo /tmp/poll-tick 2>/dev/null; exec 4<>/tmp/poll-tick
nl=$'\n'; last=""
while :; do
  name=""
  if exec 3<>"/dev/tcp/$ip/80"; then
    printf 'GET /id HTTP/1.0\r\n\r\n' >&3
    read -r -d '' -t 1 -u 3 resp || true
    exec 3<&-
    name=${resp##*$nl}
  fi 2>/dev/null
  if [ -n "$name" ] && [ "$name" != "$last" ]; then echo "$name $EPOCHREALTIME"; last=$name; fi
  read -r -t 0.002 -u 4 || true
done
SH

# RSS of the cluster's `portico node` processes (the proxy runs inside the node), in MiB.
node_rss() { # node_rss MODE
  ps -eo pid=,ppid=,args= | awk -v up="${UP_PID[$1]}" '
    { pid[NR] = $1; ppid[NR] = $2; cmd[NR] = $4 }
    END {
      keep[up] = 1
      do { grew = 0; for (i = 1; i <= NR; i++) if (keep[ppid[i]] && !keep[pid[i]]) { keep[pid[i]] = 1; grew = 1 } } while (grew)
      for (i = 1; i <= NR; i++) if (keep[pid[i]] && cmd[i] == "node") print pid[i]
    }' | while read -r pid; do awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null; done \
    | awk '{ s += $1 } END { printf "%.0f", s / 1024 }'
}

# sync_hist MODE -> "count sum bucket1 bucket2 ..." of the proxy's sync-duration histogram
sync_hist() {
  k "$1" exec client -- curl -s http://172.18.0.2:10249/metrics | awk '
    /^portico_proxy_sync_duration_seconds_bucket/ { b = b " " $2 }
    /^portico_proxy_sync_duration_seconds_count/ { c = $2 }
    /^portico_proxy_sync_duration_seconds_sum/ { s = $2 }
    END { print c, s b }'
}
BOUNDS="1 2 4 8 16 32 64 128 256 512 1024 2048 4096 8192 16384 inf"

echo "## One endpoint change with $SERVICES services ($FLIPS changes)"
echo
echo "| datapath | p50 ms | p99 ms | max ms | proxy syncs | mean sync ms | max sync ms ≤ | node RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for mode in $MODES; do
  api_setup "$mode"
  log "$mode: creating $SERVICES services"
  for i in $(seq 1 "$SERVICES"); do
    printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: s%05d}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n' "$i"
  done | k "$mode" apply -f - >/dev/null
  for _ in $(seq 1 900); do
    n=$(k "$mode" get endpointslices --no-headers 2>/dev/null | grep -c "^s[0-9]" || true)
    [ "$n" -ge "$SERVICES" ] && break
    sleep 1
  done
  log "$mode: $n EndpointSlices"
  k "$mode" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: flip}
spec:
  ports: [{name: "", port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: flip-1
  labels: {kubernetes.io/service-name: flip}
addressType: IPv4
ports: [{name: "", port: 8080, protocol: TCP}]
endpoints: [{addresses: ["${POD_A[$mode]}"]}]
EOF
  flip_ip=$(k "$mode" get svc flip -o jsonpath='{.spec.clusterIP}')
  seen="$WORK/$mode.seen"
  : >"$seen"
  k "$mode" exec client -- bash -c "$POLLER" poller "$flip_ip" >"$seen" 2>/dev/null &
  poller=$!
  for _ in $(seq 1 1200); do grep -q "^${NAME_A[$mode]} " "$seen" && break; sleep 0.05; done
  sleep 2 # the proxy settles after the burst of services
  hist_before=$(sync_hist "$mode")
  lat=()
  for i in $(seq 1 "$FLIPS"); do
    if [ $((i % 2)) = 1 ]; then ip=${POD_B[$mode]}; name=${NAME_B[$mode]}; else ip=${POD_A[$mode]}; name=${NAME_A[$mode]}; fi
    lines=$(wc -l <"$seen")
    t0=$(date +%s%N)
    api_patch "$mode" /apis/discovery.k8s.io/v1/namespaces/default/endpointslices/flip-1 \
      "[{\"op\":\"replace\",\"path\":\"/endpoints/0/addresses/0\",\"value\":\"$ip\"}]"
    t1=""
    for _ in $(seq 1 1000); do
      t1=$(tail -n +"$((lines + 1))" "$seen" | awk -v n="$name" '$1 == n { print $2; exit }')
      [ -n "$t1" ] && break
      sleep 0.01
    done
    if [ -z "$t1" ]; then
      log "$mode: change $i not seen within 10 s"
      t1=$(awk -v t="$t0" 'BEGIN { printf "%.6f", t / 1e9 + 10 }')
    fi
    lat+=("$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%d", a * 1e6 - b / 1e3 }')")
    sleep 0.3
  done
  kill "$poller" 2>/dev/null || true
  wait "$poller" 2>/dev/null || true
  hist_after=$(sync_hist "$mode")
  rss=$(node_rss "$mode")
  printf '%s\n' "${lat[@]}" | sort -n | awk -v m="$mode" -v b="$hist_before" -v a="$hist_after" \
    -v bounds="$BOUNDS" -v rss="$rss" '
    { v[NR] = $1 / 1000 }
    END {
      nb = split(b, hb, " "); split(a, ha, " "); split(bounds, bd, " ")
      syncs = ha[1] - hb[1]; mean = syncs > 0 ? (ha[2] - hb[2]) / syncs * 1000 : 0
      maxs = "-"
      for (i = 3; i <= nb; i++) if (ha[i] - hb[i] == syncs && syncs > 0) { maxs = bd[i - 2]; break }
      p99 = v[int(NR * 0.99 + 0.999)]; if (p99 == "") p99 = v[NR]
      printf "| %s | %.1f | %.1f | %.1f | %d | %.2f | %s | %s |\n", m, v[int((NR + 1) / 2)], p99, v[NR], syncs, mean, maxs, rss }'
done
echo
echo "(from just before the API write (one curl PATCH) to the first answer of the other backend through the cluster IP, seen by one poller in a pod that opens a new connection every 2 ms: includes the API server, the watch and the proxy's 10 ms coalescing. The sync columns are the proxy's own apply times over the same period (max: the histogram bucket bound that holds them all); node RSS is the \`portico node\` process that runs the proxy, after the changes.)"
