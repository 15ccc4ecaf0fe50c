// SPDX-License-Identifier: MIT
/*
 * srcu.c - grace periods and polling of an SRCU domain: the membarrier,
 * the scans of the reader slots, the wait protocol (with the readers' side
 * of it, gpc_srcu_wake_gp), synchronize and the poll API. The read side
 * is inline in include/gpc/srcu.h, its other slow paths and the slots are
 * in srcu_slot.c; docs/srcu.md has the algorithm and the argument for
 * every barrier.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/membarrier.h>

#include <gpc/srcu.h>

#include "internal.h"
#include "srcu_state_priv.h"

/* Scans of the slots before a grace period goes to sleep on the futex. */
#define SPIN_SCANS   100
/* Upper bound of one futex sleep; a safety net, wakeups come from readers. */
#define SLEEP_MAX_NS 1000000000ull

int gpc_srcu_reader_fence;

/* ---- membarrier ------------------------------------------------------- */

/*
 * The asymmetric fence. A full barrier on every running thread of the
 * process, so each reader's compiler barrier (between its slot store and its
 * loads of protected data) acts as a full barrier relative to our accesses
 * on either side of this call.
 */
static void gp_membarrier(struct gpc_srcu_state *st)
{
	if (gpc_srcu_reader_fence) {
		atomic_thread_fence(memory_order_seq_cst);
		return;
	}
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0)) {
		/* Cannot happen once registered; never be unsafe if it does. */
		gpci_log(GPC_LOG_ERR, "srcu: membarrier failed: %s",
			 strerror(errno));
		abort();
	}
	atomic_fetch_add_explicit(&st->st_mb, 1, memory_order_relaxed);
}

void gpci_srcu_membarrier_setup(void)
{
	const char *no = getenv("GPC_SRCU_NO_MEMBARRIER");
	long cmds;

	gpc_srcu_reader_fence = 1;
	if (no && *no && strcmp(no, "0"))
		return;
	cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		return;
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
		    0, 0))
		return;
	gpc_srcu_reader_fence = 0;
}

bool gpc_srcu_membarrier_available(void)
{
	return !gpc_srcu_reader_fence;
}

/* ---- grace periods ---------------------------------------------------- */

/*
 * A slot holds up the current wait if it is inside a section that began in
 * the other phase than the domain's counter has now.
 */
static bool slot_blocks(unsigned long v, unsigned long now)
{
	return (v & GPC_SRCU_NEST_MASK) && ((v ^ now) & GPC_SRCU_PHASE);
}

/*
 * Return the owner of a slot that holds up the wait, or 0 if none. The
 * acquire load pairs with the release store of read_unlock: once we see a
 * reader outside, everything it did inside happens before what we do next.
 */
static int scan_blocker(struct gpc_srcu *d)
{
	unsigned long now =
		atomic_load_explicit(&d->gp_ctr, memory_order_relaxed);
	struct gpc_srcu_state *st = d->state;
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;
	int tid = 0;

	pthread_mutex_lock(&st->scan_lock);
	for_each_rec(st, r, i, j, n) {
		unsigned long v = atomic_load_explicit(&rec_slot(r)->ctr,
						       memory_order_acquire);

		if (slot_blocks(v, now)) {
			tid = rec_owner(r);
			if (!tid)
				tid = -1;
			break;
		}
	}
	pthread_mutex_unlock(&st->scan_lock);
	return tid;
}

/*
 * Whether any slot is inside a section, of either phase; the caller holds
 * scan_lock. Acquire loads: a slot seen outside orders its section before
 * what the caller does next (pairs with read_unlock's release store).
 */
bool gpci_srcu_any_slot_open(struct gpc_srcu_state *st)
{
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;

	for_each_rec(st, r, i, j, n)
		if (atomic_load_explicit(&rec_slot(r)->ctr,
					 memory_order_acquire) &
		    GPC_SRCU_NEST_MASK)
			return true;
	return false;
}

static void report_stall(struct gpc_srcu *d, int tid, uint64_t waited_ns)
{
	struct gpc_srcu_state *st = d->state;

	atomic_fetch_add_explicit(&st->st_stalls, 1, memory_order_relaxed);
	gpci_log(
		GPC_LOG_WARN,
		"srcu %s: grace period %llu stalled for %llu ms: thread %d has been inside a read section for at least %llu ms",
		st->name, (unsigned long long)atomic_load(&st->gp_seq) / 2 + 1,
		(unsigned long long)(waited_ns / 1000000), tid,
		(unsigned long long)(waited_ns / 1000000));
}

/*
 * The wait protocol (docs/srcu.md, "Waiting for readers"). Each phase's
 * wait first arms gp_futex with the phase it drains (arm_wait), and the
 * next membarrier makes every reader see it: run_gp's (A) for the first
 * phase; for the second, one more, issued only if that wait has to sleep.
 * From then on a reader that ends the outermost section of the drained
 * phase sets WOKEN by an atomic RMW and calls futex_wake only if the word
 * says SLEEP. The updater announces a sleep by an exchange that also reads
 * WOKEN, so a reader that left since the last scan is never slept through:
 * its RMW comes either before our exchange (we see WOKEN and scan again)
 * or after it (it sees SLEEP and wakes us). No membarrier per sleep, no
 * wake-up from sections the grace period does not wait for.
 */
static int arm_wait(struct gpc_srcu *d)
{
	unsigned long now =
		atomic_load_explicit(&d->gp_ctr, memory_order_relaxed);
	/* The drained phase is the one the counter does not have now. */
	int w = GPC_SRCU_GPW_ACTIVE |
		((now & GPC_SRCU_PHASE) ? 0 : GPC_SRCU_GPW_PHASE);

	atomic_store_explicit(&d->gp_futex, w, memory_order_relaxed);
	return w;
}

/*
 * Sleep until a reader of the drained phase leaves (or the timeout). The
 * acq_rel exchanges pair with the release RMW in gpc_srcu_wake_gp(): when
 * they read WOKEN, the reader's slot store happens before our next scan.
 */
static void sleep_for_readers(struct gpc_srcu *d, int armed,
			      uint64_t timeout_ns)
{
	struct gpc_srcu_state *st = d->state;
	int old = atomic_exchange_explicit(
		&d->gp_futex, armed | GPC_SRCU_GPW_SLEEP, memory_order_acq_rel);

	if (!(old & GPC_SRCU_GPW_WOKEN)) {
		atomic_fetch_add_explicit(&st->st_sleeps, 1,
					  memory_order_relaxed);
		gpci_futex_wait(&d->gp_futex, armed | GPC_SRCU_GPW_SLEEP,
				timeout_ns);
	}
	/* Awake again: readers need not wake us until the next sleep. */
	atomic_exchange_explicit(&d->gp_futex, armed, memory_order_acq_rel);
}

/*
 * A reader ended the outermost section @ctr (its slot value before the
 * unlock), which its relaxed load found armed for. The RMW reads the
 * latest value, so a sleep announced before it is never missed; and that
 * value decides: the load may have been stale (the previous phase's arming,
 * before this phase's membarrier), so the phase is checked again and only
 * a section of the phase being drained wakes. Release: our slot store
 * happens before the updater's next scan once its exchange reads WOKEN
 * (sleep_for_readers). A WOKEN set by a section of the other phase costs
 * the updater one extra scan, never a system call.
 */
void gpc_srcu_wake_gp(struct gpc_srcu *d, unsigned long ctr)
{
	int old = atomic_fetch_or_explicit(&d->gp_futex, GPC_SRCU_GPW_WOKEN,
					   memory_order_release);

	if ((old & GPC_SRCU_GPW_SLEEP) &&
	    !(old & GPC_SRCU_GPW_PHASE) == !(ctr & GPC_SRCU_PHASE)) {
		atomic_fetch_add_explicit(&d->state->st_wakes, 1,
					  memory_order_relaxed);
		gpci_futex_wake(&d->gp_futex, 1);
	}
}

/*
 * Wait until no slot holds up the phase being drained (@armed). @barrier:
 * the membarrier that makes readers see @armed is still due (second
 * phase); it is issued before the first sleep, and then everything is
 * scanned again.
 */
static void wait_for_readers(struct gpc_srcu *d, bool expedited, int armed,
			     bool barrier, uint64_t gp_start,
			     bool *stall_reported)
{
	struct gpc_srcu_state *st = d->state;

	for (unsigned int scans = 0;; scans++) {
		int tid = scan_blocker(d);
		uint64_t waited, left;

		if (!tid)
			return;
		waited = gpci_now_ns() - gp_start;
		if (!*stall_reported && waited >= st->stall_ns) {
			report_stall(d, tid, waited);
			*stall_reported = true;
		}
		if (scans < SPIN_SCANS) {
			gpc_cpu_relax();
			continue;
		}
		if (expedited) {
			sched_yield();
			continue;
		}
		if (barrier) {
			atomic_thread_fence(memory_order_seq_cst);
			gp_membarrier(st);
			barrier = false;
			continue;
		}
		left = *stall_reported ? SLEEP_MAX_NS : st->stall_ns - waited;
		if (left > SLEEP_MAX_NS)
			left = SLEEP_MAX_NS;
		sleep_for_readers(d, armed, left < 1000000 ? 1000000 : left);
	}
}

/*
 * One grace period; the caller holds gp_lock.
 *
 * (A) The membarrier orders the updater's earlier stores (unpublishing an
 *     object) before the loads of every reader section that the scans below
 *     do not see: such a reader stored its slot after the barrier point on
 *     its CPU, so its loads come after it and find the new state. Pairs with
 *     the compiler barrier at the end of read_lock.
 * (B) Two phase flips: a reader that loaded gp_ctr before a flip but stored
 *     it to its slot after our scan carries a stale phase. It cannot hold
 *     anything old (see A), but with one flip per grace period the next
 *     grace period would take it for a current reader and not wait for it
 *     although by then it may hold something that period retires. Waiting
 *     for the old phase, flipping, and waiting again covers every reader
 *     that was inside when the grace period began.
 * (C) No membarrier at the end: every reader we waited for was seen outside
 *     through an acquire load of its release store, which orders its section
 *     before our return; readers we never saw inside began after (A).
 */
void gpci_srcu_run_gp(struct gpc_srcu *d, bool expedited)
{
	struct gpc_srcu_state *st = d->state;
	uint64_t seq = atomic_load_explicit(&st->gp_seq, memory_order_relaxed);
	uint64_t start = gpci_now_ns();
	bool reported = false;
	unsigned long ctr;
	int armed;

	/* Odd: cookies taken from now on name the grace period after this. */
	atomic_store_explicit(&st->gp_seq, seq + 1, memory_order_relaxed);
	armed = arm_wait(d);
	atomic_thread_fence(memory_order_seq_cst);
	gp_membarrier(st); /* (A); readers also see the armed word now */

	wait_for_readers(d, expedited, armed, false, start, &reported);
	atomic_thread_fence(memory_order_seq_cst);
	ctr = atomic_load_explicit(&d->gp_ctr, memory_order_relaxed);
	atomic_store_explicit(&d->gp_ctr, ctr ^ GPC_SRCU_PHASE,
			      memory_order_relaxed);
	armed = arm_wait(d);
	atomic_thread_fence(memory_order_seq_cst);
	wait_for_readers(d, expedited, armed, true, start, &reported); /* (B) */

	atomic_store_explicit(&d->gp_futex, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	atomic_store_explicit(&st->gp_seq, seq + 2, memory_order_release);
	atomic_fetch_add_explicit(&st->st_gp, 1, memory_order_relaxed);
}

static int synchronize(struct gpc_srcu *d, bool expedited)
{
	struct gpc_srcu_state *st;
	uint64_t cookie;

	if (!srcu_ok(d))
		return -EINVAL;
	if (gpci_srcu_held_by_self(d))
		return -EDEADLK;
	st = d->state;
	cookie = gpc_srcu_get_state(d);
	pthread_mutex_lock(&st->gp_lock);
	/* Someone else's grace period, begun after our cookie, covers us. */
	if (gpc_srcu_poll_state(d, cookie) == 1)
		atomic_fetch_add_explicit(&st->st_shared, 1,
					  memory_order_relaxed);
	else
		gpci_srcu_run_gp(d, expedited);
	pthread_mutex_unlock(&st->gp_lock);
	return 0;
}

int gpc_srcu_synchronize(struct gpc_srcu *d)
{
	return synchronize(d, false);
}

int gpc_srcu_synchronize_expedited(struct gpc_srcu *d)
{
	return synchronize(d, true);
}

/* ---- polling ---------------------------------------------------------- */

/*
 * gp_seq counts starts and ends of grace periods. From a snapshot s, the
 * first grace period that starts after it ends when gp_seq reaches
 * (s + 3) & ~1: s + 2 if none was running, s + 3 if one was (it may have
 * begun its scans before our caller's stores).
 */
uint64_t gpc_srcu_get_state(struct gpc_srcu *d)
{
	uint64_t s;

	if (!srcu_ok(d))
		return 0;
	/* Order the caller's earlier stores before the snapshot. */
	atomic_thread_fence(memory_order_seq_cst);
	s = atomic_load_explicit(&d->state->gp_seq, memory_order_acquire);
	return (s + 3) & ~1ull;
}

int gpc_srcu_poll_state(struct gpc_srcu *d, uint64_t cookie)
{
	uint64_t s;

	if (!srcu_ok(d) || !cookie || (cookie & 1))
		return -EINVAL;
	s = atomic_load_explicit(&d->state->gp_seq, memory_order_acquire);
	/*
	 * Plain unsigned comparisons: a 64-bit count of grace periods does not
	 * wrap, so a huge cookie is bogus, not old. No cookie issued so far can
	 * exceed the current count plus 3.
	 */
	if (cookie > s + 3)
		return -EINVAL;
	if (s < cookie)
		return 0;
	/* Order the caller's later accesses after the grace period. */
	atomic_thread_fence(memory_order_seq_cst);
	return 1;
}

/*
 * One look, no wait. The fence orders the caller's stores before the
 * membarrier, which makes every reader's slot store that precedes its loads
 * of protected data visible to the scan below, or else places those loads
 * after the caller's stores: run_gp's (A). Both phases count: with no
 * flip, a section of either phase may have begun before us. The acquire
 * loads pair with read_unlock's release store, as in scan_blocker().
 * A try-lock only: the scan lock may be held by the thread we interrupt.
 */
int gpc_srcu_try_synchronize(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st;
	int done;

	if (!srcu_ok(d))
		return -EINVAL;
	st = d->state;
	if (pthread_mutex_trylock(&st->scan_lock))
		return 0;
	atomic_thread_fence(memory_order_seq_cst);
	gp_membarrier(st);
	done = !gpci_srcu_any_slot_open(st);
	pthread_mutex_unlock(&st->scan_lock);
	if (done)
		atomic_thread_fence(memory_order_seq_cst);
	return done;
}
