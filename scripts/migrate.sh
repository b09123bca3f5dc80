#!/usr/bin/env bash
# Apply sql/NNN_name.sql migrations that are not yet recorded in
# schema_migrations, in order, recording each (version, name, applied_at).
#
# Connection from the environment:
#   BACKUPD_DB_SOCKET            unix socket (wins over host/port), or
#   BACKUPD_DB_HOST, BACKUPD_DB_PORT
#   BACKUPD_DB_USER              (unset: the OS user, e.g. unix_socket auth)
#   BACKUPD_DB_PASSWORD          (passed in a private defaults file, never argv)
#   BACKUPD_DB_NAME              (default: backupd; must exist)
#   BACKUPD_MIGRATE_LOCK_TIMEOUT seconds to wait for a concurrent run (default 120)
#
# Re-runnable: a second run applies nothing. Concurrent runs serialize on
# GET_LOCK('backupd.migrate.<db>'), held by one session for the whole run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SQL_DIR=${BACKUPD_SQL_DIR:-$ROOT/sql}
DB_NAME=${BACKUPD_DB_NAME:-backupd}
LOCK_TIMEOUT=${BACKUPD_MIGRATE_LOCK_TIMEOUT:-120}

die() { printf 'migrate: %s\n' "$*" >&2; exit 1; }

[[ $DB_NAME =~ ^[A-Za-z0-9_]{1,64}$ ]] || die "BACKUPD_DB_NAME '$DB_NAME' must match [A-Za-z0-9_]{1,64}"
[[ $LOCK_TIMEOUT =~ ^[0-9]+$ ]] || die "BACKUPD_MIGRATE_LOCK_TIMEOUT must be a number of seconds"
command -v mariadb >/dev/null 2>&1 || die "the 'mariadb' client is not installed (run scripts/setup.sh)"

# --- private client option file (the password never appears in argv) --------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/backupd-migrate.XXXXXX")
LOCK_PID=
cleanup() {
	if [[ -n $LOCK_PID ]] && kill -0 "$LOCK_PID" 2>/dev/null; then
		kill "$LOCK_PID" 2>/dev/null || true
		wait "$LOCK_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

# Quote a value for a MySQL option file: "..." with \ and " escaped.
optquote() {
	local v=$1
	v=${v//\\/\\\\}
	v=${v//\"/\\\"}
	printf '"%s"' "$v"
}

(
	umask 077
	{
		printf '[client]\n'
		if [[ -n ${BACKUPD_DB_SOCKET:-} ]]; then
			printf 'socket=%s\n' "$(optquote "$BACKUPD_DB_SOCKET")"
		elif [[ -n ${BACKUPD_DB_HOST:-} ]]; then
			printf 'host=%s\n' "$(optquote "$BACKUPD_DB_HOST")"
			[[ -z ${BACKUPD_DB_PORT:-} ]] || printf 'port=%s\n' "$BACKUPD_DB_PORT"
		fi
		[[ -z ${BACKUPD_DB_USER:-} ]] || printf 'user=%s\n' "$(optquote "$BACKUPD_DB_USER")"
		[[ -z ${BACKUPD_DB_PASSWORD:-} ]] || printf 'password=%s\n' "$(optquote "$BACKUPD_DB_PASSWORD")"
	} >"$TMP/client.cnf"
)
if [[ -z ${BACKUPD_DB_SOCKET:-} && -n ${BACKUPD_DB_PORT:-} ]]; then
	[[ $BACKUPD_DB_PORT =~ ^[0-9]+$ ]] || die "BACKUPD_DB_PORT must be a number"
fi

# --defaults-file: only our options, not /etc/mysql/*.cnf.
MYSQL=(mariadb "--defaults-file=$TMP/client.cnf" --batch --skip-column-names
	--default-character-set=utf8mb4 "--database=$DB_NAME")

sql() { "${MYSQL[@]}" -e "$1"; }

# --- hold the lock in one session for the whole run -------------------------
LOCK_NAME="backupd.migrate.$DB_NAME"
mkfifo "$TMP/lock.in" "$TMP/lock.out"
"${MYSQL[@]}" --unbuffered <"$TMP/lock.in" >"$TMP/lock.out" &
LOCK_PID=$!
exec 3>"$TMP/lock.in" 4<"$TMP/lock.out"
printf "SELECT GET_LOCK('%s', %s);\n" "$LOCK_NAME" "$LOCK_TIMEOUT" >&3
got=
if ! read -r -t $((LOCK_TIMEOUT + 10)) got <&4; then
	die "could not connect to the database or take the migration lock (see above)"
fi
[[ $got == 1 ]] || die "another migration holds lock '$LOCK_NAME' (waited ${LOCK_TIMEOUT}s)"

# --- schema_migrations (migration 001, created here) -------------------------
sql "CREATE TABLE IF NOT EXISTS schema_migrations (
  version INT NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  applied_at DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO schema_migrations (version, name, applied_at)
  VALUES (1, 'schema_migrations', UTC_TIMESTAMP(3));"

declare -A applied=()
while read -r v; do
	[[ -n $v ]] && applied[$v]=1
done < <(sql "SELECT version FROM schema_migrations ORDER BY version")

# --- collect and check the files ---------------------------------------------
shopt -s nullglob
files=("$SQL_DIR"/[0-9][0-9][0-9]_*.sql)
shopt -u nullglob
declare -A seen=()
for f in "${files[@]}"; do
	b=${f##*/}
	[[ $b =~ ^([0-9]{3})_([A-Za-z0-9_]+)\.sql$ ]] || die "bad migration file name: $b (want NNN_name.sql)"
	v=$((10#${BASH_REMATCH[1]}))
	[[ -z ${seen[$v]:-} ]] || die "two migrations with version $v: ${seen[$v]} and $b"
	seen[$v]=$b
done

count=0
for f in "${files[@]}"; do # the glob is sorted: NNN order
	b=${f##*/}
	[[ $b =~ ^([0-9]{3})_([A-Za-z0-9_]+)\.sql$ ]]
	v=$((10#${BASH_REMATCH[1]}))
	name=${BASH_REMATCH[2]}
	[[ -z ${applied[$v]:-} ]] || continue
	printf 'migrate: applying %s\n' "$b" >&2
	# One session: the file, then its record (mariadb stops at the first error).
	if ! { cat "$f"; printf "\nINSERT INTO schema_migrations (version, name, applied_at) VALUES (%d, '%s', UTC_TIMESTAMP(3));\n" "$v" "$name"; } |
		"${MYSQL[@]}"; then
		die "migration $b failed; nothing after it was applied"
	fi
	count=$((count + 1))
done

printf "SELECT RELEASE_LOCK('%s');\n" "$LOCK_NAME" >&3
exec 3>&- 4<&-
wait "$LOCK_PID" 2>/dev/null || true
LOCK_PID=
printf 'migrate: %d migration(s) applied, database %s is current\n' "$count" "$DB_NAME" >&2
