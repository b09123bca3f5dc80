#!/usr/bin/python3
"""A crash is a failure: scripts/integration.sh runs this on the service's
log once pytest is done, whatever pytest answered.

It fails (exit 1, naming the lines) on
  - a "worker N died (signal S)" or "worker N died (status S)" line from
    the pool master, outside a window where a test kills or breaks workers
    on purpose;
  - any sanitizer report (AddressSanitizer, LeakSanitizer,
    UndefinedBehaviorSanitizer, "runtime error:"), anywhere.

A test that makes workers die on purpose writes the markers below into the
log around what it does (conftest.deaths_expected()), so its deaths are
told apart from crashes by position in the log, not by guessing.

Usage: crash_check.py LOG [LOG ...]
"""

import re
import sys

BEGIN = "backupd-test: worker deaths expected from here: "
END = "backupd-test: worker deaths expected until here: "
DIED = re.compile(r"worker \d+ died \((signal|status) \d+\)")
SANITIZER = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|MemorySanitizer|"
    r"ThreadSanitizer)|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|"
    r"LeakSanitizer)|runtime error: ")


def scan(path):
    """The offending lines of one log as (line number, text)."""
    bad = []
    open_windows = set()
    try:
        f = open(path, "r", errors="replace")
    except FileNotFoundError:
        return [(0, "%s: no such log" % path)]
    with f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            i = line.find(BEGIN)
            if i >= 0:
                open_windows.add(line[i + len(BEGIN):].strip().strip('"}'))
                continue
            i = line.find(END)
            if i >= 0:
                open_windows.discard(line[i + len(END):].strip().strip('"}'))
                continue
            if SANITIZER.search(line):
                bad.append((n, line))
            elif DIED.search(line) and not open_windows:
                bad.append((n, line))
    return bad


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    rc = 0
    for path in argv[1:]:
        bad = scan(path)
        if bad:
            rc = 1
            print("crash check: %s has %d line(s) of crashed workers or "
                  "sanitizer reports:" % (path, len(bad)), file=sys.stderr)
            for n, line in bad[:40]:
                print("  %d: %s" % (n, line[:400]), file=sys.stderr)
    if rc == 0:
        print("crash check: no crashed worker and no sanitizer report in %s"
              % ", ".join(argv[1:]))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
