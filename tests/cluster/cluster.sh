#!/usr/bin/env bash
# tests/cluster: a 3-node MariaDB Galera cluster on loopback, the migrations
# through node 1, two backupd stacks (host A on nodes 1,2,3; host B on nodes
# 2,3,1) with one keyring and one JWT key, then pytest over both hosts.
#
#   tests/cluster/cluster.sh [pytest args]     (make test-cluster)
#
# Ports: BACKUPD_CLUSTER_PORT (default 18190) + 1..9: SQL 1-3, gcomm 4-6,
# HTTP A/B 7/8; IST and SST ports are at +20.. (see node_start). Everything
# lives under a private directory removed at the end (kept when
# BACKUPD_CLUSTER_KEEP=1); every process started here is stopped.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BASE=${BACKUPD_CLUSTER_PORT:-18190}
T=$(mktemp -d /tmp/bd-cluster.XXXXXX)
# The rsync state transfer runs as nobody: it must reach and write the
# datadirs (and their parents).
chmod 755 "$T"
mkdir -p "$T/nodes"
chmod 1777 "$T/nodes"
PROVIDER=/usr/lib/galera/libgalera_smm.so
GCOMM="gcomm://127.0.0.1:$((BASE + 4)),127.0.0.1:$((BASE + 5)),127.0.0.1:$((BASE + 6))"
DB_PW=clusterpw$RANDOM$RANDOM
ME=$(id -un)

say() { printf 'cluster: %s\n' "$*" >&2; }

node_dir() { printf '%s/nodes/n%s' "$T" "$1"; }
node_port() { echo $((BASE + $1)); }
node_sock() { printf '%s/n%s.sock' "$T/nodes" "$1"; }

node_start() { # node_start N [--wsrep-new-cluster]
	local n=$1 d p; d=$(node_dir "$n")
	shift
	p=$(cat "$T/node$n.pid" 2>/dev/null || true)
	if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
		echo "node $n already runs (pid $p)" >&2
		return 1
	fi
	mkdir -p "$d"
	# Only the bootstrap node is initialised; the others get their state
	# by SST, written by rsync running as nobody: test datadirs are open.
	if [[ ! -d $d/mysql && ${1:-} == --wsrep-new-cluster ]]; then
		mariadb-install-db --no-defaults "--user=$ME" "--datadir=$d" \
			--auth-root-authentication-method=socket --skip-test-db \
			--skip-name-resolve >"$T/install-$n.log" 2>&1
	fi
	chmod -R a+rwX "$d"
	# A joiner's datadir is written by rsync as nobody, which must be able
	# to set the modes of what is there already (a node that comes back).
	if [[ ${1:-} != --wsrep-new-cluster && $(id -u) == 0 ]]; then
		chown -R nobody: "$d"
	fi
	setsid mariadbd --no-defaults "--user=$ME" "--datadir=$d" \
		"--socket=$(node_sock "$n")" "--pid-file=$d/mysqld.pid" \
		--bind-address=127.0.0.1 "--port=$(node_port "$n")" \
		"--log-error=$T/node$n.log" --skip-name-resolve \
		--innodb-buffer-pool-size=32M --innodb-log-file-size=16M \
		--innodb-flush-log-at-trx-commit=2 --performance-schema=OFF \
		--default-time-zone=+00:00 --character-set-server=utf8mb4 \
		--collation-server=utf8mb4_unicode_ci --max-connections=200 \
		--binlog-format=ROW --default-storage-engine=InnoDB \
		--innodb-autoinc-lock-mode=2 \
		--wsrep-on=ON "--wsrep-provider=$PROVIDER" \
		"--wsrep-cluster-address=$GCOMM" --wsrep-cluster-name=bdtest \
		"--wsrep-node-name=n$n" "--wsrep-node-address=127.0.0.1:$((BASE + 3 + n))" \
		"--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:$((BASE + 3 + n));ist.recv_addr=127.0.0.1:$((BASE + 20 + n));evs.keepalive_period=PT0.3S;evs.inactive_check_period=PT0.3S;evs.suspect_timeout=PT1S;evs.inactive_timeout=PT2S;evs.install_timeout=PT2S" \
		"--wsrep-sst-receive-address=127.0.0.1:$((BASE + 30 + n))" \
		--wsrep-sst-method=rsync --wsrep-slave-threads=2 "$@" \
		</dev/null >>"$T/node$n.log" 2>&1 &
	echo "$!" >"$T/node$n.pid"
}

node_sql() { # node_sql N SQL
	mariadb --no-defaults "--socket=$(node_sock "$1")" "--user=$ME" --batch \
		--skip-column-names -e "$2"
}

node_wait_synced() {
	local n=$1 i st
	for ((i = 0; i < 600; i++)); do
		st=$(node_sql "$n" "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='WSREP_LOCAL_STATE'" 2>/dev/null || true)
		[[ $st == 4 ]] && return 0
		kill -0 "$(cat "$T/node$n.pid")" 2>/dev/null || { tail -30 "$T/node$n.log" >&2; return 1; }
		sleep 0.1
	done
	tail -30 "$T/node$n.log" >&2
	return 1
}

node_kill() { # SIGKILL: the node is lost, not shut down
	local p; p=$(cat "$T/node$1.pid" 2>/dev/null || true)
	[[ -n $p ]] && kill -KILL "$p" 2>/dev/null || true
	[[ -n $p ]] && while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
	rm -f "$(node_sock "$1")"
}

stack() { # stack A|B ARGS...
	local h=$1; shift
	BACKUPD_STACK_DIR=$T/stack$h BACKUPD_HTTP_PORT=$([[ $h == A ]] && echo $((BASE + 7)) || echo $((BASE + 8))) \
		"$ROOT/scripts/stack.sh" "$@"
}

cleanup() {
	local rc=$?
	set +e
	stack A down >/dev/null 2>&1
	stack B down >/dev/null 2>&1
	for n in 3 2 1; do
		p=$(cat "$T/node$n.pid" 2>/dev/null)
		[[ -n $p ]] && kill -TERM "$p" 2>/dev/null
	done
	for n in 3 2 1; do
		p=$(cat "$T/node$n.pid" 2>/dev/null)
		for ((i = 0; i < 300; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	if ((rc != 0)); then
		for f in "$T"/node*.log; do printf '\n--- %s\n' "$f" >&2; tail -15 "$f" >&2; done
	fi
	if [[ ${BACKUPD_CLUSTER_KEEP:-} == 1 ]]; then say "kept $T"; else rm -rf "$T"; fi
	exit "$rc"
}
trap cleanup EXIT

t0=$(date +%s)
say "bootstrapping node 1"
node_start 1 --wsrep-new-cluster
node_wait_synced 1
for n in 2 3; do
	say "joining node $n (rsync SST)"
	node_start "$n"
	node_wait_synced "$n"
done
say "cluster of $(node_sql 1 "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='WSREP_CLUSTER_SIZE'") nodes up in $(($(date +%s) - t0)) s"

node_sql 1 "CREATE DATABASE backupd CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
	CREATE USER 'backupd'@'127.0.0.1' IDENTIFIED BY '$DB_PW';
	GRANT ALL PRIVILEGES ON backupd.* TO 'backupd'@'127.0.0.1';"
export BACKUPD_DB_NAME=backupd BACKUPD_DB_USER=backupd BACKUPD_DB_PASSWORD=$DB_PW
say "migrations through node 1 (backupctl migrate: GET_LOCK and the lock row)"
BACKUPD_DB_HOSTS=127.0.0.1:$(node_port 1) "$ROOT/build/backupctl" migrate "$ROOT/sql" >/dev/null

# One keyring and one JWT key for both hosts (made once, copied: README).
mkdir -p "$T/keys"
(umask 077 && "$ROOT/build/backupctl" keygen --keyring "$T/keys/keyring" >/dev/null)
export BACKUPD_KEYRING_FILE=$T/keys/keyring
export BACKUPD_JWT_KEY=$(openssl rand -hex 32)
# Local destinations anywhere under the root (per-org directories are not
# what these tests are about).
export BACKUPD_STACK_EXTERNAL_DB=1 BACKUPD_LOCAL_ROOTS=$T/local-root BACKUPD_LOCAL_PER_ORG=off
mkdir -p "$T/local-root" && chmod 1777 "$T/local-root"
# Google's endpoints: the OAuth stub (tests/peers/oauth), started by the
# test on 127.0.0.2, the one address egress lets through. Both hosts answer
# one public callback URL (host A's), as behind one name in production.
stub=http://127.0.0.2:$((BASE + 9))
export BACKUPD_EGRESS_ALLOW=127.0.0.2/32 CLUSTER_STUB=$stub
# The races fire 8 PUTs of one org at once: they test the database's
# conflicts, not admission (test_pm.py does), so lift the per-org limit.
export BACKUPD_PROBE_SLOTS_PER_ORG=${BACKUPD_PROBE_SLOTS_PER_ORG:-16}
export BACKUPD_GOOGLE_CLIENT_ID=cluster-google-client
export BACKUPD_GOOGLE_CLIENT_SECRET=cluster-google-secret$RANDOM
export BACKUPD_GOOGLE_AUTH_URL=$stub/google/o/oauth2/v2/auth
export BACKUPD_GOOGLE_TOKEN_URL=$stub/google/token
export BACKUPD_GOOGLE_API_URL=$stub/google
export BACKUPD_SETTINGS_URL=http://127.0.0.1:$((BASE + 7))/settings
export BACKUPD_OAUTH_REDIRECT_URI=http://127.0.0.1:$((BASE + 7))/backup-destinations/oauth/callback
p1=$(node_port 1) p2=$(node_port 2) p3=$(node_port 3)
# db_host/db_port too: a backupd without db_hosts (BACKUPD_BIN_DIR pointing
# at an older build, for a baseline) then uses one node per host.
BACKUPD_DB_HOSTS="127.0.0.1:$p1,127.0.0.1:$p2,127.0.0.1:$p3" \
	BACKUPD_DB_HOST=127.0.0.1 BACKUPD_DB_PORT=$p1 stack A up
BACKUPD_DB_HOSTS="127.0.0.1:$p2,127.0.0.1:$p3,127.0.0.1:$p1" \
	BACKUPD_DB_HOST=127.0.0.1 BACKUPD_DB_PORT=$p2 stack B up

export CLUSTER_DIR=$T CLUSTER_BASE=$BASE CLUSTER_SCRIPT=$0 CLUSTER_DB_ADMIN=$ME
export CLUSTER_URL_A=http://127.0.0.1:$((BASE + 7)) CLUSTER_URL_B=http://127.0.0.1:$((BASE + 8))
export CLUSTER_NODE_SOCKS="$(node_sock 1),$(node_sock 2),$(node_sock 3)"
# The test kills and restarts nodes through these commands.
cat >"$T/node.sh" <<NODE
#!/usr/bin/env bash
# node.sh kill|start|wait N (written by tests/cluster/cluster.sh)
set -euo pipefail
source "$T/fns.sh"
case \$1 in
kill) node_kill "\$2" ;;
start) node_start "\$2" ;;
wait) node_wait_synced "\$2" ;;
esac
NODE
{
	declare -p T BASE PROVIDER GCOMM ME
	declare -f node_dir node_port node_sock node_start node_sql node_wait_synced node_kill
} >"$T/fns.sh"
chmod +x "$T/node.sh"
export CLUSTER_NODE_SH=$T/node.sh

cd "$ROOT"
rc=0
/usr/bin/python3 -m pytest -p no:cacheprovider -q tests/cluster "$@" || rc=$?
[[ -s $T/figures ]] && sed 's/^/cluster: measured: /' "$T/figures" >&2
say "total $(($(date +%s) - t0)) s"
exit "$rc"
