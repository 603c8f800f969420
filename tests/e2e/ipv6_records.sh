#!/usr/bin/env bash
# NAT64 accounting records against the wire (issue 14, item 6): an
# IPv6-only terminal makes TCP and UDP exchanges through NAT64 (curl -6
# through the IPv6 VIP and through 64:ff9b::/96, UDP echoes of known sizes
# both ways) while tcpdump captures the terminal's link and the servers'
# links; tandem writes JSON accounting and IPFIX to nfdump's collector
# (nfcapd), whose UDP is captured for tshark too. After tandem stops (its
# final records flushed), tests/e2e/v6_records_check.py compares, per user
# session, packets and bytes each way in JSON, in IPFIX as tshark decodes
# it (sourceIPv6Address / destinationIPv6Address with the IPv4 post-NAT
# elements) and in nfdump with what tcpdump counted.
#
# Bytes are IP-layer bytes as the packet reached Tandem: upstream the
# IPv6 packet the terminal sent (40 + payload length), downstream the IPv4
# packet the server sent (total length).
#
#   tests/e2e/ipv6_records.sh          build (debug) and run
#   TANDEM_BIN=path ipv6_records.sh    use that binary
#   E2E_KEEP=1 ...                     keep the temp dir (pcaps, records)
#
# Needs root, curl, tcpdump, tshark, nfcapd/nfdump. Prints PASS/FAIL per
# check and a last line "N passed, M failed".
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

RUN_ID=$$
NS_UE="r6${RUN_ID}ue"
NS_SRV="r6${RUN_ID}srv"
NS_EXT="r6${RUN_ID}ext"
IF_ACC0="r6${RUN_ID}a0"
IF_ACC1="r6${RUN_ID}a1"
IF_SRV="r6${RUN_ID}s0"
IF_EXT="r6${RUN_ID}e0"
FILE_PREFIX="tdmr6${RUN_ID}"
WORKDIR="$(mktemp -d "/tmp/tandem-r6.${RUN_ID}.XXXXXX")"
CONFIG="$WORKDIR/records6.ron"
TANDEM_LOG="$WORKDIR/tandem.log"
CTL_SOCKET="$WORKDIR/ctl.sock"
ACCOUNTING="$WORKDIR/accounting.jsonl"
FLOWS_DIR="$WORKDIR/flows"

ACC0_V6=2001:db8:1::1
UE_V6=2001:db8:1::100
VIP6=2001:db8:9::80
NAT64_PREFIX=64:ff9b::
EXT_V6="${NAT64_PREFIX}$EXT_IP"
ECHO_PORT=7007
# Terminal ports, one per user session.
PORT_SMALL=40401
PORT_BIG=40402
PORT_EXT=40403
PORT_UDP_VIP=40404
PORT_UDP_EXT=40405
BIG_BYTES=200000
# UDP echoes: datagrams x payload bytes, each way.
UDP_VIP_N=3
UDP_VIP_SIZE=300
UDP_EXT_N=2
UDP_EXT_SIZE=1000

DPDK_PREFIXES=("$FILE_PREFIX")
CTL_SOCKETS=("$CTL_SOCKET")
e2e_traps

# A UDP port on 127.0.0.1 nothing listens on now (nfcapd takes it next).
free_udp_port() { "$PYTHON" -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

write_config() {
  cat >"$CONFIG" <<EOF
(
$(tap_eal_section)
    ports: [
        (name: "acc0", device: "net_tap0", role: Access, addresses: ["$ACC0_GW/24", "$ACC0_V6/64"]),
        (name: "acc1", device: "net_tap1", role: Access, addresses: ["$ACC1_GW/24"]),
        (name: "srv0", device: "net_tap2", role: Server, addresses: ["10.2.0.1/24"]),
        (name: "ext0", device: "net_tap3", role: External, addresses: ["$EXT_GW/24"]),
    ],
    workers: [
        (lcore: 1, poll: [(port: "acc0"), (port: "acc1"), (port: "srv0"), (port: "ext0")]),
    ],
    mempool: (mbufs: 32767),
    idle: (busy_poll: false, max_sleep_us: 500),
    gateway: (addresses: ["${GATEWAY_IPS[0]}"], port_range: (1024, 65535), user_sessions_per_worker: 4096),
    services: [
        (name: "web6", vip6: "$VIP6", proto: Tcp, port: 80, servers: [
            (addr: "${WEB_SERVERS[0]}", port: 8080),
            (addr: "${WEB_SERVERS[1]}", port: 8080),
        ]),
        (name: "echo6", vip6: "$VIP6", proto: Udp, port: $ECHO_PORT, servers: [
            (addr: "${WEB_SERVERS[2]}", port: $ECHO_PORT),
        ]),
    ],
    nat64: (prefix: "$NAT64_PREFIX/96"),
    accounting: (
        interim_s: 0,
        json: (path: "$ACCOUNTING"),
        ipfix: (collector: "127.0.0.1:$IPFIX_PORT", observation_domain: 6),
    ),
    api: (socket: "$CTL_SOCKET"),
)
EOF
}

prepare() {
  require_root_and curl tcpdump tshark nfcapd nfdump ss
  tandem_binary
  IPFIX_PORT=$(free_udp_port) || setup_failed "no free UDP port"
  write_config
  config_accepted "$CONFIG"
}

# nfcapd's socket has nothing left to read.
collector_drained() { [ "$(ss -u -l -n -H "sport = :$IPFIX_PORT" | awk '{ print $2 }')" = 0 ]; }

# echo_server NS ADDR: a UDP echo server on ADDR:$ECHO_PORT in NS.
echo_server() {
  # ip netns exec execs python, so $! is the server itself.
  ip netns exec "$1" "$PYTHON" "$E2E_DIR/udp_echo.py" serve --bind "$2:$ECHO_PORT" \
    --log "$WORKDIR/echo-$2.log" --ready "$WORKDIR/echo-$2.ready" >"$WORKDIR/echo-$2.out" 2>&1 &
  BG_PIDS+=($!)
  wait_for 10 test -e "$WORKDIR/echo-$2.ready"
}

setup() {
  # The collector and the capture of its UDP first: tandem sends its
  # templates when it starts exporting.
  mkdir -p "$FLOWS_DIR"
  bg_client nfcapd -b 127.0.0.1 -p "$IPFIX_PORT" -w "$FLOWS_DIR" >"$WORKDIR/nfcapd.log" 2>&1
  NFCAPD_PID=$LAST_PID
  wait_for 10 collector_drained || setup_failed "nfcapd did not bind 127.0.0.1:$IPFIX_PORT: $(cat "$WORKDIR/nfcapd.log")"
  pcap_start "" lo "$WORKDIR/ipfix.pcap" udp dst port "$IPFIX_PORT" || setup_failed "tcpdump on lo"
  CAP_IPFIX=$CAP_PID
  start_tandem "$CONFIG" "$TANDEM_LOG" "$TANDEM" || setup_failed "tandem did not start"
  topo_build || setup_failed "could not build the namespaces"
  VIDEO_SERVERS=() # not in this config
  # shellcheck disable=SC2119 # no extra servers for its namespace
  topo_servers || setup_failed "servers did not start"
  topo_wait_neighbours "$TANDEM_LOG" || setup_failed "tandem did not resolve the servers"
  ipv6_terminal "$IF_ACC0" "$UE_V6" "$ACC0_V6" "${VIP6%::80}::/64" "$NAT64_PREFIX/96" ||
    setup_failed "could not give the terminal $UE_V6 and its routes"
  echo_server "$NS_SRV" "${WEB_SERVERS[2]}" || setup_failed "UDP echo on ${WEB_SERVERS[2]} did not start"
  echo_server "$NS_EXT" "$EXT_IP" || setup_failed "UDP echo on $EXT_IP did not start"
  pcap_start "$NS_UE" "$IF_ACC0" "$WORKDIR/terminal.pcap" ip6 and '(tcp or udp)' || setup_failed "tcpdump on $IF_ACC0"
  CAP_UE=$CAP_PID
  pcap_start "$NS_SRV" "$IF_SRV" "$WORKDIR/servers.pcap" ip and '(tcp or udp)' || setup_failed "tcpdump on $IF_SRV"
  CAP_SRV=$CAP_PID
  pcap_start "$NS_EXT" "$IF_EXT" "$WORKDIR/external.pcap" ip and '(tcp or udp)' || setup_failed "tcpdump on $IF_EXT"
  CAP_EXT=$CAP_PID
}

# curl_v6 PORT URL: an HTTP GET from [$UE_V6]:PORT; prints the HTTP code
# and the body's size.
curl_v6() {
  in_ue curl -6 --interface "$UE_V6" --local-port "$1" -sS -m 10 -o /dev/null \
    -w '%{http_code} %{size_download}' "$2" 2>&1
}

# udp_v6 PORT DEST COUNT SIZE: COUNT echoes of SIZE bytes from [$UE_V6]:PORT.
udp_v6() {
  in_ue "$PYTHON" "$E2E_DIR/udp_echo.py" ask --src "$UE_V6" --sport "$1" --dst "$2" \
    --count "$3" --size "$4" --timeout 2 --tries 1 2>&1 | tail -1
}

exchanges() {
  local out
  out=$(curl_v6 "$PORT_SMALL" "http://[$VIP6]/")
  check "curl -6 http://[$VIP6]/ (IPv6 VIP, IPv4 web servers): $out" "got '$out'" test "${out%% *}" = 200
  out=$(curl_v6 "$PORT_BIG" "http://[$VIP6]/big?n=$BIG_BYTES")
  check "curl -6 http://[$VIP6]/big?n=$BIG_BYTES: $out" "got '$out'" test "$out" = "200 $BIG_BYTES"
  out=$(curl_v6 "$PORT_EXT" "http://[$EXT_V6]:8080/")
  check "curl -6 http://[$EXT_V6]:8080/ (NAT64 prefix, IPv4 host $EXT_IP): $out" "got '$out'" test "${out%% *}" = 200
  out=$(udp_v6 "$PORT_UDP_VIP" "[$VIP6]:$ECHO_PORT" "$UDP_VIP_N" "$UDP_VIP_SIZE")
  check "UDP: $UDP_VIP_N echoes of $UDP_VIP_SIZE B through [$VIP6]:$ECHO_PORT ($out)" "got '$out'" grep -q identical <<<"$out"
  out=$(udp_v6 "$PORT_UDP_EXT" "[$EXT_V6]:$ECHO_PORT" "$UDP_EXT_N" "$UDP_EXT_SIZE")
  check "UDP: $UDP_EXT_N echoes of $UDP_EXT_SIZE B through [$EXT_V6]:$ECHO_PORT ($out)" "got '$out'" grep -q identical <<<"$out"
}

# Stops tandem (final records flushed to both sinks), the captures and,
# once it has read everything, nfcapd (which then writes its file).
finish() {
  sleep 0.5
  pcap_stop "$CAP_UE"
  pcap_stop "$CAP_SRV"
  pcap_stop "$CAP_EXT"
  stop_tandem 20
  check "tandem stopped cleanly" "exit status $TANDEM_RC" test "$TANDEM_RC" = 0
  wait_for 5 collector_drained
  sleep 0.3
  pcap_stop "$CAP_IPFIX"
  kill -TERM "$NFCAPD_PID" 2>/dev/null
  bg_wait "$NFCAPD_PID"
  local f drops=""
  for f in terminal servers external ipfix; do
    grep -q "^0 packets dropped by kernel" "$WORKDIR/$f.pcap.err" || drops="$drops $f: $(grep dropped "$WORKDIR/$f.pcap.err")"
  done
  check "tcpdump: every capture complete (0 packets dropped by kernel)" "$drops" test -z "$drops"
  check "nfcapd: no sequence errors" "$(grep -i sequence "$WORKDIR/nfcapd.log" | tr '\n' ' ')" \
    grep -q "Sequence Errors: 0" "$WORKDIR/nfcapd.log"
}

# Up: (40 + 8 + size) per IPv6 datagram; down: (20 + 8 + size) per IPv4 one.
udp_sizes() { echo "$1,$((($1) * (48 + $2))),$1,$((($1) * (28 + $2)))"; }

verify() {
  local gw=${GATEWAY_IPS[0]} line verdict text out
  out=$("$PYTHON" "$HERE/v6_records_check.py" --json "$ACCOUNTING" \
    --terminal-pcap "$WORKDIR/terminal.pcap" --server-pcap "$WORKDIR/servers.pcap" \
    --server-pcap "$WORKDIR/external.pcap" --ipfix-pcap "$WORKDIR/ipfix.pcap" --ipfix-port "$IPFIX_PORT" \
    --nfcapd-dir "$FLOWS_DIR" --terminal "$UE_V6" --gateway "$gw" \
    --expect "tcp,$PORT_SMALL,$VIP6,80,$(server_of "$PORT_SMALL")" \
    --expect "tcp,$PORT_BIG,$VIP6,80,$(server_of "$PORT_BIG")" \
    --expect "tcp,$PORT_EXT,$EXT_V6,8080,$EXT_IP" \
    --expect "udp,$PORT_UDP_VIP,$VIP6,$ECHO_PORT,${WEB_SERVERS[2]},$(udp_sizes "$UDP_VIP_N" "$UDP_VIP_SIZE")" \
    --expect "udp,$PORT_UDP_EXT,$EXT_V6,$ECHO_PORT,$EXT_IP,$(udp_sizes "$UDP_EXT_N" "$UDP_EXT_SIZE")" 2>&1)
  local rc=$?
  while IFS= read -r line; do
    verdict=${line%% *}
    text=${line#* }
    case "$verdict" in
      PASS) pass "$text" ;;
      FAIL) fail "$text" ;;
      *) printf '      %s\n' "$line" ;;
    esac
  done <<<"$out"
  check "v6_records_check.py ran to the end" "exit $rc" test "$rc" = 0
}

# The web server (one of two) the JSON record of terminal port $1 names:
# the checker counts that server's packets on the servers' link, so a
# wrong one shows as a count mismatch.
server_of() {
  "$PYTHON" - "$ACCOUNTING" "$UE_V6" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("terminal_ipv6") == sys.argv[2] and r["terminal_port"] == int(sys.argv[3]):
        print(r["server_ip"])
        break
PY
}

prepare
setup
exchanges
finish
verify
if plain_log "$TANDEM_LOG" | grep -q panicked; then fail "tandem panicked"; fi
if [ "$FAILED" != 0 ]; then
  echo "--- tandem log (last 30 lines)"
  plain_log "$TANDEM_LOG" | tail -30
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
