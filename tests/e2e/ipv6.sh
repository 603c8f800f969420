#!/usr/bin/env bash
# IPv6 on a port address through the real binary (issue 14, first slice):
# a terminal namespace with IPv6 on the access tap's link, tandem with an
# IPv6 address on that port, real ping and curl. Needs root and scapy for
# /usr/bin/python3 (or SCAPY_PYTHON).
#
#   tests/e2e/ipv6.sh           build (debug) and run
#   TANDEM_BIN=path ipv6.sh     use that binary
#   E2E_KEEP=1 ...              keep the temp dir (logs, config, capture)
#
# Tandem runs two workers (gateways), so "the same gateway" below is a
# choice between two.
#
# Checks: (a) `ping -6` of the access port's IPv6 address answers, the
# kernel having resolved it through Neighbor Discovery: its neighbour entry
# holds the port's MAC, and the advertisement on the wire has the
# solicited and override flags and a checksum tshark accepts; (b) IPv4
# through the appliance still works (curl through the VIP, 200); (c) a
# solicitation with hop limit 64 and a router solicitation (scapy) are not
# answered, and a ping routed through tandem to another IPv6 prefix is not
# served; (d) `ctl stats` counts all of it: nd_replies, icmp_replies,
# icmpv6_bad_neighbor_discovery, nd_ignored, ipv6_not_served, and no
# unsupported_ethertype; (e) acc0's `mtu: Some(1400)` is the tap's MTU
# and a 1400-byte IPv6 ping (the most that fits) is answered; (g) tier 1
# steers the terminal by its /64: the routed pings from two interface
# identifiers of one /64 make one pinned session `2001:db8:1::/64` (`ctl
# sessions`), whose gateway stays the same, and `ctl session delete` takes
# the session in its address/length form; (h) NAT64: the IPv6-only
# terminal fetches from the IPv4 web servers through the IPv6 VIP
# (`curl -6`, the server sees a gateway address) and from the IPv4
# external host through 64:ff9b::<its address>, pings the IPv6 VIP, runs
# iperf3 through the prefix; `ctl stats` counts no NAT64 drop; the JSON
# accounting records of those user sessions (final ones, written as
# tandem stops) carry the terminal's IPv6 address and the IPv6 VIP or
# prefix address; (i) privacy addresses keep the session: after a
# fetch through NAT64 from $UE_V6 the terminal takes a random interface
# identifier in its /64 and fetches from it: `ctl sessions` shows the one
# session `2001:db8:1::/64` on the same gateway before and after, and
# `ctl user-sessions --session 2001:db8:1::/64` holds the user sessions of
# both addresses (as `[address]:port`) on that gateway; (j) mobility
# mid-download: a 60 MB download through the IPv6 VIP (curl -6, 10 MB/s)
# while the terminal's route moves from acc0 to acc1 (which has an IPv6
# address for it) completes with all its bytes, its data arriving on acc0
# then acc1, as one user session (`ctl user-sessions` before and after the
# move: one, the same gateway port, the one the server saw; one final JSON
# record, bytes_down >= 60 MB); (k) an unentitled IPv6 subscriber: a
# subscriber entry `session: "2001:db8:3::/64"` without the IPv6 VIP's
# service; `ctl subscribers` lists it, curl -6 from an address of that
# /64 is reset at once (an IPv6 RST, curl exit 7), `refused` counts it,
# its JSON record is not_entitled, and the terminal's own /64 is still
# served; `ctl subscriber add --session 2001:db8:5::/56` and `--prefix
# 2001:db8:5::/48` are accepted and listed as prefix entries (they cover
# the /64 session IDs inside them), `--prefix 2001:db8:5::/72` (longer than
# a session ID) is refused naming ipv6_prefix_len; (l) a 4000-byte UDP
# datagram in IPv6 fragments reaches the IPv4 host whole through NAT64 and
# its echo, in IPv4 fragments, comes back whole; (m) a host's echo too big
# for acc0 once translated gets the host "fragmentation needed" (MTU 1372)
# and its next, fragmented to fit, arrives whole; (n) IPv6 → IPv6 full
# NAT: the active health checks find the third IPv6 server, which does not
# listen, unhealthy (ctl services, metrics); the terminal fetches through
# the IPv6 VIP $VIP66 served by the two live IPv6 web servers (curl -6,
# 200); each server learned tandem's gateway IPv6
# address by ND and tandem learned the servers' (its log); the servers saw
# the gateway IPv6 address, each fetch with its own port; a UDP datagram to
# a port closed on the servers gets the terminal's socket ECONNREFUSED (the
# servers' ICMPv6 port unreachable translated back); the JSON records
# carry the terminal, the VIP, the gateway IPv6 address and the server;
# (f) tandem stops cleanly.
# Prints PASS/FAIL per check and a last line "N passed, M failed".
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

RUN_ID=$$
NS_UE="v6${RUN_ID}ue"
NS_SRV="v6${RUN_ID}srv"
NS_EXT="v6${RUN_ID}ext"
IF_ACC0="v6${RUN_ID}a0"
IF_ACC1="v6${RUN_ID}a1"
IF_SRV="v6${RUN_ID}s0"
IF_EXT="v6${RUN_ID}e0"
FILE_PREFIX="tdmv6${RUN_ID}"
WORKDIR="$(mktemp -d "/tmp/tandem-v6.${RUN_ID}.XXXXXX")"
CONFIG="$WORKDIR/ipv6.ron"
SCAPY_PY=${SCAPY_PYTHON:-/usr/bin/python3}
TANDEM_LOG="$WORKDIR/tandem.log"
CTL_SOCKET="$WORKDIR/ctl.sock"
ACCOUNTING="$WORKDIR/accounting.jsonl"

ACC0_V6=2001:db8:1::1
ACC1_V6=2001:db8:2::1
UE_V6=2001:db8:1::100
UE_V6_OTHER_IID=2001:db8:1::beef:1
# A privacy address (RFC 8981) of the same /64: a random-looking
# interface identifier.
UE_V6_PRIVACY=2001:db8:1:0:5c3a:91d7:e27b:4f10
# The terminal's address on acc1's link (the route's next hop is on it).
UE_V6_ACC1=2001:db8:2::100
# A terminal whose /64 has a subscriber entry without the IPv6 VIP's
# service.
REFUSED_V6=2001:db8:3::66
REFUSED_V6_SESSION=2001:db8:3::/64
UE_PREFIX_SESSION=2001:db8:1::/64
ELSEWHERE_V6=2001:db8:9::1
ACC0_MTU=1400
VIP6_WEB=2001:db8:9::80
# IPv6 → IPv6 (n): the VIP, srv0's IPv6 network, its gateway address and
# the two IPv6 web servers on it.
VIP66=2001:db8:9::66
SRV0_V6=2001:db8:20::1
GW6=2001:db8:20::10
SERVERS6=(2001:db8:20::21 2001:db8:20::22)
# A third server of $VIP66 with the address but no listener: the active
# health checks (IPv6 SYN probes) take it out before (n) fetches.
DEAD66=2001:db8:20::23
NAT66_FETCHES=6
# A UDP port of $VIP66 whose servers have no socket on it (n).
CLOSED66_PORT=9099
NAT64_PREFIX=64:ff9b::
EXT_V6="${NAT64_PREFIX}$EXT_IP"
# The UDP echo of (l).
FRAG_ECHO_PORT=7009
IPERF_PORT=5201
# Terminal ports of the privacy-address requests and of the long download.
PORT_PRIVACY_A=40301
PORT_PRIVACY_B=40302
PORT_MOBILITY=40303
# The download through NAT64 that moves from acc0 to acc1: size and client
# rate (about 6 s); the route moves after MOBILITY_MOVE_S seconds.
BIG_BYTES=60000000
MOBILITY_RATE=${E2E_MOBILITY_RATE:-10M}
MOBILITY_MOVE_S=2

# Two workers sharing CPU 1 (see write_config).
EAL_LCORES="0@0,1@1,2@1"

DPDK_PREFIXES=("$FILE_PREFIX")
CTL_SOCKETS=("$CTL_SOCKET")
e2e_traps

write_config() {
  cat >"$CONFIG" <<EOF
(
$(tap_eal_section)
    ports: [
        (name: "acc0", device: "net_tap0", role: Access, addresses: ["$ACC0_GW/24", "$ACC0_V6/64"], mtu: Some($ACC0_MTU), rx_queues: 3),
        (name: "acc1", device: "net_tap1", role: Access, addresses: ["$ACC1_GW/24", "$ACC1_V6/64"], rx_queues: 3),
        (name: "srv0", device: "net_tap2", role: Server, addresses: ["10.2.0.1/24", "$SRV0_V6/64"], rx_queues: 3),
        (name: "ext0", device: "net_tap3", role: External, addresses: ["$EXT_GW/24"], rx_queues: 3),
    ],
    // Two gateways (as conf/laptop.ron: worker w polls queue w, worker 0
    // also the control plane's queue 2), so that "the same gateway" can
    // differ.
    workers: [
        (lcore: 1, poll: [
            (port: "acc0", queue: 0), (port: "acc1", queue: 0), (port: "srv0", queue: 0), (port: "ext0", queue: 0),
            (port: "acc0", queue: 2), (port: "acc1", queue: 2), (port: "srv0", queue: 2), (port: "ext0", queue: 2),
        ]),
        (lcore: 2, poll: [
            (port: "acc0", queue: 1), (port: "acc1", queue: 1), (port: "srv0", queue: 1), (port: "ext0", queue: 1),
        ]),
    ],
    mempool: (mbufs: 32767),
    idle: (busy_poll: false, max_sleep_us: 500),
    gateway: (addresses: ["${GATEWAY_IPS[0]}"], ipv6_addresses: ["$GW6"], port_range: (1024, 65535), user_sessions_per_worker: 4096),
    services: [
$(web_service_entry)
        (name: "web6", vip6: "$VIP6_WEB", proto: Tcp, port: 80, servers: [
            (addr: "${WEB_SERVERS[0]}", port: 8080),
            (addr: "${WEB_SERVERS[1]}", port: 8080),
        ]),
        (name: "web66", vip6: "$VIP66", proto: Tcp, port: 80, servers: [
            (addr: "${SERVERS6[0]}", port: 8080),
            (addr: "${SERVERS6[1]}", port: 8080),
            (addr: "$DEAD66", port: 8080),
        ]),
        // Nothing listens on the servers' port: their port unreachable
        // reaches the terminal (n).
        (name: "closed66", vip6: "$VIP66", proto: Udp, port: $CLOSED66_PORT, servers: [
            (addr: "${SERVERS6[0]}", port: $CLOSED66_PORT),
            (addr: "${SERVERS6[1]}", port: $CLOSED66_PORT),
        ]),
    ],
    nat64: (prefix: "$NAT64_PREFIX/96"),
    // Active TCP probes, IPv4 and IPv6 servers alike (n: $DEAD66).
    health: (active: Some((interval_ms: 300, timeout_ms: 500, rise: 2, fall: 2, source_ports: (1000, 1023)))),
    subscribers: (entries: [(session: "$REFUSED_V6_SESSION", services: ["web"])]),
    accounting: (json: (path: "$ACCOUNTING")),
    api: (socket: "$CTL_SOCKET"),
)
EOF
}

prepare() {
  require_root_and curl ping tcpdump tshark
  "$SCAPY_PY" -c 'from scapy.layers.inet6 import ICMPv6ND_NS' 2>/dev/null || { log "needs scapy for $SCAPY_PY"; exit 2; }
  tandem_binary
  write_config
  config_accepted "$CONFIG"
}

setup() {
  start_tandem "$CONFIG" "$TANDEM_LOG" "$TANDEM" || setup_failed "tandem did not start"
  topo_build || setup_failed "could not build the namespaces"
  VIDEO_SERVERS=() # not in this config
  topo_servers || setup_failed "servers did not start"
  topo_wait_neighbours "$TANDEM_LOG" || setup_failed "tandem did not resolve the servers"
  # IPv6 on the terminal's side of acc0 only.
  ipv6_terminal "$IF_ACC0" "$UE_V6" "$ACC0_V6" "${ELSEWHERE_V6%::1}::/64" "$NAT64_PREFIX/96" ||
    setup_failed "could not give the terminal $UE_V6 and its routes"
  setup_ipv6_servers || setup_failed "the IPv6 servers"
}

# IPv6 on the server namespace's tap: srv0's network, the two IPv6 web
# servers (their own servers.py), each pinging the gateway IPv6 address
# so that both sides resolve each other by ND. Waits until tandem has
# learned both servers.
setup_ipv6_servers() {
  local a args=()
  in_srv sysctl -qw "net.ipv6.conf.$IF_SRV.disable_ipv6=0" || return 1
  for a in "${SERVERS6[@]}"; do
    in_srv ip -6 addr add "$a/64" dev "$IF_SRV" nodad || return 1
    args+=(--http "[$a]:8080")
  done
  in_srv ip -6 addr add "$DEAD66/64" dev "$IF_SRV" nodad || return 1
  ip netns exec "$NS_SRV" "$PYTHON" "$E2E_DIR/servers.py" "${args[@]}" \
    --log "$WORKDIR/srv6-requests.log" --ready "$WORKDIR/srv6.ready" >"$WORKDIR/srv6.out" 2>&1 &
  BG_PIDS+=($!)
  wait_for 10 test -e "$WORKDIR/srv6.ready" || { log "IPv6 servers: $(cat "$WORKDIR/srv6.out")"; return 1; }
  for a in "${SERVERS6[@]}"; do
    in_srv ping -6 -c 1 -W 2 -I "$a" "$GW6" >/dev/null 2>&1
    wait_for 10 bash -c "sed 's/\x1b\[[0-9;]*m//g' '$TANDEM_LOG' | grep -q 'neighbour learned.* ip=$a '" ||
      { log "tandem did not learn IPv6 server $a"; return 1; }
  done
}

# Starts tcpdump in the terminal namespace on acc0 writing $1 (ICMPv6
# only); waits until it listens. Sets CAP_PID.
capture() { pcap_start "$NS_UE" "$IF_ACC0" "$1" icmp6; }
stop_capture() { pcap_stop "$1"; }

# (a) ping -6 of the port address, resolved by ND.
scenario_ping() {
  local cap="$WORKDIR/nd.pcap" pid out mac neigh na
  capture "$cap" || { fail "setup: tcpdump in the terminal namespace"; return; }
  pid=$CAP_PID
  in_ue ip -6 neigh flush dev "$IF_ACC0" 2>/dev/null
  out=$(in_ue ping -6 -c 3 -i 0.2 -W 2 "$ACC0_V6" 2>&1)
  local rc=$?
  sleep 0.5
  stop_capture "$pid"
  local got
  got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$out")
  if [ "$rc" = 0 ] && [ "${got:-0}" = 3 ]; then pass "ping -6 $ACC0_V6: 3 of 3 answered"; else
    fail "ping -6 $ACC0_V6 (exit $rc): $(tail -2 <<<"$out" | tr '\n' ' ')"; fi

  mac=$(stat_of port-mac acc0)
  neigh=$(in_ue ip -6 neigh show "$ACC0_V6" dev "$IF_ACC0")
  if grep -qi "lladdr $mac" <<<"$neigh"; then pass "the kernel resolved $ACC0_V6 by ND to acc0's MAC $mac"; else
    fail "neighbour entry '$neigh', want lladdr $mac"; fi

  # The advertisement as the kernel received it: from the port address,
  # solicited and override, target option = the port's MAC, checksum good.
  na=$(tshark -r "$cap" -Y "icmpv6.type == 136" -T fields -E separator=' ' \
    -e ipv6.src -e ipv6.hlim -e icmpv6.nd.na.flag.s -e icmpv6.nd.na.flag.o -e icmpv6.opt.linkaddr \
    -e icmpv6.checksum.status 2>/dev/null | head -1)
  local want="$ACC0_V6 255 1 1 $mac 1"
  # tshark prints flags as True/1 depending on version: normalise.
  na=$(sed -e 's/True/1/g' -e 's/False/0/g' <<<"$na")
  if [ "$na" = "$want" ]; then pass "the NA on the wire: $na"; else fail "NA on the wire '$na', want '$want'"; fi
}

# (b) IPv4 through the appliance.
scenario_ipv4() {
  local code
  code=$(in_ue curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://$VIP_WEB/" 2>&1)
  if [ "$code" = 200 ]; then pass "IPv4: curl through the VIP answered 200"; else fail "IPv4: curl got '$code'"; fi
}

# (c) What is not answered.
scenario_refused() {
  local mac
  mac=$(stat_of port-mac acc0)
  cat >"$WORKDIR/nd.py" <<'PY'
import sys
from scapy.all import Ether, sendp
from scapy.layers.inet6 import IPv6, ICMPv6ND_NS, ICMPv6ND_RS, ICMPv6NDOptSrcLLAddr, in6_getnsma, in6_getnsmac, inet_pton, socket
ifc, src, target = sys.argv[1:4]
group = in6_getnsma(inet_pton(socket.AF_INET6, target))
group_ip = socket.inet_ntop(socket.AF_INET6, group)
l2 = Ether(dst=in6_getnsmac(group))
# A solicitation for the port address that crossed a router (hop limit 64).
sendp(l2 / IPv6(src=src, dst=group_ip, hlim=64) / ICMPv6ND_NS(tgt=target), iface=ifc, verbose=False)
# A router solicitation: Tandem advertises no prefixes.
sendp(Ether(dst="33:33:00:00:00:02") / IPv6(src=src, dst="ff02::2", hlim=255) / ICMPv6ND_RS(), iface=ifc, verbose=False)
PY
  local before_bad before_replies
  before_bad=$(stat_of drop icmpv6_bad_neighbor_discovery)
  before_replies=$(stat_of worker nd_replies)
  in_ue "$SCAPY_PY" "$WORKDIR/nd.py" "$IF_ACC0" "$UE_V6" "$ACC0_V6" || { fail "scapy failed"; return; }
  # A ping to another prefix routed through tandem: not served.
  in_ue ping -6 -c 2 -i 0.2 -W 1 "$ELSEWHERE_V6" >/dev/null 2>&1 &&
    fail "ping -6 $ELSEWHERE_V6 through tandem was answered"
  sleep 0.5
  local bad replies
  bad=$(stat_of drop icmpv6_bad_neighbor_discovery)
  replies=$(stat_of worker nd_replies)
  if [ "$bad" = $((before_bad + 1)) ] && [ "$replies" = "$before_replies" ]; then
    pass "NS with hop limit 64: not answered, icmpv6_bad_neighbor_discovery $before_bad -> $bad"
  else
    fail "NS with hop limit 64: bad ND $before_bad -> $bad, nd_replies $before_replies -> $replies"
  fi
}

# (e) The port's MTU reached the device (net_tap: the kernel interface).
scenario_mtu() {
  local mtu out
  mtu=$(in_ue ip -o link show dev "$IF_ACC0" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p')
  if [ "$mtu" = "$ACC0_MTU" ]; then pass "acc0's mtu $ACC0_MTU is the tap's MTU"; else
    fail "tap MTU '$mtu', want $ACC0_MTU"; fi
  # 40 (IPv6) + 8 (ICMPv6) + 1352 = 1400 bytes.
  if out=$(in_ue ping -6 -c 1 -W 2 -s $((ACC0_MTU - 48)) "$ACC0_V6" 2>&1); then
    pass "a $ACC0_MTU-byte IPv6 ping of the port address is answered"
  else
    fail "$ACC0_MTU-byte ping: $(tail -2 <<<"$out" | tr '\n' ' ')"
  fi
}

# The pinned sessions whose ID is an IPv6 prefix, one "ID GATEWAY" a line.
v6_sessions() {
  ctl --json sessions | "$PYTHON" -c '
import json, sys
for s in json.load(sys.stdin):
    if ":" in s["id"] and not s["id"].startswith(("teid:", "id:", "raw:")):
        print(s["id"], s.get("gateway"))'
}

# (g) Tier 1 steers an IPv6 terminal by its /64 (scenario_refused's
# routed pings from $UE_V6 asked for the pin).
scenario_prefix_session() {
  local first second
  wait_for 5 test -n "$(v6_sessions)"
  first=$(v6_sessions)
  if [ "$first" = "$UE_PREFIX_SESSION 0" ] || [ "$first" = "$UE_PREFIX_SESSION 1" ]; then
    pass "ctl sessions: $UE_V6's pings pinned session $first"
  else
    fail "ctl sessions after $UE_V6's pings: '$first', want '$UE_PREFIX_SESSION GATEWAY'"
  fi
  # The terminal takes another interface identifier in the same /64.
  in_ue ip -6 addr add "$UE_V6_OTHER_IID/64" dev "$IF_ACC0" nodad || { fail "could not add $UE_V6_OTHER_IID"; return; }
  local before
  before=$(stat_of drop ipv6_not_served)
  in_ue ping -6 -c 2 -i 0.2 -W 1 -I "$UE_V6_OTHER_IID" "$ELSEWHERE_V6" >/dev/null 2>&1
  sleep 0.5
  second=$(v6_sessions)
  if [ "$second" = "$first" ] && [ "$(stat_of drop ipv6_not_served)" -ge $((before + 2)) ]; then
    pass "ctl sessions after pings from $UE_V6_OTHER_IID: the same one session ($second)"
  else
    fail "ctl sessions after pings from $UE_V6_OTHER_IID: '$second', want '$first' (ipv6_not_served $before -> $(stat_of drop ipv6_not_served))"
  fi
  # Any address of the prefix with its length names the session.
  local out
  if out=$(ctl session delete "$UE_V6_OTHER_IID/64" 2>&1) && [ -z "$(v6_sessions)" ]; then
    pass "ctl session delete $UE_V6_OTHER_IID/64: $out"
  else
    fail "ctl session delete $UE_V6_OTHER_IID/64: '$out', sessions left: '$(v6_sessions)'"
  fi
  if out=$(ctl session delete "fe80::1/64" 2>&1); then fail "a link-local prefix was taken as a session ID: $out"; else
    pass "ctl refuses fe80::1/64 as a session ID"; fi
}

# (h) NAT64 with real clients, from $UE_V6 (the terminal also has
# $UE_V6_OTHER_IID since (g), which its kernel would prefer).
scenario_nat64() {
  local hdr="$WORKDIR/nat64.headers" code client
  code=$(in_ue curl -6 --interface "$UE_V6" -sS -m 5 -D "$hdr" -o /dev/null -w '%{http_code}' "http://[$VIP6_WEB]/" 2>&1)
  client=$(tr -d '\r' <"$hdr" 2>/dev/null | sed -n 's/^X-Client: //p')
  if [ "$code" = 200 ] && [ "${client%:*}" = "${GATEWAY_IPS[0]}" ]; then
    pass "curl -6 http://[$VIP6_WEB]/: 200 from an IPv4 web server, which saw $client"
  else
    fail "curl -6 through the IPv6 VIP: '$code', the server saw '$client'"
  fi
  code=$(in_ue curl -6 --interface "$UE_V6" -sS -m 5 -D "$hdr" -o /dev/null -w '%{http_code}' "http://[$EXT_V6]:8080/" 2>&1)
  client=$(tr -d '\r' <"$hdr" 2>/dev/null | sed -n 's/^X-Client: //p')
  if [ "$code" = 200 ] && [ "${client%:*}" = "${GATEWAY_IPS[0]}" ]; then
    pass "curl -6 http://[$EXT_V6]:8080/: 200 from the IPv4 host $EXT_IP, which saw $client"
  else
    fail "curl -6 through the NAT64 prefix: '$code', the host saw '$client'"
  fi
  local out got
  out=$(in_ue ping -6 -c 3 -i 0.2 -W 2 -I "$UE_V6" "$VIP6_WEB" 2>&1)
  got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$out")
  if [ "${got:-0}" = 3 ]; then pass "ping -6 $VIP6_WEB (the IPv6 VIP): 3 of 3 answered"; else
    fail "ping -6 $VIP6_WEB: $(tail -2 <<<"$out" | tr '\n' ' ')"; fi
  out=$(in_ue ping -6 -c 3 -i 0.2 -W 2 -I "$UE_V6" "$EXT_V6" 2>&1)
  got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$out")
  if [ "${got:-0}" = 3 ]; then pass "ping -6 $EXT_V6: 3 of 3 echoed by the IPv4 host through NAT64"; else
    fail "ping -6 $EXT_V6: $(tail -2 <<<"$out" | tr '\n' ' ')"; fi
  if command -v iperf3 >/dev/null; then
    ip netns exec "$NS_EXT" iperf3 -s -B "$EXT_IP" -p "$IPERF_PORT" -1 >"$WORKDIR/iperf-s.out" 2>&1 &
    BG_PIDS+=($!)
    sleep 0.5
    out=$(in_ue timeout 20 iperf3 -6 -B "$UE_V6" -c "$EXT_V6" -p "$IPERF_PORT" -t 2 -f m 2>&1)
    local rate
    rate=$(grep -E 'receiver' <<<"$out" | awk '{for (i=1;i<=NF;i++) if ($i=="Mbits/sec") print $(i-1)}' | tail -1)
    if [ -n "$rate" ]; then pass "iperf3 -6 through NAT64 to $EXT_IP: $rate Mbit/s"; else
      fail "iperf3 -6 through NAT64: $(tail -3 <<<"$out" | tr '\n' ' ')"; fi
  else
    fail "iperf3 is not installed"
  fi
  local drops="" r n
  for r in nat64_bad_packet nat64_bad_checksum nat64_unsupported_protocol nat64_untranslatable_icmp \
    nat64_routing_header nat64_fragmented_icmp nat64_udp_zero_checksum_fragment nat64_buffer_too_small; do
    n=$(stat_of drop "$r")
    [ "$n" = 0 ] || drops="$drops $r=${n:-missing}"
  done
  if [ -z "$drops" ]; then pass "ctl stats: no nat64_* drop"; else fail "ctl stats: NAT64 drops $drops"; fi
}

# (l) Fragments through NAT64: a 4000-byte UDP datagram the terminal's
# kernel sends in IPv6 fragments reaches the IPv4 host whole, from the
# gateway address, and the echo its kernel sends back in IPv4 fragments
# reaches the terminal whole. The host's pieces fill its 1500-byte link
# and grow 28 bytes in IPv6 (header and fragment header), over acc0's
# 1400: tandem sends each in two IPv6 fragments (RFC 7915 4.1).
scenario_fragments_v6() {
  local log="$WORKDIR/echo6.log" out rc got before after split0 split1
  before=$(stat_of drop nat64_too_big)
  split0=$(stat_of worker nat64_fragmented)
  # ip netns exec execs python, so $! is the server itself.
  ip netns exec "$NS_EXT" "$PYTHON" "$E2E_DIR/udp_echo.py" serve --bind "$EXT_IP:$FRAG_ECHO_PORT" --log "$log" \
    --ready "$WORKDIR/echo6.ready" >"$WORKDIR/echo6.out" 2>&1 &
  BG_PIDS+=($!)
  if wait_for 10 test -e "$WORKDIR/echo6.ready"; then
    out=$(in_ue "$PYTHON" "$E2E_DIR/udp_echo.py" ask --src "$UE_V6" --dst "[$EXT_V6]:$FRAG_ECHO_PORT" \
      --size 4000 --timeout 2 --tries 3 2>&1)
    rc=$?
    check "NAT64 fragments: the terminal's 4000-byte UDP datagram, in IPv6 fragments, is echoed whole ($out)" \
      "exit $rc: $out" test "$rc" = 0
    got=$(grep -c "^got 4000 .* from ${GATEWAY_IPS[0]}:" "$log")
    check "NAT64 fragments: the IPv4 host got the datagram whole from the gateway address ($got times)" \
      "$(tr '\n' ' ' <"$log")" test "$got" -ge 1
    # The host's fragments fill its 1500-byte link: 1528 bytes each once
    # translated, over acc0's 1400, so tandem cut each in two IPv6
    # fragments (none dropped as too big).
    after=$(stat_of drop nat64_too_big)
    split1=$(stat_of worker nat64_fragmented)
    check "NAT64 fragments: the host's 1500-byte fragments were cut to fit acc0's MTU $ACC0_MTU (nat64_fragmented $split0 -> $split1, nat64_too_big $before -> $after)" \
      "" test "$after" = "$before" -a "$split1" -gt "$split0"
  else
    fail "UDP echo on $EXT_IP did not start: $(cat "$WORKDIR/echo6.out")"
  fi
}

# (m) Path MTU through NAT64: acc0's MTU is 1400, the IPv4 host's link
# 1500. The host's 1428-byte echo (UDP, DF set by its kernel's path MTU
# discovery) would be 1448 bytes of IPv6: tandem drops it (nat64_too_big)
# and tells the host "fragmentation needed" with MTU 1372 (1400 less the
# IPv6 and fragment headers, plus IPv4's); the host's kernel keeps that
# MTU for the gateway address and fragments its next echo to fit, which
# reaches the terminal whole.
scenario_pmtu_v6() {
  local log="$WORKDIR/echo6.log" out rc before after route
  before=$(stat_of drop nat64_too_big)
  out=$(in_ue "$PYTHON" "$E2E_DIR/udp_echo.py" ask --src "$UE_V6" --dst "[$EXT_V6]:$FRAG_ECHO_PORT" \
    --size 1400 --timeout 1 --tries 4 2>&1)
  rc=$?
  after=$(stat_of drop nat64_too_big)
  route=$(in_ext ip route get "${GATEWAY_IPS[0]}" 2>&1 | tr '\n' ' ')
  check "NAT64 path MTU: the host was told 'fragmentation needed' (nat64_too_big $before -> $after) and keeps mtu 1372 for ${GATEWAY_IPS[0]} ($route)" \
    "ip route get: $route" test "$after" -gt "$before" -a -n "$(grep -o 'mtu 1372' <<<"$route")"
  check "NAT64 path MTU: the terminal's 1400-byte UDP datagram is echoed whole once the host fragments to fit ($out)" \
    "exit $rc: $out; $(tail -3 "$log" | tr '\n' ' ')" test "$rc" = 0
}

# The user sessions of the terminal's prefix session whose terminal is
# an IPv6 address, one "TERMINAL WORKER GATEWAY STATE" a line (`ctl --json
# user-sessions --session PREFIX`).
v6_user_sessions() {
  ctl --json user-sessions --session "$UE_PREFIX_SESSION" | "$PYTHON" -c '
import json, sys
for u in json.load(sys.stdin):
    if u["terminal"].startswith("["):
        print(u["terminal"], u["worker"], u["gateway"], u["state"], u["session"])'
}

# (i) A privacy address keeps the session: the terminal fetches through
# NAT64 from $UE_V6, takes a new random interface identifier in its /64
# and fetches from that; ctl shows one session, on the same gateway,
# holding the user sessions of both addresses.
scenario_privacy() {
  local code before after hdr="$WORKDIR/privacy.headers" client
  code=$(in_ue curl -6 --interface "$UE_V6" --local-port "$PORT_PRIVACY_A" -sS -m 5 -o /dev/null \
    -w '%{http_code}' "http://[$VIP6_WEB]/" 2>&1)
  before=$(v6_sessions)
  in_ue ip -6 addr add "$UE_V6_PRIVACY/64" dev "$IF_ACC0" nodad || { fail "could not add $UE_V6_PRIVACY"; return; }
  code="$code $(in_ue curl -6 --interface "$UE_V6_PRIVACY" --local-port "$PORT_PRIVACY_B" -sS -m 5 -D "$hdr" \
    -o /dev/null -w '%{http_code}' "http://[$VIP6_WEB]/" 2>&1)"
  client=$(tr -d '\r' <"$hdr" 2>/dev/null | sed -n 's/^X-Client: //p')
  if [ "$code" = "200 200" ] && [ "${client%:*}" = "${GATEWAY_IPS[0]}" ]; then
    pass "privacy address: curl -6 from $UE_V6 and from $UE_V6_PRIVACY both 200 (the server saw $client)"
  else
    fail "privacy address: curl -6 from $UE_V6 / $UE_V6_PRIVACY: '$code', the server saw '$client'"
  fi
  after=$(v6_sessions)
  local gw=${before##* }
  if [ "$(wc -l <<<"$before")" = 1 ] && [ "${before% *}" = "$UE_PREFIX_SESSION" ] && [ "$after" = "$before" ]; then
    pass "privacy address: ctl sessions shows one session $UE_PREFIX_SESSION on gateway $gw before and after"
  else
    fail "privacy address: ctl sessions before '$before', after '$after', want one '$UE_PREFIX_SESSION GATEWAY'"
  fi
  local us want_a want_b
  us=$(v6_user_sessions)
  want_a="[$UE_V6]:$PORT_PRIVACY_A $gw "
  want_b="[$(ipaddr_v6 "$UE_V6_PRIVACY")]:$PORT_PRIVACY_B $gw "
  if grep -qF -- "$want_a" <<<"$us" && grep -qF -- "$want_b" <<<"$us"; then
    pass "privacy address: ctl user-sessions --session $UE_PREFIX_SESSION holds both, on gateway $gw: $(grep -F -e "$want_a" -e "$want_b" <<<"$us" | cut -d' ' -f1,3 | tr '\n' ' ')"
  else
    fail "privacy address: ctl user-sessions of $UE_PREFIX_SESSION: '${us//$'\n'/; }', want '$want_a...' and '$want_b...'"
  fi
  if ctl user-sessions | grep -qF "[$(ipaddr_v6 "$UE_V6_PRIVACY")]:$PORT_PRIVACY_B"; then
    pass "ctl user-sessions (table) names the terminal [$(ipaddr_v6 "$UE_V6_PRIVACY")]:$PORT_PRIVACY_B"
  else
    fail "ctl user-sessions (table) lacks [$UE_V6_PRIVACY]:$PORT_PRIVACY_B: $(ctl user-sessions 2>&1 | head -5 | tr '\n' ' ')"
  fi
}

rx_bytes() { in_ue cat "/sys/class/net/$1/statistics/rx_bytes"; }

# The download's user session as ctl lists it: "WORKER GATEWAY" lines.
mobility_user_session() {
  v6_user_sessions | awk -v t="[$UE_V6]:$PORT_MOBILITY" '$1 == t { print $2, $3 }'
}

# (j) Mobility mid-download: the terminal downloads from an IPv4 web
# server through the IPv6 VIP while its route moves from acc0 to acc1;
# the download completes, as one user session on one gateway port.
scenario_mobility() {
  local d="$WORKDIR/mobility"
  mkdir -p "$d"
  in_ue sysctl -qw "net.ipv6.conf.$IF_ACC1.disable_ipv6=0" || { fail "could not enable IPv6 on $IF_ACC1"; return; }
  in_ue ip -6 addr add "$UE_V6_ACC1/64" dev "$IF_ACC1" nodad || { fail "could not add $UE_V6_ACC1"; return; }
  local net6="${VIP6_WEB%::80}::/64" a0 b0 a1 b1 a2 b2 us_before us_after
  a0=$(rx_bytes "$IF_ACC0")
  b0=$(rx_bytes "$IF_ACC1")
  bg_client ip netns exec "$NS_UE" curl -6 --interface "$UE_V6" --local-port "$PORT_MOBILITY" -sS -m 60 \
    --limit-rate "$MOBILITY_RATE" -D "$d/headers" -o /dev/null \
    -w '%{size_download} %{http_code}' "http://[$VIP6_WEB]/big?n=$BIG_BYTES" >"$d/result" 2>"$d/err"
  local pid=$LAST_PID
  sleep 1
  us_before=$(mobility_user_session)
  sleep $((MOBILITY_MOVE_S - 1))
  a1=$(rx_bytes "$IF_ACC0")
  b1=$(rx_bytes "$IF_ACC1")
  in_ue ip -6 route replace "$net6" via "$ACC1_V6" dev "$IF_ACC1" || fail "could not move the route to $IF_ACC1"
  sleep 1
  us_after=$(mobility_user_session)
  local rc=0
  bg_wait "$pid" || rc=$?
  a2=$(rx_bytes "$IF_ACC0")
  b2=$(rx_bytes "$IF_ACC1")
  in_ue ip -6 route replace "$net6" via "$ACC0_V6" dev "$IF_ACC0"
  local size code server requests
  read -r size code <"$d/result"
  server=$(tr -d '\r' <"$d/headers" | sed -n 's/^X-Server: //p')
  requests=$(grep -c " /big?n=$BIG_BYTES\$" "$WORKDIR/srv-requests.log")
  check "IPv6 mobility: the download through NAT64 completes after the move ($size bytes, HTTP $code, one request on $server)" \
    "curl exit $rc, $(cat "$d/err"), $requests requests in the server log" \
    test "$rc" = 0 -a "${size:-0}" = "$BIG_BYTES" -a "${code:-0}" = 200 -a "$requests" = 1
  local mb_a=$(((a1 - a0) / 1000000)) mb_b_before=$(((b1 - b0) / 1000000)) mb_b=$(((b2 - b1) / 1000000)) mb_a_after=$(((a2 - a1) / 1000000))
  check "IPv6 mobility: data came via acc0 first (${mb_a} MB), then acc1 (${mb_b} MB)" \
    "acc0 before the move ${mb_a} MB, acc1 before ${mb_b_before} MB, acc0 after ${mb_a_after} MB, acc1 after ${mb_b} MB" \
    test "$mb_a" -ge 5 -a "$mb_b" -ge 5 -a "$mb_b_before" = 0
  MOBILITY_CLIENT=$(tr -d '\r' <"$d/headers" | sed -n 's/^X-Client: //p')
  check "IPv6 mobility: ctl user-sessions shows one user session for [$UE_V6]:$PORT_MOBILITY before and after the move (gateway ${us_after#* }, the server saw ${MOBILITY_CLIENT:-?})" \
    "before '${us_before//$'\n'/; }', after '${us_after//$'\n'/; }'" \
    test -n "$us_before" -a "$us_before" = "$us_after" -a "$(wc -l <<<"$us_after")" = 1 -a "${us_after#* }" = "${MOBILITY_CLIENT:-?}"
}

# (k) An IPv6 subscriber that is not entitled: $REFUSED_V6's /64 has an
# entry naming only the IPv4 service, so its request through the IPv6 VIP
# is reset at once and counted; the other /64 is still served.
scenario_refused_subscriber() {
  if ctl subscribers | grep -qF "$REFUSED_V6_SESSION"; then pass "ctl subscribers lists the entry $REFUSED_V6_SESSION"; else
    fail "ctl subscribers lacks $REFUSED_V6_SESSION: $(ctl subscribers 2>&1 | tr '\n' ' ')"; fi
  in_ue ip -6 addr add "$REFUSED_V6/64" dev "$IF_ACC0" nodad || { fail "could not add $REFUSED_V6"; return; }
  local before rc=0 err start ms
  before=$(stat_of worker refused)
  start=$(date +%s%N)
  err=$(in_ue curl -6 --interface "$REFUSED_V6" -sS -m 5 -o /dev/null "http://[$VIP6_WEB]/" 2>&1) || rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  local after
  after=$(stat_of worker refused)
  # curl 7: connection refused (the RST answered the SYN).
  if [ "$rc" = 7 ] && [ "$ms" -lt 2000 ] && [ "$after" -gt "$before" ]; then
    pass "unentitled IPv6 subscriber: curl -6 from $REFUSED_V6 reset in $ms ms (curl $rc), refused $before -> $after"
  else
    fail "unentitled IPv6 subscriber: curl -6 from $REFUSED_V6: exit $rc after $ms ms ($err), refused $before -> $after; want a reset (7) within 2 s"
  fi
  # At run time as in the config: a prefix shorter than the session IDs
  # covers every /64 inside it (listed as a prefix entry, also in --json);
  # one longer than a session ID would split it and is refused.
  local out pfx
  for pfx in "--session 2001:db8:5::/56" "--prefix 2001:db8:5::/48"; do
    local want=${pfx#* }
    # shellcheck disable=SC2086
    if out=$(ctl subscriber add $pfx --service web 2>&1) &&
      ctl subscribers | grep -qF "prefix $want" &&
      ctl --json subscribers | grep -qF "prefix $want" &&
      ctl subscriber remove --prefix "$want" >/dev/null 2>&1; then
      pass "ctl subscriber add $pfx accepted and listed as prefix $want (and removed)"
    else
      fail "ctl subscriber add $pfx: '$out'; subscribers: $(ctl subscribers 2>&1 | tr '\n' ' ')"
    fi
  done
  if out=$(ctl subscriber add --prefix 2001:db8:5::/72 --service web 2>&1); then
    fail "ctl subscriber add --prefix 2001:db8:5::/72 was accepted: $out"
  elif grep -q "ipv6_prefix_len" <<<"$out"; then
    pass "ctl subscriber add --prefix 2001:db8:5::/72 refused: $out"
  else
    fail "ctl subscriber add --prefix 2001:db8:5::/72: '$out', want the reason (ipv6_prefix_len)"
  fi
  local code
  code=$(in_ue curl -6 --interface "$UE_V6" -sS -m 5 -o /dev/null -w '%{http_code}' "http://[$VIP6_WEB]/" 2>&1)
  check "the other /64 ($UE_V6) is still served through the IPv6 VIP (HTTP $code)" "got '$code'" test "$code" = 200
}

# Whether `ctl services` shows exactly these web66 servers with these
# health flags (ADDR=1 healthy, ADDR=0 not).
web66_health_is() {
  ctl --json services | "$PYTHON" -c '
import json, sys
want = {a: h == "1" for a, h in (x.split("=") for x in sys.argv[1:])}
got = {s["addr"]: s["healthy"] for svc in json.load(sys.stdin) if svc["name"] == "web66" for s in svc["servers"]}
sys.exit(0 if got == want else 1)' "$@"
}

# (n) IPv6 → IPv6 full NAT through $VIP66: every fetch answered by one of
# the IPv6 servers, which saw the gateway IPv6 address, each fetch from
# its own port.
scenario_nat66() {
  local hdr="$WORKDIR/nat66.headers" i code client server bad="" ports=() servers=""
  # The active health checks probe IPv6 servers too: the one that does
  # not listen is shown unhealthy (its kernel resets the probe SYN), the
  # two that do are healthy, so every fetch below reaches a live one.
  local health
  if wait_for 15 web66_health_is "${SERVERS6[0]}=1" "${SERVERS6[1]}=1" "$DEAD66=0"; then
    pass "active health checks over IPv6: $DEAD66 (no listener) unhealthy, ${SERVERS6[*]} healthy"
  else
    health=$(ctl services 2>&1 | grep -A4 web66 | tr '\n' ' ')
    fail "active health checks over IPv6: want $DEAD66 unhealthy and ${SERVERS6[*]} healthy; ctl services: $health"
  fi
  local metric="tandem_server_healthy{service=\"web66\",server=\"[$DEAD66]:8080\"} 0"
  check "metrics: $metric" "$(ctl metrics | grep -F "[$DEAD66]" | head -3)" \
    bash -c "'$TANDEM' ctl --socket '$CTL_SOCKET' metrics | grep -qF '$metric'"
  for i in $(seq 1 "$NAT66_FETCHES"); do
    code=$(in_ue curl -6 --interface "$UE_V6" -sS -m 5 -D "$hdr" -o /dev/null -w '%{http_code}' "http://[$VIP66]/" 2>&1)
    client=$(tr -d '\r' <"$hdr" 2>/dev/null | sed -n 's/^X-Client: //p')
    server=$(tr -d '\r' <"$hdr" 2>/dev/null | sed -n 's/^X-Server: //p')
    if [ "$code" != 200 ] || [ "${client%:*}" != "$GW6" ]; then bad="$bad [$i: '$code' client '$client']"; fi
    ports+=("${client##*:}")
    servers="$servers $server"
  done
  if [ -z "$bad" ]; then
    pass "curl -6 http://[$VIP66]/ x$NAT66_FETCHES: 200 from the IPv6 servers ($servers ), which saw $GW6"
  else
    fail "curl -6 through the IPv6 VIP to IPv6 servers:$bad"
  fi
  local distinct
  distinct=$(printf '%s\n' "${ports[@]}" | sort -u | wc -l)
  check "IPv6 → IPv6: $distinct distinct gateway ports for $NAT66_FETCHES fetches (${ports[*]})" \
    "gateway ports ${ports[*]}" test "$distinct" = "$NAT66_FETCHES"
  # A server's ICMPv6 port unreachable, about the datagram it got from
  # the gateway, reaches the terminal as an error about its own datagram:
  # its kernel matches the quote to the connected socket (ECONNREFUSED).
  local refused
  refused=$(in_ue "$SCAPY_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.connect((sys.argv[2], int(sys.argv[3])))
s.settimeout(3)
s.send(b"anyone there?")
try:
    s.recv(100)
    print("answered")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
' "$UE_V6" "$VIP66" "$CLOSED66_PORT" 2>&1)
  check "UDP to [$VIP66]:$CLOSED66_PORT, closed on the IPv6 servers: the terminal's socket gets ECONNREFUSED from the translated port unreachable" \
    "the socket said '$refused'; icmp_unmatched=$(stat_of drop icmp_unmatched)" test "$refused" = refused
  local mac
  mac=$(stat_of port-mac srv0)
  check "the IPv6 server resolved $GW6 by ND to srv0's MAC $mac" "neighbour entry: $(in_srv ip -6 neigh show "$GW6")" \
    bash -c "ip netns exec '$NS_SRV' ip -6 neigh show '$GW6' | grep -qi 'lladdr $mac'"
}

# (d) The counters.
scenario_counters() {
  local n
  n=$(stat_of worker nd_replies)
  if [ "${n:-0}" -ge 1 ]; then pass "ctl stats: nd_replies = $n"; else fail "ctl stats: nd_replies = '$n'"; fi
  n=$(stat_of worker icmp_replies)
  if [ "${n:-0}" -ge 3 ]; then pass "ctl stats: icmp_replies = $n (the ICMPv6 echo replies)"; else
    fail "ctl stats: icmp_replies = '$n', want >= 3"; fi
  n=$(stat_of drop nd_ignored)
  if [ "${n:-0}" -ge 1 ]; then pass "ctl stats: nd_ignored = $n (router solicitations, DAD for the link-local address)"; else
    fail "ctl stats: nd_ignored = '$n'"; fi
  n=$(stat_of drop ipv6_not_served)
  if [ "${n:-0}" -ge 2 ]; then pass "ctl stats: ipv6_not_served = $n (the routed pings, MLD)"; else
    fail "ctl stats: ipv6_not_served = '$n', want >= 2"; fi
  n=$(stat_of drop unsupported_ethertype)
  if [ "${n:-0}" = 0 ]; then pass "ctl stats: no IPv6 frame counted as unsupported_ethertype"; else
    fail "ctl stats: unsupported_ethertype = $n"; fi
  if ctl workers | grep -q nd_replies; then pass "ctl workers shows nd_replies"; else
    fail "ctl workers lacks nd_replies"; fi
  if ctl ports | grep -q "$ACC0_V6/64"; then pass "ctl ports lists $ACC0_V6/64 on acc0"; else
    fail "ctl ports does not list $ACC0_V6/64"; fi
}

prepare
setup
scenario_ping
scenario_ipv4
scenario_refused
scenario_prefix_session
scenario_nat64
scenario_fragments_v6
scenario_pmtu_v6
scenario_nat66
scenario_privacy
scenario_mobility
scenario_refused_subscriber
scenario_counters
scenario_mtu
stop_tandem 20
if [ "$TANDEM_RC" = 0 ]; then pass "tandem stopped cleanly"; else fail "tandem exit status $TANDEM_RC"; fi
# (h) The NAT64 user sessions' records name their IPv6 ends.
nat64_records=$("$PYTHON" - "$ACCOUNTING" "$UE_V6" <<'PY'
import ipaddress, json, sys
seen = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "terminal_ipv6" in r:
        assert r["terminal_ip"] == "0.0.0.0", r
        seen.add((r["terminal_ipv6"], str(ipaddress.ip_address(r["dest_ipv6"])), r["service"], r["proto"]))
print(" ".join(sorted(f"{t}->{d}/{s}/{p}" for t, d, s, p in seen)))
PY
)
for want in "$UE_V6->$VIP6_WEB/web6/tcp" "$UE_V6->$(ipaddr_v6 "$EXT_V6")/external/tcp" "$UE_V6->$(ipaddr_v6 "$EXT_V6")/external/icmp"; do
  if grep -qF -- "$want" <<<"$nat64_records"; then pass "JSON accounting: a record $want"; else
    fail "JSON accounting: no record $want in '$nat64_records'"; fi
done
# (n) The IPv6 → IPv6 user sessions' records: terminal, VIP, gateway IPv6
# address and server, the IPv4 fields unspecified.
nat66_records=$("$PYTHON" - "$ACCOUNTING" "$VIP66" <<'PY'
import json, sys
n, shapes = 0, set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("dest_ipv6") == sys.argv[2] and r["kind"] == "final":
        n += 1
        assert r["gateway_ip"] == "0.0.0.0" and r["server_ip"] == "0.0.0.0", r
        shapes.add(f'{r["terminal_ipv6"]}->{r["dest_ipv6"]} via {r.get("gateway_ipv6")} to {r.get("server_ipv6")}')
print(n, ";".join(sorted(shapes)))
PY
)
read -r n66 shapes66 <<<"$nat66_records"
check "JSON accounting: $n66 final IPv6 → IPv6 records ($shapes66)" "records: '$nat66_records'" \
  bash -c "[ '${n66:-0}' -ge '$NAT66_FETCHES' ] && grep -q '$UE_V6->$VIP66 via $GW6 to 2001:db8:20::2' <<<'$shapes66'"
# (j) The moved download is one user session in the records, all bytes
# counted, under the gateway port the server saw.
mobility_records=$("$PYTHON" - "$ACCOUNTING" "$UE_V6" "$PORT_MOBILITY" <<'PY'
import json, sys
ids, down = set(), []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("terminal_ipv6") == sys.argv[2] and r["terminal_port"] == int(sys.argv[3]):
        ids.add(r["user_session_id"])
        if r["kind"] == "final":
            down.append(r["bytes_down"])
print(" ".join(sorted(ids)), " ".join(map(str, down)))
PY
)
read -r mob_ids mob_down mob_more <<<"$mobility_records"
check "IPv6 mobility: one final JSON record for the download, user session ${mob_ids:-none}, bytes_down ${mob_down:-none} >= $BIG_BYTES" \
  "records: '$mobility_records', the server saw '${MOBILITY_CLIENT:-?}'" \
  test -n "${mob_ids:-}" -a "${mob_ids:-}" = "${MOBILITY_CLIENT:-?}" -a "${mob_down:-0}" -ge "$BIG_BYTES" -a -z "${mob_more:-}"
# (k) The refusal's record.
refused_records=$("$PYTHON" - "$ACCOUNTING" "$REFUSED_V6" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("terminal_ipv6") == sys.argv[2]:
        print(r["end_reason"], r["service"], r["dest_ipv6"])
PY
)
check "JSON accounting: the refusal of $REFUSED_V6 is a not_entitled record of web6 (${refused_records//$'\n'/; })" \
  "records: '${refused_records//$'\n'/; }'" grep -q "^not_entitled web6 $VIP6_WEB\$" <<<"$refused_records"
if plain_log "$TANDEM_LOG" | grep -q panicked; then fail "tandem panicked"; fi
if [ "$FAILED" != 0 ]; then
  echo "--- tandem log (last 30 lines)"
  plain_log "$TANDEM_LOG" | tail -30
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
