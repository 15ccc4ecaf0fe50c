/*
 * models/srcu_slots.pml - where a reader's SRCU slot lives, through a
 * thread's life (src/srcu_slot.c: gpc_srcu_slot_slow, install_entry,
 * gpci_srcu_rec_release, thread_exit_hook; src/srcu.c: scan_blocker).
 *
 * One domain, one reader thread and one grace-period process. The thread's
 * slot is either its lookaside entry in TLS (ENTRY) or the embedded slot of
 * its registry record (OWN); the record says which (rec_slot), and grace
 * periods read the count through it, under scan_lock. The thread:
 *  1. looks its slot up (fast path: the entry's key matches; else
 *     slot_slow: find or claim the record, install the entry unless the
 *     thread is exiting), runs a section on it, and leaves it;
 *  2. runs its exit hook (thread_exiting, then under scan_lock: the entry's
 *     key first, the record back at OWN, the record free; then the TLS
 *     memset);
 *  3. runs one more section from a later key destructor (or a signal after
 *     the last destructor round), then its TLS goes away.
 * A signal handler may run between any two steps of the thread (H below),
 * up to MAXH times, and runs a whole section of its own on whatever slot
 * its lookup gives, while the grace period runs alongside.
 *
 * Sequential consistency stands for the membarrier argument of run_gp's
 * (A) (docs/srcu.md): a scan sees every store the reader made before it.
 * What is checked here is only *where* the reader counts and where the
 * grace period looks:
 *  - gp_ok:  a grace period never ends while a section that was open when
 *            it began is still open (the thread's or a handler's);
 *  - tls_ok: a grace period never reads the entry after the thread's TLS
 *            is gone.
 *
 * Mutants (spin -DNAME), each of which must fail:
 *  M_RELEASE_KEEPS_KEY     release leaves the entry's key to the TLS memset
 *                          at the end of the hook (a handler after the
 *                          release counts on the entry, which nobody scans:
 *                          the bug the review found). Zeroing the key last
 *                          inside the release instead would be equivalent:
 *                          scan_lock is held across it, so no scan can
 *                          run while such a handler's section is open.
 *  M_INSTALL_KEY_FIRST     install writes the key before it points the
 *                          record at the entry
 *  M_INSTALL_WHILE_EXITING slot_slow installs the entry in an exiting thread
 *                          (a late section leaves the record pointing into
 *                          TLS that goes away)
 *  M_NO_SCAN_LOCK          the grace period reads the record without
 *                          scan_lock (the TLS can go between the pointer
 *                          load and the count load)
 */

#define ENTRY 0
#define OWN   1
#define K     7 /* the domain's key */
#ifndef MAXH
#define MAXH 2
#endif

byte ctr[2];          /* the two possible slots' counts */
byte key_e;           /* the entry's key: K when it is the domain's */
byte rec_slot = OWN;  /* where the record points */
bit rec_owned;        /* the record is the thread's */
bit exiting;          /* thread_exiting */
bit armed = 1;        /* the exit hook will run (pthread_setspecific ok) */
bit tls_gone;         /* the thread's TLS is freed */
bit scan_locked;

/* Ghosts: which sections are open, and a generation per opener. */
bit main_open, h_open;
byte main_gen, h_gen;
byte nh;              /* handlers run so far */
bit in_handler;
byte hs;              /* the handler's slot */

inline scan_lock()   { atomic { scan_locked == 0 -> scan_locked = 1 } }
inline scan_unlock() { scan_locked = 0 }

/*
 * install_entry() and the lookup, as macros over the step between
 * statements (HOOK): H() in the thread, skip inside a handler (Promela
 * inlines cannot recurse, and handlers do not nest here).
 */
#ifdef M_INSTALL_KEY_FIRST
#define INSTALL(HOOK)                                              \
	key_e = K;                                                 \
	HOOK;                                                      \
	if                                                         \
	:: rec_slot != ENTRY -> ctr[ENTRY] = 0; HOOK; rec_slot = ENTRY \
	:: else -> skip                                            \
	fi
#else
#define INSTALL(HOOK)                                              \
	key_e = 0;                                                 \
	HOOK;                                                      \
	if                                                         \
	:: rec_slot != ENTRY -> ctr[ENTRY] = 0; HOOK; rec_slot = ENTRY \
	:: else -> skip                                            \
	fi;                                                        \
	HOOK;                                                      \
	key_e = K
#endif

#ifdef M_INSTALL_WHILE_EXITING
#define MAY_INSTALL_OWNED(x)  (x == ENTRY)
#define MAY_INSTALL_CLAIMED (armed)
#else
#define MAY_INSTALL_OWNED(x)  (x == ENTRY && !exiting)
#define MAY_INSTALL_CLAIMED (!exiting && armed)
#endif

/* gpc_srcu__slot_by_key() and gpc_srcu_slot_slow(), result in s0. */
#define LOOKUP(s0, HOOK)                                           \
	if                                                         \
	:: key_e == K -> s0 = ENTRY                                \
	:: else ->                                                 \
		if                                                 \
		:: rec_owned ->                                    \
			s0 = rec_slot;                             \
			if                                         \
			:: MAY_INSTALL_OWNED(s0) -> INSTALL(HOOK)  \
			:: else -> skip                            \
			fi                                         \
		:: else ->                                         \
			rec_owned = 1;                             \
			HOOK;                                      \
			if                                         \
			:: MAY_INSTALL_CLAIMED -> INSTALL(HOOK); s0 = ENTRY \
			:: else -> s0 = OWN                        \
			fi                                         \
		fi                                                 \
	fi

/* A signal handler's whole section (handlers do not nest here: H is a
 * no-op inside one). */
inline handler()
{
	in_handler = 1;
	LOOKUP(hs, skip);
	ctr[hs] = ctr[hs] + 1;
	h_gen++;
	h_open = 1;
	/* The grace period may run here, while the section is open. */
	h_open = 0;
	ctr[hs] = ctr[hs] - 1;
	in_handler = 0
}

/* H: maybe a signal, between any two steps of the thread. */
inline H()
{
	if
	:: !in_handler && !tls_gone && nh < MAXH -> nh++; handler()
	:: true -> skip
	fi
}

/* rec_release() of the thread's own record, under scan_lock. */
inline release()
{
#ifdef M_RELEASE_KEEPS_KEY
	if
	:: rec_slot != OWN -> ctr[OWN] = 0; H(); rec_slot = OWN
	:: else -> skip
	fi;
#else
	key_e = 0;
	H();
	if
	:: rec_slot != OWN -> ctr[OWN] = 0; H(); rec_slot = OWN
	:: else -> skip
	fi;
#endif
	H();
	rec_owned = 0;
}

active proctype reader()
{
	byte s;

	/* pthread_setspecific may fail: no exit hook, no entry. */
	if
	:: armed = 1
	:: armed = 0
	fi;
	H();
	LOOKUP(s, H());
	H();
	ctr[s] = ctr[s] + 1;
	main_gen++;
	main_open = 1;
	H();
	main_open = 0;
	ctr[s] = ctr[s] - 1;
	H();

	/* thread_exit_hook (only if armed). */
	if
	:: armed ->
		exiting = 1;
		H();
		scan_lock();
		H();
		if
		:: rec_owned -> release()
		:: else -> skip
		fi;
		scan_unlock();
		H();
		key_e = 0; /* the TLS memset */
		ctr[ENTRY] = 0;
		H()
	:: else -> skip
	fi;

	/* A later key destructor's section (or a signal after the last
	 * round: the handler above may run here as well). */
	LOOKUP(s, H());
	ctr[s] = ctr[s] + 1;
	main_gen++;
	main_open = 1;
	H();
	main_open = 0;
	ctr[s] = ctr[s] - 1;
	H();

	/* The thread is gone with its TLS. A record that still points at the
	 * entry is what tls_ok catches when a scan reads it; without an exit
	 * hook the record keeps pointing at its own slot. */
	tls_gone = 1
}

/* Grace periods: wait until the scan shows the slot outside. */
active proctype gp()
{
	byte n, c, p;
	bit old_main, old_h;
	byte g_main, g_h;

	for (n : 1 .. 2) {
		atomic {
			old_main = main_open;
			g_main = main_gen;
			old_h = h_open;
			g_h = h_gen
		}
		do
		:: true ->
#ifndef M_NO_SCAN_LOCK
			scan_lock();
#endif
			if
			:: rec_owned ->
				p = rec_slot;
				/* tls_ok */
				assert(!(p == ENTRY && tls_gone));
				c = ctr[p]
			:: else -> c = 0
			fi;
#ifndef M_NO_SCAN_LOCK
			scan_unlock();
#endif
			if
			:: c == 0 -> break
			:: else -> skip
			fi
		od;
		/* gp_ok: no section open at the start is still open. */
		assert(!(old_main && main_open && main_gen == g_main));
		assert(!(old_h && h_open && h_gen == g_h))
	}
}
