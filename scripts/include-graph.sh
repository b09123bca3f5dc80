#!/usr/bin/env bash
# Two rules of issue 7 on lib/ and cgi/ (run by `make style`):
#  1. the graph of `#include "..."` is free of cycles (a name resolves as the
#     compiler resolves it: the including file's folder first, then -Ilib);
#     an include that names no file of the tree fails too;
#  2. no function is over LIM lines (120) from its opening `{` to its `}` in
#     column 1 (the project's style puts both there, as the name's line).
# Lists every offence and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LIM=${FUNC_LINES_MAX:-120}
shopt -s nullglob
files=(lib/*.c lib/*.h lib/probe/*.c lib/probe/*.h cgi/*.c cgi/*.h)
shopt -u nullglob
((${#files[@]})) || exit 0
bad=0

# Edges "from to", one a line; an unresolved include is "from ?name".
edges=$(for f in "${files[@]}"; do
	dir=${f%/*}
	sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p' "$f" |
	while IFS= read -r inc; do
		if [[ -f $dir/$inc ]]; then
			printf '%s %s\n' "$f" "$dir/$inc"
		elif [[ -f lib/$inc ]]; then
			printf '%s %s\n' "$f" "lib/$inc"
		else
			printf '%s ?%s\n' "$f" "$inc"
		fi
	done
done)

if unres=$(grep -E ' \?' <<<"$edges"); then
	sed -E 's/ \?/: #include "/; s/$/" names no file of lib\/ or cgi\//' <<<"$unres" >&2
	bad=1
fi

# Depth-first search; a grey node met again closes a cycle (printed once
# per back edge, as the path around it).
if cycles=$(awk '
	$2 ~ /^\?/ { next }
	{ adj[$1] = adj[$1] " " $2; node[$1]; node[$2] }
	function visit(u,    n, i, vs, v, p, k) {
		color[u] = 1
		path[++depth] = u
		n = split(adj[u], vs, " ")
		for (i = 1; i <= n; i++) {
			v = vs[i]
			if (color[v] == 1) {
				p = v
				for (k = depth; k >= 1 && path[k] != v; k--)
					;
				for (k++; k <= depth; k++)
					p = p " -> " path[k]
				print "include cycle: " p " -> " v
				found = 1
			} else if (color[v] == 0) {
				visit(v)
			}
		}
		depth--
		color[u] = 2
	}
	END {
		for (u in node)
			if (color[u] == 0)
				visit(u)
		exit found
	}' <<<"$edges"); then
	:
else
	printf '%s\n' "$cycles" >&2
	bad=1
fi

# Functions over LIM lines (the same rule as the before-stop hook's list).
long=$(for f in "${files[@]}"; do
	[[ $f == *.c ]] || continue
	awk -v f="$f" -v lim="$LIM" '
		/^[a-z_][a-z0-9_]*\(/ { name = $1; sub(/\(.*/, "", name) }
		/^\{/ { s = NR }
		/^\}/ && s {
			if (NR - s > lim)
				printf "%s:%d: %s is %d lines (at most %d)\n", f, s, name, NR - s, lim
			s = 0
		}' "$f"
done)
if [[ -n $long ]]; then
	printf '%s\n' "$long" >&2
	bad=1
fi

if ((bad)); then
	printf 'include-graph: fix the offences above (no include cycle, no function over %d lines)\n' "$LIM" >&2
	exit 1
fi
