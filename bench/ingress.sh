#!/usr/bin/env bash
# Benchmarks Portico's ingress controller against plain nginx as an equivalent reverse proxy
# and against the backends directly, in one run:
#   - HTTP/1.1 keep-alive (wrk), small responses: requests/s and p99;
#   - HTTPS keep-alive (wrk): requests/s and p99;
#   - HTTPS with `Connection: close` (wrk, which resumes TLS 1.3 sessions with some servers
#     and not with others);
#   - new TLS connections/s with full handshakes, and with resumed ones, from one client
#     against both (crates/ingress/examples/tls_load.rs): the like-for-like handshake figures;
#   - HTTP/2 over TLS (h2load): requests/s.
# Prints a Markdown table with ratios to nginx and to direct on stdout; progress on stderr.
#
#   bench/ingress.sh                   # R=3 alternating rounds of 10 s per case
#   R=5 DURATION=20 bench/ingress.sh
#   CONNECTIONS=64 bench/ingress.sh
#   PORTICO_BIN=/path/to/portico bench/ingress.sh
#   CASES=handshakes TARGETS=portico bench/ingress.sh   # a subset (e.g. to profile with perf -p)
#
# Everything runs in a fresh user + network + mount namespace made with unshare (no root
# needed, nothing touches the host network): a bridge without ports carries 10.99.0.1, where the
# backends (4 nginx servers, the "pods"), nginx as reverse proxy (upstream keep-alive 64) and
# `portico ingress-controller` listen; `portico server` holds the Service, its
# EndpointSlices (the 4 backends), the Ingress and the TLS Secret; bench.local resolves to
# 10.99.0.1 through a private /etc/hosts. The load generator is pinned to the last CPU, the
# subject to the others (perf-anchors.md 6.3); A/B cases alternate round by round and the
# median round is reported.
# Needs: wrk, nginx, h2load (nghttp2-client), openssl, kubectl, unshare (util-linux); the
# Debian packages are installed with apt-get when missing and this runs as root.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [ "${1:-}" != "--inside" ]; then
  missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  command -v h2load >/dev/null || missing+=(nghttp2-client)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "installing ${missing[*]}..." >&2
      apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "bench/ingress.sh needs: ${missing[*]} (apt-get install them)" >&2
      exit 1
    fi
  fi
  command -v kubectl >/dev/null || { echo "kubectl is missing" >&2; exit 1; }
  TARGET=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  if [ -z "${PORTICO_BIN:-}" ]; then
    echo "building portico (release)..." >&2
    cargo build --release --quiet -p portico --manifest-path "$ROOT/Cargo.toml"
    PORTICO_BIN=$TARGET/release/portico
  fi
  export PORTICO_BIN
  cargo build --release --quiet -p portico-ingress --example tls_load --manifest-path "$ROOT/Cargo.toml"
  export TLS_LOAD=$TARGET/release/examples/tls_load
  exec unshare --user --map-root-user --net --mount --fork bash "$0" --inside
fi

# ---- inside the namespaces ----
R=${R:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/portico-bench-ingress.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

NCPU=$(nproc)
LOAD_CPU=$((NCPU - 1))
if [ "$NCPU" -gt 1 ]; then SUBJECT_CPUS="0-$((NCPU - 2))"; else SUBJECT_CPUS=0; fi
# `exec`: started in the background (`subject ... &`), the function runs in a subshell whose pid
# is `$!`; exec makes that pid the server itself, so the cleanup's kill reaches it.
subject() { exec taskset -c "$SUBJECT_CPUS" "$@"; }
load() { taskset -c "$LOAD_CPU" "$@"; }

ip link set lo up
ip link add bench0 type bridge
ip addr add 10.99.0.1/24 dev bench0
ip link set bench0 up
IP=10.99.0.1
echo "127.0.0.1 localhost
$IP bench.local" > "$WORK/hosts"
mount --bind "$WORK/hosts" /etc/hosts

# A certificate for bench.local (the Ingress's Secret, and nginx's).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench.local \
  -addext subjectAltName=DNS:bench.local -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null

BACKEND_PORTS=(9001 9002 9003 9004)
mkdir -p "$WORK/nginx" "$WORK/www"
head -c 64 /dev/zero | tr '\0' x > "$WORK/www/index.html"
common="worker_rlimit_nofile 65536; error_log $WORK/nginx/error.log; pid PIDFILE;
events { worker_connections 4096; }"
temps="client_body_temp_path $WORK/nginx/body; proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fcgi; uwsgi_temp_path $WORK/nginx/uwsgi; scgi_temp_path $WORK/nginx/scgi;"
backend_servers=""
for p in "${BACKEND_PORTS[@]}"; do
  backend_servers+="server { listen $IP:$p reuseport; access_log off; keepalive_requests 100000;
    location / { root $WORK/www; } }
"
done
cat > "$WORK/nginx/backends.conf" <<EOF
user root; worker_processes 1; daemon off; ${common/PIDFILE/$WORK/nginx/backends.pid}
http { $temps $backend_servers }
EOF
upstreams=""
for p in "${BACKEND_PORTS[@]}"; do upstreams+="server $IP:$p; "; done
cat > "$WORK/nginx/proxy.conf" <<EOF
user root; worker_processes 1; daemon off; ${common/PIDFILE/$WORK/nginx/proxy.pid}
http {
  access_log off; $temps
  upstream pods { $upstreams keepalive 64; keepalive_requests 100000; }
  server {
    listen $IP:8081 reuseport;
    listen $IP:8444 ssl http2 reuseport;
    server_name bench.local;
    ssl_certificate $WORK/tls.crt; ssl_certificate_key $WORK/tls.key;
    # nginx before 1.23.4 (Debian 12 has 1.22) leaves TLS 1.3 out by default; with it, both
    # proxies speak TLS 1.3 to the same client, as nginx's current default does.
    ssl_protocols TLSv1.2 TLSv1.3;
    # Session resumption as ingress-nginx configures it (ssl-session-cache: 10m).
    ssl_session_cache shared:SSL:10m;
    keepalive_requests 100000;
    location / {
      proxy_pass http://pods;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
EOF
# The backends get their own CPU share like the pods would: on the subject's CPUs.
subject "$NGINX" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/backends.conf" &
PIDS+=($!)
subject "$NGINX" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/proxy.conf" &
PIDS+=($!)
NGINX_PROXY_PID=$!

# The API server and the objects.
"$PORTICO_BIN" server --data-dir "$WORK/api" --listen 127.0.0.1:16443 >"$WORK/api.log" 2>&1 &
PIDS+=($!)
export KUBECONFIG=$WORK/api/kubeconfig
for _ in $(seq 100); do
  [ -f "$KUBECONFIG" ] && kubectl get ns default >/dev/null 2>&1 && break
  sleep 0.1
done
{
  cat <<EOF
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: portico
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: portico.dev/ingress-controller}
---
apiVersion: v1
kind: Service
metadata: {name: bench}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench}
spec:
  ingressClassName: portico
  tls: [{hosts: [bench.local], secretName: bench-tls}]
  rules:
  - host: bench.local
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: bench, port: {number: 80}}}}
EOF
  for p in "${BACKEND_PORTS[@]}"; do
    cat <<EOF
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: bench-$p
  labels: {kubernetes.io/service-name: bench}
addressType: IPv4
ports: [{name: http, port: $p, protocol: TCP}]
endpoints: [{addresses: ["$IP"], conditions: {ready: true}}]
EOF
  done
} | kubectl apply -f - >/dev/null
kubectl create secret tls bench-tls --cert="$WORK/tls.crt" --key="$WORK/tls.key" >/dev/null
# ssl-redirect would answer plain HTTP with 308 for a TLS host; the benchmark wants both.
kubectl annotate ingress bench nginx.ingress.kubernetes.io/ssl-redirect=false >/dev/null

subject "$PORTICO_BIN" ingress-controller --kubeconfig "$KUBECONFIG" \
  --http "$IP:8080" --https "$IP:8443" --health 127.0.0.1:10254 >"$WORK/ingress.log" 2>&1 &
PIDS+=($!)
INGRESS_PID=$!
for _ in $(seq 200); do
  code=$(curl -s -o /dev/null -w '%{http_code}' http://bench.local:8080/ || true)
  [ "$code" = 200 ] && break
  sleep 0.1
done
[ "$code" = 200 ] || { echo "the ingress does not route (last: $code)"; tail -20 "$WORK/ingress.log"; exit 1; }
for url in "http://$IP:9001/" http://bench.local:8081/ https://bench.local:8444/ https://bench.local:8443/; do
  curl -sfk -o /dev/null "$url" || { echo "no answer from $url" >&2; exit 1; }
done

# One measurement: prints "requests/s p99_ms".
wrk_run() { # url [extra wrk args]
  local url=$1; shift
  load wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url" > "$WORK/wrk.out" 2>&1 || true
  python3 - "$WORK/wrk.out" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", text, re.M)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
if not rps or not p99 or errors:
    print("nan nan")
else:
    print(f"{float(rps.group(1)):.0f} {float(p99.group(1)) * scale[p99.group(2)]:.2f}")
EOF
}
h2_run() { # url
  load h2load -c"$CONNECTIONS" -m10 -D"$DURATION" "$1" > "$WORK/h2.out" 2>&1 || true
  python3 - "$WORK/h2.out" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text)
ok = re.search(r"(\d+) succeeded, (\d+) failed", text)
print(f"{float(m.group(1)):.0f} nan" if m and ok and ok.group(2) == "0" else "nan nan")
EOF
}

# New connections with the same client against both proxies (crates/ingress/examples/tls_load.rs):
# `full` handshakes only, or each connection `resumed` with its last ticket. Prints
# "requests/s p99_ms"; the share of resumed handshakes goes to $WORK/resumed.<target>.
tls_run() { # url full|resumed
  local port=${1##*:}
  port=${port%%/*}
  load "$TLS_LOAD" "$IP:$port" bench.local "$DURATION" "$CONNECTIONS" "$2" > "$WORK/tls.out" 2>&1 || true
  read -r rps p99 resumed errors < "$WORK/tls.out" || true
  echo "$2 via port $port: $rps req/s, p99 $p99 ms, ${resumed}% resumed, $errors errors" >&2
  [ "$2" = resumed ] && echo "$resumed" >> "$WORK/resumed.$port"
  if [ -z "${errors:-}" ] || [ "$errors" -gt 0 ]; then echo "nan nan"; else echo "$rps $p99"; fi
}

# CPU time (clock ticks, user + system) of a process and its children: what the subject
# spent, so that requests per CPU-second can be reported beside requests per second (on two
# CPUs the load generator saturates first in the handshake case).
TICKS=$(getconf CLK_TCK)
cpu_ticks() { # pid
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$pid/stat" ] || continue
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
subject_pid() { # target
  case "$1" in nginx) echo "$NGINX_PROXY_PID" ;; portico) echo "$INGRESS_PID" ;; *) echo "" ;; esac
}

declare -A RESULT
read -r -a CASES <<< "${CASES:-http https handshakes full resumed h2}"
read -r -a TARGETS <<< "${TARGETS:-direct nginx portico}"
url_of() { # case target
  local scheme=http port
  case "$1" in https|handshakes|h2|full|resumed) scheme=https ;; esac
  case "$2/$scheme" in
    direct/http) echo "http://$IP:9001/" ; return ;;
    direct/https) echo "" ; return ;;
    nginx/http) port=8081 ;; nginx/https) port=8444 ;;
    portico/http) port=8080 ;; portico/https) port=8443 ;;
  esac
  echo "$scheme://bench.local:$port/"
}
for round in $(seq "$R"); do
  for case in "${CASES[@]}"; do
    for target in "${TARGETS[@]}"; do
      url=$(url_of "$case" "$target")
      [ -n "$url" ] || continue
      echo "round $round: $case via $target" >&2
      pid=$(subject_pid "$target")
      before=$([ -n "$pid" ] && cpu_ticks "$pid" || echo 0)
      case "$case" in
        http|https) out=$(wrk_run "$url") ;;
        handshakes) out=$(wrk_run "$url" -H "Connection: close") ;;
        h2) out=$(h2_run "$url") ;;
        full|resumed) out=$(tls_run "$url" "$case") ;;
      esac
      after=$([ -n "$pid" ] && cpu_ticks "$pid" || echo 0)
      # Requests per CPU-second of the subject ("nan" for direct, which has no proxy).
      per=$(python3 -c "import sys; r, d, t = sys.argv[1].split()[0], float(sys.argv[2]), (int(sys.argv[3]) - int(sys.argv[4])) / int(sys.argv[5]); print('nan' if r == 'nan' or t <= 0 else f'{float(r) * d / t:.0f}')" "$out" "$DURATION" "$after" "$before" "$TICKS")
      RESULT[$case/$target]+="$out $per;"
    done
  done
done

python3 - "$R" "$DURATION" "$CONNECTIONS" "$NCPU" <<EOF
import statistics, sys
R, D, C, N = sys.argv[1:]
raw = {k: v for k, v in (line.split("=", 1) for line in """$(for k in "${!RESULT[@]}"; do echo "$k=${RESULT[$k]}"; done)""".splitlines() if line)}
def median(key):
    rounds = [r.split() for r in raw.get(key, "").split(";") if r]
    rps = [float(r[0]) for r in rounds if r[0] != "nan"]
    p99 = [float(r[1]) for r in rounds if r[1] != "nan"]
    cpu = [float(r[2]) for r in rounds if len(r) > 2 and r[2] != "nan"]
    return (statistics.median(rps) if rps else None, statistics.median(p99) if p99 else None,
            statistics.median(cpu) if cpu else None)
names = {"http": "HTTP/1.1 keep-alive", "https": "HTTPS keep-alive",
         "handshakes": "HTTPS, Connection: close (wrk)",
         "full": "new TLS connections, full handshakes (tls_load)",
         "resumed": "new TLS connections, resumed handshakes (tls_load)",
         "h2": "HTTP/2 over TLS (h2load -m10)"}
print(f"Ingress benchmark: {R} alternating rounds of {D} s, {C} connections, {N} CPUs "
      "(load generator pinned apart); median round.\n")
print("| case | direct req/s | nginx req/s | portico req/s | portico/nginx | portico/direct | p99 ms direct / nginx / portico | req per CPU-s nginx / portico (ratio) |")
print("|---|---:|---:|---:|---:|---:|---|---|")
fmt = lambda v, f="{:.0f}": "-" if v is None else f.format(v)
for case in ["http", "https", "handshakes", "full", "resumed", "h2"]:
    d, n, p = median(f"{case}/direct"), median(f"{case}/nginx"), median(f"{case}/portico")
    ratio = lambda a, b: "-" if a[0] is None or b[0] is None or b[0] == 0 else f"{a[0] / b[0]:.2f}x"
    print(f"| {names[case]} | {fmt(d[0])} | {fmt(n[0])} | {fmt(p[0])} | {ratio(p, n)} | {ratio(p, d)} | "
          f"{fmt(d[1], '{:.2f}')} / {fmt(n[1], '{:.2f}')} / {fmt(p[1], '{:.2f}')} | "
          f"{fmt(n[2])} / {fmt(p[2])} ({'-' if n[2] is None or p[2] is None else f'{p[2] / n[2]:.2f}x'}) |")
EOF
# The resumed case compares like for like only if both servers resumed (nearly) every time.
for port in 8444 8443; do
  [ -f "$WORK/resumed.$port" ] || continue
  name=$([ "$port" = 8444 ] && echo nginx || echo portico)
  echo ""
  echo "Resumed handshakes via $name, per round: $(tr '\n' ' ' < "$WORK/resumed.$port")(% of connections)"
done
