#!/usr/bin/env bash
# Runs Portico's ports of Kubernetes' sig-network conformance tests (v1.32) and prints a
# Sonobuoy-style summary: one line per test (PASS/FAIL/NOT RUN, seconds, codename), then
# the total.
#
#   tests/conformance.sh                  # all 41, JOBS=3 clusters side by side
#   JOBS=2 tests/conformance.sh
#   tests/conformance.sh service_traffic  # a cargo test filter (module or test name)
#
# The tests live in crates/portico/tests/e2e/conformance/ (one module per upstream Go file);
# each records its own verdict through PORTICO_CONFORMANCE_REPORT.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-3}
FILTER=${1:-conformance::}
case "$FILTER" in conformance::*) ;; *) FILTER="conformance::$FILTER" ;; esac

REPORT=$(mktemp "${TMPDIR:-/tmp}/portico-conformance.XXXXXX")
trap 'rm -f "$REPORT"' EXIT
LOG=${LOG:-$ROOT/target/conformance.log}
mkdir -p "$(dirname "$LOG")"

echo "running $FILTER (log: $LOG)..." >&2
start=$(date +%s)
PORTICO_CONFORMANCE_REPORT=$REPORT cargo test -q --manifest-path "$ROOT/Cargo.toml" \
  -p portico --test e2e "$FILTER" -- --test-threads "$JOBS" >"$LOG" 2>&1
status=$?
elapsed=$(($(date +%s) - start))

# The 41 codenames: conformance.yaml entries under test/e2e/network and test/e2e/common/network.
CODENAMES=$(cat <<'LIST'
[sig-network] DNS should provide /etc/hosts entries for the cluster [Conformance]
[sig-network] DNS should provide DNS for ExternalName services [Conformance]
[sig-network] DNS should provide DNS for pods for Hostname [Conformance]
[sig-network] DNS should provide DNS for pods for Subdomain [Conformance]
[sig-network] DNS should provide DNS for services [Conformance]
[sig-network] DNS should provide DNS for the cluster [Conformance]
[sig-network] DNS should resolve DNS of partial qualified names for services [LinuxOnly] [Conformance]
[sig-network] DNS should support configurable pod DNS nameservers [Conformance]
[sig-network] EndpointSlice should create Endpoints and EndpointSlices for Pods matching a Service [Conformance]
[sig-network] EndpointSlice should create and delete Endpoints and EndpointSlices for a Service with a selector specified [Conformance]
[sig-network] EndpointSlice should have Endpoints and EndpointSlices pointing to API Server [Conformance]
[sig-network] EndpointSlice should support creating EndpointSlice API operations [Conformance]
[sig-network] EndpointSliceMirroring should mirror a custom Endpoints resource through create update and delete [Conformance]
[sig-network] HostPort validates that there is no conflict between pods with same hostPort but different hostIP and protocol [LinuxOnly] [Conformance]
[sig-network] Ingress API should support creating Ingress API operations [Conformance]
[sig-network] IngressClass API should support creating IngressClass API operations [Conformance]
[sig-network] Networking Granular Checks: Pods should function for intra-pod communication: http [NodeConformance] [Conformance]
[sig-network] Networking Granular Checks: Pods should function for intra-pod communication: udp [NodeConformance] [Conformance]
[sig-network] Networking Granular Checks: Pods should function for node-pod communication: http [LinuxOnly] [NodeConformance] [Conformance]
[sig-network] Networking Granular Checks: Pods should function for node-pod communication: udp [LinuxOnly] [NodeConformance] [Conformance]
[sig-network] Proxy version v1 A set of valid responses are returned for both pod and service Proxy [Conformance]
[sig-network] Proxy version v1 A set of valid responses are returned for both pod and service ProxyWithPath [Conformance]
[sig-network] Proxy version v1 should proxy through a service and a pod [Conformance]
[sig-network] Service endpoints latency should not be very high [Conformance]
[sig-network] Services should be able to change the type from ClusterIP to ExternalName [Conformance]
[sig-network] Services should be able to change the type from ExternalName to ClusterIP [Conformance]
[sig-network] Services should be able to change the type from ExternalName to NodePort [Conformance]
[sig-network] Services should be able to change the type from NodePort to ExternalName [Conformance]
[sig-network] Services should be able to create a functioning NodePort service [Conformance]
[sig-network] Services should be able to switch session affinity for NodePort service [LinuxOnly] [Conformance]
[sig-network] Services should be able to switch session affinity for service with type clusterIP [LinuxOnly] [Conformance]
[sig-network] Services should complete a service status lifecycle [Conformance]
[sig-network] Services should delete a collection of services [Conformance]
[sig-network] Services should find a service from listing all namespaces [Conformance]
[sig-network] Services should have session affinity work for NodePort service [LinuxOnly] [Conformance]
[sig-network] Services should have session affinity work for service with type clusterIP [LinuxOnly] [Conformance]
[sig-network] Services should provide secure master service [Conformance]
[sig-network] Services should serve a basic endpoint from pods [Conformance]
[sig-network] Services should serve endpoints on same port and different protocols [Conformance]
[sig-network] Services should serve multiport endpoints from pods [Conformance]
[sig-network] Services should test the lifecycle of an Endpoint [Conformance]
LIST
)

pass=0 fail=0 missing=0
printf '%-8s %8s  %s\n' RESULT SECONDS TEST
while IFS= read -r name; do
  line=$(awk -F'\t' -v n="$name" '$3 == n' "$REPORT" | tail -n 1)
  if [ -z "$line" ]; then
    if [ "$FILTER" = "conformance::" ]; then
      printf '%-8s %8s  %s\n' "NOT RUN" "-" "$name"
      missing=$((missing + 1))
    fi
    continue
  fi
  verdict=$(cut -f1 <<<"$line")
  secs=$(cut -f2 <<<"$line")
  printf '%-8s %8s  %s\n' "$verdict" "$secs" "$name"
  if [ "$verdict" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done <<<"$CODENAMES"
total=$(grep -c . <<<"$CODENAMES")
echo
echo "Ran $((pass + fail)) of $total sig-network conformance tests in ${elapsed}s: $pass passed, $fail failed, $missing not run"
[ "$status" = 0 ] && [ "$fail" = 0 ] && [ "$missing" = 0 ]
