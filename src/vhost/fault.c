// SPDX-License-Identifier: MIT
/*
 * src/vhost/fault.c - the back-end's guard against faults on guest memory
 * (fault.h has the what; this file the how).
 *
 * The registry is a fixed array of entries, written by control threads
 * and read by the signal handler, which may run on any thread at any
 * instruction, in the middle of another thread's registry update. So the
 * handler takes no lock and allocates nothing:
 *
 *  - an entry's state word is (generation << 2) | FREE/BUSY/LIVE. A control
 *    thread claims a FREE entry with a CAS to BUSY (a new generation),
 *    writes its range and publishes it with a release store of LIVE. The
 *    range never changes while the entry is LIVE, so the handler reads the
 *    state, the range, and the state again: the same word twice means the
 *    range it read is the one of that LIVE period (the generation defeats
 *    an entry freed and reused between the two reads);
 *  - what may change while LIVE - the kind (GUARD -> RETIRED -> ..., or
 *    DYING before munmap) and the device (NULL once it is destroyed) - is
 *    read by the handler as single atomics;
 *  - the handler counts itself in `active` for its whole run. A control
 *    thread that changes an entry's kind or device then waits until
 *    `active` is 0 (quiesce()): both sides use sequentially consistent
 *    operations (the control thread stores, then loads `active`; the
 *    handler increments `active`, then loads the kind), so either the
 *    handler sees the new kind, or the control thread sees the handler and
 *    waits for it. That is what makes the two dangerous moments safe: no
 *    handler maps a zero page into a range after its munmap() (where
 *    another mapping may already live), and none uses a device after
 *    gpc_vhost_dev_destroy() freed it.
 *
 * Why an entry appears before the memslot publishes the mapping, and
 * leaves only after munmap(): a datapath thread can reach the mapping
 * from the commit on, and the front-end may shrink the file at any time,
 * so the very first access may fault; an entry added after the publish
 * would leave a window where that fault kills the process. At the other
 * end, the mapping exists until munmap() returns, and the entry is
 * retired to DYING (the handler leaves it alone) only after the removal's
 * grace period and in-flight wait, when no legitimate access remains;
 * freeing it only after munmap() means that no other range can take the
 * entry (and be confused with this one by a handler that read it) while
 * the old mapping still exists.
 *
 * The repair: mmap(MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS) of the
 * faulting page (a hugetlbfs region's whole huge page: a VMA of huge
 * pages cannot be split below its page size) replaces the missing file
 * page with a zero page; the faulting instruction restarts and completes.
 * What the datapath then reads is zeros, which it treats as the
 * untrusted input it always is, until the control thread disconnects.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fault.h"

enum { E_FREE = 0, E_BUSY = 1, E_LIVE = 2 };
#define E_ST(s)	 ((s)&3u)
#define E_GEN(s) ((s) >> 2)

/* Beyond enum gpc_vhost_fault_kind: about to be unmapped, not ours. */
#define K_DYING 3u

/* Entry.pending / .logged bits. */
#define P_BUS	1u
#define P_STALE 2u

struct ent {
	_Atomic unsigned int state;
	_Atomic uintptr_t start, end, granule;
	_Atomic unsigned int kind;
	struct gpc_vhost_dev *_Atomic dev;
	/* An alias's region address (its start's), else 0; as the range. */
	_Atomic uintptr_t orig;
	_Atomic unsigned int pending; /* set by the handler, to log */
	/* Written while BUSY, read by the device's control thread. */
	uint32_t slot;
	uint64_t gpa;
	unsigned int logged; /* control thread only */
};

static struct ent reg[GPC_VHOST_FAULT_MAX];
/* Entries [0, hwm) were ever used: the handler scans no further. */
static _Atomic unsigned int hwm;
static _Atomic unsigned int nretired;
/* Handlers running now (see the file comment). */
static _Atomic int active;

/*
 * The handlers we chain to, [0] SIGBUS, [1] SIGSEGV: two copies, so that a
 * re-installation (install()) never rewrites the copy a running handler
 * may be reading.
 */
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction prev[2][2];
static _Atomic unsigned int prev_cur;
static _Atomic uintptr_t page_size;

bool gpc_vhost_fault_needs_guard(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	/* EINVAL: a file that cannot be sealed (tmpfs file, ext4, ...). */
	return seals < 0 || !(seals & F_SEAL_SHRINK);
}

static void quiesce(void)
{
	atomic_thread_fence(memory_order_seq_cst);
	while (atomic_load(&active))
		sched_yield();
}

/* Find the LIVE entry whose range holds @a; its kind, device, granule. */
static struct ent *lookup(uintptr_t a, unsigned int *kind,
			  struct gpc_vhost_dev **dev, uintptr_t *granule)
{
	unsigned int n = atomic_load(&hwm);

	for (unsigned int i = 0; i < n; i++) {
		struct ent *e = &reg[i];
		unsigned int s1 = atomic_load(&e->state), s2;
		uintptr_t lo, hi;

		if (E_ST(s1) != E_LIVE)
			continue;
		lo = atomic_load(&e->start);
		hi = atomic_load(&e->end);
		*granule = atomic_load(&e->granule);
		s2 = atomic_load(&e->state);
		if (s1 != s2 || a < lo || a >= hi)
			continue;
		*kind = atomic_load(&e->kind);
		*dev = atomic_load(&e->dev);
		return e;
	}
	return NULL;
}

static void wake(struct gpc_vhost_dev *d)
{
	uint64_t one = 1;

	/* Async-signal-safe; EAGAIN (counter full) still leaves it readable. */
	if (write(d->fault_fd, &one, sizeof(one)) < 0) {
	}
}

/* True if the fault was ours and the page is repaired. */
static bool repair(int sig, const siginfo_t *si)
{
	uintptr_t a = (uintptr_t)si->si_addr, g = atomic_load(&page_size), page;
	struct gpc_vhost_dev *d = NULL;
	unsigned int kind = 0;
	struct ent *e;
	void *p;

	/* Only the kernel's own reports: a kill(SIGBUS) is not a fault. */
	if (si->si_code <= 0)
		return false;
	if (sig == SIGBUS && si->si_code != BUS_ADRERR)
		return false; /* e.g. a hardware memory error: not a shrink */
	if (sig == SIGSEGV && si->si_code != SEGV_ACCERR)
		return false;
	e = lookup(a, &kind, &d, &g);
	if (!e || kind == K_DYING)
		return false;
	if (sig == SIGSEGV && kind != GPC_VHOST_FAULT_RETIRED)
		return false; /* a protection fault on live memory: not ours */
	page = a & ~(g - 1);
	p = mmap((void *)page, g, PROT_READ | PROT_WRITE,
		 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	if (kind == GPC_VHOST_FAULT_RETIRED) {
		atomic_fetch_or(&e->pending, P_STALE);
		if (d)
			gpc_vhost_inc(d, stale_accesses);
	} else {
		atomic_fetch_or(&e->pending, P_BUS);
		if (d) {
			gpc_vhost_inc(d, bus_faults);
			atomic_store(&d->fault_shrunk, true);
		}
	}
	if (d)
		wake(d);
	return true;
}

/* Not ours: what would have happened without us. */
static void chain(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *p =
		&prev[atomic_load(&prev_cur)][sig == SIGBUS ? 0 : 1];
	struct sigaction dfl;

	if (p->sa_flags & SA_SIGINFO) {
		if (p->sa_sigaction) {
			p->sa_sigaction(sig, si, uc);
			return;
		}
	} else if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
		p->sa_handler(sig);
		return;
	}
	/*
	 * Default (an ignored fault is not ignorable either): the default
	 * action, raised now, delivered when we return (the signal is
	 * blocked in its handler) - or, for a real fault, the restarted
	 * instruction faults again under the default action.
	 */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	bool ours;

	atomic_fetch_add(&active, 1);
	ours = repair(sig, si);
	atomic_fetch_sub(&active, 1);
	errno = saved;
	if (!ours)
		chain(sig, si, uc);
}

static bool is_ours(const struct sigaction *sa)
{
	return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_fault;
}

/*
 * Install the handler for SIGBUS and SIGSEGV, chaining to what was there.
 * Checked again at every registration: a program that installed its own
 * handler over ours since (cmocka does, around every test) gets ours back,
 * chaining to its own.
 */
static int install(void)
{
	static const int sigs[2] = { SIGBUS, SIGSEGV };
	struct sigaction cur[2], sa;
	unsigned int old, nxt;
	int err = 0;

	pthread_mutex_lock(&install_lock);
	if (sigaction(SIGBUS, NULL, &cur[0]) ||
	    sigaction(SIGSEGV, NULL, &cur[1])) {
		err = -errno;
		goto out;
	}
	if (is_ours(&cur[0]) && is_ours(&cur[1]))
		goto out;
	atomic_store(&page_size, (uintptr_t)sysconf(_SC_PAGESIZE));
	old = atomic_load(&prev_cur);
	nxt = !old;
	for (int i = 0; i < 2; i++)
		prev[nxt][i] = is_ours(&cur[i]) ? prev[old][i] : cur[i];
	atomic_store(&prev_cur, nxt);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 2 && !err; i++)
		if (!is_ours(&cur[i]) && sigaction(sigs[i], &sa, NULL))
			err = -errno;
out:
	pthread_mutex_unlock(&install_lock);
	return err;
}

static uintptr_t granule_of(int fd)
{
	struct statfs sfs;

	if (!fstatfs(fd, &sfs) && sfs.f_type == HUGETLBFS_MAGIC &&
	    sfs.f_bsize > 0)
		return (uintptr_t)sfs.f_bsize;
	return atomic_load(&page_size);
}

/*
 * Claim and publish an entry (the budget of retired regions aside); the
 * caller ran install().
 */
static int add(struct gpc_vhost_dev *d, void *map, size_t len,
	       uintptr_t granule, uint32_t slot, uint64_t gpa,
	       enum gpc_vhost_fault_kind kind, const void *orig)
{
	for (unsigned int i = 0; i < GPC_VHOST_FAULT_MAX; i++) {
		struct ent *e = &reg[i];
		unsigned int s = atomic_load(&e->state), busy, n;

		if (E_ST(s) != E_FREE)
			continue;
		busy = ((E_GEN(s) + 1) << 2) | E_BUSY;
		if (!atomic_compare_exchange_strong(&e->state, &s, busy))
			continue;
		atomic_store(&e->start, (uintptr_t)map);
		atomic_store(&e->end, (uintptr_t)map + len);
		atomic_store(&e->granule, granule);
		atomic_store(&e->kind, (unsigned int)kind);
		atomic_store(&e->dev, d);
		atomic_store(&e->orig, (uintptr_t)orig);
		atomic_store(&e->pending, 0);
		e->slot = slot;
		e->gpa = gpa;
		e->logged = 0;
		atomic_store_explicit(&e->state, (busy & ~3u) | E_LIVE,
				      memory_order_release);
		n = atomic_load(&hwm);
		while (n < i + 1 &&
		       !atomic_compare_exchange_weak(&hwm, &n, i + 1))
			;
		return (int)i;
	}
	return -ENOSPC;
}

int gpc_vhost_fault_add(struct gpc_vhost_dev *d, void *map, size_t len, int fd,
			uint32_t slot, uint64_t gpa,
			enum gpc_vhost_fault_kind kind)
{
	int h;

	if (kind == GPC_VHOST_FAULT_RETIRED &&
	    atomic_load(&nretired) >= GPC_VHOST_FAULT_MAX / 2)
		return -ENOSPC;
	/* install() first: granule_of() needs the page size it sets. */
	h = install();
	if (h)
		return h;
	h = add(d, map, len, granule_of(fd), slot, gpa, kind, NULL);
	if (h >= 0 && kind == GPC_VHOST_FAULT_RETIRED)
		atomic_fetch_add(&nretired, 1);
	return h;
}

/* ---- IOTLB aliases (CHECK_STALE) --------------------------------------- */

/* An alias entry's slot: its gpa is the IOVA of the IOTLB entry. */
#define SLOT_IOVA UINT32_MAX

/*
 * The retired aliases still kept, oldest first (a ring): process-wide, as
 * the registry they sit in, under their own lock (devices' control threads).
 */
static pthread_mutex_t alias_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kept_alias {
	void *map;
	size_t len;
	int h;
} kept[GPC_VHOST_FAULT_ALIAS_KEEP];
static unsigned int kept_head, kept_n;

int gpc_vhost_fault_alias_map(struct gpc_vhost_dev *d, void *hva, size_t len,
			      int fd, uint64_t iova, void **alias, int *handle)
{
	void *p;
	int h = install();

	if (h)
		return h;
	/*
	 * Old size 0 on a MAP_SHARED mapping: a second mapping of the same
	 * pages (no fd needed, no copy), which can go PROT_NONE alone.
	 */
	p = mremap(hva, 0, len, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -errno;
	/*
	 * Registered as live: a file shrunk under the region faults through
	 * the alias too (for a sealed region the entry only waits to retire).
	 */
	h = add(d, p, len, granule_of(fd), SLOT_IOVA, iova,
		GPC_VHOST_FAULT_GUARD, hva);
	if (h < 0) {
		munmap(p, len);
		return h;
	}
	*alias = p;
	*handle = h;
	return 0;
}

static void unmap_entry(void *map, size_t len, int h)
{
	gpc_vhost_fault_unmapping(h);
	munmap(map, len);
	gpc_vhost_fault_del(h);
}

void gpc_vhost_fault_alias_unmap(void *alias, size_t len, int handle)
{
	unmap_entry(alias, len, handle);
}

void gpc_vhost_fault_alias_retire(void *alias, size_t len, int handle)
{
	struct kept_alias old = { 0 };

	atomic_store(&reg[handle].kind, GPC_VHOST_FAULT_RETIRED);
	quiesce(); /* no handler still repairs it as live */
	mprotect(alias, len, PROT_NONE);
	pthread_mutex_lock(&alias_lock);
	if (kept_n == GPC_VHOST_FAULT_ALIAS_KEEP) {
		old = kept[kept_head];
		kept_head = (kept_head + 1) % GPC_VHOST_FAULT_ALIAS_KEEP;
		kept_n--;
	}
	kept[(kept_head + kept_n++) % GPC_VHOST_FAULT_ALIAS_KEEP] =
		(struct kept_alias){ alias, len, handle };
	pthread_mutex_unlock(&alias_lock);
	/* The oldest goes: a late access to it now crashes (SEGV_MAPERR). */
	if (old.map)
		unmap_entry(old.map, old.len, old.h);
}

/*
 * As lookup(), for aliases only, and of any kind: an entry's range and
 * region address are fixed for its LIVE period (its generation), and the
 * entry stays LIVE until the alias is unmapped, well after the in-flight
 * wait of the invalidation that dropped it from the IOTLB table.
 */
bool gpc_vhost_fault_alias_origin(const void *p, const void **hva, size_t *len)
{
	unsigned int n = atomic_load(&hwm);
	uintptr_t a = (uintptr_t)p;

	for (unsigned int i = 0; i < n; i++) {
		struct ent *e = &reg[i];
		unsigned int s1 = atomic_load(&e->state), s2;
		uintptr_t lo, hi, orig;

		if (E_ST(s1) != E_LIVE)
			continue;
		lo = atomic_load(&e->start);
		hi = atomic_load(&e->end);
		orig = atomic_load(&e->orig);
		s2 = atomic_load(&e->state);
		if (s1 != s2 || !orig || a < lo || a >= hi)
			continue;
		*hva = (const void *)(orig + (a - lo));
		*len = hi - a;
		return true;
	}
	return false;
}

unsigned int gpc_vhost_fault_aliases_kept(void)
{
	unsigned int n;

	pthread_mutex_lock(&alias_lock);
	n = kept_n;
	pthread_mutex_unlock(&alias_lock);
	return n;
}

int gpc_vhost_fault_retire(int h)
{
	if (atomic_load(&nretired) >= GPC_VHOST_FAULT_MAX / 2) {
		gpc_vhost_fault_unmapping(h);
		gpc_vhost_fault_del(h);
		return -ENOSPC;
	}
	atomic_fetch_add(&nretired, 1);
	atomic_store(&reg[h].kind, GPC_VHOST_FAULT_RETIRED);
	/* No handler still repairs it as live (and counts a bus fault). */
	quiesce();
	return 0;
}

void gpc_vhost_fault_unmapping(int h)
{
	atomic_store(&reg[h].kind, K_DYING);
	quiesce();
}

void gpc_vhost_fault_del(int h)
{
	struct ent *e = &reg[h];
	unsigned int s = atomic_load(&e->state);

	atomic_store(&e->dev, NULL);
	atomic_store_explicit(&e->state, (s & ~3u) | E_FREE,
			      memory_order_release);
}

bool gpc_vhost_fault_poll(struct gpc_vhost_dev *d)
{
	unsigned int n = atomic_load(&hwm);
	bool shrunk, said = false;
	uint64_t v;

	if (read(d->fault_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a spurious wake-up; the scan below is harmless. */
	}
	shrunk = atomic_exchange(&d->fault_shrunk, false);
	for (unsigned int i = 0; i < n; i++) {
		struct ent *e = &reg[i];
		unsigned int p;

		if (E_ST(atomic_load(&e->state)) != E_LIVE ||
		    atomic_load(&e->dev) != d)
			continue;
		p = atomic_exchange(&e->pending, 0) & ~e->logged;
		if (e->slot == SLOT_IOVA) {
			if (p & P_BUS)
				gpc_vhost_log(d, GPC_VHOST_LOG_ERR,
					      "a region's file shrank under "
					      "the IOTLB entry at IOVA 0x%llx: "
					      "disconnecting",
					      (unsigned long long)e->gpa);
			if (p & P_STALE)
				gpc_vhost_log(
					d, GPC_VHOST_LOG_ERR,
					"IOVA 0x%llx accessed after its IOTLB "
					"invalidation (%llu stale accesses so "
					"far)",
					(unsigned long long)e->gpa,
					(unsigned long long)atomic_load(
						&d->st.stale_accesses));
			said |= p & P_BUS;
			e->logged |= p;
			continue;
		}
		if (p & P_BUS) {
			gpc_vhost_log(d, GPC_VHOST_LOG_ERR,
				      "region %u's file shrank under its "
				      "mapping: disconnecting (guest 0x%llx, "
				      "%llu bus faults so far)",
				      e->slot, (unsigned long long)e->gpa,
				      (unsigned long long)atomic_load(
					      &d->st.bus_faults));
			said = true;
		}
		if (p & P_STALE)
			gpc_vhost_log(
				d, GPC_VHOST_LOG_ERR,
				"region %u (guest 0x%llx) accessed after "
				"its removal (%llu stale accesses so far)",
				e->slot, (unsigned long long)e->gpa,
				(unsigned long long)atomic_load(
					&d->st.stale_accesses));
		e->logged |= p;
	}
	/* Its entry may be gone already (the region removed since). */
	if (shrunk && !said)
		gpc_vhost_log(d, GPC_VHOST_LOG_ERR,
			      "a region's file shrank under its mapping: "
			      "disconnecting");
	return shrunk;
}

void gpc_vhost_fault_forget(struct gpc_vhost_dev *d)
{
	unsigned int n = atomic_load(&hwm);
	bool any = false;

	for (unsigned int i = 0; i < n; i++) {
		struct gpc_vhost_dev *want = d;

		if (atomic_compare_exchange_strong(&reg[i].dev, &want, NULL))
			any = true;
	}
	if (any)
		quiesce(); /* no handler still holds d */
}

unsigned int gpc_vhost_fault_count(const struct gpc_vhost_dev *d,
				   enum gpc_vhost_fault_kind kind)
{
	unsigned int n = atomic_load(&hwm), c = 0;

	for (unsigned int i = 0; i < n; i++)
		if (E_ST(atomic_load(&reg[i].state)) == E_LIVE &&
		    atomic_load(&reg[i].dev) == d &&
		    atomic_load(&reg[i].kind) == (unsigned int)kind)
			c++;
	return c;
}
