#!/usr/bin/env python3
"""Identity servers for the end-to-end tests and the demo.

One process serves every address it is given, so the test script has one
PID to stop. Each HTTP server answers who it is and who it sees:

    GET /                 -> "server=<ip> client=<peer ip>:<peer port>\n"
    GET /?delay_ms=N      -> the same after N ms (keeps requests concurrent)
    GET /big?n=BYTES      -> BYTES bytes of body (a long download)

and every response carries the headers X-Server and X-Client with the same
facts, so a client downloading /big still learns them. A UDP server answers
each datagram with "server=<ip>:<port> client=<peer ip>:<peer port> data=<text>".

Every request is logged as one line "proto server client path" to --log, so a
test can see what the servers saw. When all sockets are bound the file named
by --ready is created.

Usage:
    servers.py --http 10.2.0.21:8080 --http 10.2.0.22:8080 \
               --udp 10.2.0.21:5353 --log FILE --ready FILE
    servers.py --http [2001:db8:20::21]:8080 ...   (IPv6: in brackets)
"""

import argparse
import http.server
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

LOG_LOCK = threading.Lock()
LOG_FILE = None
CHUNK = b"x" * 65536


def log_line(text):
    with LOG_LOCK:
        LOG_FILE.write(text + "\n")
        LOG_FILE.flush()


class IdentityHandler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so one curl is one user session.
    protocol_version = "HTTP/1.0"
    server_version = "tandem-e2e-identity"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        server_ip, server_port = self.server.server_address[:2]
        peer_ip, peer_port = self.client_address[:2]
        client = f"{peer_ip}:{peer_port}"
        log_line(f"tcp {server_ip}:{server_port} {client} {self.path}")
        try:
            delay_ms = int(query.get("delay_ms", ["0"])[0])
            size = int(query.get("n", ["0"])[0])
        except ValueError:
            self.send_error(400, "bad number")
            return
        if delay_ms > 0:
            time.sleep(min(delay_ms, 10000) / 1000.0)
        if url.path == "/big":
            body_len = size
        else:
            body = f"server={server_ip} client={client}\n".encode()
            body_len = len(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(body_len))
        self.send_header("X-Server", server_ip)
        self.send_header("X-Client", client)
        self.end_headers()
        if url.path != "/big":
            self.wfile.write(body)
            return
        left = body_len
        try:
            while left > 0:
                n = min(left, len(CHUNK))
                self.wfile.write(CHUNK[:n])
                left -= n
        except (BrokenPipeError, ConnectionResetError):
            log_line(f"tcp {server_ip}:{server_port} {client} aborted with {left} bytes unsent")


class ThreadingHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def server_bind(self):
        # HTTPServer.server_bind asks DNS for its own name (getfqdn), which
        # in a namespace without a resolver only times out. No lookups here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def serve_udp(sock):
    server_ip, server_port = sock.getsockname()[:2]
    while True:
        data, peer = sock.recvfrom(65535)
        text = data.decode(errors="replace").strip()
        log_line(f"udp {server_ip}:{server_port} {peer[0]}:{peer[1]} {text}")
        answer = f"server={server_ip}:{server_port} client={peer[0]}:{peer[1]} data={text}\n"
        sock.sendto(answer.encode(), peer)


class ThreadingHTTPServer6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def split_addr(text):
    """`IP:PORT`, or `[IPV6]:PORT` for an IPv6 address."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def is_v6(text):
    return text.startswith("[")


def main():
    global LOG_FILE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", action="append", default=[], help="IP:PORT to serve HTTP on")
    parser.add_argument("--udp", action="append", default=[], help="IP:PORT to answer UDP on")
    parser.add_argument("--log", required=True, help="file that gets one line per request")
    parser.add_argument("--ready", required=True, help="file created once every socket is bound")
    args = parser.parse_args()
    LOG_FILE = open(args.log, "a", buffering=1)

    threads = []
    for spec in args.http:
        cls = ThreadingHTTPServer6 if is_v6(spec) else ThreadingHTTPServer
        srv = cls(split_addr(spec), IdentityHandler)
        threads.append(threading.Thread(target=srv.serve_forever, daemon=True))
    for spec in args.udp:
        family = socket.AF_INET6 if is_v6(spec) else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(split_addr(spec))
        threads.append(threading.Thread(target=serve_udp, args=(sock,), daemon=True))
    for t in threads:
        t.start()
    with open(args.ready, "w") as f:
        f.write("ready\n")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
