#!/usr/bin/env bash
# Connections per probe and wall time, before and after issue 9 item 6 (one
# connection per host per probe). Each remote type's connection test runs
# through tests/peers/relay.py in front of the real peer of the integration
# suite, the relay delaying every chunk by BENCH_DELAY_MS (default 50) one
# way and a new connection by one round trip (the TCP handshake);
# tests/integration/test_probe_connections.py::test_bench drives it (the
# create and BENCH_PROBES - 1 tests per type, default 3 probes in all).
#
# "before" is the service built from BENCH_BASE_REF (default 3fe1638, main
# before the change; built once into /tmp/bd-bench-conn-<ref>), "after" the
# checkout's build (BUILD, default build). Both run against the same peers
# and test code. Per type it prints the connections one probe opened, the
# request/answer turns the relay counted, the probe's time (latencyMs,
# median) and the floor: one round trip for the TCP handshake plus one per
# turn of the one-connection run (its TLS/SSH handshake flights and each
# request), i.e. what the protocol needs over one connection with servers
# that answer instantly. FTP's passive data connections go to vsftpd
# directly (not through the relay, undelayed), so FTP's figures leave the
# data transfers out.
#
# Needs root (the FTP/SFTP peers' system users) and the integration lock
# (/tmp/bd-integration.lock: fixed users); stack dir var-bench-conn, HTTP
# port BACKUPD_BENCH_CONN_HTTP_PORT (default 18183).
#
# Figures of the run for issue 9 (2026-12-06, 2 cores shared with other
# jobs, 50 ms one way, 3 probes per type, median probe time in ms):
#   type          conns before/after  turns  before   after  floor  ratio
#   s3-https             4 / 1           5     1404     687    600   2.04
#   azure-https          4 / 1         5-6     1408     678    700   2.08
#   webdav-https         4 / 1        9-10     1793    1082   1100   1.66
#   ftp-explicit         1 / 1          21     2836    2825   2200   1.00
#   sftp                 2 / 1          23     3683    2527   2400   1.46
#   smb                  1 / 1          41     4317    4297   4200   1.00
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DELAY=${BENCH_DELAY_MS:-50}
PROBES=${BENCH_PROBES:-3}
REF=${BENCH_BASE_REF:-3fe1638}
BUILD=${BUILD:-build}
PORT=${BACKUPD_BENCH_CONN_HTTP_PORT:-18183}
BASE=/tmp/bd-bench-conn-$REF
OUT=$(mktemp -d /tmp/bd-bench-conn.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

make --no-print-directory BUILD="$BUILD" all >/dev/null
if [[ ! -x $BASE/build/backupd ]]; then
	echo "bench: building $REF into $BASE" >&2
	rm -rf "$BASE"
	mkdir -p "$BASE"
	git archive "$REF" | tar -x -C "$BASE"
	make --no-print-directory -C "$BASE" BUILD="$BASE/build" all >/dev/null
fi

run() { # label bindir
	echo "bench: $1 ($2), ${DELAY} ms one way, $PROBES probes per type" >&2
	flock /tmp/bd-integration.lock env BACKUPD_BIN_DIR="$2" \
	    BACKUPD_BENCH_DELAY_MS="$DELAY" BACKUPD_BENCH_PROBES="$PROBES" \
	    BACKUPD_BENCH_OUT="$OUT/$1.jsonl" \
	    BACKUPD_TEST_STACK_DIR=var-bench-conn BACKUPD_TEST_HTTP_PORT="$PORT" \
	    scripts/integration.sh tests/integration/test_probe_connections.py \
	    -k test_bench >"$OUT/$1.log" 2>&1 || {
		tail -40 "$OUT/$1.log" >&2
		echo "bench: the $1 run failed" >&2
		exit 1
	}
}
run before "$BASE/build"
run after "$ROOT/$BUILD"
/usr/bin/python3 scripts/bench_probe_connections.py "$OUT/before.jsonl" \
    "$OUT/after.jsonl" "$REF"
