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
. "$(dirname "$0")/lib.sh"
model_workdir run_srcu_trysync.sh srcu_trysync.pml

# check DEFINES...: sets $states and $why; 0 if no error
check()
{
	model_check srcu_trysync.pml -DSAFETY -m1000000 "$@"
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
