#!/usr/bin/env bash
# Install every Debian package backupd needs (build, tests, local stack).
# Quick and quiet when everything is there: dpkg-query first, apt-get only
# for what is missing. To add a dependency, add a line to PACKAGES; a line
# "a|b" is satisfied by either package (the first is installed if neither is).
set -euo pipefail

PACKAGES=(
	# build
	build-essential
	pkg-config
	libfcgi-dev
	libjson-c-dev
	libjwt-dev
	libsodium-dev
	libmariadb-dev
	libcurl4-openssl-dev
	# observed.tls reads the TLS version from curl's OpenSSL handle
	libssl-dev
	libcmocka-dev
	# local stack
	mariadb-server
	mariadb-client
	"nginx-light|nginx-core|nginx-full|nginx-extras"
	curl
	openssl
	ca-certificates
	# tests and bench (clang's sanitizer and libFuzzer runtimes are only a
	# Recommends of clang, which --no-install-recommends leaves out)
	clang
	libclang-rt-dev
	wrk
	python3-pytest
	python3-requests
	python3-jwt
	python3-cryptography
	libfcgi-bin
	procps
	iproute2
	# test peers (real servers the probes are proven against)
	openssh-server
	vsftpd
	apache2
	python3-botocore
	python3-prometheus-client
	nodejs
	samba
	smbclient
	libsmbclient-dev
	# Galera cluster tests (galera-4 comes with mariadb-server; SST by rsync)
	galera-4
	rsync
	# packaging, systemd units and shared-hosting recipes
	debhelper
	lintian
	fakeroot
	dpkg-dev
	systemd
	libsystemd-dev
	libapache2-mod-fcgid
	fcgiwrap
)

# One dpkg-query for every name (unknown names just print nothing).
all=()
for entry in "${PACKAGES[@]}"; do
	IFS='|' read -r -a alts <<<"$entry"
	all+=("${alts[@]}")
done
declare -A have=()
while read -r pkg status; do
	[[ $status == installed ]] && have[${pkg%%:*}]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${all[@]}" 2>/dev/null || true)

missing=()
for entry in "${PACKAGES[@]}"; do
	IFS='|' read -r -a alts <<<"$entry"
	ok=0
	for p in "${alts[@]}"; do
		if [[ -n ${have[$p]:-} ]]; then ok=1; break; fi
	done
	((ok)) || missing+=("${alts[0]}")
done

# Debian's nodejs comes without npm (a separate package); NodeSource's
# nodejs bundles npm and conflicts with Debian's npm package.
if ! command -v npm >/dev/null 2>&1 && [[ -z ${have[npm]:-} ]]; then
	missing+=(npm)
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# npm packages of the test peers (tests/peers/package-lock.json), installed
# once and again whenever the lock file changes.
npm_peers() {
	local dir=$ROOT/tests/peers stamp=$ROOT/tests/peers/node_modules/.backupd-lock
	[[ -f $dir/package-lock.json ]] || return 0
	if [[ -f $stamp ]] && cmp -s "$stamp" "$dir/package-lock.json"; then
		return 0
	fi
	printf 'setup: installing the test peers (npm ci in tests/peers)\n' >&2
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
	cp "$dir/package-lock.json" "$stamp"
}

if ((${#missing[@]} == 0)); then
	npm_peers
	exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) != 0 ]]; then
	printf 'setup: missing packages: %s\n' "${missing[*]}" >&2
	printf 'setup: as root, run:\n  apt-get update && DEBIAN_FRONTEND=noninteractive %s\n' "$cmd" >&2
	exit 1
fi

printf 'setup: installing %s\n' "${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
npm_peers
