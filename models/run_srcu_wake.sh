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
. "$(dirname "$0")/lib.sh"
model_workdir run_srcu_wake.sh srcu_wake.pml

# check DEFINES...: sets $states and $why; 0 if no error (invalid end
# states are checked: a lost wake-up is a deadlock)
check()
{
	model_check srcu_wake.pml "" -m1000000 "$@"
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
