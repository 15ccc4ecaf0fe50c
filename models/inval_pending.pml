/*
 * inval_pending.pml - a non-blocking invalidation retried on -EAGAIN
 * against writers that refresh their cache after every miss
 * (src/invalidate.c, "pending mark"; gpc/invalidate.h).
 *
 * What is modelled, and how far:
 *  - NW writers, each in a loop: a read section (begin, use the page if the
 *    cache is valid, end); after a miss, a refresh that sleeps while an
 *    invalidation of the range is registered (in progress or pending) and
 *    else publishes (valid again). Publishing is one atomic step here: in
 *    the code it is the registry check under the cache's write lock, whose
 *    ordering gpc.pml checks.
 *  - The grace period is abstract: clearing the cache records which writers
 *    are inside a section (need[]); a writer's end of section drops its
 *    bit; the grace period of that clear is over when need[] is empty. This
 *    is what gpc_srcu_poll_state / the non-blocking attempt observe; how
 *    the domain gets there is srcu_slots.pml's and gpc.pml's business.
 *  - The invalidator: register (or take over its pending mark), clear the
 *    cache if it is valid (a new clear needs a new grace period), then
 *    succeed if the grace period of every clear is over, else fail with
 *    -EAGAIN, leave the pending mark and retry.
 *  - Not modelled: the lapse of an abandoned mark (a timeout of
 *    GPC_INVAL_PENDING_MS; the model has no time, and a retrying caller
 *    never meets it), cancel, vCPUs (their eviction is gpc.pml's).
 *
 * Properties:
 *  - safety (assert): when the invalidation succeeds no writer still uses
 *    a page it got before a clear;
 *  - liveness (ltl done_eventually, checked with weak fairness): the
 *    retried invalidation eventually succeeds.
 *
 * Mutants (run_inval_pending.sh): M_NO_PENDING (the old code: -EAGAIN
 * drops the registration, so writers make the cache valid again at once
 * and each retry needs a new grace period) must fail liveness;
 * M_NO_GRACE (success without the grace period) must fail safety.
 */

#ifndef NW
#define NW 2
#endif

bool valid = true;	/* the cache holds a translation of the range */
bool registered = false; /* in progress or pending: refreshes wait */
bool inside[NW];	/* the writer is inside a read section */
bool need[NW];		/* inside a section at a clear, not yet ended */
bool using[NW];		/* the writer uses the page (inside, valid) */
bool done = false;	/* the invalidation succeeded */

inline all_clear(r)
{
	r = true;
	i = 0;
	do
	:: i < NW -> if :: need[i] -> r = false :: else fi; i++
	:: else -> break
	od
}

proctype writer(byte me)
{
	bool hit;

	do
	:: done -> break
	:: else ->
		/* begin: a hit uses the page until end */
		atomic {
			inside[me] = true;
			hit = valid;
			using[me] = hit
		}
		/* end: no grace period waits for this section any more */
		atomic {
			inside[me] = false;
			using[me] = false;
			need[me] = false
		}
		/* after a miss, refresh: it sleeps while the range is
		 * registered, then publishes */
		if
		:: !hit -> atomic { !registered -> valid = true }
		:: else
		fi
	od
}

proctype invalidator()
{
	byte i;
	bool quiet;

	do
	:: atomic {
		/* register, or take over the pending mark (the same entry) */
		registered = true;
		/* clear: a new clear needs a grace period of its own */
		if
		:: valid ->
			valid = false;
			i = 0;
			do
			:: i < NW -> need[i] = need[i] || inside[i]; i++
			:: else -> break
			od
		:: else
		fi
	   }
		atomic {
#ifdef M_NO_GRACE
			quiet = true;
#else
			all_clear(quiet);
#endif
			if
			:: quiet ->
				i = 0;
				do
				:: i < NW -> assert(!using[i]); i++
				:: else -> break
				od;
				done = true
			:: else ->
				/* -EAGAIN */
#ifdef M_NO_PENDING
				registered = false
#else
				skip /* the mark stays: registered */
#endif
			fi
		}
		if
		:: done -> break
		:: else
		fi
	od;
	/* range_end */
	registered = false
}

init
{
	byte k;

	atomic {
		k = 0;
		do
		:: k < NW -> run writer(k); k++
		:: else -> break
		od;
		run invalidator()
	}
}

ltl done_eventually { <> done }
