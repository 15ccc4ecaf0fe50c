/*
 * models/srcu_wake.pml - the grace period's wait for readers and the
 * readers' wake-up (src/srcu.c: arm_wait, wait_for_readers,
 * sleep_for_readers, gpc_srcu_wake_gp; include/gpc/srcu.h:
 * gpc_srcu__unlock), without sequential consistency for the reader.
 *
 * One reader is inside a section of the phase being drained when the grace
 * period begins. Its read_unlock stores its slot through a FIFO store
 * buffer (drained to memory at any moment by a process of its own) and then
 * loads the wait word from memory: x86-TSO, where a load may pass an
 * earlier store. Its slow path (gpc_srcu_wake_gp) is an atomic RMW, which
 * drains the buffer first (a locked instruction), then futex_wake. The
 * updater arms the word, issues the membarrier (every buffer drains), and
 * loops: scan; announce a sleep by exchange; futex_wait (sleep only while
 * the word still holds what it announced); exchange back. With -DLAZY it
 * is the second phase's wait: the membarrier comes only before the first
 * sleep, followed by a rescan.
 *
 * The futex has no timeout here, so a lost wake-up is a deadlock: Spin
 * reports the updater blocked forever as an invalid end state. Properties:
 *  - no lost wake-up (no invalid end state);
 *  - the updater does not finish while the reader is inside (assertion).
 * (That a reader of the other phase never wakes is a comparison in
 * gpc_srcu__unlock, tested, not modelled.)
 *
 * Mutants (spin -DNAME), each of which must fail:
 *  M_NO_WAKE          the reader never takes the slow path
 *  M_NO_MEMBARRIER    the updater scans without the membarrier after arming
 *  M_STORE_SLEEP      the updater announces its sleep with a plain store,
 *                     which does not read WOKEN
 *  M_WAKE_UNCHECKED   the reader's slow path wakes without the RMW (a plain
 *                     load of SLEEP), so a sleep announced meanwhile is lost
 *  M_LAZY_NO_RESCAN   (with LAZY) the late membarrier is not followed by a
 *                     rescan before the sleep
 */

#define ACTIVE 1
#define WOKEN  4
#define SLEEP  8

byte slot = 1;             /* memory: the reader is inside */
chan sb = [2] of { byte }; /* the reader's store buffer */
byte word;                 /* gp_futex */
bit sleeping;              /* the updater is blocked in futex_wait */
bit gp_done;
byte wakes;                /* futex_wake calls */

proctype drain()
{
	byte v;
end:
	do
	:: atomic { sb ? v -> slot = v }
	od
}

inline futex_wake()
{
	atomic {
		wakes++;
		if
		:: sleeping -> sleeping = 0
		:: else -> skip
		fi
	}
}

inline drain_all()
{
	do
	:: nempty(sb) -> sb ? v; slot = v
	:: empty(sb) -> break
	od
}

proctype reader()
{
	byte w, old, v;

	sb ! 0;    /* read_unlock: the slot store, buffered */
	w = word;  /* then the wait word, from memory */
#ifndef M_NO_WAKE
	if
	:: w & ACTIVE ->
#ifdef M_WAKE_UNCHECKED
		old = word;
#else
		atomic { drain_all(); old = word; word = word | WOKEN }
#endif
		if
		:: old & SLEEP -> futex_wake()
		:: else -> skip
		fi
	:: else -> skip
	fi
#endif
}

proctype updater()
{
	byte old, v;
	bit late_mb;

	word = ACTIVE; /* arm_wait */
#ifdef LAZY
	late_mb = 1;
#else
#ifndef M_NO_MEMBARRIER
	atomic { drain_all() } /* membarrier(): every buffer drains */
#endif
#endif
	do
	:: slot == 0 -> break /* scan_blocker: nobody holds us up */
	:: late_mb ->
		atomic { drain_all() }; /* the second phase's membarrier */
		late_mb = 0
#ifdef M_LAZY_NO_RESCAN
		;
		goto announce
#endif
	:: else ->
#ifdef M_LAZY_NO_RESCAN
announce:
#endif
#ifdef M_STORE_SLEEP
		atomic { old = 0; word = ACTIVE | SLEEP };
#else
		atomic { old = word; word = ACTIVE | SLEEP };
#endif
		if
		:: !(old & WOKEN) ->
			/* futex_wait: sleep only while the word is as announced */
			atomic {
				if
				:: word == (ACTIVE | SLEEP) -> sleeping = 1
				:: else -> skip
				fi
			};
			sleeping == 0
		:: else -> skip
		fi;
		word = ACTIVE /* the exchange back */
	od;
	assert(slot == 0);
	word = 0;
	gp_done = 1
}

init
{
	atomic {
		run drain();
		run reader();
		run updater()
	}
}
