#!/usr/bin/env bash
# Bitrate limits through the real binary (issue 15, item 1): terminals
# limited to 1, 10, 50 and HIGH_MBIT Mbit/s (both directions) run greedy
# iperf3 TCP transfers through tandem's net_tap ports, up and down (-R);
# and a user-session type (`video`, iperf3 on port 5202) limited to
# 10 Mbit/s down per terminal: an unlimited terminal's video download is
# held to it while its download of another type, at the same time, is not.
# Needs root and iperf3.
#
#   tests/e2e/rate_limits.sh          build (debug) and run
#   TANDEM_BIN=path rate_limits.sh    use that binary (a release build
#                                     carries 50 Mbit/s more easily)
#   E2E_KEEP=1 ...                    keep the temp dir (logs, config)
#   RATE_SECONDS=N                    length of each transfer (default 8)
#   BURST10=kB BURST50=kB             burst_kb of the two limits (default:
#                                     the default burst, 0.5 s of the rate)
#   HIGH_MBIT=N                       the highest limit checked (default
#                                     200, the top of the issue's range)
#   RATE_ATTEMPTS=N                   transfers a check may take to reach
#                                     0.95 R (default 5)
#   ONLY=ceiling                      measure the unlimited path and stop
#
# Checks: each transfer's goodput (what the receiver got, after iperf3's
# first omitted second) is between 0.95 R and 1.0 R; drops are counted as
# bitrate_limited; an unlimited terminal's goodput (the path's ceiling) is
# printed first, and a limit the path cannot carry (the unlimited goodput
# under 1.2 R) is reported, not failed, with the measured ceiling.
# Prints PASS/FAIL/SKIP per check and a last line "N passed, M failed"
# (with "(K not judged ...)" when a limit was over the path's ceiling).
# The limit counts IP bytes, so a steady TCP stream's goodput is at most
# 96.5% of it (1448 payload bytes per 1500-byte packet): 0.95 R leaves
# 1.5 points for TCP's losses to a drop policer. A loss costs the sender
# a retransmission timeout (>= 200 ms), which the default burst (0.5 s of
# the rate) absorbs; on a loaded VM a longer stall now and then pulls one
# transfer under 0.95 R, so a check under it is measured again, up to
# RATE_ATTEMPTS transfers, and every attempt's figure is printed
# (BENCHMARKS.md lists the runs). Over 1.0 R fails at once. On this
# 2-core VM the attempts fall in two groups, 94.0-94.9% (a transfer with
# a stall) and 95.1-98.8%; over four CI runs (44 transfers) about one in
# five was in the low group, and once all three of a check's attempts
# were (94.1, 94.8, 94.9%): hence five.
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
ATTEMPTS=${RATE_ATTEMPTS:-5}
VERDICT=""
SKIPPED=0

SLOW_IP=$TERM_IP    # 10 Mbit/s each way
FAST_IP=$REFUSED_IP # 50 Mbit/s each way
FREE_IP=$UE_A_IP    # no limit: the path's ceiling; and the type check
ONE_IP=10.8.0.101   # 1 Mbit/s each way (added on the terminals' lo)
HIGH_IP=10.8.0.102  # HIGH_MBIT each way
HIGH_MBIT=${HIGH_MBIT:-200}
IPERF_SERVER=${WEB_SERVERS[0]}
IPERF_PORT=5201
VIDEO_PORT=5202 # iperf3 of user-session type `video`
VIDEO_MBIT=10
OTHER_MBIT=30   # what the unlimited type's concurrent download asks for

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
$(iperf_service_entry iperf-video "$VIDEO_PORT")
    ],
    user_session_types: [
        (name: "other"),
        (name: "video", bitrate: (down_mbit: $VIDEO_MBIT)),
    ],
    classify: [
        (proto: Tcp, ports: ($VIDEO_PORT, $VIDEO_PORT), user_session_type: "video"),
    ],
    subscribers: (
        default: Allow,
        entries: [
            (prefix: "$SLOW_IP/32", limits: (bitrate: (up_mbit: 10, down_mbit: 10${BURST10:+, burst_kb: $BURST10}))),
            (prefix: "$FAST_IP/32", limits: (bitrate: (up_mbit: 50, down_mbit: 50${BURST50:+, burst_kb: $BURST50}))),
            (prefix: "$ONE_IP/32", limits: (bitrate: (up_mbit: 1, down_mbit: 1))),
            (prefix: "$HIGH_IP/32", limits: (bitrate: (up_mbit: $HIGH_MBIT, down_mbit: $HIGH_MBIT))),
        ],
    ),
    api: (socket: "$CTL_SOCKET"),
)
EOF
}

prepare() {
  require_root_and iperf3
  tandem_binary
  write_config
  config_accepted "$CONFIG"
}

setup() {
  start_tandem "$CONFIG" "$TANDEM_LOG" "$TANDEM" || setup_failed "tandem did not start"
  topo_build || setup_failed "could not build the namespaces"
  in_ue ip addr add "$ONE_IP/32" dev lo || setup_failed "could not add $ONE_IP"
  in_ue ip addr add "$HIGH_IP/32" dev lo || setup_failed "could not add $HIGH_IP"
  VIDEO_SERVERS=() # not in this config
  topo_servers || setup_failed "servers did not start"
  # ip netns exec execs iperf3, so $! is its own PID.
  local port
  for port in "$IPERF_PORT" "$VIDEO_PORT"; do
    ip netns exec "$NS_SRV" iperf3 -s -B "$IPERF_SERVER" -p "$port" \
      >"$WORKDIR/iperf3-server-$port.log" 2>&1 &
    BG_PIDS+=($!)
  done
  topo_wait_neighbours "$TANDEM_LOG" || setup_failed "tandem did not resolve the servers"
  for port in "$IPERF_PORT" "$VIDEO_PORT"; do
    wait_for 10 ip netns exec "$NS_SRV" bash -c "ss -ltn | grep -q '$IPERF_SERVER:$port'" ||
      setup_failed "iperf3 server on port $port did not start"
  done
}

# Goodput in bit/s of one iperf3 transfer from source $1 ($2: "" or -R;
# $3: the server port, default IPERF_PORT; $4...: more iperf3 options);
# prints the figure, or nothing if iperf3 failed. The output is kept in
# $WORKDIR/iperf-SRC-PORT$2.json.
goodput() {
  local src=$1 dir=$2 port=${3:-$IPERF_PORT}
  shift 3 2>/dev/null || shift $#
  local out="$WORKDIR/iperf-$src-$port$dir.json"
  # shellcheck disable=SC2086
  ip netns exec "$NS_UE" timeout $((SECONDS_EACH + 15)) iperf3 -c "$VIP_WEB" -p "$port" \
    -B "$src" -t "$SECONDS_EACH" -O 1 -J $dir "$@" >"$out" 2>&1 || return 0
  "$PYTHON" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$out" 2>/dev/null
}

# The iperf3 output of the last transfer from $1 ($2: "" or -R; $3: port).
iperf_out() { echo "$WORKDIR/iperf-$1-${3:-$IPERF_PORT}$2.json"; }

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
    fail "ceiling: iperf3 through tandem failed ($(tail -3 "$(iperf_out "$FREE_IP" -R)" | tr '\n' ' '))"
  fi
}

# Percent of $2 that $1 is, with one decimal ("96.4").
pct_of() {
  local p=$(($1 * 1000 / $2))
  echo "$((p / 10)).$((p % 10))"
}

# Judges one goodput figure $2 (bit/s) against limit $3 (bit/s) for check
# $1, given every earlier attempt's percentages in $4 and the path's
# ceiling $5 (bit/s), $6 the attempt. Sets VERDICT to pass, fail or skip
# (and reports it: PASS, FAIL, SKIP) or to again. Over 1.0 R fails at once; under 0.95 R is
# measured again (up to ATTEMPTS times) before it fails, or is reported
# without a verdict when the unlimited path carries less than 1.2 times
# the limit: the path, not the limit, is then what holds it.
judge() {
  local name=$1 g=$2 hi=$3 earlier=$4 ceiling=${5:-0} attempt=$6 p
  p=$(pct_of "$g" "$hi")
  local figures="${earlier:+$earlier, }$p%"
  if [ "$g" -gt "$hi" ]; then
    fail "$name: goodput $g bit/s = $p% of the limit: over it (attempts: $figures)"
    VERDICT=fail
  elif [ "$g" -ge $((hi / 100 * 95)) ]; then
    pass "$name: goodput $g bit/s = $p% of the limit (attempts: $figures)"
    VERDICT=pass
  elif [ "$ceiling" -lt $((hi / 10 * 12)) ]; then
    SKIPPED=$((SKIPPED + 1))
    printf 'SKIP  %s\n' "$name: goodput $g bit/s ($figures), but the unlimited path carries only $ceiling bit/s here (< 1.2 R): not judged"
    VERDICT=skip
  elif [ "$attempt" -ge "$ATTEMPTS" ]; then
    fail "$name: goodput $g bit/s; $ATTEMPTS attempts all under 95% of the limit: $figures"
    VERDICT=fail
  else
    log "$name: $p% of the limit on attempt $attempt"
    VERDICT=again
  fi
}

# One limited transfer: source $1, limit $2 Mbit/s, direction $3 ("" / -R).
# Over the limit fails at once. Under 0.95 R is measured again, up to
# ATTEMPTS transfers in all, before it fails: a policer drop costs a TCP
# sender a retransmission timeout, and on a loaded 2-core VM that stall now
# and then outlasts the burst. Every attempt's figure is printed.
scenario_limit() {
  local src=$1 mbit=$2 dir=$3 name g ceiling hi attempt figures=""
  name="$mbit Mbit/s $([ -z "$dir" ] && echo up || echo down)"
  hi=$((mbit * 1000000))
  ceiling=$([ -z "$dir" ] && echo "$CEILING_UP" || echo "$CEILING_DOWN")
  for ((attempt = 1; attempt <= ATTEMPTS; attempt++)); do
    g=$(goodput "$src" "$dir")
    if [ -z "$g" ]; then
      fail "$name: iperf3 failed ($(tail -3 "$(iperf_out "$src" "$dir")" | tr '\n' ' '))"
      return
    fi
    judge "$name" "$g" "$hi" "$figures" "$ceiling" "$attempt"
    [ "$VERDICT" = again ] || return
    figures="${figures:+$figures, }$(pct_of "$g" "$hi")%"
  done
}

# The `video` type's limit (10 Mbit/s down per terminal) on a terminal
# without a subscriber limit: its video download (port VIDEO_PORT) gets
# 0.95..1.0 of it while its download of another type runs at the same
# time at OTHER_MBIT (iperf3 -b) and gets that, over the video limit.
# Measured again when video is under 0.95 R, like scenario_limit.
scenario_type() {
  local name="type video $VIDEO_MBIT Mbit/s down" g o attempt bg figures=""
  local hi=$((VIDEO_MBIT * 1000000))
  local other_lo=$((OTHER_MBIT * 950000))
  for ((attempt = 1; attempt <= ATTEMPTS; attempt++)); do
    goodput "$FREE_IP" -R "$IPERF_PORT" -b "${OTHER_MBIT}M" >"$WORKDIR/other.bps" &
    bg=$!
    BG_PIDS+=("$bg")
    g=$(goodput "$FREE_IP" -R "$VIDEO_PORT")
    bg_wait "$bg"
    o=$(cat "$WORKDIR/other.bps")
    if [ -z "$g" ] || [ -z "$o" ]; then
      fail "$name: iperf3 failed ($(tail -3 "$(iperf_out "$FREE_IP" -R "$VIDEO_PORT")" | tr '\n' ' '))"
      return
    fi
    if [ "$o" -lt "$other_lo" ]; then
      fail "$name: the same terminal's other type got $o bit/s ($(pct_of "$o" $((OTHER_MBIT * 1000000)))% of the $OTHER_MBIT Mbit/s it asked for): held by video's limit?"
      return
    fi
    judge "$name" "$g" "$hi" "$figures" "$CEILING_DOWN" "$attempt"
    if [ "$VERDICT" != again ]; then
      [ "$VERDICT" = pass ] && pass "type other, same terminal, during the video download: $o bit/s of the $OTHER_MBIT Mbit/s asked for (not held by video's limit)"
      return
    fi
    figures="${figures:+$figures, }$(pct_of "$g" "$hi")%"
  done
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
if [ "${ONLY:-}" != ceiling ]; then
  scenario_limit "$SLOW_IP" 10 ""
  scenario_limit "$SLOW_IP" 10 -R
  scenario_limit "$FAST_IP" 50 ""
  scenario_limit "$FAST_IP" 50 -R
  scenario_limit "$ONE_IP" 1 ""
  scenario_limit "$ONE_IP" 1 -R
  scenario_limit "$HIGH_IP" "$HIGH_MBIT" ""
  scenario_limit "$HIGH_IP" "$HIGH_MBIT" -R
  scenario_type
  scenario_counted
fi
if [ "$FAILED" != 0 ]; then
  echo "--- tandem log (last 30 lines)"
  plain_log "$TANDEM_LOG" | tail -30
fi
if [ "$SKIPPED" = 0 ]; then echo "$PASSED passed, $FAILED failed"; else
  echo "$PASSED passed, $FAILED failed ($SKIPPED not judged: over the path's ceiling)"; fi
[ "$FAILED" = 0 ]
