#!/usr/bin/env python3
"""A UDP echo server and its client, for datagrams larger than the MTU.

  udp_echo.py serve --bind 10.2.0.21:7007 --log FILE --ready FILE
      answers every datagram with the same bytes; logs one line per
      datagram: "got LEN SHA256-PREFIX from IP:PORT".
  udp_echo.py ask --src 10.8.0.100 --dst 10.9.0.3:7 --size 4000 [--timeout 1] [--tries 3]
                  [--sport PORT] [--count N]
      sends SIZE bytes of a known pattern from SRC and waits for the echo;
      exit 0 and "echo LEN bytes identical" when the whole datagram came
      back unchanged, 3 when something else came back, 1 on timeout.
      With --count, N datagrams one after the other (each waits for its
      echo), all from one socket (one user session); --sport fixes its
      port. IPv6 addresses are written [addr]:port (--src without port).

A datagram larger than the interface MTU is fragmented by the sender's
kernel and reassembled by the receiver's: the server sees it whole only if
every fragment arrived, and so does the client for the echo.
"""

import argparse
import hashlib
import socket
import sys


def split_addr(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def pattern(size):
    return bytes((i * 7 + i // 251) & 0xFF for i in range(size))


def serve(args):
    host, port = split_addr(args.bind)
    sock = socket.socket(family(host), socket.SOCK_DGRAM)
    sock.bind((host, port))
    open(args.ready, "w").close()
    with open(args.log, "a", buffering=1) as log:
        while True:
            data, peer = sock.recvfrom(65535)
            digest = hashlib.sha256(data).hexdigest()[:16]
            log.write(f"got {len(data)} {digest} from {peer[0]}:{peer[1]}\n")
            sock.sendto(data, peer)


def ask_once(sock, args, data):
    for _ in range(args.tries):
        sock.sendto(data, split_addr(args.dst))
        try:
            answer, peer = sock.recvfrom(65535)
        except socket.timeout:
            continue
        if answer == data:
            print(f"echo {len(answer)} bytes identical from {peer[0]}:{peer[1]}")
            return 0
        print(f"echo of {len(answer)} bytes differs from the {len(data)} sent", file=sys.stderr)
        return 3
    print(f"no echo from {args.dst} after {args.tries} tries", file=sys.stderr)
    return 1


def ask(args):
    src = args.src.strip("[]")
    sock = socket.socket(family(src), socket.SOCK_DGRAM)
    sock.bind((src, args.sport))
    sock.settimeout(args.timeout)
    data = pattern(args.size)
    for _ in range(args.count):
        rc = ask_once(sock, args, data)
        if rc != 0:
            return rc
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--ready", required=True)
    a = sub.add_parser("ask")
    a.add_argument("--src", default="0.0.0.0")
    a.add_argument("--dst", required=True)
    a.add_argument("--size", type=int, default=4000)
    a.add_argument("--timeout", type=float, default=1.0)
    a.add_argument("--tries", type=int, default=3)
    a.add_argument("--sport", type=int, default=0, help="source port (0: any)")
    a.add_argument("--count", type=int, default=1, help="datagrams to send, each echoed")
    args = parser.parse_args()
    return serve(args) if args.cmd == "serve" else ask(args)


if __name__ == "__main__":
    sys.exit(main())
