#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/vhost/fe_backend.sh - run gpc-vhost-fe against a vhost-user-blk
# back-end and check its summary.
#
#   fe_backend.sh FE BACKEND EXPECT [FE-ARGS...]
#
# BACKEND is "qsd" (qemu-storage-daemon, 2 queues, on a file) or
# "cmd:COMMAND" with @SOCK@ and @IMG@ replaced by the socket path and the
# image file (our own back-end plugs in that way). EXPECT lists summary
# keys that must be > 0 (comma-separated, "-" for none): the proof that
# the churn asked for really happened. EXPECT "corrupt" is the control
# that the verification can fail: 1 s into the run the image is
# overwritten behind the back-end's back, and the front-end must then
# report mismatches and exit 1. EXPECT "stale" is the control of the
# stale-write check: run with --control-no-rem (the region is poisoned
# without a REM_MEM_REG), stale_writes must be > 0 and the exit 1.
# EXPECT "lost-on-rem" is a back-end's known failure under
# --churn-inflight, checked for its kind: exit 1, requests in flight in the
# region at the REM (rem_inflight > 0), some of them never given back
# ("LOST:") because the back-end closed the connection, yet no mismatch
# and no stale write; with FE_EXPECT_LOG set, its back-end log must hold
# that text too (the back-end's own reason). Every step is bounded: the back-end
# runs under `timeout`, the front-end too, and the socket is awaited 5 s.
# Exit 77 (skip) when qemu-storage-daemon is asked for and missing.
set -u
fe=$1 backend=$2 expect=$3
shift 3

case $backend in
qsd)
	if ! command -v qemu-storage-daemon >/dev/null 2>&1; then
		echo "SKIP: qemu-storage-daemon not installed (Debian: qemu-system-common)"
		exit 77
	fi ;;
cmd:*) ;;
*) echo "fe_backend.sh: unknown back-end '$backend'" >&2; exit 2 ;;
esac

dir=$(mktemp -d "${TMPDIR:-/tmp}/gpc-vhost-fe.XXXXXX") || exit 1
sock=$dir/vub.sock img=$dir/disk.img
bepid=
cleanup() {
	[ -n "$bepid" ] && kill "$bepid" 2>/dev/null && wait "$bepid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
# The image: 64 MiB of zeroes (sparse), so --expect-zero holds.
truncate -s 64M "$img" || exit 1

case $backend in
qsd)
	timeout 60 qemu-storage-daemon \
		--blockdev driver=file,node-name=file0,filename="$img" \
		--export type=vhost-user-blk,id=exp0,addr.type=unix,addr.path="$sock",node-name=file0,writable=on,num-queues=2 \
		>"$dir/backend.log" 2>&1 &
	bepid=$! ;;
cmd:*)
	cmd=$(printf '%s' "${backend#cmd:}" | sed -e "s|@SOCK@|$sock|g" -e "s|@IMG@|$img|g")
	# shellcheck disable=SC2086 # the command is a word list on purpose
	timeout 60 $cmd >"$dir/backend.log" 2>&1 &
	bepid=$! ;;
esac

i=0
while [ ! -S "$sock" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$bepid" 2>/dev/null; then
		echo "FAIL: the back-end did not create $sock"
		cat "$dir/backend.log"
		exit 1
	fi
	sleep 0.05
done

if [ "$expect" = corrupt ]; then
	(sleep 1; dd if=/dev/urandom of="$img" bs=1M count=16 conv=notrunc \
		status=none) &
	ddpid=$!
fi
timeout 45 "$fe" --socket "$sock" "$@" >"$dir/fe.out" 2>"$dir/fe.err"
rc=$?
[ "$expect" = corrupt ] && wait "$ddpid"
cat "$dir/fe.out"
sed 's/^/stderr: /' "$dir/fe.err" | head -40
alive=1
kill -0 "$bepid" 2>/dev/null || alive=0
echo "--- back-end log (last lines)"
tail -n 15 "$dir/backend.log"

if [ $alive -eq 0 ]; then
	echo "FAIL: the back-end exited during the run"
	exit 1
fi
if [ $rc -eq 77 ]; then
	exit 77
fi
if [ "$expect" = corrupt ]; then
	if [ $rc -eq 1 ] && grep -q '^fe:.* mismatches=[1-9]' "$dir/fe.out"; then
		echo "PASS: the overwritten blocks were reported"
		exit 0
	fi
	echo "FAIL: the corruption went unnoticed (exit $rc)"
	exit 1
fi
if [ "$expect" = stale ]; then
	if [ $rc -eq 1 ] && grep -q '^fe:.* stale_writes=[1-9]' "$dir/fe.out"; then
		echo "PASS: the writes into the poisoned region were reported"
		exit 0
	fi
	echo "FAIL: the stale writes went unnoticed (exit $rc)"
	exit 1
fi
if [ "$expect" = lost-on-rem ]; then
	line=$(grep '^fe:' "$dir/fe.out" | tail -n 1)
	why=
	[ $rc -eq 1 ] || why="exit $rc, not 1"
	grep -q 'LOST: ' "$dir/fe.err" || why="$why; nothing lost"
	grep -q 'closed the connection' "$dir/fe.err" ||
		why="$why; the connection stayed"
	case $line in *" rem_inflight=0 "*|"") why="$why; none in flight at a REM" ;; esac
	case $line in *" mismatches=0 "*) ;; *) why="$why; mismatches" ;; esac
	case $line in *" stale_writes=0 "*) ;; *) why="$why; stale writes" ;; esac
	if [ -n "${FE_EXPECT_LOG:-}" ] &&
	   ! grep -qF "$FE_EXPECT_LOG" "$dir/backend.log"; then
		why="$why; no '$FE_EXPECT_LOG' in the back-end log"
	fi
	if [ -z "$why" ]; then
		echo "PASS: the known outcome (requests lost at a REM with I/O in flight, connection closed)"
		exit 0
	fi
	echo "FAIL: not the known outcome:$why"
	exit 1
fi
if [ $rc -ne 0 ]; then
	echo "FAIL: gpc-vhost-fe exited with $rc"
	exit 1
fi
line=$(grep '^fe:' "$dir/fe.out" | tail -n 1)
case $line in
*result=ok*) ;;
*) echo "FAIL: no successful summary line"; exit 1 ;;
esac
if [ "$expect" != "-" ]; then
	for key in $(echo "$expect" | tr ',' ' '); do
		v=$(printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$key=//p")
		if [ -z "$v" ] || [ "$v" = 0 ]; then
			echo "FAIL: $key=${v:-missing} in the summary, expected > 0"
			exit 1
		fi
	done
fi
echo "PASS"
exit 0
