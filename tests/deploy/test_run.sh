#!/usr/bin/env bash
# `make run`'s first five minutes: the three curls it prints, pasted into a
# shell as printed, list an empty org, create a local destination whose
# connection test passes, and test it again; Ctrl-C stops the stack.
#   tests/deploy/test_run.sh   (BACKUPD_TEST_STACK_DIR, BACKUPD_TEST_HTTP_PORT)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# A stack of its own, from scratch (make run's org must be empty).
export BACKUPD_STACK_DIR=${BACKUPD_TEST_STACK_DIR:-var-test}-run
export BACKUPD_HTTP_PORT=${BACKUPD_TEST_HTTP_PORT:-18090}
unset BACKUPD_LOCAL_ROOTS
start=$SECONDS
out=$(mktemp)
run_pid=
cleanup() {
	[[ -z $run_pid ]] || kill -TERM "$run_pid" 2>/dev/null || true
	[[ -z $run_pid ]] || wait "$run_pid" 2>/dev/null || true
	scripts/stack.sh down >/dev/null 2>&1 || true
	rm -f "$out"
	rm -rf "$BACKUPD_STACK_DIR"
}
trap cleanup EXIT
scripts/stack.sh down >/dev/null 2>&1 || true
rm -rf "$BACKUPD_STACK_DIR"
fail() { echo "not ok - $*" >&2; cat "$out" >&2; exit 1; }

scripts/stack.sh run >"$out" 2>/dev/null &
run_pid=$!
for _ in $(seq 600); do
	grep -q '^Ctrl-C stops the stack' "$out" && break
	kill -0 "$run_pid" 2>/dev/null || fail "make run exited"
	sleep 0.1
done
grep -q '^Ctrl-C stops the stack' "$out" || fail "make run printed no curls within 60 s"
# The copy-paste lines: indented by two spaces under 1., 2., 3.
script=$(sed -n '/^1\. /,/^Other destination types/p' "$out" | grep '^  ')
[[ $(grep -c 'curl ' <<<"$script") == 3 ]] || fail "not three curls"
answers=$(bash -euo pipefail -c "$script" 2>&1) || fail "the pasted curls failed: $answers"
mapfile -t lines <<<"$answers"
[[ ${lines[0]} == "[]" || ${lines[0]} == *'"items":[]'* ]] || fail "1. did not list an empty org: ${lines[0]}"
[[ ${lines[1]} =~ ^[0-9a-f-]{36}$ ]] || fail "2. printed no destination id: ${lines[1]}"
/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["ok"] is True, d' "${lines[2]}" ||
	fail "3. the test did not pass: ${lines[2]}"
# A background job of a script ignores SIGINT (POSIX), so the test
# sends SIGTERM, which make run traps the same way as Ctrl-C.
kill -TERM "$run_pid"
wait "$run_pid" || fail "make run did not stop cleanly on Ctrl-C"
run_pid=
scripts/stack.sh status >/dev/null 2>&1 && fail "the stack still runs after Ctrl-C"
echo "ok - make run's three curls: empty list, local destination created (test passed), tested again; Ctrl-C stops it ($((SECONDS - start)) s)"
