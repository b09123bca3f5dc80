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
