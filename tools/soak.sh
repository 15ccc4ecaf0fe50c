#!/bin/bash
# tools/soak.sh - multi-hour soak: torture_srcu, torture_srcu_threads,
# stress_churn and fuzz_api in
# rotation until the time is up or something fails.
#
#   tools/soak.sh [--hours H] [--slice SECONDS] [--build DIR]
#                 [--fuzz-build DIR] [--log DIR] [--no-fuzz]
#
#   --hours H         total run time (default 8; fractions allowed)
#   --slice SECONDS   length of one run of one program (default 600)
#   --build DIR       build with tests/torture_srcu and tests/stress_churn
#                     (default build; build-asan or build-tsan work too)
#   --fuzz-build DIR  build with fuzz/fuzz_api (default build-fuzz; see
#                     docs/testing.md for how to configure it)
#   --log DIR         where logs go (default soak-logs/<date>-<time>)
#   --no-fuzz         leave the fuzzer out of the rotation
#
# One round runs, each for --slice seconds:
#   torture_srcu --readers 4 --writers 3              (SRCU, membarrier)
#   torture_srcu --readers 3 --writers 2, GPC_SRCU_NO_MEMBARRIER=1
#   torture_srcu_threads                              (thread churn, signals, forks)
#   stress_churn --threads 4                          (both schemes/stages)
#   fuzz_api -max_total_time=SLICE <corpus>           (if built)
# Every run gets a fresh --seed (logged). The fuzzer keeps one corpus for the
# whole soak in LOG/corpus, started from a copy of fuzz/corpus.
#
# Output: LOG/soak.log has one line per run (start time, program, seed,
# seconds, exit status); LOG/NNNN-<program>.log has each run's output; a
# fuzzer failure leaves its reproducer in LOG/ (crash-*, timeout-*, ...).
# The soak stops at the first failure and exits 1; otherwise it prints the
# failure-free hours per program and the 95% upper bound on the failure rate
# (3/T, see docs/testing.md) and exits 0. Ctrl-C stops it with the summary
# so far.

set -u

cd "$(dirname "$0")/.." || exit 2

hours=8
slice=600
build=build
fuzz_build=build-fuzz
log=
use_fuzz=1

usage()
{
	sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--hours) hours=$2; shift 2 ;;
	--slice) slice=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--fuzz-build) fuzz_build=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--no-fuzz) use_fuzz=0; shift ;;
	-h|--help) usage ;;
	*) echo "soak.sh: unknown option '$1'" >&2; usage ;;
	esac
done

case $slice in
''|*[!0-9]*) echo "soak.sh: --slice wants whole seconds" >&2; exit 2 ;;
esac
total=$(awk -v h="$hours" 'BEGIN { s = h * 3600; if (s < 1) exit 1; printf "%d", s }') || {
	echo "soak.sh: bad --hours '$hours'" >&2
	exit 2
}

torture=$build/tests/torture_srcu
threads=$build/tests/torture_srcu_threads
churn=$build/tests/stress_churn
fuzzer=$fuzz_build/fuzz/fuzz_api
for p in "$torture" "$threads" "$churn"; do
	if [ ! -x "$p" ]; then
		echo "soak.sh: $p not built (cmake --build $build)" >&2
		exit 2
	fi
done
if [ $use_fuzz = 1 ] && [ ! -x "$fuzzer" ]; then
	echo "soak.sh: $fuzzer not built; continuing without the fuzzer" >&2
	echo "soak.sh: (cmake -S . -B $fuzz_build -DCMAKE_C_COMPILER=clang && cmake --build $fuzz_build --target fuzz_api)" >&2
	use_fuzz=0
fi

[ -n "$log" ] || log=soak-logs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$log" || exit 2
if [ $use_fuzz = 1 ]; then
	mkdir -p "$log/corpus" && cp fuzz/corpus/* "$log/corpus/" || exit 2
fi

# Per-program failure-free seconds, for the summary.
declare -A secs
progs=(torture_srcu torture_srcu_nomb torture_srcu_threads stress_churn)
[ $use_fuzz = 1 ] && progs+=(fuzz_api)
for p in "${progs[@]}"; do
	secs[$p]=0
done

start=$(date +%s)
end=$((start + total))
n=0
failed=

summary()
{
	local now elapsed
	now=$(date +%s)
	elapsed=$((now - start))
	echo
	echo "==== soak summary ($log) ===="
	echo "wall time: $(awk -v s=$elapsed 'BEGIN { printf "%.2f h", s / 3600 }'), runs: $n"
	for p in "${progs[@]}"; do
		awk -v p="$p" -v s="${secs[$p]}" 'BEGIN {
			h = s / 3600
			if (h > 0)
				printf "  %-20s %7.2f h failure-free; 95%%: rate < %.3g/h (MTBF > %.3g h)\n", p, h, 3 / h, h / 3
			else
				printf "  %-20s    0 h\n", p
		}'
	done
	if [ -n "$failed" ]; then
		echo "FAILED: $failed"
	else
		echo "no failures"
	fi
}

trap 'summary; exit 130' INT TERM

# run NAME SECONDS CMD... : one run, logged; returns its exit status.
run()
{
	local name=$1 t=$2 rc t0 t1 f
	shift 2
	n=$((n + 1))
	f=$(printf '%s/%04d-%s.log' "$log" $n "$name")
	t0=$(date +%s)
	echo "$(date '+%F %T') start #$n $name: $*" >>"$log/soak.log"
	"$@" >"$f" 2>&1
	rc=$?
	t1=$(date +%s)
	echo "$(date '+%F %T') end   #$n $name: rc=$rc after $((t1 - t0)) s" >>"$log/soak.log"
	printf '%s #%d %-20s %5d s  rc=%d\n' "$(date '+%T')" $n "$name" $((t1 - t0)) $rc
	if [ $rc -ne 0 ]; then
		failed="$name (run #$n, exit $rc): see $f"
		return $rc
	fi
	secs[$name]=$((secs[$name] + t1 - t0))
	return 0
}

echo "soak: $(awk -v s=$total 'BEGIN { printf "%.2f", s / 3600 }') h in slices of $slice s, logs in $log"
while :; do
	for step in "${progs[@]}"; do
		left=$((end - $(date +%s)))
		[ $left -le 0 ] && break 2
		t=$((left < slice ? left : slice))
		seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
		case $step in
		torture_srcu)
			run torture_srcu $t "$torture" --duration $t \
				--readers 4 --writers 3 --seed $seed ;;
		torture_srcu_nomb)
			run torture_srcu_nomb $t env GPC_SRCU_NO_MEMBARRIER=1 \
				"$torture" --duration $t --readers 3 --writers 2 \
				--seed $seed ;;
		torture_srcu_threads)
			run torture_srcu_threads $t "$threads" --duration $t \
				--seed $seed ;;
		stress_churn)
			run stress_churn $t "$churn" --duration $t --threads 4 \
				--seed $seed ;;
		fuzz_api)
			run fuzz_api $t "$fuzzer" -max_total_time=$t -timeout=60 \
				-seed=$seed -print_final_stats=1 \
				-artifact_prefix="$log/" "$log/corpus" ;;
		esac || { summary; exit 1; }
	done
done
summary
exit 0
