"""Hostile frames for tests/e2e/subscriber_limits.sh (scapy; run with the
system python, /usr/bin/python3).

    hostile.py syn-flood IFACE DST_MAC VIP COUNT
        TCP SYNs to VIP:80 from COUNT random sources in 172.16.0.0/12.
    hostile.py spoofed IFACE DST_MAC SRC VIP COUNT
        COUNT TCP SYNs to VIP:80 from SRC.
    hostile.py arp-poison IFACE MAC TARGET_IP COUNT VICTIM_IP...
        From MAC (not IFACE's own), COUNT times per victim: an unsolicited
        ARP reply to TARGET_IP (Tandem's address), a gratuitous ARP, and a
        request for TARGET_IP, each claiming VICTIM_IP.
"""

import random
import sys

from scapy.all import ARP, IP, TCP, Ether, get_if_hwaddr, sendp  # noqa: E402


def syn_flood(iface, dst_mac, vip, count):
    src_mac = get_if_hwaddr(iface)
    base = (172 << 24) | (16 << 16)
    frames = []
    for i in range(count):
        src = base + random.randrange(1 << 20)
        ip = ".".join(str((src >> s) & 255) for s in (24, 16, 8, 0))
        frames.append(
            Ether(src=src_mac, dst=dst_mac)
            / IP(src=ip, dst=vip)
            / TCP(sport=random.randrange(1024, 65535), dport=80, flags="S", seq=i)
        )
    sendp(frames, iface=iface, verbose=0)


def spoofed(iface, dst_mac, src, vip, count):
    src_mac = get_if_hwaddr(iface)
    frames = [
        Ether(src=src_mac, dst=dst_mac)
        / IP(src=src, dst=vip)
        / TCP(sport=30000 + i, dport=80, flags="S")
        for i in range(count)
    ]
    sendp(frames, iface=iface, verbose=0)


def arp_poison(iface, mac, target, count, victims):
    frames = []
    for victim in victims:
        eth = Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
        # An unsolicited reply to Tandem, a gratuitous ARP, and a request
        # for Tandem's address: each claims the victim's address.
        frames.append(eth / ARP(op=2, hwsrc=mac, psrc=victim, hwdst="ff:ff:ff:ff:ff:ff", pdst=target))
        frames.append(eth / ARP(op=1, hwsrc=mac, psrc=victim, hwdst="00:00:00:00:00:00", pdst=victim))
        frames.append(eth / ARP(op=1, hwsrc=mac, psrc=victim, hwdst="00:00:00:00:00:00", pdst=target))
    sendp(frames * count, iface=iface, verbose=0, inter=0.02)


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == "syn-flood":
        syn_flood(a[0], a[1], a[2], int(a[3]))
    elif cmd == "spoofed":
        spoofed(a[0], a[1], a[2], a[3], int(a[4]))
    elif cmd == "arp-poison":
        arp_poison(a[0], a[1], a[2], int(a[3]), a[4:])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
