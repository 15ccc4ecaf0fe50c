#!/bin/sh
# SPDX-License-Identifier: MIT
#
# tests/cxx/ffi_bindgen.sh - libgpc through a foreign-function interface:
# bindgen on gpc/gpc.h (with GPC_PLAIN_ATOMICS, gpc/compiler.h), bindgen's
# own layout tests of every bound struct (rustc --test), and ffi_rust.rs,
# a Rust program that uses the out-of-line fast path through libgpc.so.
#
# usage: ffi_bindgen.sh INCLUDE_DIR LIB_DIR SRC_DIR
# Exit status: 0 passed, 77 skipped (no bindgen or rustc), else failed.

set -eu

inc=$1
libdir=$2
src=$3

for t in bindgen rustc; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "ffi_bindgen: $t not found: skipped"
		exit 77
	fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "ffi_bindgen: $(bindgen --version), $(rustc --version)"
# The private symbols of the inline code are not bound (LIBGPC_PRIVATE).
bindgen "$inc/gpc/gpc.h" -o "$tmp/bindings.rs" \
	--allowlist-function 'gpc_.*' --allowlist-type 'gpc_.*' \
	--allowlist-var 'gpc_.*' --blocklist-item 'gpc_srcu_tls' \
	--blocklist-item 'gpc_srcu_reader_fence' \
	-- -I"$inc" -DGPC_PLAIN_ATOMICS
for f in gpc_cache_begin_ool gpc_cache_try_begin_ool gpc_cache_end_ool \
	gpc_cache_guest_ptr_ool gpc_srcu_read_lock_ool \
	gpc_srcu_read_unlock_ool gpc_srcu_read_held_ool; do
	if ! grep -q "pub fn $f(" "$tmp/bindings.rs"; then
		echo "ffi_bindgen: no binding for $f"
		exit 1
	fi
done

# bindgen's generated layout tests: size, alignment, field offsets.
rustc --edition 2021 --test -A warnings "$tmp/bindings.rs" -o "$tmp/layout"
"$tmp/layout" -q

cp "$src/ffi_rust.rs" "$tmp/"
rustc --edition 2021 -A warnings "$tmp/ffi_rust.rs" -o "$tmp/ffi_rust" \
	-L "$libdir" -l gpc -C link-arg=-Wl,-rpath,"$libdir"
"$tmp/ffi_rust"
