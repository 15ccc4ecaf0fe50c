/*
 * models/srcu_trysync.pml - the non-blocking grace-period attempt
 * (src/srcu.c: gpc_srcu_try_synchronize) against readers whose slot store
 * may still sit in their store buffer when they load protected data.
 *
 * A reader's read_lock ends with a compiler barrier only: on a real CPU its
 * slot store can be delayed past its next loads (store -> load reordering,
 * which even x86 allows). That is what the membarrier of a grace period is
 * for: it runs a full barrier on every thread, so each reader's earlier
 * stores are visible to the updater's scan, or else the reader's later
 * loads come after the updater's earlier stores. The model gives every
 * reader a FIFO store buffer for its slot, drained at any moment by a
 * process of its own; loads read memory (TSO). The membarrier drains every
 * buffer at once. The updater's own store is immediate: its seq_cst fence
 * stands for that.
 *
 * The updater unpublishes the object (ptr = NEW), tries once, and frees
 * the old object if the try said every section has ended.
 *
 * Properties:
 *  - safety: no reader still uses the old object after it was freed
 *    (asserted at the last moment of use, just before read_unlock);
 *  - success when quiet: if no reader was inside or entered a section in
 *    program order during the whole try, the try says yes (no false "busy"
 *    when nobody reads: what makes a non-blocking invalidation succeed at
 *    its first attempt).
 *
 * Mutant (spin -DM_NO_MEMBARRIER): the scan without the barrier. It must
 * fail both: safety alone (-DSAFETY_ONLY: a reader's buffered read_lock
 * store is missed while it holds OLD), and success when quiet (a buffered
 * read_unlock store makes an idle reader look busy).
 *
 * NR readers (default 2) of NSEC sections each (default 2): NR=2 has about
 * 240,000 states; NR=3 about 28 million (minutes), so the ctest run stops
 * at 2.
 */

#define OLD 1
#define NEW 2
#ifndef NR
#define NR 2
#endif
#ifndef NSEC
#define NSEC 2
#endif

byte slot[NR];              /* the slots as memory has them */
chan sb[NR] = [4] of { byte }; /* each reader's store buffer (slot values) */
byte ptr = OLD;
bit freed;

/* Ghosts: sections open in program order, and sections entered so far. */
byte open_n;
byte entered;

proctype reader(byte me)
{
	byte p, k;

	for (k : 1 .. NSEC) {
		atomic { sb[me] ! 1; open_n++; entered++ } /* read_lock */
		p = ptr;                                   /* may pass the store */
		assert(!(p == OLD && freed));              /* last use */
		atomic { sb[me] ! 0; open_n-- }            /* read_unlock */
	}
}

/* The hardware: a buffered store of reader @me reaches memory some time. */
proctype drain(byte me)
{
	byte v;
end:
	do
	:: atomic { sb[me] ? v -> slot[me] = v }
	od
}

inline drain_all()
{
	for (i : 0 .. NR - 1) {
		do
		:: nempty(sb[i]) -> sb[i] ? v; slot[i] = v
		:: empty(sb[i]) -> break
		od
	}
}

active proctype updater()
{
	byte i, v, e0;
	bit quiet0, busy;

	ptr = NEW;
	atomic { quiet0 = (open_n == 0); e0 = entered }
#ifndef M_NO_MEMBARRIER
	atomic { drain_all() }
#endif
	busy = 0;
	for (i : 0 .. NR - 1) {
		if
		:: slot[i] != 0 -> busy = 1
		:: else -> skip
		fi
	}
	atomic {
#ifndef SAFETY_ONLY
		assert(!(quiet0 && entered == e0 && busy));
#endif
		if
		:: !busy -> freed = 1
		:: else -> skip
		fi
	}
}

init
{
	byte r;

	atomic {
		for (r : 0 .. NR - 1) {
			run reader(r);
			run drain(r)
		}
	}
}
