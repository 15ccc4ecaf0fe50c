#!/bin/sh
# tools/deps.sh - make sure the Debian 12 packages libgpc needs are installed.
#
# Quiet when everything is present. If something is missing:
#   - as root: apt-get update (once) and install only the missing packages;
#   - otherwise: print the command to run and exit 1.
# With --check it never installs: it prints the command and exits 1 (what
# `make build` uses; only `make run`, `make check` and `make bench` install).
#
# A library-only build (plain `cmake -S . -B build`) needs just cmake, make
# and a C compiler; the rest is for the tests, benchmarks, fuzzer and gpcvm.

# The one list of build, test and benchmark dependencies.
PACKAGES="
	cmake
	make
	gcc
	clang
	pkg-config
	libcmocka-dev
	liburcu-dev
	libck-dev
	gnuplot-nox
	spin
	libclang-rt-14-dev
	valgrind
	binutils
	linux-libc-dev
	abigail-tools
	python3
	man-db
	groff-base
	liburing-dev
	qemu-system-x86
	qemu-system-common
	busybox-static
	cpio
"

set -eu

mode=install
case "${1:-}" in
--check) mode=check ;;
"") ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

missing=""
for pkg in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $pkg" ;;
	esac
done
missing=${missing# }

# The QEMU tests fetch Debian's guest kernel with `apt-get download` (never
# installed): that needs the package lists, which a fresh image whose
# packages are all present may not have (the lists are often deleted). As
# root, with nothing else to install, fetch them once; the install below
# runs apt-get update anyway.
if [ -z "$missing" ] && [ "$mode" = install ] && [ "$(id -u)" -eq 0 ] &&
	! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
	echo "deps.sh: no package list names linux-image-amd64 (the QEMU tests' guest kernel): apt-get update" >&2
	apt-get update || echo "deps.sh: apt-get update failed; the QEMU tests will skip" >&2
fi

[ -z "$missing" ] && exit 0

echo "deps.sh: missing packages: $missing" >&2

if [ "$mode" = check ]; then
	echo "deps.sh: install them with (or run make run / make check as root):" >&2
	echo "sudo apt-get install -y --no-install-recommends $missing"
	exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: not root; install them with:" >&2
	echo "sudo apt-get install -y --no-install-recommends $missing"
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y --no-install-recommends $missing
