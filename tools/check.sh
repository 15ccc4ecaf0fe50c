#!/bin/bash
# tools/check.sh - build and run the whole libgpc test suite.
#
# Stages (each one runs even if an earlier one failed):
#   plain  build/        RelWithDebInfo, all tests
#   tsan   build-tsan/   clang, -fsanitize=thread,    GPC_DEBUG, tests labelled "concurrency"
#   asan   build-asan/   gcc,   -fsanitize=address,   GPC_DEBUG, tests labelled "concurrency"
#   ubsan  build-ubsan/  gcc,   -fsanitize=undefined, no GPC_DEBUG, tests labelled "concurrency"
#   fuzz   build-fuzz/   clang, the whole project (so every file also builds
#                         with clang) + fuzz/fuzz_api (libFuzzer+ASan+UBSan), 45 s,
#                         tests labelled "fuzz"
#
# Each stage's pass/fail counts come from ctest's summary line
# ("NN% tests passed, N tests failed out of M"). A stage that fails to
# configure or build counts as one failure and its tests are not run.
# The last line printed is "N passed, N failed" (totals); the exit status is
# non-zero if anything failed.
#
# Environment:
#   JOBS        parallel build jobs (default 2)
#   CMAKE_ARGS  extra arguments for every cmake configure step
#   STAGES      subset of stages to run, e.g. STAGES="plain tsan"

set -u
set -o pipefail

cd "$(dirname "$0")/.." || exit 1

JOBS=${JOBS:-2}
CMAKE_ARGS=${CMAKE_ARGS:-}
STAGES=${STAGES:-plain tsan asan ubsan fuzz}

# Sanitizer defaults; anything already set in the environment wins.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-second_deadlock_stack=1}

# A plain configure builds only the library; every stage turns the parts on
# (a stage's own -D after these wins, e.g. tsan's GPC_BUILD_BENCH=OFF).
PARTS="-DGPC_BUILD_TESTS=ON -DGPC_BUILD_BENCH=ON -DGPC_BUILD_TOOLS=ON -DGPC_BUILD_EXAMPLES=ON"

total_pass=0
total_fail=0
total_skip=0
summary=()

if ! tools/deps.sh; then
	echo "check.sh: dependencies missing (see above)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# run_stage NAME DIR CTEST_ARGS -- CMAKE_CONFIGURE_ARGS...
run_stage()
{
	local name=$1 dir=$2 ctest_args=$3
	shift 4
	local log="$dir/check-ctest.log"
	local pass=0 fail=0 skip=0 rc line

	echo
	echo "==== [$name] configure + build in $dir ===="
	# shellcheck disable=SC2086 # CMAKE_ARGS is a word list on purpose
	if ! cmake -S . -B "$dir" $PARTS "$@" $CMAKE_ARGS; then
		echo "check.sh: [$name] configure FAILED" >&2
		summary+=("$name: configure failed (counted as 1 failed)")
		total_fail=$((total_fail + 1))
		return
	fi
	if ! cmake --build "$dir" -j"$JOBS"; then
		echo "check.sh: [$name] build FAILED" >&2
		summary+=("$name: build failed (counted as 1 failed)")
		total_fail=$((total_fail + 1))
		return
	fi

	echo
	echo "==== [$name] ctest $ctest_args ===="
	# shellcheck disable=SC2086 # ctest_args is a word list on purpose
	(cd "$dir" && ctest $ctest_args) 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}

	line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		local total
		fail=$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
		total=$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
		# ctest counts a skipped test (exit code 77, a missing
		# requirement) among the passed ones; it did not pass.
		skip=$(grep -cE '^[[:space:]]*[0-9]+ - .* \(Skipped\)$' "$log")
		pass=$((total - fail - skip))
	elif grep -q 'No tests were found' "$log"; then
		echo "check.sh: [$name] warning: no tests matched ($ctest_args)" >&2
	fi
	# ctest failed but its summary does not show it (crash, missing
	# executable, no summary at all): count the stage as one failure.
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		echo "check.sh: [$name] ctest exited with status $rc" >&2
		fail=1
	fi

	summary+=("$name: $pass passed, $fail failed, $skip skipped")
	total_pass=$((total_pass + pass))
	total_skip=$((total_skip + skip))
	total_fail=$((total_fail + fail))
}

for stage in $STAGES; do
	case $stage in
	plain)
		run_stage plain build "--output-on-failure -j$JOBS" -- \
			-DCMAKE_BUILD_TYPE=RelWithDebInfo \
			-DGPC_DEBUG=OFF -DGPC_SANITIZE=
		;;
	tsan)
		run_stage tsan build-tsan "--output-on-failure -L concurrency" -- \
			-DCMAKE_C_COMPILER=clang \
			-DGPC_SANITIZE=thread -DGPC_DEBUG=ON \
			-DGPC_BUILD_BENCH=OFF
		;;
	asan)
		run_stage asan build-asan "--output-on-failure -L concurrency" -- \
			-DCMAKE_C_COMPILER=gcc \
			-DGPC_SANITIZE=address -DGPC_DEBUG=ON
		;;
	ubsan)
		run_stage ubsan build-ubsan "--output-on-failure -L concurrency" -- \
			-DCMAKE_C_COMPILER=gcc \
			-DGPC_SANITIZE=undefined -DGPC_DEBUG=OFF
		;;
	fuzz)
		run_stage fuzz build-fuzz "--output-on-failure -L fuzz" -- \
			-DCMAKE_C_COMPILER=clang \
			-DGPC_SANITIZE= -DGPC_DEBUG=OFF \
			-DGPC_BUILD_FUZZ=ON -DGPC_BUILD_BENCH=ON
		;;
	*)
		echo "check.sh: unknown stage '$stage'" >&2
		summary+=("$stage: unknown stage (counted as 1 failed)")
		total_fail=$((total_fail + 1))
		;;
	esac
done

echo
echo "==== summary ===="
for s in "${summary[@]}"; do
	echo "  $s"
done
echo "  $total_skip skipped (each printed its reason above; counted neither way)"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
