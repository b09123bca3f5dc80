#!/usr/bin/env bash
# scripts/verify-units.sh DIR UNIT... : `systemd-analyze verify` on each unit
# (DIR first in the unit search path, so the units find each other). Fails
# on any message about our units: verify prints warnings but exits 0 for
# some of them. No systemd needs to run as PID 1 (none does on CI).
set -euo pipefail
dir=$1
shift
out=$(SYSTEMD_UNIT_PATH="$dir:" systemd-analyze verify --man=no "$@" 2>&1) || {
	printf '%s\n' "$out" >&2
	echo "verify-units: systemd-analyze verify failed" >&2
	exit 1
}
# Messages about other units (the distribution's) are not ours to fix.
ours=$(printf '%s\n' "$out" | grep -E 'backupd' || true)
if [[ -n $ours ]]; then
	printf '%s\n' "$ours" >&2
	echo "verify-units: warnings about the units" >&2
	exit 1
fi
echo "verify-units: $# units verified"
