#!/usr/bin/python3
# Regenerate with: /usr/bin/python3 fuzz/seeds/make_pipeline_ipv6_seeds.py fuzz/seeds
# (Debian python with scapy). The seeds are committed; this is how they were made.
#
# Seeds for the `pipeline` target that bring IPv6 to the workers (issue 14):
# Neighbor Discovery and echo for the access port's IPv6 address (answered),
# the ND Tandem ignores, a hop limit below 255, extension-header chains at
# and over the bound, IPv6 that is not served, IPv6 inside GTP-U, and IPv4
# in between. Each frame is an `Op::Raw` of the target's `Script`, written
# in the byte layout `arbitrary` 1.x reads it from:
#   Script  = mode (u32 LE: 0 SourceIp, 0xffffffff GtpTeid) then, per op,
#             a byte 1 and the op (a byte 0 or the end of the data ends it)
#   Op::Raw = variant u32 LE 0, worker u8, port u8, frame as a Vec<u8>
#   Vec<u8> = per byte: 1 then the byte; then 0.
# Addresses and MACs are those of dataplane::testkit (ACC_V6, UE_MAC, ...).
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_script
from scapy.all import Ether, Dot1Q, IP, IPv6, UDP, TCP, Raw, raw
from scapy.contrib.gtp import GTP_U_Header
from scapy.layers.inet6 import (ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6ND_NS, ICMPv6ND_NA,
    ICMPv6ND_RS, ICMPv6NDOptSrcLLAddr, ICMPv6NDOptDstLLAddr, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment)

root = sys.argv[1]
ACC, SRV = 0, 1
PORT_MAC = {ACC: "02:00:00:00:00:01", SRV: "02:00:00:00:00:02"}
UE_MAC, SRV_HOST_MAC = "02:00:00:00:aa:01", "02:00:00:00:20:15"
ACC_V6, SRV_V6, UE_V6 = "2001:db8:1::1", "2001:db8:2::1", "2001:db8:1::100"
SOLICITED = "ff02::1:ff00:1"
SOLICITED_MAC = "33:33:ff:00:00:01"

def put(name, mode, ops):
    pipeline_script.put(root, name, mode, ops)

def to_acc(dst_mac=PORT_MAC[ACC], vlan=None):
    l2 = Ether(src=UE_MAC, dst=dst_mac)
    return l2/Dot1Q(vlan=vlan) if vlan is not None else l2

def ns(src=UE_V6, dst=SOLICITED, hlim=255, vlan=None):
    m = ICMPv6ND_NS(tgt=ACC_V6)
    if src != "::":
        m = m/ICMPv6NDOptSrcLLAddr(lladdr=UE_MAC)
    return raw(to_acc(SOLICITED_MAC, vlan)/IPv6(src=src, dst=dst, hlim=hlim)/m)

syn = raw(to_acc()/IP(src="10.8.0.100", dst="10.9.0.1")/TCP(sport=40000, dport=80, flags="S", seq=1000))

put("ipv6-neighbour-discovery", 0, [
    (0, ACC, ns()),
    (1, ACC, ns(dst=ACC_V6)),
    (0, ACC, ns(vlan=42)),
    (0, ACC, ns(src="::")),
    (0, ACC, ns(hlim=64)),
    (0, ACC, raw(to_acc("33:33:00:00:00:02")/IPv6(src=UE_V6, dst="ff02::2", hlim=255)/ICMPv6ND_RS()/ICMPv6NDOptSrcLLAddr(lladdr=UE_MAC))),
    (0, ACC, raw(to_acc("33:33:00:00:00:01")/IPv6(src=UE_V6, dst="ff02::1", hlim=255)/ICMPv6ND_NA(tgt=UE_V6, R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr=UE_MAC))),
    (0, SRV, raw(Ether(src=SRV_HOST_MAC, dst="33:33:ff:00:00:01")/IPv6(src="2001:db8:2::21", dst=SOLICITED, hlim=255)/ICMPv6ND_NS(tgt=SRV_V6)/ICMPv6NDOptSrcLLAddr(lladdr=SRV_HOST_MAC))),
    (0, ACC, syn),
])

put("ipv6-echo-and-not-served", 0, [
    (0, ACC, raw(to_acc()/IPv6(src=UE_V6, dst=ACC_V6)/ICMPv6EchoRequest(id=0x1234, seq=7, data=b"tandem ping six"))),
    (1, ACC, raw(to_acc(vlan=7)/IPv6(src=UE_V6, dst=ACC_V6)/ICMPv6EchoRequest(id=1, seq=1, data=b"x"))),
    (0, ACC, raw(to_acc()/IPv6(src=UE_V6, dst=ACC_V6)/ICMPv6EchoReply(id=1, seq=1))),
    (0, ACC, raw(to_acc()/IPv6(src=UE_V6, dst="2001:db8:9::1")/ICMPv6EchoRequest(id=2, seq=1))),
    (0, ACC, raw(to_acc()/IPv6(src=UE_V6, dst="2001:db8:9::1")/UDP(sport=40000, dport=53)/Raw(b"q"))),
    (0, SRV, raw(Ether(src=SRV_HOST_MAC, dst=PORT_MAC[SRV])/IPv6(src="2001:db8:2::21", dst=SRV_V6)/ICMPv6EchoRequest(id=3, seq=1))),
    (0, ACC, raw(to_acc()/IPv6(src=UE_V6, dst=ACC_V6)/IPv6ExtHdrFragment(id=9, m=1)/ICMPv6EchoRequest(id=4, seq=1))),
    (0, ACC, syn),
])

dest_opts = lambda n: IPv6ExtHdrDestOpt() if n == 1 else IPv6ExtHdrDestOpt()/dest_opts(n - 1)
put("ipv6-extension-chains", 0, [
    (0, ACC, raw(to_acc()/IPv6(src=UE_V6, dst=ACC_V6)/dest_opts(8)/UDP(sport=40000, dport=53))),
    (0, ACC, raw(to_acc()/IPv6(src=UE_V6, dst=ACC_V6)/dest_opts(9)/UDP(sport=40000, dport=53))),
    (0, ACC, raw(to_acc()/IPv6(src=UE_V6, dst=ACC_V6)/dest_opts(1)/ICMPv6EchoRequest(id=5, seq=1))),
    (0, ACC, raw(to_acc()/IPv6(src=UE_V6, dst=ACC_V6, plen=500)/ICMPv6EchoRequest(id=6, seq=1))),
    (0, ACC, raw(to_acc()/IPv6(src=UE_V6, dst=ACC_V6))[:40]),
])

enb = lambda inner: raw(to_acc()/IP(src="10.1.0.50", dst="10.1.0.1")/UDP(sport=2152, dport=2152)/GTP_U_Header(teid=0x101, gtp_type=255)/inner)
put("ipv6-in-gtpu", 0xffffffff, [
    (0, ACC, enb(IPv6(src=UE_V6, dst="2001:db8:9::1")/ICMPv6EchoRequest(id=7, seq=1))),
    (0, ACC, enb(IPv6(src=UE_V6, dst="2001:db8:9::1")/dest_opts(9)/UDP(sport=1, dport=2))),
    (0, ACC, enb(IP(src="10.8.0.100", dst="10.9.0.1")/TCP(sport=40001, dport=80, flags="S", seq=1000))),
    (0, ACC, ns()),
])
