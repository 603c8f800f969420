#!/usr/bin/env bash
# SYN flood defence through the real binary: a flood of SYNs from 20,000
# spoofed terminal addresses (tests/e2e/syn_flood.py, raw frames into the
# access tap) against the web VIP, while a legitimate terminal opens ten
# connections with curl. Tandem runs twice on the laptop config with small
# user-session tables (1000 per worker):
#
#   1. web without the SYN proxy: the flood fills the tables and the
#      terminal's connections fail (shows the test can fail);
#   2. web with `syn_proxy: Auto` (fill 80 %): at least 9 of 10 connections
#      succeed, they were opened from cookies, and a 20 MB download through
#      a proxied connection arrives whole.
#
#   tests/e2e/syn_flood.sh           build (debug) and run
#   TANDEM_BIN=path syn_flood.sh     use that binary
#   E2E_KEEP=1 syn_flood.sh          keep the temp dir
#
# Prints PASS/FAIL per check and a last line "N passed, M failed"; exits
# non-zero if anything failed. Needs root. About 60 s.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

RUN_ID=$$
NS_UE="h4sf${RUN_ID}ue"
NS_SRV="h4sf${RUN_ID}srv"
NS_EXT="h4sf${RUN_ID}ext"
IF_ACC0="h4${RUN_ID}a0"
IF_ACC1="h4${RUN_ID}a1"
IF_SRV="h4${RUN_ID}s0"
IF_EXT="h4${RUN_ID}e0"
WORKDIR="$(mktemp -d "/tmp/tandem-synflood.${RUN_ID}.XXXXXX")"
TANDEM_LOG=""
FILE_PREFIX=""

TABLE_PER_WORKER=1000
FLOOD_SOURCES=20000
FLOOD_RATE=${E2E_FLOOD_RATE:-2000}
FLOOD_S=12
LEGIT_CONNECTIONS=10
BIG_BYTES=20000000

DPDK_PREFIXES=("h4sf${RUN_ID}a" "h4sf${RUN_ID}b")
CTL_SOCKETS=("/run/tandem/h4sf${RUN_ID}a.sock" "/run/tandem/h4sf${RUN_ID}b.sock")
e2e_traps

# The laptop config with this run's names and small tables; $2 = "proxy"
# turns the SYN proxy on (Auto) for the web service.
make_config() {
  local phase=$1 mode=$2 out="$WORKDIR/$1.ron"
  local extra=()
  if [ "$mode" = proxy ]; then
    extra=(-e 's/^\( *\)name: "web",/&\n\1syn_proxy: Auto,/'
      -e 's/^    services: \[/    syn_proxy: (fill_percent: 80),\n&/')
  fi
  sed -e "s/\"net_tap\([0-9]\),iface=tdm-acc0\"/\"net_tap\1,iface=$IF_ACC0\"/" \
    -e "s/\"net_tap\([0-9]\),iface=tdm-acc1\"/\"net_tap\1,iface=$IF_ACC1\"/" \
    -e "s/\"net_tap\([0-9]\),iface=tdm-srv0\"/\"net_tap\1,iface=$IF_SRV\"/" \
    -e "s/\"net_tap\([0-9]\),iface=tdm-ext0\"/\"net_tap\1,iface=$IF_EXT\"/" \
    -e "s/file_prefix: \"[^\"]*\"/file_prefix: \"h4sf${RUN_ID}$phase\"/" \
    -e "s#path: \"/tmp/tandem-accounting.jsonl\"#path: \"$WORKDIR/acct-$phase.jsonl\"#" \
    -e "s/user_sessions_per_worker: [0-9]*/user_sessions_per_worker: $TABLE_PER_WORKER/" \
    "${extra[@]}" "$REPO_ROOT/conf/laptop.ron" >"$out"
  local want
  for want in "iface=$IF_ACC0\"" "iface=$IF_SRV\"" "user_sessions_per_worker: $TABLE_PER_WORKER"; do
    grep -qF "$want" "$out" || setup_failed "conf/laptop.ron changed shape: could not set $want"
  done
  if [ "$mode" = proxy ]; then
    grep -qF "syn_proxy: Auto" "$out" || setup_failed "could not turn the SYN proxy on"
  fi
  local err
  err=$("$TANDEM" check-config "$out" 2>&1) || setup_failed "generated config rejected: $err"
}

# Sum of one counter over the workers, from `tandem ctl --json workers`.
worker_sum() {
  "$TANDEM" ctl --socket "/run/tandem/$FILE_PREFIX.sock" --json workers 2>/dev/null |
    "$PYTHON" -c '
import json, sys
def walk(v, k):
    if isinstance(v, dict):
        return (v.get(k, 0) if isinstance(v.get(k, 0), int) else 0) + sum(walk(x, k) for x in v.values() if isinstance(x, (dict, list)))
    if isinstance(v, list):
        return sum(walk(x, k) for x in v)
    return 0
print(walk(json.load(sys.stdin), sys.argv[1]))' "$1"
}

# A drop reason's count summed over workers.
drops_of() {
  "$TANDEM" ctl --socket "/run/tandem/$FILE_PREFIX.sock" --json workers 2>/dev/null |
    "$PYTHON" -c '
import json, sys
def walk(v, r):
    if isinstance(v, dict):
        return sum(walk(x, r) for x in v.values())
    if isinstance(v, list):
        if len(v) == 2 and v[0] == r and isinstance(v[1], int):
            return v[1]
        return sum(walk(x, r) for x in v)
    return 0
print(walk(json.load(sys.stdin), sys.argv[1]))' "$1"
}

# Runs one phase: tandem with config $2, the flood, ten legitimate
# connections (and, when $1 is "proxy", the big download). Sets LEGIT_OK,
# BIG_SIZE and the counters below.
run_phase() {
  local phase=$1 config=$2 d="$WORKDIR/$1"
  mkdir -p "$d"
  FILE_PREFIX="h4sf${RUN_ID}$phase"
  TANDEM_LOG="$WORKDIR/tandem-$phase.log"
  start_tandem "$config" "$TANDEM_LOG" "$TANDEM" || setup_failed "$phase: tandem did not start"
  topo_build || setup_failed "$phase: could not build the namespaces"
  topo_servers || setup_failed "$phase: servers did not start"
  topo_wait_neighbours "$TANDEM_LOG" || setup_failed "$phase: tandem did not resolve the servers"
  in_ue curl -sS -m 5 -o /dev/null "http://$VIP_WEB/" || setup_failed "$phase: no answer before the flood"
  local mac
  mac=$(in_ue ip neigh show "$ACC0_GW" dev "$IF_ACC0" | grep -o 'lladdr [0-9a-f:]*' | cut -d' ' -f2)
  [ -n "$mac" ] || setup_failed "$phase: no neighbour entry for $ACC0_GW"

  log "$phase: flooding $FLOOD_SOURCES sources at $FLOOD_RATE SYN/s for $FLOOD_S s"
  bg_client ip netns exec "$NS_UE" "$PYTHON" "$HERE/syn_flood.py" --iface "$IF_ACC0" \
    --dst-mac "$mac" --vip "$VIP_WEB" --port 80 --prefix 10.8.0.0/16 \
    --exclude "$TERM_IP" --exclude "$REFUSED_IP" --sources "$FLOOD_SOURCES" \
    --rate "$FLOOD_RATE" --seconds "$FLOOD_S" >"$d/flood.out" 2>&1
  local flood=$LAST_PID
  sleep 3

  local valid_before i pids=()
  valid_before=$(worker_sum syn_cookies_valid)
  for ((i = 1; i <= LEGIT_CONNECTIONS; i++)); do
    bg_client ip netns exec "$NS_UE" curl -sS -m 4 -o "$d/$i.body" -w '%{http_code}' \
      "http://$VIP_WEB/" >"$d/$i.code" 2>"$d/$i.err"
    pids+=("$LAST_PID")
  done
  LEGIT_OK=0
  for ((i = 1; i <= LEGIT_CONNECTIONS; i++)); do
    if bg_wait "${pids[$((i - 1))]}" && [ "$(cat "$d/$i.code")" = 200 ] && grep -q "^server=" "$d/$i.body"; then
      LEGIT_OK=$((LEGIT_OK + 1))
    fi
  done
  LEGIT_FROM_COOKIES=$(($(worker_sum syn_cookies_valid) - valid_before))

  BIG_SIZE=0
  BIG_PROXIED=0
  if [ "$phase" = b ]; then
    local opened_before
    opened_before=$(worker_sum syn_proxy_opened)
    in_ue curl -sS -m 40 -o "$d/big" "http://$VIP_WEB/big?n=$BIG_BYTES" 2>"$d/big.err"
    BIG_SIZE=$(stat -c %s "$d/big" 2>/dev/null || echo 0)
    BIG_PROXIED=$(($(worker_sum syn_proxy_opened) - opened_before))
  fi

  bg_wait "$flood"
  FLOOD_OUT=$(cat "$d/flood.out")
  COOKIES_SENT=$(worker_sum syn_cookies_sent)
  TABLE_FULL=$(drops_of table_full)
  BAD_COOKIES=$(drops_of syn_cookie_invalid)
  PENDING=$(drops_of syn_proxy_pending)
  stop_tandem 20
  lib_cleanup
}

if [ "$(id -u)" != 0 ]; then
  log "needs root (network namespaces, taps, DPDK)"
  exit 2
fi
tandem_binary
make_config a off
make_config b proxy
CONFIG_A="$WORKDIR/a.ron"
CONFIG_B="$WORKDIR/b.ron"

# 1. No proxy: the flood takes the tables.
run_phase a "$CONFIG_A"
log "without proxy: $LEGIT_OK of $LEGIT_CONNECTIONS, table_full drops $TABLE_FULL; $FLOOD_OUT"
if [ "$LEGIT_OK" -lt 9 ] && [ "$TABLE_FULL" -gt 0 ]; then
  pass "without the SYN proxy the flood fills the tables: $LEGIT_OK of $LEGIT_CONNECTIONS legitimate connections, $TABLE_FULL table_full drops"
else
  fail "without the SYN proxy the flood should hurt: $LEGIT_OK of $LEGIT_CONNECTIONS succeeded, $TABLE_FULL table_full drops (flood too weak?)"
fi

# 2. Proxy in Auto mode.
run_phase b "$CONFIG_B"
log "with proxy: $LEGIT_OK of $LEGIT_CONNECTIONS ($LEGIT_FROM_COOKIES from cookies), cookies sent $COOKIES_SENT, table_full $TABLE_FULL, syn_cookie_invalid $BAD_COOKIES, syn_proxy_pending $PENDING; $FLOOD_OUT"
if [ "$LEGIT_OK" -ge 9 ]; then
  pass "with syn_proxy Auto: $LEGIT_OK of $LEGIT_CONNECTIONS legitimate connections succeed during the flood"
else
  fail "with syn_proxy Auto: only $LEGIT_OK of $LEGIT_CONNECTIONS legitimate connections succeeded"
fi
if [ "$LEGIT_FROM_COOKIES" -ge 9 ] && [ "$COOKIES_SENT" -gt 1000 ]; then
  pass "the proxy was active: $COOKIES_SENT cookie SYN-ACKs sent, $LEGIT_FROM_COOKIES legitimate connections opened from cookies"
else
  fail "the proxy should have answered the flood: $COOKIES_SENT cookies sent, $LEGIT_FROM_COOKIES legitimate connections from cookies"
fi
if [ "$BIG_SIZE" = "$BIG_BYTES" ] && [ "$BIG_PROXIED" -ge 1 ]; then
  pass "a $BIG_BYTES-byte download through a proxied (spliced) connection arrives whole"
else
  fail "download through a proxied connection: $BIG_SIZE of $BIG_BYTES bytes, proxied=$BIG_PROXIED ($(cat "$WORKDIR/b/big.err" 2>/dev/null))"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
