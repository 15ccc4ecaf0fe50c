#!/bin/sh
# SPDX-License-Identifier: MIT
#
# tests/cxx/check_headers.sh - every public header compiles on its own, as
# strict C11 (also with GPC_PLAIN_ATOMICS, the form for binding
# generators) and as C++20, C++23 (and later standards the compiler knows),
# with every C and C++ compiler found (gcc, clang, g++, clang++ and the
# ones CMake uses), warnings as errors. Also: gpc/gpc.h reaches every
# header, and tests/cxx/layout.h lists every public struct (so that the
# C/C++ layout comparison of test_cxx covers it).
#
# usage: check_headers.sh INCLUDE_DIR LAYOUT_H [COMPILER...]
#   COMPILER: extra C or C++ compilers (CMake passes its own); C++ ones are
#   recognised by "++" in their name.
# Exit status: 0 if all compiled, 1 if one did not (each failure is printed
# with the compiler's messages). Without a C++ compiler the C++ checks are
# skipped with a message.

set -u

inc=$1
layout=$2
shift 2

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

ccs=""
cxxs=""
add()
{
	p=$(command -v "$1" 2>/dev/null) || return 0
	case "$1" in
	*++*)
		case " $cxxs " in *" $p "*) ;; *) cxxs="$cxxs $p" ;; esac ;;
	*)
		case " $ccs " in *" $p "*) ;; *) ccs="$ccs $p" ;; esac ;;
	esac
}
for c in gcc clang g++ clang++ "$@"; do
	add "$c"
done

if [ -z "$ccs" ]; then
	echo "check_headers: no C compiler found" >&2
	exit 1
fi

fail=0
ok=0

# knows CXX STD...: the first standard of the list that CXX accepts.
knows()
{
	cxx=$1
	shift
	for s in "$@"; do
		if echo "" | "$cxx" -std="$s" -x c++ -fsyntax-only - \
			>/dev/null 2>&1; then
			echo "$s"
			return 0
		fi
	done
	return 1
}

# check LABEL COMPILER ARGS... : compile $tu with ARGS; a failure is
# printed with the compiler's messages and counted in $nfail.
check()
{
	label=$1
	shift
	if "$@" -I"$inc" -fsyntax-only "$tu" >"$tu.log" 2>&1; then
		nok=$((nok + 1))
	else
		echo "FAIL: $label: $*"
		sed 's/^/    /' "$tu.log" | head -40
		nfail=$((nfail + 1))
	fi
}

headers=$(cd "$inc" && ls gpc/*.h)

# run_c CC / run_cxx CXX: every header with one compiler, into
# $tmp/<n>.out (messages) and $tmp/<n>.count ("ok fail"). One compiler per
# background job: the C++ ones parse <atomic> for every header.
run_c()
{
	nok=0
	nfail=0
	for h in $headers; do
		tu=$tmp/$n.$(basename "$h" .h).c
		# Twice: the include guard must work too.
		printf '#include <%s>\n#include <%s>\n' "$h" "$h" >"$tu"
		check "$h C11 $(basename "$1")" "$1" -x c -std=c11 \
			-D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic \
			-Werror
		# The binding generators' form (gpc/compiler.h).
		check "$h C11 GPC_PLAIN_ATOMICS $(basename "$1")" "$1" -x c \
			-std=c11 -D_POSIX_C_SOURCE=200809L -DGPC_PLAIN_ATOMICS \
			-Wall -Wextra -Wpedantic -Werror
	done
	echo "$nok $nfail" >"$tmp/$n.count"
}

run_cxx()
{
	nok=0
	nfail=0
	stds="c++20"
	s=$(knows "$1" c++23 c++2b) && stds="$stds $s"
	s=$(knows "$1" c++26 c++2c) && stds="$stds $s"
	echo "check_headers: $(basename "$1"): $stds"
	for h in $headers; do
		tu=$tmp/$n.$(basename "$h" .h).cpp
		printf '#include <%s>\n#include <%s>\n' "$h" "$h" >"$tu"
		for std in $stds; do
			check "$h $std $(basename "$1")" "$1" -x c++ \
				-std="$std" -Wall -Wextra -Werror
		done
	done
	echo "$nok $nfail" >"$tmp/$n.count"
}

n=0
for cc in $ccs; do
	n=$((n + 1))
	run_c "$cc" >"$tmp/$n.out" 2>&1 &
done
for cxx in $cxxs; do
	n=$((n + 1))
	run_cxx "$cxx" >"$tmp/$n.out" 2>&1 &
done
wait
i=0
while [ "$i" -lt "$n" ]; do
	i=$((i + 1))
	cat "$tmp/$i.out"
	if [ -r "$tmp/$i.count" ]; then
		read -r a b <"$tmp/$i.count"
		ok=$((ok + a))
		fail=$((fail + b))
	else
		echo "FAIL: check job $i did not finish"
		fail=$((fail + 1))
	fi
done

if [ -z "$cxxs" ]; then
	echo "check_headers: no C++ compiler found: C++ checks skipped"
fi

# gpc/gpc.h is "everything in one include": it must reach every header.
set -- $ccs
printf '#include <gpc/gpc.h>\n' >"$tmp/all.c"
if "$1" -I"$inc" -MM "$tmp/all.c" >"$tmp/deps" 2>"$tmp/log"; then
	for h in $headers; do
		# libgpc-vhost's header is another library's, not libgpc's.
		[ "$h" = gpc/vhost.h ] && continue
		if ! tr ' \\' '\n\n' <"$tmp/deps" | grep -q "/$h\$"; then
			echo "FAIL: gpc/gpc.h does not include $h"
			fail=$((fail + 1))
		fi
	done
else
	echo "FAIL: $1 -MM gpc/gpc.h"
	cat "$tmp/log"
	fail=$((fail + 1))
fi

# Every public struct is in the C/C++ layout comparison.
for s in $(cd "$inc" && sed -n 's/^struct \(gpc_[a-z0-9_]*\) {.*/\1/p' \
	$headers); do
	if ! grep -q "S($s)" "$layout"; then
		echo "FAIL: struct $s is not in $layout (GPC_LAYOUT)"
		fail=$((fail + 1))
	fi
done

echo "check_headers: $ok compiled, $fail failed (compilers:$ccs$cxxs)"
[ "$fail" -eq 0 ]
