#!/usr/bin/env bash
# Tandem against dpdk-testpmd io forwarding on the same virtual devices, in
# the same run (BENCHMARKS.md explains the method and the results).
#
#   scripts/bench.sh                  build, generate, verify, 3 rounds each
#   ROUNDS=5 DURATION=20 scripts/bench.sh
#   WORKLOADS=churn SKIP_BUILD=1 scripts/bench.sh
#
# Steps:
#  1. cargo build --release -p appliance (SKIP_BUILD=1 skips it);
#  2. `tandem gen-pcap` writes the workloads into $BENCH_DIR: established
#     (1000 terminals x 10 flows, replayed: every packet after the first
#     pass hits a live user session) and churn (600k distinct flows, one
#     packet each; with the timeouts at 0 user sessions expire within a
#     timer tick, so each pass opens them anew);
#  3. correctness gate: tandem translates a finite file onto a net_pcap
#     server port; every output frame is checked against its input (gateway
#     source, a configured server, ports, TTL, payload, checksums computed
#     from scratch, one gateway port per flow). A failure stops the script.
#  4. for each workload, ROUNDS rounds of A) dpdk-testpmd --forward-mode=io
#     and B) tandem with conf/bench.ron, alternating, DURATION seconds each,
#     one forwarding lcore (CPU 1) and the main lcore on CPU 0 for both. The
#     rate of a run is the median of its per-second rates, the first second
#     left out: testpmd's Tx-pps of the null port, tandem's tx counter from
#     its per-second stats line. Prints the median first, then every round
#     with the ratio B/A of the pair. Tandem's per-worker counters (drops by
#     reason) are kept next to each log as *.workers.
#
# The machine is shared: the load average is printed with every round.
#
# Both programs run with GLIBC_TUNABLES=glibc.malloc.hugetlb=1, as
# dist/tandem.service runs Tandem (its session tables on 2 MiB pages); set
# GLIBC_TUNABLES= (empty) to measure without.
set -euo pipefail
export GLIBC_TUNABLES=${GLIBC_TUNABLES-glibc.malloc.hugetlb=1}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/tandem-bench}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WORKLOADS=${WORKLOADS:-"established churn"}
SKIP_BUILD=${SKIP_BUILD:-0}
TANDEM=$ROOT/target/release/tandem
TESTPMD=${TESTPMD:-dpdk-testpmd}
# Mbufs for both: the replayed file is held in mbufs (256-byte data room).
MBUFS=1048575

log() { printf '%s\n' "$*" >&2; }
die() { log "bench.sh: $*"; exit 1; }

command -v "$TESTPMD" >/dev/null || die "$TESTPMD not found (apt-get install dpdk)"
command -v python3 >/dev/null || die "python3 not found"

if [ "$SKIP_BUILD" != 1 ]; then
    log "== building (release)"
    (cd "$ROOT" && cargo build --release -p appliance)
fi
[ -x "$TANDEM" ] || die "$TANDEM missing"

mkdir -p "$BENCH_DIR"
rm -f "$BENCH_DIR"/*.log "$BENCH_DIR"/out-*.pcap

log "== generating workloads in $BENCH_DIR"
"$TANDEM" gen-pcap --out "$BENCH_DIR/flows.pcap" --terminals 1000 --flows-per-terminal 10 \
    --udp-percent 20 --packets 50000 --frame-size 64 >&2
"$TANDEM" gen-pcap --out "$BENCH_DIR/churn.pcap" --churn --terminals 1000 \
    --flows-per-terminal 600 --udp-percent 20 --frame-size 64 >&2
"$TANDEM" gen-pcap --out "$BENCH_DIR/verify.pcap" --terminals 50 --flows-per-terminal 4 \
    --udp-percent 25 --packets 1000 --frame-size 100 --seed 3 >&2
# An empty capture for the verification run's server port to read.
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' \
    > "$BENCH_DIR/empty.pcap"

# Configs derived from conf/bench.ron.
BASE=$ROOT/conf/bench.ron
grep -q '"net_pcap0,rx_pcap=/tmp/tandem-bench/flows.pcap,infinite_rx=1,tx_pcap=/dev/null,tx_pcap=/dev/null"' "$BASE" || die "$BASE: rx_pcap line changed"
grep -q 'timeouts: (tcp_syn_s: 10, udp_s: 30)' "$BASE" || die "$BASE: timeouts line changed"
sed "s#/tmp/tandem-bench/flows.pcap#$BENCH_DIR/flows.pcap#" "$BASE" > "$BENCH_DIR/established.ron"
sed -e "s#/tmp/tandem-bench/flows.pcap#$BENCH_DIR/churn.pcap#" \
    -e 's#timeouts: (tcp_syn_s: 10, udp_s: 30)#timeouts: (tcp_syn_s: 0, udp_s: 0)#' \
    "$BASE" > "$BENCH_DIR/churn.ron"
V=$BENCH_DIR
sed -e "s#\"net_pcap0,rx_pcap=/tmp/tandem-bench/flows.pcap,infinite_rx=1,tx_pcap=/dev/null,tx_pcap=/dev/null\"#\"net_pcap0,rx_pcap=$V/verify.pcap,tx_pcap=$V/out-acc-q0.pcap,tx_pcap=$V/out-acc-q1.pcap\"#" \
    -e "s#\"net_null0,no-rx=1\"#\"net_pcap1,rx_pcap=$V/empty.pcap,tx_pcap=$V/out-srv-q0.pcap,tx_pcap=$V/out-srv-q1.pcap\"#" \
    -e 's#device: "net_null0"#device: "net_pcap1"#' \
    -e 's#file_prefix: "tandem-bench"#file_prefix: "tandem-bench-verify"#' \
    "$BASE" > "$BENCH_DIR/verify.ron"
for c in established churn verify; do
    "$TANDEM" check-config "$BENCH_DIR/$c.ron" >&2
done

# Frames in a pcap file (records counted by walking the headers).
pcap_frames() {
    python3 - "$1" <<'PY'
import struct, sys
try:
    b = open(sys.argv[1], "rb").read()
except OSError:
    print(0); sys.exit()
at, n = 24, 0
while at + 16 <= len(b):
    incl = struct.unpack_from("<I", b, at + 8)[0]
    if at + 16 + incl > len(b):
        break
    at += 16 + incl
    n += 1
print(n)
PY
}

log "== correctness: translating verify.pcap onto a pcap server port"
expected=$(pcap_frames "$BENCH_DIR/verify.pcap")
"$TANDEM" run --config "$BENCH_DIR/verify.ron" > "$BENCH_DIR/verify.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
    n=$(pcap_frames "$BENCH_DIR/out-srv-q0.pcap")
    [ "$n" -ge "$expected" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.5
done
kill -TERM $pid 2>/dev/null || true
wait $pid || { tail -20 "$BENCH_DIR/verify.log" >&2; die "tandem failed in the verification run"; }
python3 - "$BENCH_DIR/verify.pcap" "$BENCH_DIR/out-srv-q0.pcap" "$BASE" <<'PY' || die "translated frames are wrong"
import re, struct, sys
from ipaddress import IPv4Address

def frames(path):
    b = open(path, "rb").read()
    # Microsecond or nanosecond timestamps (net_pcap writes the latter).
    assert struct.unpack_from("<I", b, 0)[0] in (0xA1B2C3D4, 0xA1B23C4D), path
    at, out = 24, []
    while at + 16 <= len(b):
        incl = struct.unpack_from("<I", b, at + 8)[0]
        out.append(b[at + 16:at + 16 + incl])
        at += 16 + incl
    return out

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s  # 0xffff when the stored checksum is right

def parse(f):
    assert f[12:14] == b"\x08\x00", "IPv4"
    ip = f[14:]
    ihl = (ip[0] & 15) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    assert csum(ip[:ihl]) == 0xFFFF, "IPv4 header checksum"
    src, dst, proto = ip[12:16], ip[16:20], ip[9]
    l4 = ip[ihl:total]
    pseudo = src + dst + struct.pack("!BBH", 0, proto, len(l4))
    assert csum(pseudo + l4) == 0xFFFF, "L4 checksum"
    if proto == 17:
        assert l4[6:8] != b"\0\0", "UDP checksum present"
    sport, dport = struct.unpack("!HH", l4[:4])
    hl = (l4[12] >> 4) * 4 if proto == 6 else 8
    return dict(dmac=f[0:6], src=IPv4Address(src), dst=IPv4Address(dst), proto=proto,
                ttl=ip[8], sport=sport, dport=dport, rest=l4[4:16] if proto == 6 else b"",
                payload=l4[hl:])

conf = open(sys.argv[3]).read()
gateways = {IPv4Address(a) for a in re.findall(r'"(10\.2\.1\.\d+)"', conf)}
servers = {IPv4Address(a): bytes.fromhex(m.replace(":", ""))
           for a, m in re.findall(r'\(ip: "([\d.]+)", mac: "([0-9a-f:]+)"\)', conf)}
ins, outs = frames(sys.argv[1]), frames(sys.argv[2])
assert len(outs) == len(ins), f"{len(outs)} frames out for {len(ins)} in"
flows, used = {}, {}
for n, (i, o) in enumerate(zip(ins, outs)):
    a, b = parse(i), parse(o)
    assert b["src"] in gateways, f"frame {n}: source {b['src']} is not a gateway address"
    assert b["dst"] in servers, f"frame {n}: destination {b['dst']} is not a server"
    assert b["dmac"] == servers[b["dst"]], f"frame {n}: not the server's MAC"
    assert b["dport"] == 8080 and b["proto"] == a["proto"], f"frame {n}: port/protocol"
    assert b["ttl"] == a["ttl"] - 1, f"frame {n}: TTL"
    assert b["rest"] == a["rest"] and b["payload"] == a["payload"], f"frame {n}: payload or TCP fields"
    key = (a["proto"], a["src"], a["sport"])
    got = (b["src"], b["sport"], b["dst"])
    assert flows.setdefault(key, got) == got, f"frame {n}: flow {key} moved"
    assert used.setdefault((b["proto"], b["src"], b["sport"]), key) == key, \
        f"frame {n}: gateway port {b['src']}:{b['sport']} shared by two flows"
per_server = {}
for (_, _, dst) in flows.values():
    per_server[dst] = per_server.get(dst, 0) + 1
print(f"verify: {len(outs)} frames of {len(flows)} flows translated correctly; "
      f"flows per server {sorted(per_server.values())}", file=sys.stderr)
PY

loadavg() { cut -d' ' -f1 /proc/loadavg; }

# Median of the per-second rates after the first, in Mpps.
testpmd_rate() {
    python3 - "$1" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read()
rates = []
for block in re.split(r"NIC statistics for port", text)[1:]:
    port = int(block.split()[0])
    m = re.search(r"Tx-pps:\s+(\d+)", block)
    if port == 1 and m:
        rates.append(int(m.group(1)))
rates = rates[1:]
print(f"{statistics.median(rates) / 1e6:.3f}" if rates else "nan")
PY
}

# Same for tandem: tx (and user sessions created) between stats lines.
tandem_rate() {
    python3 - "$1" <<'PY'
import re, statistics, sys
from datetime import datetime
pts = []
for line in open(sys.argv[1]):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    if " stats " not in line and not line.rstrip().endswith("stats"):
        continue
    m = re.match(r"\S*?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)", line)
    f = dict(re.findall(r"(\w+)=(\d+)", line))
    if m and "tx" in f:
        t = datetime.fromisoformat(m.group(1)).timestamp()
        pts.append((t, int(f["tx"]), int(f.get("created", 0)), int(f.get("dropped", 0))))
# Per-second rates; the first interval (start-up) and the last (stop) left out.
r = [((b[1] - a[1]) / (b[0] - a[0]), (b[2] - a[2]) / (b[0] - a[0]), b[3] - a[3])
     for a, b in zip(pts, pts[1:]) if b[0] > a[0]][1:-1]
if not r:
    print("nan nan 0")
else:
    print(f"{statistics.median(x[0] for x in r) / 1e6:.3f} "
          f"{statistics.median(x[1] for x in r) / 1e6:.3f} {sum(x[2] for x in r)}")
PY
}

run_testpmd() { # workload file log
    "$TESTPMD" -l 0,1 --main-lcore 0 --no-huge -m 1024 --no-pci --file-prefix tandem-bench-testpmd \
        --vdev "net_pcap0,rx_pcap=$1,infinite_rx=1,tx_pcap=/dev/null,tx_pcap=/dev/null" --vdev "net_null0,no-rx=1" -- \
        --forward-mode=io --stats-period 1 --total-num-mbufs=$MBUFS --mbuf-size=256 \
        --burst=32 --rxd=1024 --txd=1024 --nb-cores=1 > "$2" 2>&1 &
    local pid=$!
    sleep $((DURATION + 2))
    kill -TERM $pid 2>/dev/null || true
    wait $pid || true
}

run_tandem() { # config log
    "$TANDEM" run --config "$1" > "$2" 2>&1 &
    local pid=$!
    sleep $((DURATION + 2))
    # Per-worker counters with drops by reason, for the record.
    "$TANDEM" ctl --socket /run/tandem/tandem-bench.sock workers > "${2%.log}.workers" 2>&1 || true
    kill -TERM $pid 2>/dev/null || true
    wait $pid || { tail -5 "$2" >&2; die "tandem failed: see $2"; }
}

for w in $WORKLOADS; do
    case $w in
        established) pcap=$BENCH_DIR/flows.pcap ;;
        churn) pcap=$BENCH_DIR/churn.pcap ;;
        *) die "unknown workload $w" ;;
    esac
    log "== $w: $ROUNDS rounds of ${DURATION} s (A: testpmd io, B: tandem)"
    results=()
    for r in $(seq 1 "$ROUNDS"); do
        la=$(loadavg)
        run_testpmd "$pcap" "$BENCH_DIR/$w-testpmd-$r.log"
        a=$(testpmd_rate "$BENCH_DIR/$w-testpmd-$r.log")
        run_tandem "$BENCH_DIR/$w.ron" "$BENCH_DIR/$w-tandem-$r.log"
        read -r b created dropped < <(tandem_rate "$BENCH_DIR/$w-tandem-$r.log")
        results+=("$a $b $created $dropped $la")
        log "   round $r done: testpmd $a Mpps, tandem $b Mpps (load $la)"
    done
    printf '%s\n' "${results[@]}" > "$BENCH_DIR/$w-results.txt"
    python3 - "$w" "$BENCH_DIR/$w-results.txt" <<'PY'
import statistics, sys
w = sys.argv[1]
rows = [l.split() for l in open(sys.argv[2]) if l.strip()]
def f(x):
    try:
        return float(x)
    except ValueError:
        return float("nan")
ratios = [f(b) / f(a) if f(a) > 0 else float("nan") for a, b, *_ in rows]
print(f"{w}: median testpmd {statistics.median(f(r[0]) for r in rows):.3f} Mpps, "
      f"tandem {statistics.median(f(r[1]) for r in rows):.3f} Mpps, "
      f"ratio B/A {statistics.median(ratios):.3f} (median of {len(rows)} pairs)")
for i, (r, q) in enumerate(zip(rows, ratios), 1):
    a, b, created, dropped, load = r
    extra = f", new user sessions {created} M/s" if w == "churn" else ""
    print(f"  round {i}: testpmd {a} Mpps, tandem {b} Mpps, B/A {q:.3f}"
          f"{extra}, tandem drops {dropped}, load {load}")
PY
done
