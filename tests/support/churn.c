// SPDX-License-Identifier: MIT
/*
 * tests/support/churn.c - the R18 churn engine (see churn.h for what is
 * changed under the writers and what must hold). Linked into every program
 * that includes churn.h; harness.h and test_common.h are static headers,
 * so this file has its own copies of the helpers it uses (none of them
 * keeps state across translation units: the log capture and the watchdog
 * are not used here).
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gpc/gpc.h>

#include "harness.h"
#include "test_common.h"
#include "churn.h"

#define CHURN_GPA_FAR 0x40000000ull /* where a moved slot goes */

const char *const churn_op_names[CHURN_NR_OPS] = {
	"unmap+remap", "remap",		"migrate",   "prot-none",
	"prot-read",   "slot-recreate", "slot-move",
};
struct churn_writer {
	struct churn_run *run;
	pthread_t thread;
	struct gpc_cache c;
	uint64_t gpa;
	long writes, misses, ok, efault, other;
	int last_other;
	uint64_t rng;
};

struct churn_run {
	struct tvm t;
	const struct churn_opts *o;
	struct churn_result *r;
	uint64_t pg;
	uint8_t *region[2]; /* A = t.ram, B = a second allocation */
	int cur;	    /* region slot 0 maps now */
	atomic_int stop;
	struct churn_writer w[CHURN_MAX_THREADS];
	/* Retired page of the last remap/migrate and what it held then. */
	const uint8_t *retired;
	uint8_t retired_copy[64];
	uint64_t rng;
};

/* ---- fault reporting ------------------------------------------------- */

static void churn_fault(int sig, siginfo_t *si, void *uc)
{
	char buf[96];
	int n;

	(void)uc;
	n = snprintf(buf, sizeof(buf),
		     "FATAL: signal %d accessing %p (stale cache pointer?)\n",
		     sig, si->si_addr);
	if (n > 0 && write(2, buf, (size_t)n) < 0)
		_exit(4);
	_exit(4);
}

/* Turn a stray access into a clear failure instead of a plain crash. */
void churn_catch_faults(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = churn_fault;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* ---- helpers ----------------------------------------------------------- */

static void churn_violation(struct churn_run *run, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void churn_violation(struct churn_run *run, const char *fmt, ...)
{
	va_list ap;

	if (run->r->violations++ == 0) {
		va_start(ap, fmt);
		vsnprintf(run->r->msg, sizeof(run->r->msg), fmt, ap);
		va_end(ap);
	}
}

static uint64_t churn_page_index(int i)
{
	return 3 * (uint64_t)i + 1;
}

static uint64_t churn_offset(int i)
{
	return 8 * (uint64_t)i;
}

static uint64_t churn_hva(struct churn_run *run, int reg, uint64_t page)
{
	return (uint64_t)(uintptr_t)run->region[reg] + page * run->pg;
}

/* Give the writers a chance to run into the changed state. */
static void churn_pause(struct churn_run *run)
{
	if (test_rand(&run->rng) & 1)
		sched_yield();
	else
		test_sleep_ms(1);
}

/* ---- writers ----------------------------------------------------------- */

/* Up to a few microseconds of busy waiting. */
void churn_spin(uint64_t *rng)
{
	for (uint64_t n = test_rand(rng) % 512; n; n--)
		gpc_cpu_relax();
}

/*
 * The only memory a writer touches is what gpc_cache_begin() hands out for
 * [0, 8, &g) of its own cache.
 */
static void *churn_writer_main(void *arg)
{
	struct churn_writer *w = arg;
	struct churn_run *run = w->run;
	struct gpc_guard g;

	while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
		volatile uint64_t *p = gpc_cache_begin(&w->c, 0, 8, &g);
		int err;

		if (p) {
			*p = w->gpa;
			/*
			 * Now and then stay inside the section a while and
			 * write again at its end: a change that did not wait
			 * for this reader would make this store fault or
			 * land in a page the cache no longer owns.
			 */
			if ((w->writes & 3) == 0) {
				churn_spin(&w->rng);
				*p = w->gpa;
			}
			gpc_cache_end(&w->c, &g);
			w->writes++;
			/* Leave gaps for rwlock writers (glibc prefers
			 * readers) and for the other threads on 2 cores. */
			if ((w->writes & 15) == 0)
				sched_yield();
			continue;
		}
		w->misses++;
		err = gpc_cache_refresh(&w->c, 0);
		if (!err) {
			w->ok++;
		} else if (err == -EFAULT) {
			w->efault++;
			sched_yield();
		} else {
			w->other++;
			w->last_other = err;
			sched_yield();
		}
	}
	return NULL;
}

/* ---- churn operations ------------------------------------------------- */

/* The retired copy of the last remap/migrate must not have changed. */
static void churn_check_retired(struct churn_run *run)
{
	if (run->retired &&
	    memcmp(run->retired, run->retired_copy, sizeof(run->retired_copy)))
		churn_violation(run,
				"retired page %p written after range_start",
				(const void *)run->retired);
	run->retired = NULL;
}

static void churn_note_retired(struct churn_run *run, uint64_t hva)
{
	const uint8_t *p = gpc_hostmem_retired_page(run->t.hm, hva);

	if (!p)
		return;
	run->retired = p;
	memcpy(run->retired_copy, p, sizeof(run->retired_copy));
}

static int churn_hostmem_op(struct churn_run *run, enum churn_op op,
			    uint64_t hva, size_t len)
{
	struct gpc_vm *vm = run->t.vm;
	struct gpc_hostmem *hm = run->t.hm;
	int err;

	switch (op) {
	case CHURN_UNMAP_REMAP:
		err = gpc_hostmem_unmap(vm, hm, hva, len);
		if (err)
			return err;
		churn_pause(run);
		return gpc_hostmem_remap(vm, hm, hva, len);
	case CHURN_REMAP:
		err = gpc_hostmem_remap(vm, hm, hva, len);
		if (!err)
			churn_note_retired(run, hva);
		return err;
	case CHURN_MIGRATE:
		err = gpc_hostmem_migrate(vm, hm, hva, len);
		if (!err)
			churn_note_retired(run, hva);
		return err;
	case CHURN_PROT_NONE:
	case CHURN_PROT_READ:
		err = gpc_hostmem_protect(vm, hm, hva, len,
					  op == CHURN_PROT_NONE ? PROT_NONE :
								  PROT_READ);
		if (err)
			return err;
		churn_pause(run);
		return gpc_hostmem_protect(vm, hm, hva, len,
					   PROT_READ | PROT_WRITE);
	default:
		return -EINVAL;
	}
}

static int churn_slot_op(struct churn_run *run, enum churn_op op)
{
	struct gpc_vm *vm = run->t.vm;
	int err;

	if (op == CHURN_SLOT_MOVE) {
		err = gpc_memslot_move(vm, 0, CHURN_GPA_FAR);
		if (err)
			return err;
		churn_pause(run);
		return gpc_memslot_move(vm, 0, TVM_GPA_BASE);
	}
	err = gpc_memslot_delete(vm, 0);
	if (err)
		return err;
	churn_pause(run);
	run->cur ^= 1;
	return gpc_memslot_create(vm, 0, TVM_GPA_BASE, TVM_RAM_SIZE,
				  churn_hva(run, run->cur, 0), 0);
}

/*
 * One change. Host memory changes pick 1-3 pages around a random writer's
 * page, mostly in the region the slot maps now, sometimes in the other one
 * (where the caches' old, generation-stale translations may still point).
 */
static void churn_step(struct churn_run *run)
{
	enum churn_op op = test_rand(&run->rng) % CHURN_NR_OPS;
	int i = test_rand(&run->rng) % run->o->threads;
	int reg = (test_rand(&run->rng) % 4) ? run->cur : !run->cur;
	uint64_t page = churn_page_index(i) - (test_rand(&run->rng) % 2);
	size_t len = (1 + test_rand(&run->rng) % 3) * run->pg;
	uint64_t t0 = test_now_ns(), dt;
	int err;

	churn_check_retired(run);
	if (op == CHURN_SLOT_RECREATE || op == CHURN_SLOT_MOVE)
		err = churn_slot_op(run, op);
	else
		err = churn_hostmem_op(run, op, churn_hva(run, reg, page), len);
	dt = test_now_ns() - t0;
	if (dt > run->r->max_op_ns)
		run->r->max_op_ns = dt;
	run->r->ops[op]++;
	if (err) {
		run->r->op_errors++;
		churn_violation(run, "churn op %s failed: %d",
				churn_op_names[op], err);
	}
}

/* ---- setup, final check ------------------------------------------------ */

static int churn_setup(struct churn_run *run)
{
	void *b;
	int err;

	err = tvm_setup(&run->t, run->o->scheme, run->o->stage);
	if (err)
		return err;
	run->pg = (uint64_t)sysconf(_SC_PAGESIZE);
	err = gpc_hostmem_alloc(run->t.hm, TVM_RAM_SIZE, &b);
	if (err)
		return err;
	run->region[0] = run->t.ram;
	run->region[1] = b;
	run->cur = 0;
	for (int i = 0; i < run->o->threads; i++) {
		struct churn_writer *w = &run->w[i];

		w->run = run;
		w->rng = run->rng + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		w->gpa = TVM_GPA_BASE + churn_page_index(i) * run->pg +
			 churn_offset(i);
		err = gpc_cache_init(&w->c, run->t.vm, GPC_USAGE_HOST, NULL, 0);
		if (!err)
			err = gpc_cache_activate_gpa(&w->c, w->gpa, 8);
		if (err)
			return err;
	}
	return 0;
}

/* Which cache owns byte offset @off of a region, or -1. */
static int churn_owner(struct churn_run *run, uint64_t off)
{
	uint64_t page = off / run->pg, in = off % run->pg;

	int i = (int)(page / 3);

	if (page % 3 != 1)
		return -1;
	if (i >= run->o->threads || in < churn_offset(i) ||
	    in >= churn_offset(i) + 8)
		return -1;
	return i;
}

static void churn_check_region(struct churn_run *run, int reg)
{
	const uint8_t *base = run->region[reg];

	for (uint64_t off = 0; off < TVM_RAM_SIZE; off += 8) {
		uint64_t v;
		int i;

		memcpy(&v, base + off, 8);
		if (!v)
			continue;
		i = churn_owner(run, off);
		if (i < 0 || v != run->w[i].gpa)
			churn_violation(run,
					"region %c offset %#" PRIx64
					" holds %#" PRIx64 " (owner %d)",
					'A' + reg, off, v, i);
	}
}

/* Everything read-write and mapped again, slot 0 at its base. */
static void churn_restore(struct churn_run *run)
{
	struct gpc_memslot_info info;

	for (int reg = 0; reg < 2; reg++)
		if (gpc_hostmem_protect(run->t.vm, run->t.hm,
					churn_hva(run, reg, 0), TVM_RAM_SIZE,
					PROT_READ | PROT_WRITE))
			churn_violation(run, "region %c is not fully mapped",
					'A' + reg);
	if (gpc_memslot_get(run->t.vm, 0, &info) || info.gpa != TVM_GPA_BASE)
		churn_violation(run, "slot 0 not restored");
}

static void churn_teardown(struct churn_run *run)
{
	for (int i = 0; i < run->o->threads; i++)
		if (run->w[i].run && gpc_cache_destroy(&run->w[i].c))
			churn_violation(run, "cache %d destroy failed", i);
	/*
	 * tvm_teardown() without its gpc_vm_set_hook(vm, NULL): the library
	 * leaks a replaced hook pair (src/vm.c), which would fail the soak's
	 * AddressSanitizer runs for a reason that is not this test's; the vm
	 * frees the hook it still has.
	 */
	gpc_memslot_delete(run->t.vm, 0);
	if (gpc_vm_destroy(run->t.vm))
		churn_violation(run, "vm destroy failed");
	gpc_hostmem_destroy(run->t.hm);
}

/* ---- the run --------------------------------------------------------- */

static void churn_collect(struct churn_run *run)
{
	struct churn_result *r = run->r;

	for (int i = 0; i < run->o->threads; i++) {
		struct churn_writer *w = &run->w[i];

		r->writes += w->writes;
		r->misses += w->misses;
		r->refresh_ok += w->ok;
		r->refresh_efault += w->efault;
		r->refresh_other += w->other;
		if (w->other) {
			r->last_other_err = w->last_other;
			churn_violation(run, "writer %d: refresh returned %d",
					i, w->last_other);
		}
	}
}

/*
 * Run one configuration. Returns 0 when it could be run at all (then
 * @r->violations says whether it passed), or a setup error.
 */
int churn_run(const struct churn_opts *o, struct churn_result *r)
{
	struct churn_run *run = calloc(1, sizeof(*run));
	uint64_t end;
	int err, started = 0;

	if (!run)
		return -ENOMEM;
	if (o->threads < 1 || o->threads > CHURN_MAX_THREADS) {
		free(run);
		return -EINVAL;
	}
	memset(r, 0, sizeof(*r));
	run->o = o;
	run->r = r;
	run->rng = o->seed ? o->seed : 0x9e3779b97f4a7c15ull;
	churn_catch_faults();
	err = churn_setup(run);
	for (int i = 0; !err && i < o->threads; i++, started++)
		if (pthread_create(&run->w[i].thread, NULL, churn_writer_main,
				   &run->w[i]))
			err = -EAGAIN;
	end = test_now_ns() + (uint64_t)(o->duration * 1e9);
	while (!err && test_now_ns() < end)
		churn_step(run);
	atomic_store(&run->stop, 1);
	for (int i = 0; i < started; i++)
		pthread_join(run->w[i].thread, NULL);
	if (!err) {
		churn_check_retired(run);
		churn_collect(run);
		churn_restore(run);
		churn_check_region(run, 0);
		churn_check_region(run, 1);
	}
	churn_teardown(run);
	free(run);
	return err;
}

void churn_print(FILE *f, const struct churn_opts *o,
		 const struct churn_result *r)
{
	fprintf(f,
		"churn %s/%s: %d writers, %.2f s: writes %ld misses %ld "
		"refresh ok %ld efault %ld other %ld; max op %.1f ms; ops",
		tvm_scheme_names[o->scheme],
		o->stage == TVM_ALIAS ? "alias" : "direct", o->threads,
		o->duration, r->writes, r->misses, r->refresh_ok,
		r->refresh_efault, r->refresh_other, r->max_op_ns / 1e6);
	for (int i = 0; i < CHURN_NR_OPS; i++)
		fprintf(f, " %s %ld", churn_op_names[i], r->ops[i]);
	fprintf(f, "; violations %ld%s%s\n", r->violations,
		r->violations ? ": " : "", r->violations ? r->msg : "");
}
