#!/usr/bin/env bash
# The Debian package end to end, as README "Deploy" describes it:
#   make deb; dpkg -i; the database and its two users (DDL for migrate, DML
#   for the service); backupctl migrate as the DDL user; the installed
#   backupd (default config path, run as user backupd) behind an nginx that
#   includes the installed snippets answers README's curl; a secret file
#   readable by others is refused; install over itself keeps the keyring and
#   the config; dpkg --purge leaves nothing behind.
# No systemd runs as PID 1 here: the units are checked with
# `systemd-analyze verify`, and backupd is started the way the unit does
# (ExecStartPre check-config, then backupd as user backupd).
#
#   tests/deploy/test_deb.sh   (root; BACKUPD_TEST_STACK_DIR, BACKUPD_TEST_HTTP_PORT)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export BACKUPD_STACK_DIR=${BACKUPD_TEST_STACK_DIR:-var-deb}
export BACKUPD_HTTP_PORT=${BACKUPD_TEST_HTTP_PORT:-18090}
D=$BACKUPD_STACK_DIR
[[ $D == /* ]] || D=$ROOT/$D
PORT=$BACKUPD_HTTP_PORT
BUILD=${BUILD:-build}
start=$SECONDS
pass=0
ok() { pass=$((pass + 1)); printf 'ok %d - %s\n' "$pass" "$*"; }
fail() { printf 'not ok - %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || fail "needs root (dpkg -i)"
if dpkg-query -W -f '${Status}' backupd 2>/dev/null | grep -q installed; then
	fail "a backupd package is installed already; not touching it"
fi
for f in /etc/backupd /run/backupd; do
	[[ ! -e $f ]] || fail "$f exists already; not touching it"
done

bd_pid= ngx_pid=
cleanup() {
	set +e
	[[ -n $bd_pid ]] && kill -TERM "$bd_pid" 2>/dev/null && sleep 0.5
	[[ -n $bd_pid ]] && kill -KILL -- "-$bd_pid" 2>/dev/null
	[[ -n $ngx_pid ]] && kill -QUIT "$ngx_pid" 2>/dev/null
	# The test's own files first (the package's purge leaves others'),
	# then the package.
	rm -f /etc/backupd/db_password /etc/backupd/jwt_key
	if dpkg-query -W backupd >/dev/null 2>&1; then
		dpkg --purge backupd >/dev/null 2>&1
	fi
	rmdir /etc/backupd 2>/dev/null
	rm -rf /run/backupd
	scripts/stack.sh down >/dev/null 2>&1
}
trap cleanup EXIT

# --- build ---------------------------------------------------------------
deb=$(make --no-print-directory BUILD="$BUILD" deb | tail -n 1)
[[ -f $deb ]] || fail "make deb built nothing"
ok "make deb: ${deb##*/}, lintian clean ($((SECONDS - start)) s)"

# --- install ---------------------------------------------------------------
dpkg -i "$deb" >/dev/null
getent passwd backupd >/dev/null || fail "no user backupd"
[[ $(stat -c '%a %U:%G' /etc/backupd) == "750 root:backupd" ]] || fail "/etc/backupd: $(stat -c '%a %U:%G' /etc/backupd)"
[[ $(stat -c '%a %U:%G' /etc/backupd/keyring) == "640 root:backupd" ]] || fail "keyring mode"
[[ $(stat -c '%a %U:%G' /etc/backupd/backupd.conf) == "640 root:backupd" ]] || fail "config mode"
dpkg-query -W -f '${Conffiles}' backupd | grep -q /etc/backupd/backupd.conf || fail "backupd.conf is not a conffile"
for f in /usr/sbin/backupd /usr/sbin/backupctl /usr/share/backupd/sql/002_backup_destinations.sql \
	/usr/share/backupd/nginx/backupd-location.conf /usr/share/backupd/examples/backupd.conf \
	/usr/share/man/man8/backupd.8.gz /usr/share/man/man8/backupctl.8.gz /usr/share/man/man5/backupd.conf.5.gz \
	/lib/systemd/system/backupd.service /lib/systemd/system/backupd.socket \
	/lib/systemd/system/backupd-healthcheck.timer /usr/share/bash-completion/completions/backupctl; do
	[[ -e $f ]] || fail "$f not installed"
done
# Enabled the Debian way (deb-systemd-helper's symlinks).
[[ -L /etc/systemd/system/sockets.target.wants/backupd.socket ]] || fail "backupd.socket not enabled"
[[ -L /etc/systemd/system/timers.target.wants/backupd-healthcheck.timer ]] || fail "timer not enabled"
/usr/sbin/backupd --version | grep -qx "backupd $(cat VERSION)" || fail "backupd --version"
scripts/verify-units.sh /lib/systemd/system /lib/systemd/system/backupd.service \
	/lib/systemd/system/backupd.socket /lib/systemd/system/backupd-healthcheck.service \
	/lib/systemd/system/backupd-healthcheck.timer >/dev/null || fail "installed units do not verify"
ok "dpkg -i: user, /etc/backupd 0750, keyring 0640 root:backupd, conffile, units enabled and verified"

# --- the database and its two users (README "Deploy" 2) ---------------------
scripts/stack.sh db-start >/dev/null 2>&1
sock=$D/run/mysqld.sock
me=$(id -un)
sql() { mariadb --no-defaults --socket="$sock" --user="$me" --batch --skip-column-names "$@"; }
migrate_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
service_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
sql <<SQL
DROP DATABASE IF EXISTS backupd_pkg;
CREATE DATABASE backupd_pkg CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE OR REPLACE USER 'backupd_migrate'@'localhost' IDENTIFIED BY '$migrate_pw';
GRANT ALL PRIVILEGES ON backupd_pkg.* TO 'backupd_migrate'@'localhost';
CREATE OR REPLACE USER 'backupd'@'localhost' IDENTIFIED BY '$service_pw';
GRANT SELECT, INSERT, UPDATE, DELETE ON backupd_pkg.* TO 'backupd'@'localhost';
SQL

# The config: secrets in files of their own, 0640 root:backupd.
install -m 0640 -g backupd /dev/null /etc/backupd/db_password
printf '%s\n' "$service_pw" >/etc/backupd/db_password
install -m 0640 -g backupd /dev/null /etc/backupd/jwt_key
head -c 32 /dev/urandom | base64 >/etc/backupd/jwt_key
cat >>/etc/backupd/backupd.conf <<EOF2

# added by tests/deploy/test_deb.sh
db_socket = $sock
db_user = backupd
db_password_file = /etc/backupd/db_password
db_name = backupd_pkg
jwt_key_file = /etc/backupd/jwt_key
EOF2
printf '%s\n' "$migrate_pw" >"$D/migrate_pw"
chmod 600 "$D/migrate_pw"
BACKUPD_DB_USER=backupd_migrate BACKUPD_DB_PASSWORD_FILE=$D/migrate_pw \
	backupctl migrate /usr/share/backupd/sql 2>/dev/null || fail "migrate as the DDL user"
backupctl migrate --status >/dev/null || fail "migrate --status: pending"
# The service user cannot change the schema.
if mariadb --no-defaults --socket="$sock" --user=backupd --password="$service_pw" \
	-e "CREATE TABLE backupd_pkg.t_ddl (a INT)" >/dev/null 2>&1; then
	fail "the service user may run DDL"
fi
ok "database, DDL and DML users, migrations applied by the DDL user"

# --- the service (as the unit starts it) -------------------------------------
runas() { setpriv --reuid=backupd --regid=backupd --init-groups --inh-caps=-all "$@"; }
runas backupctl check-config >/dev/null || fail "check-config as backupd"
# A keyring readable by others: check-config says 4, backupd refuses.
chmod 0644 /etc/backupd/keyring
rc=0; backupctl check-config >/dev/null 2>"$D/cc.err" || rc=$?
[[ $rc == 4 ]] || fail "check-config with a world-readable keyring: exit $rc"
grep -q "/etc/backupd/keyring" "$D/cc.err" || fail "check-config does not name the keyring"
rc=0; timeout 5 /usr/sbin/backupd >/dev/null 2>"$D/bd.err" || rc=$?
[[ $rc == 1 ]] && grep -q "keyring" "$D/bd.err" || fail "backupd started with a world-readable keyring (rc $rc)"
chmod 0640 /etc/backupd/keyring
ok "a secret readable by others: check-config exits 4, backupd refuses to start"

cat >"$D/activate.py" <<'PY'
import grp, os, pwd, socket
p = "/run/backupd/backupd.sock"
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(p)
os.chown(p, pwd.getpwnam("backupd").pw_uid, grp.getgrnam("www-data").gr_gid)
os.chmod(p, 0o660)
s.listen(128)
os.dup2(s.fileno(), 3)
os.execvp("setpriv", ["setpriv", "--reuid=backupd", "--regid=backupd",
    "--init-groups", "--inh-caps=-all", "/bin/sh", "-c",
    "export LISTEN_PID=$$ LISTEN_FDS=1; exec /usr/sbin/backupd"])
PY
# As backupd.socket + backupd.service do it: the socket belongs to
# backupd:www-data, mode 0660, and is passed to the pool (LISTEN_FDS).
start_service() {
	install -d -m 0755 -o backupd -g backupd /run/backupd
	rm -f /run/backupd/backupd.sock
	setsid /usr/bin/python3 "$D/activate.py" </dev/null >>"$D/log/pkg-backupd.log" 2>&1 &
	bd_pid=$!
}
mkdir -p "$D/log" "$D/pkg-nginx"
start_service
# nginx with the installed snippets (README "Deploy" 5), workers as www-data.
cp /etc/nginx/fastcgi_params "$D/pkg-nginx/fastcgi_params"
cat >"$D/pkg-nginx/nginx.conf" <<EOF2
user www-data;
worker_processes 1;
pid $D/pkg-nginx/nginx.pid;
error_log $D/log/pkg-nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $D/pkg-nginx/body;
    fastcgi_temp_path $D/pkg-nginx/fastcgi;
    include /usr/share/backupd/nginx/backupd-upstream.conf;
    server {
        listen 127.0.0.1:$PORT;
        include /usr/share/backupd/nginx/backupd-location.conf;
    }
}
EOF2
nginx -p "$D/pkg-nginx/" -c "$D/pkg-nginx/nginx.conf" -e "$D/log/pkg-nginx-error.log"
for _ in $(seq 50); do [[ -s $D/pkg-nginx/nginx.pid ]] && break; sleep 0.1; done
ngx_pid=$(cat "$D/pkg-nginx/nginx.pid")

BACKUPD_URL=http://127.0.0.1:$PORT
readme_curl() {
	# README "Quick start": list an organization's destinations.
	TOKEN=$(backupctl token --org acme)
	curl -s -o "$D/answer" -w '%{http_code}' "$BACKUPD_URL/backup-destinations" \
		-H "Authorization: Bearer $TOKEN"
}
code=
for _ in $(seq 100); do
	code=$(readme_curl) || true
	[[ $code == 200 ]] && break
	sleep 0.1
done
[[ $code == 200 ]] || { tail "$D/log/pkg-backupd.log" "$D/log/pkg-nginx-error.log" >&2; fail "README curl answered $code"; }
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d == [] or d.get("items") == [], d' "$D/answer" ||
	fail "README curl: not an empty list: $(cat "$D/answer")"
[[ $(stat -c '%U' /proc/"$bd_pid") == backupd ]] || fail "backupd does not run as backupd"
[[ $(pgrep -c -P "$bd_pid") == 4 ]] || fail "the pool on the activated socket has $(pgrep -c -P "$bd_pid") workers, not 4"
ok "installed backupd (default config, user backupd, socket passed as backupd.socket does, 4 workers) behind nginx (www-data) with the installed snippets answers README's curl"

# --- upgrade: install over itself ----------------------------------------------
sum_before=$(sha256sum /etc/backupd/keyring /etc/backupd/backupd.conf)
kill -QUIT "$bd_pid"; wait "$bd_pid" 2>/dev/null || true; bd_pid=
dpkg -i --force-confold "$deb" >/dev/null
[[ $(sha256sum /etc/backupd/keyring /etc/backupd/backupd.conf) == "$sum_before" ]] || fail "reinstall changed the keyring or the config"
start_service
code=
for _ in $(seq 100); do
	code=$(readme_curl) || true
	[[ $code == 200 ]] && break
	sleep 0.1
done
[[ $code == 200 ]] || fail "after the reinstall: $code"
ok "install over itself keeps the keyring and the config; the service answers again"

# --- purge ---------------------------------------------------------------------
kill -QUIT "$bd_pid"; wait "$bd_pid" 2>/dev/null || true; bd_pid=
kill -QUIT "$ngx_pid"; ngx_pid=
rm -rf /run/backupd
rm -f /etc/backupd/db_password /etc/backupd/jwt_key
dpkg --purge backupd >/dev/null
for f in /etc/backupd /usr/sbin/backupd /usr/sbin/backupctl /usr/share/backupd \
	/lib/systemd/system/backupd.service /etc/systemd/system/sockets.target.wants/backupd.socket \
	/etc/systemd/system/multi-user.target.wants/backupd.service \
	/etc/systemd/system/timers.target.wants/backupd-healthcheck.timer; do
	[[ ! -e $f && ! -L $f ]] || fail "$f left after purge"
done
! getent passwd backupd >/dev/null || fail "user backupd left after purge"
! getent group backupd >/dev/null || fail "group backupd left after purge"
sql -e "DROP DATABASE backupd_pkg; DROP USER 'backupd_migrate'@'localhost'; DROP USER 'backupd'@'localhost';"
ok "dpkg --purge leaves no file, unit link, user or group behind"
echo "test_deb: $pass passed in $((SECONDS - start)) s"
