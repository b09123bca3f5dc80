#!/usr/bin/env bash
# Integration suite: a fresh stack of its own (BACKUPD_TEST_STACK_DIR, default
# var-test; BACKUPD_TEST_HTTP_PORT, default 18080), then pytest against it,
# then `down`. Extra arguments go to pytest (e.g. -x, -k expr, or test files).
# The tests read the environment plus `scripts/stack.sh env`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

stack_forget_env
stack_pick_dir "${BACKUPD_TEST_STACK_DIR:-var-test}" "${BACKUPD_TEST_STACK_DIR:-}" backupd-test
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

# Test peers (sshd, vsftpd, apache, azurite, s3rver, stubs) listen on
# 127.0.0.2 only. egress_allow only lifts deny entries: 127.0.0.2/32 is
# taken out of the denied loopback range, the rest of 127.0.0.0/8, ::1,
# 169.254.169.254 ... stay denied (the SSRF tests aim there), and public and
# private addresses stay allowed as in production. That nothing leaves the
# machine anyway is the tests' business: conftest's no_egress blackholes
# every non-local address they name (tests/integration/egress_guard.py).
export BACKUPD_TEST_PEER_HOST=127.0.0.2
export BACKUPD_EGRESS_ALLOW=127.0.0.2/32
# Short probe timeouts keep "accepts and never answers" cases quick.
export BACKUPD_PROBE_CONNECT_TIMEOUT=${BACKUPD_PROBE_CONNECT_TIMEOUT:-3}
export BACKUPD_PROBE_TIMEOUT=${BACKUPD_PROBE_TIMEOUT:-6}
# The concurrency tests fire up to 16 probes of one org at once against the
# shared stack (they test the database's locking, not admission): lift the
# per-org probe limit there. test_pm.py tests admission on pools of its own.
export BACKUPD_PROBE_SLOTS_PER_ORG=${BACKUPD_PROBE_SLOTS_PER_ORG:-16}

# A private CA and a server certificate for 127.0.0.2 / localhost, for the
# TLS peers (FTPS, HTTPS); the service trusts the CA through ca_file.
pki=$stack_dir/pki
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=backupd test CA" \
	-keyout "$pki/ca.key" -out "$pki/ca.pem" -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.2" \
	-keyout "$pki/server.key" -out "$pki/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.2,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$pki/server.ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
	-CAcreateserial -days 2 -extfile "$pki/server.ext" -out "$pki/server.pem" 2>/dev/null
export BACKUPD_TEST_PKI=$pki

# Stubs for what cannot be reached from here, on fixed ports of 127.0.0.2
# (server-wide URLs must be known before the stack starts): Google Cloud
# Storage's JSON API (tests/peers/gcs), and Google's and Microsoft's OAuth and
# Drive/Graph endpoints (tests/peers/oauth). The tests start the stubs.
export BACKUPD_GCS_API_URL=http://127.0.0.2:18999
stub=http://127.0.0.2:18998
export BACKUPD_GOOGLE_CLIENT_ID=backupd-test-google-client
export BACKUPD_GOOGLE_CLIENT_SECRET=backupd-test-google-secret
export BACKUPD_GOOGLE_AUTH_URL=$stub/google/o/oauth2/v2/auth
export BACKUPD_GOOGLE_TOKEN_URL=$stub/google/token
export BACKUPD_GOOGLE_API_URL=$stub/google
export BACKUPD_MICROSOFT_CLIENT_ID=backupd-test-microsoft-client
export BACKUPD_MICROSOFT_CLIENT_SECRET=backupd-test-microsoft-secret
export BACKUPD_MICROSOFT_LOGIN_URL=$stub/microsoft
export BACKUPD_MICROSOFT_GRAPH_URL=$stub/graph/v1.0
# Dropbox's OAuth endpoints and API v2 (tests/peers/dropbox): the
# authorize page (www.dropbox.com), the RPC host (api.dropboxapi.com, which
# also serves oauth2/token) and the content host (content.dropboxapi.com)
# are three prefixes of one stub on its own fixed port.
dbx=http://127.0.0.2:18997
export BACKUPD_DROPBOX_CLIENT_ID=backupd-test-dropbox-app
export BACKUPD_DROPBOX_CLIENT_SECRET=backupd-test-dropbox-secret
export BACKUPD_DROPBOX_AUTH_URL=$dbx/oauth2/authorize
export BACKUPD_DROPBOX_API_URL=$dbx/api
export BACKUPD_DROPBOX_CONTENT_URL=$dbx/content
export BACKUPD_CA_FILE=$pki/ca.pem

trap stack_cleanup EXIT
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
# A crash is a failure even when every test passed: a worker that died of a
# signal (outside the windows where a test kills workers on purpose) or any
# sanitizer report in the service's log fails the run. The stack stops
# first, so what the service reports while shutting down (LeakSanitizer at
# exit) is in the log too.
scripts/stack.sh down >/dev/null 2>&1 || true
crash_rc=0
/usr/bin/python3 tests/integration/crash_check.py "$stack_dir/log/backupd.log" || crash_rc=$?
if ((crash_rc != 0 && (rc == 0 || rc == 5))); then
	rc=1
fi
if ((rc == 5)); then
	echo "integration: no tests collected - that is a failure" >&2
elif ((rc != 0)) && [[ -s $stack_dir/log/backupd.log ]]; then
	printf '\n----- last lines of %s -----\n' "$stack_dir/log/backupd.log" >&2
	tail -n 40 "$stack_dir/log/backupd.log" >&2 || true
fi
exit "$rc"
