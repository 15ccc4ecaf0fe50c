#!/bin/bash
# models/run_srcu_slots.sh - model-check where SRCU readers count through a
# thread's life (models/srcu_slots.pml) with Spin: the base model must hold
# (no assertion fails, no invalid end state) with up to 2 and 3 signal
# handlers, and every mutant must fail an assertion.
#
# Exit status: 0 if so, 1 otherwise, 77 (ctest SKIP_RETURN_CODE) if spin or
# a C compiler is missing. Prints one line per run.

set -u
. "$(dirname "$0")/lib.sh"
model_workdir run_srcu_slots.sh srcu_slots.pml

# verify DEFINES...: sets $states and $why; 0 if no error
verify()
{
	model_check srcu_slots.pml -DSAFETY -m1000000 "$@"
}

fail=0
for h in 2 3; do
	if verify -DMAXH=$h; then
		echo "model   MAXH=$h  holds        ($states states)"
	else
		echo "model   MAXH=$h  FAILS: $why"
		fail=1
	fi
done
for m in M_RELEASE_KEEPS_KEY M_INSTALL_KEY_FIRST M_INSTALL_WHILE_EXITING \
	 M_NO_SCAN_LOCK; do
	if verify -D$m; then
		echo "mutant  $m  SURVIVES ($states states)"
		fail=1
	else
		echo "mutant  $m  fails as it must: $why"
	fi
done
[ $fail = 0 ] && echo "srcu_slots: base holds, every mutant fails" ||
	echo "srcu_slots: FAILED"
exit $fail
