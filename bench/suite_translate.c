/* SPDX-License-Identifier: MIT */
/*
 * bench/suite_translate.c - suite 4, translation calls (gpc/translate.h):
 * what a gpc_translate_gpa() costs next to the gpc_memslot_lookup() a
 * caller would otherwise make, and next to the library's own table search
 * (the raw lookup, gpci_memslots_search, which both are built on), with 1
 * and 512 slots (512: the most a vhost-user front-end such as QEMU offers a
 * back-end). Contenders, each in a loop of its own over the same random
 * addresses (a random slot, a random offset in it):
 *  - lookup: gpc_memslot_lookup(), which enters and leaves the vm's read
 *    section itself and copies the slot out;
 *  - translate, own section: read_lock, gpc_translate_gpa(), read_unlock
 *    (one translation per section: the worst case for a caller);
 *  - translate, open section: gpc_translate_gpa() inside one section held
 *    across the loop (a back-end resolving a whole descriptor chain);
 *  - raw: the internal search inside the open section (no checks);
 *  - iov: gpc_translate_gpa_iov() with two entries, open section;
 *  - uaddr: gpc_translate_uaddr(), open section (binary search by user
 *    address);
 *  - hva: gpc_translate_hva_gpa(), open section (binary search by hva).
 * Rounds interleave the contenders (rotating order), median [min..max].
 * Called from suite 4 (suite_scale), whose memslot lookup rows these
 * extend; no writer runs, so every call must hit.
 */
#include <sys/uio.h>

#include "suite.h"

/* The library's internals, for the raw contender only. */
#include "memslot_priv.h"

#define TR_ADDRS   4096 /* a power of two */
#define TR_CONFIGS 2
#define TR_UADDR   0x7f0000000000ULL
#define TR_HVA	   0x100000000000ULL

enum tr_contender {
	TR_LOOKUP,
	TR_OWN,
	TR_OPEN,
	TR_RAW,
	TR_IOV,
	TR_UADDR_C,
	TR_HVA_C,
	NR_TR
};

static const char *const tr_name[NR_TR] = {
	"lookup", "own sect", "open sect", "raw", "iov", "uaddr", "hva",
};

static const unsigned int tr_count[TR_CONFIGS] = { 1, 512 };

struct tr_vm {
	unsigned int n;
	struct gpc_vm *vm;
	uint64_t gpa[TR_ADDRS], uaddr[TR_ADDRS], hva[TR_ADDRS];
	uint64_t iters[NR_TR];
	double ns[NR_TR][MAX_ROUNDS];
	double cpu[NR_TR][MAX_ROUNDS];
	struct mmm res[NR_TR], res_cpu[NR_TR];
};

static uint64_t tr_sink;

static int tr_setup(struct tr_vm *v, unsigned int n)
{
	struct gpc_vm_config cfg = { .scheme = GPC_SCHEME_SRCU,
				     .name = "translate" };
	int err;

	v->n = n;
	err = vm_create_unpinned(&cfg, &v->vm);
	if (err)
		return err;
	/* Slot i: one page at gpa GPA_BASE + 2i pages; hva and uaddr grow
	 * with it (never touched: translation does not access memory). */
	for (unsigned int i = 0; i < n; i++) {
		struct gpc_memslot_desc d = {
			.id = i,
			.gpa = GPA_BASE + 2ULL * i * page_size,
			.size = page_size,
			.hva = TR_HVA + 2ULL * i * page_size,
			.uaddr = TR_UADDR + 2ULL * i * page_size,
		};

		err = gpc_memslot_add(v->vm, &d);
		if (err)
			return err;
	}
	for (unsigned int i = 0; i < TR_ADDRS; i++) {
		uint64_t off = 2ULL * (rnd() % n) * page_size +
			       ((rnd() % page_size) & ~7ULL);

		v->gpa[i] = GPA_BASE + off;
		v->uaddr[i] = TR_UADDR + off;
		v->hva[i] = TR_HVA + off;
	}
	return 0;
}

/* Each loop: noinline and aligned, as the other suites' loops. */
#define TR_LOOP static __attribute__((noinline, aligned(64))) uint64_t

TR_LOOP loop_lookup(struct tr_vm *v, uint64_t n)
{
	struct gpc_memslot_info info;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		if (gpc_memslot_lookup(v->vm, v->gpa[i & (TR_ADDRS - 1)],
				       &info))
			abort();
		sum += info.hva;
	}
	return sum;
}

TR_LOOP loop_own(struct tr_vm *v, uint64_t n)
{
	struct gpc_srcu *d = gpc_vm_srcu(v->vm);
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t len = 8;
		void *p;

		gpc_srcu_read_lock(d);
		if (gpc_translate_gpa(v->vm, v->gpa[i & (TR_ADDRS - 1)], &len,
				      0, &p))
			abort();
		gpc_srcu_read_unlock(d);
		sum += (uintptr_t)p;
	}
	return sum;
}

TR_LOOP loop_open(struct tr_vm *v, uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t len = 8;
		void *p;

		if (gpc_translate_gpa(v->vm, v->gpa[i & (TR_ADDRS - 1)], &len,
				      0, &p))
			abort();
		sum += (uintptr_t)p;
	}
	return sum;
}

TR_LOOP loop_raw(struct tr_vm *v, uint64_t n)
{
	struct gpc_srcu_slot *rs = gpc_srcu_slot_of(gpc_vm_srcu(v->vm));
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		const struct gpci_memslot *s = gpci_memslots_search(
			gpci_memslot_table(v->vm), v->gpa[i & (TR_ADDRS - 1)],
			&rs->user[GPCI_SLOT_MEMSLOT_HINT]);

		if (!s)
			abort();
		sum += s->hva;
	}
	return sum;
}

TR_LOOP loop_iov(struct tr_vm *v, uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		struct iovec iov[2];

		if (gpc_translate_gpa_iov(v->vm, v->gpa[i & (TR_ADDRS - 1)], 8,
					  0, iov, 2, NULL) != 1)
			abort();
		sum += (uintptr_t)iov[0].iov_base;
	}
	return sum;
}

TR_LOOP loop_uaddr(struct tr_vm *v, uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t len = 8;
		void *p;

		if (gpc_translate_uaddr(v->vm, v->uaddr[i & (TR_ADDRS - 1)],
					&len, 0, &p))
			abort();
		sum += (uintptr_t)p;
	}
	return sum;
}

TR_LOOP loop_hva(struct tr_vm *v, uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t gpa;

		if (gpc_translate_hva_gpa(
			    v->vm,
			    (void *)(uintptr_t)v->hva[i & (TR_ADDRS - 1)], &gpa,
			    NULL))
			abort();
		sum += gpa;
	}
	return sum;
}

/* ns/op of @c over @n iterations, by the wall clock; *@cpu_op by the
 * thread's CPU time. */
static double tr_measure(struct tr_vm *v, enum tr_contender c, uint64_t n,
			 double *cpu_op)
{
	struct gpc_srcu *d = gpc_vm_srcu(v->vm);
	bool open = c >= TR_OPEN;
	uint64_t t0, t1, c0;

	if (open)
		gpc_srcu_read_lock(d);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = now_ns();
	switch (c) {
	case TR_LOOKUP:
		tr_sink += loop_lookup(v, n);
		break;
	case TR_OWN:
		tr_sink += loop_own(v, n);
		break;
	case TR_OPEN:
		tr_sink += loop_open(v, n);
		break;
	case TR_RAW:
		tr_sink += loop_raw(v, n);
		break;
	case TR_IOV:
		tr_sink += loop_iov(v, n);
		break;
	case TR_UADDR_C:
		tr_sink += loop_uaddr(v, n);
		break;
	default:
		tr_sink += loop_hva(v, n);
		break;
	}
	t1 = now_ns();
	if (cpu_op)
		*cpu_op = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) /
			  (double)n;
	if (open)
		gpc_srcu_read_unlock(d);
	return (double)(t1 - t0) / (double)n;
}

static uint64_t tr_calibrate(struct tr_vm *v, enum tr_contender c)
{
	uint64_t n = 1000;
	double ns;

	for (;;) {
		ns = tr_measure(v, c, n, NULL);
		if (ns * (double)n >= (double)opt.pilot_ns || n >= (1ULL << 32))
			break;
		n *= 4;
	}
	n = (uint64_t)((double)opt.target_ns / (ns > 0 ? ns : 0.01));
	return n < 1000 ? 1000 : n;
}

static void tr_report(struct tr_vm *v)
{
	FILE *f;

	printf("\ntranslation calls (gpc/translate.h) vs gpc_memslot_lookup, "
	       "ns/op, median [min..max] of %d rounds, random addresses\n",
	       ROUNDS);
	printf("%10s", "contender");
	for (int k = 0; k < TR_CONFIGS; k++)
		printf("  %4u slot%s %16s", v[k].n, v[k].n > 1 ? "s" : " ",
		       "[min..max]");
	printf("  %14s\n", "by CPU time");
	f = csv_open("translate.csv",
		     "contender,slots,ns_med,ns_min,ns_max,cpu_ns_med");
	for (int c = 0; c < NR_TR; c++) {
		printf("%10s", tr_name[c]);
		for (int k = 0; k < TR_CONFIGS; k++) {
			const struct mmm *m = &v[k].res[c];

			printf("  %10.2f [%6.2f..%7.2f]", m->med, m->min,
			       m->max);
			if (f)
				fprintf(f, "%s,%u,%.3f,%.3f,%.3f,%.3f\n",
					tr_name[c], v[k].n, m->med, m->min,
					m->max, v[k].res_cpu[c].med);
		}
		printf("  %6.2f %7.2f\n", v[0].res_cpu[c].med,
		       v[1].res_cpu[c].med);
	}
	csv_close(f);
	for (int k = 0; k < TR_CONFIGS; k++) {
		const struct mmm *r = v[k].res;
		char name[64];

		snprintf(name, sizeof(name), "translate_own_vs_lookup_%u",
			 v[k].n);
		ratio(name, r[TR_OWN].med / r[TR_LOOKUP].med);
		snprintf(name, sizeof(name), "translate_open_vs_lookup_%u",
			 v[k].n);
		ratio(name, r[TR_OPEN].med / r[TR_LOOKUP].med);
		snprintf(name, sizeof(name), "translate_open_vs_raw_%u",
			 v[k].n);
		ratio(name, r[TR_OPEN].med / r[TR_RAW].med);
	}
	ratio("translate_uaddr_vs_gpa_512",
	      v[1].res[TR_UADDR_C].med / v[1].res[TR_OPEN].med);
	ratio("translate_hva_vs_gpa_512",
	      v[1].res[TR_HVA_C].med / v[1].res[TR_OPEN].med);
	ratio("translate_iov_vs_gpa_512",
	      v[1].res[TR_IOV].med / v[1].res[TR_OPEN].med);
	/* A translation must not cost more than the lookup it replaces. */
	target("translate_own_vs_lookup_512",
	       v[1].res[TR_OWN].med / v[1].res[TR_LOOKUP].med, true, 1.0);
}

void suite_translate(void)
{
	struct tr_vm *v = calloc(TR_CONFIGS, sizeof(*v));
	int err = v ? 0 : -ENOMEM;

	for (int k = 0; !err && k < TR_CONFIGS; k++)
		err = tr_setup(&v[k], tr_count[k]);
	if (err) {
		fail("suite 4 translate setup", err);
		goto out;
	}
	for (int k = 0; k < TR_CONFIGS; k++)
		for (int c = 0; c < NR_TR; c++)
			v[k].iters[c] = tr_calibrate(&v[k], c);
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < TR_CONFIGS * NR_TR; i++) {
			int j = (i + r) % (TR_CONFIGS * NR_TR);
			struct tr_vm *x = &v[j / NR_TR];
			int c = j % NR_TR;

			x->ns[c][r] =
				tr_measure(x, c, x->iters[c], &x->cpu[c][r]);
		}
	for (int k = 0; k < TR_CONFIGS; k++)
		for (int c = 0; c < NR_TR; c++) {
			v[k].res[c] = mmm_of(v[k].ns[c]);
			v[k].res_cpu[c] = mmm_of(v[k].cpu[c]);
		}
	tr_report(v);
out:
	for (int k = 0; v && k < TR_CONFIGS; k++)
		if (v[k].vm)
			gpc_vm_destroy(v[k].vm);
	free(v);
}
