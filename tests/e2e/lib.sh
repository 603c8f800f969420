# shellcheck shell=bash
# Shared by tests/e2e/run.sh and scripts/demo.sh: builds the hosts around a
# running tandem (network namespaces for terminals, servers and the outside
# world, wired to tandem's net_tap ports), starts the identity servers, and
# tears everything down again. Source it; it defines functions and the
# variables below, and runs nothing by itself.
#
# Before calling topo_* the caller sets:
#   NS_UE NS_SRV NS_EXT       namespace names (terminals, servers, external)
#   IF_ACC0 IF_ACC1 IF_SRV IF_EXT   tap names, as in the config's vdevs
#   WORKDIR                   a private temp dir (logs, server logs, ...)
# Everything started in the background is recorded in BG_PIDS and stopped by
# PID in lib_cleanup; tandem's PID is TANDEM_PID.

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$E2E_DIR/../.." && pwd)"

# The terminals (mobile session IDs) and the addresses of the laptop config.
TERM_IP=10.8.0.100
REFUSED_IP=10.8.0.66
UE_A_IP=10.1.0.100
UE_B_IP=10.1.1.100
ACC0_GW=10.1.0.1
ACC1_GW=10.1.1.1
SRV_HOST_IP=10.2.0.2
WEB_SERVERS=(10.2.0.21 10.2.0.22 10.2.0.23)
VIDEO_SERVERS=(10.2.0.31 10.2.0.32)
GATEWAY_IPS=(10.2.0.10 10.2.0.11)
EXT_IP=10.3.0.2
EXT_GW=10.3.0.1
VIP_WEB=10.9.0.1
VIP_VIDEO=10.9.0.2
VIP_DNS=10.9.0.3

# The system python starts in milliseconds; a version manager's shim may not.
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

BG_PIDS=()
TANDEM_PID=""
NAMESPACES=()

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Starts a command in the background, recorded so cleanup can stop it;
# LAST_PID is its PID. bg_wait waits for it and forgets it (once reaped, its
# PID may be reused by an unrelated process).
bg_client() {
  "$@" &
  BG_PIDS+=($!)
  LAST_PID=$!
}
bg_wait() {
  local pid=$1 rc=0 keep=() p
  wait "$pid" || rc=$?
  for p in "${BG_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  BG_PIDS=("${keep[@]}")
  return "$rc"
}

# Runs a command inside a namespace.
in_ue() { ip netns exec "$NS_UE" "$@"; }
in_srv() { ip netns exec "$NS_SRV" "$@"; }
in_ext() { ip netns exec "$NS_EXT" "$@"; }

# ---- Talking to the running tandem (TANDEM, CTL_SOCKET set by the script).
ctl() { "$TANDEM" ctl --socket "$CTL_SOCKET" "$@"; }
# One figure from `ctl --json stats` (tests/e2e/stats.py says which).
stat_of() { ctl --json stats | "$PYTHON" "$E2E_DIR/stats.py" "$@"; }

# The eal section of a config with this run's four taps (access 0 and 1,
# server, external) on two lcores (EAL_LCORES, if set, instead) without
# hugepages, for a config heredoc: a line "$(tap_eal_section)" right after
# the opening "(".
tap_eal_section() {
  cat <<EAL
    eal: (
        lcores: "${EAL_LCORES:-0@0,1@1}",
        main_lcore: 0,
        no_huge: true,
        memory_mb: 256,
        file_prefix: "$FILE_PREFIX",
        vdevs: [
            "net_tap0,iface=$IF_ACC0",
            "net_tap1,iface=$IF_ACC1",
            "net_tap2,iface=$IF_SRV",
            "net_tap3,iface=$IF_EXT",
        ],
    ),
EAL
}

# The four tap ports of tap_eal_section polled by one worker with idle
# backoff, and one gateway address: the part of the config that
# quotas.sh, rate_limits.sh and remark.sh share (their services and
# subscribers follow it).
tap_one_worker_section() {
  cat <<PORTS
    ports: [
        (name: "acc0", device: "net_tap0", role: Access, addresses: ["$ACC0_GW/24"]),
        (name: "acc1", device: "net_tap1", role: Access, addresses: ["$ACC1_GW/24"]),
        (name: "srv0", device: "net_tap2", role: Server, addresses: ["10.2.0.1/24"]),
        (name: "ext0", device: "net_tap3", role: External, addresses: ["$EXT_GW/24"]),
    ],
    workers: [
        (lcore: 1, poll: [(port: "acc0"), (port: "acc1"), (port: "srv0"), (port: "ext0")]),
    ],
    mempool: (mbufs: 32767),
    idle: (busy_poll: false, max_sleep_us: 100),
    gateway: (addresses: ["${GATEWAY_IPS[0]}"], port_range: (1024, 65535), user_sessions_per_worker: 4096),
PORTS
}

# ---- Reporting and cleanup, shared by the e2e scripts (not the demo).
# A script sets WORKDIR, TANDEM_LOG, and the DPDK file prefixes and control
# sockets it creates in DPDK_PREFIXES / CTL_SOCKETS, then calls e2e_traps.
PASSED=0
FAILED=0
DPDK_PREFIXES=()
CTL_SOCKETS=()
# The web service on $VIP_WEB port 80 (the three web servers), as one
# entry of a config's `services` list.
web_service_entry() {
  cat <<EOF
        (name: "web", vip: "$VIP_WEB", proto: Tcp, port: 80, servers: [
            (addr: "${WEB_SERVERS[0]}", port: 8080),
            (addr: "${WEB_SERVERS[1]}", port: 8080),
            (addr: "${WEB_SERVERS[2]}", port: 8080),
        ]),
EOF
}

# iperf_service_entry NAME PORT: an iperf3 service on $VIP_WEB port PORT
# served by $IPERF_SERVER, as one entry of a config's `services` list.
iperf_service_entry() {
  cat <<EOF
        (name: "$1", vip: "$VIP_WEB", proto: Tcp, port: $2, servers: [
            (addr: "$IPERF_SERVER", port: $2),
        ]),
EOF
}

pass() { PASSED=$((PASSED + 1)); printf 'PASS  %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL  %s\n' "$*"; }
check() { # check NAME REASON-IF-FAILED COMMAND...
  local name=$1 why=$2
  shift 2
  if "$@"; then pass "$name"; else fail "$name: $why"; fi
}

# Stops everything this run started and removes what it created; the temp
# dir stays with E2E_KEEP=1. Exits with the status the script had.
e2e_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  lib_cleanup
  local p
  for p in "${DPDK_PREFIXES[@]}"; do rm -rf "/var/run/dpdk/$p"; done
  for p in "${CTL_SOCKETS[@]}"; do rm -f "$p"; done
  if [ -n "${WORKDIR:-}" ]; then
    if [ "${E2E_KEEP:-0}" = 1 ]; then log "kept $WORKDIR"; else rm -rf "$WORKDIR"; fi
  fi
  exit "$rc"
}
e2e_traps() {
  trap e2e_cleanup EXIT
  trap 'log "interrupted"; exit 130' INT TERM
}

# A setup step failed: report it with the end of tandem's log, and stop.
setup_failed() {
  fail "setup: $*"
  if [ -n "${TANDEM_LOG:-}" ] && [ -s "$TANDEM_LOG" ]; then
    echo "--- tandem log (last 40 lines)"
    plain_log "$TANDEM_LOG" | tail -40
  fi
  echo "$PASSED passed, $FAILED failed"
  exit 1
}

# require_root_and TOOL...: exits 2 (a prerequisite missing, not a
# failure) unless this runs as root with every TOOL on PATH.
require_root_and() {
  [ "$(id -u)" = 0 ] || { log "needs root"; exit 2; }
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { log "needs $t (scripts/setup.sh --test-tools)"; exit 2; }
  done
}

# TANDEM: $TANDEM_BIN if set, else a debug build of this tree, built now.
tandem_binary() {
  TANDEM=${TANDEM_BIN:-}
  if [ -z "$TANDEM" ]; then
    log "building tandem (debug)"
    (cd "$REPO_ROOT" && cargo build -q -p appliance) || setup_failed "cargo build -p appliance failed"
    TANDEM="$REPO_ROOT/target/debug/tandem"
  fi
}

# config_accepted FILE...: the set-up fails unless `tandem check-config`
# accepts every FILE.
config_accepted() {
  local c err
  for c in "$@"; do
    err=$("$TANDEM" check-config "$c" 2>&1) || setup_failed "config rejected: $err"
  done
}

# Tandem's log without colour codes (tracing writes ANSI even to a file).
plain_log() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }

# Waits up to $1 seconds (tenths allowed) for the command after it to succeed.
wait_for() {
  local limit_tenths
  limit_tenths=$(awk -v s="$1" 'BEGIN { printf "%d", s * 10 }')
  shift
  local i
  for ((i = 0; i < limit_tenths; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  "$@" >/dev/null 2>&1
}

# Starts tandem ($3) in the background with config $1, stdout and stderr to
# $2. Returns once its four taps exist and it says it is running; fails at
# once if it exits, or after 30 s.
start_tandem() {
  local config=$1 logfile=$2 bin=$3 i ifc up
  "$bin" run --config "$config" >"$logfile" 2>&1 &
  TANDEM_PID=$!
  for ((i = 0; i < 300; i++)); do
    if ! kill -0 "$TANDEM_PID" 2>/dev/null; then
      local rc=0
      wait "$TANDEM_PID" || rc=$?
      TANDEM_PID=""
      log "tandem exited with status $rc while starting; its log:"
      plain_log "$logfile" | tail -20 >&2
      return 1
    fi
    up=1
    for ifc in "$IF_ACC0" "$IF_ACC1" "$IF_SRV" "$IF_EXT"; do
      ip link show dev "$ifc" >/dev/null 2>&1 || up=0
    done
    if [ "$up" = 1 ] && grep -q "tandem running" "$logfile"; then
      return 0
    fi
    sleep 0.1
  done
  log "tandem did not come up in 30 s; its log:"
  plain_log "$logfile" | tail -20 >&2
  return 1
}

# Sends SIGTERM to tandem and waits (up to $1 s) for it; sets TANDEM_RC to
# its exit status, or 254 if it had to be killed. Not for a subshell: only
# this shell can wait for tandem.
stop_tandem() {
  local limit=${1:-20} i
  TANDEM_RC=255
  [ -n "$TANDEM_PID" ] || return 0
  kill -TERM "$TANDEM_PID" 2>/dev/null
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "$TANDEM_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$TANDEM_PID" 2>/dev/null; then
    kill -KILL "$TANDEM_PID" 2>/dev/null
    wait "$TANDEM_PID" 2>/dev/null
    TANDEM_PID=""
    TANDEM_RC=254
    return 0
  fi
  TANDEM_RC=0
  wait "$TANDEM_PID" || TANDEM_RC=$?
  TANDEM_PID=""
}

# The kernel's own choice of source ports in the test namespaces. The
# scripts bind fixed terminal ports below it (PORT_* and MOBILE_PORT,
# 40100-41003) to find a connection's accounting record; inside the
# default range (32768-60999) an earlier connection could have taken the
# same port to the same VIP, and the fixed one would then find that
# connection's record too.
E2E_EPHEMERAL_PORTS="42000 60999"

new_ns() {
  ip netns add "$1" || return 1
  NAMESPACES+=("$1")
  ip netns exec "$1" ip link set lo up || return 1
  ip netns exec "$1" sysctl -qw net.ipv4.ip_local_port_range="$E2E_EPHEMERAL_PORTS" || return 1
  # No IPv6 chatter (router solicitations, MLD) into tandem's ports.
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || return 1
}

# Moves tap $1 into namespace $2.
move_tap() {
  ip link set dev "$1" netns "$2" || return 1
  ip netns exec "$2" sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1" || return 1
  ip netns exec "$2" ip link set dev "$1" up || return 1
}

# Builds the three namespaces around a running tandem and moves its taps in.
topo_build() {
  new_ns "$NS_UE" || return 1
  new_ns "$NS_SRV" || return 1
  new_ns "$NS_EXT" || return 1

  # Terminals: both access taps; the terminal addresses on lo. The routes
  # carry `src`, so a terminal keeps its address when its route moves from
  # one I/O point to the other; reverse-path filtering would drop replies
  # still in flight on the old tap, so it is off.
  move_tap "$IF_ACC0" "$NS_UE" || return 1
  move_tap "$IF_ACC1" "$NS_UE" || return 1
  in_ue sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    "net.ipv4.conf.$IF_ACC0.rp_filter=0" "net.ipv4.conf.$IF_ACC1.rp_filter=0" || return 1
  in_ue ip addr add "$UE_A_IP/24" dev "$IF_ACC0" || return 1
  in_ue ip addr add "$UE_B_IP/24" dev "$IF_ACC1" || return 1
  in_ue ip addr add "$TERM_IP/32" dev lo || return 1
  in_ue ip addr add "$REFUSED_IP/32" dev lo || return 1
  terminal_route "$IF_ACC0" "$ACC0_GW" || return 1

  # Servers: one tap, the host address and every server address.
  move_tap "$IF_SRV" "$NS_SRV" || return 1
  in_srv ip addr add "$SRV_HOST_IP/24" dev "$IF_SRV" || return 1
  local a
  for a in "${WEB_SERVERS[@]}" "${VIDEO_SERVERS[@]}"; do
    in_srv ip addr add "$a/24" dev "$IF_SRV" || return 1
  done

  # The outside world: replies to the gateway address go back via tandem.
  move_tap "$IF_EXT" "$NS_EXT" || return 1
  in_ext ip addr add "$EXT_IP/24" dev "$IF_EXT" || return 1
  in_ext ip route add default via "$EXT_GW" dev "$IF_EXT" || return 1
}

# Points the terminals' routes (VIPs and the outside) at I/O point $1 via $2.
terminal_route() {
  local dev=$1 via=$2
  in_ue ip route replace 10.9.0.0/24 via "$via" dev "$dev" src "$TERM_IP" &&
    in_ue ip route replace 10.3.0.0/24 via "$via" dev "$dev" src "$TERM_IP"
}

# Starts the identity servers (HTTP on every server address, the DNS
# stand-in, the external HTTP server) plus any extra arguments for the
# server namespace's process. Waits until all are bound.
topo_servers() {
  local args=() a
  for a in "${WEB_SERVERS[@]}" "${VIDEO_SERVERS[@]}"; do
    args+=(--http "$a:8080")
  done
  args+=(--udp "${WEB_SERVERS[0]}:5353")
  # ip netns exec execs the command, so $! is the server's own PID.
  ip netns exec "$NS_SRV" "$PYTHON" "$E2E_DIR/servers.py" "${args[@]}" "$@" \
    --log "$WORKDIR/srv-requests.log" --ready "$WORKDIR/srv.ready" \
    >"$WORKDIR/srv.out" 2>&1 &
  BG_PIDS+=($!)
  ip netns exec "$NS_EXT" "$PYTHON" "$E2E_DIR/servers.py" --http "$EXT_IP:8080" \
    --log "$WORKDIR/ext-requests.log" --ready "$WORKDIR/ext.ready" \
    >"$WORKDIR/ext.out" 2>&1 &
  BG_PIDS+=($!)
  wait_for 10 test -e "$WORKDIR/srv.ready" || { log "servers did not start: $(cat "$WORKDIR/srv.out")"; return 1; }
  wait_for 10 test -e "$WORKDIR/ext.ready" || { log "external server did not start: $(cat "$WORKDIR/ext.out")"; return 1; }
}

# Waits until tandem has learned the MAC of every server (it retries ARP
# every second, and its first tries went out before the taps moved).
topo_wait_neighbours() {
  local logfile=$1 a
  for a in "${WEB_SERVERS[@]}" "${VIDEO_SERVERS[@]}"; do
    if ! wait_for 10 bash -c "sed 's/\x1b\[[0-9;]*m//g' '$logfile' | grep -q 'neighbour learned.* ip=$a '"; then
      log "tandem did not learn server $a"
      return 1
    fi
  done
}

# Stops everything this run started, by PID, and removes the namespaces.
# Safe to call more than once.
lib_cleanup() {
  local pid
  if [ -n "$TANDEM_PID" ] && kill -0 "$TANDEM_PID" 2>/dev/null; then
    kill -TERM "$TANDEM_PID" 2>/dev/null
    wait_for 10 bash -c "! kill -0 $TANDEM_PID" || kill -KILL "$TANDEM_PID" 2>/dev/null
    wait "$TANDEM_PID" 2>/dev/null
  fi
  TANDEM_PID=""
  for pid in "${BG_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${BG_PIDS[@]}"; do
    wait "$pid" 2>/dev/null
  done
  BG_PIDS=()
  local ns
  for ns in "${NAMESPACES[@]}"; do
    ip netns del "$ns" 2>/dev/null
  done
  NAMESPACES=()
}

# ---- IPv6 terminals (ipv6.sh, ipv6_records.sh).

# ipv6_terminal IF ADDR VIA ROUTE...: IPv6 on the terminal's side of tap
# IF (new_ns turns it off everywhere), address ADDR/64 there (nodad: usable
# at once), and each ROUTE (a prefix) via the port address VIA.
ipv6_terminal() {
  local ifc=$1 addr=$2 via=$3 r
  shift 3
  in_ue sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=0" || return 1
  in_ue ip -6 addr add "$addr/64" dev "$ifc" nodad || return 1
  for r in "$@"; do
    in_ue ip -6 route add "$r" via "$via" dev "$ifc" || return 1
  done
}

# The canonical text of an IPv6 address (64:ff9b::10.3.0.2 -> 64:ff9b::a03:2).
ipaddr_v6() { "$PYTHON" -c 'import ipaddress, sys; print(ipaddress.IPv6Address(sys.argv[1]).compressed)' "$1"; }

# pcap_start NS IF FILE FILTER...: tcpdump on IF in namespace NS (""
# for this one) writing FILE, packets matching FILTER; returns once it
# listens. Sets CAP_PID (recorded in BG_PIDS); pcap_stop ends it. Frames
# are cut at 2 kB, so the 4 MB capture buffer holds about 2000 of them
# (tcpdump's default 256 kB snapshot would leave room for a handful, and a
# busy machine would see it drop packets).
pcap_start() {
  local ns=$1 ifc=$2 file=$3
  shift 3
  set -- -s 2048 -B 4096 "$@"
  # ip netns exec execs tcpdump, so $! is tcpdump itself (a function
  # would put a subshell in between that SIGINT does not stop).
  if [ -n "$ns" ]; then
    ip netns exec "$ns" tcpdump -i "$ifc" -nn -U --immediate-mode -w "$file" "$@" 2>"$file.err" &
  else
    tcpdump -i "$ifc" -nn -U --immediate-mode -w "$file" "$@" 2>"$file.err" &
  fi
  CAP_PID=$!
  BG_PIDS+=("$CAP_PID")
  wait_for 5 grep -q "listening on" "$file.err" || { log "tcpdump: $(cat "$file.err")"; return 1; }
}

# pcap_stop PID: stops a pcap_start capture (SIGINT: it writes what it
# holds, and "N packets dropped by kernel" to FILE.err) and forgets its PID.
pcap_stop() {
  kill -INT "$1" 2>/dev/null
  bg_wait "$1" 2>/dev/null
  return 0
}
