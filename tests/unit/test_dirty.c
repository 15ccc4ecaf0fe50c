// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_dirty.c - the dirty log (gpc/dirty.h).
 *
 * Each test runs on {srcu, rwlock} x {direct, alias} on the harness vm
 * (slot 0: 1 MiB at TVM_GPA_BASE, 256 pages of 4 KiB). Checked: bad input
 * (one errno per cause, no state change), the exact bits after writes,
 * copies, refreshes of writable caches and direct marks (the translate
 * helper's path, through gpci_dirty_mark), logging switched on and off on a
 * live slot, the vhost-user form on a slot whose gpa is not 64-page
 * aligned, the ordering that keeps a mapped cache's pages in the log (a
 * refresh parked between its mark and its publish while a harvest runs),
 * and concurrent writers against a harvesting thread: every write is found
 * in a harvest that did not end before it started and did not start after
 * the harvest following its end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "dirty_priv.h"
#include "harness.h"
#include "memslot_priv.h"
#include "test_common.h"

#define PG     GPC_DIRTY_PAGE_SIZE
#define NPAGES ((int)(TVM_RAM_SIZE / PG))
#define NWORDS (NPAGES / 64)
#define G0     TVM_GPA_BASE

struct fx {
	struct gpc_cache c[4];
	struct tvm t;
	struct gpc_vm *vm;
	void *ram1;
};

static int setup(void **state)
{
	const struct tvm_param *p = *state;
	struct fx *f = aligned_alloc(64, (sizeof(struct fx) + 63) & ~63ul);

	if (!f)
		return -1;
	memset(f, 0, sizeof(*f));
	if (tvm_setup(&f->t, p->scheme, p->stage))
		return -1;
	f->vm = f->t.vm;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int err;

	for (int i = 0; i < 4; i++)
		gpc_cache_destroy(&f->c[i]);
	gpc_memslot_delete(f->vm, 1);
	err = tvm_teardown(&f->t);
	free(f);
	return err ? -1 : 0;
}

static void log_on(struct fx *f)
{
	assert_int_equal(gpc_memslot_set_flags(f->vm, 0, GPC_MEMSLOT_LOG_DIRTY),
			 0);
}

/* A host-usage cache on page @page of slot 0, @len bytes. */
static struct gpc_cache *cache_at(struct fx *f, int i, unsigned int flags,
				  uint64_t page, uint64_t len)
{
	struct gpc_cache *c = &f->c[i];

	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, flags),
			 0);
	assert_int_equal(gpc_cache_activate_gpa(c, G0 + page * PG, len), 0);
	return c;
}

/* Harvest slot 0 and compare with exactly the pages @want (-1 ends). */
static void expect_pages(struct fx *f, const int *want)
{
	uint64_t bm[NWORDS], exp[NWORDS] = { 0 };
	int n = 0, ret;

	for (; *want >= 0; want++, n++)
		exp[*want / 64] |= 1ull << (*want % 64);
	memset(bm, 0xa5, sizeof(bm));
	ret = gpc_dirty_log_get_and_clear(f->vm, 0, bm, NWORDS);
	assert_int_equal(ret, n);
	for (int w = 0; w < NWORDS; w++)
		assert_int_equal(bm[w], exp[w]);
}

#define PAGES(...) ((const int[]){ __VA_ARGS__, -1 })
#define NONE	   ((const int[]){ -1 })

/* ---- bad input ----------------------------------------------------------- */

static void bad_input(void **state)
{
	struct fx *f = *state;
	uint64_t bm[NWORDS + 1];
	uint8_t log[64];

	assert_int_equal(gpc_dirty_log_get_and_clear(NULL, 0, bm, NWORDS),
			 -EINVAL);
	assert_int_equal(gpc_dirty_log_get_and_clear(f->vm, 0, NULL, NWORDS),
			 -EINVAL);
	assert_int_equal(gpc_dirty_log_harvest(NULL, 0, log, sizeof(log)),
			 -EINVAL);
	assert_int_equal(gpc_dirty_log_harvest(f->vm, 0, NULL, sizeof(log)),
			 -EINVAL);
	assert_int_equal(gpc_dirty_log_get_and_clear(f->vm, 9, bm, NWORDS),
			 -ENOENT);
	assert_int_equal(gpc_dirty_log_harvest(f->vm, 9, log, sizeof(log)),
			 -ENOENT);
	/* Slot 0 does not log yet. */
	assert_int_equal(gpc_dirty_log_get_and_clear(f->vm, 0, bm, NWORDS),
			 -ENODATA);
	assert_int_equal(gpc_dirty_log_harvest(f->vm, 0, log, sizeof(log)),
			 -ENODATA);
	assert_int_equal(gpc_memslot_set_flags(f->vm, 0, 1u << 7), -EINVAL);
	log_on(f);
	assert_int_equal(GPC_DIRTY_LOG_WORDS(TVM_RAM_SIZE), NWORDS);
	/* Short: the log is left alone (the mark survives). */
	cache_at(f, 0, 0, 3, 8);
	assert_int_equal(gpc_cache_deactivate(&f->c[0]), 0);
	assert_int_equal(gpc_dirty_log_get_and_clear(f->vm, 0, bm, NWORDS - 1),
			 -ENOSPC);
	/* Slot 0 ends at page (G0 + 1 MiB) / 4 KiB = 512: 64 bytes needed. */
	assert_int_equal(gpc_dirty_log_harvest(f->vm, 0, log, 63), -ENOSPC);
	{
		struct gpc_guard g;
		void *p = NULL;

		/* Inside a section of the vm's domain: the wait would hang. */
		gpc_srcu_read_lock(gpc_vm_srcu(f->vm));
		assert_int_equal(gpc_dirty_log_get_and_clear(f->vm, 0, bm,
							     NWORDS),
				 -EDEADLK);
		assert_int_equal(gpc_dirty_log_harvest(f->vm, 0, log, 64),
				 -EDEADLK);
		gpc_srcu_read_unlock(gpc_vm_srcu(f->vm));
		/* Inside a cache section, either scheme. */
		assert_int_equal(gpc_cache_init(&f->c[1], f->vm, GPC_USAGE_HOST,
						NULL, GPC_CACHE_READONLY),
				 0);
		assert_int_equal(gpc_cache_activate_gpa(&f->c[1], G0, 8), 0);
		p = gpc_cache_begin(&f->c[1], 0, 8, &g);
		assert_non_null(p);
		assert_int_equal(gpc_dirty_log_get_and_clear(f->vm, 0, bm,
							     NWORDS),
				 -EDEADLK);
		gpc_cache_end(&f->c[1], &g);
		assert_int_equal(gpc_cache_destroy(&f->c[1]), 0);
	}
	bm[NWORDS] = 42; /* past the slot's words: untouched */
	assert_int_equal(gpc_dirty_log_get_and_clear(f->vm, 0, bm, NWORDS + 1),
			 1);
	assert_int_equal(bm[0], 1ull << 3);
	assert_int_equal(bm[NWORDS], 42);
	expect_pages(f, NONE);
}

/* ---- what marks ---------------------------------------------------------- */

static void writes_and_copies(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *w, *r, *d;
	uint64_t v = 7;

	log_on(f);
	expect_pages(f, NONE);
	/* A read-only cache never marks, reading or refreshing. */
	r = cache_at(f, 0, GPC_CACHE_READONLY, 20, 16);
	assert_int_equal(gpc_cache_read(r, 0, &v, sizeof(v)), 0);
	expect_pages(f, NONE);
	/* A writable cache across a page boundary: both pages, mapped. */
	w = cache_at(f, 1, 0, 5, 2 * PG);
	assert_int_equal(gpc_cache_write(w, PG - 4, &v, 8), 0);
	expect_pages(f, PAGES(5, 6));
	expect_pages(f, PAGES(5, 6)); /* still mapped: still dirty */
	assert_int_equal(gpc_cache_deactivate(w), 0);
	expect_pages(f, PAGES(5, 6)); /* once more after unmapping */
	expect_pages(f, NONE);
	/* Copy: the destination only. */
	d = cache_at(f, 2, 0, 30, 64);
	assert_int_equal(gpc_cache_copy(d, 8, r, 0, 16), 0);
	assert_int_equal(gpc_cache_deactivate(d), 0);
	assert_int_equal(gpc_cache_deactivate(r), 0);
	expect_pages(f, PAGES(30));
	expect_pages(f, NONE);
	/*
	 * The inline fast path of a writable cache mapped and unmapped
	 * between two harvests: only its refresh marked.
	 */
	w = cache_at(f, 3, 0, 255, 8);
	{
		struct gpc_guard g;
		uint64_t *p = gpc_cache_begin(w, 0, 8, &g);

		assert_non_null(p);
		*p = 1;
		gpc_cache_end(w, &g);
	}
	assert_int_equal(gpc_cache_deactivate(w), 0);
	expect_pages(f, PAGES(255));
	expect_pages(f, NONE);
}

/* A guest-usage cache: written through guest_ptr while "in guest mode". */
static void guest_usage(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = &f->c[0];
	struct gpc_vcpu *v;
	uint64_t *p;

	log_on(f);
	assert_int_equal(gpc_vcpu_create(f->vm, NULL, NULL, &v), 0);
	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_GUEST, v, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(c, G0 + 90 * PG, 8), 0);
	assert_int_equal(gpc_vcpu_enter_guest(v), 0);
	p = gpc_cache_guest_ptr(c, 0, 8);
	assert_non_null(p);
	*p = 5;
	gpc_vcpu_exit_guest(v);
	assert_int_equal(gpc_cache_deactivate(c), 0);
	expect_pages(f, PAGES(90));
	expect_pages(f, NONE);
	assert_int_equal(gpc_cache_destroy(c), 0);
	assert_int_equal(gpc_vcpu_destroy(v), 0);
}

/*
 * A writable HVA-mode cache in the slot's memory: reported by the harvests
 * that find it mapped (its refresh looks no slot up: gpc/dirty.h).
 */
static void hva_mode(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = &f->c[0];
	uint64_t v = 9;

	log_on(f);
	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(
		gpc_cache_activate_hva(c, tvm_hva(&f->t, G0 + 95 * PG), 8), 0);
	assert_int_equal(gpc_cache_write(c, 0, &v, 8), 0);
	expect_pages(f, PAGES(95));
	assert_int_equal(gpc_cache_deactivate(c), 0);
	expect_pages(f, PAGES(95));
	expect_pages(f, NONE);
}

/* The translate helper's path: gpci_dirty_mark on the slot's bitmap. */
static void mark(struct fx *f, uint64_t off, uint64_t len)
{
	const struct gpci_memslots *t;
	struct gpc_srcu *d = gpc_vm_srcu(f->vm);

	gpc_srcu_read_lock(d);
	t = gpci_memslot_table(f->vm);
	for (unsigned int i = 0; i < t->n; i++)
		if (t->s[i].id == 0)
			gpci_dirty_mark(t->s[i].dirty, off, len);
	gpc_srcu_read_unlock(d);
}

static void direct_marks(void **state)
{
	struct fx *f = *state;

	mark(f, 0, 1); /* not logging: NULL bitmap, nothing */
	log_on(f);
	mark(f, PG - 1, 2);
	mark(f, 63 * PG, 1);
	mark(f, 64 * PG + 5, 0); /* empty */
	mark(f, 100 * PG, 3 * PG);
	mark(f, (NPAGES - 1) * PG + 10, 10 * PG); /* clamped */
	mark(f, NPAGES * PG, PG);		  /* past the end */
	mark(f, 200 * PG, UINT64_MAX);		  /* wraps: to the end */
	mark(f, 63 * PG + 1, 1);		  /* set already */
	{
		uint64_t bm[NWORDS];
		uint64_t want[NWORDS] = { 0 };

		want[0] = 3ull | 1ull << 63;
		want[1] = 7ull << (100 - 64);
		want[3] = ~0ull << (200 - 192);
		assert_int_equal(gpc_dirty_log_get_and_clear(f->vm, 0, bm,
							     NWORDS),
				 2 + 1 + 3 + 56);
		for (int i = 0; i < NWORDS; i++)
			assert_int_equal(bm[i], want[i]);
	}
	expect_pages(f, NONE);
}

/* ---- logging switched on a live slot ------------------------------------- */

static void set_flags_live(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *w;
	uint64_t v = 1;

	/* Written before logging: not reported. */
	w = cache_at(f, 0, 0, 40, 8);
	assert_int_equal(gpc_cache_write(w, 0, &v, 8), 0);
	assert_int_equal(gpc_cache_deactivate(w), 0);
	log_on(f);
	expect_pages(f, NONE);
	/* A cache mapped across the switch counts from the next harvest. */
	w = cache_at(f, 1, 0, 41, 8);
	assert_int_equal(gpc_memslot_set_flags(f->vm, 0, 0), 0);
	log_on(f);
	expect_pages(f, PAGES(41));
	assert_int_equal(gpc_cache_deactivate(w), 0);
	/* Logging off drops the bits; on again starts empty. */
	mark(f, 7 * PG, 1);
	assert_int_equal(gpc_memslot_set_flags(f->vm, 0, 0), 0);
	{
		uint64_t bm[NWORDS];

		assert_int_equal(gpc_dirty_log_get_and_clear(f->vm, 0, bm,
							     NWORDS),
				 -ENODATA);
	}
	log_on(f);
	expect_pages(f, NONE);
	/* Flags that keep logging keep the bits; so does a move. */
	mark(f, 9 * PG, 1);
	assert_int_equal(gpc_memslot_set_flags(f->vm, 0, GPC_MEMSLOT_LOG_DIRTY),
			 0);
	assert_int_equal(gpc_memslot_move(f->vm, 0, G0 + TVM_RAM_SIZE), 0);
	expect_pages(f, PAGES(9));
	assert_int_equal(gpc_memslot_move(f->vm, 0, G0), 0);
}

/* ---- the vhost-user form ------------------------------------------------- */

static void vhost_log(void **state)
{
	struct fx *f = *state;
	/* Page 515 = 8 * 64 + 3: neither 64- nor 8-page aligned. */
	const uint64_t gpa = 515 * PG, size = 70 * PG;
	const int pages[] = { 0, 1, 4, 5, 7, 8, 60, 61, 63, 64, 69 };
	uint8_t log[(515 + 70 + 7) / 8 + 1];
	uint64_t bm[2];
	void *ram;

	assert_int_equal(gpc_hostmem_alloc(f->t.hm, size, &ram), 0);
	assert_int_equal(gpc_memslot_create(f->vm, 1, gpa, size,
					    (uint64_t)(uintptr_t)ram,
					    GPC_MEMSLOT_LOG_DIRTY),
			 0);
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		struct gpc_cache *c = &f->c[0];
		uint64_t v = i;

		assert_int_equal(
			gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, 0), 0);
		assert_int_equal(gpc_cache_activate_gpa(
					 c, gpa + (uint64_t)pages[i] * PG, 8),
				 0);
		assert_int_equal(gpc_cache_write(c, 0, &v, 8), 0);
		assert_int_equal(gpc_cache_destroy(c), 0);
	}
	memset(log, 0, sizeof(log));
	log[0] = 0x81; /* the front-end's bits stay */
	log[sizeof(log) - 1] = 0x80;
	assert_int_equal(gpc_dirty_log_harvest(f->vm, 1, log, sizeof(log) - 2),
			 -ENOSPC);
	assert_int_equal(gpc_dirty_log_harvest(f->vm, 1, log, sizeof(log) - 1),
			 (int)(sizeof(pages) / sizeof(pages[0])));
	for (uint64_t p = 0; p < 8 * sizeof(log); p++) {
		bool want = p == 0 || p == 7 || p == 8 * sizeof(log) - 1;

		for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
			want |= p == 515 + (uint64_t)pages[i];
		if (want != !!(log[p / 8] & (1u << (p % 8))))
			fail_msg("page %llu: want %d", (unsigned long long)p,
				 want);
	}
	/* Taken: empty now, in either form. */
	assert_int_equal(gpc_dirty_log_get_and_clear(f->vm, 1, bm, 2), 0);
	assert_int_equal(bm[0] | bm[1], 0);
	assert_int_equal(gpc_memslot_delete(f->vm, 1), 0);
	gpc_hostmem_free(f->t.hm, ram, size);
}

/* ---- a harvest between a refresh's mark and its publish ------------------ */

static int refresh_thread(void *arg)
{
	return gpc_cache_activate_gpa(arg, G0 + 77 * PG, 8);
}

static void harvest_mid_refresh(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = &f->c[0];
	struct tstop *s;
	struct tbg bg;
	struct gpc_guard g;
	uint64_t *p;

	log_on(f);
	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, 0), 0);
	/* Parked after index insert + mark, before publish. */
	s = tstop_arm(&f->t, GPC_HOOK_REFRESH_UNLOCKED, c);
	tbg_start(&bg, refresh_thread, c);
	assert_true(tstop_wait(s));
	/* Takes the refresh's mark; must put it back (the cache is indexed). */
	expect_pages(f, PAGES(77));
	tstop_release(s);
	assert_int_equal(tbg_join(&bg), 0);
	p = gpc_cache_begin(c, 0, 8, &g);
	assert_non_null(p);
	*p = 3;
	gpc_cache_end(c, &g);
	assert_int_equal(gpc_cache_deactivate(c), 0);
	/* Without the second mark the write above would be lost here. */
	expect_pages(f, PAGES(77));
	expect_pages(f, NONE);
}

/* ---- concurrent writers and a harvester ---------------------------------- */

#define NWRITERS 3
#define MAXH	 100000
#define MAXREC	 200000

struct rec {
	uint32_t page, h0, h1; /* harvests completed before, started after */
};

struct conc {
	struct fx *f;
	struct gpc_cache caches[NWRITERS];
	_Atomic uint32_t started, completed;
	_Atomic bool stop;
	uint64_t (*harv)[NWORDS]; /* harv[k]: harvest k (1-based) */
	struct rec *recs[NWRITERS];
	size_t nrec[NWRITERS];
	_Atomic int err;
};

struct warg {
	struct conc *k;
	int i;
};

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int writer(void *arg)
{
	struct warg *a = arg;
	struct conc *k = a->k;
	struct gpc_cache *c = &k->caches[a->i];
	uint64_t seed = 0x9e3779b97f4a7c15ull * (a->i + 1), page = 0;
	long n = test_iters(20000);
	/* Its own word of the page: writers may pick the same page. */
	uint64_t off = 8 * (uint64_t)a->i;

	for (long it = 0; it < n && k->nrec[a->i] < MAXREC; it++) {
		uint32_t h0, h1;
		uint64_t v = it;
		int err = 0;

		if (it % 8 == 0) {
			page = xs(&seed) % NPAGES;
			/* Sometimes unmapped before the next harvest. */
			if (it % 16 == 0)
				gpc_cache_deactivate(c);
			err = gpc_cache_activate_gpa(c, G0 + page * PG, 64);
		}
		h0 = atomic_load(&k->completed);
		if (!err && (it & 1)) {
			err = gpc_cache_write(c, off, &v, 8);
		} else if (!err) {
			struct gpc_guard g;
			uint64_t *p = gpc_cache_begin(c, off, 8, &g);

			if (p) {
				*p = v;
				gpc_cache_end(c, &g);
			} else {
				err = gpc_cache_refresh(c, 0);
				continue; /* nothing written */
			}
		}
		if (err) {
			atomic_store(&k->err, err);
			return err;
		}
		h1 = atomic_load(&k->started);
		k->recs[a->i][k->nrec[a->i]++] =
			(struct rec){ (uint32_t)page, h0, h1 };
	}
	gpc_cache_deactivate(c);
	return 0;
}

static int harvester(void *arg)
{
	struct conc *k = arg;

	while (!atomic_load(&k->stop)) {
		uint32_t h = atomic_load(&k->started) + 1;
		int ret;

		if (h >= MAXH)
			break;
		atomic_store(&k->started, h);
		ret = gpc_dirty_log_get_and_clear(k->f->vm, 0, k->harv[h],
						  NWORDS);
		if (ret < 0) {
			atomic_store(&k->err, ret);
			return ret;
		}
		atomic_store(&k->completed, h);
	}
	return 0;
}

static void concurrent(void **state)
{
	struct fx *f = *state;
	struct conc *k = calloc(1, sizeof(*k));
	struct warg wa[NWRITERS];
	struct tbg wt[NWRITERS], ht;
	uint32_t last;
	size_t total = 0;

	assert_non_null(k);
	k->f = f;
	k->harv = calloc(MAXH + 1, sizeof(*k->harv));
	assert_non_null(k->harv);
	log_on(f);
	for (int i = 0; i < NWRITERS; i++) {
		k->recs[i] = calloc(MAXREC, sizeof(struct rec));
		assert_non_null(k->recs[i]);
		assert_int_equal(gpc_cache_init(&k->caches[i], f->vm,
						GPC_USAGE_HOST, NULL, 0),
				 0);
	}
	test_watchdog_arm(120, "dirty concurrent");
	tbg_start(&ht, harvester, k);
	for (int i = 0; i < NWRITERS; i++) {
		wa[i] = (struct warg){ k, i };
		tbg_start(&wt[i], writer, &wa[i]);
	}
	for (int i = 0; i < NWRITERS; i++)
		assert_int_equal(tbg_join(&wt[i]), 0);
	atomic_store(&k->stop, true);
	assert_int_equal(tbg_join(&ht), 0);
	test_watchdog_disarm();
	/* The harvest after everything. */
	last = atomic_load(&k->started) + 1;
	assert_true(last <= MAXH);
	assert_true(gpc_dirty_log_get_and_clear(f->vm, 0, k->harv[last],
						NWORDS) >= 0);
	for (int i = 0; i < NWRITERS; i++) {
		for (size_t j = 0; j < k->nrec[i]; j++) {
			struct rec *r = &k->recs[i][j];
			uint32_t hi = r->h1 + 1 < last ? r->h1 + 1 : last;
			bool found = false;

			for (uint32_t h = r->h0 + 1; h <= hi && !found; h++)
				found = k->harv[h][r->page / 64] >>
						(r->page % 64) &
					1;
			if (!found)
				fail_msg("writer %d write %zu to page %u "
					 "(harvests %u..%u) lost",
					 i, j, r->page, r->h0 + 1, hi);
		}
		total += k->nrec[i];
		gpc_cache_destroy(&k->caches[i]);
		free(k->recs[i]);
	}
	print_message("%zu writes, %u harvests\n", total, last);
	assert_true(total > 0);
	free(k->harv);
	free(k);
}

/*
 * A transaction that deletes a logging slot and adds it back unchanged,
 * while it changes another slot (a SET_MEM_TABLE that keeps one region and
 * replaces another): the kept slot is no change, and keeps its bits and its
 * logging; its bitmap is not leaked (LeakSanitizer).
 */
static void txn_readd_keeps_log(void **state)
{
	struct fx *f = *state;
	struct gpc_memslot_info i0, i1;
	struct gpc_memslot_desc d0, d1;
	struct gpc_memslot_txn *tx;
	void *ram;

	assert_int_equal(gpc_hostmem_alloc(f->t.hm, 4 * PG, &ram), 0);
	assert_int_equal(gpc_memslot_create(f->vm, 1, 515 * PG, 4 * PG,
					    (uint64_t)(uintptr_t)ram, 0),
			 0);
	log_on(f);
	mark(f, 5 * PG, 1);
	assert_int_equal(gpc_memslot_get(f->vm, 0, &i0), 0);
	assert_int_equal(gpc_memslot_get(f->vm, 1, &i1), 0);
	d0 = (struct gpc_memslot_desc){ .id = i0.id,
					.flags = i0.flags,
					.gpa = i0.gpa,
					.size = i0.size,
					.hva = i0.hva };
	d1 = (struct gpc_memslot_desc){ .id = i1.id,
					.flags = i1.flags,
					.gpa = i1.gpa,
					.size = i1.size,
					.hva = i1.hva };
	assert_int_equal(gpc_memslot_txn_begin(f->vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_delete(tx, 0), 0);
	assert_int_equal(gpc_memslot_txn_delete(tx, 1), 0);
	assert_int_equal(gpc_memslot_txn_add(tx, &d0), 0);
	d1.flags ^= GPC_MEMSLOT_READONLY;
	assert_int_equal(gpc_memslot_txn_add(tx, &d1), 0);
	assert_int_equal(gpc_memslot_txn_commit(tx), 0);
	expect_pages(f, PAGES(5));
	mark(f, 6 * PG, 1);
	expect_pages(f, PAGES(6));
}

/* A vm destroyed with a logging slot frees its bitmap (LeakSanitizer). */
static void destroy_logging(void **state)
{
	struct fx *f = *state;
	struct tvm t;

	(void)f;
	assert_int_equal(tvm_setup(&t, f->t.scheme, f->t.stage), 0);
	assert_int_equal(gpc_memslot_set_flags(t.vm, 0, GPC_MEMSLOT_LOG_DIRTY),
			 0);
	assert_int_equal(gpc_vm_set_hook(t.vm, NULL, NULL), 0);
	assert_int_equal(gpc_vm_destroy(t.vm), 0);
	t.vm = NULL;
	assert_int_equal(tvm_teardown(&t), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T4(bad_input),		 T4(writes_and_copies),
		T4(direct_marks),	 T4(set_flags_live),
		T4(vhost_log),		 T4(harvest_mid_refresh),
		T4(concurrent),		 T4(destroy_logging),
		T4(guest_usage),	 T4(hva_mode),
		T4(txn_readd_keeps_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
