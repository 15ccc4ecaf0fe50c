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
. "$(dirname "$0")/lib.sh"
model_workdir run_inval_pending.sh inval_pending.pml

# check safety|liveness DEFINES...: sets $states and $why; 0 if no error
check()
{
	local kind=$1
	shift
	if [ "$kind" = safety ]; then
		model_check inval_pending.pml "-DSAFETY -DNOCLAIM" -m1000000 "$@"
	else
		model_check inval_pending.pml -DNFAIR=4 "-a -f -m1000000" "$@"
	fi
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
