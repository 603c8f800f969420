#!/usr/bin/env python3
"""Checks NAT64 accounting records against each other and against the wire.

tests/e2e/ipv6_records.sh runs an IPv6 terminal's TCP and UDP exchanges
through NAT64 with tcpdump on the terminal's and the servers' links, JSON
accounting, an IPFIX capture and nfdump's collector; this reads all of it
and says, one line each, "PASS text" or "FAIL text":

* the JSON file holds one final record per expected user session (and no
  other NAT64 record of the terminal), as many as tcpdump saw flows;
* per user session, packets and bytes each way in JSON == what tcpdump
  counted; the bytes are IP-layer bytes as the packet reached Tandem:
  upstream the IPv6 packets the terminal sent (40-byte header + payload
  length), downstream the IPv4 packets the server sent (total length);
* the translated copies: the server received packets_up IPv4 packets of
  bytes_up - 20 * packets_up bytes, the terminal packets_down IPv6 packets
  of bytes_down + 20 * packets_down (no extension headers here);
* UDP exchanges of known sizes count exactly those sizes;
* the IPFIX messages, decoded by tshark, carry template 257 with
  sourceIPv6Address (27), destinationIPv6Address (28) and the IPv4
  postNAT elements (225, 226), and one flow per user session whose
  addresses, ports and counters are the JSON record's;
* nfdump reads the same from nfcapd's files.

Usage: v6_records_check.py --json FILE --terminal-pcap FILE
         --server-pcap FILE [--server-pcap FILE]... --ipfix-pcap FILE
         --ipfix-port N --nfcapd-dir DIR --terminal ADDR --gateway ADDR
         --expect PROTO,TPORT,DEST6,DPORT,SERVER[,UP_PKTS,UP_BYTES,DOWN_PKTS,DOWN_BYTES]...
"""

import argparse
import ipaddress
import json
import os
import subprocess
import sys
from collections import defaultdict

PROTOS = {"tcp": 6, "udp": 17}
# Largest IP packet the links carry: a capture holding more holds
# segmentation-offload super-packets, not what crossed the wire.
LINK_MTU = 1500


def v6(text):
    return ipaddress.IPv6Address(text).compressed


def verdict(ok, text):
    print(("PASS " if ok else "FAIL ") + text)
    return ok


def tshark_fields(pcap, fields, extra=()):
    cmd = ["tshark", "-r", pcap, *extra, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [dict(zip(fields, line.split("\t"))) for line in out.splitlines()]


def l4_ports(p):
    sport = p.get("tcp.srcport") or p.get("udp.srcport")
    dport = p.get("tcp.dstport") or p.get("udp.dstport")
    proto = 6 if p.get("tcp.srcport") else 17
    return proto, int(sport), int(dport)


def terminal_side(pcap):
    """IPv6 packets on the terminal's link: {(proto, src, sport, dst, dport): [pkts, bytes]}."""
    counts = defaultdict(lambda: [0, 0])
    biggest = 0
    for p in tshark_fields(pcap, ["ipv6.src", "ipv6.dst", "ipv6.plen", "tcp.srcport", "tcp.dstport",
                                  "udp.srcport", "udp.dstport"]):
        if not p.get("ipv6.src"):
            continue
        proto, sport, dport = l4_ports(p)
        size = 40 + int(p["ipv6.plen"])
        biggest = max(biggest, size)
        c = counts[(proto, v6(p["ipv6.src"]), sport, v6(p["ipv6.dst"]), dport)]
        c[0] += 1
        c[1] += size
    return counts, biggest


def server_side(pcaps):
    """IPv4 packets on the servers' links, keyed as terminal_side."""
    counts = defaultdict(lambda: [0, 0])
    biggest = 0
    for pcap in pcaps:
        for p in tshark_fields(pcap, ["ip.src", "ip.dst", "ip.len", "tcp.srcport", "tcp.dstport",
                                      "udp.srcport", "udp.dstport"]):
            if not p.get("ip.src"):
                continue
            proto, sport, dport = l4_ports(p)
            biggest = max(biggest, int(p["ip.len"]))
            c = counts[(proto, p["ip.src"], sport, p["ip.dst"], dport)]
            c[0] += 1
            c[1] += int(p["ip.len"])
    return counts, biggest


def ipfix_flows(pcap, port):
    """(NAT64 template's element IDs, decoded data records) from tshark."""
    out = subprocess.run(
        ["tshark", "-r", pcap, "-d", f"udp.port=={port},cflow", "-T", "json", "--no-duplicate-keys"],
        check=True, capture_output=True, text=True).stdout
    template, flows = None, []
    for pkt in json.loads(out or "[]"):
        cflow = pkt["_source"]["layers"].get("cflow")
        if not cflow:
            continue
        for name, s in cflow.items():
            if not name.startswith("Set "):
                continue
            for key, item in s.items():
                if key.startswith("Template (Id = 257"):
                    fields = [(k, v) for k, v in item.items() if k.startswith("Field (")]
                    fields.sort(key=lambda kv: int(kv[0][len("Field ("):].split("/")[0]))
                    template = [int(v.get("cflow.template_ipfix_field_type", "-1")) for _, v in fields]
                elif key.startswith("Flow "):
                    for f in (item if isinstance(item, list) else [item]):
                        flows.append(f)
    return template, flows


def nfdump_flows(directory):
    env = dict(os.environ, TZ="UTC")
    out = subprocess.run(["nfdump", "-R", directory, "-o", "json"], check=True,
                         capture_output=True, text=True, env=env).stdout
    return json.loads(out or "[]")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True)
    ap.add_argument("--terminal-pcap", required=True)
    ap.add_argument("--server-pcap", action="append", required=True)
    ap.add_argument("--ipfix-pcap", required=True)
    ap.add_argument("--ipfix-port", required=True, type=int)
    ap.add_argument("--nfcapd-dir", required=True)
    ap.add_argument("--terminal", required=True)
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--expect", action="append", required=True)
    a = ap.parse_args()
    terminal = v6(a.terminal)

    expected = {}
    for e in a.expect:
        parts = e.split(",")
        key = (PROTOS[parts[0]], int(parts[1]), v6(parts[2]), int(parts[3]))
        sizes = tuple(int(x) for x in parts[5:9]) if len(parts) >= 9 else None
        expected[key] = (parts[4], sizes)

    # JSON: the terminal's NAT64 records, final ones only (interim_s: 0).
    recs = []
    with open(a.json, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("terminal_ipv6") and v6(r["terminal_ipv6"]) == terminal:
                recs.append(r)
    by_key = defaultdict(list)
    for r in recs:
        by_key[(PROTOS.get(r["proto"], -1), r["terminal_port"], v6(r["dest_ipv6"]), r["dest_port"])].append(r)
    verdict(sorted(by_key) == sorted(expected) and all(len(v) == 1 for v in by_key.values())
            and all(r["kind"] == "final" for r in recs),
            f"JSON: {len(recs)} NAT64 records of {terminal}, one final record per user session "
            f"({len(expected)} expected): {sorted((k[0], k[1]) for k in by_key)}")
    verdict(all(r["terminal_ip"] == "0.0.0.0" and r["dest_ip"] == "0.0.0.0" and r["gateway_ip"] == a.gateway
                and r["server_ip"] == expected.get(k, ("?",))[0] for k, rs in by_key.items() for r in rs),
            f"JSON: IPv6 terminal_ipv6/dest_ipv6, terminal_ip/dest_ip 0.0.0.0, gateway_ip {a.gateway}, "
            f"server_ip the IPv4 server of each")
    recs = {k: v[0] for k, v in by_key.items() if k in expected}

    up, up_max = terminal_side(a.terminal_pcap)
    down, down_max = server_side(a.server_pcap)
    verdict(up_max <= LINK_MTU and down_max <= LINK_MTU,
            f"tcpdump: packets as on the wire (largest {up_max} B IPv6, {down_max} B IPv4)")
    flows_seen = {k for k in up if k[1] == terminal}
    verdict(len(flows_seen) == len(recs),
            f"tcpdump: {len(flows_seen)} flows from {terminal} on the terminal's link, "
            f"{len(recs)} user sessions in JSON")

    all_counts = all_translated = True
    for (proto, tport, dest6, dport), r in sorted(recs.items()):
        gw, gport, srv, sport = r["gateway_ip"], r["gateway_port"], r["server_ip"], r["server_port"]
        name = f"{r['proto']} [{terminal}]:{tport} -> [{dest6}]:{dport} ({gw}:{gport} -> {srv}:{sport})"
        sent_up = up.get((proto, terminal, tport, dest6, dport), [0, 0])
        sent_down = down.get((proto, srv, sport, gw, gport), [0, 0])
        json_up = [r["packets_up"], r["bytes_up"]]
        json_down = [r["packets_down"], r["bytes_down"]]
        all_counts &= verdict(
            json_up == sent_up and json_down == sent_down,
            f"{name}: JSON up {json_up[0]} pkts {json_up[1]} B, down {json_down[0]} pkts {json_down[1]} B; "
            f"tcpdump: terminal sent {sent_up[0]} pkts {sent_up[1]} B (IPv6), "
            f"server sent {sent_down[0]} pkts {sent_down[1]} B (IPv4)")
        got_srv = down.get((proto, gw, gport, srv, sport), [0, 0])
        got_term = up.get((proto, dest6, dport, terminal, tport), [0, 0])
        want_srv = [json_up[0], json_up[1] - 20 * json_up[0]]
        want_term = [json_down[0], json_down[1] + 20 * json_down[0]]
        if got_srv != want_srv or got_term != want_term:
            all_translated = verdict(
                False, f"{name}: translated copies: server got {got_srv} (want {want_srv}), "
                f"terminal got {got_term} (want {want_term})")
        sizes = expected[(proto, tport, dest6, dport)][1]
        if sizes is not None:
            verdict(tuple(json_up + json_down) == sizes,
                    f"{name}: known sizes, up {sizes[0]} pkts {sizes[1]} B, down {sizes[2]} pkts {sizes[3]} B "
                    f"(JSON {json_up + json_down})")
    if all_translated:
        verdict(True, "translated copies: each server got packets_up IPv4 packets of bytes_up - 20 each, "
                "the terminal packets_down IPv6 packets of bytes_down + 20 each")

    # IPFIX through Wireshark's dissector.
    template, flows = ipfix_flows(a.ipfix_pcap, a.ipfix_port)
    verdict(template is not None and {27, 28, 225, 226, 227, 228}.issubset(template or [])
            and 8 not in template and 12 not in template,
            f"IPFIX (tshark): NAT64 template 257 holds 27, 28 (IPv6) and 225-228 (IPv4 post-NAT): {template}")
    v6_flows = {}
    for f in flows:
        if "cflow.srcaddrv6" in f and v6(f["cflow.srcaddrv6"]) == terminal:
            v6_flows[(int(f["cflow.protocol"]), int(f["cflow.srcport"]), v6(f["cflow.dstaddrv6"]),
                      int(f["cflow.dstport"]))] = f
    verdict(len(v6_flows) == len(recs) == sum(1 for f in flows if "cflow.srcaddrv6" in f),
            f"IPFIX (tshark): {len(v6_flows)} NAT64 flows with sourceIPv6Address {terminal}, "
            f"{len(recs)} JSON records")
    bad = []
    for k, r in recs.items():
        f = v6_flows.get(k)
        want = (terminal, k[2], r["gateway_ip"], str(r["gateway_port"]), r["server_ip"], str(r["server_port"]),
                [str(r["bytes_up"]), str(r["bytes_down"])], [str(r["packets_up"]), str(r["packets_down"])])
        got = None if f is None else (
            v6(f["cflow.srcaddrv6"]), v6(f["cflow.dstaddrv6"]), f.get("cflow.post_natsource_ipv4_address"),
            f.get("cflow.post_naptsource_transport_port"), f.get("cflow.post_natdestination_ipv4_address"),
            f.get("cflow.post_naptdestination_transport_port"), f.get("cflow.permanent_octets"),
            f.get("cflow.permanent_packets"))
        if got != want:
            bad.append(f"{k}: tshark {got}, JSON {want}")
    verdict(not bad, "IPFIX (tshark): per flow sourceIPv6Address, destinationIPv6Address, "
            "postNATSource/DestinationIPv4Address and ports, octets and packets each way == JSON"
            + ("" if not bad else ": " + "; ".join(bad)))

    # nfdump.
    nf = {}
    for f in nfdump_flows(a.nfcapd_dir):
        if f.get("src6_addr") and v6(f["src6_addr"]) == terminal:
            nf[(int(f["proto"]), int(f["src_port"]), v6(f["dst6_addr"]), int(f["dst_port"]))] = f
    verdict(len(nf) == len(recs), f"nfdump: {len(nf)} flows with src6_addr {terminal}, {len(recs)} JSON records")
    bad = []
    for k, r in recs.items():
        f = nf.get(k)
        want = (r["gateway_ip"], str(r["gateway_port"]), r["server_ip"], str(r["server_port"]),
                r["packets_up"], r["bytes_up"], r["packets_down"], r["bytes_down"])
        got = None if f is None else (
            f.get("src4_xlt_ip"), str(f.get("src_xlt_port")), f.get("dst4_xlt_ip"), str(f.get("dst_xlt_port")),
            f.get("in_packets"), f.get("in_bytes"), f.get("out_packets"), f.get("out_bytes"))
        if got != want:
            bad.append(f"{k}: nfdump {got}, JSON {want}")
    verdict(not bad, "nfdump: per flow src6/dst6, src4/dst4_xlt_ip and ports, in/out packets and bytes == JSON"
            + ("" if not bad else ": " + "; ".join(bad)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
