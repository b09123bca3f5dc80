#!/usr/bin/env bash
# The local stack: a private MariaDB, the migrations, a dev keyring and JWT
# secret, the backupd pool and an nginx on 127.0.0.1:$BACKUPD_HTTP_PORT, all
# under $BACKUPD_STACK_DIR (default: var, relative to the repository root).
#
#   scripts/stack.sh up        start what is not running, wait until it answers
#   scripts/stack.sh down      stop exactly what up started (recorded pids)
#   scripts/stack.sh env       print the stack's KEY=value lines (stack.env)
#   scripts/stack.sh token [--org O] [--role R] [--sub S] [--ttl N]
#   scripts/stack.sh run       up, print a ready-to-paste curl, Ctrl-C = down
#   scripts/stack.sh status    which parts run (exit 0 only when all do)
#   scripts/stack.sh db-stop | db-start   stop / start only MariaDB
#
# Every BACKUPD_* variable set at `up` reaches backupd's environment and wins
# over the generated backupd.conf; stack.env records the effective values.
#
# An external database instead of the private MariaDB: BACKUPD_STACK_EXTERNAL_DB=1
# at `up` with BACKUPD_DB_HOSTS (or BACKUPD_DB_HOST/BACKUPD_DB_PORT, or
# BACKUPD_DB_SOCKET), BACKUPD_DB_NAME, BACKUPD_DB_USER, BACKUPD_DB_PASSWORD.
# The stack then starts no MariaDB, creates no user and applies no migrations
# (the database's owner does: tests/cluster/ runs them through one node).
# Two stacks with different BACKUPD_STACK_DIR and BACKUPD_HTTP_PORT run side
# by side.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
D=${BACKUPD_STACK_DIR:-var}
[[ $D == /* ]] || D=$ROOT/$D
D=${D%/}
PORT=${BACKUPD_HTTP_PORT:-8080}
URL=http://127.0.0.1:$PORT
ME=$(id -un)

BD_BIN=${BACKUPD_BIN_DIR:-$ROOT/build}/backupd
CTL_BIN=${BACKUPD_BIN_DIR:-$ROOT/build}/backupctl

ETC=$D/etc RUN=$D/run LOG=$D/log DATADIR=$D/mysql
CONF=$ETC/backupd.conf
ENV_FILE=$D/stack.env
MYSQL_SOCK=$RUN/mysqld.sock
MYSQL_PID=$RUN/mysqld.pid
BD_SOCK=$RUN/backupd.sock
BD_PID=$RUN/backupd.pid
NGINX_PID=$RUN/nginx.pid
NGINX_CONF=$ETC/nginx.conf
MYSQL_LOG=$LOG/mysqld.log
BD_LOG=$LOG/backupd.log
NGINX_ACCESS_LOG=$LOG/nginx-access.log
NGINX_ERROR_LOG=$LOG/nginx-error.log

# Variables the stack produces (outputs); never taken from the environment.
OUTPUT_VARS=(BACKUPD_URL BACKUPD_CONFIG BACKUPD_STACK_DIR BACKUPD_HTTP_PORT
	BACKUPD_LOG BACKUPD_NGINX_ACCESS_LOG BACKUPD_NGINX_ERROR_LOG BACKUPD_MYSQL_LOG)

say() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

check_params() {
	if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
		die "BACKUPD_HTTP_PORT '$PORT' is not a TCP port"
	fi
	local s
	for s in "$MYSQL_SOCK" "$BD_SOCK"; do
		if ((${#s} > 100)); then
			die "socket path $s is ${#s} bytes; unix sockets allow at most 100 here. Use a shorter BACKUPD_STACK_DIR (e.g. an absolute path under /tmp)."
		fi
	done
	case $D in
	*[[:space:]\|\&\\]*) die "BACKUPD_STACK_DIR must not contain whitespace, '|', '&' or '\\': '$D'" ;;
	esac
}

# --- process bookkeeping -----------------------------------------------------

# pid_of FILE: the pid recorded in FILE, or nothing.
pid_of() {
	local p=
	if [[ -r $1 ]]; then read -r p <"$1" 2>/dev/null || true; fi
	[[ $p =~ ^[0-9]+$ ]] && printf '%s' "$p"
	return 0
}

# alive PID PATTERN: PID runs and its command line contains PATTERN (guards
# against a recycled pid belonging to something else).
alive() {
	local pid=$1 pat=$2 cmd
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmd == *"$pat"* ]]
}

external_db() { [[ ${BACKUPD_STACK_EXTERNAL_DB:-} == 1 ]]; }
mysql_running() {
	external_db && return 0
	alive "$(pid_of "$MYSQL_PID")" "--datadir=$DATADIR"
}
backupd_running() { alive "$(pid_of "$BD_PID")" "$CONF"; }
nginx_running() { alive "$(pid_of "$NGINX_PID")" "$NGINX_CONF"; }

# stop_pid NAME PID SIGNAL TIMEOUT: signal PID and wait for it to go; SIGKILL
# after TIMEOUT seconds.
stop_pid() {
	local name=$1 pid=$2 sig=$3 timeout=$4 i
	kill "-$sig" "$pid" 2>/dev/null || return 0
	for ((i = 0; i < timeout * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { say "$name stopped"; return 0; }
		sleep 0.1
	done
	say "$name (pid $pid) did not stop within ${timeout}s; killing it"
	kill -KILL "$pid" 2>/dev/null || true
	sleep 0.2
}

tail_logs() {
	local f
	for f in "$MYSQL_LOG" "$BD_LOG" "$NGINX_ERROR_LOG"; do
		[[ -s $f ]] || continue
		printf '\n----- last lines of %s -----\n' "$f" >&2
		tail -n 25 "$f" >&2 || true
	done
}

# --- MariaDB ----------------------------------------------------------------

# Client as the OS user over the stack's socket (unix_socket authentication).
db_admin() {
	mariadb --no-defaults "--socket=$MYSQL_SOCK" "--user=$ME" --batch --skip-column-names
}

db_ping() {
	external_db && return 0
	mariadb-admin --no-defaults "--socket=$MYSQL_SOCK" "--user=$ME" \
		--connect-timeout=2 ping >/dev/null 2>&1
}

db_start() {
	external_db && return 0
	if mysql_running; then
		db_ping && return 0
	else
		mkdir -p "$DATADIR" "$RUN" "$LOG"
		if [[ ! -d $DATADIR/mysql ]]; then
			say "initialising MariaDB in $DATADIR"
			mariadb-install-db --no-defaults "--user=$ME" "--datadir=$DATADIR" \
				--auth-root-authentication-method=socket --skip-test-db \
				--skip-name-resolve >>"$MYSQL_LOG" 2>&1 ||
				{ tail_logs; die "mariadb-install-db failed (see $MYSQL_LOG)"; }
		fi
		rm -f "$MYSQL_SOCK" "$MYSQL_SOCK.lock"
		say "starting MariaDB"
		setsid mariadbd --no-defaults "--user=$ME" "--datadir=$DATADIR" \
			"--socket=$MYSQL_SOCK" "--pid-file=$MYSQL_PID" --skip-networking \
			"--log-error=$MYSQL_LOG" --skip-log-bin --skip-name-resolve \
			--innodb-buffer-pool-size=64M --innodb-log-file-size=16M \
			--innodb-flush-log-at-trx-commit=2 --performance-schema=OFF \
			--default-time-zone=+00:00 --character-set-server=utf8mb4 \
			--collation-server=utf8mb4_unicode_ci --max-connections=300 \
			</dev/null >>"$MYSQL_LOG" 2>&1 &
		# mariadbd writes its pid file once up; record it now so that a
		# failed start can still be cleaned up.
		echo "$!" >"$MYSQL_PID"
	fi
	local i pid
	pid=$(pid_of "$MYSQL_PID")
	for ((i = 0; i < 300; i++)); do
		db_ping && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			tail_logs
			die "MariaDB exited during start (see $MYSQL_LOG)"
		fi
		sleep 0.1
	done
	tail_logs
	die "MariaDB did not answer on $MYSQL_SOCK within 30 s"
}

db_stop() {
	local pid
	pid=$(pid_of "$MYSQL_PID")
	if alive "$pid" "--datadir=$DATADIR"; then
		stop_pid MariaDB "$pid" TERM 30
	fi
	rm -f "$MYSQL_PID"
}

# SQL string literal for a value (single quotes, \ and ' escaped).
sqlquote() {
	local v=$1
	v=${v//\\/\\\\}
	v=${v//\'/\\\'}
	printf "'%s'" "$v"
}

# --- helpers for values ------------------------------------------------------

rand_b64url() { # N random bytes, base64url without padding
	head -c "$1" /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='
}

# write_secret FILE VALUE: create FILE 0600 holding VALUE.
write_secret() {
	(umask 077 && printf '%s\n' "$2" >"$1.tmp") && mv -f "$1.tmp" "$1"
}

# env_line KEY VALUE: KEY=value, single-quoted only when needed.
env_line() {
	local k=$1 v=$2
	if [[ $v =~ ^[A-Za-z0-9_./:,@%+=-]*$ ]]; then
		printf '%s=%s\n' "$k" "$v"
	else
		printf "%s='%s'\n" "$k" "${v//\'/\'\\\'\'}"
	fi
}

# --- up -----------------------------------------------------------------------

need_binaries() {
	local b
	# A fresh checkout (no BACKUPD_BIN_DIR of its own): install what is
	# missing and build, so `scripts/stack.sh up` works on its own too.
	if [[ -z ${BACKUPD_BIN_DIR:-} && ( ! -x $BD_BIN || ! -x $CTL_BIN ) ]]; then
		say "building backupd (make all)"
		if ! { "$ROOT/scripts/setup.sh" >&2 && make -C "$ROOT" all >&2; }; then
			die "the build failed"
		fi
	fi
	for b in "$BD_BIN" "$CTL_BIN"; do
		[[ -x $b ]] || die "$b is missing: run 'make all' first"
	done
	for b in mariadbd mariadb mariadb-admin mariadb-install-db nginx curl; do
		command -v "$b" >/dev/null 2>&1 || die "'$b' is not installed: run scripts/setup.sh"
	done
}

# Render an nginx file: the stack's socket and max body, then the placeholders.
render() {
	local src=$1 dst=$2 user_sed
	if [[ $(id -u) == 0 ]]; then
		user_sed="s|@USER@|$ME|g"
	else
		user_sed='/^[[:space:]]*user @USER@;/d'
	fi
	sed -e "s|server unix:/run/backupd/backupd.sock;|server unix:$BD_SOCK;|" \
		-e "s|client_max_body_size 65536;|client_max_body_size $MAX_BODY;|" \
		-e "$user_sed" \
		-e "s|@STACK_DIR@|$D|g" -e "s|@PORT@|$PORT|g" -e "s|@SOCKET@|$BD_SOCK|g" \
		-e "s|@MAX_BODY@|$MAX_BODY|g" "$src" >"$dst.tmp"
	mv -f "$dst.tmp" "$dst"
}

nginx_start() {
	nginx_running && return 0
	MAX_BODY=${BACKUPD_MAX_BODY:-65536}
	[[ $MAX_BODY =~ ^[0-9]+$ ]] || die "BACKUPD_MAX_BODY must be a number of bytes"
	mkdir -p "$RUN"/nginx/{client_body,fastcgi,proxy,uwsgi,scgi} "$LOG" "$ETC"
	cp -f /etc/nginx/fastcgi_params "$ETC/fastcgi_params"
	render "$ROOT/nginx/backupd-upstream.conf" "$ETC/backupd-upstream.conf"
	render "$ROOT/nginx/backupd-location.conf" "$ETC/backupd-location.conf"
	render "$ROOT/nginx/stack.conf.template" "$NGINX_CONF"
	rm -f "$NGINX_PID"
	say "starting nginx on $URL"
	# shellcheck disable=SC2094 # -e and stderr append to the same log
	if ! nginx -q -p "$D/" -e "$NGINX_ERROR_LOG" -c "$NGINX_CONF" </dev/null >>"$NGINX_ERROR_LOG" 2>&1; then
		tail_logs
		die "nginx failed to start (port $PORT in use?) - see $NGINX_ERROR_LOG"
	fi
	local i
	for ((i = 0; i < 50; i++)); do
		nginx_running && return 0
		sleep 0.1
	done
	tail_logs
	die "nginx did not write $NGINX_PID"
}

nginx_stop() {
	local pid
	pid=$(pid_of "$NGINX_PID")
	if alive "$pid" "$NGINX_CONF"; then
		stop_pid nginx "$pid" QUIT 10
	fi
	rm -f "$NGINX_PID"
}

backupd_stop() {
	local pid
	pid=$(pid_of "$BD_PID")
	if alive "$pid" "$CONF"; then
		stop_pid backupd "$pid" TERM 15
		# Workers left behind by a killed master: its own session/group.
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	rm -f "$BD_PID"
}

wait_http() {
	local code='' deadline=$((SECONDS + 20))
	while ((SECONDS < deadline)); do
		code=$(curl -s -m 2 "$URL/backup-destinations-ping" 2>/dev/null) || true
		[[ $code == pong ]] && return 0
		if ! backupd_running; then
			tail_logs
			say "backupd exited during start (see $BD_LOG)"
			return 1
		fi
		sleep 0.1
	done
	tail_logs
	say "GET $URL/backup-destinations-ping answered '$code', not pong, within 20 s"
	return 1
}

up_failed() {
	local rc=$?
	((rc == 0)) && return 0
	say "up failed; stopping the stack in $D"
	cmd_down >/dev/null 2>&1 || true
	exit "$rc"
}

cmd_up() {
	check_params
	need_binaries
	# Outputs of a stack are never inputs (e.g. another stack's sourced env).
	local v
	for v in "${OUTPUT_VARS[@]}"; do
		[[ $v == BACKUPD_STACK_DIR || $v == BACKUPD_HTTP_PORT ]] || unset "$v"
	done

	if mysql_running && backupd_running && nginx_running && db_ping; then
		wait_http || die "the stack in $D runs but does not answer"
		say "already up: $URL"
		return 0
	fi

	# From here on, a failure stops what this stack has running (a half-up
	# stack helps nobody); the logs' tails are printed first.
	trap 'up_failed' EXIT
	mkdir -p "$D" "$ETC" "$RUN" "$LOG"
	chmod 700 "$ETC"
	db_start

	# Database, user, grants.
	local db_name=${BACKUPD_DB_NAME:-backupd} db_user=${BACKUPD_DB_USER:-backupd} db_pw
	[[ $db_name =~ ^[A-Za-z0-9_]{1,64}$ ]] || die "BACKUPD_DB_NAME must match [A-Za-z0-9_]{1,64}"
	[[ $db_user =~ ^[A-Za-z0-9_]{1,80}$ ]] || die "BACKUPD_DB_USER must match [A-Za-z0-9_]{1,80}"
	if backupd_running && [[ -s $ENV_FILE ]]; then
		# The running pool keeps the credentials it was started with.
		db_name=$(env_get BACKUPD_DB_NAME) db_user=$(env_get BACKUPD_DB_USER)
		db_pw=$(env_get BACKUPD_DB_PASSWORD)
	elif [[ -n ${BACKUPD_DB_PASSWORD:-} ]]; then
		db_pw=$BACKUPD_DB_PASSWORD
	elif external_db; then
		die "BACKUPD_STACK_EXTERNAL_DB=1 needs BACKUPD_DB_PASSWORD"
	else
		if [[ ! -s $ETC/db_password ]]; then
			write_secret "$ETC/db_password" "$(rand_b64url 24)"
		fi
		db_pw=$(<"$ETC/db_password")
	fi
	external_db || db_admin <<-SQL || die "could not create database/user (see $MYSQL_LOG)"
		CREATE DATABASE IF NOT EXISTS \`$db_name\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
		CREATE USER IF NOT EXISTS '$db_user'@'localhost' IDENTIFIED BY $(sqlquote "$db_pw");
		ALTER USER '$db_user'@'localhost' IDENTIFIED BY $(sqlquote "$db_pw");
		GRANT ALL PRIVILEGES ON \`$db_name\`.* TO '$db_user'@'localhost';
	SQL
	external_db || BACKUPD_DB_SOCKET=$MYSQL_SOCK BACKUPD_DB_NAME=$db_name \
		BACKUPD_DB_USER=$db_user BACKUPD_DB_PASSWORD=$db_pw BACKUPD_DB_HOST='' \
		BACKUPD_DB_PORT='' BACKUPD_DB_HOSTS='' \
		"$ROOT/scripts/migrate.sh" || die "migrations failed"

	if backupd_running; then
		# Started by an earlier `up` with its own environment: keep it (and
		# its stack.env), only restart what is missing around it.
		say "backupd already running (pid $(pid_of "$BD_PID"))"
	else
		backupd_start "$db_name" "$db_user" "$db_pw"
	fi
	nginx_start
	wait_http || exit 1
	trap - EXIT
	say "up: $URL (stack dir $D; 'scripts/stack.sh env' for the details)"
}

backupd_start() {
	local db_name=$1 db_user=$2 db_pw=$3 jwt_key keyring
	keyring=${BACKUPD_KEYRING_FILE:-$ETC/keyring}
	if [[ ! -s $keyring ]]; then
		say "creating keyring $keyring"
		(umask 077 && "$CTL_BIN" keygen --keyring "$keyring" >/dev/null) ||
			die "backupctl keygen failed"
	fi
	chmod 600 "$keyring" 2>/dev/null || true
	# The generated secret always exists; BACKUPD_JWT_KEY (if set) wins.
	[[ -s $ETC/jwt_key ]] || write_secret "$ETC/jwt_key" "$(rand_b64url 32)"
	jwt_key=$(<"$ETC/jwt_key")
	local conf_jwt=$jwt_key db_line="db_socket = $MYSQL_SOCK"
	# External: the BACKUPD_DB_* variables name the database.
	external_db && db_line="# database: BACKUPD_DB_* (external)"
	if [[ -n ${BACKUPD_JWT_KEY:-} ]]; then
		jwt_key=$BACKUPD_JWT_KEY
		[[ $jwt_key == *$'\n'* ]] || conf_jwt=$jwt_key
	fi

	(
		umask 077
		cat >"$CONF.tmp" <<-EOF
			# Generated by scripts/stack.sh up; every BACKUPD_* variable set at
			# up overrides the key it names.
			listen = unix:$BD_SOCK
			# php-fpm's process manager (README "Process manager"); workers
			# (the alias of pm = static) is ignored while pm is dynamic.
			pm = dynamic
			pm_max_children = 16
			workers = 4
			$db_line
			db_user = $db_user
			db_password = $db_pw
			db_name = $db_name
			keyring_file = $keyring
			jwt_key = $conf_jwt
			settings_url = $URL/settings
			oauth_redirect_uri = $URL/backup-destinations/oauth/callback
		EOF
	)
	mv -f "$CONF.tmp" "$CONF"

	# A socket left behind by a crashed pool.
	[[ -S $BD_SOCK ]] && rm -f "$BD_SOCK"
	say "starting backupd"
	printf '\n=== %s backupd starting (stack.sh up)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$BD_LOG"
	setsid "$BD_BIN" -c "$CONF" </dev/null >>"$BD_LOG" 2>&1 &
	echo "$!" >"$BD_PID"

	write_env "$db_name" "$db_user" "$db_pw" "$jwt_key" "$keyring"
}

# stack.env: the effective values (environment at up wins over generated).
write_env() {
	local db_name=$1 db_user=$2 db_pw=$3 jwt_key=$4 keyring=$5
	declare -A fixed=(
		[BACKUPD_URL]=$URL
		[BACKUPD_JWT_KEY]=$jwt_key
		[BACKUPD_DB_SOCKET]=${BACKUPD_DB_SOCKET:-$(external_db || echo "$MYSQL_SOCK")}
		[BACKUPD_DB_NAME]=$db_name
		[BACKUPD_DB_USER]=$db_user
		[BACKUPD_DB_PASSWORD]=$db_pw
		[BACKUPD_STACK_DIR]=$D
		[BACKUPD_HTTP_PORT]=$PORT
		[BACKUPD_CONFIG]=$CONF
		[BACKUPD_KEYRING_FILE]=$keyring
		[BACKUPD_LOG]=$BD_LOG
		[BACKUPD_NGINX_ACCESS_LOG]=$NGINX_ACCESS_LOG
		[BACKUPD_NGINX_ERROR_LOG]=$NGINX_ERROR_LOG
		[BACKUPD_MYSQL_LOG]=$MYSQL_LOG
	)
	local order=(BACKUPD_URL BACKUPD_JWT_KEY BACKUPD_DB_SOCKET BACKUPD_DB_NAME
		BACKUPD_DB_USER BACKUPD_DB_PASSWORD BACKUPD_STACK_DIR BACKUPD_HTTP_PORT
		BACKUPD_CONFIG BACKUPD_KEYRING_FILE BACKUPD_LOG BACKUPD_NGINX_ACCESS_LOG
		BACKUPD_NGINX_ERROR_LOG BACKUPD_MYSQL_LOG)
	local k
	(
		umask 077
		{
			printf '# %s: stack %s (written by scripts/stack.sh up)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$D"
			for k in "${order[@]}"; do
				if [[ ${fixed[$k]} == *$'\n'* ]]; then
					say "warning: $k spans several lines; left out of stack.env"
					continue
				fi
				env_line "$k" "${fixed[$k]}"
			done
			while IFS= read -r k; do
				[[ -n ${fixed[$k]:-} ]] && continue
				if [[ ${!k} == *$'\n'* ]]; then
					say "warning: $k spans several lines; left out of stack.env"
					continue
				fi
				env_line "$k" "${!k}"
			done < <(compgen -e | grep '^BACKUPD_' | sort)
		} >"$ENV_FILE.tmp"
	)
	mv -f "$ENV_FILE.tmp" "$ENV_FILE"
}

# --- down / status / env / token / run ----------------------------------------

cmd_down() {
	check_params
	nginx_stop
	backupd_stop
	db_stop
	rm -f "$BD_SOCK"
	say "down: $D"
}

cmd_status() {
	local ok=0 p
	# The port the stack was started with, whatever BACKUPD_HTTP_PORT says now.
	if [[ -s $ENV_FILE ]] && p=$(env_get BACKUPD_URL) && [[ -n $p ]]; then
		URL=$p
	fi
	if external_db; then echo "mariadb: external"; elif mysql_running; then p=$(pid_of "$MYSQL_PID"); echo "mariadb: running (pid $p)"; else echo "mariadb: stopped"; ok=1; fi
	if backupd_running; then p=$(pid_of "$BD_PID"); echo "backupd: running (pid $p)"; else echo "backupd: stopped"; ok=1; fi
	if nginx_running; then p=$(pid_of "$NGINX_PID"); echo "nginx:   running (pid $p) on $URL"; else echo "nginx:   stopped"; ok=1; fi
	return "$ok"
}

cmd_env() {
	if [[ ! -s $ENV_FILE ]] || ! backupd_running; then
		die "the stack in $D is not up (run: scripts/stack.sh up)"
	fi
	grep -v '^#' "$ENV_FILE"
}

# unquote_env VALUE: undo env_line's quoting.
unquote_env() {
	local v=$1
	if [[ $v == \'*\' ]]; then
		v=${v:1:${#v}-2}
		v=${v//\'\\\'\'/\'}
	fi
	printf '%s' "$v"
}

# env_get KEY: KEY's value in stack.env (empty if absent).
env_get() {
	local line
	while IFS= read -r line; do
		if [[ $line == "$1="* ]]; then
			unquote_env "${line#*=}"
			return 0
		fi
	done <"$ENV_FILE"
}

# Export stack.env (and nothing else of BACKUPD_*), as the service sees it.
load_env() {
	[[ -s $ENV_FILE ]] || die "the stack in $D is not up (run: scripts/stack.sh up)"
	local line k
	while IFS= read -r k; do unset "$k"; done < <(compgen -e | grep '^BACKUPD_')
	while IFS= read -r line; do
		[[ $line == BACKUPD_*=* ]] || continue
		k=${line%%=*}
		export "$k=$(unquote_env "${line#*=}")"
	done <"$ENV_FILE"
}

cmd_token() {
	[[ -x $CTL_BIN ]] || die "$CTL_BIN is missing: run 'make all' first"
	load_env
	local has_org=0 a
	for a in "$@"; do
		[[ $a == --org || $a == --org=* ]] && has_org=1
	done
	local args=("$@")
	((has_org)) || args=(--org dev-org "${args[@]}")
	"$CTL_BIN" -c "$CONF" token "${args[@]}"
}

cmd_run() {
	# The first five minutes: the local type works out of the box under the
	# stack dir (a development default; production has no local root unless
	# local_roots is set). A BACKUPD_LOCAL_ROOTS of your own wins.
	if [[ -z ${BACKUPD_LOCAL_ROOTS:-} ]]; then
		export BACKUPD_LOCAL_ROOTS=$D/local
	fi
	local root=${BACKUPD_LOCAL_ROOTS%%,*} org=dev-org
	mkdir -p "$root/$org"
	cmd_up
	local token
	token=$(cmd_token --org "$org" --ttl 86400) || die "could not mint a token"
	trap 'echo; cmd_down; exit 0' INT TERM
	cat <<-EOF

		backupd is up at $URL  (stack dir $D, logs in $LOG)

		1. List the destinations of org $org (empty; token: no role claim = admin, valid 24 h):

		  TOKEN='$token'
		  curl -s -w '\n' -H "Authorization: Bearer \$TOKEN" $URL/backup-destinations

		2. Create a local destination in $root/$org (its connection test runs first):

		  ID=\$(curl -s -X POST -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
		    -d '{"name":"local-dev","destinationType":"local","config":{"path":"$root/$org"}}' \\
		    $URL/backup-destinations | grep -o '"id":"[^"]*"' | head -n 1 | cut -d '"' -f 4); echo "\$ID"

		3. Test it again:

		  curl -s -w '\n' -X POST -H "Authorization: Bearer \$TOKEN" $URL/backup-destinations/\$ID/test

		Other destination types need a server to talk to: docs/destinations/.
	EOF
	echo
	printf 'More tokens: scripts/stack.sh token --org O --role viewer|member|admin\nCtrl-C stops the stack.\n'
	while true; do
		if ! backupd_running; then
			tail_logs
			say "backupd exited"
			cmd_down
			exit 1
		fi
		sleep 1 &
		wait $! || true
	done
}

cmd_db_start() {
	check_params
	db_start
	say "MariaDB up on $MYSQL_SOCK"
}

cmd_db_stop() {
	check_params
	db_stop
}

usage() {
	sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

main() {
	local cmd=${1:-}
	[[ $# -gt 0 ]] && shift
	case $cmd in
	up) cmd_up ;;
	down) cmd_down ;;
	env) cmd_env ;;
	token) cmd_token "$@" ;;
	run) cmd_run ;;
	status) cmd_status ;;
	db-stop) cmd_db_stop ;;
	db-start) cmd_db_start ;;
	*) usage ;;
	esac
}

main "$@"
