#!/bin/bash
# models/run_srcu_wake.sh - model-check the grace period's wait for
# readers and their wake-up (models/srcu_wake.pml) with Spin: with the
# reader's slot store in a store buffer, no wake-up is ever lost (no
# invalid end state: the futex has no timeout in the model), in the first
# phase's wait (membarrier up front) and the second's (LAZY: membarrier
# before the first sleep); every mutant must deadlock.
#
# Exit status: 0 if so, 1 otherwise, 77 (ctest SKIP_RETURN_CODE) if spin or
# a C compiler is missing. Prints one line per run.

set -u
here=$(cd "$(dirname "$0")" && pwd)
SPIN=${SPIN:-spin}
CC=${CC:-cc}

if ! command -v "$SPIN" >/dev/null 2>&1; then
	echo "run_srcu_wake.sh: SKIP: '$SPIN' not found (Debian package 'spin')" >&2
	exit 77
fi
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "run_srcu_wake.sh: SKIP: no C compiler ('$CC')" >&2
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpc-wake-model.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
cp "$here/srcu_wake.pml" "$tmp/" || exit 1
cd "$tmp" || exit 1

# check DEFINES...: sets $states and $why; 0 if no error, 1 if one, 2 if
# the tools failed
check()
{
	local out
	"$SPIN" -a "$@" srcu_wake.pml >spin.log 2>&1 || { cat spin.log; return 2; }
	"$CC" -O2 -w -o pan pan.c >cc.log 2>&1 || { cat cc.log; return 2; }
	out=$(./pan -m1000000 2>&1)
	states=$(echo "$out" | awk '/states, stored/ { print $1; exit }')
	echo "$out" | grep -q "errors: 0" && return 0
	why=$(echo "$out" | grep -m1 -E "assertion violated|invalid end state" |
		sed 's/^pan:1: //')
	return 1
}

fail=0
for v in "" LAZY; do
	if check ${v:+-D$v}; then
		echo "model   ${v:-first phase} holds ($states states)"
	else
		echo "model   ${v:-first phase} FAILS: $why"
		fail=1
	fi
done
for m in M_NO_WAKE M_NO_MEMBARRIER M_STORE_SLEEP M_WAKE_UNCHECKED \
	"LAZY M_LAZY_NO_RESCAN" "LAZY M_NO_WAKE"; do
	defs=
	for x in $m; do defs="$defs -D$x"; done
	if check $defs; then
		echo "mutant  $m SURVIVES ($states states)"
		fail=1
	else
		echo "mutant  $m fails as it must: $why"
	fi
done
[ $fail = 0 ] && echo "srcu_wake: base holds, every mutant fails" ||
	echo "srcu_wake: FAILED"
exit $fail
