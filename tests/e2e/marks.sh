#!/usr/bin/env bash
# MSS clamping and DSCP marking through the real binary (issue 15, items 3
# and 4): a terminal and the servers in network namespaces around tandem's
# net_tap ports, a real curl, tcpdump on both sides. Needs root.
#
#   tests/e2e/marks.sh          build (debug) and run
#   TANDEM_BIN=path marks.sh    use that binary
#   E2E_KEEP=1 ...              keep the temp dir (logs, config, captures)
#
# Config: global mss_clamp 1300, access port acc0 its own 1400 (the port's
# wins), service "web" dscp 10 (AF11). Checks, on one curl through acc0:
# (a) the SYN the server receives announces MSS 1400 (the terminal sent
# 1460), with valid IPv4 and TCP checksums, and carries DSCP 10; (b) the
# SYN-ACK the terminal receives announces MSS 1400 (the server sent 1460),
# checksums valid; (c) every segment from the VIP to the terminal carries
# DSCP 10, every segment to the server too; (d) `ctl` counts 2 clamps.
# Then tandem restarts with steering key GtpTeid and (e) a G-PDU carrying a
# SYN with MSS 1460 (scapy) gets its SYN-ACK back in the tunnel with the
# outer IPv4 header and the inner one at DSCP 10, MSS 1400, checksums valid.
# Prints PASS/FAIL per check and a last line "N passed, M failed".
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

RUN_ID=$$
NS_UE="mk${RUN_ID}ue"
NS_SRV="mk${RUN_ID}srv"
NS_EXT="mk${RUN_ID}ext"
IF_ACC0="mk${RUN_ID}a0"
IF_ACC1="mk${RUN_ID}a1"
IF_SRV="mk${RUN_ID}s0"
IF_EXT="mk${RUN_ID}e0"
FILE_PREFIX="tdmmk${RUN_ID}"
WORKDIR="$(mktemp -d "/tmp/tandem-mk.${RUN_ID}.XXXXXX")"
CONFIG="$WORKDIR/marks.ron"
CONFIG_GTP="$WORKDIR/marks-gtp.ron"
SCAPY_PY=${SCAPY_PYTHON:-/usr/bin/python3}
TANDEM_LOG="$WORKDIR/tandem.log"
CTL_SOCKET="$WORKDIR/ctl.sock"

PORT_CLAMP=1400
GLOBAL_CLAMP=1300
DSCP=10

DPDK_PREFIXES=("$FILE_PREFIX")
e2e_traps


# write_config FILE KEY: the config with steering key KEY.
write_config() {
  cat >"$1" <<EOF
(
$(tap_eal_section)
    ports: [
        (name: "acc0", device: "net_tap0", role: Access, addresses: ["$ACC0_GW/24"], mss_clamp: Some($PORT_CLAMP)),
        (name: "acc1", device: "net_tap1", role: Access, addresses: ["$ACC1_GW/24"]),
        (name: "srv0", device: "net_tap2", role: Server, addresses: ["10.2.0.1/24"]),
        (name: "ext0", device: "net_tap3", role: External, addresses: ["$EXT_GW/24"]),
    ],
    workers: [
        (lcore: 1, poll: [(port: "acc0"), (port: "acc1"), (port: "srv0"), (port: "ext0")]),
    ],
    mempool: (mbufs: 16383),
    idle: (busy_poll: false, max_sleep_us: 500),
    gateway: (addresses: ["${GATEWAY_IPS[0]}"], port_range: (1024, 65535), user_sessions_per_worker: 4096),
    steering: (key: $2),
    mss_clamp: Some($GLOBAL_CLAMP),
    services: [
        (name: "web", vip: "$VIP_WEB", proto: Tcp, port: 80, dscp: Some($DSCP), servers: [
            (addr: "${WEB_SERVERS[0]}", port: 8080),
            (addr: "${WEB_SERVERS[1]}", port: 8080),
            (addr: "${WEB_SERVERS[2]}", port: 8080),
        ]),
    ],
    api: (socket: "$CTL_SOCKET"),
)
EOF
}

prepare() {
  require_root_and curl tcpdump tshark
  tandem_binary
  "$SCAPY_PY" -c 'from scapy.contrib.gtp import GTP_U_Header' 2>/dev/null || { log "needs scapy for $SCAPY_PY"; exit 2; }
  write_config "$CONFIG" SourceIp
  write_config "$CONFIG_GTP" GtpTeid
  config_accepted "$CONFIG" "$CONFIG_GTP"
}

# setup CONFIG: tandem on CONFIG and the hosts around it.
setup() {
  start_tandem "$1" "$TANDEM_LOG" "$TANDEM" || setup_failed "tandem did not start"
  topo_build || setup_failed "could not build the namespaces"
  VIDEO_SERVERS=() # not in this config
  topo_servers || setup_failed "servers did not start"
  topo_wait_neighbours "$TANDEM_LOG" || setup_failed "tandem did not resolve the servers"
}

# Starts tcpdump in namespace $1 on $2 writing $3 with filter $4; waits
# until it listens. Sets CAP_PID.
capture() {
  local ns=$1 ifc=$2 file=$3 filter=$4
  ip netns exec "$ns" tcpdump -i "$ifc" -nn -U --immediate-mode -w "$file" "$filter" 2>"$file.err" &
  CAP_PID=$!
  BG_PIDS+=("$CAP_PID")
  wait_for 5 grep -q "listening on" "$file.err" || { log "tcpdump in $ns: $(cat "$file.err")"; return 1; }
}

# Stops the tcpdump $1 (SIGINT flushes its file) and waits for it.
stop_capture() {
  local p keep=()
  kill -INT "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  for p in "${BG_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  BG_PIDS=("${keep[@]}")
}

# One line per captured TCP segment of $1, "-" for a field it lacks:
# src dst dscp flags mss ip-checksum-status tcp-checksum-status
# (checksum status 1 = good).
segments() {
  tshark -r "$1" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -T fields -E separator=, -E occurrence=f \
    -e ip.src -e ip.dst -e ip.dsfield.dscp -e tcp.flags -e tcp.options.mss_val \
    -e ip.checksum.status -e tcp.checksum.status 2>/dev/null |
    awk -F, -v OFS=' ' '{ for (i = 1; i <= 7; i++) if ($i == "") $i = "-"; print $1, $2, $3, $4, $5, $6, $7 }'
}

scenario_curl() {
  local srv_cap="$WORKDIR/server.pcap" ue_cap="$WORKDIR/terminal.pcap" srv_pid ue_pid
  capture "$NS_SRV" "$IF_SRV" "$srv_cap" "tcp port 8080" || { fail "setup: tcpdump in the server namespace"; return; }
  srv_pid=$CAP_PID
  capture "$NS_UE" "$IF_ACC0" "$ue_cap" "tcp port 80" || { fail "setup: tcpdump in the terminal namespace"; return; }
  ue_pid=$CAP_PID
  local code
  code=$(ip netns exec "$NS_UE" curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://$VIP_WEB/" 2>&1)
  sleep 1
  stop_capture "$srv_pid"
  stop_capture "$ue_pid"
  if [ "$code" = 200 ]; then pass "curl through the VIP answered 200"; else fail "curl got '$code'"; fi

  segments "$srv_cap" >"$WORKDIR/server.txt"
  segments "$ue_cap" >"$WORKDIR/terminal.txt"
  local syn syn_ack sent_syn
  # flags 0x0002 = SYN, 0x0012 = SYN-ACK.
  syn=$(awk '$4 == "0x0002"' "$WORKDIR/server.txt" | head -1)
  sent_syn=$(awk '$4 == "0x0002"' "$WORKDIR/terminal.txt" | head -1)
  syn_ack=$(awk '$4 == "0x0012"' "$WORKDIR/terminal.txt" | head -1)
  local server_syn_ack
  server_syn_ack=$(awk '$4 == "0x0012"' "$WORKDIR/server.txt" | head -1)

  # (a) The SYN at the server.
  read -r s_src _ s_dscp _ s_mss s_ipc s_tcpc <<<"$syn"
  read -r _ _ _ _ t_mss _ _ <<<"$sent_syn"
  if [ "${s_src:-}" = "${GATEWAY_IPS[0]}" ] && [ "${s_mss:-}" = "$PORT_CLAMP" ] && [ "${t_mss:-}" = 1460 ] &&
    [ "${s_ipc:-}" = 1 ] && [ "${s_tcpc:-}" = 1 ]; then
    pass "SYN: terminal sent MSS $t_mss, server got MSS $s_mss from ${s_src}, IPv4 and TCP checksums valid"
  else
    fail "SYN: terminal sent '$sent_syn', server got '$syn' (want MSS $PORT_CLAMP from ${GATEWAY_IPS[0]}, checksums 1)"
  fi
  if [ "${s_dscp:-}" = "$DSCP" ]; then pass "SYN: DSCP $s_dscp at the server"; else
    fail "SYN: DSCP '${s_dscp:-}' at the server, want $DSCP"; fi

  # (b) The SYN-ACK at the terminal.
  read -r a_src _ a_dscp _ a_mss a_ipc a_tcpc <<<"$syn_ack"
  read -r _ _ _ _ o_mss _ _ <<<"$server_syn_ack"
  if [ "${a_src:-}" = "$VIP_WEB" ] && [ "${a_mss:-}" = "$PORT_CLAMP" ] && [ "${o_mss:-}" = 1460 ] &&
    [ "${a_ipc:-}" = 1 ] && [ "${a_tcpc:-}" = 1 ]; then
    pass "SYN-ACK: server sent MSS $o_mss, terminal got MSS $a_mss from $a_src, checksums valid"
  else
    fail "SYN-ACK: server sent '$server_syn_ack', terminal got '$syn_ack' (want MSS $PORT_CLAMP from $VIP_WEB)"
  fi

  # (c) DSCP on every segment both ways.
  local to_ue to_ue_marked to_srv to_srv_marked
  to_ue=$(awk -v v="$VIP_WEB" '$1 == v' "$WORKDIR/terminal.txt" | wc -l)
  to_ue_marked=$(awk -v v="$VIP_WEB" -v d="$DSCP" '$1 == v && $3 == d && $6 == 1' "$WORKDIR/terminal.txt" | wc -l)
  to_srv=$(awk -v g="${GATEWAY_IPS[0]}" '$1 == g' "$WORKDIR/server.txt" | wc -l)
  to_srv_marked=$(awk -v g="${GATEWAY_IPS[0]}" -v d="$DSCP" '$1 == g && $3 == d && $6 == 1' "$WORKDIR/server.txt" | wc -l)
  if [ "$to_ue" -ge 3 ] && [ "$to_ue" = "$to_ue_marked" ]; then
    pass "replies: $to_ue_marked of $to_ue segments to the terminal carry DSCP $DSCP (header checksum valid)"
  else
    fail "replies: $to_ue_marked of $to_ue segments to the terminal carry DSCP $DSCP"
  fi
  if [ "$to_srv" -ge 3 ] && [ "$to_srv" = "$to_srv_marked" ]; then
    pass "requests: $to_srv_marked of $to_srv segments to the server carry DSCP $DSCP"
  else
    fail "requests: $to_srv_marked of $to_srv segments to the server carry DSCP $DSCP"
  fi
  # The server's own segments are not marked by anyone else.
  local from_srv_unmarked
  from_srv_unmarked=$(awk -v g="${GATEWAY_IPS[0]}" '$2 == g && $3 == 0' "$WORKDIR/server.txt" | wc -l)
  [ "$from_srv_unmarked" -ge 1 ] || fail "server's own segments: none seen unmarked (capture broken?)"

  # (d) Counted.
  local n
  n=$(stat_of worker mss_clamped)
  if [ "${n:-0}" = 2 ]; then pass "ctl: mss_clamped = 2 (the SYN and the SYN-ACK)"; else
    fail "ctl: mss_clamped = '$n', want 2"; fi
  if ctl workers | grep -q mss_clamped; then pass "ctl workers shows mss_clamped"; else
    fail "ctl workers lacks mss_clamped"; fi
}

# (e) GTP-U: a G-PDU with a SYN from an eNodeB at the terminals' access
# address; the SYN-ACK comes back tunnelled.
scenario_gtp() {
  stop_tandem
  lib_cleanup
  : >"$TANDEM_LOG"
  setup "$CONFIG_GTP"
  local cap="$WORKDIR/gtp.pcap" pid mac
  capture "$NS_UE" "$IF_ACC0" "$cap" "udp port 2152" || { fail "setup: tcpdump for GTP-U"; return; }
  pid=$CAP_PID
  mac=$(stat_of port-mac acc0)
  cat >"$WORKDIR/gpdu.py" <<'PY'
import sys
from scapy.all import Ether, IP, UDP, TCP, sendp
from scapy.contrib.gtp import GTP_U_Header
ifc, mac, enb, acc, ue, vip = sys.argv[1:7]
syn = IP(src=ue, dst=vip) / TCP(sport=41000, dport=80, flags="S", seq=1000, options=[("MSS", 1460)])
sendp(Ether(dst=mac) / IP(src=enb, dst=acc) / UDP(sport=2152, dport=2152)
      / GTP_U_Header(teid=0x1234, gtp_type=255) / syn, iface=ifc, verbose=False)
PY
  ip netns exec "$NS_UE" "$SCAPY_PY" "$WORKDIR/gpdu.py" "$IF_ACC0" "$mac" "$UE_A_IP" "$ACC0_GW" 10.8.0.200 "$VIP_WEB" ||
    { fail "gtp: scapy failed"; stop_capture "$pid"; return; }
  sleep 1
  stop_capture "$pid"
  # outer,inner src | outer,inner DSCP | flags | MSS | IPv4 checksums | TCP checksum
  tshark -r "$cap" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -T fields -E separator='|' -E occurrence=a \
    -e ip.src -e ip.dsfield.dscp -e tcp.flags -e tcp.options.mss_val -e ip.checksum.status -e tcp.checksum.status \
    2>/dev/null >"$WORKDIR/gtp.txt"
  local line want="$ACC0_GW,$VIP_WEB|$DSCP,$DSCP|0x0012|$PORT_CLAMP|1,1|1"
  line=$(awk -F'|' '$3 == "0x0012"' "$WORKDIR/gtp.txt" | head -1)
  if [ "$line" = "$want" ]; then
    pass "gtp: tunnelled SYN-ACK from $ACC0_GW: outer and inner DSCP $DSCP, MSS $PORT_CLAMP, checksums valid"
  else
    fail "gtp: tunnelled SYN-ACK '$line', want '$want'"
  fi
}

prepare
setup "$CONFIG"
scenario_curl
scenario_gtp
if [ "$FAILED" != 0 ]; then
  echo "--- tandem log (last 30 lines)"
  plain_log "$TANDEM_LOG" | tail -30
  for f in "$WORKDIR"/server.txt "$WORKDIR"/terminal.txt "$WORKDIR"/gtp.txt; do
    [ -s "$f" ] && { echo "--- $f"; cat "$f"; }
  done
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
