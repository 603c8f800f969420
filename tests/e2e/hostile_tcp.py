#!/usr/bin/python3
"""Hostile and probing packets for tests/e2e/tcp_hardening.sh (scapy).

Run inside a network namespace with Debian's python3 (it has scapy).
Subcommands (addresses are dotted quads, ports numbers):

  rst SRC SPORT DST DPORT COUNT       blind RSTs and FIN+ACKs: random numbers
  spoof-tcp SRC SPORT DST DPORT SECONDS
                                      blind ACKs with random numbers for
                                      SECONDS; prints "sent=N received=M",
                                      M = frames to SRC seen on the way back
  spoof-udp SRC SPORT DST DPORT SECONDS
                                      the same with UDP datagrams
  udp-victim SRC SPORT DST DPORT SECONDS
                                      one datagram every 100 ms from a fixed
                                      port; prints "sent=N answered=M"
  syn-flood SRC DST DPORT COUNT       SYNs from random source ports
  ttl SRC DST DPORT                   a UDP probe with TTL 1; prints the ICMP
                                      answer "type=T code=C src=IP" or "none"
"""

import random
import socket
import sys
import time

from scapy.all import ICMP, IP, TCP, UDP, AsyncSniffer, conf, send, sr1  # noqa: E402

conf.verb = 0


def blind_tcp(src, sport, dst, dport, flags):
    return IP(src=src, dst=dst) / TCP(
        sport=sport,
        dport=dport,
        flags=flags,
        seq=random.getrandbits(32),
        ack=random.getrandbits(32),
        window=65535,
    )


def rst(src, sport, dst, dport, count):
    pkts = []
    for _ in range(count):
        pkts.append(blind_tcp(src, sport, dst, dport, "R"))
        pkts.append(blind_tcp(src, sport, dst, dport, "FA"))
    send(pkts)
    print(f"sent={len(pkts)}")


def spoof(kind, src, sport, dst, dport, seconds):
    # On the interface towards dst: the one replies stolen from src arrive on.
    iface = conf.route.route(dst)[0]
    sniffer = AsyncSniffer(iface=iface, filter=f"ip dst host {src}", store=True)
    sniffer.start()
    time.sleep(0.3)
    sent = 0
    sock = conf.L3socket()
    end = time.time() + seconds
    while time.time() < end:
        for _ in range(50):
            if kind == "tcp":
                p = blind_tcp(src, sport, dst, dport, "A")
            else:
                p = IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / b"spoof"
            sock.send(p)
            sent += 1
        time.sleep(0.01)
    sock.close()
    time.sleep(0.5)
    got = sniffer.stop() or []
    print(f"sent={sent} received={len(got)}")


def udp_victim(src, sport, dst, dport, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, sport))
    s.settimeout(0.05)
    sent = answered = 0
    end = time.time() + seconds
    while time.time() < end:
        s.sendto(b"victim-%d" % sent, (dst, dport))
        sent += 1
        stop = time.time() + 0.1
        while time.time() < stop:
            try:
                data, _ = s.recvfrom(2048)
            except socket.timeout:
                continue
            if b"victim-" in data:
                answered += 1
    # Late answers.
    s.settimeout(0.5)
    try:
        while True:
            data, _ = s.recvfrom(2048)
            if b"victim-" in data:
                answered += 1
    except socket.timeout:
        pass
    print(f"sent={sent} answered={answered}")


def syn_flood(src, dst, dport, count):
    sports = random.sample(range(20000, 60000), count)
    pkts = [
        IP(src=src, dst=dst)
        / TCP(sport=p, dport=dport, flags="S", seq=random.getrandbits(32))
        for p in sports
    ]
    send(pkts)
    print(f"sent={len(pkts)}")


def ttl(src, dst, dport):
    probe = IP(src=src, dst=dst, ttl=1) / UDP(sport=33434, dport=dport) / b"probe"
    ans = sr1(probe, timeout=3)
    if ans is None or ICMP not in ans:
        print("none")
        return
    print(f"type={ans[ICMP].type} code={ans[ICMP].code} src={ans[IP].src}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "rst":
        rst(args[0], int(args[1]), args[2], int(args[3]), int(args[4]))
    elif cmd in ("spoof-tcp", "spoof-udp"):
        spoof(cmd[6:], args[0], int(args[1]), args[2], int(args[3]), float(args[4]))
    elif cmd == "udp-victim":
        udp_victim(args[0], int(args[1]), args[2], int(args[3]), float(args[4]))
    elif cmd == "syn-flood":
        syn_flood(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == "ttl":
        ttl(args[0], args[1], int(args[2]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
