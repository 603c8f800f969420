#!/usr/bin/env bash
# Usage quotas through the real binary (issue 15, item 2): real clients
# (curl, iperf3) through tandem's net_tap ports. Needs root, curl, iperf3,
# tcpdump and tshark.
#
#   tests/e2e/quotas.sh          build (debug) and run
#   TANDEM_BIN=path quotas.sh    use that binary
#   E2E_KEEP=1 ...               keep the temp dir (logs, config, records,
#                                the IPFIX capture)
#
# One terminal has a 2 MB quota (threshold at 50%, Block), one a 1 MB quota
# that throttles to 5 Mbit/s each way, a third none. Checks: downloads of
# the blocked terminal go through until the quota is used up, then the
# next connection is refused (reset, drop reason quota_exhausted);
# `ctl usage` shows the bytes within the stated accuracy of what the
# downloads carried; the threshold and exhaustion records are in the JSON
# accounting and, decoded by tshark, in the IPFIX export; bad `ctl quota`
# requests fail and change nothing; a reload keeps the counted usage;
# `ctl quota grant` lets traffic through again and `ctl quota reset` starts
# over; a download running when the quota runs out is reset on both sides
# (curl gets a reset, the server keeps no connection) and the overshoot is
# printed and bounded; the throttled terminal's iperf3 download runs at about the
# throttle rate (loose bound); the quota metrics count it all.
# Prints PASS/FAIL per check and a last line "N passed, M failed".
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

RUN_ID=$$
NS_UE="qo${RUN_ID}ue"
NS_SRV="qo${RUN_ID}srv"
NS_EXT="qo${RUN_ID}ext"
IF_ACC0="qo${RUN_ID}a0"
IF_ACC1="qo${RUN_ID}a1"
IF_SRV="qo${RUN_ID}s0"
IF_EXT="qo${RUN_ID}e0"
FILE_PREFIX="tdmqo${RUN_ID}"
WORKDIR="$(mktemp -d "/tmp/tandem-qo.${RUN_ID}.XXXXXX")"
CONFIG="$WORKDIR/quotas.ron"
TANDEM_LOG="$WORKDIR/tandem.log"
CTL_SOCKET="$WORKDIR/ctl.sock"
ACCOUNTING="$WORKDIR/accounting.jsonl"
IPFIX_PORT=$((20000 + RUN_ID % 20000))
IPFIX_PCAP="$WORKDIR/ipfix.pcap"

QUOTA_IP=$TERM_IP       # 2 MB, threshold 50%, Block
THROTTLE_IP=$REFUSED_IP # 1 MB, then Throttle(5, 5)
QUOTA_BYTES=2000000
THROTTLE_MBIT=5
# What may pass after the quota is used up before the block takes effect
# (docs/configuration.md): 0.35 s of the subscriber's traffic. A debug
# build on a loopback tap moves about 20 MB/s, so allow 10 MB here; the
# figures are printed.
SLACK_BYTES=10000000
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
    subscribers: (
        default: Allow,
        entries: [
            (prefix: "$QUOTA_IP/32", limits: (quota: (bytes: $QUOTA_BYTES, period_s: 86400,
                thresholds: [50], on_exhausted: Block))),
            (prefix: "$THROTTLE_IP/32", limits: (quota: (bytes: 1000000,
                on_exhausted: Throttle($THROTTLE_MBIT, $THROTTLE_MBIT)))),
        ],
    ),
    accounting: (
        json: (path: "$ACCOUNTING"),
        ipfix: (collector: "127.0.0.1:$IPFIX_PORT", template_refresh_s: 5),
    ),
    api: (socket: "$CTL_SOCKET"),
)
EOF
}

prepare() {
  require_root_and curl iperf3 tcpdump tshark
  tandem_binary
  write_config
  config_accepted "$CONFIG"
}

setup() {
  # The IPFIX collector: a UDP socket that takes the messages (so the
  # exporter's sends are not refused) while tcpdump keeps them for tshark.
  "$PYTHON" -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    s.recv(65535)' "$IPFIX_PORT" >/dev/null 2>&1 &
  BG_PIDS+=($!)
  tcpdump -i lo -U -n -w "$IPFIX_PCAP" "udp port $IPFIX_PORT" >"$WORKDIR/tcpdump.log" 2>&1 &
  BG_PIDS+=($!)
  wait_for 5 grep -q "listening" "$WORKDIR/tcpdump.log" || setup_failed "tcpdump did not start"
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

# Downloads $2 bytes from the web VIP as terminal $1; prints curl's exit
# status and the body bytes received ("RC BYTES").
download() {
  local src=$1 n=$2 out rc=0
  out=$(ip netns exec "$NS_UE" curl -sS -m 10 --interface "$src" -o /dev/null \
    -w '%{size_download}' "http://$VIP_WEB/big?n=$n" 2>/dev/null) || rc=$?
  echo "$rc ${out:-0}"
}

# One field of `ctl --json usage SUBSCRIBER` ("" if none).
usage_of() {
  ctl --json usage "$1" 2>/dev/null | "$PYTHON" -c '
import json, sys
rows = json.load(sys.stdin)
v = rows[0].get(sys.argv[1]) if rows else None
print("" if v is None else v)' "$2"
}

# Records of the JSON accounting matching KEY=VALUE filters.
records() { "$PYTHON" "$E2E_DIR/records.py" "$ACCOUNTING" "$@"; }

SENT_BODY=0 # body bytes the blocked terminal's downloads carried

scenario_block() {
  local i rc got before t0 ms
  for i in $(seq 1 12); do
    read -r rc got <<<"$(download "$QUOTA_IP" 500000)"
    SENT_BODY=$((SENT_BODY + got))
    # The ledger hears of it within 0.35 s; give it a second.
    sleep 1
    [ "$(usage_of "$QUOTA_IP" state)" = blocked ] && break
  done
  if [ "$(usage_of "$QUOTA_IP" state)" = blocked ]; then
    pass "block: quota used up after $i downloads ($SENT_BODY body bytes)"
  else
    fail "block: still '$(usage_of "$QUOTA_IP" state)' after $SENT_BODY body bytes"
    return
  fi
  before=$(stat_of drop quota_exhausted)
  t0=$(date +%s%N)
  read -r rc got <<<"$(download "$QUOTA_IP" 500000)"
  ms=$((($(date +%s%N) - t0) / 1000000))
  if [ "$rc" != 0 ] && [ "$ms" -lt 3000 ]; then
    pass "block: the next connection is refused in $ms ms (curl $rc)"
  else
    fail "block: the next connection: curl $rc after $ms ms, $got bytes"
  fi
  local after
  after=$(stat_of drop quota_exhausted)
  check "block: counted as quota_exhausted ($before -> $after)" "not counted" \
    test "${after:-0}" -gt "${before:-0}"
  rc=0
  read -r rc got <<<"$(download "$UE_A_IP" 500000)"
  check "block: a terminal without a quota is served (curl $rc, $got bytes)" "refused" \
    test "$rc" = 0 -a "$got" = 500000
}

scenario_usage_figures() {
  local used remaining
  used=$(usage_of "$QUOTA_IP" used_bytes)
  remaining=$(usage_of "$QUOTA_IP" remaining_bytes)
  log "ctl usage: used $used, remaining $remaining; downloads carried $SENT_BODY body bytes"
  ctl usage >&2
  # IP bytes both ways: the bodies plus headers and ACKs (a few percent).
  check "usage: used_bytes $used >= the body bytes $SENT_BODY" "less" \
    test "${used:-0}" -ge "$SENT_BODY"
  check "usage: used_bytes $used within 10% + $SLACK_BYTES of them" "more" \
    test "${used:-0}" -le $((SENT_BODY * 11 / 10 + SLACK_BYTES))
  check "usage: remaining 0 once blocked ($remaining)" "not 0" test "$remaining" = 0
  check "usage: the period ends ($(usage_of "$QUOTA_IP" period_end))" "none" \
    test -n "$(usage_of "$QUOTA_IP" period_end)"
}

scenario_records() {
  local n
  wait_for 5 test -s "$ACCOUNTING"
  n=$(records --where subscriber="$QUOTA_IP" --where end_reason=quota_threshold \
    --where quota_threshold_percent=50 --where kind=interim --count)
  check "records: JSON quota_threshold 50% record for $QUOTA_IP ($n)" "none" test "${n:-0}" = 1
  n=$(records --where subscriber="$QUOTA_IP" --where end_reason=quota_exhausted --where kind=interim --count)
  check "records: JSON quota_exhausted record for $QUOTA_IP ($n)" "none" test "${n:-0}" = 1
  n=$(records --where subscriber="$QUOTA_IP" --where end_reason=quota_exhausted --where kind=final --count)
  check "records: JSON final quota_exhausted record of the refused connection ($n)" "none" \
    test "${n:-0}" -ge 1
  # IPFIX: what tshark decodes from the capture of the export.
  sleep 1
  local decoded
  decoded=$(tshark -r "$IPFIX_PCAP" -d "udp.port==$IPFIX_PORT,cflow" -T fields \
    -e cflow.application_category_name -e cflow.srcaddr 2>/dev/null | tr ',' '\n' | sort | uniq -c)
  log "IPFIX categories: $(tr '\n' ' ' <<<"$decoded")"
  check "records: IPFIX carries quota_threshold_50 (tshark)" "not decoded" \
    grep -q "quota_threshold_50" <<<"$decoded"
  check "records: IPFIX carries quota_exhausted (tshark)" "not decoded" \
    grep -q "quota_exhausted" <<<"$decoded"
}

# Each refused request exits 1, says why, and leaves the usage as it was.
scenario_bad_requests() {
  local before after out rc
  before=$(ctl --json usage "$QUOTA_IP")
  for args in "grant 10.7.7.7 --bytes 1000" "grant nonsense --bytes 1000" \
    "grant $QUOTA_IP" "reset 10.7.7.7"; do
    rc=0
    # shellcheck disable=SC2086
    out=$(ctl quota $args 2>&1) || rc=$?
    check "bad request 'quota $args' refused: ${out//$'\n'/ }" "exit $rc" test "$rc" = 1
  done
  after=$(ctl --json usage "$QUOTA_IP")
  check "bad requests changed nothing" "before $before, after $after" test "$before" = "$after"
}

scenario_reload_keeps_usage() {
  local before after
  before=$(usage_of "$QUOTA_IP" used_bytes)
  ctl reload >/dev/null 2>&1 || { fail "reload: ctl reload failed"; return; }
  after=$(usage_of "$QUOTA_IP" used_bytes)
  check "reload keeps the counted usage ($before -> $after)" "lost" test "$before" = "$after"
  check "reload keeps the block ($(usage_of "$QUOTA_IP" state))" "lifted" \
    test "$(usage_of "$QUOTA_IP" state)" = blocked
}

scenario_grant_and_reset() {
  local rc got out
  out=$(ctl quota grant "$QUOTA_IP" --bytes 5000000 2>&1) || { fail "grant: $out"; return; }
  check "grant: state open again ($(usage_of "$QUOTA_IP" state))" "still blocked" \
    test "$(usage_of "$QUOTA_IP" state)" = open
  read -r rc got <<<"$(download "$QUOTA_IP" 500000)"
  check "grant: traffic goes through again (curl $rc, $got bytes)" "refused" \
    test "$rc" = 0 -a "$got" = 500000
  out=$(ctl quota reset "$QUOTA_IP" 2>&1) || { fail "reset: $out"; return; }
  check "reset: used 0 ($(usage_of "$QUOTA_IP" used_bytes))" "not 0" \
    test "$(usage_of "$QUOTA_IP" used_bytes)" = 0
}

# A download running when the quota runs out is reset, on both sides.
scenario_ended_download() {
  local rc=0 got t0 ms used est
  t0=$(date +%s%N)
  got=$(ip netns exec "$NS_UE" curl -sS -m 30 --limit-rate 2M --interface "$QUOTA_IP" -o /dev/null \
    -w '%{size_download}' "http://$VIP_WEB/big?n=50000000" 2>"$WORKDIR/curl-ended.err") || rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  if [ "$rc" = 56 ] && [ "$ms" -lt 15000 ]; then
    pass "ended download: reset after ${got} bytes and $ms ms (curl 56: $(tr -d '\n' <"$WORKDIR/curl-ended.err"))"
  else
    fail "ended download: curl $rc after $ms ms, $got bytes ($(tr -d '\n' <"$WORKDIR/curl-ended.err"))"
  fi
  sleep 1
  used=$(usage_of "$QUOTA_IP" used_bytes)
  log "ended download: used $used of $QUOTA_BYTES, $((used - QUOTA_BYTES)) bytes over"
  check "ended download: at most $SLACK_BYTES bytes over the quota ($((used - QUOTA_BYTES)))" "more" \
    test "$((used - QUOTA_BYTES))" -le "$SLACK_BYTES"
  # The server's side was reset too: nothing established to it is left.
  est=$(ip netns exec "$NS_SRV" ss -Htn state established "( sport = :8080 )" | wc -l)
  check "ended download: the server's connection is gone ($est established)" "still there" \
    test "$est" = 0
}

scenario_throttle() {
  local i rc got state out g hi
  for i in $(seq 1 10); do
    read -r rc got <<<"$(download "$THROTTLE_IP" 400000)"
    sleep 1
    state=$(usage_of "$THROTTLE_IP" state)
    [ "$state" = throttled ] && break
  done
  check "throttle: quota used up, state throttled ($state)" "not throttled" test "$state" = throttled
  out="$WORKDIR/iperf-throttled.json"
  ip netns exec "$NS_UE" timeout 25 iperf3 -c "$VIP_WEB" -p "$IPERF_PORT" -B "$THROTTLE_IP" \
    -t 5 -O 1 -J -R >"$out" 2>&1
  g=$("$PYTHON" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$out" 2>/dev/null)
  hi=$((THROTTLE_MBIT * 1000000))
  if [ -z "$g" ]; then
    fail "throttle: iperf3 failed ($(tail -3 "$out" | tr '\n' ' '))"
  elif [ "$g" -le $((hi * 11 / 10)) ] && [ "$g" -ge $((hi / 2)) ]; then
    pass "throttle: download at $g bit/s under a $THROTTLE_MBIT Mbit/s throttle"
  else
    fail "throttle: download at $g bit/s, want 0.5 to 1.1 x $hi"
  fi
}

scenario_metrics() {
  local m
  m=$(ctl metrics)
  check "metrics: tandem_quota_exhausted_total 3" "$(grep '^tandem_quota_exhausted' <<<"$m")" \
    grep -q '^tandem_quota_exhausted_total 3$' <<<"$m"
  check "metrics: tandem_quota_thresholds_total >= 1" "$(grep '^tandem_quota_thresholds' <<<"$m")" \
    grep -Eq '^tandem_quota_thresholds_total [1-9]' <<<"$m"
  check "metrics: one subscriber throttled now" "$(grep '^tandem_quota_throttled' <<<"$m")" \
    grep -q '^tandem_quota_throttled 1$' <<<"$m"
}

prepare
setup
scenario_block
scenario_usage_figures
scenario_records
scenario_bad_requests
scenario_reload_keeps_usage
scenario_grant_and_reset
scenario_ended_download
scenario_throttle
scenario_metrics
if [ "$FAILED" != 0 ]; then
  echo "--- tandem log (last 30 lines)"
  plain_log "$TANDEM_LOG" | tail -30
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
