#!/usr/bin/env bash
# Per-subscriber bitrate limits through the real binary (issue 15, item 1):
# a terminal limited to 10 Mbit/s and one limited to 50 Mbit/s (both
# directions) run greedy iperf3 TCP transfers through tandem's net_tap
# ports, up and down (-R). Needs root and iperf3.
#
#   tests/e2e/rate_limits.sh          build (debug) and run
#   TANDEM_BIN=path rate_limits.sh    use that binary (a release build
#                                     carries 50 Mbit/s more easily)
#   E2E_KEEP=1 ...                    keep the temp dir (logs, config)
#   RATE_SECONDS=N                    length of each transfer (default 8)
#   BURST10=kB BURST50=kB             burst_kb of the two limits (default:
#                                     the default burst, 0.5 s of the rate)
#
# Checks: each transfer's goodput (what the receiver got, after iperf3's
# first omitted second) is between 0.95 R and 1.0 R; drops are counted as
# bitrate_limited; an unlimited terminal's goodput (the path's ceiling) is
# printed first, and a limit the path cannot carry is reported, not
# failed, with the measured ceiling.
# Prints PASS/FAIL per check and a last line "N passed, M failed".
# A drop policer and TCP: a loss costs the sender a retransmission timeout
# (>= 200 ms), which the default burst (0.5 s of the rate) absorbs; on a
# loaded VM a longer stall sometimes pulls one transfer under 0.95 R
# (BENCHMARKS.md lists every run).
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

RUN_ID=$$
NS_UE="q3${RUN_ID}ue"
NS_SRV="q3${RUN_ID}srv"
NS_EXT="q3${RUN_ID}ext"
IF_ACC0="q3${RUN_ID}a0"
IF_ACC1="q3${RUN_ID}a1"
IF_SRV="q3${RUN_ID}s0"
IF_EXT="q3${RUN_ID}e0"
FILE_PREFIX="tdmq3${RUN_ID}"
WORKDIR="$(mktemp -d "/tmp/tandem-q3.${RUN_ID}.XXXXXX")"
CONFIG="$WORKDIR/rates.ron"
TANDEM_LOG="$WORKDIR/tandem.log"
CTL_SOCKET="$WORKDIR/ctl.sock"
SECONDS_EACH=${RATE_SECONDS:-8}

SLOW_IP=$TERM_IP    # 10 Mbit/s each way
FAST_IP=$REFUSED_IP # 50 Mbit/s each way
FREE_IP=$UE_A_IP    # no limit: the path's ceiling
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
        (name: "web", vip: "$VIP_WEB", proto: Tcp, port: 80, servers: [
            (addr: "${WEB_SERVERS[0]}", port: 8080),
            (addr: "${WEB_SERVERS[1]}", port: 8080),
            (addr: "${WEB_SERVERS[2]}", port: 8080),
        ]),
        (name: "iperf", vip: "$VIP_WEB", proto: Tcp, port: $IPERF_PORT, servers: [
            (addr: "$IPERF_SERVER", port: $IPERF_PORT),
        ]),
    ],
    subscribers: (
        default: Allow,
        entries: [
            (prefix: "$SLOW_IP/32", limits: (bitrate: (up_mbit: 10, down_mbit: 10${BURST10:+, burst_kb: $BURST10}))),
            (prefix: "$FAST_IP/32", limits: (bitrate: (up_mbit: 50, down_mbit: 50${BURST50:+, burst_kb: $BURST50}))),
        ],
    ),
    api: (socket: "$CTL_SOCKET"),
)
EOF
}

prepare() {
  [ "$(id -u)" = 0 ] || { log "needs root"; exit 2; }
  command -v iperf3 >/dev/null || { log "needs iperf3"; exit 2; }
  TANDEM=${TANDEM_BIN:-}
  if [ -z "$TANDEM" ]; then
    log "building tandem (debug)"
    (cd "$REPO_ROOT" && cargo build -q -p appliance) || setup_failed "cargo build failed"
    TANDEM="$REPO_ROOT/target/debug/tandem"
  fi
  write_config
  local err
  err=$("$TANDEM" check-config "$CONFIG" 2>&1) || setup_failed "config rejected: $err"
}

setup() {
  start_tandem "$CONFIG" "$TANDEM_LOG" "$TANDEM" || setup_failed "tandem did not start"
  topo_build || setup_failed "could not build the namespaces"
  VIDEO_SERVERS=() # not in this config
  topo_servers || setup_failed "servers did not start"
  # ip netns exec execs iperf3, so $! is its own PID.
  ip netns exec "$NS_SRV" iperf3 -s -B "$IPERF_SERVER" -p "$IPERF_PORT" \
    >"$WORKDIR/iperf3-server.log" 2>&1 &
  BG_PIDS+=($!)
  topo_wait_neighbours "$TANDEM_LOG" || setup_failed "tandem did not resolve the servers"
  wait_for 10 ip netns exec "$NS_SRV" bash -c "ss -ltn | grep -q '$IPERF_SERVER:$IPERF_PORT'" ||
    setup_failed "iperf3 server did not start"
}

# Goodput in bit/s of one iperf3 transfer from source $1 ($2: "" or -R);
# prints the figure, or nothing if iperf3 failed.
goodput() {
  local src=$1 dir=$2 out="$WORKDIR/iperf-$1${2}.json"
  # shellcheck disable=SC2086
  ip netns exec "$NS_UE" timeout $((SECONDS_EACH + 15)) iperf3 -c "$VIP_WEB" -p "$IPERF_PORT" \
    -B "$src" -t "$SECONDS_EACH" -O 1 -J $dir >"$out" 2>&1 || return 0
  "$PYTHON" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$out" 2>/dev/null
}

CEILING_UP=0
CEILING_DOWN=0

# The path's ceiling without a limit, each way.
scenario_ceiling() {
  CEILING_UP=$(goodput "$FREE_IP" "")
  CEILING_DOWN=$(goodput "$FREE_IP" -R)
  log "unlimited terminal: up ${CEILING_UP:-?} bit/s, down ${CEILING_DOWN:-?} bit/s"
  if [ -n "$CEILING_UP" ] && [ -n "$CEILING_DOWN" ]; then
    pass "ceiling: unlimited terminal $FREE_IP: up $((CEILING_UP / 1000000)) Mbit/s, down $((CEILING_DOWN / 1000000)) Mbit/s"
  else
    fail "ceiling: iperf3 through tandem failed ($(tail -3 "$WORKDIR"/iperf-"$FREE_IP"*.json | tr '\n' ' '))"
  fi
}

# One limited transfer: source $1, limit $2 Mbit/s, direction $3 ("" / -R).
# Over the limit fails at once. Under 0.95 R is measured once more before
# it fails: a policer drop costs a TCP sender a retransmission timeout, and
# on a loaded 2-core VM that stall now and then outlasts the burst (every
# figure is printed, the first included).
scenario_limit() {
  local src=$1 mbit=$2 dir=$3 name g ceiling lo hi pct attempt first=""
  name="$mbit Mbit/s $([ -z "$dir" ] && echo up || echo down)"
  lo=$((mbit * 950000))
  hi=$((mbit * 1000000))
  ceiling=$([ -z "$dir" ] && echo "$CEILING_UP" || echo "$CEILING_DOWN")
  for attempt in 1 2; do
    g=$(goodput "$src" "$dir")
    if [ -z "$g" ]; then
      fail "$name: iperf3 failed ($(tail -3 "$WORKDIR/iperf-$src$dir.json" | tr '\n' ' '))"
      return
    fi
    pct=$((g * 1000 / hi))
    if [ "$g" -gt "$hi" ]; then
      fail "$name: goodput $g bit/s = $((pct / 10)).$((pct % 10))% of the limit: over it"
      return
    fi
    if [ "$g" -ge "$lo" ]; then
      pass "$name: goodput $g bit/s = $((pct / 10)).$((pct % 10))% of the limit${first:+ (first run: $first)}"
      return
    fi
    if [ "${ceiling:-0}" -lt "$hi" ]; then
      pass "$name: goodput $g bit/s ($((pct / 10)).$((pct % 10))%), but the unlimited path carries only ${ceiling:-?} bit/s here: not judged"
      return
    fi
    first="$((pct / 10)).$((pct % 10))%"
    log "$name: $first of the limit on attempt $attempt"
  done
  fail "$name: goodput $g bit/s = $((pct / 10)).$((pct % 10))% of the limit twice under 95% (first run: $first)"
}

scenario_counted() {
  local n
  n=$(stat_of drop bitrate_limited)
  if [ "${n:-0}" -ge 1 ]; then pass "drops counted as bitrate_limited ($n)"; else
    fail "bitrate_limited drops = '${n}'"; fi
}

prepare
setup
scenario_ceiling
scenario_limit "$SLOW_IP" 10 ""
scenario_limit "$SLOW_IP" 10 -R
scenario_limit "$FAST_IP" 50 ""
scenario_limit "$FAST_IP" 50 -R
scenario_counted
if [ "$FAILED" != 0 ]; then
  echo "--- tandem log (last 30 lines)"
  plain_log "$TANDEM_LOG" | tail -30
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
