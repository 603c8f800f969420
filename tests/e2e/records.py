#!/usr/bin/env python3
"""Selects accounting records from a JSON-lines file for shell checks.

Prints one line per record that matches every --where, with the --field
values separated by tabs (all of the record as JSON when no --field is
given), only the number of matches with --count, or a table for people
with --table (the demo's summary). A missing file is an
error (exit 2); lines that are not JSON objects are reported on stderr and
counted as bad (exit 3 if any), so a corrupt export fails the test.

Usage: records.py FILE [--where KEY=VALUE]... [--field KEY]... [--count | --table]
"""

import argparse
import json
import sys

def ends(r, which):
    """A record's terminal or destination address: the IPv6 one in brackets
    for a NAT64 user session, else the IPv4 one."""
    v6 = r.get(f"{which}_ipv6")
    return f"[{v6}]" if v6 else r.get(f"{which}_ip")


TABLE_COLUMNS = [
    ("kind", lambda r: r.get("kind")),
    ("end", lambda r: r.get("end_reason")),
    ("subscriber", lambda r: r.get("subscriber")),
    ("proto", lambda r: r.get("proto")),
    # NAT64 user sessions: the IPv6 ends, [addr]:port.
    ("terminal", lambda r: f"{ends(r, 'terminal')}:{r.get('terminal_port')}"),
    ("destination", lambda r: f"{ends(r, 'dest')}:{r.get('dest_port')}"),
    ("service", lambda r: r.get("service")),
    ("type", lambda r: r.get("user_session_type")),
    ("user session", lambda r: r.get("user_session_id")),
    ("server", lambda r: f"{r.get('server_ip')}:{r.get('server_port')}"),
    ("pkts up/down", lambda r: f"{r.get('packets_up')}/{r.get('packets_down')}"),
    ("bytes up/down", lambda r: f"{r.get('bytes_up')}/{r.get('bytes_down')}"),
    ("ms", lambda r: r.get("end_ms", 0) - r.get("start_ms", 0)),
]


def print_table(records):
    rows = [[name for name, _ in TABLE_COLUMNS]]
    rows += [[str(get(r)) for _, get in TABLE_COLUMNS] for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--where", action="append", default=[], help="KEY=VALUE (compared as text)")
    parser.add_argument("--field", action="append", default=[])
    parser.add_argument("--count", action="store_true")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    conds = []
    for w in args.where:
        key, sep, value = w.partition("=")
        if not sep:
            parser.error(f"--where needs KEY=VALUE, got {w!r}")
        conds.append((key, value))
    try:
        lines = open(args.file, encoding="utf-8").read().splitlines()
    except OSError as e:
        print(f"records.py: {e}", file=sys.stderr)
        return 2
    bad = 0
    matches = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            print(f"records.py: {args.file}:{n}: not JSON: {e}", file=sys.stderr)
            bad += 1
            continue
        if not isinstance(rec, dict):
            bad += 1
            continue
        if all(str(rec.get(k)) == v for k, v in conds):
            matches.append(rec)
    if args.count:
        print(len(matches))
    elif args.table:
        print_table(sorted(matches, key=lambda r: (r.get("start_ms", 0), r.get("terminal_port", 0))))
    else:
        for rec in matches:
            if args.field:
                print("\t".join(str(rec.get(f)) for f in args.field))
            else:
                print(json.dumps(rec, sort_keys=True))
    return 3 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
