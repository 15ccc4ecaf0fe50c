// SPDX-License-Identifier: MIT
/*
 * examples/remap_demo.c - a first tour of libgpc.
 *
 * A VMM keeps a pointer into guest memory ("a cache") and several threads
 * write through it, while the host memory behind it is replaced from under
 * them. libgpc makes that safe: every access sits between gpc_cache_begin()
 * and gpc_cache_end(); when the memory changes, the cache is invalidated
 * and the next begin misses, and the thread refreshes the cache (or defers
 * the work) instead of writing to a page that is gone.
 *
 * Usage: remap_demo [rwlock] [alias]
 *   rwlock  readers hold a per-cache reader-writer lock (as KVM does)
 *           instead of the default SRCU + seqcount scheme;
 *   alias   the cache reaches the page through a mapping of its own (as a
 *           backend in another process would) instead of the VMM's address.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gpc/gpc.h>

#define SLOT_SIZE (1u << 20) /* two memslots of 1 MiB each */
#define GPA_SLOT0 0x00100000ull
#define GPA_SLOT1 0x00200000ull
#define GPA_AREA  (GPA_SLOT1 + 0x40) /* what we cache: 8 bytes per writer */
#define NWRITERS  3
#define NREMAPS	  5

static struct gpc_hostmem *hm; /* the guest RAM allocator */
static struct gpc_vm *vm;
static struct gpc_cache area; /* caches GPA_AREA; embed it, never copy it */
static void *ram[2];	      /* host addresses of the two slots */
static atomic_int stop, failed;
static atomic_ulong last[NWRITERS]; /* last value each writer stored */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Each writer stores an increasing count into its own 8-byte lane. */
static void *writer(void *arg)
{
	unsigned long id = (unsigned long)arg, n = 0;

	while (!atomic_load(&stop)) {
		struct gpc_guard g; /* carries read-side state to _end() */
		uint64_t *p = gpc_cache_begin(&area, id * 8, 8, &g);

		if (!p) {
			/*
			 * A miss: the cache was invalidated (a remap is in
			 * progress or happened). Nothing is held now. Refresh
			 * re-translates GPA -> host page; it may sleep, e.g.
			 * until the remap is over. (A context that must not
			 * sleep would defer the work instead.)
			 */
			int err = gpc_cache_refresh(&area, 0);

			if (err) {
				fprintf(stderr, "refresh: %s\n",
					strerror(-err));
				atomic_store(&failed, 1);
				atomic_store(&stop, 1);
				return NULL;
			}
			continue;
		}
		/* A hit: p stays good until gpc_cache_end(), guaranteed. */
		*p = ++n;
		gpc_cache_end(&area, &g);
		atomic_store(&last[id], n);
	}
	return NULL;
}

/* Replaces the page behind GPA_AREA with fresh, zeroed memory. */
static void *remapper(void *arg)
{
	long ps = sysconf(_SC_PAGESIZE);
	uint64_t hva = (uintptr_t)ram[1] + ((GPA_AREA - GPA_SLOT1) & ~(ps - 1));

	(void)arg;
	for (int i = 1; i <= NREMAPS; i++) {
		sleep_ms(20);
		/*
		 * Brackets the change with gpc_invalidate_range_start/_end,
		 * like a Linux MMU notifier: when range_start returns, no
		 * writer can still be using the old page.
		 */
		if (gpc_hostmem_remap(vm, hm, hva, (size_t)ps) == 0)
			printf("remap %d/%d: new page behind GPA %#llx\n", i,
			       NREMAPS, (unsigned long long)GPA_AREA);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct gpc_vm_config cfg = { .name = "demo" };
	pthread_t w[NWRITERS], r;
	struct gpc_vm_stats vs;
	struct gpc_cache_stats cs;
	unsigned long before[NWRITERS];
	int bad;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "rwlock"))
			cfg.scheme = GPC_SCHEME_RWLOCK;
		else if (!strcmp(argv[i], "alias"))
			cfg.hostmem = &gpc_hostmem_alias_ops;
	}
	/* 1. Guest RAM: memfd-backed, so the alias stage can map it too. */
	if (gpc_hostmem_create(&hm) ||
	    gpc_hostmem_alloc(hm, SLOT_SIZE, &ram[0]) ||
	    gpc_hostmem_alloc(hm, SLOT_SIZE, &ram[1]))
		return 1;
	/* 2. The vm and its memory map (stage 1: GPA -> host address). */
	cfg.hostmem_ctx = hm; /* the direct stage uses it for page identity */
	if (gpc_vm_create(&cfg, &vm) ||
	    gpc_memslot_create(vm, 0, GPA_SLOT0, SLOT_SIZE, (uintptr_t)ram[0],
			       0) ||
	    gpc_memslot_create(vm, 1, GPA_SLOT1, SLOT_SIZE, (uintptr_t)ram[1],
			       0))
		return 1;
	/* 3. A cache of NWRITERS * 8 bytes at GPA_AREA, used by host code. */
	if (gpc_cache_init(&area, vm, GPC_USAGE_HOST, NULL, 0) ||
	    gpc_cache_activate_gpa(&area, GPA_AREA, NWRITERS * 8))
		return 1;
	printf("scheme %s, %s stage\n",
	       cfg.scheme == GPC_SCHEME_RWLOCK ? "rwlock" : "srcu",
	       cfg.hostmem ? "alias" : "direct");

	/* 4. Writers and the remapper run together. */
	for (unsigned long i = 0; i < NWRITERS; i++)
		pthread_create(&w[i], NULL, writer, (void *)i);
	pthread_create(&r, NULL, remapper, NULL);
	pthread_join(r, NULL);
	/*
	 * Let every writer store again after the last remap: two more stores
	 * (the first may have begun before the remap finished).
	 */
	for (int i = 0; i < NWRITERS; i++)
		before[i] = atomic_load(&last[i]);
	for (int i = 0; i < NWRITERS; i++)
		while (atomic_load(&last[i]) < before[i] + 2 &&
		       !atomic_load(&stop))
			sleep_ms(1);
	atomic_store(&stop, 1);
	for (int i = 0; i < NWRITERS; i++)
		pthread_join(w[i], NULL);

	/* 5. Each lane of the current page holds its writer's last store. */
	bad = atomic_load(&failed);
	for (int i = 0; i < NWRITERS; i++) {
		uint64_t v;

		if (gpc_cache_read(&area, (uint64_t)i * 8, &v, 8))
			return 1;
		printf("writer %d: last stored %lu, page holds %llu\n", i,
		       atomic_load(&last[i]), (unsigned long long)v);
		bad |= v != atomic_load(&last[i]);
	}

	/* 6. What happened, in numbers. */
	gpc_vm_get_stats(vm, &vs);
	gpc_cache_get_stats(&area, &cs);
	printf("vm:    %llu hits, %llu misses, %llu refreshes, %llu "
	       "invalidations, %llu ns waiting for readers\n",
	       (unsigned long long)vs.hits, (unsigned long long)vs.misses,
	       (unsigned long long)vs.refreshes,
	       (unsigned long long)vs.invalidations,
	       (unsigned long long)vs.reader_wait_ns);
	printf("cache: %llu misses, %llu refreshes (%llu retried), %llu "
	       "invalidations, %llu maps, %llu unmaps\n",
	       (unsigned long long)cs.misses, (unsigned long long)cs.refreshes,
	       (unsigned long long)cs.refresh_retries,
	       (unsigned long long)cs.invalidations,
	       (unsigned long long)cs.maps, (unsigned long long)cs.unmaps);

	/* 7. Tear down in reverse: caches, then the vm, then the memory. */
	gpc_cache_destroy(&area);
	gpc_vm_destroy(vm);
	gpc_hostmem_destroy(hm);
	return bad;
}
