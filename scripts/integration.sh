#!/usr/bin/env bash
# Integration suite: a fresh stack of its own (BACKUPD_TEST_STACK_DIR, default
# var-test; BACKUPD_TEST_HTTP_PORT, default 18080), then pytest against it,
# then `down`. Extra arguments go to pytest (e.g. -x, -k expr, or test files).
# The tests read the environment plus `scripts/stack.sh env`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# A shell that sourced another stack's env must not point this stack at
# that stack's database, config or logs.
for v in BACKUPD_URL BACKUPD_CONFIG BACKUPD_LOG BACKUPD_NGINX_ACCESS_LOG \
	BACKUPD_NGINX_ERROR_LOG BACKUPD_MYSQL_LOG BACKUPD_DB_SOCKET BACKUPD_DB_HOST \
	BACKUPD_DB_PORT BACKUPD_DB_NAME BACKUPD_DB_USER BACKUPD_DB_PASSWORD \
	BACKUPD_KEYRING_FILE BACKUPD_LISTEN; do
	unset "$v"
done

stack_dir=${BACKUPD_TEST_STACK_DIR:-var-test}
[[ $stack_dir == /* ]] || stack_dir=$ROOT/$stack_dir
tmp_stack=
if [[ -z ${BACKUPD_TEST_STACK_DIR:-} ]] && ((${#stack_dir} + 20 > 100)); then
	# A deep checkout: unix socket paths under it would be too long.
	tmp_stack=$(mktemp -d /tmp/backupd-test.XXXXXX)
	stack_dir=$tmp_stack
	echo "${0##*/}: checkout path too long for unix sockets; stack in $stack_dir" >&2
fi
export BACKUPD_STACK_DIR=$stack_dir
export BACKUPD_HTTP_PORT=${BACKUPD_TEST_HTTP_PORT:-18080}
export BACKUPD_LOCAL_ROOTS=$stack_dir/local-root

# Fresh: stop whatever an earlier run left, wipe, start.
scripts/stack.sh down >/dev/null 2>&1 || true
case $stack_dir in
"$ROOT"/var-* | "$ROOT"/var | /tmp/*) rm -rf "$stack_dir" ;;
*)
	# Never rm -rf an arbitrary directory: only what a stack creates.
	rm -rf "${stack_dir:?}"/{mysql,run,log,etc,local-root,stack.env}
	;;
esac
mkdir -p "$BACKUPD_LOCAL_ROOTS"

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	scripts/stack.sh down >/dev/null 2>&1 || true
	[[ -z $tmp_stack ]] || rm -rf "$tmp_stack"
}
trap cleanup EXIT
scripts/stack.sh up

# Arguments naming tests (tests/integration/test_x.py[::name]) replace the
# default selection; options (-x, -k expr, ...) are added to it.
targets=(tests/integration)
for a in "$@"; do
	if [[ $a != -* && -e ${a%%::*} ]]; then
		targets=()
		break
	fi
done
rc=0
/usr/bin/python3 -m pytest "${targets[@]}" -q -p no:cacheprovider "$@" || rc=$?
if ((rc == 5)); then
	echo "integration: no tests collected - that is a failure" >&2
elif ((rc != 0)) && [[ -s $stack_dir/log/backupd.log ]]; then
	printf '\n----- last lines of %s -----\n' "$stack_dir/log/backupd.log" >&2
	tail -n 40 "$stack_dir/log/backupd.log" >&2 || true
fi
exit "$rc"
