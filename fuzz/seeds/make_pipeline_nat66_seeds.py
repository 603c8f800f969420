#!/usr/bin/python3
# Regenerate with: /usr/bin/python3 fuzz/seeds/make_pipeline_nat66_seeds.py fuzz/seeds
# (Debian python with scapy). The seeds are committed; this is how they were made.
#
# Seeds for the `pipeline` target that bring IPv6 -> IPv6 full NAT (NAT66,
# dataplane/src/pipeline/nat66.rs) to the workers: fuzz/src/lab.rs gives
# them gateway IPv6 address GW6 (2001:db8:2::10, address index 1, on the
# server port) and the policy of dataplane::testkit::policy_with_ipv6_servers:
# "web66" TCP 80 and "dns66" UDP 53 at VIP66 (2001:db8:9::66), served by
# SERVERS6 2001:db8:2::21/22 on 8080 (UDP: 2001:db8:2::21 on 5353). An IPv6
# terminal's TCP handshake and data both ways, a UDP query answered with a
# zero UDP checksum, a fragmented datagram both ways, replies from the wrong
# server, port or address, replies to gateway ports no user session holds,
# and the terminal inside GTP-U. The gateway port a user session gets is
# not known here, so every answer goes to each of the first ports of the
# range (1024..=1055, dealt out round robin to two workers), received by
# either worker: the one that does not own the port hands it to the one that
# does. Byte layout as in make_pipeline_ipv6_seeds.py (`Op::Raw` of the
# target's `Script`).
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_script
from scapy.all import Ether, IP, IPv6, UDP, TCP, Raw, raw
from scapy.contrib.gtp import GTP_U_Header
from scapy.layers.inet6 import (ICMPv6EchoRequest, ICMPv6DestUnreach, ICMPv6PacketTooBig, ICMPv6TimeExceeded,
    IPv6ExtHdrFragment, fragment6)

root = sys.argv[1]
ACC, SRV, EXT = 0, 1, 2
PORT_MAC = {ACC: "02:00:00:00:00:01", SRV: "02:00:00:00:00:02", EXT: "02:00:00:00:00:03"}
UE_MAC = "02:00:00:00:aa:01"
UE_V6, VIP66 = "2001:db8:1::100", "2001:db8:9::66"
GW6, SRV_V6 = "2001:db8:2::10", "2001:db8:2::1"
SERVERS6 = ["2001:db8:2::21", "2001:db8:2::22"]
DNS_SERVER6 = SERVERS6[0]
STRANGER6 = "2001:db8:2::99"
FIRST_PORTS = range(1024, 1032)

def put(name, mode, ops):
    pipeline_script.put(root, name, mode, ops)

def server6_mac(ip):
    # dataplane::testkit::server6_mac: 02:00:00:06 and the last two bytes.
    last = int(ip.split(":")[-1], 16)
    return "02:00:00:06:%02x:%02x" % (last >> 8, last & 0xff)

def up(pkt):
    return raw(Ether(src=UE_MAC, dst=PORT_MAC[ACC])/pkt)

def down(pkt, port=SRV):
    return raw(Ether(src=server6_mac(pkt[IPv6].src), dst=PORT_MAC[port])/pkt)

def both_workers(frames, port=SRV):
    """Each frame received by worker 0 and by worker 1."""
    return [(w, port, f) for f in frames for w in (0, 1)]

payload = bytes((i * 37) & 0xff for i in range(64))

def from_terminal(flags, seq, ack, data=b"", sport=40000):
    p = IPv6(src=UE_V6, dst=VIP66)/TCP(sport=sport, dport=80, flags=flags, seq=seq, ack=ack)
    return up(p/Raw(data) if data else p)

def from_web(server, gw_port, flags, seq, ack, data=b"", sport=8080):
    p = IPv6(src=server, dst=GW6)/TCP(sport=sport, dport=gw_port, flags=flags, seq=seq, ack=ack)
    return down(p/Raw(data) if data else p)

def dns_answer(gw_port, data=payload, src=DNS_SERVER6, sport=5353, chksum=None):
    udp = UDP(sport=sport, dport=gw_port) if chksum is None else UDP(sport=sport, dport=gw_port, chksum=chksum)
    return down(IPv6(src=src, dst=GW6)/udp/Raw(data))

syn = from_terminal("S", 1000, 0)
query = up(IPv6(src=UE_V6, dst=VIP66)/UDP(sport=40001, dport=53)/Raw(payload))

# TCP through VIP66: the handshake (the SYN-ACK from either IPv6 server to
# each first gateway port, received by either worker), data both ways and
# the close; a UDP query and its answer alongside.
ops = [(0, ACC, syn), (1, ACC, query)]
ops += both_workers([from_web(s, p, "SA", 5000, 1001) for p in FIRST_PORTS for s in SERVERS6])
ops += [(0, ACC, from_terminal("A", 1001, 5001)),
        (1, ACC, from_terminal("PA", 1001, 5001, payload))]
ops += both_workers([from_web(s, p, "PA", 5001, 1065, payload) for p in FIRST_PORTS for s in SERVERS6])
ops += both_workers([dns_answer(p) for p in FIRST_PORTS])
ops += [(0, ACC, from_terminal("FA", 1065, 5065))]
ops += both_workers([from_web(s, p, "FA", 5065, 1066) for p in FIRST_PORTS for s in SERVERS6])
ops += [(1, ACC, from_terminal("A", 1066, 5066))]
put("nat66-tcp-handshake-and-data-both-ways", 0, ops)

# UDP to VIP66 port 53, the server's answer with a UDP checksum of 0 (not
# allowed over IPv6, but seen: the gateway computes one), then a right one
# and a wrong one; a query with a zero checksum of its own.
ops = [(0, ACC, query), (1, ACC, up(IPv6(src=UE_V6, dst=VIP66)/UDP(sport=40002, dport=53, chksum=0)/Raw(payload)))]
ops += both_workers([dns_answer(p, chksum=0) for p in FIRST_PORTS])
ops += both_workers([dns_answer(p) for p in FIRST_PORTS])
ops += both_workers([dns_answer(p, chksum=0x1234) for p in FIRST_PORTS[:4]])
put("nat66-udp-dns-zero-checksum-answer", 0, ops)

# A UDP datagram to VIP66 in IPv6 fragments (in order, then reversed, then
# to the other worker), a hop limit of 1 toward VIP66, and the server's
# answer in fragments (each received by either worker, so later pieces
# follow their first across the handoff).
def frags(ident, sport, size=200, reverse=False):
    big = IPv6(src=UE_V6, dst=VIP66)/IPv6ExtHdrFragment(id=ident)/UDP(sport=sport, dport=53)/Raw(payload * 8)
    fs = fragment6(big, size)
    return list(reversed(fs)) if reverse else fs
ops = [(0, ACC, up(p)) for p in frags(0xab01, 40003)]
ops += [(1, ACC, up(p)) for p in frags(0xab02, 40004, reverse=True)]
ops += [(1, ACC, up(p)) for p in frags(0xab03, 40005, size=120)]
ops.append((0, ACC, up(IPv6(src=UE_V6, dst=VIP66, hlim=1)/UDP(sport=40006, dport=53)/Raw(payload))))
ops.append((0, ACC, up(IPv6(src=UE_V6, dst=VIP66, hlim=2)/TCP(sport=40007, dport=80, flags="S"))))
for gw_port in FIRST_PORTS:
    answer = IPv6(src=DNS_SERVER6, dst=GW6)/IPv6ExtHdrFragment(id=0x7700 + gw_port)/UDP(sport=5353, dport=gw_port)/Raw(payload * 8)
    for w in (0, 1):
        ops += [(w, SRV, down(p)) for p in fragment6(answer, 200)]
# A later piece whose first never came.
orphan = fragment6(IPv6(src=DNS_SERVER6, dst=GW6)/IPv6ExtHdrFragment(id=0x7777)/UDP(sport=5353, dport=1024)/Raw(payload * 8), 200)
ops += both_workers([down(p) for p in orphan[1:]])
put("nat66-fragments-both-ways", 0, ops)

# Replies that are not the session's: from the other IPv6 server (the DNS
# session's server is always 2001:db8:2::21), from the right server but
# another port, from an address that is no server, TCP to the UDP session's
# port, ICMPv6 errors from a server to the gateway address (not served) and
# an echo to it (answered).
ops = [(0, ACC, syn), (1, ACC, query)]
ops += both_workers([dns_answer(p, src=SERVERS6[1]) for p in FIRST_PORTS])
ops += both_workers([dns_answer(p, sport=5354) for p in FIRST_PORTS])
ops += both_workers([dns_answer(p, src=STRANGER6) for p in FIRST_PORTS[:4]])
ops += both_workers([from_web(s, p, "SA", 5000, 1001, sport=8081) for p in FIRST_PORTS for s in SERVERS6])
ops += both_workers([from_web(DNS_SERVER6, p, "SA", 5000, 1001, sport=5353) for p in FIRST_PORTS[:4]])
quoted = raw(IPv6(src=GW6, dst=SERVERS6[0])/UDP(sport=1024, dport=5353)/Raw(payload))
ops += both_workers([down(IPv6(src=SERVERS6[0], dst=GW6)/ICMPv6DestUnreach(code=4)/Raw(quoted)),
                     down(IPv6(src=SERVERS6[0], dst=GW6)/ICMPv6PacketTooBig(mtu=1280)/Raw(quoted)),
                     down(IPv6(src=SERVERS6[0], dst=GW6)/ICMPv6EchoRequest(id=9, seq=1, data=payload))])
put("nat66-reply-from-wrong-server-or-port", 0, ops)

# Replies to gateway ports no user session holds: the rest of the range,
# below it (health-probe ports) and above it, to the gateway IPv6 address
# on the external port, and to the server port's own IPv6 address.
ops = [(0, ACC, query)]
ops += both_workers([dns_answer(p) for p in (1040, 1049, 1054, 1055, 1056, 1057, 1023, 1000, 4000, 65535)])
ops += both_workers([from_web(SERVERS6[0], p, "SA", 5000, 1001) for p in (1050, 1051, 1056, 2000)])
ops += both_workers([dns_answer(1024)], port=EXT)
ops += both_workers([down(IPv6(src=DNS_SERVER6, dst=SRV_V6)/UDP(sport=5353, dport=1024)/Raw(payload))])
put("nat66-reply-to-unknown-gateway-port", 0, ops)

# The terminal inside GTP-U (session ID = TEID), answered in its tunnel,
# and an answer too big for the tunnel (nat64_too_big).
enb = lambda inner: IP(src="10.1.0.50", dst="10.1.0.1")/UDP(sport=2152, dport=2152)/GTP_U_Header(teid=0x102, gtp_type=255)/inner
ops = [(0, ACC, up(enb(IPv6(src=UE_V6, dst=VIP66)/TCP(sport=40000, dport=80, flags="S", seq=1000)))),
       (1, ACC, up(enb(IPv6(src=UE_V6, dst=VIP66)/UDP(sport=40001, dport=53)/Raw(payload))))]
ops += both_workers([from_web(s, p, "SA", 5000, 1001) for p in FIRST_PORTS for s in SERVERS6])
ops += both_workers([dns_answer(p) for p in FIRST_PORTS])
ops += both_workers([dns_answer(p, data=bytes(1452)) for p in FIRST_PORTS[:4]])
put("nat66-in-gtpu", 0xffffffff, ops)

# ICMPv6 errors from the server side about the user sessions' packets
# (nat66_icmp.rs): port unreachable from the DNS server and Packet Too Big
# and time exceeded from a router, quoting each first gateway port (TCP
# and UDP, whole and cut short), received by either worker; one with a
# broken checksum; and health-probe answers (SYN-ACK, RST) from a server
# and a stranger to the probe ports.
ROUTER6 = "2001:db8:2::1:1"
ops = [(0, ACC, syn), (1, ACC, query)]
for p in FIRST_PORTS:
    udp_q = raw(IPv6(src=GW6, dst=DNS_SERVER6, hlim=63)/UDP(sport=p, dport=5353)/Raw(payload))
    for s in SERVERS6:
        tcp_q = raw(IPv6(src=GW6, dst=s, hlim=63)/TCP(sport=p, dport=8080, flags="S", seq=1000))
        ops += both_workers([down(IPv6(src=s, dst=GW6)/ICMPv6DestUnreach(code=4)/Raw(tcp_q)),
                             down(IPv6(src=ROUTER6, dst=GW6)/ICMPv6TimeExceeded()/Raw(tcp_q[:48]))])
    ops += both_workers([down(IPv6(src=DNS_SERVER6, dst=GW6)/ICMPv6DestUnreach(code=4)/Raw(udp_q)),
                         down(IPv6(src=ROUTER6, dst=GW6)/ICMPv6PacketTooBig(mtu=1280)/Raw(udp_q))])
bad = bytearray(down(IPv6(src=DNS_SERVER6, dst=GW6)/ICMPv6DestUnreach(code=4)/Raw(raw(IPv6(src=GW6, dst=DNS_SERVER6)/UDP(sport=1024, dport=5353)/Raw(payload)))))
bad[56] ^= 0xff
ops += both_workers([bytes(bad)])
for probe in (1000, 1011, 1023):
    for s in (SERVERS6[1], STRANGER6):
        ops += both_workers([from_web(s, probe, "SA", 9000, 4243), from_web(s, probe, "RA", 0, 4243)])
put("nat66-icmpv6-errors-and-probe-answers", 0, ops)
