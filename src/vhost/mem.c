// SPDX-License-Identifier: MIT
/*
 * src/vhost/mem.c - the front-end's memory: SET_MEM_TABLE, ADD_MEM_REG,
 * REM_MEM_REG (GET_MAX_MEM_SLOTS is answered by the dispatcher).
 *
 * Each region's fd is mapped here, MAP_SHARED, [mmap_offset, + size), and
 * entered as one libgpc memslot over that mapping (the direct stage) with
 * the region's guest-physical address as its GPA and the front-end's
 * userspace_addr as its user address: the walker translates buffers by
 * GPA, queue.c resolves SET_VRING_ADDR's user addresses with
 * gpc_translate_uaddr_gpa(). Overlaps are libgpc's to find (-EADDRINUSE
 * for guest ranges, -ENOTUNIQ for user ranges), so no second copy of the
 * table's rules lives here.
 *
 * SET_MEM_TABLE is one transaction: the regions it drops are deleted and
 * the new ones added in one publish, so a datapath thread sees the old
 * table or the new one, never a table with neither (QEMU resends the whole
 * table on every change; a region present in both is kept as it is, its
 * mapping untouched, and the new fd for it closed).
 *
 * Removal of a region (the order is the protocol; docs/vhost.md has the
 * argument):
 *   1. commit the delete - no translation made after it finds the region;
 *   2. the commit's grace period (gpc_memslot_txn_commit() waits it) - no
 *      read section that could have found it is still running, so nothing
 *      still uses a pointer into it *inside* a section, and every request
 *      submitted with such a pointer has been counted (its count is taken
 *      inside the section that walked it);
 *   3. gpc_vhost_epoch_wait() - the requests submitted before step 2 ended
 *      and still held by the device (I/O in the kernel) have completed;
 *   4. munmap (or, with GPC_VHOST_F_CHECK_STALE, mprotect(PROT_NONE), kept
 *      mapped so that a late access faults instead of reading whatever is
 *      mapped there next), close the fd;
 *   5. the reply (the dispatcher, when this returns).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gpc/memslot.h"

#include "dev_priv.h"
#include "ext.h"
#include "fault.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int gpc_vhost_mem_init(struct gpc_vhost_dev *d)
{
	d->nslot_ids = GPC_VHOST_MAX_MEM_SLOTS + GPC_VHOST_MAX_REGIONS;
	d->regions = calloc(GPC_VHOST_MAX_MEM_SLOTS, sizeof(*d->regions));
	d->slot_used = calloc(d->nslot_ids, 1);
	if (!d->regions || !d->slot_used)
		return -ENOMEM;
	return 0;
}

void gpc_vhost_mem_fini(struct gpc_vhost_dev *d)
{
	free(d->regions);
	free(d->slot_used);
	d->regions = NULL;
	d->slot_used = NULL;
}

static int alloc_slot_id(struct gpc_vhost_dev *d)
{
	for (unsigned int i = 0; i < d->nslot_ids; i++)
		if (!d->slot_used[i]) {
			d->slot_used[i] = 1;
			return (int)i;
		}
	return -ENOSPC;
}

/*
 * A region whose file can shrink under the mapping (no F_SEAL_SHRINK:
 * files, hugetlbfs, unsealed memfds) is registered with the fault guard
 * (fault.h) here, after mmap() and before the memslot publishes it: from
 * the publish on a datapath access may fault. *@fh: its handle, -1 when
 * not guarded. Return 0 or the errno of gpc_vhost_fault_add().
 */
static int guard_region(struct gpc_vhost_dev *d, void *p,
			const struct gpc_vhost_region *w, int fd, uint32_t id,
			int *fh)
{
	int h;

	*fh = -1;
	if (!gpc_vhost_fault_needs_guard(fd))
		return 0;
	if (d->cfg.flags & GPC_VHOST_F_NO_FAULT_GUARD) {
		/* The application owns SIGBUS: accepted, as it asked. */
		gpc_vhost_log(d, GPC_VHOST_LOG_WARN,
			      "region %u (guest 0x%llx) is not sealed against "
			      "shrinking and the fault guard is off: a "
			      "front-end that shrinks it faults this process",
			      id, (unsigned long long)w->guest_addr);
		return 0;
	}
	h = gpc_vhost_fault_add(d, p, (size_t)w->size, fd, id, w->guest_addr,
				GPC_VHOST_FAULT_GUARD);
	if (h < 0)
		return h;
	*fh = h;
	return 0;
}

/* Map one region's fd into @r (not yet a memslot). */
static int map_region(struct gpc_vhost_dev *d, const struct gpc_vhost_region *w,
		      int fd, struct gpc_vhost_mreg *r)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	struct stat st;
	void *p;
	int id, fh, err;

	if ((w->guest_addr | w->size | w->user_addr | w->mmap_offset) &
	    (ps - 1))
		return gpc_vhost_fail(d, -EINVAL, "region not page aligned");
	if (w->size > SIZE_MAX || w->mmap_offset > (uint64_t)INT64_MAX)
		return gpc_vhost_fail(d, -EINVAL, "region too large");
	if (fd < 0)
		return gpc_vhost_fail(d, -EBADF, "region without an fd");
	/*
	 * A mapping past the end of a file maps, and its first access is a
	 * SIGBUS of the whole back-end. (A front-end that shrinks the file
	 * later is the fault guard's: guard_region().)
	 */
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) &&
	    (w->mmap_offset > (uint64_t)st.st_size ||
	     w->size > (uint64_t)st.st_size - w->mmap_offset))
		return gpc_vhost_fail(d, -EINVAL,
				      "region past the end of its fd");
	p = mmap(NULL, (size_t)w->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)w->mmap_offset);
	if (p == MAP_FAILED)
		return gpc_vhost_fail(d, -errno, "mmap of the region failed");
	id = alloc_slot_id(d);
	if (id < 0) {
		munmap(p, (size_t)w->size);
		return gpc_vhost_fail(d, id, "no memslot id left");
	}
	err = guard_region(d, p, w, fd, (uint32_t)id, &fh);
	if (err) {
		munmap(p, (size_t)w->size);
		d->slot_used[id] = 0;
		return gpc_vhost_fail(d, err,
				      "cannot guard the region against a "
				      "shrinking file");
	}
	*r = (struct gpc_vhost_mreg){
		.gpa = w->guest_addr,
		.size = w->size,
		.uaddr = w->user_addr,
		.mmap_offset = w->mmap_offset,
		.slot_id = (uint32_t)id,
		.fd = fd,
		.map = p,
		.map_len = (size_t)w->size,
		.hva = p,
		.fault_h = fh,
	};
	return 0;
}

/*
 * munmap() a region's mapping: its guard entry goes inert first (no
 * repair may land in the range once another mapping can take it) and is
 * freed after (fault.c: the order).
 */
static void unmap_guarded(struct gpc_vhost_mreg *r)
{
	if (r->fault_h >= 0)
		gpc_vhost_fault_unmapping(r->fault_h);
	munmap(r->map, r->map_len);
	if (r->fault_h >= 0)
		gpc_vhost_fault_del(r->fault_h);
	r->fault_h = -1;
}

/* Undo map_region() of a region that never was published. */
static void unmap_unpublished(struct gpc_vhost_dev *d, struct gpc_vhost_mreg *r)
{
	unmap_guarded(r);
	close(r->fd);
	d->slot_used[r->slot_id] = 0;
}

/*
 * CHECK_STALE: the range goes to the fault guard as retired *before* the
 * mprotect(), so the first late access is already counted (stale_accesses,
 * one log line per region) and completes on a zero page instead of
 * crashing. Without the guard (NO_FAULT_GUARD, or its registry's half for
 * retired ranges full) a late access crashes, as it is a device bug.
 */
static void retire_region(struct gpc_vhost_dev *d, struct gpc_vhost_mreg *r)
{
	static _Atomic bool warned;
	int err = 0;

	if (d->cfg.flags & GPC_VHOST_F_NO_FAULT_GUARD)
		return;
	if (r->fault_h >= 0)
		err = gpc_vhost_fault_retire(r->fault_h);
	else
		err = gpc_vhost_fault_add(d, r->map, r->map_len, r->fd,
					  r->slot_id, r->gpa,
					  GPC_VHOST_FAULT_RETIRED);
	r->fault_h = -1;
	if (err < 0 && !atomic_exchange(&warned, true))
		gpc_vhost_log(d, GPC_VHOST_LOG_WARN,
			      "stale-access registry full (%d): a late "
			      "access to a region removed from now on "
			      "crashes instead of being counted",
			      err);
}

/* Step 4 of a removal: the region is out of the table and of every use. */
static void unmap_removed(struct gpc_vhost_dev *d, struct gpc_vhost_mreg *r)
{
	if (d->cfg.flags & GPC_VHOST_F_CHECK_STALE) {
		/*
		 * Kept, inaccessible: a late access faults (and is counted,
		 * retire_region()) instead of reading memory mapped here
		 * later. The address range is leaked on purpose (checking
		 * mode only).
		 */
		retire_region(d, r);
		mprotect(r->map, r->map_len, PROT_NONE);
	} else {
		unmap_guarded(r);
	}
	close(r->fd);
	d->slot_used[r->slot_id] = 0;
}

static struct gpc_memslot_desc slot_of(struct gpc_vhost_dev *d,
				       const struct gpc_vhost_mreg *r)
{
	uint32_t flags = 0;

	/* e.g. GPC_MEMSLOT_LOG_DIRTY while the dirty log runs (ext.h). */
	for (unsigned int i = 0; gpc_vhost_exts[i]; i++)
		if (gpc_vhost_exts[i]->slot_flags)
			flags |= gpc_vhost_exts[i]->slot_flags(d);
	return (struct gpc_memslot_desc){
		.flags = flags,
		.id = r->slot_id,
		.gpa = r->gpa,
		.size = r->size,
		.hva = (uint64_t)(uintptr_t)r->hva,
		.uaddr = r->uaddr,
	};
}

static const char *commit_reason(int err)
{
	switch (err) {
	case -EADDRINUSE:
		return "guest range overlaps another region";
	case -ENOTUNIQ:
		return "user range overlaps another region";
	case -EINVAL:
		return "region refused by the memory table";
	default:
		return "memory table change failed";
	}
}

/* Steps 3 and 4 for regions whose delete was committed at @t0. */
static void finish_removal(struct gpc_vhost_dev *d, struct gpc_vhost_mreg *gone,
			   unsigned int n, uint64_t t0)
{
	uint64_t dt, max;
	bool keep[GPC_VHOST_MAX_MEM_SLOTS] = { false };

	if (!n)
		return;
	/*
	 * e.g. the IOTLB's entries into them (ext.h), before the wait. If a
	 * module could not drop them (-ENOMEM), its translations (and the
	 * rings' caches on its vm) may still point into the region: unmapping
	 * it would let a later mmap land there and the datapath write another
	 * region's memory. Such a region stays mapped, leaked.
	 */
	for (unsigned int i = 0; i < n; i++)
		for (unsigned int j = 0; gpc_vhost_exts[j]; j++)
			if (gpc_vhost_exts[j]->region_removing &&
			    gpc_vhost_exts[j]->region_removing(d, &gone[i]))
				keep[i] = true;
	gpc_vhost_epoch_wait(d);
	for (unsigned int i = 0; i < n; i++) {
		if (keep[i]) {
			close(gone[i].fd);
			d->slot_used[gone[i].slot_id] = 0;
		} else {
			unmap_removed(d, &gone[i]);
		}
	}
	atomic_fetch_add(&d->st.mem_removes, n);
	dt = now_ns() - t0;
	max = atomic_load(&d->st.removal_wait_ns_max);
	if (dt > max)
		atomic_store(&d->st.removal_wait_ns_max, dt);
}

static bool same_region(const struct gpc_vhost_mreg *r,
			const struct gpc_vhost_region *w)
{
	return r->gpa == w->guest_addr && r->size == w->size &&
	       r->uaddr == w->user_addr && r->mmap_offset == w->mmap_offset;
}

int gpc_vhost_mem_set_table(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	const struct gpc_vhost_mem_table *t = &msg->payload.mem;
	struct gpc_vhost_mreg added[GPC_VHOST_MAX_REGIONS];
	struct gpc_vhost_mreg *gone = NULL;
	bool keep_old[GPC_VHOST_MAX_MEM_SLOTS] = { 0 };
	int match[GPC_VHOST_MAX_REGIONS];
	unsigned int nadded = 0, ngone = 0, n = 0;
	struct gpc_memslot_txn *tx = NULL;
	uint64_t t0;
	int err;

	/* A region in both tables stays as it is. */
	for (unsigned int i = 0; i < t->nregions; i++) {
		match[i] = -1;
		for (unsigned int j = 0; j < d->nregions; j++)
			if (!keep_old[j] &&
			    same_region(&d->regions[j], &t->regions[i])) {
				keep_old[j] = true;
				match[i] = (int)j;
				break;
			}
	}
	if (d->nregions) {
		gone = calloc(d->nregions, sizeof(*gone));
		if (!gone)
			return -ENOMEM;
	}
	for (unsigned int i = 0; i < t->nregions; i++) {
		if (match[i] >= 0)
			continue;
		err = map_region(d, &t->regions[i], msg->fds[i],
				 &added[nadded]);
		if (err)
			goto undo;
		msg->fds[i] = -1; /* the region owns it now */
		nadded++;
	}
	t0 = now_ns();
	err = gpc_memslot_txn_begin(d->vm, &tx);
	if (err) {
		gpc_vhost_fail(d, err, "memory table change failed");
		goto undo;
	}
	for (unsigned int j = 0; j < d->nregions && !err; j++)
		if (!keep_old[j])
			err = gpc_memslot_txn_delete(tx, d->regions[j].slot_id);
	for (unsigned int i = 0; i < nadded && !err; i++) {
		struct gpc_memslot_desc s = slot_of(d, &added[i]);

		err = gpc_memslot_txn_add(tx, &s);
	}
	if (err) {
		gpc_memslot_txn_abort(tx);
	} else {
		/* Steps 1 and 2: publish, then the grace period. */
		err = gpc_memslot_txn_commit(tx);
	}
	if (err) {
		gpc_vhost_fail(d, err, commit_reason(err));
		goto undo;
	}
	/* The new table: the kept regions, then the added ones. */
	for (unsigned int j = 0; j < d->nregions; j++) {
		if (keep_old[j])
			d->regions[n++] = d->regions[j];
		else
			gone[ngone++] = d->regions[j];
	}
	memcpy(&d->regions[n], added, nadded * sizeof(added[0]));
	d->nregions = n + nadded;
	atomic_fetch_add(&d->st.mem_adds, nadded);
	finish_removal(d, gone, ngone, t0);
	free(gone);
	return 0;
undo:
	for (unsigned int i = 0; i < nadded; i++)
		unmap_unpublished(d, &added[i]);
	free(gone);
	return err;
}

int gpc_vhost_mem_add(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	struct gpc_vhost_mreg r;
	struct gpc_memslot_desc s;
	int err;

	if (d->nregions >= GPC_VHOST_MAX_MEM_SLOTS)
		return gpc_vhost_fail(d, -ENOSPC, "all memory slots in use");
	err = map_region(d, &msg->payload.mem_reg.region, msg->fds[0], &r);
	if (err)
		return err;
	msg->fds[0] = -1;
	s = slot_of(d, &r);
	err = gpc_memslot_add(d->vm, &s);
	if (err) {
		unmap_unpublished(d, &r);
		return gpc_vhost_fail(d, err, commit_reason(err));
	}
	d->regions[d->nregions++] = r;
	atomic_fetch_add(&d->st.mem_adds, 1);
	return 0;
}

int gpc_vhost_mem_rem(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	const struct gpc_vhost_region *w = &msg->payload.mem_reg.region;
	struct gpc_vhost_mreg r;
	uint64_t t0;
	unsigned int i;
	int err;

	/* The spec: identified by guest address, user address and size. */
	for (i = 0; i < d->nregions; i++)
		if (d->regions[i].gpa == w->guest_addr &&
		    d->regions[i].size == w->size &&
		    d->regions[i].uaddr == w->user_addr)
			break;
	if (i == d->nregions)
		return gpc_vhost_fail(d, -ENOENT, "no such region");
	r = d->regions[i];
	t0 = now_ns();
	err = gpc_memslot_delete(d->vm, r.slot_id); /* steps 1 and 2 */
	if (err)
		return gpc_vhost_fail(d, err, "memory table change failed");
	d->regions[i] = d->regions[--d->nregions];
	finish_removal(d, &r, 1, t0); /* steps 3 and 4 */
	return 0;
}

void gpc_vhost_mem_drop_all(struct gpc_vhost_dev *d)
{
	struct gpc_memslot_txn *tx = NULL;
	uint64_t t0 = now_ns();
	int err;

	if (!d->nregions)
		return;
	err = gpc_memslot_txn_begin(d->vm, &tx);
	for (unsigned int j = 0; j < d->nregions && !err; j++)
		err = gpc_memslot_txn_delete(tx, d->regions[j].slot_id);
	if (!err)
		err = gpc_memslot_txn_commit(tx);
	else
		gpc_memslot_txn_abort(tx);
	if (err) {
		/*
		 * Cannot happen short of -ENOMEM; the regions then stay
		 * mapped (leaked) rather than unmapped under a reader.
		 */
		gpc_vhost_log(d, GPC_VHOST_LOG_ERR,
			      "dropping the memory table failed (%d): "
			      "regions leaked",
			      err);
		d->nregions = 0;
		return;
	}
	finish_removal(d, d->regions, d->nregions, t0);
	d->nregions = 0;
}
