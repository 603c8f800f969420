#!/usr/bin/python3
# Regenerate with: /usr/bin/python3 fuzz/seeds/make_pipeline_nat64_seeds.py fuzz/seeds
# (Debian python with scapy). The seeds are committed; this is how they were made.
#
# Seeds for the `pipeline` target that bring NAT64 to the workers (issue 14;
# fuzz/src/lab.rs turns it on with the IPv6 VIPs of dataplane::testkit and
# the well-known prefix): an IPv6 terminal's TCP SYN to the web VIP6, UDP to
# the DNS VIP6 and an ICMPv6 echo to 64:ff9b::<external host>, each answered
# by its server to the gateway ports the first user sessions get (received
# by either worker, so the answer follows the user session across the
# handoff), ICMP errors about them (fragmentation needed, unreachable,
# time exceeded), IPv6 fragments of a datagram, a hop limit of 1, and the
# same terminal inside GTP-U. Byte layout as in make_pipeline_ipv6_seeds.py
# (`Op::Raw` of the target's `Script`). Gateway 10.2.0.10, ports
# 1024..=1055 dealt out to two workers.
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_script
from scapy.all import Ether, IP, IPv6, UDP, TCP, ICMP, Raw, raw, fragment
from scapy.contrib.gtp import GTP_U_Header
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6ExtHdrFragment, fragment6

root = sys.argv[1]
ACC, SRV, EXT = 0, 1, 2
PORT_MAC = {ACC: "02:00:00:00:00:01", SRV: "02:00:00:00:00:02", EXT: "02:00:00:00:00:03"}
UE_MAC = "02:00:00:00:aa:01"
UE_V6, VIP6, DNS_VIP6 = "2001:db8:1::100", "2001:db8:9::80", "2001:db8:9::53"
EXT_V6 = "64:ff9b::a03:2"
GW, EXT_HOST = "10.2.0.10", "10.3.0.2"
WEB = ["10.2.0.21", "10.2.0.22", "10.2.0.23"]
DNS_SERVER = "10.2.0.21"

def put(name, mode, ops):
    pipeline_script.put(root, name, mode, ops)

def host_mac(ip):
    return "02:00:00:00:20:%02x" % int(ip.split(".")[3])

def up(pkt):
    return raw(Ether(src=UE_MAC, dst=PORT_MAC[ACC])/pkt)

def down(pkt, port=SRV):
    src = pkt[IP].src
    return raw(Ether(src=host_mac(src), dst=PORT_MAC[port])/pkt)

payload = bytes((i * 37) & 0xff for i in range(64))
syn = IPv6(src=UE_V6, dst=VIP6)/TCP(sport=40000, dport=80, flags="S", seq=1000)
query = IPv6(src=UE_V6, dst=DNS_VIP6)/UDP(sport=40001, dport=53)/Raw(payload)
ping = IPv6(src=UE_V6, dst=EXT_V6)/ICMPv6EchoRequest(id=7, seq=1, data=payload)

# Three user sessions, then every answer a first gateway port may get.
ops = [(0, ACC, up(syn)), (0, ACC, up(query)), (1, ACC, up(ping))]
for gw_port in range(1024, 1030):
    for w in (0, 1):
        for srv in WEB:
            ops.append((w, SRV, down(IP(src=srv, dst=GW)/TCP(sport=8080, dport=gw_port, flags="SA", seq=5000, ack=1001))))
        ops.append((w, SRV, down(IP(src=DNS_SERVER, dst=GW)/UDP(sport=5353, dport=gw_port)/Raw(payload))))
        ops.append((w, EXT, down(IP(src=EXT_HOST, dst=GW)/ICMP(type=0, id=gw_port, seq=1)/Raw(payload), EXT)))
# The terminal goes on (ACK, data, FIN).
ops.append((0, ACC, up(IPv6(src=UE_V6, dst=VIP6)/TCP(sport=40000, dport=80, flags="A", seq=1001, ack=5001))))
ops.append((1, ACC, up(IPv6(src=UE_V6, dst=VIP6)/TCP(sport=40000, dport=80, flags="PA", seq=1001, ack=5001)/Raw(payload))))
ops.append((0, ACC, up(IPv6(src=UE_V6, dst=VIP6)/TCP(sport=40000, dport=80, flags="FA", seq=1065, ack=5001))))
put("nat64-tcp-udp-echo-both-ways", 0, ops)

# ICMP errors about what the gateway sent, quoting it as the server saw it.
ops = [(0, ACC, up(query)), (0, ACC, up(syn))]
for gw_port in range(1024, 1028):
    for w in (0, 1):
        quoted_udp = IP(src=GW, dst=DNS_SERVER)/UDP(sport=gw_port, dport=5353)
        quoted_tcp = IP(src=GW, dst=WEB[0])/TCP(sport=gw_port, dport=8080, flags="S", seq=1000)
        ops.append((w, SRV, down(IP(src=DNS_SERVER, dst=GW)/ICMP(type=3, code=4, nexthopmtu=1200)/raw(quoted_udp)[:28])))
        ops.append((w, SRV, down(IP(src=DNS_SERVER, dst=GW)/ICMP(type=3, code=3)/raw(quoted_udp))))
        ops.append((w, SRV, down(IP(src=WEB[0], dst=GW)/ICMP(type=11, code=0)/raw(quoted_tcp)[:28])))
        ops.append((w, SRV, down(IP(src=WEB[0], dst=GW)/ICMP(type=12, code=0)/raw(quoted_tcp)[:28])))
put("nat64-icmp-errors", 0, ops)

# A datagram in IPv6 fragments (in order, then reversed), a hop limit of 1,
# and the server's fragmented answer.
big = IPv6(src=UE_V6, dst=DNS_VIP6)/IPv6ExtHdrFragment(id=0xabcd)/UDP(sport=40002, dport=53)/Raw(payload * 8)
frags = fragment6(big, 200)
ops = [(0, ACC, up(p)) for p in frags]
ops += [(1, ACC, up(p)) for p in reversed(fragment6(IPv6(src=UE_V6, dst=DNS_VIP6)/IPv6ExtHdrFragment(id=0xabce)/UDP(sport=40003, dport=53)/Raw(payload * 8), 200))]
ops.append((0, ACC, up(IPv6(src=UE_V6, dst=VIP6, hlim=1)/TCP(sport=40004, dport=80, flags="S"))))
answer = IP(src=DNS_SERVER, dst=GW, id=0x77)/UDP(sport=5353, dport=1024)/Raw(payload * 8)
for w in (0, 1):
    for p in fragment(answer, fragsize=200):
        ops.append((w, SRV, down(p)))
put("nat64-fragments-and-hop-limit", 0, ops)

# The terminal inside GTP-U (session ID = TEID), answered in its tunnel.
enb = lambda inner: IP(src="10.1.0.50", dst="10.1.0.1")/UDP(sport=2152, dport=2152)/GTP_U_Header(teid=0x101, gtp_type=255)/inner
ops = [(0, ACC, up(enb(syn))), (1, ACC, up(enb(query)))]
for gw_port in range(1024, 1028):
    for w in (0, 1):
        for srv in WEB:
            ops.append((w, SRV, down(IP(src=srv, dst=GW)/TCP(sport=8080, dport=gw_port, flags="SA", seq=5000, ack=1001))))
        ops.append((w, SRV, down(IP(src=DNS_SERVER, dst=GW)/UDP(sport=5353, dport=gw_port)/Raw(payload))))
put("nat64-in-gtpu", 0xffffffff, ops)
