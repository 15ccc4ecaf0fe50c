#!/bin/sh
# tools/abi_baseline.sh - write the ABI baseline the abi_check test compares
# against: the library as built from COMMIT (default 3fedb6c, the last commit
# of release 0.1's interface), in a temporary worktree.
#
#   tools/abi_baseline.sh [COMMIT [OUT]]     (OUT: abi/libgpc-0.1.abi)
#
# Builds only the shared library, RelWithDebInfo (-O2 -g) with gcc, then
# abidw with the options tools/abi_check.sh uses. Needs abigail-tools.
# See abi/README.md and docs/abi.md.
set -eu

cd "$(dirname "$0")/.."
commit=${1:-3fedb6c}
out=${2:-abi/libgpc-0.1.abi}
tmp=$(mktemp -d /tmp/gpc-abi-base.XXXXXX)
trap 'git worktree remove --force "$tmp/src" >/dev/null 2>&1; rm -rf "$tmp"' EXIT

git worktree add --detach "$tmp/src" "$commit"
cmake -S "$tmp/src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_COMPILER=gcc -DGPC_BUILD_EXAMPLES=OFF
cmake --build "$tmp/build" -j2 --target gpc
abidw --headers-dir "$tmp/src/include/gpc" --drop-private-types \
	--drop-undefined-syms --no-corpus-path --short-locs --no-comp-dir-path \
	--out-file "$out" "$tmp/build/src/libgpc.so"
echo "abi_baseline: wrote $out from $commit"
