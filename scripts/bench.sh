#!/usr/bin/env bash
# Throughput of the read paths through nginx -> backupd -> MariaDB, on a stack
# of its own (BACKUPD_BENCH_STACK_DIR, default var-bench; port
# BACKUPD_BENCH_HTTP_PORT, default 18180). wrk settings from the environment:
# BENCH_DURATION (10s), BENCH_THREADS (2), BENCH_CONNECTIONS (32).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

DURATION=${BENCH_DURATION:-10s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}

command -v wrk >/dev/null 2>&1 || { echo "bench: wrk is not installed (scripts/setup.sh)" >&2; exit 1; }

stack_forget_env
stack_pick_dir "${BACKUPD_BENCH_STACK_DIR:-var-bench}" "${BACKUPD_BENCH_STACK_DIR:-}" backupd-bench
export BACKUPD_STACK_DIR=$stack_dir
export BACKUPD_HTTP_PORT=${BACKUPD_BENCH_HTTP_PORT:-18180}
export BACKUPD_LOCAL_ROOTS=$stack_dir/local-root
mkdir -p "$BACKUPD_LOCAL_ROOTS/bench"

trap stack_cleanup EXIT
scripts/stack.sh up
URL=http://127.0.0.1:$BACKUPD_HTTP_PORT
TOKEN=$(scripts/stack.sh token --org bench-org --sub bench --ttl 3600)
AUTH="Authorization: Bearer $TOKEN"

# One destination to read (a name of its own per run: the stack may be reused).
body=$(printf '{"name":"bench-%s","destinationType":"local","config":{"path":"%s"}}' \
	"$(date +%s%N)" "$BACKUPD_LOCAL_ROOTS/bench")
resp=$(curl -sS -X POST -H "$AUTH" -H 'Content-Type: application/json' -d "$body" \
	-w '\n%{http_code}' "$URL/backup-destinations")
code=${resp##*$'\n'}
resp=${resp%$'\n'*}
if [[ $code != 201 ]]; then
	echo "bench: creating the destination answered $code: $resp" >&2
	exit 1
fi
id=$(sed -n 's/.*"id"[[:space:]]*:[[:space:]]*"\([0-9a-fA-F-]\{36\}\)".*/\1/p' <<<"$resp" | head -n 1)
[[ -n $id ]] || { echo "bench: no id in $resp" >&2; exit 1; }

worker_rss() {
	local master
	master=$(cat "$stack_dir/run/backupd.pid")
	echo "backupd RSS ($1):"
	ps -o pid=,rss=,args= --pid "$master" --ppid "$master" |
		awk -v m="$master" '{ printf "  pid %-7s %6.1f MiB  %s\n", $1, $2 / 1024, ($1 == m ? "master" : "worker") }'
}

# wrk_run LABEL PATH: prints "LABEL: N req/s, p99 X ms".
wrk_run() {
	local label=$1 path=$2 out rps p99 non2xx
	out=$(wrk --latency -d "$DURATION" -t "$THREADS" -c "$CONNECTIONS" -H "$AUTH" "$URL$path")
	rps=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' <<<"$out")
	# " 99%    3.21ms" (units: us, ms, s)
	p99=$(awk '$1 == "99%" {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000;
		printf "%.2f", v }' <<<"$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
	printf '%s: %s req/s, p99 %s ms\n' "$label" "${rps:-?}" "${p99:-?}"
	if [[ -n $non2xx ]]; then
		printf '  warning: %s non-2xx answers\n' "$non2xx"
	fi
	if [[ -z $rps ]]; then
		printf '%s\n' "$out" >&2
	fi
}

worker_rss before
wrk_run "GET one" "/backup-destinations/$id"
wrk_run "list" "/backup-destinations"
worker_rss after
