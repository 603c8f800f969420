#!/usr/bin/env bash
# End-to-end tests of tandem with real hosts: terminals, servers and an
# external host in network namespaces, wired to tandem's net_tap ports, and
# real clients (ping, curl, iperf3, python UDP). Needs root.
#
#   tests/e2e/run.sh            build (debug) and run every scenario
#   TANDEM_BIN=path run.sh      use that binary instead of building
#   E2E_KEEP=1 run.sh           keep the temp dir (logs, config) at the end
#
# Prints PASS/FAIL per check and a last line "N passed, M failed"; exits
# non-zero if anything failed. Every name (namespaces, taps, DPDK file
# prefix, accounting file) carries this run's PID, so runs do not collide
# with each other or with the demo.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

RUN_ID=$$
NS_UE="tdm${RUN_ID}ue"
NS_SRV="tdm${RUN_ID}srv"
NS_EXT="tdm${RUN_ID}ext"
IF_ACC0="t${RUN_ID}a0"
IF_ACC1="t${RUN_ID}a1"
IF_SRV="t${RUN_ID}s0"
IF_EXT="t${RUN_ID}e0"
FILE_PREFIX="tdme2e${RUN_ID}"
WORKDIR="$(mktemp -d "/tmp/tandem-e2e.${RUN_ID}.XXXXXX")"
CONFIG="$WORKDIR/e2e.ron"
TANDEM_LOG="$WORKDIR/tandem.log"
ACCOUNTING="$WORKDIR/accounting.jsonl"
# The control API's socket by default (api.socket unset): from file_prefix.
CTL_SOCKET="/run/tandem/$FILE_PREFIX.sock"

# The extra service this suite adds to its copy of the laptop config, for
# iperf3 through a VIP.
VIP_IPERF=10.9.0.4
IPERF_SERVER=10.2.0.22
IPERF_PORT=5201

# Terminal-side ports of single user sessions, so their accounting records
# can be found after the stop.
PORT_MOBILITY=40100
PORT_VIP_WEB=40201
PORT_VIP_VIDEO=40202
PORT_VIP_VIDEO_TYPE=40203

# The long download of the mobility scenario: size and client rate (about
# 6 s). The route moves after MOBILITY_MOVE_S seconds.
BIG_BYTES=200000000
MOBILITY_RATE=${E2E_MOBILITY_RATE:-33M}
MOBILITY_MOVE_S=2

TANDEM_RC=""

DPDK_PREFIXES=("$FILE_PREFIX")
CTL_SOCKETS=("$CTL_SOCKET")
e2e_traps

curl_ue() { ip netns exec "$NS_UE" curl -sS "$@"; }

in_list() { # in_list VALUE ITEM...
  local v=$1 x
  shift
  for x in "$@"; do [ "$x" = "$v" ] && return 0; done
  return 1
}

# The field NAME=... of a body line "server=A client=B:P".
body_field() { sed -n "s/.*$2=\([^ ]*\).*/\1/p" "$1" | head -1; }

prepare() {
  if ! command -v curl >/dev/null || [ -z "$PYTHON" ]; then
    log "curl and python3 are needed: scripts/setup.sh --test-tools"
    exit 2
  fi
  if [ "$(id -u)" != 0 ]; then
    log "needs root (network namespaces, taps, DPDK)"
    exit 2
  fi
  tandem_binary

  # This run's copy of the laptop config: unique names, own accounting
  # file, and one more service (iperf3 through a VIP).
  sed -e "s/\"net_tap\([0-9]\),iface=tdm-acc0\"/\"net_tap\1,iface=$IF_ACC0\"/" \
    -e "s/\"net_tap\([0-9]\),iface=tdm-acc1\"/\"net_tap\1,iface=$IF_ACC1\"/" \
    -e "s/\"net_tap\([0-9]\),iface=tdm-srv0\"/\"net_tap\1,iface=$IF_SRV\"/" \
    -e "s/\"net_tap\([0-9]\),iface=tdm-ext0\"/\"net_tap\1,iface=$IF_EXT\"/" \
    -e "s/file_prefix: \"[^\"]*\"/file_prefix: \"$FILE_PREFIX\"/" \
    -e "s#path: \"/tmp/tandem-accounting.jsonl\"#path: \"$ACCOUNTING\"#" \
    -e "/^    services: \[/a\\        (name: \"iperf\", vip: \"$VIP_IPERF\", proto: Tcp, port: $IPERF_PORT, servers: [(addr: \"$IPERF_SERVER\", port: $IPERF_PORT)])," \
    "$REPO_ROOT/conf/laptop.ron" >"$CONFIG"
  local want
  for want in "iface=$IF_ACC0\"" "iface=$IF_ACC1\"" "iface=$IF_SRV\"" "iface=$IF_EXT\"" \
    "file_prefix: \"$FILE_PREFIX\"" "path: \"$ACCOUNTING\"" "vip: \"$VIP_IPERF\""; do
    grep -qF "$want" "$CONFIG" || setup_failed "conf/laptop.ron changed shape: could not set $want"
  done
  local err
  err=$("$TANDEM" check-config "$CONFIG" 2>&1) || setup_failed "generated config rejected: $err"
}

setup() {
  log "starting tandem ($TANDEM)"
  start_tandem "$CONFIG" "$TANDEM_LOG" "$TANDEM" || setup_failed "tandem did not start"
  topo_build || setup_failed "could not build the namespaces"
  log "namespaces built"
  if command -v iperf3 >/dev/null; then
    ip netns exec "$NS_SRV" iperf3 -s -B "$IPERF_SERVER" -p "$IPERF_PORT" >"$WORKDIR/iperf3-server.log" 2>&1 &
    BG_PIDS+=($!)
  fi
  topo_servers || setup_failed "servers did not start"
  log "servers up"
  topo_wait_neighbours "$TANDEM_LOG" || setup_failed "tandem did not resolve the servers"
}

# 1. Tandem answers ICMP echo for a VIP and for its access-port addresses.
scenario_ping() {
  local target
  for target in "$VIP_WEB" "$ACC0_GW" "$ACC1_GW"; do
    local out
    if command -v ping >/dev/null; then
      out=$(ip netns exec "$NS_UE" ping -n -c 3 -i 0.2 -W 1 "$target" 2>&1)
    else
      out=$(ip netns exec "$NS_UE" "$PYTHON" "$HERE/icmp_ping.py" "$target" --count 3 2>&1)
    fi
    if grep -q " 0% packet loss" <<<"$out"; then
      pass "ping $target: 3 of 3 replies"
    else
      fail "ping $target: $(grep -E 'packet loss|unreachable' <<<"$out" | head -1)"
    fi
  done
}

# 2. Sixty concurrent requests to the web VIP: all answered, spread over the
# three web servers by least load, each server seeing a gateway address with
# a port no other request used.
scenario_concurrent() {
  local n=60 i d="$WORKDIR/concurrent"
  mkdir -p "$d"
  local pids=()
  # Each request is held 1 s by the server so they are all live at once and
  # least load (not luck) decides.
  for ((i = 1; i <= n; i++)); do
    bg_client ip netns exec "$NS_UE" curl -sS -m 15 -o "$d/$i.body" -w '%{http_code}' \
      "http://$VIP_WEB/?delay_ms=1000" >"$d/$i.code" 2>"$d/$i.err"
    pids+=("$LAST_PID")
  done
  local ok=0 bad_reason=""
  for ((i = 1; i <= n; i++)); do
    if bg_wait "${pids[$((i - 1))]}" && [ "$(cat "$d/$i.code")" = 200 ]; then
      ok=$((ok + 1))
    else
      bad_reason="request $i: $(cat "$d/$i.err" "$d/$i.code" 2>/dev/null | tr '\n' ' ')"
    fi
  done
  check "concurrent: $ok of $n requests answered" "$bad_reason" test "$ok" = "$n"

  declare -A per_server=()
  local clients="" bad_server="" bad_client=""
  for ((i = 1; i <= n; i++)); do
    [ -s "$d/$i.body" ] || continue
    local srv cli
    srv=$(body_field "$d/$i.body" server)
    cli=$(body_field "$d/$i.body" client)
    if in_list "$srv" "${WEB_SERVERS[@]}"; then
      per_server[$srv]=$((${per_server[$srv]:-0} + 1))
    else
      bad_server="request $i answered by '$srv'"
    fi
    in_list "${cli%:*}" "${GATEWAY_IPS[@]}" || bad_client="server saw client '$cli' (not a gateway address)"
    clients+="$cli"$'\n'
  done
  # Why 20±10: all 60 come from one terminal, so one worker chooses from its
  # own exact counts with ties rotated, which gives 20/20/20. Sessions that
  # end while others start (on a loaded machine the 60 curls take longer
  # than the 1 s hold to start) and other workers' load, seen up to 50 ms
  # late, may shift a few. The band still fails "a server unused", "all to
  # one" and anything far from even, without failing on scheduling noise.
  local spread="" s low=0
  for s in "${WEB_SERVERS[@]}"; do
    local c=${per_server[$s]:-0}
    spread+="$s=$c "
    if [ "$c" -lt 10 ] || [ "$c" -gt 30 ]; then low=1; fi
  done
  check "concurrent: only web servers answer" "$bad_server" test -z "$bad_server"
  check "concurrent: spread by least load ($spread)" "a server got outside 20±10" test "$low" = 0
  check "concurrent: servers see a gateway address as client" "$bad_client" test -z "$bad_client"
  local dups
  dups=$(sort <<<"$clients" | grep -v '^$' | uniq -d | head -3 | tr '\n' ' ')
  check "concurrent: every request has its own gateway (address, port)" "reused: $dups" test -z "$dups"
}

# 3. A subscriber entitled only to DNS gets a TCP reset from the web VIP at
# once, and DNS still works for it.
scenario_refused() {
  local start end rc=0 err
  start=$(date +%s%N)
  err=$(curl_ue -m 5 --interface "$REFUSED_IP" -o /dev/null "http://$VIP_WEB/" 2>&1) || rc=$?
  end=$(date +%s%N)
  local ms=$(((end - start) / 1000000))
  if { [ "$rc" = 7 ] || [ "$rc" = 56 ]; } && [ "$ms" -lt 2000 ]; then
    pass "refused: web from $REFUSED_IP reset in ${ms} ms (curl $rc)"
  else
    fail "refused: web from $REFUSED_IP: curl exit $rc after ${ms} ms ($err); want a reset (7 or 56) within 2 s"
  fi
  # Its entry also says external: false.
  rc=0
  start=$(date +%s%N)
  err=$(curl_ue -m 3 --interface "$REFUSED_IP" -o /dev/null "http://$EXT_IP:8080/" 2>&1) || rc=$?
  end=$(date +%s%N)
  ms=$(((end - start) / 1000000))
  check "refused: external (external: false) from $REFUSED_IP reset in ${ms} ms (curl $rc)" \
    "curl exit $rc after ${ms} ms ($err); want a reset (7 or 56) within 2 s" \
    test "$ms" -lt 2000 -a \( "$rc" = 7 -o "$rc" = 56 \)
  local ans
  ans=$(ip netns exec "$NS_UE" "$PYTHON" "$HERE/udp_ask.py" --src "$REFUSED_IP" --dst "$VIP_DNS:53" --data refused-dns 2>&1)
  check "refused: DNS from $REFUSED_IP still answered" "got '$ans'" \
    grep -q "server=${WEB_SERVERS[0]}:5353 .*data=refused-dns" <<<"$ans"
}

rx_bytes() { ip netns exec "$NS_UE" cat "/sys/class/net/$1/statistics/rx_bytes"; }

# 4. Mobility: a long download keeps going, to the same server, when the
# terminal moves from one I/O point to the other.
scenario_mobility() {
  local d="$WORKDIR/mobility"
  mkdir -p "$d"
  terminal_route "$IF_ACC0" "$ACC0_GW"
  local a0 b0 a1 b1 a2 b2
  a0=$(rx_bytes "$IF_ACC0")
  b0=$(rx_bytes "$IF_ACC1")
  bg_client ip netns exec "$NS_UE" curl -sS -m 60 --local-port "$PORT_MOBILITY" \
    --limit-rate "$MOBILITY_RATE" -D "$d/headers" -o /dev/null \
    -w '%{size_download} %{http_code}' "http://$VIP_WEB/big?n=$BIG_BYTES" >"$d/result" 2>"$d/err"
  local pid=$LAST_PID
  sleep "$MOBILITY_MOVE_S"
  a1=$(rx_bytes "$IF_ACC0")
  b1=$(rx_bytes "$IF_ACC1")
  terminal_route "$IF_ACC1" "$ACC1_GW"
  local rc=0
  bg_wait "$pid" || rc=$?
  a2=$(rx_bytes "$IF_ACC0")
  b2=$(rx_bytes "$IF_ACC1")
  local size code
  read -r size code <"$d/result"
  check "mobility: download complete after the move ($size bytes, HTTP $code)" \
    "curl exit $rc, $(cat "$d/err")" test "$rc" = 0 -a "${size:-0}" = "$BIG_BYTES" -a "${code:-0}" = 200
  local mb_a=$(((a1 - a0) / 1000000)) mb_b_before=$(((b1 - b0) / 1000000)) mb_b=$(((b2 - b1) / 1000000)) mb_a_after=$(((a2 - a1) / 1000000))
  check "mobility: data came via I/O point A first (${mb_a} MB), then B (${mb_b} MB)" \
    "A before move ${mb_a} MB, B before ${mb_b_before} MB, A after ${mb_a_after} MB, B after ${mb_b} MB" \
    test "$mb_a" -ge 5 -a "$mb_b" -ge 5 -a "$mb_b_before" = 0
  local server
  server=$(tr -d '\r' <"$d/headers" | sed -n 's/^X-Server: //p')
  local requests
  requests=$(grep -c " /big?n=$BIG_BYTES\$" "$WORKDIR/srv-requests.log")
  check "mobility: one request on one server ($server)" "server log has $requests requests for it" \
    test "$requests" = 1 -a -n "$server"
  MOBILITY_SERVER=$server
  MOBILITY_CLIENT=$(tr -d '\r' <"$d/headers" | sed -n 's/^X-Client: //p')
}

# 4b. Moving the terminal's mobile session to the other gateway (worker)
# in the middle of a download: the download drains on the gateway it
# started on and completes; a new connection starts on the new gateway.
session_json() { # FIELD: that field of the terminal's mobile session
  ctl --json sessions | "$PYTHON" -c '
import json, sys
for s in json.load(sys.stdin):
    if s["id"] == sys.argv[1]:
        print(s.get(sys.argv[2]))' "$TERM_IP" "$1"
}
scenario_session_move() {
  local d="$WORKDIR/move"
  mkdir -p "$d"
  local old new said
  old=$(session_json gateway)
  if [ -z "$old" ] || [ "$old" = None ]; then
    fail "session move: $TERM_IP is not a pinned session ($(ctl sessions 2>&1 | tr '\n' ' '))"
    return
  fi
  new=$((1 - old))
  bg_client ip netns exec "$NS_UE" curl -sS -m 60 --limit-rate 20M -D "$d/headers" -o /dev/null \
    -w '%{size_download} %{http_code}' "http://$VIP_WEB/big?n=40000000" >"$d/result" 2>"$d/err"
  local pid=$LAST_PID
  sleep 1
  said=$(ctl session move "$TERM_IP" "$new" 2>&1)
  check "session move: $TERM_IP from gateway $old to $new ($said)" "ctl failed" \
    grep -q "stay on gateway $old" <<<"$said"
  local draining
  draining=$(session_json draining_from)
  check "session move: listed as draining from gateway $old ($draining)" "sessions say ${draining:-nothing}" \
    test "$draining" = "$old"
  local rc=0 size code
  bg_wait "$pid" || rc=$?
  read -r size code <"$d/result"
  check "session move: the open download completes on the old gateway ($size bytes, HTTP $code)" \
    "curl exit $rc, $(cat "$d/err")" test "$rc" = 0 -a "${size:-0}" = 40000000 -a "${code:-0}" = 200
  # A new connection: its gateway port belongs to the new worker
  # ((port - 1024) % 2 names the owner).
  local client port
  client=$(curl_ue -m 5 -D - -o /dev/null "http://$VIP_WEB/" 2>&1 | tr -d '\r' | sed -n 's/^X-Client: //p')
  port=${client##*:}
  check "session move: a new connection starts on gateway $new (gateway port $client)" "no answer" \
    test -n "$port" -a "$(((${port:-1024} - 1024) % 2))" = "$new"
}

# 5. Changing VIP within one mobile session: the web VIP, the video VIP and
# the video port of the web VIP reach the right pools.
scenario_vip_switch() {
  local d="$WORKDIR/vips"
  mkdir -p "$d"
  curl_ue -m 5 --local-port "$PORT_VIP_WEB" -o "$d/web" "http://$VIP_WEB/" 2>"$d/web.err"
  curl_ue -m 5 --local-port "$PORT_VIP_VIDEO" -o "$d/video" "http://$VIP_VIDEO/" 2>"$d/video.err"
  curl_ue -m 5 --local-port "$PORT_VIP_VIDEO_TYPE" -o "$d/video81" "http://$VIP_WEB:81/" 2>"$d/video81.err"
  local s1 s2 s3
  s1=$(body_field "$d/web" server 2>/dev/null)
  s2=$(body_field "$d/video" server 2>/dev/null)
  s3=$(body_field "$d/video81" server 2>/dev/null)
  check "vip switch: $VIP_WEB:80 on a web server ($s1)" "$(cat "$d/web.err")" in_list "$s1" "${WEB_SERVERS[@]}"
  check "vip switch: $VIP_VIDEO:80 on a video server ($s2)" "$(cat "$d/video.err")" in_list "$s2" "${VIDEO_SERVERS[@]}"
  check "vip switch: $VIP_WEB:81 (type video) on a video server ($s3)" "$(cat "$d/video81.err")" in_list "$s3" "${VIDEO_SERVERS[@]}"
  # The video type selects by a consistent hash of the terminal (Sticky):
  # more requests of this terminal go to the same video server.
  local i again others=""
  for i in 1 2 3 4; do
    again=$(curl_ue -m 5 "http://$VIP_WEB:81/" 2>&1 | sed -n 's/.*server=\([^ ]*\).*/\1/p')
    [ "$again" = "$s3" ] || others+="${again:-error} "
  done
  check "vip switch: type video is sticky (4 more requests on $s3)" "went to: $others" test -z "$others"
}

# ICMP echo through the gateway to a host outside (the NAT of ICMP).
scenario_external_ping() {
  local out
  if command -v ping >/dev/null; then
    out=$(ip netns exec "$NS_UE" ping -n -c 3 -i 0.2 -W 1 -I "$TERM_IP" "$EXT_IP" 2>&1)
  else
    out=$(ip netns exec "$NS_UE" "$PYTHON" "$HERE/icmp_ping.py" "$EXT_IP" --count 3 2>&1)
  fi
  check "external: ping $EXT_IP through the gateway" "$(grep -E 'packet loss' <<<"$out")" \
    grep -q " 0% packet loss" <<<"$out"
}

# 6. A server outside the system, reached through the gateway address.
scenario_external() {
  local out err
  out=$(curl_ue -m 5 "http://$EXT_IP:8080/" 2>&1)
  local cli
  cli=$(sed -n 's/.*client=\([^ ]*\).*/\1/p' <<<"$out")
  check "external: $EXT_IP:8080 answered, sees gateway address ($cli)" "got '$out'" \
    in_list "${cli%:*}" "${GATEWAY_IPS[@]}"
}

# 7. UDP through the DNS VIP, and a bulk TCP transfer through a VIP.
scenario_udp() {
  local ans
  ans=$(ip netns exec "$NS_UE" "$PYTHON" "$HERE/udp_ask.py" --src "$TERM_IP" --dst "$VIP_DNS:53" --data ue-dns 2>&1)
  check "udp: $VIP_DNS:53 answered by ${WEB_SERVERS[0]}:5353 via a gateway address" "got '$ans'" \
    grep -Eq "^from=$VIP_DNS:53 server=${WEB_SERVERS[0]}:5353 client=10\.2\.0\.1[01]:[0-9]+ data=ue-dns" <<<"$ans"
  if ! command -v iperf3 >/dev/null; then
    log "iperf3 not installed: skipping the iperf3 check"
    return
  fi
  local out rc=0
  out=$(ip netns exec "$NS_UE" timeout 20 iperf3 -c "$VIP_IPERF" -p "$IPERF_PORT" -B "$TERM_IP" -t 2 -f m 2>&1) || rc=$?
  local rate
  rate=$(grep -E "receiver$" <<<"$out" | awk '{ for (i = 1; i < NF; i++) if ($(i+1) == "Mbits/sec") print $i }')
  check "iperf3 via $VIP_IPERF: ${rate:-?} Mbit/s" "exit $rc: $(tail -3 <<<"$out" | tr '\n' ' ')" \
    test "$rc" = 0 -a -n "$rate"
}

# Tandem's own counters (drops by reason, ...) for the report, when this
# tandem has `tandem ctl` and its socket; not a check.
capture_stats() {
  if [ -S "$CTL_SOCKET" ] && "$TANDEM" ctl --help >/dev/null 2>&1; then
    "$TANDEM" ctl --socket "$CTL_SOCKET" stats >"$WORKDIR/ctl-stats.txt" 2>&1
  fi
}

# 8 and 9. Stop tandem: it must exit 0 with every mbuf back, and the
# accounting file must hold the user sessions above.
scenario_stop() {
  stop_tandem 20
  check "stop: tandem exits 0 on SIGTERM" "exit status $TANDEM_RC (254: had to be killed)" test "$TANDEM_RC" = 0
  local in_use
  in_use=$(plain_log "$TANDEM_LOG" | sed -n 's/.*mbufs in use after stop.*in_use=\([0-9]*\).*/\1/p')
  check "stop: mbufs in use after stop in_use=${in_use:-?}" "log line missing or not 0" test "${in_use:-x}" = 0
}

records() { "$PYTHON" "$HERE/records.py" "$ACCOUNTING" "$@"; }

scenario_accounting() {
  if [ ! -s "$ACCOUNTING" ]; then
    fail "accounting: $ACCOUNTING is missing or empty"
    return
  fi
  local n
  n=$(records --count) || { fail "accounting: the file has lines that are not JSON objects"; return; }
  pass "accounting: $n records, all JSON"
  n=$(records --where terminal_ip="$REFUSED_IP" --where end_reason=not_entitled --count)
  check "accounting: not_entitled record for $REFUSED_IP ($n)" "none" test "$n" -ge 1
  n=$(records --where service=web --count)
  check "accounting: records of service web ($n, 60 concurrent and more)" "fewer than 60" test "$n" -ge 60
  n=$(records --where service=video --count)
  check "accounting: records of service video ($n)" "none" test "$n" -ge 1

  # The long download: one user session across the move, all bytes counted.
  local rows ids down
  rows=$(records --where terminal_ip="$TERM_IP" --where terminal_port="$PORT_MOBILITY" \
    --field user_session_id --field bytes_down --field server_ip --field kind)
  ids=$(cut -f1 <<<"$rows" | grep -v '^$' | sort -u)
  check "accounting: the moved download is one user session (${ids//$'\n'/ })" \
    "records: ${rows//$'\n'/; }" test -n "$ids" -a "$(wc -l <<<"$ids")" = 1
  down=$(awk -F'\t' '$4 == "final" { print $2 }' <<<"$rows" | head -1)
  check "accounting: bytes_down of the download ${down:-none} >= $BIG_BYTES" "records: ${rows//$'\n'/; }" \
    test "${down:-0}" -ge "$BIG_BYTES"
  local srv
  srv=$(cut -f3 <<<"$rows" | sort -u | tr '\n' ' ')
  check "accounting: the download stayed on server ${srv}" "client saw ${MOBILITY_SERVER:-?}" \
    test "$srv" = "${MOBILITY_SERVER:-?} "
  # The server saw the same gateway address and port as the record names.
  check "accounting: user session ${ids} is what the server saw (${MOBILITY_CLIENT:-?})" "mismatch" \
    test "$ids" = "${MOBILITY_CLIENT:-?}"

  # The VIP switch: three user sessions of one mobile session.
  local p sids="" line
  for p in "$PORT_VIP_WEB" "$PORT_VIP_VIDEO" "$PORT_VIP_VIDEO_TYPE"; do
    line=$(records --where terminal_ip="$TERM_IP" --where terminal_port="$p" --where kind=final \
      --field session_id --field subscriber --field service --field user_session_type --field server_ip | head -1)
    sids+="$(cut -f1,2 <<<"$line")"$'\n'
    printf '      port %s: %s\n' "$p" "${line:-no record}"
  done
  local distinct
  distinct=$(grep -v '^$' <<<"$sids" | sort -u)
  check "accounting: one session ID for the VIP switch ($(tr '\t\n' '  ' <<<"$distinct"))" \
    "three records with one session ID expected" \
    test "$(grep -c . <<<"$distinct")" = 1 -a "$(grep -c . <<<"$sids")" = 3
  check "accounting: session ID names the terminal $TERM_IP" "subscriber is '$(cut -f2 <<<"$distinct")'" \
    test "$(cut -f2 <<<"$distinct")" = "$TERM_IP"
}

main() {
  local t0=$SECONDS
  prepare
  setup
  log "topology up: $NS_UE ($IF_ACC0 $IF_ACC1), $NS_SRV ($IF_SRV), $NS_EXT ($IF_EXT)"
  scenario_ping
  scenario_concurrent
  scenario_refused
  scenario_mobility
  scenario_session_move
  scenario_vip_switch
  scenario_external
  scenario_external_ping
  scenario_udp
  capture_stats
  scenario_stop
  scenario_accounting
  log "took $((SECONDS - t0)) s; tandem log: $TANDEM_LOG"
  if [ "$FAILED" != 0 ] || [ "${E2E_SHOW_LOG:-0}" = 1 ]; then
    if [ -s "$WORKDIR/ctl-stats.txt" ]; then
      echo "--- tandem ctl stats before the stop"
      cat "$WORKDIR/ctl-stats.txt"
    fi
    echo "--- tandem log (last 40 lines)"
    plain_log "$TANDEM_LOG" | tail -40
  fi
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ]
}

main "$@"
