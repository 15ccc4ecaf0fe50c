#!/bin/bash
# models/run_srcu_trysync.sh - model-check the non-blocking grace-period
# attempt (models/srcu_trysync.pml, gpc_srcu_try_synchronize) with Spin:
# with 1 and 2 readers whose slot stores sit in store buffers, the base
# model is safe (nothing freed while a reader uses it) and says yes whenever
# no reader is inside; M_NO_MEMBARRIER (the scan without the barrier) must
# fail safety on its own and the quiet-success property.
#
# Exit status: 0 if so, 1 otherwise, 77 (ctest SKIP_RETURN_CODE) if spin or
# a C compiler is missing. Prints one line per run.

set -u
here=$(cd "$(dirname "$0")" && pwd)
SPIN=${SPIN:-spin}
CC=${CC:-cc}

if ! command -v "$SPIN" >/dev/null 2>&1; then
	echo "run_srcu_trysync.sh: SKIP: '$SPIN' not found (Debian package 'spin')" >&2
	exit 77
fi
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "run_srcu_trysync.sh: SKIP: no C compiler ('$CC')" >&2
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpc-trysync-model.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
cp "$here/srcu_trysync.pml" "$tmp/" || exit 1
cd "$tmp" || exit 1

# check DEFINES...: sets $states and $why; 0 if no error, 1 if one, 2 if
# the tools failed
check()
{
	local out
	"$SPIN" -a "$@" srcu_trysync.pml >spin.log 2>&1 || { cat spin.log; return 2; }
	"$CC" -O2 -w -DSAFETY -o pan pan.c >cc.log 2>&1 || { cat cc.log; return 2; }
	out=$(./pan -m1000000 2>&1)
	states=$(echo "$out" | awk '/states, stored/ { print $1; exit }')
	echo "$out" | grep -q "errors: 0" && return 0
	why=$(echo "$out" | grep -m1 -E "assertion violated|invalid end state" |
		sed 's/^pan:1: //')
	return 1
}

fail=0
for n in 1 2; do
	if check -DNR=$n; then
		echo "model   NR=$n holds ($states states)"
	else
		echo "model   NR=$n FAILS: $why"
		fail=1
	fi
done
# mutant WHAT DEFINES...: the mutant must fail the property WHAT
mutant()
{
	local what=$1
	shift
	if check -DM_NO_MEMBARRIER "$@"; then
		echo "mutant  M_NO_MEMBARRIER ($what) SURVIVES ($states states)"
		fail=1
	else
		echo "mutant  M_NO_MEMBARRIER fails $what as it must: $why"
	fi
}
mutant safety -DSAFETY_ONLY
mutant quiet-success
[ $fail = 0 ] && echo "srcu_trysync: base holds, every mutant fails" ||
	echo "srcu_trysync: FAILED"
exit $fail
