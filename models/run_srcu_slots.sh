#!/bin/bash
# models/run_srcu_slots.sh - model-check where SRCU readers count through a
# thread's life (models/srcu_slots.pml) with Spin: the base model must hold
# (no assertion fails, no invalid end state) with up to 2 and 3 signal
# handlers, and every mutant must fail an assertion.
#
# Exit status: 0 if so, 1 otherwise, 77 (ctest SKIP_RETURN_CODE) if spin or
# a C compiler is missing. Prints one line per run.

set -u
here=$(cd "$(dirname "$0")" && pwd)
SPIN=${SPIN:-spin}
CC=${CC:-cc}

if ! command -v "$SPIN" >/dev/null 2>&1; then
	echo "run_srcu_slots.sh: SKIP: '$SPIN' not found (Debian package 'spin')" >&2
	exit 77
fi
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "run_srcu_slots.sh: SKIP: no C compiler ('$CC')" >&2
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpc-srcu-model.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
cp "$here/srcu_slots.pml" "$tmp/" || exit 1
cd "$tmp" || exit 1

# verify DEFINES...: prints the verdict line, returns 0 if no error
verify()
{
	local out
	"$SPIN" -a "$@" srcu_slots.pml >spin.log 2>&1 || { cat spin.log; return 2; }
	"$CC" -O2 -DSAFETY -o pan pan.c >cc.log 2>&1 || { cat cc.log; return 2; }
	out=$(./pan -m1000000 2>&1)
	states=$(echo "$out" | awk '/states, stored/ { print $1; exit }')
	if echo "$out" | grep -q "errors: 0"; then
		return 0
	fi
	why=$(echo "$out" | grep -m1 -E "assertion violated|invalid end state" |
		sed 's/^pan:1: //')
	return 1
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
