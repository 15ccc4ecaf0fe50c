// SPDX-License-Identifier: MIT
/*
 * tests/cxx/test_cxx.cpp - libgpc used from C++ (C++20), against the shared
 * library, as a C++ VMM would: a vm on memory the program maps itself, host-
 * and guest-usage caches read and written through the inline fast path (the
 * headers' std::atomic side of gpc/compiler.h) and through the exported
 * out-of-line forms (what FFI callers use), mixed in both directions, on both
 * read-side schemes; and the layout of every public struct as C++ sees it
 * against what C sees (layout.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h declares its functions without extern "C". */
extern "C" {
#include <cmocka.h>
}

#include <cstdio>
#include <cstring>
#include <new>
#include <type_traits>

#include <gpc/gpc.h>

#include "layout.h"

static_assert(std::is_standard_layout_v<gpc_cache>);
static_assert(sizeof(GPC_ATOMIC(uint64_t)) == sizeof(uint64_t));
static_assert(
	std::is_same_v<decltype(&gpc_cache_begin_ool),
		       void *(*)(gpc_cache *, uint64_t, uint64_t, gpc_guard *)>);

namespace {

constexpr uint64_t gpa_base = 0x100000;
constexpr size_t ram_pages = 2;

/* A vm with ram_pages pages of RAM in memslot 0, and what it took. */
struct env {
	gpc_hostmem *hm = nullptr;
	gpc_vm *vm = nullptr;
	uint8_t *ram = nullptr;
	size_t len = 0;

	explicit env(gpc_scheme scheme)
	{
		gpc_vm_config cfg{};
		void *p = nullptr;

		len = ram_pages * 4096;
		assert_int_equal(gpc_hostmem_create(&hm), 0);
		cfg.scheme = scheme;
		cfg.hostmem = &gpc_hostmem_direct_ops;
		cfg.hostmem_ctx = hm;
		cfg.name = "cxx";
		assert_int_equal(gpc_vm_create(&cfg, &vm), 0);
		assert_int_equal(gpc_hostmem_alloc(hm, len, &p), 0);
		ram = static_cast<uint8_t *>(p);
		std::memset(ram, 0, len);
		assert_int_equal(
			gpc_memslot_create(vm, 0, gpa_base, len,
					   reinterpret_cast<uintptr_t>(ram), 0),
			0);
	}
	~env()
	{
		assert_int_equal(gpc_vm_destroy(vm), 0);
		assert_int_equal(gpc_hostmem_destroy(hm), 0);
	}
	env(const env &) = delete;
	env &operator=(const env &) = delete;
};

/*
 * struct gpc_cache holds std::atomic members in C++, so it is not copyable
 * and C++ constructs it; the library then initialises it as C does.
 */
struct host_cache {
	gpc_cache c;

	host_cache(env &e, uint64_t off, uint64_t len) : c()
	{
		assert_int_equal(gpc_cache_init(&c, e.vm, GPC_USAGE_HOST,
						nullptr, 0),
				 0);
		assert_int_equal(
			gpc_cache_activate_gpa(&c, gpa_base + off, len), 0);
	}
	~host_cache()
	{
		assert_int_equal(gpc_cache_destroy(&c), 0);
	}
	host_cache(const host_cache &) = delete;
	host_cache &operator=(const host_cache &) = delete;
};

gpc_scheme scheme_of(void **state)
{
	return *static_cast<gpc_scheme *>(*state);
}

gpc_scheme srcu_scheme = GPC_SCHEME_SRCU;
gpc_scheme rwlock_scheme = GPC_SCHEME_RWLOCK;

/* Store @v at @off through begin/end, inline or out of line on each side. */
void put(gpc_cache *c, uint64_t off, uint64_t v, bool ool_begin, bool ool_end)
{
	gpc_guard g;
	void *p = ool_begin ? gpc_cache_begin_ool(c, off, sizeof(v), &g) :
			      gpc_cache_begin(c, off, sizeof(v), &g);

	assert_non_null(p);
	std::memcpy(p, &v, sizeof(v));
	if (ool_end)
		gpc_cache_end_ool(c, &g);
	else
		gpc_cache_end(c, &g);
}

uint64_t get(gpc_cache *c, uint64_t off)
{
	uint64_t v = 0;

	assert_int_equal(gpc_cache_read(c, off, &v, sizeof(v)), 0);
	return v;
}

void compare_layout(const char *name, const gpc_layout_entry *t, size_t n)
{
	assert_int_equal(gpc_layout_c_count, n);
	for (size_t i = 0; i < n; i++) {
		const gpc_layout_entry &a = gpc_layout_c[i];
		const gpc_layout_entry &b = t[i];

		assert_string_equal(a.what, b.what);
		if (a.value != b.value)
			std::fprintf(stderr, "%s: C %zu, %s %zu\n", a.what,
				     a.value, name, b.value);
		assert_int_equal(a.value, b.value);
	}
}

void test_layout_matches_c(void **state)
{
	(void)state;
	compare_layout("C++", gpc_layout_cxx, gpc_layout_cxx_count);
}

/* What a binding generator sees (GPC_PLAIN_ATOMICS) is C's layout too. */
void test_layout_plain_matches_c(void **state)
{
	(void)state;
	compare_layout("GPC_PLAIN_ATOMICS", gpc_layout_plain,
		       gpc_layout_plain_count);
}

void test_cache_inline_and_ool(void **state)
{
	env e(scheme_of(state));
	host_cache hc(e, 0, e.len);
	gpc_cache *c = &hc.c;
	uint64_t v = 0;

	assert_int_equal(gpc_vm_scheme(e.vm), scheme_of(state));
	/* Every combination of inline and out-of-line begin and end. */
	for (int k = 0; k < 4; k++) {
		uint64_t off = 64 * static_cast<uint64_t>(k);

		put(c, off, 0x1000 + k, k & 1, k & 2);
		assert_int_equal(get(c, off), 0x1000 + k);
		std::memcpy(&v, e.ram + off, sizeof(v));
		assert_int_equal(v, 0x1000 + k);
	}
	/* try_begin: no writer, so it hits on both schemes. */
	{
		gpc_guard g;
		void *p = gpc_cache_try_begin_ool(c, 8, 8, &g);

		assert_ptr_equal(p, e.ram + 8);
		gpc_cache_end_ool(c, &g);
	}
	/* Out of range: a miss from both forms, with nothing held. */
	{
		gpc_guard g;

		assert_null(gpc_cache_begin(c, e.len - 4, 8, &g));
		assert_null(gpc_cache_begin_ool(c, e.len - 4, 8, &g));
		assert_null(gpc_cache_try_begin_ool(c, e.len, 1, &g));
	}
	/*
	 * A miss after an invalidation, from the out-of-line form; refresh
	 * makes it hit again.
	 */
	{
		uint64_t hva = reinterpret_cast<uintptr_t>(e.ram);
		gpc_guard g;

		assert_int_equal(gpc_invalidate_range_start(e.vm, hva,
							    hva + 4096, 0),
				 0);
		assert_null(gpc_cache_begin_ool(c, 0, 8, &g));
		assert_int_equal(
			gpc_invalidate_range_end(e.vm, hva, hva + 4096), 0);
		assert_int_equal(gpc_cache_refresh(c, 0), 0);
		put(c, 0, 42, true, true);
		assert_int_equal(get(c, 0), 42);
	}
}

void test_srcu_ool(void **state)
{
	env e(scheme_of(state));
	gpc_srcu *d = gpc_vm_srcu(e.vm);

	assert_non_null(d);
	assert_false(gpc_srcu_read_held_ool(d));
	gpc_srcu_slot *s = gpc_srcu_read_lock_ool(d);
	assert_non_null(s);
	assert_true(gpc_srcu_read_held_ool(d));
	assert_true(gpc_srcu_read_held(d));
	/* Nested, mixed: inline lock inside, out-of-line unlock. */
	assert_ptr_equal(gpc_srcu_read_lock(d), s);
	gpc_srcu_read_unlock_ool(d);
	assert_true(gpc_srcu_read_held_ool(d));
	/* The section is real: a grace period refuses to wait for itself. */
	assert_int_equal(gpc_srcu_synchronize(d), -EDEADLK);
	gpc_srcu_read_unlock(d);
	assert_false(gpc_srcu_read_held_ool(d));
	assert_int_equal(gpc_srcu_synchronize(d), 0);
}

void kick(gpc_vcpu *, void *)
{
}

void test_guest_ptr_ool(void **state)
{
	env e(scheme_of(state));
	gpc_vcpu *vcpu = nullptr;
	gpc_cache c{};

	assert_int_equal(gpc_vcpu_create(e.vm, kick, nullptr, &vcpu), 0);
	assert_int_equal(gpc_cache_init(&c, e.vm, GPC_USAGE_GUEST, vcpu, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(&c, gpa_base + 4096, 4096), 0);
	assert_ptr_equal(gpc_cache_guest_ptr_ool(&c, 16, 8), e.ram + 4096 + 16);
	assert_ptr_equal(gpc_cache_guest_ptr(&c, 16, 8),
			 gpc_cache_guest_ptr_ool(&c, 16, 8));
	assert_null(gpc_cache_guest_ptr_ool(&c, 4090, 8));
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_null(gpc_cache_guest_ptr_ool(&c, 16, 8));
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(gpc_vcpu_destroy(vcpu), 0);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_matches_c),
		cmocka_unit_test(test_layout_plain_matches_c),
		cmocka_unit_test_prestate(test_cache_inline_and_ool,
					  &srcu_scheme),
		cmocka_unit_test_prestate(test_cache_inline_and_ool,
					  &rwlock_scheme),
		cmocka_unit_test_prestate(test_srcu_ool, &srcu_scheme),
		cmocka_unit_test_prestate(test_srcu_ool, &rwlock_scheme),
		cmocka_unit_test_prestate(test_guest_ptr_ool, &srcu_scheme),
		cmocka_unit_test_prestate(test_guest_ptr_ool, &rwlock_scheme),
	};

	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
