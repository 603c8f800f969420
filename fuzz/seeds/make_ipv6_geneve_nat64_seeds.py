#!/usr/bin/python3
# Regenerate with: /usr/bin/python3 fuzz/seeds/make_ipv6_geneve_nat64_seeds.py fuzz/seeds
# (Debian python with scapy). The seeds are committed; this is how they were made.
# Writes the committed fuzz seeds for the IPv6, Geneve and NAT64 targets.
import struct, sys, os
from scapy.all import Ether, Dot1Q, IP, IPv6, UDP, TCP, ICMP, Raw, raw
from scapy.layers.inet6 import (ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr,
    IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrRouting, ICMPv6DestUnreach,
    ICMPv6PacketTooBig)

root = sys.argv[1]
def put(target, name, data):
    d = os.path.join(root, target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(bytes(data))

A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
T, US, S6 = "2001:db8:aa:bb::7", "2001:db8::a", "64:ff9b::c000:221"
eth6 = lambda: Ether(src=A, dst=B)

# ipv6_views
put("ipv6_views", "echo-request", raw(eth6()/IPv6(src=T, dst=US)/ICMPv6EchoRequest(id=0x42, seq=1, data=b"ping")))
put("ipv6_views", "ns-with-lladdr", raw(Ether(src=A, dst="33:33:ff:00:00:0a")/IPv6(src="fe80::1", dst="ff02::1:ff00:a", hlim=255)/ICMPv6ND_NS(tgt=US)/ICMPv6NDOptSrcLLAddr(lladdr=A)))
put("ipv6_views", "ns-dad-vlan", raw(Ether(src=A, dst="33:33:ff:00:00:0a")/Dot1Q(vlan=7)/IPv6(src="::", dst="ff02::1:ff00:a", hlim=255)/ICMPv6ND_NS(tgt=US)))
put("ipv6_views", "ext-chain-frag-udp", raw(eth6()/IPv6(src=T, dst=US)/IPv6ExtHdrHopByHop()/IPv6ExtHdrDestOpt()/IPv6ExtHdrRouting(segleft=0)/IPv6ExtHdrFragment(id=0xbeef, m=1, offset=0)/UDP(sport=40000, dport=53)/Raw(b"q"*16)))
put("ipv6_views", "big-udp-for-ptb", raw(eth6()/IPv6(src=T, dst=S6)/UDP(sport=40000, dport=443)/Raw(b"x"*1400)))
put("ipv6_views", "unreach-quote", raw(eth6()/IPv6(src=US, dst=T)/ICMPv6DestUnreach(code=4)/IPv6(src=T, dst=US)/UDP(sport=1, dport=2)/Raw(b"abc")))
put("ipv6_views", "syn-to-refuse", raw(eth6()/Dot1Q(vlan=7)/IPv6(src=T, dst=US)/TCP(sport=40000, dport=80, flags="S", seq=7000)))
put("ipv6_views", "later-fragment-tcp", raw(eth6()/IPv6(src=T, dst=US, nh=44)/IPv6ExtHdrFragment(nh=6, id=9, offset=100, m=0)/Raw(b"\x00"*24)))

# geneve_decap: selector byte, then the frame
def option(hop, appliance=41999999, io=3, gen=0x0102030405060708, cls=0xfff0, typ=0x81, flags=0, draining=0):
    # data: appliance ID (4 bytes), I/O point (2), hop count (1), flags (1), generation (8),
    # the gateway the session drains from at the tier-1 unit (4)
    return struct.pack(">HBB", cls, typ, 5) + struct.pack(">IHBBQI", appliance, io, hop, flags, gen, draining)
def geneve(opts, vni=0xabcdef, flags=0x40, ver=0, proto=0x6558):
    return bytes([(ver << 6) | (len(opts) // 4), flags]) + struct.pack(">HI", proto, vni << 8) + opts
inner = raw(Ether(src=A, dst=B)/IP(src="10.8.0.100", dst="10.9.0.1")/UDP(sport=40000, dport=53)/Raw(b"inner"))
def fabric(gen_bytes, port=6100, vlan=None, csum=0):
    l2 = Ether(src="02:fa:00:00:00:01", dst="02:fa:00:00:00:02")
    if vlan is not None:
        l2 = l2/Dot1Q(vlan=vlan)
    u = UDP(sport=50000, dport=port, chksum=csum) if csum == 0 else UDP(sport=50000, dport=port)
    return raw(l2/IP(src="10.77.0.1", dst="10.77.0.2", flags="DF")/u/Raw(gen_bytes + inner))
put("geneve_decap", "tandem-hop0", b"\x01" + fabric(geneve(option(0))))
put("geneve_decap", "tandem-hop1-6081", b"\x00" + fabric(geneve(option(1)), port=6081))
put("geneve_decap", "tandem-hop2-loop", b"\x01" + fabric(geneve(option(2))))
put("geneve_decap", "unknown-critical", b"\x01" + fabric(geneve(option(0) + struct.pack(">HBB", 0x0102, 0x83, 1) + b"\0" * 4)))
put("geneve_decap", "stranger-no-option", b"\x01" + fabric(geneve(struct.pack(">HBB", 0x0102, 0x03, 1) + b"\0" * 4, flags=0)))
put("geneve_decap", "oam", b"\x01" + fabric(geneve(option(0), flags=0xc0)))
put("geneve_decap", "tandem-to-tier1", b"\x01" + fabric(geneve(option(0, appliance=2, io=1, flags=1))))
put("geneve_decap", "vlan-udp-checksum", b"\x01" + fabric(geneve(option(0)), vlan=5, csum=1))

# nat64_translate: output-size byte, then the IP packet
put("nat64_translate", "v6-udp", b"\x40" + raw(IPv6(src=T, dst=S6, tc=0xb8)/UDP(sport=40000, dport=53)/Raw(b"query")))
put("nat64_translate", "v6-tcp", b"\x40" + raw(IPv6(src=T, dst=S6)/TCP(sport=40000, dport=80, flags="S")))
put("nat64_translate", "v6-echo", b"\x40" + raw(IPv6(src=T, dst=S6)/ICMPv6EchoRequest(id=1, seq=2, data=b"ping")))
put("nat64_translate", "v6-fragment", b"\x40" + raw(IPv6(src=T, dst=S6)/IPv6ExtHdrFragment(id=0x12345, m=1)/UDP(sport=1, dport=2)/Raw(b"z"*24)))
put("nat64_translate", "v6-ptb-quote", b"\x40" + raw(IPv6(src="2001:db8:ff::1", dst=T)/ICMPv6PacketTooBig(mtu=1400)/IPv6(src=T, dst=S6)/UDP(sport=40000, dport=53)/Raw(b"q"*40)))
put("nat64_translate", "v4-udp-nochecksum", b"\x40" + raw(IP(src="192.0.2.33", dst="198.51.100.9")/UDP(sport=53, dport=40000, chksum=0)/Raw(b"answer")))
put("nat64_translate", "v4-tcp", b"\x40" + raw(IP(src="192.0.2.33", dst="198.51.100.9")/TCP(sport=80, dport=40000, flags="SA")))
put("nat64_translate", "v4-echo-reply", b"\x40" + raw(IP(src="192.0.2.33", dst="198.51.100.9")/ICMP(type=0, id=1, seq=2)/Raw(b"ping")))
put("nat64_translate", "v4-port-unreach", b"\x40" + raw(IP(src="192.0.2.33", dst="198.51.100.9")/ICMP(type=3, code=3)/IP(src="198.51.100.9", dst="192.0.2.33")/UDP(sport=61000, dport=5000)/Raw(b"hello")))
put("nat64_translate", "v4-frag-needed", b"\x40" + raw(IP(src="192.0.2.1", dst="198.51.100.9")/ICMP(type=3, code=4, nexthopmtu=1400)/IP(src="198.51.100.9", dst="192.0.2.33", len=1428)/UDP(sport=1, dport=2, len=1408)))
put("nat64_translate", "v4-fragment", b"\x40" + raw(IP(src="192.0.2.33", dst="198.51.100.9", flags="MF", id=77)/UDP(sport=53, dport=40000)/Raw(b"y"*32)))
