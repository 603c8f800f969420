"""Reads one number from `tandem ctl --json stats` (stdin).

    stats.py drop REASON        sum over workers of that drop reason
    stats.py worker FIELD       sum over workers of that counter
    stats.py session FIELD      sessions.FIELD (pinned, learned_pins, ...)
    stats.py neighbours FIELD   neighbours.FIELD
    stats.py port-mac NAME      the MAC of port NAME (prints text)
"""

import json
import sys


def main():
    kind, name = sys.argv[1], sys.argv[2]
    s = json.load(sys.stdin)
    if kind == "drop":
        print(sum(v for w in s["workers"] for (r, v) in w["drops"] if r == name))
    elif kind == "worker":
        print(sum(w.get(name, 0) for w in s["workers"]))
    elif kind == "session":
        print(s["sessions"][name])
    elif kind == "neighbours":
        print(s["neighbours"][name])
    elif kind == "port-mac":
        print(next(p["mac"] for p in s["ports"] if p["name"] == name))
    else:
        sys.exit("unknown kind " + kind)


if __name__ == "__main__":
    main()
