#!/bin/bash
# tools/run.sh - `make run`: the two clients of the library, one after the other.
#
#   tools/run.sh BUILD_DIR [gpcvm arguments...]
#
# Part 1: the reference VMM, BUILD_DIR/tools/gpcvm/gpcvm with the given
#         arguments (the Makefile's RUN_ARGS, --duration 10), its report.
# Part 2: gpc-vhost-blk (libgpc-vhost) serving a Debian Linux guest under
#         QEMU/TCG through pc-dimm hot-plug cycles: tests/qemu/hotplug.py,
#         the scenario `ctest -R qemu_hotplug_gpc` runs, with --check-stale
#         (removed guest memory kept PROT_NONE, a late access counted), and
#         its report (requests, hot-plug cycles, stale accesses, data check).
#         The guest kernel is Debian's, fetched once by apt-get download into
#         the build's kernel cache (GPC_QEMU_CACHE_DIR, BUILD_DIR/qemu-guest).
#         If a piece cannot be had (QEMU, busybox-static, the kernel with no
#         network, gpc-vhost-blk without liburing) part 2 says exactly why
#         and is skipped; part 1 still counts.
#
# Then a two-line summary. Exit status: 0 if every part that ran passed,
# 1 otherwise (a skipped part 2 does not fail the run).
#
# Environment:
#   RUN_QEMU=0        skip part 2
#   RUN_QEMU_CYCLES   hot-plug cycles of part 2 (default 5, as ctest's
#                     qemu_hotplug_gpc; the run takes ~15 s on TCG, the
#                     boot most of it, plus the first kernel download)

set -u

if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [gpcvm arguments...]" >&2
	exit 2
fi
build=$1
shift
src=$(cd "$(dirname "$0")/.." && pwd)
cycles=${RUN_QEMU_CYCLES:-5}
case "$cycles" in
'' | *[!0-9]* | 0)
	echo "$0: RUN_QEMU_CYCLES must be a positive number, not '$cycles'" >&2
	exit 2
	;;
esac
logs="$build/run"
mkdir -p "$logs"

# ---- part 1: gpcvm ----------------------------------------------------------

echo "=== part 1: gpcvm, the reference VMM ($build/tools/gpcvm/gpcvm $*) ==="
# gpcvm bounds itself (--duration); the outer bound only catches a hang.
timeout --kill-after=10 600 "$build/tools/gpcvm/gpcvm" "$@" 2>&1 |
	tee "$logs/gpcvm.log"
rc1=${PIPESTATUS[0]}
# Its exit status is the verdict, as before; the summary quotes its report.
rep() { sed -n "s/^  $1  *//p" "$logs/gpcvm.log" | head -n 1; }
backend=$(rep backend)
delivered=$(rep delivered | cut -d' ' -f1)
violations=$(rep violations | cut -d' ' -f1)
if [ "$rc1" -eq 0 ]; then
	sum1="gpcvm: PASS"
else
	sum1="gpcvm: FAIL (exit status $rc1)"
fi
[ -n "$backend" ] && sum1="$sum1, backend $backend"
[ -n "$delivered" ] && sum1="$sum1, $delivered events delivered"
[ -n "$violations" ] && sum1="$sum1, $violations violations"

# ---- part 2: gpc-vhost-blk under QEMU ---------------------------------------

echo
echo "=== part 2: gpc-vhost-blk under QEMU, a Linux guest through pc-dimm hot-plug ==="
blk="$build/tools/vhost-blk/gpc-vhost-blk"
guest="$build/tests/qemu/gpc-guest-blkio"
# The kernel cache the QEMU tests of this build use (a configure option).
cache=$(sed -n 's/^GPC_QEMU_CACHE_DIR:[A-Z]*=//p' "$build/CMakeCache.txt" \
	2>/dev/null)
cache=${cache:-$build/qemu-guest}
why=""
if [ "${RUN_QEMU:-1}" = 0 ]; then
	why="RUN_QEMU=0"
elif ! command -v python3 >/dev/null; then
	why="python3 not found (Debian package python3; tools/deps.sh installs it)"
elif [ ! -x "$blk" ]; then
	why="$blk not built (it needs liburing-dev; tools/deps.sh installs it)"
elif [ ! -x "$guest" ]; then
	why="$guest not built (the tests/qemu part of the build, GPC_BUILD_TESTS)"
fi

rc2=0
if [ -n "$why" ]; then
	echo "skipped: $why"
	sum2="vhost-blk under QEMU: SKIPPED ($why)"
else
	# -B: no __pycache__ written into the source tree. hotplug.py bounds the
	# guest (--timeout 200 s) and the kernel download (180 s); this outer
	# bound covers both and the boot.
	timeout --kill-after=10 480 python3 -B "$src/tests/qemu/hotplug.py" \
		--name run_hotplug_gpc \
		--backend "$blk --socket {socket} --file {file} --queues {queues} --check-stale" \
		--work "$build/run/qemu_hotplug" --cache "$cache" \
		--guest-bin "$guest" --cycles "$cycles" 2>&1 |
		tee "$logs/vhost-blk.log"
	rc2=${PIPESTATUS[0]}
	line=$(grep -E '^run_hotplug_gpc: PASS ' "$logs/vhost-blk.log" | tail -n 1)
	field() { echo "$line" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
	if [ "$rc2" -eq 0 ] && [ -n "$line" ]; then
		sum2="vhost-blk under QEMU: PASS, $(field backend_requests) requests ($(field hp_reqs) in hot-plugged DIMMs), $(field cycles) hot-plug cycles, $(field stale_accesses) stale accesses, $(field mismatches) data mismatches"
	elif [ "$rc2" -eq 77 ]; then
		reason=$(sed -n 's/^SKIP: //p' "$logs/vhost-blk.log" | tail -n 1)
		sum2="vhost-blk under QEMU: SKIPPED (${reason:-exit status 77})"
		rc2=0
	elif [ "$rc2" -eq 124 ] || [ "$rc2" -eq 137 ]; then
		sum2="vhost-blk under QEMU: FAIL (no result in 480 s, stopped)"
	else
		reason=$(sed -n 's/^FAIL: //p' "$logs/vhost-blk.log" | tail -n 1 |
			cut -c1-300)
		sum2="vhost-blk under QEMU: FAIL (${reason:-exit status $rc2})"
		[ "$rc2" -eq 0 ] && rc2=1
	fi
fi

echo
echo "=== summary (logs in $logs/) ==="
echo "$sum1"
echo "$sum2"
[ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ]
