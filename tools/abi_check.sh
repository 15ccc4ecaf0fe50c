#!/bin/sh
# tools/abi_check.sh - is the built libgpc.so ABI compatible with release 0.1?
#
#   tools/abi_check.sh LIB BASELINE SUPPRESSIONS HEADERS_DIR OUT_ABI
#
# Writes LIB's ABI (abidw, public types only: those defined in HEADERS_DIR)
# to OUT_ABI and compares it with BASELINE (abi/libgpc-0.1.abi) by abidiff
# with SUPPRESSIONS (abi/libgpc.suppr). Added functions and variables are
# fine (a new version node); every other difference of the exported
# interface fails: a removed symbol (abidiff's bit 8, ABI_INCOMPATIBLE_CHANGE)
# and a changed one (bit 4, ABI_CHANGE: a function's signature, the layout of
# a structure a LIBGPC_0.1 function takes or returns). docs/abi.md says why.
# Exit 77 (skipped) without abidw/abidiff (Debian: abigail-tools, which
# tools/deps.sh installs) or when LIB has no DWARF (a build without -g).
set -u

if [ $# -ne 5 ]; then
	echo "usage: $0 LIB BASELINE SUPPRESSIONS HEADERS_DIR OUT_ABI" >&2
	exit 2
fi
lib=$1 base=$2 suppr=$3 hdrs=$4 out=$5

for tool in abidw abidiff; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "abi_check: SKIPPED: $tool not found (Debian: apt-get install abigail-tools, or run tools/deps.sh as root)"
		exit 77
	fi
done
if ! readelf -S "$lib" 2>/dev/null | grep -q '\.debug_info'; then
	echo "abi_check: SKIPPED: $lib has no debug info (build with -g, e.g. RelWithDebInfo)"
	exit 77
fi

# The same options as the baseline (abi/README.md): only the types of the
# public headers, no absolute paths.
if ! abidw --headers-dir "$hdrs" --drop-private-types --drop-undefined-syms \
	--no-corpus-path --short-locs --no-comp-dir-path --out-file "$out" \
	"$lib"; then
	echo "abi_check: FAILED: abidw could not read $lib"
	exit 1
fi

abidiff --no-added-syms --suppressions "$suppr" "$base" "$out"
rc=$?
if [ "$rc" -eq 0 ]; then
	echo "abi_check: $lib is ABI compatible with $base (additions not shown)"
	exit 0
fi
# abidiff's exit status is a bit set: 1 error, 2 usage error, 4 ABI change,
# 8 incompatible ABI change.
if [ $((rc & 3)) -ne 0 ]; then
	echo "abi_check: FAILED: abidiff could not compare (exit $rc)"
	exit 1
fi
[ $((rc & 8)) -ne 0 ] &&
	echo "abi_check: FAILED: a symbol of $base was removed (abidiff exit $rc)"
[ $((rc & 4)) -ne 0 ] &&
	echo "abi_check: FAILED: an existing function, variable or structure changed (abidiff exit $rc); see docs/abi.md"
exit 1
