/* SPDX-License-Identifier: MIT */
/*
 * tools/gpcvm/proto.h - the paravirtual protocol between gpcvm and its guest.
 *
 * Shared, word for word, by the VMM, by the freestanding guest (built with
 * -ffreestanding, so only <stdint.h>/<stddef.h> and compiler builtins here)
 * and by the unit tests. docs/gpcvm.md is the prose version of this file.
 *
 * Modeled on Xen's HVM interface:
 *  - hypercalls are port I/O: `in eax, dx` with dx = GPCVM_HC_PORT, the
 *    number in rax and arguments in rdi, rsi, rcx; the 32-bit result (0 or a
 *    negative Linux errno) comes back in eax;
 *  - a shared-info page (struct gpcvm_shared_info, Xen's shared_info with
 *    the 2-level event channel ABI) at a GPA the guest picks and may move:
 *    any page of always-present RAM or of the hole window, where the VMM
 *    maps its own page as an overlay memslot, splitting the RAM slot under
 *    it (the RAM there is hidden until the page moves away, not lost);
 *  - a runstate area per vCPU (struct gpcvm_runstate, Xen's
 *    vcpu_runstate_info) at any byte address of guest RAM that is always
 *    present (low RAM, the runstate window), kept up to date by the VMM
 *    with Xen's XEN_RUNSTATE_UPDATE flag protocol;
 *  - a boot page the VMM fills before the guest starts (struct gpcvm_boot).
 */
#ifndef GPCVM_PROTO_H
#define GPCVM_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* ---- guest-physical layout --------------------------------------------- */

#define GPCVM_PAGE	4096ull
#define GPCVM_MAX_VCPUS 8

#define GPCVM_GDT_GPA	  0x500ull
#define GPCVM_PML4_GPA	  0x1000ull /* PDPT at +0x1000, PD at +0x2000 */
#define GPCVM_BOOT_GPA	  0x8000ull /* struct gpcvm_boot */
#define GPCVM_IMAGE_GPA	  0x100000ull
#define GPCVM_IMAGE_MAX	  0x80000ull  /* text + data + bss */
#define GPCVM_GSTATE_GPA  0x180000ull /* the guest's own state (guest.c) */
#define GPCVM_GSTATE_SIZE 0x80000ull
#define GPCVM_STACK_GPA	  0x200000ull /* vCPU n: [+n*64K, +(n+1)*64K) */
#define GPCVM_STACK_SIZE  0x10000ull

/* Pages the VMM built the machine in (the vCPUs' MMU walks the tables)
 * or keeps writing itself (the boot page), and the image it loaded: the
 * shared-info page may not cover them (-EPERM). */
#define GPCVM_TABLES_END    (GPCVM_PML4_GPA + 3 * GPCVM_PAGE)
/* Low RAM: page tables, boot page, image, stacks. Memslot 0 (and 5 for the
 * part above the shared-info page when that is here). */
#define GPCVM_LOW_GPA	    0x0ull
#define GPCVM_LOW_SIZE	    0x400000ull
/* The runstate window: RAM the guest keeps for runstate areas (which may
 * also go anywhere in low RAM) and, on pages no area touches, possibly the
 * shared-info page. Slot 1 (and 6). */
#define GPCVM_RSWIN_GPA	    0x400000ull
#define GPCVM_RSWIN_SIZE    0x10000ull
/* The overlay zone: RAM kept free for the shared-info page (no runstate
 * areas). Slot 2 (and 3). */
#define GPCVM_ZONE_GPA	    0x800000ull
#define GPCVM_ZONE_SIZE	    0x10000ull
/* The hole window: no RAM; the shared-info page may go on any page. */
#define GPCVM_HOLE_GPA	    0xc00000ull
#define GPCVM_HOLE_SIZE	    0x200000ull
/* Hot-pluggable RAM: GPCVM_NR_HOT slots of GPCVM_HOT_SIZE. Slots 8.. */
#define GPCVM_HOT_GPA	    0x1000000ull
#define GPCVM_HOT_SIZE	    0x40000ull
#define GPCVM_NR_HOT	    4
/* The last 64 bytes of a hot slot belong to the VMM (a heartbeat it writes
 * through a host-usage cache); the guest uses the rest. */
#define GPCVM_HOT_VMM_BYTES 64ull
/* Identity-mapped by the boot page tables (2 MiB pages). */
#define GPCVM_PHYS_LIMIT    0x40000000ull

/* Memslot ids. A RAM region the shared-info page covers is split into the
 * part below it (the region's own id) and the part above (its _HI id). */
#define GPCVM_SLOT_LOW	    0
#define GPCVM_SLOT_RSWIN    1
#define GPCVM_SLOT_ZONE_LO  2
#define GPCVM_SLOT_ZONE_HI  3
#define GPCVM_SLOT_SHINFO   4
#define GPCVM_SLOT_LOW_HI   5
#define GPCVM_SLOT_RSWIN_HI 6
#define GPCVM_SLOT_HOT0	    8

/* ---- hypercalls ----------------------------------------------------------- */

#define GPCVM_HC_PORT	   0x510 /* in eax, dx: a hypercall */
#define GPCVM_BLOCK_PORT   0x511 /* in eax, dx: block (rdi = timeout in us) */
#define GPCVM_CONSOLE_PORT 0x512 /* out dx, al: one console byte */

enum gpcvm_hypercall {
	/* (gpa, size): place the shared-info page at @gpa (page aligned,
	 * size GPCVM_PAGE) on any page of low RAM, the runstate window, the
	 * overlay zone or the hole window, except the VMM's pages
	 * (GPCVM_TABLES_END, the boot page, the image) and pages under a
	 * runstate area or a report; moves it if already placed (content
	 * kept; RAM it covered becomes visible again). */
	GPCVM_HC_SHINFO = 1,
	/* (vcpu, gpa, size): runstate area of @vcpu at any byte address of
	 * always-present RAM (low RAM or the runstate window, not across the
	 * two; pages may cross); size sizeof(struct gpcvm_runstate); gpa 0
	 * and size 0 unregister. */
	GPCVM_HC_RUNSTATE = 2,
	/* (gpa, size, final): read a struct gpcvm_report from the guest. */
	GPCVM_HC_REPORT = 3,
	/* (code, a, b): the guest found a violation (GPCVM_FAIL_*). */
	GPCVM_HC_FAIL = 4,
	/* (): this vCPU is done; it halts next. */
	GPCVM_HC_DONE = 5,
};

/* Results: 0 or a negative Linux errno (values fixed here for the guest). */
#define GPCVM_EPERM  1
#define GPCVM_ENOENT 2
#define GPCVM_EFAULT 14
#define GPCVM_EBUSY  16
#define GPCVM_EINVAL 22
#define GPCVM_ENOSYS 38

/* Violations the guest reports through GPCVM_HC_FAIL. */
enum gpcvm_fail {
	GPCVM_FAIL_SEQ_BACKWARDS = 1, /* a, b: port, seq seen */
	GPCVM_FAIL_LOST = 2,	      /* a, b: port, events lost */
	GPCVM_FAIL_RUNSTATE = 3,      /* a, b: vcpu, GPCVM_RS_ERR_* */
	GPCVM_FAIL_HOTPLUG = 4,	      /* a, b: slot, offset */
	GPCVM_FAIL_BADINPUT = 5,      /* a, b: test index, result */
	GPCVM_FAIL_NOT_OURS = 6,      /* a, b: port, vcpu: wrong selector */
	/* a, b: gpa, offset: RAM the shared-info page covered did not come
	 * back as the guest left it, or (b = GPCVM_PAGE) the page at its new
	 * GPA is not the shared-info page. */
	GPCVM_FAIL_OVERLAY = 7,
};

/* ---- the boot page ------------------------------------------------------ */

#define GPCVM_BOOT_MAGIC 0x746f6f626d766370ull /* "pcvmboot" */

/* Scenario bits (the guest needs some of them). */
#define GPCVM_SC_SHINFO	  (1u << 0) /* guest moves its shared-info page */
#define GPCVM_SC_REMAP	  (1u << 1) /* VMM remaps pages under runstates */
#define GPCVM_SC_HOTPLUG  (1u << 2) /* VMM unplugs/replugs hot slots */
#define GPCVM_SC_RECLAIM  (1u << 3) /* VMM discards idle hot pages */
#define GPCVM_SC_BADINPUT (1u << 4) /* guest makes bad registrations */
#define GPCVM_SC_ALL	  0x1fu

/* State of a hot slot (boot page words, changed by cmpxchg on both sides). */
#define GPCVM_HOT_FREE	  0u
#define GPCVM_HOT_OFFLINE 1u  /* VMM: unplugged (or about to be) */
#define GPCVM_HOT_RECLAIM 2u  /* VMM: discarding its pages */
#define GPCVM_HOT_USED	  16u /* + vcpu: a guest vCPU uses it */

struct gpcvm_boot {
	uint64_t magic;
	uint32_t nvcpus;
	uint32_t scenarios;
	uint64_t seed;
	uint64_t shinfo_period_us; /* how often vCPU 0 moves shared info */
	/* Written by the VMM while the guest runs. */
	uint64_t now_us;     /* VMM clock, updated every millisecond */
	uint64_t stop;	     /* 1: no more events; drain, report, finish */
	uint64_t stop_churn; /* 1: stop moving the shared-info page */
	uint32_t hot_state[GPCVM_NR_HOT];
	/* Written by the guest, for its own vCPUs. */
	uint64_t shinfo_gpa; /* where it is now (0: none) */
	uint64_t runstate_gpa[GPCVM_MAX_VCPUS];
	uint32_t shinfo_lock; /* guest rwlock, see guest.c */
	uint32_t pad;
};

/* ---- shared info: events ------------------------------------------------ */

#define GPCVM_NR_PORTS	   256
#define GPCVM_PORT_WORDS   (GPCVM_NR_PORTS / 64)
#define GPCVM_SHINFO_MAGIC 0x6f666e6968736370ull /* "pcshinfo" */

struct gpcvm_vcpu_info {	/* Xen's vcpu_info, 64 bytes */
	uint8_t upcall_pending; /* some selected word may have events */
	uint8_t upcall_mask;
	uint8_t pad0[6];
	uint64_t pending_sel; /* bit w: evtchn_pending[w] to look at */
	uint64_t pad[6];
};

struct gpcvm_shared_info {
	struct gpcvm_vcpu_info vcpu_info[GPCVM_MAX_VCPUS]; /* 0 */
	uint64_t evtchn_pending[GPCVM_PORT_WORDS];	   /* 512 */
	uint64_t evtchn_mask[GPCVM_PORT_WORDS];		   /* 544 */
	uint64_t magic;					   /* 576 */
	uint64_t moves;					   /* 584 */
	uint64_t pad[54];				   /* 592 */
	/* 1024: per-port sequence: events the VMM sent on the port. */
	uint64_t port_seq[GPCVM_NR_PORTS];
	uint64_t pad2[128];
};

_Static_assert(sizeof(struct gpcvm_vcpu_info) == 64, "vcpu_info size");
_Static_assert(offsetof(struct gpcvm_shared_info, evtchn_pending) == 512,
	       "shared info layout");
_Static_assert(offsetof(struct gpcvm_shared_info, port_seq) == 1024,
	       "shared info layout");
_Static_assert(sizeof(struct gpcvm_shared_info) == GPCVM_PAGE,
	       "shared info is one page");

/* Port p is bound to vCPU p % nvcpus (Xen binds every port to one vCPU). */
static inline unsigned int gpcvm_port_vcpu(unsigned int port,
					   unsigned int nvcpus)
{
	return port % nvcpus;
}

static inline unsigned int gpcvm_port_word(unsigned int port)
{
	return port / 64;
}

static inline uint64_t gpcvm_port_bit(unsigned int port)
{
	return 1ull << (port % 64);
}

/* What gpcvm_evtchn_send() did. */
enum gpcvm_send {
	GPCVM_SEND_RAISED = 0,	  /* set pending, selector, upcall */
	GPCVM_SEND_COALESCED = 1, /* already pending: merged */
	GPCVM_SEND_MASKED = 2,	  /* pending set; the port is masked */
	GPCVM_SEND_SELECTED = 3,  /* pending set; the word was selected */
};

/*
 * Send one event on @port (the VMM side; any context: only atomics).
 * Exactly-once rule: every event adds exactly one to port_seq[port] first,
 * then makes the port pending; several events that find the port pending
 * coalesce into one notification (Xen's 2-level semantics).
 */
static inline enum gpcvm_send gpcvm_evtchn_send(struct gpcvm_shared_info *si,
						unsigned int port,
						unsigned int nvcpus)
{
	unsigned int w = gpcvm_port_word(port);
	uint64_t bit = gpcvm_port_bit(port);
	struct gpcvm_vcpu_info *vi =
		&si->vcpu_info[gpcvm_port_vcpu(port, nvcpus)];

	__atomic_fetch_add(&si->port_seq[port], 1, __ATOMIC_SEQ_CST);
	if (__atomic_fetch_or(&si->evtchn_pending[w], bit, __ATOMIC_SEQ_CST) &
	    bit)
		return GPCVM_SEND_COALESCED;
	if (__atomic_load_n(&si->evtchn_mask[w], __ATOMIC_SEQ_CST) & bit)
		return GPCVM_SEND_MASKED;
	if (__atomic_fetch_or(&vi->pending_sel, 1ull << w, __ATOMIC_SEQ_CST) &
	    (1ull << w))
		return GPCVM_SEND_SELECTED;
	__atomic_store_n(&vi->upcall_pending, 1, __ATOMIC_SEQ_CST);
	return GPCVM_SEND_RAISED;
}

/*
 * The guest side: per-port bookkeeping of one vCPU. last_seen[p] is the
 * port_seq value its last consumption of p read.
 */
struct gpcvm_evt_track {
	uint64_t last_seen[GPCVM_NR_PORTS];
	uint64_t deliveries; /* notifications consumed */
	uint64_t events;     /* sum of sequence advances = events received */
	uint64_t empty;	     /* notifications whose events were counted */
	uint64_t backwards;  /* violations: the sequence went back */
	uint64_t not_ours;   /* violations: a port of another vCPU selected */
};

/*
 * Consume port @port if it is pending: test-and-clear its bit (the only way
 * to consume, so two consumers can never both take one notification), then
 * read its sequence. Coalescing rule: the notification stands for every
 * event since last_seen. An "empty" notification (sequence unchanged) is
 * legal: an event's sequence bump can be counted by the consumption just
 * before the bit it then sets. Returns 1 if consumed, 0 if not pending, -1
 * if the sequence went backwards (a violation).
 */
static inline int gpcvm_evtchn_consume(struct gpcvm_shared_info *si,
				       struct gpcvm_evt_track *t,
				       unsigned int port)
{
	unsigned int w = gpcvm_port_word(port);
	uint64_t bit = gpcvm_port_bit(port), seq;

	if (!(__atomic_fetch_and(&si->evtchn_pending[w], ~bit,
				 __ATOMIC_SEQ_CST) &
	      bit))
		return 0;
	seq = __atomic_load_n(&si->port_seq[port], __ATOMIC_SEQ_CST);
	t->deliveries++;
	if (seq < t->last_seen[port]) {
		t->backwards++;
		return -1;
	}
	if (seq == t->last_seen[port])
		t->empty++;
	t->events += seq - t->last_seen[port];
	t->last_seen[port] = seq;
	return 1;
}

/*
 * Xen's upcall handler for vCPU @me: clear upcall_pending, take the
 * selector, consume every pending unmasked port of ours in each selected
 * word. Returns the number of notifications consumed, or -1 if a sequence
 * went backwards.
 */
static inline int gpcvm_evtchn_poll(struct gpcvm_shared_info *si,
				    struct gpcvm_evt_track *t, unsigned int me,
				    unsigned int nvcpus)
{
	struct gpcvm_vcpu_info *vi = &si->vcpu_info[me];
	uint64_t sel;
	int n = 0, bad = 0;

	if (!__atomic_load_n(&vi->upcall_pending, __ATOMIC_SEQ_CST))
		return 0;
	__atomic_store_n(&vi->upcall_pending, 0, __ATOMIC_SEQ_CST);
	sel = __atomic_exchange_n(&vi->pending_sel, 0, __ATOMIC_SEQ_CST);
	while (sel) {
		unsigned int w = (unsigned int)__builtin_ctzll(sel);
		uint64_t pend;

		sel &= sel - 1;
		if (w >= GPCVM_PORT_WORDS) {
			t->not_ours++;
			continue;
		}
		pend = __atomic_load_n(&si->evtchn_pending[w],
				       __ATOMIC_SEQ_CST) &
		       ~__atomic_load_n(&si->evtchn_mask[w], __ATOMIC_SEQ_CST);
		while (pend) {
			unsigned int b = (unsigned int)__builtin_ctzll(pend);
			unsigned int port = w * 64 + b;
			int r;

			pend &= pend - 1;
			if (gpcvm_port_vcpu(port, nvcpus) != me)
				continue; /* another vCPU's, same word */
			r = gpcvm_evtchn_consume(si, t, port);
			if (r < 0)
				bad = 1;
			else
				n += r;
		}
	}
	return bad ? -1 : n;
}

/* Mask @port (guest). */
static inline void gpcvm_evtchn_mask(struct gpcvm_shared_info *si,
				     unsigned int port)
{
	__atomic_fetch_or(&si->evtchn_mask[gpcvm_port_word(port)],
			  gpcvm_port_bit(port), __ATOMIC_SEQ_CST);
}

/*
 * Unmask @port (guest, its bound vCPU @me): an event that arrived while it
 * was masked left only the pending bit, so raise the upcall ourselves, as
 * Linux's unmask_evtchn() does.
 */
static inline void gpcvm_evtchn_unmask(struct gpcvm_shared_info *si,
				       unsigned int port, unsigned int me)
{
	unsigned int w = gpcvm_port_word(port);
	uint64_t bit = gpcvm_port_bit(port);
	struct gpcvm_vcpu_info *vi = &si->vcpu_info[me];

	__atomic_fetch_and(&si->evtchn_mask[w], ~bit, __ATOMIC_SEQ_CST);
	if (!(__atomic_load_n(&si->evtchn_pending[w], __ATOMIC_SEQ_CST) & bit))
		return;
	if (!(__atomic_fetch_or(&vi->pending_sel, 1ull << w, __ATOMIC_SEQ_CST) &
	      (1ull << w)))
		__atomic_store_n(&vi->upcall_pending, 1, __ATOMIC_SEQ_CST);
}

/* ---- runstate ------------------------------------------------------------ */

enum gpcvm_rs_state {
	GPCVM_RS_RUNNING = 0,
	GPCVM_RS_RUNNABLE = 1,
	GPCVM_RS_BLOCKED = 2,
	GPCVM_RS_OFFLINE = 3,
};

/* Set in state_entry_time while the VMM rewrites the area. */
#define GPCVM_RUNSTATE_UPDATE (1ull << 63)

struct gpcvm_runstate { /* Xen's vcpu_runstate_info, 48 bytes */
	int32_t state;
	uint32_t pad;
	uint64_t state_entry_time; /* ns, VMM clock; | UPDATE while writing */
	uint64_t time[4];	   /* ns spent in each state, completed */
};

_Static_assert(sizeof(struct gpcvm_runstate) == 48, "runstate size");

/*
 * Field accesses that work at any byte address (the area may be anywhere):
 * memcpy of 8 bytes is one mov on x86-64, and keeps the compiler honest.
 */
static inline void gpcvm__st64(volatile void *p, uint64_t v)
{
	__builtin_memcpy((void *)p, &v, 8);
	__asm__ __volatile__("" ::: "memory");
}

static inline uint64_t gpcvm__ld64(const volatile void *p)
{
	uint64_t v;

	__asm__ __volatile__("" ::: "memory");
	__builtin_memcpy(&v, (const void *)p, 8);
	return v;
}

/*
 * The writer (VMM): Xen's protocol. Mark the entry time with
 * GPCVM_RUNSTATE_UPDATE, write barrier, write everything, write barrier,
 * store the new entry time without the flag.
 */
static inline void gpcvm_runstate_write(volatile void *area,
					const struct gpcvm_runstate *rs)
{
	volatile uint8_t *a = area;
	uint64_t st = (uint32_t)rs->state;

	gpcvm__st64(a + 8, rs->state_entry_time | GPCVM_RUNSTATE_UPDATE);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	gpcvm__st64(a, st);
	for (int i = 0; i < 4; i++)
		gpcvm__st64(a + 16 + 8 * i, rs->time[i]);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	gpcvm__st64(a + 8, rs->state_entry_time);
}

/*
 * The reader (guest): Xen's xen_get_runstate_snapshot(). Read the entry
 * time; if the flag is set the VMM is writing: try again; read barrier, copy,
 * read barrier, read the entry time again: it must be unchanged. Returns 0
 * with a consistent copy in @out, or -1 after @tries attempts; *@flagged
 * counts the attempts that saw the flag, *@changed those that found the
 * entry time changed under them.
 */
static inline int gpcvm_runstate_read(const volatile void *area,
				      struct gpcvm_runstate *out,
				      unsigned int tries, uint64_t *flagged,
				      uint64_t *changed)
{
	const volatile uint8_t *a = area;

	while (tries--) {
		uint64_t e1 = gpcvm__ld64(a + 8), e2, st;

		if (e1 & GPCVM_RUNSTATE_UPDATE) {
			(*flagged)++;
			continue;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		st = gpcvm__ld64(a);
		for (int i = 0; i < 4; i++)
			out->time[i] = gpcvm__ld64(a + 16 + 8 * i);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		e2 = gpcvm__ld64(a + 8);
		if (e1 != e2) {
			(*changed)++;
			continue;
		}
		out->state = (int32_t)(uint32_t)st;
		out->pad = (uint32_t)(st >> 32);
		out->state_entry_time = e1;
		return 0;
	}
	return -1;
}

/* Errors of gpcvm_runstate_check(). */
#define GPCVM_RS_ERR_STATE	 1 /* state out of range, or pad nonzero */
#define GPCVM_RS_ERR_SUM	 2 /* times do not add up to the entry time */
#define GPCVM_RS_ERR_BACKWARDS	 3 /* entry time or a time[] went back */
#define GPCVM_RS_ERR_NOT_RUNNING 4 /* own area not "running" while it runs */
#define GPCVM_RS_ERR_TORN	 5 /* own area seen mid-update */

/* What a reader remembers about one area between snapshots. */
struct gpcvm_rs_track {
	uint64_t base; /* state_entry_time - sum(time): constant */
	uint64_t entry, time[4];
	int seen;
};

/*
 * Check a consistent snapshot against the previous one: the state is
 * valid, the times add up (sum(time) + base == state_entry_time, where
 * base - the moment the vCPU was created - never changes), and nothing
 * went backwards. Returns 0 or a GPCVM_RS_ERR_*.
 */
static inline int gpcvm_runstate_check(const struct gpcvm_runstate *s,
				       struct gpcvm_rs_track *t)
{
	uint64_t sum = 0;

	if (s->state < GPCVM_RS_RUNNING || s->state > GPCVM_RS_OFFLINE ||
	    s->pad)
		return GPCVM_RS_ERR_STATE;
	for (int i = 0; i < 4; i++)
		sum += s->time[i];
	if (sum > s->state_entry_time)
		return GPCVM_RS_ERR_SUM;
	if (!t->seen) {
		t->base = s->state_entry_time - sum;
		t->seen = 1;
	} else {
		if (s->state_entry_time - sum != t->base)
			return GPCVM_RS_ERR_SUM;
		if (s->state_entry_time < t->entry)
			return GPCVM_RS_ERR_BACKWARDS;
		for (int i = 0; i < 4; i++)
			if (s->time[i] < t->time[i])
				return GPCVM_RS_ERR_BACKWARDS;
	}
	t->entry = s->state_entry_time;
	for (int i = 0; i < 4; i++)
		t->time[i] = s->time[i];
	return 0;
}

/* ---- the guest's report ---------------------------------------------------- */

#define GPCVM_REPORT_MAGIC 0x74706572706d7663ull /* "cvmprept" */

struct gpcvm_report {
	uint64_t magic;
	uint64_t vcpu;
	uint64_t final;
	uint64_t polls;
	uint64_t deliveries, events, empty, backwards, not_ours;
	uint64_t lost; /* final drain: sequence ahead, nothing pending */
	uint64_t rs_own, rs_other, rs_flagged, rs_changed, rs_retries;
	uint64_t rs_errors;
	uint64_t shinfo_moves;
	uint64_t hidden_checks; /* covered RAM seen intact after a move */
	uint64_t hot_uses, hot_busy, hot_errors;
	uint64_t bad_ok, bad_errors;
	uint64_t masks, blocks;
};

#endif /* GPCVM_PROTO_H */
