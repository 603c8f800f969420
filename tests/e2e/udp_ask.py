#!/usr/bin/env python3
"""Sends one UDP datagram from a chosen source address and prints the answer.

A stand-in for `dig` that needs nothing but python3: the tests only need to
know that a datagram to a VIP reaches the right server and the answer comes
back to the terminal. Retries a few times (UDP may lose the first datagram
while ARP resolves). Exit status 0 with the answer on stdout, 1 on timeout.

Usage: udp_ask.py --src 10.8.0.66 --dst 10.9.0.3:53 --data hello [--timeout 1] [--tries 3]
"""

import argparse
import socket
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default="0.0.0.0", help="source address to bind")
    parser.add_argument("--dst", required=True, help="IP:PORT to ask")
    parser.add_argument("--data", default="hello")
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds per try")
    parser.add_argument("--tries", type=int, default=3)
    args = parser.parse_args()
    host, _, port = args.dst.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.src, 0))
    sock.settimeout(args.timeout)
    for _ in range(args.tries):
        sock.sendto(args.data.encode(), (host, int(port)))
        try:
            data, peer = sock.recvfrom(65535)
        except socket.timeout:
            continue
        print(f"from={peer[0]}:{peer[1]} {data.decode(errors='replace').strip()}")
        return 0
    print(f"no answer from {args.dst} after {args.tries} tries", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
