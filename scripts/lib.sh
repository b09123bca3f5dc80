# shellcheck shell=bash
# Sourced by scripts/integration.sh and scripts/bench.sh, which each run a
# stack of their own: forgetting another stack's environment, picking the
# stack directory, and the EXIT trap. Expects $ROOT, the checkout.

# A shell that sourced another stack's env must not point this stack at
# that stack's database, config or logs.
stack_forget_env() {
	local v
	for v in BACKUPD_URL BACKUPD_CONFIG BACKUPD_LOG BACKUPD_NGINX_ACCESS_LOG \
		BACKUPD_NGINX_ERROR_LOG BACKUPD_MYSQL_LOG BACKUPD_DB_SOCKET BACKUPD_DB_HOST \
		BACKUPD_DB_PORT BACKUPD_DB_NAME BACKUPD_DB_USER BACKUPD_DB_PASSWORD \
		BACKUPD_KEYRING_FILE BACKUPD_LISTEN; do
		unset "$v"
	done
}

# stack_pick_dir DIR GIVEN PREFIX: sets stack_dir to DIR made absolute
# (relative to $ROOT). When DIR is the default (GIVEN empty) and the checkout
# is so deep that unix socket paths under it would be too long, a fresh
# /tmp/PREFIX.XXXXXX instead, also named in tmp_stack (stack_cleanup
# removes it); tmp_stack is empty otherwise.
stack_pick_dir() {
	stack_dir=$1
	[[ $stack_dir == /* ]] || stack_dir=$ROOT/$stack_dir
	tmp_stack=
	if [[ -z $2 ]] && ((${#stack_dir} + 20 > 100)); then
		tmp_stack=$(mktemp -d "/tmp/$3.XXXXXX")
		stack_dir=$tmp_stack
		echo "${0##*/}: checkout path too long for unix sockets; stack in $stack_dir" >&2
	fi
}

# The EXIT trap: stop the stack, drop a /tmp stack directory.
stack_cleanup() {
	scripts/stack.sh down >/dev/null 2>&1 || true
	[[ -z $tmp_stack ]] || rm -rf "$tmp_stack"
}
