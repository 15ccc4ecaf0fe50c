// SPDX-License-Identifier: MIT
/*
 * fuzz/harness.c - libFuzzer harness for the public API of libgpc: the
 * entry points, and the setup and teardown of one run.
 *
 * Each input is decoded (fuzz/fuzz_ops.h) into up to FZ_MAX_OPS calls on one
 * vm, all on one thread: memslot changes, cache init/activate/deactivate/
 * refresh/check/begin/read/write/copy, invalidations (blocking, with a host
 * memory change between range_start and range_end, left open for later ops,
 * and non-blocking), the host memory change helpers, a vCPU entering and
 * leaving guest mode, requests, fault injection, and bad inputs.
 *
 * After every call a reference model (struct model: plain C, no library
 * code) predicts the result and the state that follows, and the harness
 * compares: return codes, gpc_cache_check()/begin hits and misses, where a
 * hit points (direct stage: exactly the HVA; alias: a mapping with the same
 * contents), the bytes read, the bytes written (visible at the HVA), the
 * memslot generation, the invalidation sequence, counters, the vCPU's mode
 * and its kicks, and the test stage's live mappings (leaks). Test hooks
 * check invariants inside the calls: valid is cleared before a refresh
 * drops its lock, an inactive cache is never valid, every cache on the
 * pages of an invalidation is invalid before range_start waits, and a
 * refresh never publishes while an invalidation of its pages is in progress.
 *
 * One thread cannot wait for itself, so two stand-ins play the other
 * threads: the vCPU's kick callback records the kick and, while a blocking
 * call runs (rt.auto_exit), leaves guest mode as a vCPU thread would; the
 * REFRESH_RETRY hook ends the invalidations in progress, as the
 * invalidating thread eventually would, so a refresh that must wait for
 * them does not wait forever. The model knows both.
 *
 * Where the library may choose (a non-blocking invalidation on the srcu
 * scheme may or may not find its grace period complete), the model keeps
 * "maybe" and learns the answer from the call. Known, already reported
 * library bugs are avoided unless GPC_FUZZ_STRICT=1 (see docs/testing.md).
 *
 * On a mismatch the harness prints what it expected and what it got, then
 * traps, so libFuzzer saves the input.
 *
 * The files: fuzz_ops.h (the input encoding) and decoder.c (bytes to
 * arguments); model.c (the reference model) with hooklog.c (the hook calls
 * it replays); runtime.c (the library objects and callbacks); checks.c
 * (library against model); ops*.c (one file per group of operations,
 * dispatch in ops.c); layout.c and report.c below them all. Dependencies
 * point one way: harness -> ops -> checks -> runtime -> model -> hooklog
 * -> report; decoder and layout depend on nothing of the harness.
 *
 * GPC_FUZZ_VERBOSE=1 prints the op trace: each operation and each checked
 * result.
 *
 * Known issues. The default run steps around library bugs that were found
 * and reported but not fixed yet, so that it keeps finding new ones;
 * GPC_FUZZ_STRICT=1 checks them too. Each gate is an "if (!strict)" next to
 * a comment naming the issue; remove it when the bug is fixed. None is open
 * at the moment. Found by this harness and fixed since:
 *  - F1: an HVA area in the last page of the address space (hva + len does
 *    not wrap, its page-rounded end does) made index_set() calloc ~2^52
 *    nodes; now -EINVAL (e326497).
 *  - F2: a refresh published a page of an invalidation in progress when the
 *    invalidation's unaligned bytes missed the cache's bytes (e326497).
 *  - F3: a refresh publishes while an invalidation whose range ends in the
 *    last page of the address space (e.g. [0, UINT64_MAX)) is in progress:
 *    the page rounding of the in-progress range wraps to 0 (reported after
 *    e326497; the seed "inval-open" reaches it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "checks.h"
#include "decoder.h"
#include "hooklog.h"
#include "model.h"
#include "ops.h"
#include "report.h"
#include "runtime.h"

static void setup(uint8_t cfg)
{
	struct gpc_vm_config vc = { 0 };
	int err;

	memset(&rt.c, 0, sizeof(rt.c));
	memset(&m, 0, sizeof(m));
	memset(shadow, 0, sizeof(shadow));
	ev_reset();
	rt.nopen = 0;
	rt.kicks = 0;
	rt.logs = 0;
	m.held = -1;
	m.scheme = cfg & FZ_CFG_RWLOCK ? GPC_SCHEME_RWLOCK : GPC_SCHEME_SRCU;
	m.stage = !!(cfg & FZ_CFG_ALIAS);
	expect_err("gpc_hostmem_create", gpc_hostmem_create(&rt.hm), 0);
	for (int r = 0; r < NREG; r++) {
		void *p;

		expect_err("gpc_hostmem_alloc",
			   gpc_hostmem_alloc(rt.hm, reg_npages[r] * PG, &p), 0);
		rbase[r] = p;
		for (unsigned int i = 0; i < reg_npages[r]; i++) {
			struct mpage *pg = &m.pages[reg_first[r] + i];

			pg->prot = PROT_READ | PROT_WRITE;
			pg->file = (uint32_t)r + 1;
			pg->foff = i;
		}
	}
	m.next_file = NREG + 1;
	gpc_testmem_init(&rt.tm,
			 m.stage ? &gpc_hostmem_alias_ops :
				   &gpc_hostmem_direct_ops,
			 rt.hm);
	vc.scheme = m.scheme;
	vc.hostmem = &gpc_testmem_ops;
	vc.hostmem_ctx = &rt.tm;
	vc.max_memslots = MAX_SLOTS;
	vc.name = "fuzz";
	err = gpc_vm_create(&vc, &rt.vm);
	expect_err("gpc_vm_create", err, 0);
	m.gen = gpc_memslot_generation(rt.vm);
	expect_err("gpc_vm_set_hook", gpc_vm_set_hook(rt.vm, hook_fn, NULL), 0);
	expect_err("gpc_vcpu_create",
		   gpc_vcpu_create(rt.vm, kick_fn, NULL, &rt.v), 0);
	m.v.alive = true;
	if (!(cfg & FZ_CFG_NOSLOTS)) {
		expect_err("gpc_memslot_create",
			   gpc_memslot_create(rt.vm, 0, GBASE, 8 * PG,
					      (uintptr_t)rbase[0], 0),
			   0);
		expect_err("gpc_memslot_create",
			   gpc_memslot_create(rt.vm, 1, GBASE + 16 * PG, 4 * PG,
					      (uintptr_t)rbase[1], 0),
			   0);
		m.slots[0] = (struct mslot){ true, GBASE, 8 * PG,
					     (uintptr_t)rbase[0], 0 };
		m.slots[1] = (struct mslot){ true, GBASE + 16 * PG, 4 * PG,
					     (uintptr_t)rbase[1], 0 };
		m.gen += 2;
		m.st_slot_changes = 2;
	}
	if (cfg & FZ_CFG_MIRROR) {
		expect_err("gpc_memslot_set_mirror",
			   gpc_memslot_set_mirror(rt.vm, mirror_fn, NULL), 0);
		/* 0.2: a thin wrapper that never replaces a hook. */
		expect_err("gpc_memslot_set_mirror (installed)",
			   gpc_memslot_set_mirror(rt.vm, mirror_fn, NULL),
			   -EBUSY);
		m.mirror = true;
	}
	for (int i = 0; i < NC; i++) {
		unsigned int flags = 0;
		enum gpc_usage u = i == 3 ? GPC_USAGE_GUEST : GPC_USAGE_HOST;

		if (i == 1 && (cfg & FZ_CFG_RO1))
			flags = GPC_CACHE_READONLY;
		if (i == 2)
			flags = GPC_CACHE_COUNT_HITS;
		expect_err("gpc_cache_init",
			   gpc_cache_init(&rt.c[i], rt.vm, u,
					  i == 3 ? rt.v : NULL, flags),
			   0);
		m.c[i].state = CS_LIVE;
		m.c[i].usage = u;
		m.c[i].flags = flags;
	}
}

static void teardown(void)
{
	struct gpc_testmem_counts tc;

	cur_op.opname = "teardown";
	auto_exit = true;
	if (m.v.alive && m.v.mode != M_OUT) {
		gpc_vcpu_exit_guest(rt.v);
		m.v.mode = M_OUT;
	}
	m.seq += (uint64_t)m.nopen;
	m.nopen = 0;
	rt_end_all();
	check_state();
	check_stats();
	for (int i = 0; i < NC; i++) {
		if (m.c[i].state != CS_LIVE)
			continue;
		expect_err("gpc_cache_destroy", gpc_cache_destroy(&rt.c[i]), 0);
		if (m.c[i].active)
			m_deactivate(i);
		m.c[i].state = CS_DEAD;
		check_state();
	}
	if (m.v.alive) {
		expect_err("gpc_vcpu_destroy", gpc_vcpu_destroy(rt.v), 0);
		m.v.alive = false;
	}
	expect_err("gpc_srcu_barrier", gpc_srcu_barrier(gpc_vm_srcu(rt.vm)), 0);
	gpc_testmem_counts(&rt.tm, &tc);
	if (tc.live_maps)
		fail("%lld mappings leaked", (long long)tc.live_maps);
	verify_ram();
	expect_err("gpc_vm_destroy", gpc_vm_destroy(rt.vm), 0);
	expect_err("gpc_hostmem_destroy", gpc_hostmem_destroy(rt.hm), 0);
	if (rt.logs)
		fail("the library logged: %s", rt.logmsg);
	rt.vm = NULL;
	rt.hm = NULL;
	cur_op.opname = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *s = getenv("GPC_FUZZ_STRICT");
	const char *v = getenv("GPC_FUZZ_VERBOSE");

	/*
	 * libFuzzer passes every argument here before it parses its own flags
	 * (it would take "--version" for a corpus directory).
	 */
	for (int i = 1; i < *argc; i++) {
		if (!strcmp((*argv)[i], "--version")) {
			printf("fuzz_api libgpc %s\n", gpc_version());
			exit(0);
		}
	}
	strict = s && *s && strcmp(s, "0");
	verbose = v && *v && strcmp(v, "0");
	if ((uint64_t)sysconf(_SC_PAGESIZE) != PG) {
		fprintf(stderr, "fuzz_api: needs 4 KiB pages\n");
		exit(1);
	}
	guard = mmap(NULL, GUARD_PAGES * PG, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (guard == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	report_set_dump(dump_model);
	gpc_log_set_handler(log_fn, NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p, *end = data + size;

	if (size < 1)
		return 0;
	setup(data[0]);
	p = data + 1;
	for (cur_op.opno = 0; p < end && cur_op.opno < FZ_MAX_OPS;
	     cur_op.opno++) {
		uint8_t rec[FZ_REC];

		take_record(&p, end, rec);
		dispatch(rec, &p, end);
	}
	teardown();
	return 0;
}
