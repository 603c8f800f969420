#!/usr/bin/env bash
# The cluster scene of the demo (`scripts/demo.sh --cluster`): a small Tandem
# cluster on a laptop, each appliance its own tandem process. Needs root.
#
#   terminals 10.8.0.0/16 (namespace tdm-cl-ue)
#        | 10.1.1.1
#       A1  tier-1 unit (appliance 1) --+
#                                       | fabric: bridge brfab in tdm-cl-fab
#       G1  gateway 1100 (appl. 11) ----+ (Geneve between appliances;
#       G2  gateway 1200 (appl. 12) ----+  tshark listens here)
#        | translate to 10.2.0.11 and 10.2.0.12
#   server 10.2.0.21:8080 behind VIP 10.9.0.1:80 (namespace tdm-cl-srv)
#   etcd: one member on loopback, the cluster's shared state
#
# It starts etcd and the three appliances, shows `ctl cluster`, pins one
# terminal to each gateway (`ctl session create` on A1, in force on all),
# sends a request from each (the server says which gateway address it
# sees), shows a captured Geneve packet as tshark decodes it, and cleans
# everything up. Names are fixed, so one cluster demo runs at a time.
#
#   scripts/demo-cluster.sh [--release]   (what demo.sh --cluster runs)
set -u

cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
# shellcheck source=scripts/demo_lib.sh
. scripts/demo_lib.sh
# shellcheck source=tests/e2e/cluster_lib.sh
. tests/e2e/cluster_lib.sh

profile=debug
case "${1:-}" in
  --release) profile=release ;;
  --debug | "") ;;
  *) echo "demo-cluster.sh: unknown argument '$1'" >&2; exit 2 ;;
esac

CL_TAG=tdmdemo
CL_NAME=demo
NS_UE=tdm-cl-ue
NS_SRV=tdm-cl-srv
NS_FAB=tdm-cl-fab
WORKDIR="$(mktemp -d /tmp/tandem-demo-cluster.XXXXXX)"
export PATH="$HOME/.cargo/bin:$PATH"


cleanup() {
  trap - EXIT INT TERM
  lib_cleanup
  local m
  for m in A1 G1 G2; do rm -rf "/var/run/dpdk/${CL_TAG}$m"; done
  rm -rf "$WORKDIR"
}
trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT TERM

preflight() {
  demo_preflight demo-cluster.sh "curl python3 ip cargo pkg-config etcd tshark" \
    "$(cl_tap A1 a) $(cl_tap G1 f)" "$NS_UE $NS_SRV $NS_FAB"
}

bring_up() {
  cl_topo_build || exit 1
  bold "etcd on loopback: the cluster's shared state (members, gateways, pins, digests)"
  cl_etcd_start || exit 1
  say "etcd at $CL_ETCD_URL (data in $WORKDIR/etcd-data)"
  bold "three appliances: gateways G1 and G2, tier-1 unit A1 (configs and logs in $WORKDIR)"
  cl_launch G1 G2 A1
  local m
  for m in G1 G2 A1; do
    cl_await "$m" || exit 1
    say "$m: appliance $(cl_appliance_id "$m"), fabric $(cl_fabric_addr "$m"), pid ${CL_PID[$m]}"
  done
  cl_servers || exit 1
  for m in G1 G2; do cl_await_server "$m" || { say "$m did not resolve the server"; exit 1; }; done
  cl_attach A1 10.8.0.0/16 || exit 1
  wait_for 10 cl_agree 1 11 12
}

scene() {
  bold "tandem ctl cluster (on A1): members, leases, generation, digests"
  cl_ctl A1 cluster | sed 's/^/   /'

  local pcap="$WORKDIR/fabric.pcapng" tshark_pid
  bg_client ip netns exec "$NS_FAB" tshark -q -i "$CL_BR_FAB" -f udp -w "$pcap" >"$WORKDIR/tshark.out" 2>&1
  tshark_pid=$LAST_PID
  wait_for 10 grep -q "Capturing on" "$WORKDIR/tshark.out"

  bold "one terminal pinned to each gateway (ctl session create on A1, in force everywhere)"
  local m t out
  for m in G1 G2; do
    t=10.8.0.10$(cl_index "$m")
    say "$(cl_ctl A1 session create --id "$t" --gateway "$(cl_gateway_id "$m")" 2>&1)"
  done
  sleep 0.5
  bold "a request from each terminal through A1: the server sees the gateway's address"
  for m in G1 G2; do
    t=10.8.0.10$(cl_index "$m")
    out=$(ip netns exec "$NS_UE" curl -sS -m 5 --interface "$t" "http://$CL_VIP_WEB/" 2>&1)
    say "$t -> http://$CL_VIP_WEB/ (pinned to $m, translates to $(cl_gateway_addr "$m")): $out"
  done
  sleep 1 # tshark writes what it captured before it stops
  kill -INT "$tshark_pid" 2>/dev/null
  bg_wait "$tshark_pid"

  bold "the fabric as tshark sees it (Geneve on UDP $CL_FABRIC_PORT)"
  # ip.src and ip.dst hold the outer and the inner header's, in that order.
  tshark -r "$pcap" -d "udp.port==$CL_FABRIC_PORT,geneve" -Y geneve -T fields -E separator=/t \
    -e ip.src -e ip.dst -e udp.dstport -e _ws.col.Info 2>/dev/null | head -6 |
    awk -F'\t' '{ split($1, s, ","); split($2, d, ",");
      printf "   outer %s -> %s UDP %s (Geneve) | inner %s -> %s %s\n", s[1], d[1], substr($3, 1, index($3 ",", ",") - 1), s[2], d[2], $4 }'
  tshark -r "$pcap" -d "udp.port==$CL_FABRIC_PORT,geneve" -Y geneve -c 10 -V 2>/dev/null |
    sed -n '/^Generic Network Virtualization Encapsulation/,/^[A-Z]/p' | head -12 | sed 's/^/   /'
  [ -s "$pcap" ] && [ -n "$(tshark -r "$pcap" -d "udp.port==$CL_FABRIC_PORT,geneve" -Y geneve 2>/dev/null | head -1)" ] ||
    say "(no Geneve captured)"

  bold "tandem ctl sessions on G2: the API pins, applied there too"
  cl_ctl G2 sessions | sed 's/^/   /'
  bold "tandem ctl cluster (on G1): the same digest everywhere"
  cl_ctl G1 cluster | tail -5 | sed 's/^/   /'
}

main() {
  preflight
  demo_build
  bring_up
  scene
  bold "stopping the appliances and etcd, removing the namespaces"
}

main
