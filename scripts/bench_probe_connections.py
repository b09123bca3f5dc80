"""The table of scripts/bench_probe_connections.sh from the two JSON-lines
files test_probe_connections.py::test_bench wrote (before, after)."""

import json
import statistics
import sys


def load(path):
    with open(path) as f:
        return {o["case"]: o for o in map(json.loads, f)}


def span(xs):
    return str(xs[0]) if min(xs) == max(xs) else "%d-%d" % (min(xs), max(xs))


def main():
    before, after, ref = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3]
    rows = []
    for case, a in after.items():
        b = before.get(case)
        rtt = 2 * a["delayMs"]
        floor = rtt * (1 + statistics.median(a["turns"]))
        t_a = statistics.median(a["latencyMs"])
        t_b = statistics.median(b["latencyMs"]) if b else float("nan")
        rows.append((case, span(b["connections"]) if b else "-",
                     span(a["connections"]), span(a["turns"]), t_b, t_a,
                     floor, t_b / t_a if t_a else float("nan"),
                     a["ok"] and (b or {}).get("ok", False)))
    delay = next(iter(after.values()))["delayMs"]
    print("# probe connections through a relay delaying %g ms one way "
          "(RTT %g ms); before = %s, after = this build" % (delay, 2 * delay,
                                                           ref))
    print("# conns: TCP connections one probe opened to the host; turns: "
          "request/answer turns on them (after);")
    print("# floor = RTT x (1 handshake + turns); times are the probe's "
          "latencyMs, median of the runs")
    hdr = ("type", "conns before", "conns after", "turns", "before ms",
           "after ms", "floor ms", "before/after", "all ok")
    print("%-14s %12s %11s %6s %10s %9s %9s %13s %7s" % hdr)
    for r in rows:
        print("%-14s %12s %11s %6s %10.0f %9.0f %9.0f %13.2f %7s" % r)


if __name__ == "__main__":
    main()
