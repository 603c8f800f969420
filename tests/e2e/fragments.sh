#!/usr/bin/env bash
# IPv4 fragments follow their user session (issue 14, item 5): a terminal
# sends a 4000-byte UDP datagram through a VIP; its kernel fragments it at
# the tap's MTU of 1500, tandem translates every piece (the first opens the
# user session, the later ones follow it), the server's kernel reassembles
# it and echoes it, fragmented again on the way back, and the terminal
# gets the whole echo. Then the same with `gateway.fragments:
# (max_datagrams: 0)`: the datagram does not pass and `ip_fragment`
# counts, while a small datagram still does. Needs root, tcpdump and
# python3.
#
#   tests/e2e/fragments.sh          build (debug) and run
#   TANDEM_BIN=path fragments.sh    use that binary
#   E2E_KEEP=1 ...                  keep the temp dir (logs, configs, captures)
#
# Prints PASS/FAIL per check and a last line "N passed, M failed".
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

RUN_ID=$$
NS_UE="fg${RUN_ID}ue"
NS_SRV="fg${RUN_ID}srv"
NS_EXT="fg${RUN_ID}ext"
IF_ACC0="fg${RUN_ID}a0"
IF_ACC1="fg${RUN_ID}a1"
IF_SRV="fg${RUN_ID}s0"
IF_EXT="fg${RUN_ID}e0"
WORKDIR="$(mktemp -d "/tmp/tandem-fg.${RUN_ID}.XXXXXX")"
TANDEM_LOG=""
CTL_SOCKET="$WORKDIR/ctl.sock"

ECHO_SERVER=${WEB_SERVERS[0]}
ECHO_SERVER_PORT=7007
ECHO_PORT=7
SIZE=4000

DPDK_PREFIXES=("tdmfg${RUN_ID}a" "tdmfg${RUN_ID}b")
CTL_SOCKETS=("$CTL_SOCKET")
e2e_traps

# The config of phase $1 (a or b) with `fragments: $2`.
write_config() {
  local phase=$1 fragments=$2
  FILE_PREFIX="tdmfg${RUN_ID}$phase"
  CONFIG="$WORKDIR/fragments-$phase.ron"
  cat >"$CONFIG" <<EOF
(
$(tap_eal_section)
$(tap_one_worker_section | sed "s/user_sessions_per_worker: 4096)/user_sessions_per_worker: 4096, fragments: $fragments)/")
    services: [
        (name: "echo", vip: "$VIP_DNS", proto: Udp, port: $ECHO_PORT, servers: [
            (addr: "$ECHO_SERVER", port: $ECHO_SERVER_PORT),
        ]),
    ],
    api: (socket: "$CTL_SOCKET"),
)
EOF
  grep -q "fragments: $fragments" "$CONFIG" || setup_failed "the gateway line of lib.sh changed"
  config_accepted "$CONFIG"
}

prepare() {
  require_root_and tcpdump
  tandem_binary
}

# Starts tandem on $CONFIG, the namespaces and the echo server.
setup() {
  local phase=$1
  TANDEM_LOG="$WORKDIR/tandem-$phase.log"
  ECHO_LOG="$WORKDIR/echo-$phase.log"
  start_tandem "$CONFIG" "$TANDEM_LOG" "$TANDEM" || setup_failed "tandem did not start"
  topo_build || setup_failed "could not build the namespaces"
  in_ue ip link set dev "$IF_ACC0" mtu 1500 || setup_failed "terminal MTU"
  in_srv ip link set dev "$IF_SRV" mtu 1500 || setup_failed "server MTU"
  ip netns exec "$NS_SRV" "$PYTHON" "$E2E_DIR/udp_echo.py" serve \
    --bind "$ECHO_SERVER:$ECHO_SERVER_PORT" --log "$ECHO_LOG" --ready "$WORKDIR/echo-$phase.ready" \
    >"$WORKDIR/echo-$phase.out" 2>&1 &
  BG_PIDS+=($!)
  wait_for 10 test -e "$WORKDIR/echo-$phase.ready" || setup_failed "echo server did not start: $(cat "$WORKDIR/echo-$phase.out")"
  # Tandem resolves the server by ARP; a small datagram through first.
  wait_for 15 ip netns exec "$NS_UE" "$PYTHON" "$E2E_DIR/udp_echo.py" ask \
    --src "$TERM_IP" --dst "$VIP_DNS:$ECHO_PORT" --size 100 --timeout 0.5 --tries 1 ||
    setup_failed "a small datagram does not pass"
}

# Starts tcpdump in namespace $1 on $2 with filter $3 into $4.
capture() {
  ip netns exec "$1" tcpdump -i "$2" -nn -s 64 -U --immediate-mode -w "$4" "$3" 2>"$4.err" &
  BG_PIDS+=($!)
  CAP_PIDS+=($!)
  wait_for 5 grep -q "listening on" "$4.err" || fail "setup: tcpdump: $(cat "$4.err")"
}
stop_captures() {
  local p
  sleep 0.5
  for p in "${CAP_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
  for p in "${CAP_PIDS[@]}"; do bg_wait "$p"; done
  CAP_PIDS=()
}
count() { tcpdump -r "$1" -nn 2>/dev/null | wc -l; }

# Fragments: offset or MF set.
FRAG="ip[6:2] & 0x3fff != 0"

scenario_followed() {
  local out rc up down got
  CAP_PIDS=()
  capture "$NS_SRV" "$IF_SRV" "udp and $FRAG and src host ${GATEWAY_IPS[0]}" "$WORKDIR/srv.pcap"
  capture "$NS_UE" "$IF_ACC0" "udp and $FRAG and src host $VIP_DNS" "$WORKDIR/ue.pcap"
  out=$(ip netns exec "$NS_UE" "$PYTHON" "$E2E_DIR/udp_echo.py" ask \
    --src "$TERM_IP" --dst "$VIP_DNS:$ECHO_PORT" --size "$SIZE" --timeout 1 --tries 3 2>&1)
  rc=$?
  stop_captures
  check "followed: the terminal gets the whole $SIZE-byte echo ($out)" "exit $rc" test "$rc" = 0
  got=$(grep -c "^got $SIZE .* from ${GATEWAY_IPS[0]}:" "$ECHO_LOG")
  check "followed: the server got the $SIZE-byte datagram whole from the gateway address ($got times)" \
    "$(tr '\n' ' ' <"$ECHO_LOG")" test "$got" -ge 1
  up=$(count "$WORKDIR/srv.pcap")
  down=$(count "$WORKDIR/ue.pcap")
  check "followed: it reached the server in fragments ($up), translated to the gateway address" \
    "no fragments seen" test "$up" -ge 3
  check "followed: the echo reached the terminal in fragments ($down), from the VIP" \
    "no fragments seen" test "$down" -ge 3
  local f
  for f in ip_fragment fragment_no_first fragment_table_full fragment_timeout fragment_short_first; do
    check "followed: no $f drops" "$(stat_of drop "$f")" test "$(stat_of drop "$f")" = 0
  done
}

scenario_not_followed() {
  local out rc got dropped
  out=$(ip netns exec "$NS_UE" "$PYTHON" "$E2E_DIR/udp_echo.py" ask \
    --src "$TERM_IP" --dst "$VIP_DNS:$ECHO_PORT" --size "$SIZE" --timeout 1 --tries 2 2>&1)
  rc=$?
  check "max_datagrams 0: no echo of the $SIZE-byte datagram ($out)" "it passed" test "$rc" = 1
  got=$(grep -c "^got $SIZE " "$ECHO_LOG")
  check "max_datagrams 0: the server never got it ($got)" "it passed" test "$got" = 0
  dropped=$(stat_of drop ip_fragment)
  check "max_datagrams 0: every piece counted ip_fragment ($dropped, 3 a try)" "too few" \
    test "$dropped" -ge 6
  out=$(ip netns exec "$NS_UE" "$PYTHON" "$E2E_DIR/udp_echo.py" ask \
    --src "$TERM_IP" --dst "$VIP_DNS:$ECHO_PORT" --size 1000 --timeout 1 --tries 3 2>&1)
  check "max_datagrams 0: a datagram that fits the MTU still passes ($out)" "it did not" test $? = 0
}

finish_phase() {
  if [ "$FAILED" != 0 ] && [ -n "$TANDEM_LOG" ]; then
    echo "--- tandem log (last 20 lines)"
    plain_log "$TANDEM_LOG" | tail -20
  fi
  lib_cleanup
}

prepare
write_config a "(max_datagrams: 64, timeout_ms: 2000)"
setup a
scenario_followed
finish_phase
write_config b "(max_datagrams: 0)"
setup b
scenario_not_followed
finish_phase
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
