# shellcheck shell=bash
# A Tandem cluster in network namespaces, shared by tests/e2e/cluster.sh and
# `scripts/demo.sh --cluster`: etcd on loopback, tier-1 units and gateway
# appliances (each its own tandem process, file prefix and control socket,
# no hugepages, idle backoff), and the networks around them. Source it after
# lib.sh; it defines functions and the variables below and runs nothing.
#
#   terminals (NS_UE: addresses on lo, one tap per tier-1 unit)
#      | acc tap 10.1.N.1 (unit AN, N = 1, 2; the terminal side is 10.1.N.100)
#   A1, A2  tier-1 units ---- fabric taps 10.99.0.N ----+
#                                                       | bridge CL_BR_FAB in NS_FAB
#   G1..G3  gateways -------- fabric taps 10.99.0.1K ---+  (tshark listens here)
#      | srv tap 10.2.0.K (gateway address 10.2.0.1K, gateway ID (10+K) x 100)
#   servers (NS_SRV: bridge CL_BR_SRV holding the server addresses)
#
# Moving a terminal from A1 to A2 is a routing change in NS_UE, as in the
# stand-alone mobility test (lib.sh terminal_route): each tier-1 unit has its
# own access subnet, and a terminal's routes to the VIPs point at one unit or
# the other (per terminal, with a source rule). So the terminal's address
# never changes, and no two access ports need the same address or MAC.
#
# The caller sets before cl_* : CL_TAG (a short tag, with the PID), WORKDIR,
# TANDEM (the binary), CL_NAME (the etcd prefix), and NS_UE NS_SRV NS_FAB.
# Members are named A1 A2 G1 G2 G3; their PIDs, logs, configs and sockets
# are in CL_PID CL_LOG CL_CONF CL_SOCK; BG_PIDS (lib.sh) holds every PID
# this file starts, so lib_cleanup stops them.

declare -A CL_PID=() CL_LOG=() CL_CONF=() CL_SOCK=()
CL_BR_SRV=brsrv
CL_BR_FAB=brfab
CL_FABRIC_PORT=6081
CL_LEASE_TTL_S=3
CL_MOVE_DRAIN_S=${CL_MOVE_DRAIN_S:-8}
CL_ETCD_PID=""
CL_ETCD_URL=""
# Servers: HTTP (identity, /big downloads) and iperf3, each behind a VIP.
CL_WEB_SERVER=10.2.0.21
CL_IPERF_SERVER=10.2.0.22
CL_VIP_WEB=10.9.0.1
CL_VIP_IPERF=10.9.0.4
CL_IPERF_PORT=5201
# An IPv6 VIP for the web server (NAT64 on the gateways); each tier-1 unit
# N has 2001:db8:1:N::1/64 on its access port, the terminal side ::100.
CL_VIP6_WEB=2001:db8:9::80

cl_tier1() { case "$1" in A*) return 0 ;; *) return 1 ;; esac; }
cl_index() { echo "${1#?}"; }                       # A2 -> 2, G3 -> 3
cl_appliance_id() { if cl_tier1 "$1"; then cl_index "$1"; else echo $((10 + $(cl_index "$1"))); fi; }
cl_gateway_id() { echo $(($(cl_appliance_id "$1") * 100)); } # one worker: worker 0
cl_gateway_addr() { echo "10.2.0.1$(cl_index "$1")"; }
cl_fabric_addr() { if cl_tier1 "$1"; then echo "10.99.0.$(cl_index "$1")"; else echo "10.99.0.1$(cl_index "$1")"; fi; }
cl_access_addr() { echo "10.1.$(cl_index "$1").1"; }
cl_terminal_side() { echo "10.1.$(cl_index "$1").100"; }
cl_access_addr6() { echo "2001:db8:1:$(cl_index "$1")::1"; }
cl_terminal_side6() { echo "2001:db8:1:$(cl_index "$1")::100"; }
# Tap names: tag + member + role letter (≤ 15 characters).
cl_tap() { echo "${CL_TAG}$(tr 'AG' 'ag' <<<"$1")$2"; }
# The member a gateway address belongs to (10.2.0.12 -> G2).
cl_member_of_addr() { case "$1" in 10.2.0.1[1-9]) echo "G${1#10.2.0.1}" ;; *) echo "?" ;; esac; }

cl_ctl() { local m=$1; shift; "$TANDEM" ctl --socket "${CL_SOCK[$m]}" "$@"; }
cl_alive() { [ -n "${CL_PID[$1]:-}" ] && kill -0 "${CL_PID[$1]}" 2>/dev/null; }

# A free loopback TCP port.
cl_free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- etcd: one member on loopback, its data in WORKDIR (kept across a
# stop, so a restart is the same cluster).
cl_etcd_start() {
  if [ -z "$CL_ETCD_URL" ]; then
    CL_ETCD_CLIENT_PORT=$(cl_free_port)
    CL_ETCD_PEER_PORT=$(cl_free_port)
    CL_ETCD_URL="http://127.0.0.1:$CL_ETCD_CLIENT_PORT"
  fi
  local peer="http://127.0.0.1:$CL_ETCD_PEER_PORT" before=0
  [ -f "$WORKDIR/etcd.log" ] && before=$(grep -c "ready to serve client requests" "$WORKDIR/etcd.log")
  etcd --name "$CL_TAG" --data-dir "$WORKDIR/etcd-data" \
    --listen-client-urls "$CL_ETCD_URL" --advertise-client-urls "$CL_ETCD_URL" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "$CL_TAG=$peer" --initial-cluster-token "$CL_TAG" \
    >>"$WORKDIR/etcd.log" 2>&1 &
  CL_ETCD_PID=$!
  BG_PIDS+=("$CL_ETCD_PID")
  wait_for 20 bash -c "[ \$(grep -c 'ready to serve client requests' '$WORKDIR/etcd.log') -gt $before ]" || {
    log "etcd did not start: $(tail -5 "$WORKDIR/etcd.log")"
    return 1
  }
}

cl_etcd_stop() {
  [ -n "$CL_ETCD_PID" ] || return 0
  kill -TERM "$CL_ETCD_PID" 2>/dev/null
  bg_wait "$CL_ETCD_PID"
  CL_ETCD_PID=""
}

# ---- Configs.
cl_config() {
  local m=$1 id fab
  id=$(cl_appliance_id "$m")
  fab=$(cl_fabric_addr "$m")
  local acc_or_srv port_line gw_addr
  if cl_tier1 "$m"; then
    acc_or_srv="$(cl_tap "$m" a)"
    port_line="(name: \"acc0\", device: \"net_tap0\", role: Access, addresses: [\"$(cl_access_addr "$m")/24\", \"$(cl_access_addr6 "$m")/64\"], rx_queues: 2),"
    # Required by the schema; a tier-1 unit translates nothing, so it is
    # neither used nor claimed.
    gw_addr=10.2.0.10
  else
    acc_or_srv="$(cl_tap "$m" s)"
    port_line="(name: \"srv0\", device: \"net_tap0\", role: Server, addresses: [\"10.2.0.$(cl_index "$m")/24\"], rx_queues: 2),"
    gw_addr=$(cl_gateway_addr "$m")
  fi
  local first=${port_line#*name: \"}
  first=${first%%\"*}
  cat <<RON
// $m of the cluster test: appliance $id.
(
    eal: (
        lcores: "0@0,1@1",
        main_lcore: 0,
        no_huge: true,
        memory_mb: 256,
        file_prefix: "${CL_TAG}$m",
        vdevs: ["net_tap0,iface=$acc_or_srv", "net_tap1,iface=$(cl_tap "$m" f)"],
    ),
    ports: [
        $port_line
        (name: "fab0", device: "net_tap1", role: Fabric, addresses: ["$fab/24"], rx_queues: 2),
    ],
    // One worker: it polls both queues of each tap (the kernel answers on
    // the queue matching the tx queue; the control plane sends on queue 1).
    workers: [(lcore: 1, poll: [(port: "$first", queue: 0), (port: "$first", queue: 1),
        (port: "fab0", queue: 0), (port: "fab0", queue: 1)])],
    mempool: (mbufs: 8191, cache: 64),
    rings: (rx_desc: 256, tx_desc: 256, handoff: 256, events: 1024),
    idle: (busy_poll: false, max_sleep_us: 500),
    gateway: (addresses: ["$gw_addr"], user_sessions_per_worker: 4096),
    steering: (key: SourceIp, move_drain_s: $CL_MOVE_DRAIN_S),
    services: [
        (name: "web", vip: "$CL_VIP_WEB", proto: Tcp, port: 80,
         servers: [(addr: "$CL_WEB_SERVER", port: 8080)]),
        (name: "iperf", vip: "$CL_VIP_IPERF", proto: Tcp, port: $CL_IPERF_PORT,
         servers: [(addr: "$CL_IPERF_SERVER", port: $CL_IPERF_PORT)]),
        // IPv6 terminals reach the web server through NAT64.
        (name: "web6", vip6: "$CL_VIP6_WEB", proto: Tcp, port: 80,
         servers: [(addr: "$CL_WEB_SERVER", port: 8080)]),
    ],
    api: (socket: "${CL_SOCK[$m]}"),
    cluster: (
        name: "$CL_NAME",
        appliance_id: $id,
        etcd: ["$CL_ETCD_URL"],
        lease_ttl_s: $CL_LEASE_TTL_S,
        etcd_timeout_ms: 1000,
        fabric_base_port: $CL_FABRIC_PORT,
        fabric_mtu: 1500,
        max_gateways: 64,
    ),
)
RON
}

# ---- Networks.
# The namespaces and bridges; terminals' addresses and source rules.
cl_topo_build() {
  new_ns "$NS_UE" || return 1
  new_ns "$NS_SRV" || return 1
  new_ns "$NS_FAB" || return 1
  local ns br
  for ns in "$NS_SRV:$CL_BR_SRV" "$NS_FAB:$CL_BR_FAB"; do
    br=${ns#*:}
    ns=${ns%%:*}
    # ARP answered only on the interface that holds the address (the
    # bridge). A gateway's tap sits in the namespace for a moment before it
    # joins the bridge; a request of that gateway arriving then would be
    # answered with the tap's own MAC (Linux answers for any local address
    # on any interface by default). The gateway kept that wrong MAC for the
    # web server (a later change needs confirmation: neighbour_guard.rs),
    # its SYNs went nowhere and passive health took the server out: CI saw
    # 16 failures that way.
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.default.arp_ignore=1 || return 1
    ip -n "$ns" link add "$br" address "$(cl_random_mac)" type bridge stp_state 0 forward_delay 0 || return 1
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$br.disable_ipv6=1" || return 1
    ip -n "$ns" link set "$br" up || return 1
  done
  local a
  for a in "$CL_WEB_SERVER" "$CL_IPERF_SERVER"; do
    ip -n "$NS_SRV" addr add "$a/24" dev "$CL_BR_SRV" || return 1
  done
  # Terminals: every address of 10.8.0.0/16 is local in NS_UE. Replies may
  # arrive on either unit's tap, so reverse-path filtering is off.
  ip -n "$NS_UE" addr add 10.8.0.1/16 dev lo || return 1
  ip netns exec "$NS_UE" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 || return 1
}

# A random locally administered unicast MAC.
cl_random_mac() {
  printf '02:%02x:%02x:%02x:%02x:%02x\n' $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256))
}

# Puts tap $1 (in namespace $2) into bridge $3. net_tap gives the kernel
# side of a tap the MAC of the DPDK port; in a bridge, a port's own MAC is
# the bridge's (a local FDB entry), so frames to that tandem would end in
# the bridge's stack instead of its tap. The kernel side gets another MAC.
cl_bridge_tap() {
  ip -n "$2" link set dev "$1" address "$(cl_random_mac)" || return 1
  cl_tap_queue "$1" "$2" || return 1
  ip -n "$2" link set dev "$1" master "$3"
}

# A longer queue on the kernel side of tap $1 (in namespace $2): frames
# wait there until the (debug, CPU-sharing) tandem reads them, and the
# default 1000 overflowed under 50 downloads (TX dropped in `ip -s link`),
# which stalled TCP for seconds at a time.
cl_tap_queue() { ip -n "$2" link set dev "$1" txqueuelen 10000; }

# Moves member $1's taps into the namespaces: access -> NS_UE with the
# terminal side's address, server -> the server bridge, fabric -> the
# fabric bridge.
cl_wire() {
  local m=$1 fab srv acc
  fab=$(cl_tap "$m" f)
  move_tap "$fab" "$NS_FAB" || return 1
  cl_bridge_tap "$fab" "$NS_FAB" "$CL_BR_FAB" || return 1
  if cl_tier1 "$m"; then
    acc=$(cl_tap "$m" a)
    move_tap "$acc" "$NS_UE" || return 1
    cl_tap_queue "$acc" "$NS_UE" || return 1
    ip netns exec "$NS_UE" sysctl -qw "net.ipv4.conf.$acc.rp_filter=0" || return 1
    ip -n "$NS_UE" addr add "$(cl_terminal_side "$m")/24" dev "$acc" || return 1
    # IPv6 on this link only (new_ns turns it off everywhere else).
    ip netns exec "$NS_UE" sysctl -qw "net.ipv6.conf.$acc.disable_ipv6=0" || return 1
    ip -n "$NS_UE" -6 addr add "$(cl_terminal_side6 "$m")/64" dev "$acc" nodad || return 1
  else
    srv=$(cl_tap "$m" s)
    move_tap "$srv" "$NS_SRV" || return 1
    cl_bridge_tap "$srv" "$NS_SRV" "$CL_BR_SRV" || return 1
  fi
}

# Routes terminal(s) $2 (an address, or a prefix of 10.8.0.0/16) to the
# VIPs through tier-1 unit $1, with a rule per source so each terminal can
# sit at its own unit (an address's rule comes before a prefix's). Table
# 100+N holds unit N's route.
cl_attach() {
  local m=$1 src=$2 table pref=1000
  table=$((100 + $(cl_index "$m")))
  case "$src" in */*) pref=2000 ;; esac
  ip -n "$NS_UE" route replace 10.9.0.0/24 via "$(cl_access_addr "$m")" dev "$(cl_tap "$m" a)" table "$table" || return 1
  ip -n "$NS_UE" rule del from "$src" pref "$pref" 2>/dev/null
  ip -n "$NS_UE" rule add from "$src" lookup "$table" pref "$pref" || return 1
}

# ---- Members.
# Starts members (config written, tandem in the background) without waiting.
cl_launch() {
  local m
  for m in "$@"; do
    CL_LOG[$m]="$WORKDIR/$m.log"
    CL_CONF[$m]="$WORKDIR/$m.ron"
    CL_SOCK[$m]="$WORKDIR/$m.sock"
    cl_config "$m" >"${CL_CONF[$m]}"
    "$TANDEM" run --config "${CL_CONF[$m]}" >>"${CL_LOG[$m]}" 2>&1 &
    CL_PID[$m]=$!
    BG_PIDS+=("${CL_PID[$m]}")
  done
}

# Waits until member $1 says it runs (and its taps exist), then wires it.
cl_await() {
  local m=$1 i ifc up
  for ((i = 0; i < 600; i++)); do
    if ! cl_alive "$m"; then
      log "$m exited while starting; its log:"
      plain_log "${CL_LOG[$m]}" | tail -20 >&2
      return 1
    fi
    up=1
    for ifc in "$(cl_tap "$m" f)" "$(cl_tap "$m" "$(cl_tier1 "$m" && echo a || echo s)")"; do
      ip link show dev "$ifc" >/dev/null 2>&1 || up=0
    done
    if [ "$up" = 1 ] && grep -q "tandem running" "${CL_LOG[$m]}"; then
      cl_wire "$m"
      return
    fi
    sleep 0.1
  done
  log "$m did not come up in 60 s; its log:"
  plain_log "${CL_LOG[$m]}" | tail -20 >&2
  return 1
}

cl_start() {
  cl_launch "$@"
  local m
  for m in "$@"; do cl_await "$m" || return 1; done
}

# SIGKILL: the lease is left to expire.
cl_kill9() {
  kill -KILL "${CL_PID[$1]}" 2>/dev/null
  bg_wait "${CL_PID[$1]}"
  CL_PID[$1]=""
}

# Waits until gateway $1 has resolved the web server (its ARP retries every
# second; the first went out before its tap was in the bridge).
cl_await_server() {
  wait_for 15 bash -c "sed 's/\x1b\[[0-9;]*m//g' '${CL_LOG[$1]}' | grep -q 'neighbour learned.* ip=$CL_WEB_SERVER '"
}

# Starts the servers: the identity HTTP server (downloads of any size) and
# iperf3. Waits until they are bound.
cl_servers() {
  ip netns exec "$NS_SRV" "$PYTHON" "$E2E_DIR/servers.py" --http "$CL_WEB_SERVER:8080" \
    --log "$WORKDIR/srv-requests.log" --ready "$WORKDIR/srv.ready" >"$WORKDIR/srv.out" 2>&1 &
  BG_PIDS+=($!)
  if command -v iperf3 >/dev/null; then
    ip netns exec "$NS_SRV" iperf3 -s -B "$CL_IPERF_SERVER" -p "$CL_IPERF_PORT" >"$WORKDIR/iperf3-server.log" 2>&1 &
    BG_PIDS+=($!)
  fi
  wait_for 10 test -e "$WORKDIR/srv.ready" || { log "servers did not start: $(cat "$WORKDIR/srv.out")"; return 1; }
}

# ---- What the members say.
# `ctl cluster --json` of member $1 in one line per fact:
#   reachable true|false, mismatch true|false, members N, gateways N (live
#   gateways in the table), draining ID..., member ID GENERATION DIGEST
cl_cluster_facts() {
  cl_ctl "$1" --json cluster 2>/dev/null | "$PYTHON" -c '
import json, sys
c = json.load(sys.stdin)
print("reachable", str(c.get("etcd_reachable")).lower())
print("mismatch", str(c.get("digest_mismatch")).lower())
ms = c.get("members") or []
print("members", len(ms))
for m in ms:
    print("member", m.get("appliance_id"), m.get("generation"), m.get("digest"))
print("gateways", c.get("gateways"))
print("draining", *(c.get("draining") or []))
'
}

# The digests member $1 lists, one per member, as "ID=DIGEST" sorted.
cl_digests() { cl_cluster_facts "$1" | awk '$1 == "member" { print $2 "=" $4 }' | sort; }

# True when every live member lists the members $@ (appliance IDs), all with
# one digest, etcd reachable and no mismatch.
cl_agree() {
  local want m first="" d ids digests
  want=$(printf '%s\n' "$@" | sort -n | tr '\n' ' ')
  for m in A1 A2 G1 G2 G3; do
    cl_alive "$m" || continue
    d=$(cl_cluster_facts "$m") || return 1
    grep -qx "reachable true" <<<"$d" || return 1
    grep -qx "mismatch false" <<<"$d" || return 1
    ids=$(awk '$1 == "member" { print $2 }' <<<"$d" | sort -n | tr '\n' ' ')
    [ "$ids" = "$want" ] || return 1
    digests=$(awk '$1 == "member" { print $4 }' <<<"$d" | sort -u)
    [ "$(grep -c . <<<"$digests")" = 1 ] || return 1
    [ "$digests" != None ] || return 1
    if [ -z "$first" ]; then first=$digests; elif [ "$first" != "$digests" ]; then return 1; fi
  done
  [ -n "$first" ]
}

# The gateway member $1 steers session $2 to (pinned), or nothing.
cl_pinned_gateway() {
  cl_ctl "$1" --json sessions 2>/dev/null | "$PYTHON" -c '
import json, sys
for s in json.load(sys.stdin):
    if s.get("id") == sys.argv[1] and s.get("gateway") is not None:
        print(s["gateway"])' "$2"
}
