#!/usr/bin/python3
# Regenerate with: /usr/bin/python3 fuzz/seeds/make_pipeline_fragment_seeds.py fuzz/seeds
# (Debian python with scapy). The seeds are committed; this is how they were made.
#
# Seeds for the `pipeline` target that bring IPv4 fragments to the workers
# (issue 14, item 5; dataplane/src/pipeline/fragments.rs): a terminal's UDP
# datagram in pieces (in order, reversed, duplicated, a short first piece,
# a TCP and an ICMP echo first piece), the servers' fragmented answers to
# the gateway ports the first user sessions get (received by either
# worker, so later pieces follow the first across the handoff), pieces to
# Tandem's own addresses, and the same in GTP-U (inner pieces followed,
# a fragmented tunnel packet not). Byte layout as in
# make_pipeline_ipv6_seeds.py (`Op::Raw` of the target's `Script`).
# Addresses and MACs are those of dataplane::testkit and fuzz/src/lab.rs
# (DNS VIP 10.9.0.3:53 served by 10.2.0.21:5353; gateway 10.2.0.10, ports
# 1024..=1055 dealt out to two workers).
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_script
from scapy.all import Ether, IP, UDP, TCP, ICMP, Raw, raw, fragment
from scapy.contrib.gtp import GTP_U_Header

root = sys.argv[1]
ACC, SRV = 0, 1
PORT_MAC = {ACC: "02:00:00:00:00:01", SRV: "02:00:00:00:00:02"}
UE_MAC, SRV_HOST_MAC = "02:00:00:00:aa:01", "02:00:00:00:20:15"
UE, DNS_VIP, GW, DNS_SERVER = "10.8.0.100", "10.9.0.3", "10.2.0.10", "10.2.0.21"
EXT_HOST = "10.3.0.2"

def put(name, mode, ops):
    pipeline_script.put(root, name, mode, ops)

def pieces(pkt, size=32):
    return [p for p in fragment(pkt, fragsize=size)]

def up(pkt):
    return raw(Ether(src=UE_MAC, dst=PORT_MAC[ACC])/pkt)

def down(pkt):
    return raw(Ether(src=SRV_HOST_MAC, dst=PORT_MAC[SRV])/pkt)

payload = bytes((i * 37) & 0xff for i in range(100))
question = lambda sport, ident: IP(src=UE, dst=DNS_VIP, id=ident)/UDP(sport=sport, dport=53)/Raw(payload)
answer = lambda gw_port, ident: IP(src=DNS_SERVER, dst=GW, id=ident)/UDP(sport=5353, dport=gw_port)/Raw(payload)

ops = []
for i, sport in enumerate([40000, 40001]):
    ops += [(0, ACC, up(p)) for p in pieces(question(sport, 0x100 + i))]
# The first user sessions' gateway ports, whichever worker owns them; each
# answer received by worker 0 and by worker 1.
for gw_port in range(1024, 1030):
    for w in (0, 1):
        ops += [(w, SRV, down(p)) for p in pieces(answer(gw_port, 0x200 + gw_port * 2 + w))]
put("ipv4-fragments-up-and-down", 0, ops)

ops = []
q = pieces(question(40002, 0x300))
ops += [(0, ACC, up(p)) for p in reversed(q)]          # later pieces first
ops += [(0, ACC, up(p)) for p in q + q]                 # then twice in order
short = IP(src=UE, dst=DNS_VIP, id=0x301, flags="MF", proto=17)/Raw(b"\x9c\x42\x00")
ops += [(0, ACC, up(short))]
tcp = pieces(IP(src=UE, dst="10.9.0.1", id=0x302)/TCP(sport=40003, dport=80, flags="S", seq=1000)/Raw(payload), 24)
ops += [(0, ACC, up(p)) for p in tcp]
ping = pieces(IP(src=UE, dst=EXT_HOST, id=0x303)/ICMP(id=7, seq=1)/Raw(payload))
ops += [(1, ACC, up(p)) for p in ping]
own = pieces(IP(src=UE, dst="10.1.0.1", id=0x304)/ICMP(id=8, seq=1)/Raw(payload))
ops += [(0, ACC, up(p)) for p in own]
ops += [(0, SRV, down(p)) for p in pieces(IP(src=DNS_SERVER, dst="10.2.0.1", id=0x305)/ICMP(id=9)/Raw(payload))]
put("ipv4-fragments-out-of-order-and-refused", 0, ops)

enb = lambda inner, ident=1: IP(src="10.1.0.50", dst="10.1.0.1", id=ident)/UDP(sport=2152, dport=2152)/GTP_U_Header(teid=0x101, gtp_type=255)/inner
ops = [(0, ACC, up(enb(p))) for p in pieces(question(40004, 0x400))]
ops += [(0, ACC, up(p)) for p in pieces(enb(question(40005, 0x401), 0x402), 48)]
for gw_port in range(1024, 1028):
    ops += [(0, SRV, down(p)) for p in pieces(answer(gw_port, 0x500 + gw_port))]
put("ipv4-fragments-in-gtpu", 0xffffffff, ops)
