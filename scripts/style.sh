#!/usr/bin/env bash
# Reject unsafe C calls (see .dev/HELPERS.md / STYLE.md): sprintf, vsprintf,
# strcpy, strcat, atoi, strtok, gets. snprintf, vsnprintf, strtok_r, fgets
# and names that merely contain one of these words are fine (word boundary).
# Lists every offence as file:line: text and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BANNED='sprintf|vsprintf|strcpy|strcat|atoi|strtok|gets'
shopt -s nullglob
files=(cgi/*.c cgi/*.h lib/*.c lib/*.h lib/probe/*.c lib/probe/*.h tests/unit/*.c tests/unit/*.h tests/unit/probe/*.c)
shopt -u nullglob
((${#files[@]})) || exit 0

# (^|non-identifier char) NAME optional-space '('
if hits=$(grep -nHE "(^|[^A-Za-z0-9_])($BANNED)[[:space:]]*\(" "${files[@]}"); then
	printf '%s\n' "$hits" >&2
	printf 'style: banned call(s) above: use snprintf, memcpy with lengths, strtol, strtok_r, fgets\n' >&2
	exit 1
fi

# nginx's body limit must be the service's: a larger one lets bodies through
# that backupd answers 413 itself, a smaller one refuses valid requests. The
# snippet's client_max_body_size equals max_body's default in lib/bd_limits.h
# as does scripts/stack.sh's default (it rewrites the number when
# BACKUPD_MAX_BODY is set).
lim=$(sed -nE 's/^#define LIM_MAX_BODY_DEFAULT ([0-9]+)L?$/\1/p' lib/bd_limits.h)
ngx=$(sed -nE 's/^[[:space:]]*client_max_body_size ([0-9]+);.*/\1/p' nginx/backupd-location.conf)
stk=$(sed -nE 's/.*BACKUPD_MAX_BODY:-([0-9]+)\}.*/\1/p' scripts/stack.sh)
if [[ -z $lim || $lim != "$ngx" || $lim != "$stk" ]]; then
	printf 'style: client_max_body_size in nginx/backupd-location.conf (%s) and the default in scripts/stack.sh (%s) must equal LIM_MAX_BODY_DEFAULT in lib/bd_limits.h (%s)\n' \
		"${ngx:-none}" "${stk:-none}" "${lim:-none}" >&2
	exit 1
fi

# No include cycle in lib/ and cgi/, no function over 120 lines (issue 7).
scripts/include-graph.sh
