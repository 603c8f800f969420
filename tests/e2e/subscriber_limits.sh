#!/usr/bin/env bash
# Hardening through the real binary (issue 13, problems 6 and 7): terminals,
# servers and an outside host in network namespaces around tandem's net_tap
# ports, real clients (curl) and hostile frames (scapy). Needs root.
#
#   tests/e2e/subscriber_limits.sh          build (debug) and run
#   TANDEM_BIN=path subscriber_limits.sh    use that binary
#   E2E_KEEP=1 ...                          keep the temp dir (logs, config)
#
# Checks: (a) a subscriber limited to 5 live user sessions gets exactly 5
# concurrent connections and the 6th is reset at once, while another
# subscriber is not limited; (b) a SYN flood from random sources leaves the
# traffic-learned pins at or below steering.learned_pins_max; (c) a frame
# from a source outside an access port's allowed_sources is dropped and
# counted; (d) ARP from another host on the server network claiming the
# servers' addresses does not blackhole them, and is counted.
# Prints PASS/FAIL per check and a last line "N passed, M failed".
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

RUN_ID=$$
NS_UE="h3${RUN_ID}ue"
NS_SRV="h3${RUN_ID}srv"
NS_EXT="h3${RUN_ID}ext"
IF_ACC0="h3${RUN_ID}a0"
IF_ACC1="h3${RUN_ID}a1"
IF_SRV="h3${RUN_ID}s0"
IF_EXT="h3${RUN_ID}e0"
FILE_PREFIX="tdmh3${RUN_ID}"
WORKDIR="$(mktemp -d "/tmp/tandem-h3.${RUN_ID}.XXXXXX")"
CONFIG="$WORKDIR/limits.ron"
TANDEM_LOG="$WORKDIR/tandem.log"
CTL_SOCKET="$WORKDIR/ctl.sock"
SCAPY_PY=${SCAPY_PYTHON:-/usr/bin/python3}

LIMITED_IP=$TERM_IP  # max 5 live user sessions
OTHER_IP=$REFUSED_IP # no entry: default (no limits)
PIN_CAP=40
EVIL_MAC=02:de:ad:be:ef:01

DPDK_PREFIXES=("$FILE_PREFIX")
e2e_traps


write_config() {
  cat >"$CONFIG" <<EOF
(
$(tap_eal_section)
    ports: [
        // acc0 lets in only the terminals' prefixes (anti-spoofing).
        (name: "acc0", device: "net_tap0", role: Access, addresses: ["$ACC0_GW/24"], rx_queues: 2,
         allowed_sources: ["10.8.0.0/24", "10.1.0.0/24"]),
        (name: "acc1", device: "net_tap1", role: Access, addresses: ["$ACC1_GW/24"], rx_queues: 2),
        (name: "srv0", device: "net_tap2", role: Server, addresses: ["10.2.0.1/24"], rx_queues: 2),
        (name: "ext0", device: "net_tap3", role: External, addresses: ["$EXT_GW/24"], rx_queues: 2),
    ],
    workers: [
        (lcore: 1, poll: [
            (port: "acc0", queue: 0), (port: "acc1", queue: 0), (port: "srv0", queue: 0), (port: "ext0", queue: 0),
            (port: "acc0", queue: 1), (port: "acc1", queue: 1), (port: "srv0", queue: 1), (port: "ext0", queue: 1),
        ]),
    ],
    mempool: (mbufs: 32767),
    idle: (busy_poll: false, max_sleep_us: 500),
    gateway: (addresses: ["${GATEWAY_IPS[0]}"], port_range: (1024, 65535), user_sessions_per_worker: 16384),
    steering: (key: SourceIp, learned_pins_max: $PIN_CAP),
    services: [
$(web_service_entry)
    ],
    subscribers: (
        default: Allow,
        entries: [
            (prefix: "$LIMITED_IP/32", limits: (max_user_sessions: 5)),
        ],
    ),
    api: (socket: "$CTL_SOCKET"),
)
EOF
}

prepare() {
  require_root_and curl
  "$SCAPY_PY" -c 'import scapy.all' 2>/dev/null || { log "needs scapy for $SCAPY_PY"; exit 2; }
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
}

# (a) Five connections held open by the server, a sixth refused at once;
# another subscriber opens eight at the same time.
scenario_live_cap() {
  local d="$WORKDIR/cap" i pids=() other=()
  mkdir -p "$d"
  for ((i = 1; i <= 5; i++)); do
    bg_client ip netns exec "$NS_UE" curl -sS -m 15 --interface "$LIMITED_IP" -o /dev/null \
      -w '%{http_code}' "http://$VIP_WEB/?delay_ms=3000" >"$d/$i.code" 2>"$d/$i.err"
    pids+=("$LAST_PID")
  done
  for ((i = 1; i <= 8; i++)); do
    bg_client ip netns exec "$NS_UE" curl -sS -m 15 --interface "$OTHER_IP" -o /dev/null \
      -w '%{http_code}' "http://$VIP_WEB/?delay_ms=3000" >"$d/o$i.code" 2>"$d/o$i.err"
    other+=("$LAST_PID")
  done
  sleep 1
  local rc=0 start end ms err
  start=$(date +%s%N)
  err=$(ip netns exec "$NS_UE" curl -sS -m 5 --interface "$LIMITED_IP" -o /dev/null "http://$VIP_WEB/" 2>&1) || rc=$?
  end=$(date +%s%N)
  ms=$(((end - start) / 1000000))
  if { [ "$rc" = 7 ] || [ "$rc" = 56 ]; } && [ "$ms" -lt 2000 ]; then
    pass "limits: 6th connection of $LIMITED_IP reset in ${ms} ms (curl $rc)"
  else
    fail "limits: 6th connection of $LIMITED_IP: curl exit $rc after ${ms} ms ($err); want a reset within 2 s"
  fi
  local ok=0 ok_other=0
  for ((i = 1; i <= 5; i++)); do
    bg_wait "${pids[$((i - 1))]}" && [ "$(cat "$d/$i.code")" = 200 ] && ok=$((ok + 1))
  done
  for ((i = 1; i <= 8; i++)); do
    bg_wait "${other[$((i - 1))]}" && [ "$(cat "$d/o$i.code")" = 200 ] && ok_other=$((ok_other + 1))
  done
  if [ "$ok" = 5 ]; then pass "limits: 5 of 5 held connections of $LIMITED_IP answered"; else
    fail "limits: $ok of 5 held connections answered ($(cat "$d"/*.err | head -3 | tr '\n' ' '))"; fi
  if [ "$ok_other" = 8 ]; then pass "limits: other subscriber $OTHER_IP: 8 of 8 concurrent answered"; else
    fail "limits: other subscriber: $ok_other of 8 answered"; fi
  local n
  n=$(stat_of drop subscriber_limit)
  if [ "${n:-0}" -ge 1 ]; then pass "limits: subscriber_limit drops counted ($n)"; else
    fail "limits: subscriber_limit drops = '${n}'"; fi
}

# (b) A SYN flood from random sources on acc1 (no anti-spoofing there).
scenario_pin_cap() {
  local mac n
  mac=$(stat_of port-mac acc1)
  ip netns exec "$NS_UE" "$SCAPY_PY" "$HERE/hostile.py" syn-flood "$IF_ACC1" "$mac" "$VIP_WEB" 2000 ||
    { fail "pins: scapy flood failed"; return; }
  sleep 1
  n=$(ctl --json sessions | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)))')
  local refused
  refused=$(stat_of session pins_refused)
  if [ "${n:-99999}" -le "$PIN_CAP" ] && [ "${refused:-0}" -ge 1 ]; then
    pass "pins: $n pinned sessions after 2000 spoofed SYNs (cap $PIN_CAP, $refused refused)"
  else
    fail "pins: $n pinned sessions after 2000 spoofed SYNs (cap $PIN_CAP, refused '$refused')"
  fi
}

# (c) A source outside acc0's allowed_sources.
scenario_spoof() {
  local mac before after
  mac=$(stat_of port-mac acc0)
  before=$(stat_of drop source_not_allowed)
  ip netns exec "$NS_UE" "$SCAPY_PY" "$HERE/hostile.py" spoofed "$IF_ACC0" "$mac" 192.0.2.7 "$VIP_WEB" 5 ||
    { fail "anti-spoofing: scapy failed"; return; }
  sleep 0.5
  after=$(stat_of drop source_not_allowed)
  if [ "$((after - before))" = 5 ]; then
    pass "anti-spoofing: 5 frames from 192.0.2.7 on acc0 dropped source_not_allowed"
  else
    fail "anti-spoofing: source_not_allowed went $before -> $after, want +5"
  fi
  # An allowed terminal on the same port still gets through.
  local code
  code=$(ip netns exec "$NS_UE" curl -sS -m 5 --interface "$OTHER_IP" -o /dev/null -w '%{http_code}' "http://$VIP_WEB/" 2>&1)
  if [ "$code" = 200 ]; then pass "anti-spoofing: allowed terminal $OTHER_IP still served"; else
    fail "anti-spoofing: allowed terminal got '$code'"; fi
}

# (d) Another "host" on the server network claims every web server's
# address with its own MAC, three ways, for about a second.
scenario_arp_poison() {
  ip netns exec "$NS_SRV" "$SCAPY_PY" "$HERE/hostile.py" arp-poison "$IF_SRV" "$EVIL_MAC" 10.2.0.1 15 \
    "${WEB_SERVERS[@]}" || { fail "arp: scapy failed"; return; }
  sleep 1.5
  local i ok=0 code
  for ((i = 1; i <= 6; i++)); do
    code=$(ip netns exec "$NS_UE" curl -sS -m 3 --interface "$OTHER_IP" -o /dev/null -w '%{http_code}' "http://$VIP_WEB/" 2>&1)
    [ "$code" = 200 ] && ok=$((ok + 1))
  done
  if [ "$ok" = 6 ]; then pass "arp: after the poisoning 6 of 6 requests through the VIP answered"; else
    fail "arp: after the poisoning only $ok of 6 requests answered"; fi
  local refused unsolicited
  refused=$(stat_of neighbours neighbour_changes_refused)
  unsolicited=$(stat_of drop arp_unsolicited)
  if [ "${refused:-0}" -ge 1 ] && [ "${unsolicited:-0}" -ge 1 ]; then
    pass "arp: counted ($refused changes refused, $unsolicited arp_unsolicited drops)"
  else
    fail "arp: neighbour_changes_refused='$refused' arp_unsolicited='$unsolicited'"
  fi
}

prepare
setup
scenario_live_cap
scenario_pin_cap
scenario_spoof
scenario_arp_poison
if [ "$FAILED" != 0 ]; then
  echo "--- tandem log (last 30 lines)"
  plain_log "$TANDEM_LOG" | tail -30
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
