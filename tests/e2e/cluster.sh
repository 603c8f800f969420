#!/usr/bin/env bash
# Issue 12's end-to-end test of a Tandem cluster: five tandem processes
# (two tier-1 units, three gateway appliances), one etcd, real clients and
# servers in network namespaces. Needs root, etcd, curl, tshark (iperf3 for
# one check).
#
#                      NS_UE: terminals 10.8.0.0/16 on lo
#            10.1.1.100 |                    | 10.1.2.100
#               acc tap | 10.1.1.1  10.1.2.1 | acc tap
#                  +----+----+          +----+----+
#                  |   A1    |          |   A2    |   tier-1 units
#                  +----+----+          +----+----+   (appliances 1, 2)
#             10.99.0.1 |  fabric taps       | 10.99.0.2
#   NS_FAB: ============+=== bridge brfab ===+=============+====  (tshark)
#                       |                    |             |
#            10.99.0.11 |         10.99.0.12 |  10.99.0.13 |
#                  +----+----+          +----+----+   +----+----+
#                  |   G1    |          |   G2    |   |   G3    |  gateways
#                  | gw 1100 |          | gw 1200 |   | gw 1300 |  (appliances
#                  +----+----+          +----+----+   +----+----+   11, 12, 13)
#   translates to   10.2.0.11 |          10.2.0.12 |    10.2.0.13 | (G3 joins later)
#   NS_SRV: ============+=== bridge brsrv ===+=============+====
#               HTTP 10.2.0.21:8080 (VIP 10.9.0.1:80), iperf3 10.2.0.22:5201
#   etcd: one member on loopback (free ports), data in the run's temp dir.
#
# A terminal moves from A1 to A2 by a routing change in NS_UE (a source rule
# per terminal), as in the stand-alone mobility test: each unit has its own
# access subnet, so neither addresses nor MACs are shared (cluster_lib.sh).
#
#   tests/e2e/cluster.sh              build (debug) and run every check
#   TANDEM_BIN=path cluster.sh        use that binary
#   E2E_KEEP=1 cluster.sh             keep the temp dir (logs, configs, pcap);
#                                     kept without etcd's data when a check fails
#   E2E_CLUSTER_BIG=200000000 E2E_CLUSTER_RATE=25M   the moved download
#
# Prints PASS/FAIL per check and "N passed, M failed"; exits non-zero if
# anything failed. Checks, as numbered in issue 12: 1 fabric path through
# G2 (and ICMP fragmentation needed for a DF packet too big for it; an
# IPv6 terminal through NAT64 on the gateway its /64 belongs to); 2 a
# move A1 -> A2 mid-download; 3 digests agree after every step; 4 G3
# joins under 50 open connections; 8 a move made on A2 in force on A1
# within 1 s; 5 G1 drains; 6 G2 SIGKILLed; 7 etcd stopped and back.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/cluster_lib.sh
. "$HERE/cluster_lib.sh"

RUN_ID=$$
CL_TAG="cl${RUN_ID}"
CL_NAME="e2e${RUN_ID}"
NS_UE="tdm${RUN_ID}clue"
NS_SRV="tdm${RUN_ID}clsrv"
NS_FAB="tdm${RUN_ID}clfab"
WORKDIR="$(mktemp -d "/tmp/tandem-cluster.${RUN_ID}.XXXXXX")"
DPDK_PREFIXES=("${CL_TAG}A1" "${CL_TAG}A2" "${CL_TAG}G1" "${CL_TAG}G2" "${CL_TAG}G3")
e2e_traps

BIG_BYTES=${E2E_CLUSTER_BIG:-200000000}
BIG_RATE=${E2E_CLUSTER_RATE:-25M}
MOBILE=10.8.0.100 # case 1 and 2: pinned to G2 by the API
MOBILE_PORT=40100

# ---- Clients.
# download NAME SRC BYTES RATE [CURL-ARGS]: a background curl of /big; its
# headers, result and errors go to $WORKDIR/dl/NAME.{h,r,e}; DL_PID[NAME].
# A connection that moves no byte for 5 s is given up (a broken one).
declare -A DL_PID=()
DL_LIMIT_S=30
download() {
  local name=$1 src=$2 bytes=$3 rate=$4
  shift 4
  mkdir -p "$WORKDIR/dl"
  bg_client ip netns exec "$NS_UE" curl -sS -m "$DL_LIMIT_S" --interface "$src" --limit-rate "$rate" --speed-limit 1 --speed-time 5 "$@" \
    -D "$WORKDIR/dl/$name.h" -o /dev/null -w '%{size_download} %{http_code}' \
    "http://$CL_VIP_WEB/big?n=$bytes" >"$WORKDIR/dl/$name.r" 2>"$WORKDIR/dl/$name.e"
  DL_PID[$name]=$LAST_PID
}
# Waits for download NAME; true when it completed with BYTES bytes.
download_ok() {
  local name=$1 bytes=$2 rc=0 size code
  bg_wait "${DL_PID[$name]}" || rc=$?
  read -r size code <"$WORKDIR/dl/$name.r"
  [ "$rc" = 0 ] && [ "${size:-0}" = "$bytes" ] && [ "${code:-0}" = 200 ]
}
# The gateway member (G1..G3) the server saw download NAME come from.
download_gateway() {
  local c
  c=$(tr -d '\r' <"$WORKDIR/dl/$1.h" 2>/dev/null | sed -n 's/^X-Client: //p')
  cl_member_of_addr "${c%:*}"
}
# The downloads named in $1 that failed: "NAME on GATEWAY: BYTES bytes".
broken_downloads() {
  local n size
  for n in $1; do
    [ -s "$WORKDIR/dl/$n.e" ] || continue
    read -r size _ <"$WORKDIR/dl/$n.r"
    printf '%s on %s: %s bytes; ' "$n" "$(download_gateway "$n")" "${size:-?}"
  done
}
# Waits (up to $2 s) until every download named in $1 has its headers.
downloads_started() {
  local names=$1 limit=$2
  wait_for "$limit" bash -c "for n in $names; do grep -q '^X-Client' '$WORKDIR/dl/'\$n.h 2>/dev/null || exit 1; done"
}

# request SRC: one short request; prints the gateway member the server saw.
request() {
  local out
  out=$(ip netns exec "$NS_UE" curl -sS -m "${2:-5}" --interface "$1" "http://$CL_VIP_WEB/" 2>/dev/null)
  out=$(sed -n 's/.*client=\([^ ]*\).*/\1/p' <<<"$out")
  if [ -n "$out" ]; then cl_member_of_addr "${out%:*}"; else echo none; fi
}

glob_match() { [[ "$1" == $2 ]]; } # glob_match TEXT PATTERN
pinned_to() { [ "$(cl_pinned_gateway "$1" "$2")" = "$3" ]; }
gateways_are() { cl_cluster_facts "$1" | grep -qx "gateways $2"; }
etcd_unreachable_at() { cl_cluster_facts "$1" | grep -qx "reachable false"; }
# Each live member's `ctl stats` into $WORKDIR/stats-STEP-MEMBER.txt (the
# counters of a member killed later are gone with it).
save_stats() {
  local m
  for m in A1 A2 G1 G2 G3; do
    cl_alive "$m" && cl_ctl "$m" stats >"$WORKDIR/stats-$1-$m.txt" 2>&1
  done
}
# The drop reasons with packets in a saved stats file, on one line.
drops_in() { awk '/^drops:/ { on = 1; next } on && NF == 2 && $2 ~ /^[0-9]+$/ && $2 > 0 { printf "%s=%s ", $1, $2 }' "$1"; }

ue_rx_bytes() { ip netns exec "$NS_UE" cat "/sys/class/net/$(cl_tap "$1" a)/statistics/rx_bytes"; }

# ---- Set-up.
prepare() {
  if [ "$(id -u)" != 0 ]; then
    log "needs root (network namespaces, taps, DPDK)"
    exit 2
  fi
  local t
  for t in etcd curl tshark; do
    command -v "$t" >/dev/null || { log "$t is needed: scripts/setup.sh --test-tools"; exit 2; }
  done
  tandem_binary
}

setup() {
  cl_topo_build || setup_failed "could not build the namespaces"
  cl_etcd_start || setup_failed "etcd did not start"
  log "etcd at $CL_ETCD_URL; starting A1 A2 G1 G2"
  cl_launch G1 G2 A1 A2
  local m
  for m in G1 G2 A1 A2; do
    TANDEM_LOG=${CL_LOG[$m]}
    cl_await "$m" || setup_failed "$m did not start"
    cl_check_config "$m"
  done
  cl_servers || setup_failed "servers did not start"
  for m in G1 G2; do
    TANDEM_LOG=${CL_LOG[$m]}
    cl_await_server "$m" || setup_failed "$m did not resolve the web server"
  done
  TANDEM_LOG=""
  # Every terminal enters at A1 unless a check moves it.
  cl_attach A1 10.8.0.0/16 || setup_failed "could not route the terminals"
  log "cluster up (took $SECONDS s)"
}

# A generated config must also pass check-config (nothing it accepts may
# crash at start; here, that the test's configs are valid ones).
cl_check_config() {
  local err
  err=$("$TANDEM" check-config "${CL_CONF[$1]}" 2>&1) || fail "setup: check-config refuses $1's config: $err"
}

# ---- 3. After every step every appliance reports the same digest.
check_3_digests() { # STEP MEMBER-IDS...
  local step=$1
  shift
  if wait_for 10 cl_agree "$@"; then
    pass "3 digests: after $step every appliance lists members $* with one digest ($(cl_digests A1 | head -1 | cut -d= -f2))"
  else
    local m detail=""
    for m in A1 A2 G1 G2 G3; do
      cl_alive "$m" && detail+="$m: $(cl_cluster_facts "$m" | grep -E "^(reach|mism|member )" | tr '\n' ' '); "
    done
    fail "3 digests: after $step the appliances disagree or miss members (want $*): $detail"
  fi
}

# ---- 1. A terminal at A1 whose session belongs to G2 reaches a server
# that sees G2's gateway address; replies come back through A1; tshark
# decodes the fabric traffic as Geneve.
check_1_fabric() {
  local said g2
  g2=$(cl_gateway_id G2)
  said=$(cl_ctl A1 session create --id "$MOBILE" --gateway "$g2" 2>&1)
  wait_for 2 pinned_to A1 "$MOBILE" "$g2"
  check "1 fabric: session $MOBILE pinned to G2 ($g2) through A1's API" "$said; A1 has '$(cl_pinned_gateway A1 "$MOBILE")'" \
    test "$(cl_pinned_gateway A1 "$MOBILE")" = "$g2"

  local pcap="$WORKDIR/fabric.pcapng" tshark_pid
  # 160 bytes a frame: the outer headers, Geneve, the option and the
  # inner headers; not the payload.
  bg_client ip netns exec "$NS_FAB" tshark -q -i "$CL_BR_FAB" -f udp -s 160 -w "$pcap" >"$WORKDIR/tshark.out" 2>&1
  tshark_pid=$LAST_PID
  wait_for 10 grep -q "Capturing on" "$WORKDIR/tshark.out"

  local before after
  before=$(ue_rx_bytes A1)
  download fab1 "$MOBILE" 1000000 100M
  local ok=0
  download_ok fab1 1000000 && ok=1
  after=$(ue_rx_bytes A1)
  check "1 fabric: 1 MB download from $MOBILE at A1 completes" "$(cat "$WORKDIR/dl/fab1.e" "$WORKDIR/dl/fab1.r")" test "$ok" = 1
  local seen
  seen=$(tr -d '\r' <"$WORKDIR/dl/fab1.h" 2>/dev/null | sed -n 's/^X-Client: //p')
  check "1 fabric: the server sees G2's gateway address ($seen)" "want $(cl_gateway_addr G2)" \
    test "${seen%:*}" = "$(cl_gateway_addr G2)"
  check "1 fabric: the server log has the request from $seen" "not in $WORKDIR/srv-requests.log" \
    grep -q "tcp $CL_WEB_SERVER:8080 $seen /big?n=1000000" "$WORKDIR/srv-requests.log"
  check "1 fabric: the reply came back through A1's access port ($(((after - before) / 1000)) kB)" \
    "A1's tap delivered $((after - before)) bytes to the terminal" test $((after - before)) -ge 1000000

  # A DF packet too big for the fabric (1500 bytes of IPv4, fabric_mtu
  # 1500): A1 answers ICMP fragmentation needed with the MTU that fits
  # (1500 - 60 outer - 14 inner Ethernet), which the terminal's ping shows
  # (and its kernel then uses for that destination). To an address routed
  # through A1 that is not a VIP (A1 answers pings to a VIP itself).
  local pmtu
  pmtu=$(ip netns exec "$NS_UE" ping -n -c 2 -i 0.5 -W 1 -M do -s 1472 -I "$MOBILE" 10.9.0.99 2>&1)
  check "1 fabric: a 1500-byte DF ping from $MOBILE gets 'fragmentation needed' with MTU 1426" \
    "ping said: $(tr '\n' ' ' <<<"$pmtu")" grep -q "mtu *= *1426" <<<"$pmtu"

  if command -v iperf3 >/dev/null; then
    local out rc=0 rate
    out=$(ip netns exec "$NS_UE" timeout 20 iperf3 -c "$CL_VIP_IPERF" -p "$CL_IPERF_PORT" -B "$MOBILE" -t 2 -f m 2>&1) || rc=$?
    rate=$(grep -E "receiver$" <<<"$out" | awk '{ for (i = 1; i < NF; i++) if ($(i+1) == "Mbits/sec") print $i }')
    check "1 fabric: iperf3 from $MOBILE through A1 and G2: ${rate:-?} Mbit/s" \
      "exit $rc: $(tail -3 <<<"$out" | tr '\n' ' ')" test "$rc" = 0 -a -n "$rate"
  fi

  kill -INT "$tshark_pid" 2>/dev/null
  bg_wait "$tshark_pid"
  local dec="-d udp.port==$CL_FABRIC_PORT,geneve" up down line
  # shellcheck disable=SC2086
  up=$(tshark -r "$pcap" $dec -Y "geneve && ip.src == $(cl_fabric_addr A1) && ip.dst == $(cl_fabric_addr G2) && ip.src == $MOBILE" 2>/dev/null | wc -l)
  # shellcheck disable=SC2086
  down=$(tshark -r "$pcap" $dec -Y "geneve && ip.src == $(cl_fabric_addr G2) && ip.dst == $(cl_fabric_addr A1) && ip.dst == $MOBILE" 2>/dev/null | wc -l)
  # shellcheck disable=SC2086
  line=$(tshark -r "$pcap" $dec -Y geneve -c 10 -V 2>/dev/null | grep -m1 "Generic Network Virtualization Encapsulation" | sed 's/^ *//')
  check "1 fabric: tshark decodes Geneve A1 -> G2 ($up packets) and G2 -> A1 ($down): ${line:-none}" \
    "capture in $pcap" test "$up" -gt 0 -a "$down" -gt 0
  # The Tandem option (dataplane/src/wire/geneve.rs: class 0xfff0, type
  # 0x81, then appliance ID (4 bytes), I/O point (2), hop count, flags,
  # generation (8), draining-from gateway (4)): from A1 uplink, from G2
  # downlink to a tier-1 unit.
  local opt_up opt_down want_up want_down
  # shellcheck disable=SC2086
  opt_up=$(tshark -r "$pcap" $dec -Y "geneve && ip.src == $(cl_fabric_addr A1)" -T fields -e geneve.option 2>/dev/null | head -1)
  # shellcheck disable=SC2086
  opt_down=$(tshark -r "$pcap" $dec -Y "geneve && ip.src == $(cl_fabric_addr G2)" -T fields -e geneve.option 2>/dev/null | head -1)
  want_up="fff08105$(printf %08x "$(cl_appliance_id A1)")????0000"
  want_down="fff08105$(printf %08x "$(cl_appliance_id G2)")????0001"
  check "1 fabric: the Tandem option names A1, hop 0 uplink (${opt_up:0:24}...) and G2, downlink flag (${opt_down:0:24}...)" \
    "want $want_up... and $want_down..." glob_match "${opt_up:0:24} ${opt_down:0:24}" "$want_up $want_down"
}

# ---- 2. The terminal moves from A1 to A2 in the middle of a big download:
# it completes with the right size, on the same gateway and server, as one
# user session.
# ---- 1, IPv6. An IPv6 terminal at A1 reaches the web server through the
# IPv6 VIP: A1 wraps its IPv6 frames for the gateway its /64 belongs to,
# which serves them through NAT64 and sends the IPv6 answers back over the
# fabric; the server sees that gateway's (IPv4) address.
check_1_ipv6() {
  local acc src out seen
  acc=$(cl_tap A1 a)
  src=$(cl_terminal_side6 A1)
  ip -n "$NS_UE" -6 route replace "$CL_VIP6_WEB/128" via "$(cl_access_addr6 A1)" dev "$acc"
  out=$(ip netns exec "$NS_UE" curl -sS -g -m 10 --interface "$src" "http://[$CL_VIP6_WEB]/" 2>&1)
  seen=$(sed -n 's/.*client=\([^ ]*\).*/\1/p' <<<"$out")
  check "1 fabric, IPv6: $src at A1 reaches [$CL_VIP6_WEB]:80 through NAT64 on $(cl_member_of_addr "${seen%:*}") (server saw ${seen:-nothing})" \
    "curl said: $out" glob_match "${seen%:*}" "10.2.0.1[123]"
  local big="$WORKDIR/dl/v6big"
  out=$(ip netns exec "$NS_UE" curl -sS -g -m 20 --interface "$src" -o "$big" -w '%{size_download}' "http://[$CL_VIP6_WEB]/big?n=300000" 2>&1)
  check "1 fabric, IPv6: a 300 kB download over the fabric in IPv6 completes ($out bytes)" \
    "curl said: $out" test "$out" = 300000
}

check_2_move() {
  local a0 b0 a1 b1 a2 b2 n1
  a0=$(ue_rx_bytes A1)
  b0=$(ue_rx_bytes A2)
  download big "$MOBILE" "$BIG_BYTES" "$BIG_RATE" --local-port "$MOBILE_PORT"
  downloads_started big 10
  sleep 2
  a1=$(ue_rx_bytes A1)
  b1=$(ue_rx_bytes A2)
  cl_attach A2 "$MOBILE"
  sleep 2
  n1=$(cl_ctl G2 --json user-sessions --session "$MOBILE" 2>/dev/null | "$PYTHON" -c '
import json, sys
print(sum(1 for u in json.load(sys.stdin) if str(u.get("terminal", "")).endswith(":" + sys.argv[1])))' "$MOBILE_PORT")
  local ok=0
  download_ok big "$BIG_BYTES" && ok=1
  a2=$(ue_rx_bytes A1)
  b2=$(ue_rx_bytes A2)
  local r
  r=$(cat "$WORKDIR/dl/big.r" "$WORKDIR/dl/big.e" | tr '\n' ' ')
  check "2 move: $BIG_BYTES-byte download completes after the move A1 -> A2 ($r)" "curl: $r" test "$ok" = 1
  local mb_a=$(((a1 - a0) / 1000000)) mb_b=$(((b2 - b1) / 1000000)) mb_b0=$(((b1 - b0) / 1000000))
  check "2 move: data came through A1 first (${mb_a} MB), then A2 (${mb_b} MB)" \
    "A1 before ${mb_a} MB, A2 before ${mb_b0} MB, A1 after $(((a2 - a1) / 1000000)) MB, A2 after ${mb_b} MB" \
    test "$mb_a" -ge 5 -a "$mb_b" -ge 5 -a "$mb_b0" = 0
  local seen requests
  seen=$(tr -d '\r' <"$WORKDIR/dl/big.h" 2>/dev/null | sed -n 's/^X-Client: //p')
  requests=$(grep -c " /big?n=$BIG_BYTES\$" "$WORKDIR/srv-requests.log")
  check "2 move: one request, on G2 ($seen), one server" "server log has $requests requests for it" \
    test "$requests" = 1 -a "${seen%:*}" = "$(cl_gateway_addr G2)"
  check "2 move: G2 holds one user session for $MOBILE:$MOBILE_PORT after the move (${n1:-?})" \
    "ctl user-sessions on G2: $(cl_ctl G2 user-sessions --session "$MOBILE" 2>&1 | tr '\n' ' ')" test "${n1:-0}" = 1
  cl_attach A1 "$MOBILE"
}

# ---- 4. G3 joins while 50 connections are open: none breaks; new
# connections spread over three gateways.
check_4_join() {
  local i names="" n_ok=0 per=""
  # About 15 s each: open from before G3 starts until it runs.
  for ((i = 1; i <= 50; i++)); do
    download "join$i" "10.8.1.$i" 3000000 150k
    names+="join$i "
  done
  downloads_started "$names" 10 || fail "4 join: not every connection had its headers within 10 s"
  cl_start G3 || { fail "4 join: G3 did not start"; return; }
  local open=0
  for i in $names; do kill -0 "${DL_PID[$i]}" 2>/dev/null && open=$((open + 1)); done
  cl_check_config G3
  cl_await_server G3 || fail "4 join: G3 did not resolve the web server"
  check_3_digests "G3 joined" 1 2 11 12 13
  for i in $names; do per+="$(download_gateway "$i") "; done
  per=$(tr ' ' '\n' <<<"$per" | grep . | sort | uniq -c | awk '{ printf "%s on %s, ", $1, $2 }')
  for i in $names; do download_ok "$i" 3000000 && n_ok=$((n_ok + 1)); done
  check "4 join: $n_ok of 50 connections open across the join completed (${per}$open still open when G3 was up)" \
    "$(cat "$WORKDIR"/dl/join*.e | sort | uniq -c | head -3); $(broken_downloads "$names")" test "$n_ok" = 50 -a "$open" = 50
  declare -A seen=()
  for ((i = 1; i <= 30; i++)); do
    local g
    g=$(request "10.8.2.$i")
    seen[$g]=$((${seen[$g]:-0} + 1))
  done
  local spread="G1=${seen[G1]:-0} G2=${seen[G2]:-0} G3=${seen[G3]:-0} failed=${seen[none]:-0}"
  check "4 join: 30 new connections from new terminals spread over three gateways ($spread)" "" \
    test "${seen[G1]:-0}" -gt 0 -a "${seen[G2]:-0}" -gt 0 -a "${seen[G3]:-0}" -gt 0 -a "${seen[none]:-0}" = 0
}

# ---- 8. `ctl session move` on A2 changes where A1 steers that session
# within 1 s.
check_8_move_on_a2() {
  local t=10.8.6.1 g1 g3 before said start end ms
  g1=$(cl_gateway_id G1)
  g3=$(cl_gateway_id G3)
  said=$(cl_ctl A1 session create --id "$t" --gateway "$g1" 2>&1)
  wait_for 2 pinned_to A2 "$t" "$g1"
  before=$(request "$t")
  start=$(date +%s%N)
  said=$(cl_ctl A2 session move "$t" "$g3" 2>&1)
  while [ "$(cl_pinned_gateway A1 "$t")" != "$g3" ] && [ $((($(date +%s%N) - start) / 1000000)) -lt 3000 ]; do
    sleep 0.02
  done
  end=$(date +%s%N)
  ms=$(((end - start) / 1000000))
  check "8 move on A2: A1 steers $t to G3 ($g3) ${ms} ms after 'session move' on A2" \
    "$said; A1 has '$(cl_pinned_gateway A1 "$t")'" test "$ms" -le 1000 -a "$(cl_pinned_gateway A1 "$t")" = "$g3"
  local after
  after=$(request "$t")
  check "8 move on A2: a request from $t through A1 went to $before before and to $after after" "" \
    test "$before" = G1 -a "$after" = G3
  check_3_digests "the move on A2" 1 2 11 12 13
}

# ---- 5. G1 drains: no open connection breaks; it then leaves.
check_5_drain() {
  local i names="" per="" on_g1=0 n_ok=0 g1
  g1=$(cl_gateway_id G1)
  for ((i = 1; i <= 30; i++)); do
    download "drain$i" "10.8.3.$i" 600000 100k
    names+="drain$i "
  done
  downloads_started "$names" 10
  for i in $names; do
    [ "$(download_gateway "$i")" = G1 ] && on_g1=$((on_g1 + 1))
  done
  local said rc=0
  said=$(cl_ctl A2 gateway drain "$g1" 2>&1) || rc=$?
  check "5 drain: 'gateway drain $g1' on A2 accepted with $on_g1 of 30 connections open on G1" "exit $rc: $said" \
    test "$rc" = 0 -a "$on_g1" -gt 0
  check_3_digests "the drain of G1" 1 2 11 12 13
  declare -A seen=()
  for ((i = 1; i <= 15; i++)); do
    local g
    g=$(request "10.8.3.$((100 + i))")
    seen[$g]=$((${seen[$g]:-0} + 1))
  done
  check "5 drain: 15 new connections avoid G1 (G1=${seen[G1]:-0} G2=${seen[G2]:-0} G3=${seen[G3]:-0} failed=${seen[none]:-0})" "" \
    test "${seen[G1]:-0}" = 0 -a "${seen[none]:-0}" = 0
  for i in $names; do download_ok "$i" 600000 && n_ok=$((n_ok + 1)); done
  save_stats drain
  local why="" m
  for m in G1 G2 G3; do why+="$m drops: $(drops_in "$WORKDIR/stats-drain-$m.txt"); "; done
  check "5 drain: $n_ok of 30 open connections completed ($on_g1 on G1)" "$(cat "$WORKDIR"/dl/drain*.e | sort | uniq -c | head -3); $why" \
    test "$n_ok" = 30
  local gone=0
  wait_for $((CL_MOVE_DRAIN_S + 5)) gateways_are A1 2 && gone=1
  check "5 drain: gateway $g1 left the cluster (ctl cluster on A1: $(cl_cluster_facts A1 | grep -E '^(gateways|draining)' | tr '\n' ' '))" \
    "still listed after move_drain_s + 5 s" test "$gone" = 1
  check_3_digests "G1 left" 1 2 11 12 13
}

# ---- 6. G2 is killed with SIGKILL: only connections on G2 break; new
# connections from its terminals work again within lease TTL + 1 s.
check_6_kill() {
  local i names="" on_g2=() others=()
  for ((i = 1; i <= 20; i++)); do
    download "kill$i" "10.8.4.$i" 1000000 100k
    names+="kill$i "
  done
  downloads_started "$names" 10
  for i in $names; do
    if [ "$(download_gateway "$i")" = G2 ]; then on_g2+=("$i"); else others+=("$i"); fi
  done
  if [ "${#on_g2[@]}" = 0 ] || [ "${#others[@]}" = 0 ]; then
    fail "6 kill: want connections on G2 and elsewhere, have ${#on_g2[@]} on G2 and ${#others[@]} elsewhere"
    for i in $names; do download_ok "$i" 1000000; done
    cl_kill9 G2
    return
  fi
  local victim_terminal
  victim_terminal="10.8.4.${on_g2[0]#kill}"
  local start ok_ms="" probes="$WORKDIR/kill-probes" probe_pids=() p first
  save_stats before-kill
  : >"$probes"
  start=$(date +%s%N)
  cl_kill9 G2 2>/dev/null
  # A new connection every 200 ms until one has worked, each given 3 s
  # (one slow handshake on a loaded machine must not hide a later one
  # that worked); the first to complete says when new connections work.
  while [ $((($(date +%s%N) - start) / 1000000)) -lt 10000 ] && [ ! -s "$probes" ]; do
    (ip netns exec "$NS_UE" curl -s --connect-timeout 2 -m 3 --interface "$victim_terminal" -o /dev/null "http://$CL_VIP_WEB/" &&
      date +%s%N >>"$probes") &
    probe_pids+=($!)
    sleep 0.2
  done
  for p in "${probe_pids[@]}"; do wait "$p" 2>/dev/null; done
  first=$(sort -n "$probes" | head -1)
  [ -n "$first" ] && ok_ms=$(((first - start) / 1000000))
  check "6 kill: a new connection from $victim_terminal (was on G2) works ${ok_ms:-never} ms after the SIGKILL" \
    "want at most $(((CL_LEASE_TTL_S + 1) * 1000)) ms" test -n "$ok_ms" -a "${ok_ms:-99999}" -le $(((CL_LEASE_TTL_S + 1) * 1000))
  local t answered=0
  for i in "${on_g2[@]}"; do
    t="10.8.4.${i#kill}"
    [ "$(request "$t" 3)" != none ] && answered=$((answered + 1))
  done
  check "6 kill: then each of the ${#on_g2[@]} terminals that were on G2 gets an answer ($answered)" "" \
    test "$answered" = "${#on_g2[@]}"
  local broken_g2=0 ok_others=0
  for i in "${on_g2[@]}"; do download_ok "$i" 1000000 || broken_g2=$((broken_g2 + 1)); done
  for i in "${others[@]}"; do download_ok "$i" 1000000 && ok_others=$((ok_others + 1)); done
  # curl's --limit-rate paces reading, not the server: a G2 download whose
  # last byte already sat in the terminal's socket buffer at the kill
  # completes (seen once in CI: 1 of 7). So: every other one completes,
  # and the kill did break connections on G2.
  check "6 kill: all ${#others[@]} connections on other gateways completed ($ok_others); $broken_g2 of ${#on_g2[@]} on G2 broke" \
    "$(cat "$WORKDIR"/dl/kill*.e | sort | uniq -c | head -3)" \
    test "$ok_others" = "${#others[@]}" -a "$broken_g2" -ge 1
  check_3_digests "G2 was killed" 1 2 11 13
}

# ---- 7. etcd stopped: open and new connections keep working; a session
# move is refused with a clear error; etcd back: digests converge.
check_7_etcd() {
  local i names="" n_ok=0
  for ((i = 1; i <= 10; i++)); do
    download "etcd$i" "10.8.5.$i" 800000 100k
    names+="etcd$i "
  done
  downloads_started "$names" 10
  cl_etcd_stop
  local down=0
  wait_for 6 etcd_unreachable_at A1 && down=1
  check "7 etcd: A1 says etcd is unreachable" "ctl cluster: $(cl_ctl A1 cluster 2>&1 | tail -2 | tr '\n' ' ')" test "$down" = 1
  local said rc=0
  said=$(cl_ctl A1 session move 10.8.6.1 "$(cl_gateway_id G3)" 2>&1) || rc=$?
  local clear=0
  grep -q "etcd unreachable" <<<"$said" && clear=1
  check "7 etcd: session move refused: $said" "exit $rc" test "$rc" != 0 -a "$clear" = 1
  local new_ok=0 g
  for ((i = 1; i <= 10; i++)); do
    g=$(request "10.8.5.$((100 + i))")
    [ "$g" != none ] && new_ok=$((new_ok + 1))
  done
  check "7 etcd: $new_ok of 10 new connections from new terminals work without etcd" "" test "$new_ok" = 10
  for i in $names; do download_ok "$i" 800000 && n_ok=$((n_ok + 1)); done
  check "7 etcd: $n_ok of 10 connections open across the etcd stop completed" "$(cat "$WORKDIR"/dl/etcd*.e | sort | uniq -c | head -3)" \
    test "$n_ok" = 10
  cl_etcd_start || { fail "7 etcd: etcd did not start again"; return; }
  check_3_digests "etcd came back" 1 2 11 13
}

main() {
  prepare
  setup
  check_3_digests "start" 1 2 11 12
  check_1_fabric
  check_1_ipv6
  check_3_digests "the fabric check" 1 2 11 12
  check_2_move
  check_3_digests "the move A1 -> A2" 1 2 11 12
  check_4_join
  check_8_move_on_a2
  check_5_drain
  check_6_kill
  check_7_etcd
  log "took $SECONDS s; logs in $WORKDIR"
  save_stats end
  # What the kernel side of the bridged taps dropped (not in tandem's counters).
  local ns
  for ns in "$NS_FAB" "$NS_SRV" "$NS_UE"; do ip -n "$ns" -s link >"$WORKDIR/links-$ns.txt" 2>&1; done
  if [ "$FAILED" != 0 ] || [ "${E2E_SHOW_LOG:-0}" = 1 ]; then
    local f
    for f in "$WORKDIR"/stats-*.txt; do
      echo "--- $(basename "$f" .txt): $(drops_in "$f")"
    done
    # The members' warnings, last in the output (CI shows its tail).
    local m
    for m in A1 A2 G1 G2 G3; do
      [ -e "${CL_LOG[$m]:-}" ] || continue
      plain_log "${CL_LOG[$m]}" | grep -E " (WARN|ERROR) " | head -6 | sed "s/^/--- $m: /" | cut -c1-240
    done
  fi
  if [ "$FAILED" != 0 ] && [ "${E2E_KEEP:-0}" != 1 ]; then
    # Failures may be intermittent: keep the logs, configs, stats and
    # capture (not etcd's data, 60 MB of preallocated log).
    cl_etcd_stop
    rm -rf "$WORKDIR/etcd-data"
    E2E_KEEP=1
  fi
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ]
}

main "$@"
