#!/usr/bin/env bash
# Hostile traffic against live user sessions, through the real binary
# (issue 13): blind resets, a neighbour hijacking a terminal's replies, a
# table-full SYN flood, a reused 4-tuple, and TTL expiry. Needs root,
# scapy for /usr/bin/python3 and ab (apache2-utils).
#
#   tests/e2e/tcp_hardening.sh            build (debug) and run
#   TANDEM_BIN=path tcp_hardening.sh      use that binary
#   E2E_KEEP=1 tcp_hardening.sh           keep the temp dir at the end
#
# The terminal's access tap is bridged in its namespace with a second host
# (the attacker) on the same segment. Tandem runs with a small table (64
# user sessions per worker), a small port range and a 1 s closing time so
# each check fails fast on the old behaviour. Prints PASS/FAIL per check
# and a last line "N passed, M failed"; exits non-zero if anything failed.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# scapy is installed for Debian's python only.
SCAPY_PY=/usr/bin/python3

RUN_ID=$$
NS_UE="h1${RUN_ID}ue"
NS_SRV="h1${RUN_ID}sv"
NS_EXT="h1${RUN_ID}ex"
NS_ATK="h1${RUN_ID}at"
IF_ACC0="h1${RUN_ID}a0"
IF_ACC1="h1${RUN_ID}a1"
IF_SRV="h1${RUN_ID}s0"
IF_EXT="h1${RUN_ID}e0"
BRIDGE="h1${RUN_ID}br"
VETH_UE="h1${RUN_ID}vu"
VETH_ATK="h1${RUN_ID}va"
ATK_IP=10.1.0.200
FILE_PREFIX="tdmh1${RUN_ID}"
WORKDIR="$(mktemp -d "/tmp/tandem-h1.${RUN_ID}.XXXXXX")"
CONFIG="$WORKDIR/h1.ron"
TANDEM_LOG="$WORKDIR/tandem.log"
ACCOUNTING="$WORKDIR/accounting.jsonl"
CTL_SOCKET="/run/tandem/$FILE_PREFIX.sock"

PORT_RST=41001
PORT_HIJACK=41002
PORT_UDP=41003
# ab's connections use only these terminal ports, so they are reused.
AB_PORTS=(61000 61019)
AB_N=${E2E_AB_N:-500}

DPDK_PREFIXES=("$FILE_PREFIX")
CTL_SOCKETS=("$CTL_SOCKET")
e2e_traps

in_atk() { ip netns exec "$NS_ATK" "$@"; }
hostile_ue() { in_ue "$SCAPY_PY" "$HERE/hostile_tcp.py" "$@"; }
hostile_atk() { in_atk "$SCAPY_PY" "$HERE/hostile_tcp.py" "$@"; }
# Packets dropped for reason $1, all workers.
drops() { ctl workers 2>/dev/null | awk -v r="$1" '$2 == r { n += $3 } END { print n + 0 }'; }

prepare() {
  require_root_and ab
  "$SCAPY_PY" -c 'import scapy' 2>/dev/null || { log "needs scapy for $SCAPY_PY"; exit 2; }
  tandem_binary
  sed -e "s/\"net_tap\([0-9]\),iface=tdm-acc0\"/\"net_tap\1,iface=$IF_ACC0\"/" \
    -e "s/\"net_tap\([0-9]\),iface=tdm-acc1\"/\"net_tap\1,iface=$IF_ACC1\"/" \
    -e "s/\"net_tap\([0-9]\),iface=tdm-srv0\"/\"net_tap\1,iface=$IF_SRV\"/" \
    -e "s/\"net_tap\([0-9]\),iface=tdm-ext0\"/\"net_tap\1,iface=$IF_EXT\"/" \
    -e "s/file_prefix: \"[^\"]*\"/file_prefix: \"$FILE_PREFIX\"/" \
    -e "s#path: \"/tmp/tandem-accounting.jsonl\"#path: \"$ACCOUNTING\"#" \
    -e "s/port_range: (1024, 65535)/port_range: (1024, 2047)/" \
    -e "s/user_sessions_per_worker: 65536/user_sessions_per_worker: 64/" \
    -e "s/steering: (key: SourceIp),/steering: (key: SourceIp),\n    timeouts: (tcp_syn_s: 2, tcp_closing_s: 1),/" \
    "$REPO_ROOT/conf/laptop.ron" >"$CONFIG"
  local want
  for want in "iface=$IF_ACC0\"" "file_prefix: \"$FILE_PREFIX\"" "path: \"$ACCOUNTING\"" \
    "port_range: (1024, 2047)" "user_sessions_per_worker: 64" "tcp_closing_s: 1"; do
    grep -qF "$want" "$CONFIG" || setup_failed "conf/laptop.ron changed shape: could not set $want"
  done
  local err
  err=$("$TANDEM" check-config "$CONFIG" 2>&1) || setup_failed "generated config rejected: $err"
}

# The terminal's access tap and the attacker's veth on one bridge: two
# hosts on one access segment.
attacker_segment() {
  in_ue ip addr del "$UE_A_IP/24" dev "$IF_ACC0" || return 1
  # A bridge treats its ports' own MACs as local: frames from the attacker
  # to tandem's MAC would never leave through the tap if the tap's kernel
  # side had the same one. Fixed, distinct MACs for both.
  in_ue ip link set "$IF_ACC0" address 02:00:00:00:a0:01 || return 1
  in_ue ip link add "$BRIDGE" address 02:00:00:00:b0:01 type bridge || return 1
  in_ue ip link set "$IF_ACC0" master "$BRIDGE" || return 1
  in_ue sysctl -qw "net.ipv6.conf.$BRIDGE.disable_ipv6=1" || return 1
  in_ue ip link set "$BRIDGE" up || return 1
  in_ue ip addr add "$UE_A_IP/24" dev "$BRIDGE" || return 1
  in_ue sysctl -qw "net.ipv4.conf.$BRIDGE.rp_filter=0" || return 1
  terminal_route "$BRIDGE" "$ACC0_GW" || return 1
  new_ns "$NS_ATK" || return 1
  in_ue ip link add "$VETH_UE" type veth peer name "$VETH_ATK" || return 1
  in_ue ip link set "$VETH_ATK" netns "$NS_ATK" || return 1
  in_ue ip link set "$VETH_UE" master "$BRIDGE" || return 1
  in_ue ip link set "$VETH_UE" up || return 1
  in_atk sysctl -qw "net.ipv6.conf.$VETH_ATK.disable_ipv6=1" || return 1
  in_atk ip link set "$VETH_ATK" up || return 1
  in_atk ip addr add "$ATK_IP/24" dev "$VETH_ATK" || return 1
  in_atk ip route add 10.9.0.0/24 via "$ACC0_GW" dev "$VETH_ATK" || return 1
  # Both hosts resolve tandem's MAC now.
  in_atk ping -c 2 -i 0.3 -W 1 "$ACC0_GW" >/dev/null || log "attacker: no ping answer from $ACC0_GW"
  in_ue ping -c 2 -i 0.3 -W 1 "$ACC0_GW" >/dev/null || log "terminal: no ping answer from $ACC0_GW"
  return 0
}

setup() {
  log "starting tandem ($TANDEM)"
  start_tandem "$CONFIG" "$TANDEM_LOG" "$TANDEM" || setup_failed "tandem did not start"
  topo_build || setup_failed "could not build the namespaces"
  attacker_segment || setup_failed "could not build the attacker's segment"
  topo_servers || setup_failed "servers did not start"
  topo_wait_neighbours "$TANDEM_LOG" || setup_failed "tandem did not resolve the servers"
}

# (e) TTL 1: traceroute's first hop is tandem's access address.
scenario_ttl() {
  local ans
  ans=$(hostile_ue ttl "$TERM_IP" "$VIP_DNS" 53 2>&1)
  check "ttl: a TTL-1 probe gets ICMP time exceeded from $ACC0_GW ($ans)" "want type=11 code=0 src=$ACC0_GW" \
    test "$ans" = "type=11 code=0 src=$ACC0_GW"
}

# A rate-limited download of $2 bytes from terminal port $1 in the
# background, the server answering after $3 ms (default 0); LAST_PID,
# result in $WORKDIR/dl-$1.
download() {
  bg_client ip netns exec "$NS_UE" curl -sS -m 20 --local-port "$1" --limit-rate 8M \
    -o /dev/null -w '%{size_download} %{http_code}' "http://$VIP_WEB/big?n=$2&delay_ms=${3:-0}" \
    >"$WORKDIR/dl-$1" 2>"$WORKDIR/dl-$1.err"
}

download_ok() { # download_ok PORT BYTES PID
  local rc=0 size code
  bg_wait "$3" || rc=$?
  read -r size code <"$WORKDIR/dl-$1"
  [ "$rc" = 0 ] && [ "${size:-0}" = "$2" ] && [ "${code:-0}" = 200 ]
}

# (a) Blind RSTs and FINs (random sequence numbers) with the 4-tuple of an
# open connection while the server thinks (3 s) before a download: the
# download completes. (Before, a blind RST closed the user session, which
# expired after the 1 s closing time of the quiet connection.)
scenario_blind_rst() {
  local bytes=16000000 before after
  before=$(drops tcp_out_of_window)
  download "$PORT_RST" "$bytes" 3000
  local pid=$LAST_PID
  sleep 0.7
  hostile_ue rst "$TERM_IP" "$PORT_RST" "$VIP_WEB" 80 100 >/dev/null 2>&1
  check "blind rst: the download completes after 100 spoofed RSTs and 100 FINs" \
    "$(cat "$WORKDIR/dl-$PORT_RST" "$WORKDIR/dl-$PORT_RST.err" | tr '\n' ' ')" \
    download_ok "$PORT_RST" "$bytes" "$pid"
  after=$(drops tcp_out_of_window)
  check "blind rst: counted as tcp_out_of_window ($before -> $after)" "want at least 200 more" \
    test "$((after - before))" -ge 200
}

# (b) A second host on the terminal's segment sends blind ACKs, then UDP,
# with the terminal's flows' 5-tuples from its own MAC: it gets none of the
# terminal's replies and the terminal loses nothing.
scenario_hijack() {
  local bytes=24000000 out sent received
  download "$PORT_HIJACK" "$bytes"
  local pid=$LAST_PID
  sleep 0.5
  out=$(hostile_atk spoof-tcp "$TERM_IP" "$PORT_HIJACK" "$VIP_WEB" 80 2 2>&1)
  sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$out")
  received=$(sed -n 's/.*received=\([0-9]*\).*/\1/p' <<<"$out")
  check "hijack tcp: the terminal's download completes" \
    "$(cat "$WORKDIR/dl-$PORT_HIJACK" "$WORKDIR/dl-$PORT_HIJACK.err" | tr '\n' ' ')" \
    download_ok "$PORT_HIJACK" "$bytes" "$pid"
  check "hijack tcp: the attacker sent ${sent:-?} ACKs and got ${received:-?} of the terminal's frames" \
    "$out" test "${sent:-0}" -gt 100 -a "${received:-1}" = 0

  local victim="$WORKDIR/udp-victim"
  bg_client in_ue "$SCAPY_PY" "$HERE/hostile_tcp.py" udp-victim "$TERM_IP" "$PORT_UDP" "$VIP_DNS" 53 3 >"$victim" 2>&1
  pid=$LAST_PID
  sleep 0.5
  out=$(hostile_atk spoof-udp "$TERM_IP" "$PORT_UDP" "$VIP_DNS" 53 2 2>&1)
  bg_wait "$pid"
  received=$(sed -n 's/.*received=\([0-9]*\).*/\1/p' <<<"$out")
  local v_sent v_ans
  v_sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' "$victim")
  v_ans=$(sed -n 's/.*answered=\([0-9]*\).*/\1/p' "$victim")
  check "hijack udp: the attacker got ${received:-?} answers ($out)" "want 0" test "${received:-1}" = 0
  check "hijack udp: the terminal got ${v_ans:-?} answers to ${v_sent:-?} questions" "$(cat "$victim")" \
    test "${v_ans:-0}" -ge "${v_sent:-1}" -a "${v_sent:-0}" -gt 10
}

# (c) A SYN flood fills the terminal's worker's table (64); the flood's
# user sessions are reset by the terminal's kernel and close within 1 s.
# A real connection must then work at once: the refused SYNs' ports are
# not stuck in the 60 s TCP quarantine.
scenario_flood() {
  local full_before full_after t0 t ok=0
  full_before=$(drops table_full)
  hostile_ue syn-flood "$TERM_IP" "$VIP_WEB" 80 4000 >/dev/null 2>&1
  t0=$(date +%s%N)
  full_after=$(drops table_full)
  # More refused SYNs than the worker has ports (1024): before, each
  # refused SYN quarantined one.
  check "flood: the table was full ($((full_after - full_before)) SYNs dropped table_full)" \
    "the flood did not fill the table" test "$((full_after - full_before))" -gt 1100
  for ((t = 0; t < 60; t++)); do
    if ip netns exec "$NS_UE" curl -sS -m 1 -o /dev/null "http://$VIP_WEB/" 2>/dev/null; then
      ok=1
      break
    fi
    sleep 0.25
  done
  local ms=$((($(date +%s%N) - t0) / 1000000))
  local exhausted
  exhausted=$(drops port_exhausted)
  # The table empties within tcp_syn_s (2 s) of the flood; allow 2 s more.
  check "flood: a new connection works ${ms} ms after the flood" \
    "none within $((ms / 1000)) s; port_exhausted drops: $exhausted" test "$ok" = 1 -a "$ms" -le 4000
}

# (d) ab without keep-alive against servers that close first, from 20
# terminal ports: each port is reused at once, and every connection must
# be its own user session with its own accounting record.
scenario_reuse() {
  in_ue sysctl -qw net.ipv4.ip_local_port_range="${AB_PORTS[0]} ${AB_PORTS[1]}"
  local out complete failed
  out=$(ip netns exec "$NS_UE" ab -q -n "$AB_N" -c 1 -s 5 "http://$VIP_WEB/" 2>&1)
  complete=$(sed -n 's/^Complete requests: *\([0-9]*\)/\1/p' <<<"$out")
  failed=$(sed -n 's/^Failed requests: *\([0-9]*\)/\1/p' <<<"$out")
  check "reuse: ab completed ${complete:-0} of $AB_N requests, ${failed:-?} failed" \
    "$(tail -5 <<<"$out" | tr '\n' ' ')" test "${complete:-0}" = "$AB_N" -a "${failed:-1}" = 0
}

reuse_records() {
  local n
  n=$("$PYTHON" - "$ACCOUNTING" "$VIP_WEB" "${AB_PORTS[0]}" "${AB_PORTS[1]}" <<'EOF'
import json, sys
path, vip, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
n = 0
for line in open(path):
    r = json.loads(line)
    if r.get("kind") == "final" and r["dest_ip"] == vip and lo <= r["terminal_port"] <= hi:
        n += 1
print(n)
EOF
)
  check "reuse: $n accounting records for $AB_N connections" "want exactly $AB_N" test "$n" = "$AB_N"
}

main() {
  local t0=$SECONDS
  prepare
  setup
  log "topology up"
  # E2E_PAUSE=S: time to look around (ip netns exec ...) before the checks.
  [ -n "${E2E_PAUSE:-}" ] && sleep "$E2E_PAUSE"
  scenario_ttl
  scenario_blind_rst
  scenario_hijack
  scenario_flood
  scenario_reuse
  stop_tandem 20
  check "tandem stopped cleanly" "exit status $TANDEM_RC" test "$TANDEM_RC" = 0
  reuse_records
  log "took $((SECONDS - t0)) s"
  if [ "$FAILED" != 0 ]; then
    echo "--- tandem log (last 30 lines)"
    plain_log "$TANDEM_LOG" | tail -30
  fi
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ]
}

main "$@"
