#!/bin/bash
# models/run_inval_pending.sh - model-check the pending mark of a retried
# non-blocking invalidation (models/inval_pending.pml) with Spin: with 2 and
# 3 refreshing writers the base model is safe (no writer uses an old page
# when the invalidation succeeds) and live (under weak fairness the retried
# invalidation eventually succeeds); M_NO_PENDING (the old -EAGAIN, which
# dropped the registration) must fail liveness, M_NO_GRACE safety.
#
# Exit status: 0 if so, 1 otherwise, 77 (ctest SKIP_RETURN_CODE) if spin or
# a C compiler is missing. Prints one line per run.

set -u
here=$(cd "$(dirname "$0")" && pwd)
SPIN=${SPIN:-spin}
CC=${CC:-cc}

if ! command -v "$SPIN" >/dev/null 2>&1; then
	echo "run_inval_pending.sh: SKIP: '$SPIN' not found (Debian package 'spin')" >&2
	exit 77
fi
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "run_inval_pending.sh: SKIP: no C compiler ('$CC')" >&2
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpc-pending-model.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
cp "$here/inval_pending.pml" "$tmp/" || exit 1
cd "$tmp" || exit 1

# check safety|liveness DEFINES...: sets $states and $why; 0 if no error
check()
{
	local kind=$1 out
	shift
	"$SPIN" -a "$@" inval_pending.pml >spin.log 2>&1 || { cat spin.log; return 2; }
	if [ "$kind" = safety ]; then
		"$CC" -O2 -w -DSAFETY -DNOCLAIM -o pan pan.c >cc.log 2>&1 || { cat cc.log; return 2; }
		out=$(./pan -m1000000 2>&1)
	else
		"$CC" -O2 -w -DNFAIR=4 -o pan pan.c >cc.log 2>&1 || { cat cc.log; return 2; }
		out=$(./pan -a -f -m1000000 2>&1)
	fi
	states=$(echo "$out" | awk '/states, stored/ { print $1; exit }')
	echo "$out" | grep -q "errors: 0" && return 0
	why=$(echo "$out" | grep -m1 -E "assertion violated|acceptance cycle|invalid end state" |
		sed 's/^pan:1: //')
	return 1
}

fail=0
for n in 2 3; do
	for kind in safety liveness; do
		if check $kind -DNW=$n; then
			echo "model   NW=$n $kind holds ($states states)"
		else
			echo "model   NW=$n $kind FAILS: $why"
			fail=1
		fi
	done
done
for m in "M_NO_PENDING liveness" "M_NO_GRACE safety"; do
	set -- $m
	if check "$2" -D"$1"; then
		echo "mutant  $1 ($2) SURVIVES ($states states)"
		fail=1
	else
		echo "mutant  $1 fails $2 as it must: $why"
	fi
done
[ $fail = 0 ] && echo "inval_pending: base holds, every mutant fails" ||
	echo "inval_pending: FAILED"
exit $fail
