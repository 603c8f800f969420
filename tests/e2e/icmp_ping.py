#!/usr/bin/env python3
"""ICMP echo with a raw socket, for hosts without iputils-ping.

Sends COUNT echo requests to TARGET and prints a summary line in ping's own
words ("N packets transmitted, M received, P% packet loss"), so the test
reads either tool's output the same way. Exit status 0 if any reply came,
1 otherwise. Needs root (raw socket).

Usage: icmp_ping.py TARGET [--count 3] [--interval 0.2] [--timeout 1]
"""

import argparse
import os
import socket
import struct
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident, seq):
    payload = b"tandem-e2e-ping!" * 3
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    csum = checksum(header + payload)
    return struct.pack("!BBHHH", 8, 0, csum, ident, seq) + payload


def wait_reply(sock, target, ident, seq, deadline):
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            packet, peer = sock.recvfrom(65535)
        except socket.timeout:
            return False
        ihl = (packet[0] & 0x0F) * 4
        icmp = packet[ihl:ihl + 8]
        if len(icmp) < 8 or peer[0] != target:
            continue
        kind, _, _, rid, rseq = struct.unpack("!BBHHH", icmp)
        if kind == 0 and rid == ident and rseq == seq:
            return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--timeout", type=float, default=1.0)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    received = 0
    for seq in range(1, args.count + 1):
        sock.sendto(echo_request(ident, seq), (args.target, 0))
        if wait_reply(sock, args.target, ident, seq, time.monotonic() + args.timeout):
            received += 1
            print(f"reply from {args.target}: icmp_seq={seq}")
        if seq < args.count:
            time.sleep(args.interval)
    loss = 100 * (args.count - received) // args.count
    print(f"{args.count} packets transmitted, {received} received, {loss}% packet loss")
    return 0 if received else 1


if __name__ == "__main__":
    sys.exit(main())
