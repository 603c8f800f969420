#!/usr/bin/env bash
# Tandem on a laptop, with real hosts: runs tandem with conf/laptop.ron,
# puts terminals, servers and an outside host in network namespaces around
# its four net_tap ports, drives a short scripted scenario with real clients
# and prints the accounting records at the end. Needs root.
#
#   scripts/demo.sh             debug build, scripted scenario, then stop
#   scripts/demo.sh --release   the same with a release build
#   scripts/demo.sh --stay      after the scenario, keep everything up until
#                               Ctrl-C so you can try your own requests
#   scripts/demo.sh --cluster   the cluster scene instead: etcd, a tier-1
#                               unit and two gateways as three appliances
#                               (scripts/demo-cluster.sh, docs/cluster.md)
#
# Names are fixed by conf/laptop.ron (taps tdm-acc0 tdm-acc1 tdm-srv0
# tdm-ext0; accounting in /tmp/tandem-accounting.jsonl, truncated at start),
# so one demo runs at a time. Everything is cleaned up on exit or Ctrl-C.
set -u

cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
# shellcheck source=scripts/demo_lib.sh
. scripts/demo_lib.sh

profile=debug
stay=0
cluster=0
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release; shift ;;
    --stay) stay=1; shift ;;
    --cluster) cluster=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

if [ "$cluster" = 1 ]; then
  [ "$stay" = 0 ] || { echo "demo.sh: --stay is not for the cluster scene" >&2; exit 2; }
  exec scripts/demo-cluster.sh "--$profile"
fi

CONFIG=conf/laptop.ron
ACCOUNTING=/tmp/tandem-accounting.jsonl
NS_UE=tdm-ue
NS_SRV=tdm-srv
NS_EXT=tdm-ext
IF_ACC0=tdm-acc0
IF_ACC1=tdm-acc1
IF_SRV=tdm-srv0
IF_EXT=tdm-ext0
WORKDIR="$(mktemp -d /tmp/tandem-demo.XXXXXX)"
TANDEM_LOG="$WORKDIR/tandem.log"
# The control socket: api.socket of the config, else /run/tandem/<file_prefix>.sock.
CTL_SOCKET=$(sed -n 's#^[^/]*socket:[[:space:]]*"\([^"]*\)".*#\1#p' "$CONFIG" | head -1)
if [ -z "$CTL_SOCKET" ]; then
  CTL_SOCKET="/run/tandem/$(sed -n 's/^[[:space:]]*file_prefix:[[:space:]]*"\([^"]*\)".*/\1/p' "$CONFIG" | head -1).sock"
fi
export PATH="$HOME/.cargo/bin:$PATH"


cleanup() {
  trap - EXIT INT TERM
  lib_cleanup
  rm -rf "$WORKDIR"
}
trap cleanup EXIT
trap 'echo; say "interrupted"; finish; exit 130' INT TERM

preflight() {
  demo_preflight demo.sh "curl python3 ip cargo pkg-config" \
    "$IF_ACC0 $IF_ACC1 $IF_SRV $IF_EXT" "$NS_UE $NS_SRV $NS_EXT"
}

# >>> show_counters: live counters while the demo runs.
# Prints `tandem ctl stats` (with "brief": `tandem ctl status`) when this
# tandem has the control command and its socket is up; otherwise what can be
# seen from outside: packets through each tap as the hosts count them, and
# how many accounting records exist.
have_ctl() {
  [ -n "$TANDEM_PID" ] && [ -S "$CTL_SOCKET" ] && "$TANDEM" ctl --help >/dev/null 2>&1
}
show_counters() {
  if have_ctl; then
    if [ "${1:-}" = brief ]; then
      # One line from `tandem ctl status`: the counters that move.
      "$TANDEM" ctl --socket "$CTL_SOCKET" status 2>&1 |
        awk '/^(rx packets|tx packets|drops|user sessions|accounting) / {
               key = $1; if ($2 !~ /^[0-9]/) key = key " " $2
               sub(/^[a-z]+( [a-z]+)? +/, ""); out = out key " " $0 "   " }
             END { print "   [ctl status] " out }'
    else
      "$TANDEM" ctl --socket "$CTL_SOCKET" stats 2>&1 | sed 's/^/   /'
    fi
    return
  fi
  local line="" pair ns ifc rx tx
  for pair in "$NS_UE:$IF_ACC0" "$NS_UE:$IF_ACC1" "$NS_SRV:$IF_SRV" "$NS_EXT:$IF_EXT"; do
    ns=${pair%%:*}
    ifc=${pair#*:}
    rx=$(ip netns exec "$ns" cat "/sys/class/net/$ifc/statistics/rx_packets" 2>/dev/null || echo -)
    tx=$(ip netns exec "$ns" cat "/sys/class/net/$ifc/statistics/tx_packets" 2>/dev/null || echo -)
    # The host's tx is tandem's rx and the other way round.
    line+=$(printf '%s in %-7s out %-7s  ' "$ifc" "$tx" "$rx")
  done
  local records=0
  [ -f "$ACCOUNTING" ] && records=$(wc -l <"$ACCOUNTING")
  say "[counters] $line records $records   (no 'tandem ctl' socket: counts seen by the hosts)"
}
# <<< show_counters

curl_from() { # curl_from SOURCE-IP URL: one request, one result line
  local src=$1 url=$2 out rc=0
  out=$(ip netns exec "$NS_UE" curl -sS -m 5 --interface "$src" "$url" 2>&1) || rc=$?
  if [ "$rc" = 0 ]; then
    say "$src -> $url : $out"
  else
    say "$src -> $url : curl exit $rc: $out"
  fi
}

scenario() {
  bold "ICMP: tandem answers for its VIPs and I/O points"
  local t
  for t in "$VIP_WEB" "$VIP_VIDEO" "$ACC0_GW" "$ACC1_GW"; do
    if command -v ping >/dev/null; then
      ip netns exec "$NS_UE" ping -n -c 2 -i 0.2 -W 1 "$t" | grep -E "packets transmitted" | sed "s/^/   $t: /"
    else
      ip netns exec "$NS_UE" "$PYTHON" "$E2E_DIR/icmp_ping.py" "$t" --count 2 | tail -1 | sed "s/^/   $t: /"
    fi
  done

  bold "web VIP $VIP_WEB:80: least load over ${WEB_SERVERS[*]}; servers see a gateway address"
  for _ in 1 2 3 4 5 6; do curl_from "$TERM_IP" "http://$VIP_WEB/"; done
  show_counters

  bold "video: VIP $VIP_VIDEO, and port 81 of the web VIP (type video, sticky) go to ${VIDEO_SERVERS[*]}"
  for _ in 1 2 3; do curl_from "$TERM_IP" "http://$VIP_VIDEO/"; done
  for _ in 1 2 3; do curl_from "$TERM_IP" "http://$VIP_WEB:81/"; done

  bold "DNS VIP $VIP_DNS:53/udp -> ${WEB_SERVERS[0]}:5353"
  ip netns exec "$NS_UE" "$PYTHON" "$E2E_DIR/udp_ask.py" --src "$TERM_IP" --dst "$VIP_DNS:53" --data "what is my server" | sed 's/^/   /'

  bold "subscriber $REFUSED_IP may only use DNS"
  curl_from "$REFUSED_IP" "http://$VIP_WEB/"
  ip netns exec "$NS_UE" "$PYTHON" "$E2E_DIR/udp_ask.py" --src "$REFUSED_IP" --dst "$VIP_DNS:53" --data "dns is allowed" | sed 's/^/   /'

  bold "external host $EXT_IP: NAT through the gateway address"
  curl_from "$TERM_IP" "http://$EXT_IP:8080/"

  # IPv6 terminal on acc0 (conf/laptop.ron: acc0 2001:db8:1::1/64, web6's
  # vip6, the nat64 prefix): NAT64 to the IPv4 servers and host.
  local ue6=2001:db8:1::100 acc0_v6=2001:db8:1::1 vip6=2001:db8:9::80 ext6="64:ff9b::$EXT_IP"
  bold "IPv6 terminal $ue6: NAT64 to the IPv4 web servers via vip6 $vip6, to $EXT_IP as $ext6"
  if in_ue sysctl -qw "net.ipv6.conf.$IF_ACC0.disable_ipv6=0" &&
    in_ue ip -6 addr add "$ue6/64" dev "$IF_ACC0" nodad &&
    in_ue ip -6 route add 2001:db8:9::/64 via "$acc0_v6" dev "$IF_ACC0" &&
    in_ue ip -6 route add 64:ff9b::/96 via "$acc0_v6" dev "$IF_ACC0"; then
    if command -v ping >/dev/null; then
      in_ue ping -6 -n -c 2 -i 0.2 -W 1 -I "$ue6" "$vip6" | grep -E "packets transmitted" | sed "s/^/   $vip6: /"
    fi
    curl_from "$ue6" "http://[$vip6]/"
    curl_from "$ue6" "http://[$ext6]:8080/"
  else
    say "could not give $NS_UE IPv6 on $IF_ACC0"
  fi

  bold "mobility: a 50 MB download moves from $IF_ACC0 to $IF_ACC1 half-way"
  terminal_route "$IF_ACC0" "$ACC0_GW"
  bg_client ip netns exec "$NS_UE" curl -sS -m 60 --limit-rate 10M -o /dev/null -D "$WORKDIR/mobility.headers" \
    -w '%{size_download} bytes in %{time_total} s' "http://$VIP_WEB/big?n=50000000" >"$WORKDIR/mobility.result" 2>&1
  local pid=$LAST_PID
  local i
  for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
    sleep 1
    kill -0 "$pid" 2>/dev/null || break
    if [ "$i" = 2 ]; then
      terminal_route "$IF_ACC1" "$ACC1_GW"
      say "route to the VIPs now via $IF_ACC1 ($ACC1_GW), source still $TERM_IP"
    fi
    show_counters brief
    if [ "$i" = 3 ] && have_ctl; then
      say "the download's user session, after the move:"
      "$TANDEM" ctl --socket "$CTL_SOCKET" user-sessions 2>&1 | grep -E "^ *worker|established" | sed 's/^/   /'
    fi
  done
  show_counters
  bg_wait "$pid"
  say "download: $(cat "$WORKDIR/mobility.result"), served by $(tr -d '\r' <"$WORKDIR/mobility.headers" | sed -n 's/^X-Server: //p') as $(tr -d '\r' <"$WORKDIR/mobility.headers" | sed -n 's/^X-Client: //p')"
}

finish() {
  [ -n "$TANDEM_PID" ] || return 0
  bold "stopping tandem (SIGTERM): it writes final records for live user sessions"
  stop_tandem 20
  { plain_log "$TANDEM_LOG" | grep -E "stats rx=" | tail -1
    plain_log "$TANDEM_LOG" | grep -E "mbufs in use|stopped"; } | sed 's/^/   /'
  say "tandem exit status $TANDEM_RC"
  bold "accounting records ($ACCOUNTING)"
  if [ -s "$ACCOUNTING" ]; then
    "$PYTHON" "$E2E_DIR/records.py" "$ACCOUNTING" --table
  else
    say "none written"
  fi
}

main() {
  preflight
  demo_build
  : >"$ACCOUNTING"
  bold "starting tandem with $CONFIG (log: $TANDEM_LOG)"
  start_tandem "$CONFIG" "$TANDEM_LOG" "$TANDEM" || exit 1
  topo_build || exit 1
  topo_servers || exit 1
  topo_wait_neighbours "$TANDEM_LOG" || exit 1
  say "terminals $TERM_IP and $REFUSED_IP in namespace $NS_UE ($IF_ACC0 $UE_A_IP, $IF_ACC1 $UE_B_IP)"
  say "servers ${WEB_SERVERS[*]} ${VIDEO_SERVERS[*]} in $NS_SRV; external host $EXT_IP in $NS_EXT"
  show_counters
  scenario
  if [ "$stay" = 1 ]; then
    bold "tandem keeps running; try for example:"
    say "ip netns exec $NS_UE curl http://$VIP_WEB/"
    say "ip netns exec $NS_UE curl --interface $REFUSED_IP http://$VIP_WEB/"
    say "ip netns exec $NS_UE python3 $E2E_DIR/udp_ask.py --src $TERM_IP --dst $VIP_DNS:53"
    say "Ctrl-C stops tandem, prints the accounting records and cleans up."
    while kill -0 "$TANDEM_PID" 2>/dev/null; do
      sleep 5
      show_counters brief
    done
  fi
  finish
}

main
