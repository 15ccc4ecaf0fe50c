# models/lib.sh - sourced by the run_*.sh scripts of the small models: the
# tools, the skip when one is missing, a private work directory, and one
# Spin run. (run_model.sh, the big model's driver, runs its own variants in
# parallel and does not use it.)
#
#   model_workdir SCRIPT MODEL.pml
#	exit 77 (ctest SKIP_RETURN_CODE) if spin or a C compiler is missing;
#	else copy the model into a temporary directory (removed on exit) and
#	cd there.
#   model_check MODEL.pml "CC FLAGS" "PAN FLAGS" [SPIN DEFINES...]
#	generate, compile and run the verifier; sets $states (states stored)
#	and, on an error, $why (the first assertion, acceptance cycle or
#	invalid end state). Returns 0 if no error, 1 if one, 2 if a tool
#	failed (its log is printed).

SPIN=${SPIN:-spin}
CC=${CC:-cc}

model_workdir()
{
	local script=$1 model=$2 here
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	if ! command -v "$SPIN" >/dev/null 2>&1; then
		echo "$script: SKIP: '$SPIN' not found (Debian package 'spin')" >&2
		exit 77
	fi
	if ! command -v "$CC" >/dev/null 2>&1; then
		echo "$script: SKIP: no C compiler ('$CC')" >&2
		exit 77
	fi
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpc-${model%.pml}.XXXXXX") || exit 1
	trap 'rm -rf "$tmp"' EXIT
	cp "$here/$model" "$tmp/" || exit 1
	cd "$tmp" || exit 1
}

model_check()
{
	local model=$1 ccflags=$2 panflags=$3 out
	shift 3
	"$SPIN" -a "$@" "$model" >spin.log 2>&1 || { cat spin.log; return 2; }
	# shellcheck disable=SC2086 # the flags are word lists
	"$CC" -O2 -w $ccflags -o pan pan.c >cc.log 2>&1 || { cat cc.log; return 2; }
	# shellcheck disable=SC2086
	out=$(./pan $panflags 2>&1)
	states=$(echo "$out" | awk '/states, stored/ { print $1; exit }')
	echo "$out" | grep -q "errors: 0" && return 0
	why=$(echo "$out" |
		grep -m1 -E "assertion violated|acceptance cycle|invalid end state" |
		sed 's/^pan:1: //')
	return 1
}
