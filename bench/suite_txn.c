/* SPDX-License-Identifier: MIT */
/*
 * bench/suite_txn.c - bench_cache suite 9, memslot transactions (see
 * bench_cache.c for the conventions all suites follow).
 *
 * What a commit of N changes costs against the same N changes made one
 * call at a time, for N = 1, 8, 64, on a table of 256 slots: each single
 * call builds, publishes and waits a grace period of its own; a
 * transaction builds N working tables (one per step, O(slots) each, never
 * published) and publishes and waits once. The baseline is measured in the
 * same run, rounds interleaved. The change is a move of N slots by one
 * page (and back in the next round), so every round changes the layout.
 * No reader runs: a grace period is then the library's own minimum, the
 * case where the fixed cost per change matters most. Every wait is a
 * grace period without readers (bounded).
 */
#include "suite.h"

#define TXN_SLOTS 256
#define TXN_NS	  3

static const unsigned int txn_n[TXN_NS] = { 1, 8, 64 };

static uint64_t slot_gpa(unsigned int i)
{
	return GPA_BASE + (uint64_t)i * 2 * page_size;
}

/* N single moves of slots 0..n-1 by one page (@back: home again). */
static int singles(struct gpc_vm *vm, unsigned int n, bool back)
{
	for (unsigned int i = 0; i < n; i++) {
		int err = gpc_memslot_move(
			vm, i, slot_gpa(i) + (back ? 0 : page_size));

		if (err)
			return err;
	}
	return 0;
}

/* The same moves, one transaction. */
static int one_txn(struct gpc_vm *vm, unsigned int n, bool back)
{
	struct gpc_memslot_txn *tx;
	int err = gpc_memslot_txn_begin(vm, &tx);

	for (unsigned int i = 0; i < n && !err; i++)
		err = gpc_memslot_txn_move(
			tx, i, slot_gpa(i) + (back ? 0 : page_size));
	if (err) {
		gpc_memslot_txn_abort(tx);
		return err;
	}
	return gpc_memslot_txn_commit(tx);
}

/* ns of one call of @fn (a round trip: there and back, halved). */
static double time_round(int (*fn)(struct gpc_vm *, unsigned int, bool),
			 struct gpc_vm *vm, unsigned int n, int *err)
{
	unsigned int reps = opt.quick ? 4 : 16;
	uint64_t t0 = now_ns();

	for (unsigned int r = 0; r < reps && !*err; r++) {
		*err = fn(vm, n, false);
		if (!*err)
			*err = fn(vm, n, true);
	}
	return (double)(now_ns() - t0) / (2.0 * reps);
}

void suite_txn(void)
{
	double single[TXN_NS][MAX_ROUNDS], txn[TXN_NS][MAX_ROUNDS];
	struct gpc_vm *vm;
	int err = gpc_vm_create(NULL, &vm);

	if (err) {
		fail("gpc_vm_create", err);
		return;
	}
	for (unsigned int i = 0; i < TXN_SLOTS && !err; i++)
		err = gpc_memslot_create(vm, i, slot_gpa(i), page_size,
					 0x100000000ull + i * page_size, 0);
	for (int r = 0; r < ROUNDS && !err; r++) {
		for (int k = 0; k < TXN_NS && !err; k++) {
			single[k][r] = time_round(singles, vm, txn_n[k], &err);
			txn[k][r] = time_round(one_txn, vm, txn_n[k], &err);
		}
	}
	if (err) {
		fail("memslot changes", err);
		gpc_vm_destroy(vm);
		return;
	}
	printf("\nmemslot changes on %u slots: N single calls vs one "
	       "transaction of N (us, median [min..max] of %d rounds)\n",
	       TXN_SLOTS, ROUNDS);
	printf("%4s %24s %24s %8s\n", "N", "N single changes", "1 commit of N",
	       "ratio");
	for (int k = 0; k < TXN_NS; k++) {
		struct mmm s = mmm_of(single[k]), t = mmm_of(txn[k]);
		char name[64];

		printf("%4u %8.1f [%6.1f..%7.1f] %8.1f [%6.1f..%7.1f] %8.2f\n",
		       txn_n[k], s.med / 1e3, s.min / 1e3, s.max / 1e3,
		       t.med / 1e3, t.min / 1e3, t.max / 1e3, s.med / t.med);
		snprintf(name, sizeof(name), "txn_commit_%u_vs_%u_single",
			 txn_n[k], txn_n[k]);
		ratio(name, s.med / t.med);
		if (txn_n[k] == 1)
			/* A single call is a one-step transaction. */
			target(name, s.med / t.med, false, 0.8);
		else if (txn_n[k] == 64)
			/* One grace period instead of 64. */
			target(name, s.med / t.med, false, 4);
	}
	for (unsigned int i = 0; i < TXN_SLOTS; i++)
		gpc_memslot_delete(vm, i);
	gpc_vm_destroy(vm);
}
