/*
 * models/gpc.pml - a Promela model of libgpc's protocol (Spin 6).
 *
 * What is modelled (docs/design.md states the protocol; the C is in src/ and
 * include/gpc/):
 *
 *   reader()          the host-usage fast path: gpc_cache_begin()/_end()
 *                     (include/gpc/cache.h): an SRCU read section and a
 *                     bounded seqcount snapshot (gpc_cache__snapshot), or,
 *                     with -DSCHEME=RWLOCK, the reader lock held across
 *                     check and use (cache.c:gpc_cache__rw_begin). On a miss
 *                     it takes the slow path: cache.c:gpc_cache_refresh()
 *                     (as cache.c:copy_through() does).
 *   cache_refresh()   cache.c:gpc_cache_refresh + refresh_locked +
 *                     refresh_prepare + index_set + try_publish + quiesce,
 *                     invalidate.c:gpci_inflight_wait.
 *   invalidator()     a blocking invalidation: invalidate.c:
 *                     gpc_invalidate_range_start (inflight_add, walk_range,
 *                     clear_one, wait_blocking), then "the mapping changes",
 *                     then gpc_invalidate_range_end (bump_one, inflight_del,
 *                     wake_refreshes).
 *   nb_invalidator()  the same with GPC_INVAL_NONBLOCK (try-locks, quiet_now
 *                     with its poll and gpc_srcu_try_synchronize, -EAGAIN
 *                     with the registration rolled back, retries; the
 *                     pending mark left by the C code is inval_pending.pml's).
 *   admin_deact()     cache.c:gpc_cache_deactivate, then cache.c:activate()
 *                     again; admin_move(): activate() of an active cache at
 *                     another host range (refresh_prepare's quiesce + move).
 *   vcpu()            a vCPU thread with a guest-usage cache: vcpu.c:
 *                     gpc_vcpu_enter_guest (mode, requests, caches_valid),
 *                     using the page in guest mode, gpc_vcpu_exit_guest,
 *                     gpc_vcpu_handle_requests; the invalidator side is
 *                     vcpu.c:gpci_vcpu_evict / kick / gpci_vcpu_wait_outside.
 *   srcu_worker()     srcu.c's worker thread, running the grace period that
 *                     gpc_srcu_start_poll() asks for.
 *
 * Abstractions (README.md discusses each):
 *  - Memory is sequentially consistent. The C code uses seq_cst atomics for
 *    every cross-thread handshake the model relies on; the SRCU barriers
 *    (membarrier, docs/srcu.md) are assumed to implement the "wait for every
 *    reader inside at grace-period start" guarantee modelled here.
 *  - The host page behind range r is a version number pv[r]. An invalidation
 *    "changes the mapping" by bumping it between range_start and range_end;
 *    the old version is then retired (the page may be freed): retired[r] is
 *    set to the current version when a range_start returns and again at the
 *    change. A reader or vCPU "uses a page" by asserting that the version it
 *    translated is newer than retired[] of its range (property P1).
 *  - A cache's accessor pointer khva is one byte: 0 (invalid, "valid" is
 *    khva != NULL in the C) or ENC(range, version). Caches are in HVA mode
 *    (the memslot generation is not modelled: it is a separate, simpler
 *    mechanism, gen + synchronize).
 *  - The alias-stage mapping objects (map/unmap, adopt, release_mapping) are
 *    not modelled: the model follows the page, not the mapping of it.
 *  - SRCU: one reader bit rd_in; a grace period snapshots the readers inside
 *    at its start into gp_pending and waits until they have all left
 *    (srcu.c:run_gp). gp_seq, get_state, poll_state and the cookies are
 *    modelled exactly (srcu.c:gpc_srcu_get_state/_poll_state/synchronize).
 *  - The seqcount is a counter mod 4 (odd: writer inside). With a single
 *    protected field the mod-4 wrap cannot produce a torn snapshot.
 *  - The invalidation registry (vm->inflight[]) is a count of published
 *    (state 2) entries per range; ranges are disjoint, one invalidation
 *    covers exactly one range. The futex the refreshes sleep on is
 *    inval_wake (vm->inval_wake): futex_wait(seen) returns when it moved.
 *  - A real-time reader (gpc_cache_begin is "any context") may preempt the
 *    writer on its CPU: while the srcu reader is inside its snapshot
 *    (rt_busy), no write section can end. With the bounded snapshot that is
 *    harmless; a spinning reader never finishes (live_reader).
 *
 * Properties:
 *   P1 use        assertion: a reader/vCPU never uses a retired page
 *                 (no page is used after the invalidation covering it
 *                 returned from range_start);
 *   P2 valid_active  ltl: valid => active, for every cache, at every instant;
 *   P3 fresh      ltl: a valid (published) translation is never of a
 *                 retired version, i.e. never older than the last
 *                 invalidation of its range that returned;
 *   P4 live_refresh  ltl (with weak fairness): every refresh terminates
 *                 (invalidations are finite in the model, so they stop);
 *      live_reader   ltl: the fast path's snapshot always finishes;
 *      live_vcpu     ltl: the vCPU eventually gets into guest mode its
 *                 E times (requests are consumed, it does not bail forever);
 *   P5 nowait     assertion: the non-blocking invalidation never reaches a
 *                 blocking wait (lock, grace period, vCPU) whose condition
 *                 is false;
 *   plus Spin's own check for invalid end states (deadlocks).
 *
 * Configurations (-DCFG_xxx) keep each state space small; mutants
 * (-DMUTANT_xxx) are small changes of the protocol, each of which must make
 * Spin fail (README.md lists them; run_model.sh runs them).
 *
 * One deliberate difference from src/cache.c as of this writing: the base
 * model's try_publish checks the in-progress registry before the cache's
 * counter. The C checks the counter first, which is MUTANT_CODE_PUBLISH_ORDER
 * here and publishes a retired page (README.md, "A bug the model found").
 */

/* ---- configuration ---------------------------------------------------- */

#define SRCU 0
#define RWLOCK 1
#ifndef SCHEME
#define SCHEME SRCU
#endif

#if !defined(CFG_HOST) && !defined(CFG_NB) && !defined(CFG_GUEST) && !defined(CFG_GUEST_NB) && !defined(CFG_MOVE) && !defined(CFG_ALL)
#define CFG_HOST
#endif

/* CFG_HOST: host cache, a reader (+ refresh), a blocking invalidation,
 * a deactivate racing with them. */
#ifdef CFG_HOST
#define HOST_CACHE
#define RUN_READER
#define RUN_INVAL
#define RUN_ADMIN_DEACT 0
#endif
/* CFG_MOVE: host cache re-targeted to range 1 while a reader holds the page
 * of range 0 and range 0 is invalidated (I12). */
#ifdef CFG_MOVE
#define HOST_CACHE
#define RUN_READER
#define RUN_INVAL
#define RUN_ADMIN_MOVE 0
#endif
/* CFG_NB: host cache, a reader (+ refresh), a non-blocking invalidation with
 * retries, the SRCU worker. */
#ifdef CFG_NB
#define HOST_CACHE
#define RUN_READER
#define RUN_NB
#define RUN_WORKER
#endif
/* CFG_GUEST: guest cache of a vCPU, a blocking invalidation, a deactivate
 * and re-activate of the cache. */
#ifdef CFG_GUEST
#define GUEST_CACHE
#define RUN_VCPU
#define RUN_INVAL
#define RUN_ADMIN_DEACT 1
#endif
/* CFG_ALL: everything at once, both caches on range 0 (larger; for
 * run_model.sh EXTENDED=1). */
#ifdef CFG_ALL
#define HOST_CACHE
#define GUEST_CACHE
#define RUN_READER
#define RUN_INVAL
#define RUN_NB
#define RUN_WORKER
#define RUN_VCPU
#define RUN_ADMIN_DEACT 0
#endif
/* CFG_GUEST_NB: guest cache of a vCPU and a non-blocking invalidation. */
#ifdef CFG_GUEST_NB
#define GUEST_CACHE
#define RUN_VCPU
#define RUN_NB
#define RUN_WORKER
#endif

#define NC 2          /* caches: 0 host usage, 1 guest usage (of the vCPU) */
#define NR 2          /* host ranges: 0 outside every memslot, 1 inside one */
#define NONE 2        /* indexed[c]: not in the index */
#define VC_CACHE 1
#define GUEST(c) ((c) == VC_CACHE)
#define MEMSLOT(r) ((r) == 1)

#ifndef RD_ROUNDS
#define RD_ROUNDS 2   /* reader: begin/use/end (or miss + refresh) rounds */
#endif
#ifndef TRIES
#define TRIES 2       /* GPC_SEQCOUNT_TRIES (4 in the C; 2 keeps it small) */
#endif
#ifndef NB_TRIES
#define NB_TRIES 3    /* attempts of the non-blocking invalidator */
#endif
#ifndef INV_N
#define INV_N 1       /* invalidations of the blocking invalidator */
#endif
#ifndef VC_ENTRIES
#define VC_ENTRIES 2  /* successful guest entries the vCPU makes */
#endif

/* vCPU modes (enum gpc_vcpu_mode) */
#define OUTSIDE 0
#define IN_GUEST 1
#define EXITING 2

#define W 255         /* rw[c]: held for writing */

/* khva encoding: 0 = NULL (invalid), else 16 * range + version */
#define ENC(r, v) ((r) * 16 + (v))
#define VER(k) ((k) % 16)
#define RNG(k) ((k) / 16)
#define USE_OK(k) (VER(k) > retired[RNG(k)])

/* srcu.c:gpc_srcu_get_state: the cookie of the first grace period that
 * starts after now: (gp_seq + 3) & ~1 */
#define GET_STATE (((gp_seq) + 3) / 2 * 2)

/* ---- state ------------------------------------------------------------ */

/* host memory */
byte pv[NR];          /* version of the page currently mapped at range r */
byte retired[NR];     /* versions <= retired[r] may be freed: must not be used */

/* vm: invalidation state (src/invalidate.c), index (src/index.c) */
byte infl[NR];        /* registered in-progress invalidations (inflight[] state 2) */
byte inval_wake;      /* vm->inval_wake, the futex refreshes sleep on */
bit idx_lock;         /* vm->index_lock */

/* vm: SRCU domain (src/srcu.c) */
byte gp_seq;          /* even: idle, odd: a grace period runs */
byte gp_req;          /* start_poll's request (gp_req) */
bit gp_lock;          /* domain gp_lock */
bit rd_in;            /* the reader's slot: inside a read section */
bit gp_pending;       /* the reader was inside when the current GP began */
bit rt_busy;          /* the (real-time) reader is inside its snapshot */

/* caches (struct gpc_cache + gpc_cache_priv) */
bit actv[NC];       /* priv->active */
byte khva[NC];        /* c->khva: valid iff != 0 */
byte seq[NC];         /* c->seq, mod 4 */
bit wlock[NC];        /* priv->wlock (srcu scheme) */
byte rw[NC];          /* c->rw (rwlock scheme): readers, or W */
bit rlock[NC];        /* priv->refresh_lock */
byte crange[NC];      /* priv->uhva: the range the cache is activated at */
byte indexed[NC];     /* priv->idx: the range it is indexed at, or NONE */
byte inval_count[NC]; /* priv->inval_count */
byte clear_cookie[NC];/* priv->clear_cookie */

/* vCPU (struct gpc_vcpu) */
byte mode;            /* OUTSIDE / IN_GUEST / EXITING */
bit req;              /* requests & GPC_REQ_CACHE_INVALID */
bit vlist[NC];        /* the cache is on the vCPU's list */

/* observation only (ltl) */
bit refr[3];          /* a refresh is running, per caller: 0 reader, 1 vCPU, 2 admin */
bit vc_busy;          /* the vCPU has not made its VC_ENTRIES entries yet */

/* never set: they only name the property in an assertion's text */
hidden byte prop_use;
hidden byte prop_nowait;

/* ---- properties as ltl formulas (select with pan -N name) ------------- */

#define FRESH(c) (khva[c] == 0 || VER(khva[c]) > retired[RNG(khva[c])])

ltl valid_active { [] ((khva[0] == 0 || actv[0]) && (khva[1] == 0 || actv[1])) }
ltl fresh { [] (FRESH(0) && FRESH(1)) }
ltl live_refresh { [] ((refr[0] -> <> !refr[0]) && (refr[1] -> <> !refr[1]) && (refr[2] -> <> !refr[2])) }
ltl live_reader { [] (rt_busy -> <> !rt_busy) }
ltl live_vcpu { [] (vc_busy -> <> !vc_busy) }

/* Program assertions (P1, P5). The ltl runs build without them
 * (-DASSERTS_OFF): pan -A would also silence the claims' own assertions. */
#ifdef ASSERTS_OFF
#define CHECK(c) skip
#else
#define CHECK(c) assert(c)
#endif

/* ---- per-process scratch (inlines are macros over these) -------------- */

#define LOCALS \
	bit nowait; bit ok; bit busy; bit noted; bit got; bit wgot; bit res; bit err; \
	byte k; byte s1; byte tries; byte snap; byte tv; byte r; byte seen; \
	byte cookie; byte need; byte m; byte i

/* ---- primitives --------------------------------------------------------- */

/* A blocking wait. In the non-blocking invalidation it must never be
 * reached with its condition false (P5). */
inline await(cond)
{
	if
	:: nowait -> CHECK((cond) || prop_nowait)
	:: else -> skip
	fi;
	(cond)
}

inline mutex_lock(mtx)
{
	atomic {
		if
		:: nowait -> CHECK(mtx == 0 || prop_nowait)
		:: else -> skip
		fi;
		mtx == 0 -> mtx = 1
	}
}

/* cache.c:gpci_cache_write_lock: the writer lock, then the seqcount odd. */
inline wr_lock(c)
{
	atomic {
#if SCHEME == SRCU
		if
		:: nowait -> CHECK(wlock[c] == 0 || prop_nowait)
		:: else -> skip
		fi;
		wlock[c] == 0 -> wlock[c] = 1;
#else
		if
		:: nowait -> CHECK(rw[c] == 0 || prop_nowait)
		:: else -> skip
		fi;
		rw[c] == 0 -> rw[c] = W;
#endif
		seq[c] = (seq[c] + 1) % 4
	}
}

/* cache.c:gpci_cache_write_trylock (non-blocking invalidation). */
inline wr_trylock(c)
{
	atomic {
#if SCHEME == SRCU
		if
		:: wlock[c] == 0 -> wlock[c] = 1; seq[c] = (seq[c] + 1) % 4; wgot = 1
		:: else -> wgot = 0
		fi
#else
		if
		:: rw[c] == 0 -> rw[c] = W; seq[c] = (seq[c] + 1) % 4; wgot = 1
		:: else -> wgot = 0
		fi
#endif
	}
}

/* cache.c:gpci_cache_write_unlock. A writer preempted by the real-time
 * reader on its CPU cannot finish its section while that reader runs. */
inline wr_unlock(c)
{
	atomic {
		!rt_busy ->
		seq[c] = (seq[c] + 1) % 4;
#if SCHEME == SRCU
		wlock[c] = 0
#else
		rw[c] = 0
#endif
	}
}

/* cache.c:gpci_cache_clear_valid (inside a write section): clear valid and
 * record the grace period that readers who saw it need. */
inline clear_valid(c)
{
	atomic {
		if
		:: khva[c] != 0 -> khva[c] = 0; clear_cookie[c] = GET_STATE
		:: else -> skip
		fi
	}
}

/* srcu.c:run_gp (caller holds gp_lock): gp_seq odd, wait for every reader
 * that was inside at the start, gp_seq even. */
inline run_gp()
{
	atomic { gp_seq++; gp_pending = rd_in };
	await(gp_pending == 0);
	gp_seq++
}

/* srcu.c:synchronize: shared with a grace period begun after our cookie. */
inline synchronize()
{
	cookie = GET_STATE;
	mutex_lock(gp_lock);
	if
	:: gp_seq >= cookie -> skip
	:: else -> run_gp()
	fi;
	gp_lock = 0;
	cookie = 0
}

/* include/gpc/cache.h:gpc_cache__snapshot with the bounded seqcount reader
 * (include/gpc/seqcount.h:gpc_seqcount_read_bounded_begin/_retry).
 * Result in k (0: miss). */
inline snapshot(c)
{
	tries = TRIES;
	k = 0;
	do
	:: tries == 0 -> break
	:: else ->
		tries--;
		s1 = seq[c];
		if
		:: s1 % 2 == 1 ->
#ifdef MUTANT_READER_SPIN
			tries++      /* gpc_seqcount_read_begin: spin while odd */
#else
			break        /* writer inside: a miss, never wait */
#endif
		:: else ->
			k = khva[c];
			if
			:: seq[c] == s1 -> break
			:: else -> k = 0
			fi
		fi
	od;
	s1 = 0;
	tries = 0
}

/* ---- vCPU side of the invalidator (src/vcpu.c) ---------------------------- */

/* vcpu.c:kick: IN_GUEST -> EXITING (the callback makes it leave soon). */
inline kick()
{
	atomic {
		if
		:: mode == IN_GUEST -> mode = EXITING
		:: else -> skip
		fi
	}
}

/* vcpu.c:gpci_vcpu_evict: post the request, then look at the mode. The vCPU
 * must be waited for iff m != OUTSIDE. */
inline evict()
{
	req = 1;
	m = mode;
	if
	:: m == IN_GUEST -> kick()
	:: else -> skip
	fi
}

/* vcpu.c:gpci_vcpu_wait_outside (re-kicks a vCPU found in guest mode). */
inline wait_outside()
{
	do
	:: mode == OUTSIDE -> break
	:: mode == IN_GUEST -> kick()
	od
}

/* ---- refresh (src/cache.c) --------------------------------------------- */

/* cache.c:quiesce: nobody may still use what the cache translated before
 * valid was last cleared. */
inline quiesce(c)
{
	if
	:: GUEST(c) ->
		if
		:: mode != OUTSIDE ->
			evict();
			if
			:: m != OUTSIDE -> wait_outside()
			:: else -> skip
			fi
		:: else -> skip
		fi
	:: else ->
#if SCHEME == SRCU
		cookie = clear_cookie[c];
		if
		:: cookie != 0 && gp_seq < cookie -> synchronize()
		:: else -> skip
		fi
#else
		skip             /* rwlock: every clear excluded the readers */
#endif
	fi;
	m = 0;
	cookie = 0
}

/* invalidate.c:gpci_inflight_wait: sleep (futex) while an overlapping
 * invalidation is registered. */
inline inflight_wait(rr)
{
	do
	:: seen = inval_wake;
		if
		:: infl[rr] == 0 -> break
		:: else -> (inval_wake != seen)
		fi
	od;
	seen = 0
}

/* cache.c:refresh_locked (caller holds refresh_lock). */
inline refresh_locked(c)
{
	do
	::
		/* refresh_prepare: stage 1 (HVA mode: the activated range) */
		r = crange[c];
		/* clear_valid_section: valid cleared before anything else (I3) */
#ifndef MUTANT_NO_CLEAR_PREPARE
		wr_lock(c);
		clear_valid(c);
		wr_unlock(c);
#endif
		/* leaving the indexed range: quiesce first (I12) */
		if
		:: indexed[c] != NONE && indexed[c] != r ->
#ifndef MUTANT_NO_QUIESCE_MOVE
			quiesce(c)
#else
			skip
#endif
		:: else -> skip
		fi;
		/* index_set: visible to invalidations before translating (I5) */
		if
		:: indexed[c] != r ->
			atomic { idx_lock == 0 -> indexed[c] = NONE };  /* index_drop */
			atomic { idx_lock == 0 -> indexed[c] = r }      /* insert */
		:: else -> skip
		fi;
		snap = inval_count[c];
		/* stage2: translate (may sleep, may fault) */
		tv = pv[r];
		/* try_publish, under the cache's write lock */
		wr_lock(c);
#ifdef MUTANT_PUBLISH_EARLY
		khva[c] = ENC(r, tv);    /* valid published before the retry check */
		wr_unlock(c);
		wr_lock(c);
#endif
#ifdef MUTANT_CODE_PUBLISH_ORDER
		/* src/cache.c:try_publish as written today: count, then
		 * registry. Both loads can miss an invalidation whose
		 * range_end runs between them (bump, then unregister), and a
		 * retired page is published: README.md, "A bug the model
		 * found". */
		ok = (inval_count[c] == snap);
		ok = ok && (infl[r] == 0);
#else
		/* registry, then count (the opposite order of range_end's
		 * bump, then unregister): one of the two loads sees it */
		ok = (infl[r] == 0);
		ok = ok && (inval_count[c] == snap);
#endif
		if
		:: ok -> khva[c] = ENC(r, tv)
		:: else ->
#ifdef MUTANT_PUBLISH_EARLY
			clear_valid(c)
#else
			skip
#endif
		fi;
		wr_unlock(c);
		if
		:: ok -> break
		:: else ->
			/* retry; sleep, not spin, while an overlapping one runs */
			if
			:: infl[r] != 0 -> inflight_wait(r)
			:: else -> skip
			fi
		fi
	od;
	r = 0; snap = 0; tv = 0; ok = 0
}

/* cache.c:gpc_cache_refresh. err = 1: -EINVAL (inactive). */
inline cache_refresh(c, who)
{
	refr[who] = 1;
	mutex_lock(rlock[c]);
#ifndef MUTANT_REFRESH_INACTIVE
	if
	:: !actv[c] -> err = 1           /* never make an inactive cache valid */
	:: else -> err = 0; refresh_locked(c)
	fi;
#else
	err = 0; refresh_locked(c);
#endif
	rlock[c] = 0;
	refr[who] = 0
}

/* ---- invalidation (src/invalidate.c) ----------------------------------- */

/* invalidate.c:clear_one */
inline clear_one(c)
{
	inval_count[c]++;
	if
	:: nowait ->
#ifdef MUTANT_NB_BLOCKING_LOCK
		wr_lock(c); wgot = 1
#else
		wr_trylock(c)
#endif
	:: else -> wr_lock(c); wgot = 1
	fi;
	if
	:: !wgot -> busy = 1
	:: else ->
#ifndef MUTANT_EVICT_BEFORE_CLEAR
		clear_valid(c);
		wr_unlock(c);
		if
		:: GUEST(c) ->
			evict();
			noted = noted || (m != OUTSIDE);
			m = 0
		:: else ->
#if SCHEME == SRCU
			/* need_grace: also for a cache already invalid */
			if
			:: clear_cookie[c] > need -> need = clear_cookie[c]
			:: else -> skip
			fi
#else
			skip
#endif
		fi
#else
		/* request and mode looked at before valid is cleared */
		if
		:: GUEST(c) -> evict(); noted = noted || (m != OUTSIDE); m = 0
		:: else -> skip
		fi;
		clear_valid(c);
		wr_unlock(c);
		if
		:: !GUEST(c) && SCHEME == SRCU && clear_cookie[c] > need -> need = clear_cookie[c]
		:: else -> skip
		fi
#endif
	fi;
	wgot = 0
}

/* invalidate.c:wait_blocking */
inline wait_blocking()
{
#if SCHEME == SRCU && !defined(MUTANT_NO_GP)
	if
	:: need != 0 && gp_seq < need -> synchronize()
	:: else -> skip
	fi;
#endif
	if
#ifndef MUTANT_NO_VCPU_WAIT
	:: noted -> wait_outside()
#endif
	:: else -> skip
	fi
}

/* invalidate.c:quiet_now (non-blocking). res = 1: -EAGAIN. */
inline quiet_now()
{
	if
	:: busy -> res = 1
	:: else ->
		if
#ifndef MUTANT_NB_NO_POLL
		/*
		 * The grace period is not over, and gpc_srcu_try_synchronize
		 * finds a reader inside (one atomic scan: its barrier argument
		 * is models/srcu_trysync.pml's). With no reader inside, the
		 * try says yes and we go on as if the grace period were over.
		 */
		:: need != 0 && gp_seq < need && rd_in ->
			/* gpc_srcu_start_poll: get the grace period going */
			atomic {
				if
				:: GET_STATE > gp_req -> gp_req = GET_STATE
				:: else -> skip
				fi
			};
			res = 1
#endif
		:: else ->
#ifndef MUTANT_NB_NO_VCPU
			if
			:: noted && mode != OUTSIDE -> res = 1
			:: else -> res = 0
			fi
#else
			res = 0
#endif
		fi
	fi
}

/* invalidate.c:gpc_invalidate_range_start. res = 1: -EAGAIN. */
inline range_start(rr)
{
	need = 0; noted = 0; busy = 0; res = 0;
#ifndef MUTANT_INFLIGHT_LATE
	infl[rr]++;                     /* inflight_add: before touching caches */
#endif
	/* walk_range */
	if
	:: nowait ->
		atomic {
			if
			:: idx_lock == 0 -> idx_lock = 1; got = 1
			:: else -> got = 0
			fi
		}
	:: else -> mutex_lock(idx_lock); got = 1
	fi;
	if
	:: got ->
		i = 0;
		do
		:: i == NC || busy -> break
		:: else ->
			if
			:: indexed[i] == rr -> clear_one(i)
			:: else -> skip
			fi;
			i++
		od;
		idx_lock = 0
	:: else -> busy = 1
	fi;
#ifdef MUTANT_INFLIGHT_LATE
	infl[rr]++;                     /* counted in progress after clearing */
#endif
	if
	:: !nowait -> wait_blocking()
	:: else ->
#ifdef MUTANT_NB_SYNC
		/* waits like the blocking form instead of polling */
		if
		:: busy -> res = 1
		:: else -> wait_blocking()
		fi;
#else
		quiet_now();
#endif
		if
		:: res -> atomic { infl[rr]--; inval_wake++ }  /* unregister, -EAGAIN */
		:: else -> skip
		fi
	fi;
	i = 0; need = 0; noted = 0; busy = 0; got = 0
}

/* invalidate.c:gpc_invalidate_range_end */
inline range_end(rr)
{
#ifdef MUTANT_END_UNREG_FIRST
	atomic { infl[rr]--; inval_wake++ };
#endif
	mutex_lock(idx_lock);
	i = 0;
	do
	:: i == NC -> break
	:: else ->
		if
#ifdef MUTANT_SEQ_MEMSLOT_ONLY
		:: indexed[i] == rr && MEMSLOT(rr) -> inval_count[i]++
#else
		:: indexed[i] == rr -> inval_count[i]++     /* bump_one */
#endif
		:: else -> skip
		fi;
		i++
	od;
	idx_lock = 0;
	i = 0;
	/* vm->inval_seq++ is not modelled: refresh does not read it */
#ifndef MUTANT_END_UNREG_FIRST
#ifdef MUTANT_NO_WAKE
	infl[rr]--                                /* unregister, no wake */
#else
	atomic { infl[rr]--; inval_wake++ }       /* inflight_del + wake_refreshes */
#endif
#endif
}

/* The owner of the memory changes the mapping of range rr: the old page is
 * gone (may be freed); later translations find the new one. */
inline change_mapping(rr)
{
	atomic { retired[rr] = pv[rr]; pv[rr]++ }
}

/* ---- deactivate / activate (src/cache.c) ------------------------------- */

/* cache.c:gpc_cache_deactivate + deactivate_locked */
inline deactivate(c)
{
#ifndef MUTANT_DEACT_NO_LOCK
	mutex_lock(rlock[c]);
#endif
	if
	:: actv[c] ->
		wr_lock(c);
#ifndef MUTANT_DEACT_SPLIT
		atomic { actv[c] = 0; clear_valid(c) };  /* one write section (I1) */
#else
		actv[c] = 0;                             /* inactive first ... */
		wr_unlock(c);
		wr_lock(c);
		clear_valid(c);                          /* ... invalid later */
#endif
		wr_unlock(c);
		quiesce(c);
		atomic { idx_lock == 0 -> indexed[c] = NONE };  /* index_drop */
		if
		:: GUEST(c) -> vlist[c] = 0             /* gpci_vcpu_del_cache */
		:: else -> skip
		fi
	:: else -> skip
	fi;
#ifndef MUTANT_DEACT_NO_LOCK
	rlock[c] = 0
#else
	skip
#endif
}

/* cache.c:activate (HVA mode), also re-targeting an active cache. */
inline activate(c, rr)
{
	mutex_lock(rlock[c]);
	if
	:: actv[c] && GUEST(c) -> vlist[c] = 0
	:: else -> skip
	fi;
	crange[c] = rr;
	if
	:: GUEST(c) -> vlist[c] = 1               /* gpci_vcpu_add_cache */
	:: else -> skip
	fi;
	actv[c] = 1;
	refr[2] = 1;
	refresh_locked(c);
	refr[2] = 0;
	rlock[c] = 0
}

/* ---- processes ---------------------------------------------------------- */

#ifdef RUN_READER
/* Host usage: gpc_cache_begin / use / gpc_cache_end, a miss goes to
 * gpc_cache_refresh (cache.c:copy_through). Cache 0. */
proctype reader()
{
	LOCALS;
	byte round;
	bit miss;

	do
	:: round == RD_ROUNDS -> break
	:: else ->
		round++;
#if SCHEME == SRCU
		atomic { rd_in = 1; rt_busy = 1 };   /* gpc_srcu_read_lock */
		snapshot(0);
		rt_busy = 0;
#else
		atomic { rw[0] != W -> rw[0]++ };   /* pthread_rwlock_rdlock */
		k = khva[0];                         /* no writer: seq is even */
#ifdef MUTANT_RW_EARLY_UNLOCK
		rw[0]--;                             /* lock dropped before the use */
#endif
#endif
		if
		:: k != 0 ->
			CHECK(USE_OK(k) || prop_use);   /* use the page (P1) */
			k = 0
		:: else -> miss = 1
		fi;
#if SCHEME == SRCU
		atomic { rd_in = 0; gp_pending = 0 };   /* gpc_srcu_read_unlock */
#elif !defined(MUTANT_RW_EARLY_UNLOCK)
		rw[0]--;                              /* pthread_rwlock_unlock */
#endif
		if
		:: miss ->                            /* slow path */
			miss = 0;
			cache_refresh(0, 0);
			if
			:: err -> break                   /* -EINVAL: inactive */
			:: else -> skip
			fi
		:: else -> skip
		fi
	od
}
#endif

#ifdef RUN_INVAL
/* A blocking invalidation of range rr. */
proctype invalidator(byte rr)
{
	LOCALS;
	byte n;

	do
	:: n == INV_N -> break
	:: else ->
		n++;
		range_start(rr);
		atomic { retired[rr] = pv[rr] };  /* range_start returned: nobody uses it */
		change_mapping(rr);
		range_end(rr)
	od
}
#endif

#ifdef RUN_NB
/* A non-blocking invalidation of range rr, retried after -EAGAIN (after
 * which the caller neither changes the mapping nor calls range_end). */
proctype nb_invalidator(byte rr)
{
	LOCALS;
	byte attempts;

	do
	:: attempts == NB_TRIES -> break
	:: else ->
		attempts++;
		nowait = 1;
		range_start(rr);
		nowait = 0;
		if
		:: !res ->
			atomic { retired[rr] = pv[rr] };
			change_mapping(rr);
			range_end(rr);
			break
		:: else -> skip                     /* -EAGAIN: try again later */
		fi
	od
}
#endif

#ifdef RUN_WORKER
/* srcu.c worker: runs the grace period start_poll asked for. */
proctype srcu_worker()
{
	LOCALS;
end:
	do
	:: atomic { gp_req > gp_seq && gp_lock == 0 -> gp_lock = 1 };
		run_gp();
		gp_lock = 0
	od
}
#endif

#ifdef RUN_ADMIN_DEACT
/* Deactivate racing with readers, refreshes and invalidations, then
 * activate again (cache c at its range). */
proctype admin_deact(byte c)
{
	LOCALS;

	deactivate(c);
	activate(c, crange[c])
}
#endif

#ifdef RUN_ADMIN_MOVE
/* Re-target an active cache to range 1 (activate while active), while its
 * old range 0 may be invalidated (I12). */
proctype admin_move(byte c)
{
	LOCALS;

	activate(c, 1)
}
#endif

#ifdef RUN_VCPU
/* vcpu.c: a vCPU thread with guest-usage cache VC_CACHE. */
proctype vcpu()
{
	LOCALS;
	byte gv;
	byte entries;
	bit bail;

	do
	:: entries == VC_ENTRIES -> break
	:: else ->
		/* gpc_vcpu_enter_guest */
#ifndef MUTANT_VCPU_MODE_LATE
		mode = IN_GUEST;            /* CAS OUTSIDE -> IN_GUEST, seq_cst */
#endif
		bail = req;                 /* atomic_load(requests) */
		if
		:: !bail && vlist[VC_CACHE] ->
			snapshot(VC_CACHE);     /* caches_valid: gpc_cache_check */
			gv = k;
			k = 0;
			bail = (gv == 0)
		:: else -> skip
		fi;
#ifdef MUTANT_VCPU_MODE_LATE
		mode = IN_GUEST;            /* after the last check */
#endif
		if
		:: bail ->
			mode = OUTSIDE;         /* gpc_vcpu_exit_guest, -EAGAIN */
			/* gpc_vcpu_handle_requests */
#ifndef MUTANT_NO_REQ_CONSUME
			req = 0;                /* atomic_exchange(requests, 0) */
#endif
			if
			:: vlist[VC_CACHE] ->
				snapshot(VC_CACHE);
				if
				:: k == 0 -> k = 0; cache_refresh(VC_CACHE, 1)
				:: else -> k = 0
				fi
			:: else -> skip
			fi
		:: else ->
			entries++;
			/* in guest mode: the page is used, without any barrier,
			 * until the vCPU leaves guest mode (P1) */
			if
			:: gv != 0 -> CHECK(USE_OK(gv) || prop_use)
			:: else -> skip
			fi;
			gv = 0;
			mode = OUTSIDE          /* gpc_vcpu_exit_guest */
		fi
	od;
	vc_busy = 0
}
#endif

init {
	atomic {
		pv[0] = 1;
		pv[1] = 1;
		indexed[0] = NONE;
		indexed[1] = NONE;
#ifdef HOST_CACHE
		/* cache 0: host usage, active and valid at range 0 */
		actv[0] = 1; crange[0] = 0; indexed[0] = 0; khva[0] = ENC(0, 1);
#endif
#ifdef GUEST_CACHE
		/* cache 1: guest usage of the vCPU, active and valid at range 0 */
		actv[1] = 1; crange[1] = 0; indexed[1] = 0; khva[1] = ENC(0, 1);
		vlist[1] = 1;
#endif
#ifdef RUN_READER
		run reader();
#endif
#ifdef RUN_INVAL
		run invalidator(0);
#endif
#ifdef RUN_NB
		run nb_invalidator(0);
#endif
#ifdef RUN_WORKER
		run srcu_worker();
#endif
#ifdef RUN_ADMIN_DEACT
		run admin_deact(RUN_ADMIN_DEACT);
#endif
#ifdef RUN_ADMIN_MOVE
		run admin_move(RUN_ADMIN_MOVE);
#endif
#ifdef RUN_VCPU
		vc_busy = 1;
		run vcpu();
#endif
	}
}
