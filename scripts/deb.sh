#!/usr/bin/env bash
# scripts/deb.sh OUTDIR: build the Debian package from a copy of this tree
# (tracked files and new ones not ignored), so nothing is written outside
# OUTDIR; then run lintian on it. Prints the .deb's path last.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$1
[[ $out == /* ]] || out=$ROOT/$out
version=$(cat "$ROOT/VERSION")
src=$out/src/backupd-$version
rm -rf "$out/src"
mkdir -p "$src"
(cd "$ROOT" && git ls-files -co --exclude-standard -z |
	grep -zv -e '^tests/' -e '^\.ci/' | xargs -0 tar -c --no-recursion) | tar -x -C "$src"
grep -q "^backupd ($version)" "$src/debian/changelog" ||
	{ echo "deb: debian/changelog's top entry is not VERSION $version" >&2; exit 1; }
(cd "$src" && dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1) ||
	{ tail -n 40 "$out/build.log" >&2; echo "deb: build failed (see $out/build.log)" >&2; exit 1; }
deb=$(ls "$out"/src/backupd_"$version"_*.deb)
mv -f "$out"/src/backupd_"$version"_* "$out"/src/backupd-dbgsym_"$version"_* "$out"/ 2>/dev/null || true
deb=$out/${deb##*/}
if command -v lintian >/dev/null; then
	lintian --fail-on error,warning "$deb" >&2 ||
		{ echo "deb: lintian complains (above)" >&2; exit 1; }
fi
rm -rf "$out/src"
echo "$deb"
