#!/usr/bin/env bash
# PROXY protocol v2 toward servers through the real binary (issue 15, item
# 5): a terminal and an nginx in network namespaces around tandem's net_tap
# ports, real curl. Needs root, nginx (scripts/setup.sh --test-tools), and
# scapy for /usr/bin/python3.
#
#   tests/e2e/proxy_protocol.sh          build (debug) and run
#   TANDEM_BIN=path proxy_protocol.sh    use that binary
#   E2E_KEEP=1 ...                       keep the temp dir (logs, config, captures)
#
# Config: service "pp" (VIP port 80, proxy_protocol: V2) in front of nginx
# listening with `proxy_protocol` on 10.2.0.21:8088; service "plain" (VIP
# port 81, no option) in front of nginx without it on 10.2.0.21:8089. Both
# log `$proxy_protocol_addr $proxy_protocol_port $remote_addr ...`.
# Checks: (a) a GET through "pp" is logged with the terminal's address and
# the port curl used as $proxy_protocol_addr/_port (the connection itself,
# $remote_addr, comes from the gateway address); (b) the SYN-ACK the
# terminal gets offers an MSS 39 bytes below the server's (checksum valid),
# and the first segment the server gets with data carries a v2 header with
# the terminal's address and port, the VIP and port, and TLV 0xE0 holding
# the session ID (whose low 32 bits are the terminal's address with
# steering key SourceIp); (c) a 50 MB download and (d) a 20 MB upload (PUT)
# through "pp" arrive whole (size and SHA-256); (e) "plain" still works,
# its server sees the gateway address and no header, a 50 MB download
# included; (f) ctl counts the inserted headers, no `proxy_no_room` drops.
# Prints PASS/FAIL per check and a last line "N passed, M failed".
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

RUN_ID=$$
NS_UE="pp${RUN_ID}ue"
NS_SRV="pp${RUN_ID}srv"
NS_EXT="pp${RUN_ID}ext"
IF_ACC0="pp${RUN_ID}a0"
IF_ACC1="pp${RUN_ID}a1"
IF_SRV="pp${RUN_ID}s0"
IF_EXT="pp${RUN_ID}e0"
FILE_PREFIX="tdmpp${RUN_ID}"
WORKDIR="$(mktemp -d "/tmp/tandem-pp.${RUN_ID}.XXXXXX")"
CONFIG="$WORKDIR/proxy.ron"
SCAPY_PY=${SCAPY_PYTHON:-/usr/bin/python3}
TANDEM_LOG="$WORKDIR/tandem.log"
CTL_SOCKET="$WORKDIR/ctl.sock"
NGINX_CONF="$WORKDIR/nginx.conf"
WWW="$WORKDIR/www"

SERVER=10.2.0.21
PP_PORT=8088
PLAIN_PORT=8089
BIG_MB=50
UP_MB=20

# Only one server address is in the config: tandem resolves only it.
WEB_SERVERS=("$SERVER")
VIDEO_SERVERS=()

DPDK_PREFIXES=("$FILE_PREFIX")
e2e_traps

write_config() {
  cat >"$CONFIG" <<EOF
(
$(tap_eal_section)
    ports: [
        (name: "acc0", device: "net_tap0", role: Access, addresses: ["$ACC0_GW/24"]),
        (name: "acc1", device: "net_tap1", role: Access, addresses: ["$ACC1_GW/24"]),
        (name: "srv0", device: "net_tap2", role: Server, addresses: ["10.2.0.1/24"]),
        (name: "ext0", device: "net_tap3", role: External, addresses: ["$EXT_GW/24"]),
    ],
    workers: [
        (lcore: 1, poll: [(port: "acc0"), (port: "acc1"), (port: "srv0"), (port: "ext0")]),
    ],
    mempool: (mbufs: 16383),
    idle: (busy_poll: false, max_sleep_us: 500),
    gateway: (addresses: ["${GATEWAY_IPS[0]}"], port_range: (1024, 65535), user_sessions_per_worker: 4096),
    steering: (key: SourceIp),
    services: [
        (name: "pp", vip: "$VIP_WEB", proto: Tcp, port: 80, proxy_protocol: V2, servers: [
            (addr: "$SERVER", port: $PP_PORT),
        ]),
        (name: "plain", vip: "$VIP_WEB", proto: Tcp, port: 81, servers: [
            (addr: "$SERVER", port: $PLAIN_PORT),
        ]),
    ],
    api: (socket: "$CTL_SOCKET"),
)
EOF
}

# One nginx process (no master, no daemon: its PID is the server), all
# paths in WORKDIR.
write_nginx_conf() {
  mkdir -p "$WWW/up" "$WORKDIR/nginx-tmp"
  cat >"$NGINX_CONF" <<EOF
daemon off;
master_process off;
pid $WORKDIR/nginx.pid;
error_log $WORKDIR/nginx-error.log info;
events { worker_connections 64; }
http {
    client_body_temp_path $WORKDIR/nginx-tmp/body;
    proxy_temp_path $WORKDIR/nginx-tmp/proxy;
    fastcgi_temp_path $WORKDIR/nginx-tmp/fastcgi;
    uwsgi_temp_path $WORKDIR/nginx-tmp/uwsgi;
    scgi_temp_path $WORKDIR/nginx-tmp/scgi;
    default_type application/octet-stream;
    log_format pp '\$proxy_protocol_addr \$proxy_protocol_port \$remote_addr "\$request" \$status \$body_bytes_sent';
    server {
        listen $SERVER:$PP_PORT proxy_protocol;
        root $WWW;
        access_log $WORKDIR/pp-access.log pp;
        location /up/ {
            dav_methods PUT;
            client_max_body_size 100m;
        }
    }
    server {
        listen $SERVER:$PLAIN_PORT;
        root $WWW;
        access_log $WORKDIR/plain-access.log pp;
    }
}
EOF
}

prepare() {
  require_root_and curl tcpdump tshark nginx sha256sum
  "$SCAPY_PY" -c 'import scapy.all' 2>/dev/null || { log "needs scapy for $SCAPY_PY"; exit 2; }
  tandem_binary
  write_config
  config_accepted "$CONFIG"
  write_nginx_conf
  head -c $((BIG_MB * 1024 * 1024)) /dev/urandom >"$WWW/big.bin" || setup_failed "no test file"
  head -c $((UP_MB * 1024 * 1024)) /dev/urandom >"$WORKDIR/upload.bin" || setup_failed "no upload file"
  echo hello >"$WWW/index.html"
}

setup() {
  start_tandem "$CONFIG" "$TANDEM_LOG" "$TANDEM" || setup_failed "tandem did not start"
  topo_build || setup_failed "could not build the namespaces"
  # ip netns exec execs nginx, so $! is the server's own PID.
  ip netns exec "$NS_SRV" nginx -c "$NGINX_CONF" >"$WORKDIR/nginx.out" 2>&1 &
  BG_PIDS+=($!)
  wait_for 10 ip netns exec "$NS_SRV" bash -c "ss -ltn | grep -q '$SERVER:$PLAIN_PORT'" ||
    setup_failed "nginx did not start: $(cat "$WORKDIR/nginx.out" "$WORKDIR/nginx-error.log" 2>/dev/null | tail -5)"
  topo_wait_neighbours "$TANDEM_LOG" || setup_failed "tandem did not resolve the server"
}

# Starts tcpdump in namespace $1 on $2 writing $3 with filter $4; waits
# until it listens. Sets CAP_PID.
capture() {
  local ns=$1 ifc=$2 file=$3 filter=$4
  ip netns exec "$ns" tcpdump -i "$ifc" -nn -U --immediate-mode -s 256 -w "$file" "$filter" 2>"$file.err" &
  CAP_PID=$!
  BG_PIDS+=("$CAP_PID")
  wait_for 5 grep -q "listening on" "$file.err" || { log "tcpdump in $ns: $(cat "$file.err")"; return 1; }
}

stop_capture() {
  local p keep=()
  kill -INT "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  for p in "${BG_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  BG_PIDS=("${keep[@]}")
}

# The access log line of the request "$2" in log $1 (the last one).
log_line() { grep -F "\"$2 " "$1" | tail -1; }

# (a) and (b): a small GET, its log line and the header on the wire.
scenario_address() {
  local cap="$WORKDIR/server.pcap" ue_cap="$WORKDIR/terminal.pcap" pid ue_pid out code lport
  capture "$NS_SRV" "$IF_SRV" "$cap" "tcp port $PP_PORT" || { fail "setup: tcpdump in the server namespace"; return; }
  pid=$CAP_PID
  capture "$NS_UE" "$IF_ACC0" "$ue_cap" "tcp port 80" || { fail "setup: tcpdump in the terminal namespace"; return; }
  ue_pid=$CAP_PID
  out=$(in_ue curl -sS -m 10 -o /dev/null -w '%{http_code} %{local_port}' "http://$VIP_WEB/index.html" 2>&1)
  read -r code lport <<<"$out"
  sleep 0.5
  stop_capture "$pid"
  stop_capture "$ue_pid"
  check "pp: GET through the VIP answered 200" "curl said '$out'" test "$code" = 200
  local line
  line=$(log_line "$WORKDIR/pp-access.log" "GET /index.html")
  read -r pp_addr pp_port remote _ <<<"$line"
  # The connection itself comes from the gateway (full NAT); the header
  # names the terminal.
  if [ "${pp_addr:-}" = "$TERM_IP" ] && [ "${pp_port:-}" = "${lport:-x}" ] && [ "${remote:-}" = "${GATEWAY_IPS[0]}" ]; then
    pass "pp: nginx logs the terminal $pp_addr:$pp_port (curl's own port) on a connection from the gateway $remote"
  else
    fail "pp: log line '$line', want proxy_protocol_addr $TERM_IP port ${lport:-?}, remote ${GATEWAY_IPS[0]}"
  fi
  # The MSS the terminal is offered leaves room for the header.
  local sent offered
  sent=$(tshark -r "$cap" -Y 'tcp.flags == 0x012' -T fields -e tcp.options.mss_val 2>/dev/null | head -1)
  offered=$(tshark -r "$ue_cap" -o tcp.check_checksum:TRUE -Y 'tcp.flags == 0x012 && tcp.checksum.status == 1' \
    -T fields -e tcp.options.mss_val 2>/dev/null | head -1)
  if [ -n "$sent" ] && [ "${offered:-}" = "$((sent - 39))" ]; then
    pass "pp: the server's SYN-ACK offers MSS $sent, the terminal gets $offered (39 less), checksum valid"
  else
    fail "pp: SYN-ACK MSS '$sent' at the server, '$offered' at the terminal (want 39 less, valid checksum)"
  fi
  # The header as the server received it.
  cat >"$WORKDIR/header.py" <<'PY'
import struct, sys
from scapy.all import rdpcap, TCP, IP, Raw
cap, term, vip, vport, lport = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
sig = bytes([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
for p in rdpcap(cap):
    if Raw not in p:
        continue
    b = bytes(p[Raw].load)
    if not b.startswith(sig):
        continue
    ver, fam, length = b[12], b[13], struct.unpack("!H", b[14:16])[0]
    src, dst = ".".join(map(str, b[16:20])), ".".join(map(str, b[20:24]))
    sport, dport = struct.unpack("!HH", b[24:28])
    tlv = b[28:16 + length]
    ok = (ver, fam, length) == (0x21, 0x11, 23) and (src, dst, sport, dport) == (term, vip, lport, vport)
    sid = struct.unpack("!Q", tlv[3:11])[0] if len(tlv) == 11 and tlv[:3] == b"\xe0\x00\x08" else None
    low = sid is not None and (sid & 0xffffffff) == struct.unpack("!I", bytes(map(int, term.split("."))))[0]
    print(f"{'ok' if ok and low else 'bad'} v={ver:#x} fam={fam:#x} len={length} {src}:{sport} -> {dst}:{dport} "
          f"sid={sid:#x}" if sid is not None else f"bad tlv={tlv.hex()}")
    sys.exit(0)
print("none: no segment starts with the v2 signature")
PY
  local verdict
  verdict=$("$SCAPY_PY" "$WORKDIR/header.py" "$cap" "$TERM_IP" "$VIP_WEB" 80 "${lport:-0}" 2>&1 | tail -1)
  check "pp: the server got a v2 header: $verdict" "want terminal, VIP:80 and TLV 0xE0 with the session ID" \
    test "${verdict%% *}" = ok
}

# A download of big.bin through VIP port $1: size and hash.
download() {
  local port=$1 tag=$2 out="$WORKDIR/down-$2.bin" got
  got=$(in_ue curl -sS -m 120 -o "$out" -w '%{http_code} %{size_download}' "http://$VIP_WEB:$port/big.bin" 2>&1)
  local want_size=$((BIG_MB * 1024 * 1024))
  if [ "$got" = "200 $want_size" ] && [ "$(sha256sum <"$out")" = "$(sha256sum <"$WWW/big.bin")" ]; then
    pass "$tag: ${BIG_MB} MB download complete, SHA-256 matches"
  else
    fail "$tag: download got '$got' (want 200 $want_size) or a different SHA-256"
  fi
  rm -f "$out"
}

# (c), (d): bulk both ways through "pp".
scenario_bulk() {
  download 80 pp
  local got
  got=$(in_ue curl -sS -m 120 -T "$WORKDIR/upload.bin" -o /dev/null -w '%{http_code}' "http://$VIP_WEB/up/upload.bin" 2>&1)
  if [[ "$got" =~ ^20[14]$ ]] && [ "$(sha256sum <"$WWW/up/upload.bin")" = "$(sha256sum <"$WORKDIR/upload.bin")" ]; then
    pass "pp: ${UP_MB} MB upload (PUT) stored whole, SHA-256 matches"
  else
    fail "pp: upload got '$got' or a different SHA-256"
  fi
  local line
  line=$(log_line "$WORKDIR/pp-access.log" "GET /big.bin")
  check "pp: the download is logged from $TERM_IP" "log line '$line'" test "${line%% *}" = "$TERM_IP"
}

# (e) the service without the option.
scenario_plain() {
  local code
  code=$(in_ue curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://$VIP_WEB:81/index.html" 2>&1)
  check "plain: GET answered 200" "curl said '$code'" test "$code" = 200
  local line pp_addr remote
  line=$(log_line "$WORKDIR/plain-access.log" "GET /index.html")
  read -r pp_addr _ remote _ <<<"$line"
  if [ "${remote:-}" = "${GATEWAY_IPS[0]}" ] && [ "${pp_addr:-}" = "-" ]; then
    pass "plain: nginx sees the gateway ${GATEWAY_IPS[0]} and no PROXY header"
  else
    fail "plain: log line '$line', want remote ${GATEWAY_IPS[0]} and proxy_protocol_addr '-'"
  fi
  download 81 plain
}

# (f) counters.
scenario_counters() {
  local n drops
  n=$(stat_of worker proxy_headers_inserted)
  drops=$(stat_of drop proxy_no_room)
  # Three connections through "pp" (GET, download, upload); a re-sent
  # header counts again.
  if [ "${n:-0}" -ge 3 ] && [ "${drops:-x}" = 0 ]; then
    pass "ctl: proxy_headers_inserted = $n (3 connections), proxy_no_room = 0"
  else
    fail "ctl: proxy_headers_inserted = '$n' (want >= 3), proxy_no_room = '$drops'"
  fi
  check "ctl workers shows proxy_headers_inserted" "not in the table" bash -c "'$TANDEM' ctl --socket '$CTL_SOCKET' workers | grep -q proxy_headers_inserted"
}

prepare
setup
scenario_address
scenario_bulk
scenario_plain
scenario_counters
if [ "$FAILED" != 0 ]; then
  echo "--- tandem log (last 30 lines)"
  plain_log "$TANDEM_LOG" | tail -30
  for f in "$WORKDIR"/pp-access.log "$WORKDIR"/plain-access.log "$WORKDIR"/nginx-error.log; do
    [ -s "$f" ] && { echo "--- $f"; tail -20 "$f"; }
  done
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
