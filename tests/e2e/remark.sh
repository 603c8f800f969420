#!/usr/bin/env bash
# Bitrate limits that re-mark instead of drop (issue 15, item 1): a
# terminal limited to 10 Mbit/s each way whose iperf3 traffic is of a
# user-session type with `over_limit_dscp: Some(8)`. A greedy iperf3 TCP
# download through tandem's net_tap ports is then not held to 10 Mbit/s:
# what exceeds the limit arrives re-marked to DSCP 8 (CS1), what conforms
# keeps DSCP 0. Needs root, iperf3, tcpdump and tshark.
#
#   tests/e2e/remark.sh          build (debug) and run
#   TANDEM_BIN=path remark.sh    use that binary
#   E2E_KEEP=1 ...               keep the temp dir (logs, config, capture)
#
# Checks: the download's goodput is well over the limit (nothing dropped);
# the terminal's capture shows data segments with DSCP 8 and with DSCP 0;
# tandem counts bitrate_remarked and no bitrate_limited drops.
# Prints PASS/FAIL per check and a last line "N passed, M failed".
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

RUN_ID=$$
NS_UE="rm${RUN_ID}ue"
NS_SRV="rm${RUN_ID}srv"
NS_EXT="rm${RUN_ID}ext"
IF_ACC0="rm${RUN_ID}a0"
IF_ACC1="rm${RUN_ID}a1"
IF_SRV="rm${RUN_ID}s0"
IF_EXT="rm${RUN_ID}e0"
FILE_PREFIX="tdmrm${RUN_ID}"
WORKDIR="$(mktemp -d "/tmp/tandem-rm.${RUN_ID}.XXXXXX")"
CONFIG="$WORKDIR/remark.ron"
TANDEM_LOG="$WORKDIR/tandem.log"
CTL_SOCKET="$WORKDIR/ctl.sock"

LIMITED_IP=$TERM_IP
LIMIT_MBIT=10
LOW_DSCP=8
IPERF_SERVER=${WEB_SERVERS[0]}
IPERF_PORT=5201

DPDK_PREFIXES=("$FILE_PREFIX")
e2e_traps

write_config() {
  cat >"$CONFIG" <<EOF
(
$(tap_eal_section)
$(tap_one_worker_section)
    services: [
$(web_service_entry)
$(iperf_service_entry iperf "$IPERF_PORT")
    ],
    user_session_types: [
        (name: "other"),
        (name: "bulk", over_limit_dscp: Some($LOW_DSCP)),
    ],
    classify: [
        (proto: Tcp, ports: ($IPERF_PORT, $IPERF_PORT), user_session_type: "bulk"),
    ],
    subscribers: (
        default: Allow,
        entries: [
            (prefix: "$LIMITED_IP/32", limits: (bitrate: (up_mbit: $LIMIT_MBIT, down_mbit: $LIMIT_MBIT))),
        ],
    ),
    api: (socket: "$CTL_SOCKET"),
)
EOF
}

prepare() {
  require_root_and iperf3 tcpdump tshark
  tandem_binary
  write_config
  config_accepted "$CONFIG"
}

setup() {
  start_tandem "$CONFIG" "$TANDEM_LOG" "$TANDEM" || setup_failed "tandem did not start"
  topo_build || setup_failed "could not build the namespaces"
  VIDEO_SERVERS=() # not in this config
  topo_servers || setup_failed "servers did not start"
  ip netns exec "$NS_SRV" iperf3 -s -B "$IPERF_SERVER" -p "$IPERF_PORT" \
    >"$WORKDIR/iperf3-server.log" 2>&1 &
  BG_PIDS+=($!)
  topo_wait_neighbours "$TANDEM_LOG" || setup_failed "tandem did not resolve the servers"
  wait_for 10 ip netns exec "$NS_SRV" bash -c "ss -ltn | grep -q '$IPERF_SERVER:$IPERF_PORT'" ||
    setup_failed "iperf3 server did not start"
}

scenario_remark() {
  local cap="$WORKDIR/ue.pcap" cap_pid out g dscps low zero remarked limited
  # Headers only: the download's segments toward the terminal.
  ip netns exec "$NS_UE" tcpdump -i "$IF_ACC0" -nn -s 64 -U -w "$cap" \
    "tcp and src port $IPERF_PORT and dst host $LIMITED_IP" 2>"$cap.err" &
  cap_pid=$!
  BG_PIDS+=("$cap_pid")
  wait_for 5 grep -q "listening on" "$cap.err" || { fail "setup: tcpdump: $(cat "$cap.err")"; return; }
  out="$WORKDIR/iperf.json"
  ip netns exec "$NS_UE" timeout 20 iperf3 -c "$VIP_WEB" -p "$IPERF_PORT" -B "$LIMITED_IP" \
    -t 3 -O 1 -J -R >"$out" 2>&1
  sleep 0.5
  kill -INT "$cap_pid" 2>/dev/null
  wait "$cap_pid" 2>/dev/null
  g=$("$PYTHON" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$out" 2>/dev/null)
  if [ -z "$g" ]; then
    fail "remark: iperf3 failed ($(tail -3 "$out" | tr '\n' ' '))"
  else
    check "remark: goodput $g bit/s, over 1.5 x the $LIMIT_MBIT Mbit/s limit (the excess is forwarded)" \
      "held to the limit" test "$g" -gt $((LIMIT_MBIT * 1500000))
  fi
  dscps=$(tshark -r "$cap" -T fields -e ip.dsfield.dscp 2>/dev/null | sort -n | uniq -c)
  log "DSCP of the download's segments (count dscp): $(tr '\n' ' ' <<<"$dscps")"
  low=$(awk -v d="$LOW_DSCP" '$2 == d { print $1 }' <<<"$dscps")
  zero=$(awk '$2 == 0 { print $1 }' <<<"$dscps")
  check "remark: segments over the limit arrive with DSCP $LOW_DSCP (${low:-0})" "none" \
    test "${low:-0}" -gt 0
  check "remark: segments within the limit keep DSCP 0 (${zero:-0})" "none" \
    test "${zero:-0}" -gt 0
  remarked=$(stat_of worker bitrate_remarked)
  limited=$(stat_of drop bitrate_limited)
  check "remark: counted as bitrate_remarked ($remarked), none dropped bitrate_limited ($limited)" \
    "counters wrong" test "${remarked:-0}" -gt 0 -a "${limited:-1}" = 0
}

prepare
setup
scenario_remark
if [ "$FAILED" != 0 ]; then
  echo "--- tandem log (last 30 lines)"
  plain_log "$TANDEM_LOG" | tail -30
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
