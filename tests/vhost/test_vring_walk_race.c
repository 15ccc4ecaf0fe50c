// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vring_walk_race.c - the descriptor-chain walker
 * (src/vhost/vring_walk.h) while the guest rewrites the tables, on both
 * read-side schemes (the fixture, guest memory and its layout:
 * vring_walk_fixture.h): a thread rewrites descriptors (random, valid and
 * not) while the test thread walks random heads and uses what it gets,
 * and a third one deletes and re-adds slot 1; every success must satisfy
 * the invariants (pieces inside the slots' mappings, readable before
 * writable, counts and lengths consistent), every failure must be one of
 * the documented reasons with its errno.
 */
#include "vring_walk_fixture.h"

/* ---- concurrency: the guest rewrites the tables under the walker ----- */

struct race {
	struct fx *f;
	atomic_int stop;
	atomic_long rewrites, toggles;
};

/* A random descriptor: mostly plausible, sometimes anything. */
static void random_desc(struct fx *f, uint64_t *rng, uint64_t table,
			unsigned int i, unsigned int n)
{
	uint64_t r = test_rand(rng), addr;
	uint32_t len = (uint32_t)(r >> 8) % (2 * ps);
	uint16_t flags = (uint16_t)(r & 7), next = (uint16_t)((r >> 40) % n);

	switch ((r >> 3) & 7) {
	case 0: /* anything at all */
		addr = test_rand(rng);
		len = (uint32_t)test_rand(rng);
		next = (uint16_t)test_rand(rng);
		break;
	case 1: /* an indirect table */
		addr = test_rand(rng) & 1 ? IT : IT2;
		len = (uint32_t)((r >> 20) % 8) * 16;
		flags = INDIR | (r >> 30 & 1 ? NEXT : 0);
		break;
	case 2: /* across G1 */
		addr = G1 - (r >> 24) % 256;
		break;
	case 3: /* the read-only slot, or the hole */
		addr = (r >> 20 & 1 ? G2 : GHOLE - ps) + (r >> 24) % ps;
		break;
	default: /* buffers in slots 0 and 1 (never the table pages) */
		addr = (r >> 20 & 1 ? BUF : G1 + ps) +
		       (r >> 24) % ((SLOT_PAGES - 6) * ps);
		break;
	}
	set_desc(f, table, i, addr, len, flags, next);
}

static void *rewriter(void *arg)
{
	struct race *rc = arg;
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	while (!atomic_load(&rc->stop)) {
		uint64_t which = test_rand(&rng) % 3;
		uint64_t table = which == 0 ? G0 : which == 1 ? IT : IT2;
		unsigned int n = which == 0 ? NUM : 8;

		random_desc(rc->f, &rng, table,
			    (unsigned int)(test_rand(&rng) % n), n);
		atomic_fetch_add(&rc->rewrites, 1);
	}
	return NULL;
}

/* Slot 1 goes and comes back (the mapping stays: only the slot changes). */
static void *toggler(void *arg)
{
	struct race *rc = arg;

	while (!atomic_load(&rc->stop)) {
		if (gpc_memslot_delete(rc->f->vm, 1) ||
		    add_slot(rc->f, 1, G1, rc->f->m1, 0))
			break;
		atomic_fetch_add(&rc->toggles, 1);
		test_sleep_ms(1);
	}
	return NULL;
}

/* Is [p, p + n) inside one of the slots' mappings, and writable if @w? */
static bool inside(struct fx *f, const struct iovec *v, bool w)
{
	uintptr_t p = (uintptr_t)v->iov_base, e = p + v->iov_len;
	uint8_t *maps[3] = { f->m0, f->m1, f->m2 };

	for (int i = 0; i < (w ? 2 : 3); i++) {
		uintptr_t b = (uintptr_t)maps[i], end = b + SLOT_PAGES * ps;

		if (p >= b && e <= end && e > p)
			return true;
	}
	return false;
}

static void test_race(void **state)
{
	struct fx *f = *state;
	struct race rc = { .f = f };
	pthread_t th[2];
	long iters = 0, ok = 0, bad = 0, fails = 0;
	/* 1 s (scaled; less under TSan), and both helpers seen at work. */
	uint64_t end = test_now_ns() + (uint64_t)test_iters(1000) * 1000000;
	uint64_t rng = 12345;
	long per_reason[GPC_VHOST_WALK_NR_ERR] = { 0 };
	const char *why = "";

	test_watchdog_arm(60, "vring walk race");
	assert_int_equal(pthread_create(&th[0], NULL, rewriter, &rc), 0);
	assert_int_equal(pthread_create(&th[1], NULL, toggler, &rc), 0);
	while (test_now_ns() < end || atomic_load(&rc.toggles) < 2 ||
	       atomic_load(&rc.rewrites) < 1000) {
		struct gpc_vhost_chain c;
		struct iovec iov[8];
		unsigned int head = (unsigned int)(test_rand(&rng) % NUM);
		unsigned int cap = 1 + (unsigned int)(test_rand(&rng) % 8);
		uint64_t rl = 0, wl = 0;
		int r;

		const void *tp;

		gpc_srcu_read_lock(f->d);
		/* Half the walks in the datapath's form, when the table maps. */
		tp = head & 1 ? table_ptr(f, G0, NUM) : NULL;
		if (tp)
			r = gpc_vhost_walk_table(f->vm, tp, NUM, head, IND, iov,
						 cap, &c);
		else
			r = gpc_vhost_walk(f->vm, G0, NUM, head, IND, iov, cap,
					   &c);
		if (r == 0) {
			ok++;
			if (c.nr_read + c.nr_write > cap) {
				fails++;
				why = "more iovecs than the capacity";
			}
			for (unsigned int i = 0;
			     i < c.nr_read + c.nr_write && i < cap; i++) {
				bool w = i >= c.nr_read;

				if (!inside(f, &iov[i], w)) {
					fails++;
					why = "iovec outside the mappings";
					continue;
				}
				/* Use it as a device would. */
				if (w) {
					/*
					 * A buffer may lie on the descriptor
					 * table the rewriter stores to: guest
					 * memory is shared, so access it with
					 * relaxed atomics as the walker does.
					 */
					uint8_t *b = iov[i].iov_base;

					for (size_t k = 0; k < iov[i].iov_len;
					     k++)
						__atomic_store_n(
							&b[k], 0x5a,
							__ATOMIC_RELAXED);
					wl += iov[i].iov_len;
				} else {
					uint8_t *b = iov[i].iov_base;

					(void)__atomic_load_n(&b[0],
							      __ATOMIC_RELAXED);
					(void)__atomic_load_n(
						&b[iov[i].iov_len - 1],
						__ATOMIC_RELAXED);
					rl += iov[i].iov_len;
				}
			}
			if (rl != c.read_len || wl != c.write_len) {
				fails++;
				why = "lengths do not add up";
			}
		} else {
			bad++;
			if ((unsigned int)c.err >= GPC_VHOST_WALK_NR_ERR ||
			    c.err == GPC_VHOST_WALK_OK ||
			    r != gpc_vhost_walk_errno(c.err) ||
			    c.err == GPC_VHOST_WALK_BAD_ARGS ||
			    c.err == GPC_VHOST_WALK_NO_SECTION) {
				fails++;
				why = "an error that is not a guest's";
			} else {
				per_reason[c.err]++;
			}
		}
		gpc_srcu_read_unlock(f->d);
		iters++;
	}
	atomic_store(&rc.stop, 1);
	assert_int_equal(pthread_join(th[0], NULL), 0);
	assert_int_equal(pthread_join(th[1], NULL), 0);
	test_watchdog_disarm();
	print_message("%ld walks: %ld ok, %ld refused; %ld rewrites, %ld slot "
		      "toggles\n",
		      iters, ok, bad, atomic_load(&rc.rewrites),
		      atomic_load(&rc.toggles));
	if (fails)
		print_error("%ld failures; last: %s\n", fails, why);
	assert_int_equal(fails, 0);
	assert_true(ok > 0);
	assert_true(bad > 0);
	assert_true(per_reason[GPC_VHOST_WALK_ORDER] +
			    per_reason[GPC_VHOST_WALK_BUF_OUTSIDE] +
			    per_reason[GPC_VHOST_WALK_IOV_FULL] >
		    0);
}

int main(void)
{
	const struct CMUnitTest concurrency[] = {
		T2(test_race),
	};

	ps = (uint64_t)sysconf(_SC_PAGESIZE);
	return cmocka_run_group_tests_name("vring_walk concurrency",
					   concurrency, NULL, NULL);
}
