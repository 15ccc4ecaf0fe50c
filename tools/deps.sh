#!/bin/sh
# tools/deps.sh - make sure the Debian 12 packages libgpc needs are installed.
#
# Quiet when everything is present. If something is missing:
#   - as root: apt-get update (once) and install only the missing packages;
#   - otherwise: print the command to run and exit 1.

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
"

set -eu

missing=""
for pkg in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $pkg" ;;
	esac
done
missing=${missing# }

[ -z "$missing" ] && exit 0

echo "deps.sh: missing packages: $missing" >&2

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: not root; install them with:" >&2
	echo "sudo apt-get install -y --no-install-recommends $missing"
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y --no-install-recommends $missing
