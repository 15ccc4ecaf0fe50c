/* SPDX-License-Identifier: MIT */
/*
 * gpc/memslot.h - the guest-physical memory map of a vm (stage 1).
 *
 * A memslot maps [gpa, gpa + size) of guest-physical space to
 * [hva, hva + size) of this process. Slots never overlap. The table is an
 * immutable sorted array with a hash index by guest-physical chunk,
 * published through the vm's SRCU domain: readers find a slot in constant
 * expected time, whatever the number and sizes of the slots (with a
 * per-thread last-hit shortcut), without locks and without writing shared
 * memory; writers build a new table, index included, publish it, bump the
 * generation and wait a grace period so that when a change returns, no SRCU
 * reader still uses the old layout. rwlock-scheme readers and vCPUs in guest mode are not waited for
 * (docs/design.md, "Memslot changes"): a VMM that needs that brackets the
 * change with an invalidation of the slot's host range, which waits for
 * both.
 *
 * Every change bumps the table's generation, which caches in GPA mode
 * compare against on every check. A call that changes nothing (a move to
 * the slot's own address, set_flags with the flags it has, an empty
 * transaction) publishes nothing and leaves the generation alone.
 *
 * Transactions: gpc_memslot_txn_begin() ... steps ... _commit() makes any
 * number of changes at once: one table built, one publish, one generation
 * bump, one grace period, so that readers see the table before or the
 * table after, never one in between (a vhost-user SET_MEM_TABLE, a slot
 * split around an overlay). The single calls (create, add, delete, move,
 * set_flags) are one-step transactions.
 *
 * Listeners (struct gpc_memslot_listener) follow the table: every commit
 * that changes it is offered to each of them, in registration order, in
 * two phases (prepare may refuse; commit after the publish). The KVM
 * binding is one (gpc/kvm.h); gpc_memslot_set_mirror() is a thin wrapper
 * that registers one.
 *
 * Errnos of the writers, one cause each: -EINVAL a bad argument (NULL,
 * alignment, overflow, an id >= max_memslots, unknown flags, nonzero
 * reserved fields); -EEXIST the id is in use; -EADDRINUSE the guest range
 * overlaps another slot; -ENOENT no slot has the id; -ENOMEM; -EDEADLK
 * the calling thread is inside a read section of the vm's domain or
 * already holds the writers' lock (an open transaction, a listener
 * callback); -ECANCELED a transaction an earlier step failed in; any
 * other errno comes from a listener's prepare or from building the
 * table's secondary indexes (for instance a user-address overlap, see
 * the translation calls) and is passed through unchanged.
 *
 * max_memslots (struct gpc_vm_config) above GPC_MEMSLOTS_MAX (32,764) is
 * refused by gpc_vm_create() with -EINVAL: slot positions are 15-bit in
 * the chunk index.
 */
#ifndef GPC_MEMSLOT_H
#define GPC_MEMSLOT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gpc_vm;

#define GPC_MEMSLOTS_MAX 32764

/* The slot may only be read through; writable caches on it fail refresh. */
#define GPC_MEMSLOT_READONLY  (1u << 0)
/* Pages written through the library are logged (gpc/dirty.h). */
#define GPC_MEMSLOT_LOG_DIRTY (1u << 1)
#define GPC_MEMSLOT_FLAGS_ALL (GPC_MEMSLOT_READONLY | GPC_MEMSLOT_LOG_DIRTY)

struct gpc_memslot_info {
	uint32_t id;
	uint32_t flags;
	uint64_t gpa;
	uint64_t size;
	uint64_t hva;
	uint64_t generation; /* of the table the slot was found in */
};

/*
 * A slot as the calls of release 0.2 take and give it (struct
 * gpc_memslot_info stays as release 0.1 defined it). @uaddr is a second
 * address of the slot's memory chosen by the caller, for example the
 * front-end's virtual address of a vhost-user region; 0 means none.
 */
struct gpc_memslot_desc {
	uint32_t id;
	uint32_t flags;
	uint64_t gpa;
	uint64_t size;
	uint64_t hva;
	uint64_t uaddr;
	uint64_t generation;  /* filled in by the calls that return a slot */
	uint64_t reserved[2]; /* zero */
};

/*
 * The hook of gpc_memslot_set_mirror() (release 0.1; a listener is the
 * general form). It is called with the writers' lock held, once per slot
 * that a commit changes, before the new table is published; an error
 * aborts the commit (the hook is then called again with old and new
 * swapped for the changes it already accepted, latest first, to undo
 * them). @old or @new is NULL for a create or a delete; a change of hva,
 * size or of gpa and flags together comes as a delete and a create. The
 * hook must not call the gpc_memslot_* writers (-EDEADLK); readers are fine
 * and see the old table.
 */
typedef int gpc_memslot_mirror_fn(void *ctx, const struct gpc_memslot_info *old,
				  const struct gpc_memslot_info *new_slot);

/**
 * gpc_memslot_create - add a slot.
 * @id: slot id, below the vm's max_memslots.
 * @gpa, @size, @hva: page-aligned; @size nonzero.
 * @flags: GPC_MEMSLOT_* flags.
 *
 * A one-step transaction (gpc_memslot_txn_add() then commit).
 *
 * Return: 0; -EINVAL for a NULL vm, an id out of range, unaligned or zero
 * values, address overflow or unknown flags; -EEXIST if @id is in use;
 * -EADDRINUSE if the range overlaps another slot (release 0.1 returned
 * -EEXIST for both); -ENOMEM; a listener's (or the mirror hook's) error;
 * -EDEADLK if called inside a read section of the vm's domain
 * (gpc_vm_srcu()), which the change would have to wait for, or by a thread
 * that holds the writers' lock (an open transaction, a listener callback).
 * Context: may sleep (waits a grace period of the vm's domain).
 */
int gpc_memslot_create(struct gpc_vm *vm, uint32_t id, uint64_t gpa,
		       uint64_t size, uint64_t hva, uint32_t flags);

/**
 * gpc_memslot_add - add the slot @d describes, with its user address.
 * @d: id, flags, gpa, size, hva as for gpc_memslot_create(); @d->uaddr
 *     page aligned (or 0: none); generation is ignored, reserved must be
 *     zero.
 *
 * Return: as gpc_memslot_create(); also -EINVAL for nonzero @d->reserved,
 * and any errno of building the secondary indexes (user-address lookups).
 * Context: may sleep (waits a grace period of the vm's domain).
 */
int gpc_memslot_add(struct gpc_vm *vm, const struct gpc_memslot_desc *d);

/**
 * gpc_memslot_delete - remove slot @id.
 *
 * Return: 0; -EINVAL for a NULL vm; -ENOENT if no slot has @id; -ENOMEM;
 * a listener's error; -EDEADLK inside a read section of the vm's domain or
 * with the writers' lock held by this thread.
 * Context: may sleep.
 */
int gpc_memslot_delete(struct gpc_vm *vm, uint32_t id);

/**
 * gpc_memslot_move - give slot @id a new guest-physical base (same size, hva).
 *
 * A move to the slot's own address changes nothing (0, no generation bump).
 *
 * Return: 0; -EINVAL (NULL vm, unaligned gpa, overflow); -ENOENT;
 * -EADDRINUSE if the new range overlaps another slot; -ENOMEM; a
 * listener's error; -EDEADLK inside a read section of the vm's domain or
 * with the writers' lock held by this thread.
 * Context: may sleep.
 */
int gpc_memslot_move(struct gpc_vm *vm, uint32_t id, uint64_t new_gpa);

/**
 * gpc_memslot_set_flags - change the flags of slot @id.
 *
 * Flags equal to the slot's change nothing (0, no generation bump).
 *
 * Return: 0; -EINVAL (NULL vm or unknown flags); -ENOENT; -ENOMEM; a
 * listener's error; -EDEADLK inside a read section of the vm's domain or
 * with the writers' lock held by this thread.
 * Context: may sleep.
 */
int gpc_memslot_set_flags(struct gpc_vm *vm, uint32_t id, uint32_t flags);

/**
 * gpc_memslot_lookup - find the slot that contains @gpa.
 * @out: receives a copy of the slot and the table generation.
 *
 * Return: 0; -EINVAL if an argument is NULL; -ENOENT if no slot contains it.
 * Context: any context, async-signal-safe (enters the vm's read section).
 */
int gpc_memslot_lookup(struct gpc_vm *vm, uint64_t gpa,
		       struct gpc_memslot_info *out);

/**
 * gpc_memslot_get - copy slot @id.
 *
 * Return: 0; -EINVAL if @vm or @out is NULL; -ENOENT if no slot has @id.
 * Context: any context, async-signal-safe.
 */
int gpc_memslot_get(struct gpc_vm *vm, uint32_t id,
		    struct gpc_memslot_info *out);

/**
 * gpc_memslot_generation - the current table generation.
 *
 * Return: the generation (bumped by every published table; a cache built
 * from an older one misses); 0 for NULL.
 * Context: any context.
 */
uint64_t gpc_memslot_generation(struct gpc_vm *vm);

/**
 * gpc_memslot_count - number of slots in the current table.
 *
 * Return: the number of slots (a snapshot: a commit may change it as soon
 * as this returns); 0 for NULL.
 * Context: any context.
 */
unsigned int gpc_memslot_count(struct gpc_vm *vm);

/**
 * gpc_memslot_set_mirror - install the mirror hook (NULL removes it).
 *
 * A thin wrapper: the hook becomes a listener (registered last, at this
 * call), called per changed slot as gpc_memslot_mirror_fn says. It never
 * replaces anything: a second hook is refused until the first is removed.
 * The KVM binding no longer uses it, so a vm may have both.
 * Return: 0; -EINVAL for a NULL vm; -EBUSY if a hook is installed and @fn
 * is not NULL; -ENOMEM; -EDEADLK from a listener callback or with an open
 * transaction on this thread.
 * Context: may sleep (takes the writers' lock).
 */
int gpc_memslot_set_mirror(struct gpc_vm *vm, gpc_memslot_mirror_fn *fn,
			   void *ctx);

/* ---- transactions (release 0.2) ---- */

/* An open transaction: from gpc_memslot_txn_begin() to commit or abort. */
struct gpc_memslot_txn;

/**
 * gpc_memslot_txn_begin - open a transaction on @vm's memslot table.
 * @tx: receives the transaction.
 *
 * Takes the writers' lock: other writers (and listener_add/remove) wait
 * until this transaction is committed or aborted, which the same thread
 * must do (a transaction belongs to the thread that began it). Readers are
 * not held up: they see the current table until the commit.
 * Return: 0; -EINVAL for a NULL argument; -ENOMEM; -EDEADLK inside a read
 * section of the vm's domain (the commit waits a grace period) or if this
 * thread holds the writers' lock already (its own open transaction, a
 * listener callback).
 * Context: may sleep.
 */
int gpc_memslot_txn_begin(struct gpc_vm *vm, struct gpc_memslot_txn **tx);

/**
 * gpc_memslot_txn_add - step: add the slot @d describes.
 * @d: as for gpc_memslot_add().
 *
 * Every step is validated against the table as the transaction has changed
 * it so far: a slot deleted by an earlier step frees its id and its range
 * (a split is delete + two adds). A failed step changes nothing and
 * poisons the transaction: later steps return -ECANCELED and so does the
 * commit, which then only ends the transaction (as abort does).
 * Return: 0; -EINVAL (NULL, bad values as for gpc_memslot_add()); -EEXIST
 * id in use; -EADDRINUSE range overlap; -ENOMEM; -ECANCELED poisoned.
 * Context: may sleep (allocates), the writers' lock held.
 */
int gpc_memslot_txn_add(struct gpc_memslot_txn *tx,
			const struct gpc_memslot_desc *d);

/**
 * gpc_memslot_txn_delete - step: remove slot @id.
 *
 * Return: 0; -EINVAL for NULL; -ENOENT no slot has @id (now); -ENOMEM;
 * -ECANCELED poisoned. A failure poisons (see gpc_memslot_txn_add()).
 * Context: may sleep, the writers' lock held.
 */
int gpc_memslot_txn_delete(struct gpc_memslot_txn *tx, uint32_t id);

/**
 * gpc_memslot_txn_move - step: give slot @id the guest base @new_gpa.
 *
 * A move to its current address is no step at all (0).
 * Return: 0; -EINVAL (NULL, unaligned, overflow); -ENOENT; -EADDRINUSE
 * overlap; -ENOMEM; -ECANCELED poisoned. A failure poisons.
 * Context: may sleep, the writers' lock held.
 */
int gpc_memslot_txn_move(struct gpc_memslot_txn *tx, uint32_t id,
			 uint64_t new_gpa);

/**
 * gpc_memslot_txn_set_flags - step: change the flags of slot @id.
 *
 * Its current flags are no step at all (0).
 * Return: 0; -EINVAL (NULL, unknown flags); -ENOENT; -ENOMEM;
 * -ECANCELED poisoned. A failure poisons.
 * Context: may sleep, the writers' lock held.
 */
int gpc_memslot_txn_set_flags(struct gpc_memslot_txn *tx, uint32_t id,
			      uint32_t flags);

/**
 * gpc_memslot_txn_commit - make the transaction's changes and end it.
 *
 * Builds one table (index and secondary indexes), offers the net changes
 * to the listeners (prepare, in registration order), publishes the table,
 * bumps the generation once, tells the listeners (commit), drops the
 * writers' lock, waits one grace period of the vm's domain and frees @tx.
 * A transaction whose steps changed nothing in the end publishes nothing.
 * Whatever it returns, @tx is freed and the lock dropped; on an error the
 * table, the generation and every slot are as before begin.
 * Return: 0; -EINVAL for NULL; -ECANCELED if a step failed; -ENOMEM; a
 * listener's refusal (its errno, earlier listeners were told to undo);
 * any errno of building the secondary indexes (e.g. a user-address
 * overlap), unchanged.
 * Context: may sleep (waits a grace period).
 */
int gpc_memslot_txn_commit(struct gpc_memslot_txn *tx);

/**
 * gpc_memslot_txn_abort - drop the transaction's changes and end it.
 *
 * Frees @tx and drops the writers' lock; nothing was published. NULL is a
 * no-op.
 * Context: may sleep.
 */
void gpc_memslot_txn_abort(struct gpc_memslot_txn *tx);

/* ---- listeners (release 0.2) ---- */

enum gpc_memslot_change_op {
	GPC_MEMSLOT_CHANGE_ADD = 1,    /* new_slot only */
	GPC_MEMSLOT_CHANGE_DELETE = 2, /* old_slot only */
	GPC_MEMSLOT_CHANGE_MOVE = 3,   /* only gpa differs */
	GPC_MEMSLOT_CHANGE_FLAGS = 4,  /* only flags differ */
	/* Same id, anything else differs (hva, size, uaddr, gpa and flags). */
	GPC_MEMSLOT_CHANGE_REPLACE = 5,
};

/*
 * One slot's net change in a commit, from the table before to the table
 * after (steps on one id are folded: add then delete is no change). A
 * commit's list holds the deletes first, then replaces, moves, flag
 * changes, adds, each group in the order of the steps' first touch.
 */
struct gpc_memslot_change {
	uint32_t op; /* enum gpc_memslot_change_op */
	uint32_t reserved;
	struct gpc_memslot_desc old_slot; /* generation: the old table's */
	struct gpc_memslot_desc new_slot; /* generation: the new table's */
};

/* gpc_vm_destroy() fails with -EBUSY while this listener is registered. */
#define GPC_MEMSLOT_LISTENER_PIN (1u << 0)

/*
 * A memslot listener: caller-owned, registered by address, and read by
 * the library at every commit until gpc_memslot_listener_remove() returns
 * (keep it alive and unchanged until then). Every callback gets @ctx, the
 * vm, and the commit's changes; it runs on the committing thread with the
 * writers' lock held, so it must not call a memslot writer (those return
 * -EDEADLK there) nor wait for a thread that does; readers are fine.
 *  - prepare (may be NULL): before the publish; readers see the old
 *    table. Nonzero refuses the commit: the listeners prepared before it
 *    get abort, latest first, and the commit returns that errno (a
 *    positive value is returned as -EPERM).
 *  - abort (may be NULL): undo what prepare did; the commit failed after
 *    this listener's prepare succeeded (a later listener refused, or
 *    building the table failed).
 *  - commit (may be NULL): after the publish, before the grace period;
 *    readers may see either table. @gen is the new generation.
 */
struct gpc_memslot_listener {
	int (*prepare)(void *ctx, struct gpc_vm *vm,
		       const struct gpc_memslot_change *c, unsigned int n);
	void (*abort)(void *ctx, struct gpc_vm *vm,
		      const struct gpc_memslot_change *c, unsigned int n);
	void (*commit)(void *ctx, struct gpc_vm *vm,
		       const struct gpc_memslot_change *c, unsigned int n,
		       uint64_t gen);
	void *ctx;
	uint32_t flags; /* GPC_MEMSLOT_LISTENER_* */
	uint32_t reserved0;
	void *reserved[2]; /* zero */
};

/**
 * gpc_memslot_listener_add - register @l; it follows every later commit.
 *
 * Takes the writers' lock, so it waits for a commit or a transaction in
 * progress: a commit is offered to @l entirely or not at all.
 * Return: 0; -EINVAL (NULL, unknown flags, nonzero reserved); -EEXIST if
 * @l is registered; -ENOMEM; -EDEADLK from a listener callback or with an
 * open transaction on this thread.
 * Context: may sleep.
 */
int gpc_memslot_listener_add(struct gpc_vm *vm, struct gpc_memslot_listener *l);

/**
 * gpc_memslot_listener_remove - unregister @l.
 *
 * Waits for a commit in progress (the writers' lock): once it returns, no
 * callback of @l runs or will run, and @l may be freed.
 * Return: 0; -EINVAL for NULL; -ENOENT if @l is not registered; -EDEADLK
 * from a listener callback or with an open transaction on this thread.
 * Context: may sleep.
 */
int gpc_memslot_listener_remove(struct gpc_vm *vm,
				struct gpc_memslot_listener *l);

#ifdef __cplusplus
}
#endif

#endif /* GPC_MEMSLOT_H */
