#!/usr/bin/env bash
# The noisy-neighbour benchmark of issue 8, through nginx, on a stack of its
# own (BACKUPD_BENCH_STACK_DIR, default var-bench-nn; port
# BACKUPD_BENCH_NN_HTTP_PORT, default 18181), pm = dynamic:
#
#   quiet:  org B's GET one and list under wrk (BENCH_DURATION each), and
#           five of B's connection tests;
#   storm:  for BENCH_STORM_SECONDS (30) org A keeps BENCH_STORM_CONC (50)
#           connection tests in flight against a host that accepts and never
#           answers, while B's GET one and list run under wrk again and B
#           tests a responsive host once a second.
#
# Prints B's read p50/p99 and req/s in both phases (storm as a ratio of
# quiet), B's test latency, A's 429s and longest wait, the worker count
# over time, and checks that A's refused tests changed nothing in the
# database (one audit row each). The hosts are scripts/bench_peer.py on
# 127.0.0.2 (a minimal WebDAV server, one of them turned silent after A's
# destinations were created against it).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

DURATION=${BENCH_DURATION:-10s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
STORM=${BENCH_STORM_SECONDS:-30}
CONC=${BENCH_STORM_CONC:-50}
PY=/usr/bin/python3

command -v wrk >/dev/null 2>&1 || { echo "bench: wrk is not installed (scripts/setup.sh)" >&2; exit 1; }

stack_forget_env
stack_pick_dir "${BACKUPD_BENCH_STACK_DIR:-var-bench-nn}" "${BACKUPD_BENCH_STACK_DIR:-}" backupd-bench-nn
export BACKUPD_STACK_DIR=$stack_dir
export BACKUPD_HTTP_PORT=${BACKUPD_BENCH_NN_HTTP_PORT:-18181}
export BACKUPD_LOCAL_ROOTS=$stack_dir/local-root
export BACKUPD_EGRESS_ALLOW=127.0.0.2/32
export BACKUPD_PM=dynamic
export BACKUPD_PM_MAX_CHILDREN=${BENCH_MAX_CHILDREN:-32}
export BACKUPD_REQUEST_SLOWLOG_TIMEOUT=${BACKUPD_REQUEST_SLOWLOG_TIMEOUT:-5}
mkdir -p "$BACKUPD_LOCAL_ROOTS"
WORK=$stack_dir/bench-nn
rm -rf "$WORK"
mkdir -p "$WORK"
peers=()

cleanup() {
	local p
	for p in "${peers[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${peers[@]}"; do wait "$p" 2>/dev/null || true; done
	stack_cleanup
}
trap cleanup EXIT
scripts/stack.sh up
URL=http://127.0.0.1:$BACKUPD_HTTP_PORT
TOKEN_A=$(scripts/stack.sh token --org bench-a --sub bench --ttl 3600)
TOKEN_B=$(scripts/stack.sh token --org bench-b --sub bench --ttl 3600)
eval "$(scripts/stack.sh env | grep -E '^BACKUPD_(DB_SOCKET|DB_NAME|DB_USER|DB_PASSWORD)=' | sed 's/^/export /')"

# peer PORTFILE: start a bench peer on 127.0.0.2; its port in PEER_PORT.
peer() {
	"$PY" scripts/bench_peer.py 127.0.0.2 0 "$1" </dev/null >/dev/null 2>&1 &
	peers+=("$!")
	local i
	for i in $(seq 50); do [[ -s $1 ]] && break; sleep 0.1; done
	PEER_PORT=$(cat "$1")
}
peer "$WORK/slow.port"
slow_port=$PEER_PORT
peer "$WORK/fast.port"
fast_port=$PEER_PORT

# create TOKEN BODY: POST a destination, print its id.
create() {
	local resp code
	resp=$(curl -sS -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		-d "$2" -w '\n%{http_code}' "$URL/backup-destinations")
	code=${resp##*$'\n'}
	resp=${resp%$'\n'*}
	[[ $code == 201 ]] || { echo "bench: create answered $code: $resp" >&2; exit 1; }
	sed -n 's/.*"id"[[:space:]]*:[[:space:]]*"\([0-9a-fA-F-]\{36\}\)".*/\1/p' <<<"$resp" | head -n 1
}
dav() { printf '{"name":"%s","destinationType":"webdav","config":{"url":"http://127.0.0.2:%s/dav/","username":"u","password":"secret-%s"}}' "$1" "$2" "$RANDOM"; }

# B: 20 destinations with secrets to read (WebDAV with a password), one to test.
for i in $(seq 20); do
	id_b=$(create "$TOKEN_B" "$(dav "b-$i-$RANDOM" "$fast_port")")
done
# A: 5 destinations on the host that will stop answering.
ids_a=()
for i in $(seq 5); do ids_a+=("$(create "$TOKEN_A" "$(dav "a-$i-$RANDOM" "$slow_port")")"); done
kill -USR1 "${peers[0]}"
for i in $(seq 50); do [[ -e $WORK/slow.port.silent ]] && break; sleep 0.1; done

sqlq() {
	mariadb --socket="$BACKUPD_DB_SOCKET" -u"$BACKUPD_DB_USER" -p"$BACKUPD_DB_PASSWORD" \
		--batch --skip-column-names "$BACKUPD_DB_NAME" -e "$1"
}

# wrk_run LABEL PATH: "LABEL: N req/s, p50 X ms, p99 Y ms"; figures in WRK_RPS/P50/P99.
to_ms='{ v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
	if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000;
	printf "%.2f", v }'
wrk_run() {
	local label=$1 path=$2 dur=${3:-$DURATION} out non2xx
	out=$(wrk --latency -d "$dur" -t "$THREADS" -c "$CONNECTIONS" -H "Authorization: Bearer $TOKEN_B" "$URL$path")
	WRK_RPS=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' <<<"$out")
	WRK_P50=$(awk '$1 == "50%"' <<<"$out" | awk "$to_ms")
	WRK_P99=$(awk '$1 == "99%"' <<<"$out" | awk "$to_ms")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
	printf '  %-22s %6s req/s  p50 %7s ms  p99 %7s ms%s\n' "$label" "${WRK_RPS:-?}" \
		"${WRK_P50:-?}" "${WRK_P99:-?}" "${non2xx:+  ($non2xx non-2xx!)}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }

echo
echo "== quiet (org B alone; 20 destinations; wrk -t$THREADS -c$CONNECTIONS -d$DURATION)"
wrk_run "GET one" "/backup-destinations/$id_b"
q_one_rps=$WRK_RPS q_one_p99=$WRK_P99
wrk_run "GET list (20)" "/backup-destinations"
q_list_rps=$WRK_RPS q_list_p99=$WRK_P99
q_tests=()
for i in 1 2 3 4 5; do
	q_tests+=("$(curl -sS -o /dev/null -w '%{time_total}' -X POST -H "Authorization: Bearer $TOKEN_B" "$URL/backup-destinations/$id_b/test")")
done
printf '  B connection test      %s s each\n' "${q_tests[*]}"

before_versions=$(sqlq "SELECT COALESCE(SUM(version),0) FROM backup_destinations WHERE org_id = 'bench-a'")
before_denied=$(sqlq "SELECT COUNT(*) FROM audit_log WHERE org_id = 'bench-a' AND outcome = 'denied'")

echo
echo "== storm: org A keeps $CONC tests in flight against a silent host for ${STORM}s"
"$PY" scripts/bench_storm.py "$URL" "$STORM" "$CONC" "$TOKEN_A" "$(IFS=,; echo "${ids_a[*]}")" \
	"$TOKEN_B" "$id_b" "$WORK/storm.json" &
storm=$!
sleep 3
half=$(( (STORM - 8) / 2 ))
((half >= 3)) || half=3
wrk_run "GET one" "/backup-destinations/$id_b" "${half}s"
s_one_rps=$WRK_RPS s_one_p99=$WRK_P99
wrk_run "GET list (20)" "/backup-destinations" "${half}s"
s_list_rps=$WRK_RPS s_list_p99=$WRK_P99
wait "$storm"

after_versions=$(sqlq "SELECT COALESCE(SUM(version),0) FROM backup_destinations WHERE org_id = 'bench-a'")
after_denied=$(sqlq "SELECT COUNT(*) FROM audit_log WHERE org_id = 'bench-a' AND outcome = 'denied'")

"$PY" - "$WORK/storm.json" "$((after_versions - before_versions))" "$((after_denied - before_denied))" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
versions, denied = int(sys.argv[2]), int(sys.argv[3])
a = d["a"]
codes = {}
for c, _, _ in a:
    codes[str(c)] = codes.get(str(c), 0) + 1
ran = [t for c, t, _ in a if c != 429]
n429 = codes.get("429", 0)
print("  A: %d requests: %s" % (len(a), ", ".join("%s x%d" % kv for kv in sorted(codes.items()))))
print("  A: longest wait %.2f s (probe_timeout 20 s + 1 s allowed); 429s answered in max %.3f s"
      % (max(t for _, t, _ in a), max([t for c, t, _ in a if c == 429] or [0])))
ras = sorted({r for c, _, r in a if c == 429})
print("  A: Retry-After values seen: %s" % ", ".join(ras[:10]))
print("  A: database: %d audit rows 'denied' for %d 429s; %d test results recorded for %d tests that ran -> %s"
      % (denied, n429, versions, len(ran),
         "refused requests changed nothing" if denied == n429 and versions == len(ran) else "MISMATCH"))
b = sorted(t for _, t in d["b"])
bc = sorted({str(c) for c, _ in d["b"]})
if b:
    print("  B: %d connection tests during the storm: p50 %.3f s, max %.3f s (answers %s)"
          % (len(b), b[len(b) // 2], b[-1], ",".join(bc)))
print("  workers over time (t s: total/idle/probing, listen queue):")
line = []
for s in d["samples"]:
    line.append("%s:%d/%d/%d q%s" % (s["t"], s["total"], s["idle"], s["probing"], s["queue"]))
for i in range(0, len(line), 6):
    print("    " + "  ".join(line[i:i + 6]))
PYEOF

echo
echo "== B during the storm, as a ratio of quiet (targets: p99 < 50 ms, throughput >= 0.70)"
printf '  GET one: %s of quiet req/s, p99 %s ms (quiet %s ms)\n' "$(ratio "$s_one_rps" "$q_one_rps")" "$s_one_p99" "$q_one_p99"
printf '  list:    %s of quiet req/s, p99 %s ms (quiet %s ms)\n' "$(ratio "$s_list_rps" "$q_list_rps")" "$s_list_p99" "$q_list_p99"
