// SPDX-License-Identifier: MIT
/*
 * guest.c - the gpcvm guest: every vCPU polls for events and checks what
 * the VMM writes into its memory; vCPU 0 also moves the shared-info page
 * around and, in the bad-input scenario, feeds the VMM garbage.
 *
 * Built freestanding for KVM and hosted for the simulated backend (see
 * plat.h). Its state lives in guest RAM at GPCVM_GSTATE_GPA, so that both
 * builds report through the same hypercall; low RAM never moves (its slot
 * is split around the shared-info page at times, but that never covers the
 * boot page, which the VMM refuses, or this state, which we keep it off),
 * so pointers into it (the boot page, that state) may be kept.
 *
 * What it checks (docs/gpcvm.md):
 *  - events: every notification is consumed once (test-and-clear of the
 *    pending bit), the port's sequence never goes back, and after the VMM
 *    says stop no port's sequence is ahead of what was consumed (lost);
 *  - its own runstate, read while it runs: consistent on the first try
 *    (the VMM only writes it while this vCPU is out), "running", times add
 *    up, nothing goes back; other vCPUs' runstates, read while the VMM may
 *    be rewriting them: the XEN_RUNSTATE_UPDATE protocol yields consistent
 *    snapshots that pass the same checks;
 *  - hot-pluggable RAM it claimed keeps what it wrote;
 *  - the shared-info page, wherever it is moved (free low RAM, the runstate
 *    window, the overlay zone, the hole window), is there at its new GPA,
 *    and RAM it covered reads back as the guest left it once it moves on;
 *  - bad registrations get the documented error and change nothing.
 */
#include "plat.h"

#define RS_TRIES	 64
#define WRITER		 0x80000000u
#define BAD_PERIOD_US	 250000
#define REPORT_PERIOD_US 100000
#define IDLE_BLOCK	 256
#define BLOCK_US	 500
#define RS_SPOT		 128 /* bytes of gstate per vCPU for a runstate area */
/* Free low RAM (after the largest stacks), a slice per vCPU. */
#define RS_FREE_GPA	 (GPCVM_STACK_GPA + GPCVM_MAX_VCPUS * GPCVM_STACK_SIZE)
#define RS_FREE_SLICE	 ((GPCVM_LOW_SIZE - RS_FREE_GPA) / GPCVM_MAX_VCPUS)
/* The shared-info page may go on any free low RAM page (the same pages, but
 * never under a runstate area). */
#define SI_LOW_PAGES	 ((GPCVM_LOW_SIZE - RS_FREE_GPA) / GPCVM_PAGE)
#define SI_PATTERN_WORDS 8

struct vstate {
	struct gpcvm_evt_track evt;
	/* Room for a runstate area amid the vCPU's busiest data: the VMM
	 * must migrate these pages without losing what the guest writes on
	 * them (pick_runstate_gpa()). */
	uint8_t rs_spot[RS_SPOT];
	struct gpcvm_rs_track rs[GPCVM_MAX_VCPUS];
	struct gpcvm_report rep;
	uint64_t rng;
	uint64_t iter, idle;
	int masked_port;
	uint64_t last_report_us;
	/* RAM under the shared-info page (vCPU 0): its GPA (0: the page is
	 * in the hole) and the pattern written there before covering it. */
	uint64_t hidden_gpa, hidden_tag;
	/* Periodic work runs every N iterations or T microseconds, whichever
	 * comes first (on KVM here the guest may run slowly). */
	uint64_t next_own, next_other, next_hot, next_mask;
};

struct gstate {
	struct vstate v[GPCVM_MAX_VCPUS];
	uint64_t next_move_us;
	uint64_t next_bad_us;
};

_Static_assert(sizeof(struct gstate) <= GPCVM_GSTATE_SIZE, "guest state");

static struct gpcvm_boot *boot(void)
{
	return gp(GPCVM_BOOT_GPA);
}

static struct gstate *gstate(void)
{
	return gp(GPCVM_GSTATE_GPA);
}

static uint64_t ld64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static uint64_t rnd(struct vstate *s)
{
	uint64_t x = s->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void fail(uint64_t code, uint64_t a, uint64_t b)
{
	hc(GPCVM_HC_FAIL, code, a, b);
}

static void say(const char *msg)
{
	while (*msg)
		putc_console(*msg++);
}

/* ---- a guest reader-writer lock around shared-info accesses --------------
 *
 * vCPU 0 holds it for writing while it asks the VMM to move the page, so no
 * vCPU is half-way through an access at the old address when the hypercall
 * returns (as a Linux guest would quiesce the other CPUs).
 */

static void si_read_lock(void)
{
	uint32_t *l = &boot()->shinfo_lock;

	for (;;) {
		if (!(__atomic_fetch_add(l, 1, __ATOMIC_SEQ_CST) & WRITER))
			return;
		__atomic_fetch_sub(l, 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(l, __ATOMIC_SEQ_CST) & WRITER)
			relax();
	}
}

static void si_read_unlock(void)
{
	__atomic_fetch_sub(&boot()->shinfo_lock, 1, __ATOMIC_SEQ_CST);
}

static void si_write_lock(void)
{
	uint32_t *l = &boot()->shinfo_lock;

	__atomic_fetch_or(l, WRITER, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(l, __ATOMIC_SEQ_CST) & ~WRITER)
		relax();
}

static void si_write_unlock(void)
{
	__atomic_fetch_and(&boot()->shinfo_lock, ~WRITER, __ATOMIC_SEQ_CST);
}

/* ---- reports ---------------------------------------------------------------- */

static void report(unsigned int me, struct vstate *s, int final)
{
	struct gpcvm_report *r = &s->rep;

	r->magic = GPCVM_REPORT_MAGIC;
	r->vcpu = me;
	r->final = (uint64_t) final;
	r->deliveries = s->evt.deliveries;
	r->events = s->evt.events;
	r->empty = s->evt.empty;
	r->backwards = s->evt.backwards;
	r->not_ours = s->evt.not_ours;
	hc(GPCVM_HC_REPORT,
	   GPCVM_GSTATE_GPA + (uint64_t)((uint8_t *)r - (uint8_t *)gstate()),
	   sizeof(*r), (uint64_t) final);
}

/* ---- events ----------------------------------------------------------------- */

static unsigned int own_port(unsigned int me, unsigned int n, struct vstate *s)
{
	return (unsigned int)(rnd(s) % (GPCVM_NR_PORTS / n)) * n + me;
}

static int poll_events(unsigned int me, unsigned int n, struct vstate *s)
{
	uint64_t g;
	int r = 0;

	si_read_lock();
	g = ld64(&boot()->shinfo_gpa);
	if (g)
		r = gpcvm_evtchn_poll(gp(g), &s->evt, me, n);
	si_read_unlock();
	if (r < 0)
		fail(GPCVM_FAIL_SEQ_BACKWARDS, me, s->evt.backwards);
	return r;
}

static void toggle_mask(unsigned int me, unsigned int n, struct vstate *s)
{
	uint64_t g;

	si_read_lock();
	g = ld64(&boot()->shinfo_gpa);
	if (g) {
		if (s->masked_port >= 0) {
			gpcvm_evtchn_unmask(gp(g), (unsigned int)s->masked_port,
					    me);
			s->masked_port = -1;
		} else {
			s->masked_port = (int)own_port(me, n, s);
			gpcvm_evtchn_mask(gp(g), (unsigned int)s->masked_port);
			s->rep.masks++;
		}
	}
	si_read_unlock();
}

/* ---- runstate --------------------------------------------------------------- */

static void check_own_runstate(unsigned int me, struct vstate *s)
{
	uint64_t g = ld64(&boot()->runstate_gpa[me]), flagged = 0;
	struct gpcvm_runstate r;
	int e;

	if (!g)
		return;
	/*
	 * The VMM writes it only while this vCPU is out of the guest, but we
	 * may be kicked out half-way through the read (and the area is then
	 * updated twice: runnable, running), so retry as for any area. A
	 * consistent snapshot was read without leaving the guest, so it
	 * must say "running".
	 */
	if (gpcvm_runstate_read(gp(g), &r, RS_TRIES, &flagged,
				&s->rep.rs_changed)) {
		s->rep.rs_retries++;
		return;
	}
	s->rep.rs_own++;
	/* ...and it is never seen half-written: the VMM finishes an update
	 * before it lets this vCPU run again. */
	if (flagged)
		e = GPCVM_RS_ERR_TORN;
	else if (r.state != GPCVM_RS_RUNNING)
		e = GPCVM_RS_ERR_NOT_RUNNING;
	else
		e = gpcvm_runstate_check(&r, &s->rs[me]);
	if (e) {
		s->rep.rs_errors++;
		fail(GPCVM_FAIL_RUNSTATE, me, (uint64_t)e);
	}
}

static void check_other_runstate(unsigned int me, unsigned int n,
				 struct vstate *s)
{
	unsigned int t;
	struct gpcvm_runstate r;
	uint64_t g;
	int e;

	if (n < 2)
		return;
	t = (me + 1 + (unsigned int)(rnd(s) % (n - 1))) % n;
	g = ld64(&boot()->runstate_gpa[t]);
	if (!g)
		return;
	if (gpcvm_runstate_read(gp(g), &r, RS_TRIES, &s->rep.rs_flagged,
				&s->rep.rs_changed)) {
		s->rep.rs_retries++;
		return;
	}
	s->rep.rs_other++;
	e = gpcvm_runstate_check(&r, &s->rs[t]);
	if (e) {
		s->rep.rs_errors++;
		fail(GPCVM_FAIL_RUNSTATE, t, (uint64_t)e);
	}
}

/*
 * Anywhere in RAM, chosen per seed: in the runstate window (a pair of pages
 * per vCPU), in free low RAM (a slice per vCPU), or inside the guest state
 * next to data every vCPU keeps writing. Most areas cross a page boundary;
 * all are 8-byte aligned.
 */
static uint64_t pick_runstate_gpa(unsigned int me, struct vstate *s)
{
	uint64_t pair = GPCVM_RSWIN_GPA + 2 * me * GPCVM_PAGE;
	uint64_t rsz = sizeof(struct gpcvm_runstate);

	switch (rnd(s) % 3) {
	case 1: {
		uint64_t pages = RS_FREE_SLICE / GPCVM_PAGE;

		pair = RS_FREE_GPA + me * RS_FREE_SLICE +
		       (rnd(s) % (pages - 1)) * GPCVM_PAGE;
		break;
	}
	case 2:
		return GPCVM_GSTATE_GPA +
		       (uint64_t)(s->rs_spot - (uint8_t *)gstate()) +
		       8 * (rnd(s) % ((RS_SPOT - rsz) / 8 + 1));
	default:
		break;
	}
	if (rnd(s) % 4)
		return pair + GPCVM_PAGE - 8 * (1 + rnd(s) % 5);
	return pair + 8 * (rnd(s) % 500);
}

/* ---- hot-pluggable RAM ------------------------------------------------------ */

static void use_hotplug(unsigned int me, struct vstate *s)
{
	unsigned int i = (unsigned int)(rnd(s) % GPCVM_NR_HOT);
	uint32_t expected = GPCVM_HOT_FREE;
	uint64_t base = GPCVM_HOT_GPA + i * GPCVM_HOT_SIZE;
	uint64_t stride = (GPCVM_HOT_SIZE - GPCVM_HOT_VMM_BYTES) / 8;
	uint64_t off[8], val[8];

	if (!__atomic_compare_exchange_n(&boot()->hot_state[i], &expected,
					 GPCVM_HOT_USED + me, 0,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		s->rep.hot_busy++;
		return;
	}
	for (int k = 0; k < 8; k++) {
		off[k] = (uint64_t)k * stride + (rnd(s) % (stride / 64)) * 64;
		val[k] = ((uint64_t)me << 56) ^ (s->iter << 8) ^ (uint64_t)k;
		__atomic_store_n((uint64_t *)gp(base + off[k]), val[k],
				 __ATOMIC_RELAXED);
	}
	for (int k = 0; k < 8; k++) {
		if (__atomic_load_n((uint64_t *)gp(base + off[k]),
				    __ATOMIC_RELAXED) != val[k]) {
			s->rep.hot_errors++;
			fail(GPCVM_FAIL_HOTPLUG, i, off[k]);
		}
	}
	__atomic_store_n(&boot()->hot_state[i], GPCVM_HOT_FREE,
			 __ATOMIC_SEQ_CST);
	s->rep.hot_uses++;
}

/* ---- the shared-info page ----------------------------------------------------- */

/*
 * Would the page at @pg cover a runstate area? One not registered yet may
 * still come anywhere, so then every page of low RAM and the window is
 * taken (the areas never move once registered).
 */
static int under_runstate(uint64_t pg, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint64_t g = ld64(&boot()->runstate_gpa[i]);

		if (!g || (g < pg + GPCVM_PAGE &&
			   pg < g + sizeof(struct gpcvm_runstate)))
			return 1;
	}
	return 0;
}

/*
 * Where the shared-info page goes next, chosen per seed among: a free page
 * of low RAM (above the stacks; the guest keeps nothing else there but
 * runstate areas), a page of the runstate window, a page of the overlay
 * zone (all RAM it hides), a page of the hole window (no RAM). Never a page
 * under a runstate area, nor one the guest uses otherwise.
 */
static uint64_t pick_shinfo_gpa(unsigned int n, struct vstate *s)
{
	for (int tries = 0; tries < 8; tries++) {
		uint64_t pg;

		switch (rnd(s) % 4) {
		case 0:
			pg = RS_FREE_GPA + (rnd(s) % SI_LOW_PAGES) * GPCVM_PAGE;
			break;
		case 1:
			pg = GPCVM_RSWIN_GPA +
			     (rnd(s) % (GPCVM_RSWIN_SIZE / GPCVM_PAGE)) *
				     GPCVM_PAGE;
			break;
		case 2:
			return GPCVM_ZONE_GPA +
			       (rnd(s) % (GPCVM_ZONE_SIZE / GPCVM_PAGE)) *
				       GPCVM_PAGE;
		default:
			return GPCVM_HOLE_GPA +
			       (rnd(s) % (GPCVM_HOLE_SIZE / GPCVM_PAGE)) *
				       GPCVM_PAGE;
		}
		if (!under_runstate(pg, n))
			return pg;
	}
	return GPCVM_ZONE_GPA;
}

static int is_hole(uint64_t gpa)
{
	return gpa >= GPCVM_HOLE_GPA && gpa - GPCVM_HOLE_GPA < GPCVM_HOLE_SIZE;
}

static uint64_t *pattern_word(uint64_t gpa, int k)
{
	return gp(gpa + (uint64_t)k * (GPCVM_PAGE / SI_PATTERN_WORDS) +
		  8 * (uint64_t)k);
}

static uint64_t pattern(uint64_t tag, int k)
{
	return tag ^ ((uint64_t)k * 0x0101010101010101ull);
}

/* RAM the page covered is RAM again: as we left it? */
static void check_uncovered(struct vstate *s)
{
	for (int k = 0; k < SI_PATTERN_WORDS; k++) {
		if (__atomic_load_n(pattern_word(s->hidden_gpa, k),
				    __ATOMIC_RELAXED) !=
		    pattern(s->hidden_tag, k)) {
			fail(GPCVM_FAIL_OVERLAY, s->hidden_gpa,
			     (uint64_t)k * (GPCVM_PAGE / SI_PATTERN_WORDS) +
				     8 * (uint64_t)k);
			return;
		}
	}
	s->rep.hidden_checks++;
}

static int64_t place_shinfo(unsigned int n, struct vstate *s)
{
	uint64_t cur = ld64(&boot()->shinfo_gpa), to, tag;
	const struct gpcvm_shared_info *si;
	int64_t r;

	do
		to = pick_shinfo_gpa(n, s);
	while (to == cur);
	/* Mark the RAM about to be covered: it must come back like this. */
	tag = rnd(s) | 1;
	if (!is_hole(to))
		for (int k = 0; k < SI_PATTERN_WORDS; k++)
			__atomic_store_n(pattern_word(to, k), pattern(tag, k),
					 __ATOMIC_RELAXED);
	si_write_lock();
	r = hc(GPCVM_HC_SHINFO, to, GPCVM_PAGE, 0);
	if (!r) {
		__atomic_store_n(&boot()->shinfo_gpa, to, __ATOMIC_RELEASE);
		/* The VMM's page is what we now see there, not the RAM. */
		si = gp(to);
		if (__atomic_load_n(&si->magic, __ATOMIC_ACQUIRE) !=
		    GPCVM_SHINFO_MAGIC)
			fail(GPCVM_FAIL_OVERLAY, to, GPCVM_PAGE);
	}
	si_write_unlock();
	if (r)
		return r;
	if (cur)
		s->rep.shinfo_moves++;
	if (s->hidden_gpa)
		check_uncovered(s);
	s->hidden_gpa = is_hole(to) ? 0 : to;
	s->hidden_tag = tag;
	return 0;
}

/* ---- bad input ------------------------------------------------------------------ */

struct bad {
	uint64_t nr, a, b, c;
	int64_t want;
};

static void bad_input(unsigned int n, struct vstate *s)
{
	uint64_t si = ld64(&boot()->shinfo_gpa);
	uint64_t rs0 = ld64(&boot()->runstate_gpa[0]);
	uint64_t rs1 = n > 1 ? ld64(&boot()->runstate_gpa[1]) : 0;
	uint64_t rsz = sizeof(struct gpcvm_runstate);
	uint64_t rep = GPCVM_GSTATE_GPA;
	uint64_t my_rep = GPCVM_GSTATE_GPA +
			  (uint64_t)((uint8_t *)&s->rep - (uint8_t *)gstate());
	uint64_t pg = ~(GPCVM_PAGE - 1);
	/* Where the shared-info page is decides what covers it: a runstate
	 * area or a report there is refused as busy, but in the overlay zone
	 * or the hole neither may be anyway. */
	int si_in_low = si < GPCVM_LOW_GPA + GPCVM_LOW_SIZE;
	int si_in_rs_ram = si < GPCVM_RSWIN_GPA + GPCVM_RSWIN_SIZE;
	const struct bad t[] = {
		/* shared info: unaligned, oversized, empty */
		{ GPCVM_HC_SHINFO, GPCVM_ZONE_GPA + 8, GPCVM_PAGE, 0,
		  -GPCVM_EINVAL },
		{ GPCVM_HC_SHINFO, GPCVM_ZONE_GPA, 2 * GPCVM_PAGE, 0,
		  -GPCVM_EINVAL },
		{ GPCVM_HC_SHINFO, GPCVM_ZONE_GPA, 0, 0, -GPCVM_EINVAL },
		/* garbage, wrapping, hot-pluggable RAM, nothing there
		 * outside the hole window */
		{ GPCVM_HC_SHINFO, 0xdead0000000ull, GPCVM_PAGE, 0,
		  -GPCVM_EFAULT },
		{ GPCVM_HC_SHINFO, ~(GPCVM_PAGE - 1), GPCVM_PAGE, 0,
		  -GPCVM_EFAULT },
		{ GPCVM_HC_SHINFO, GPCVM_HOT_GPA + GPCVM_HOT_SIZE, GPCVM_PAGE,
		  0, -GPCVM_EFAULT },
		{ GPCVM_HC_SHINFO, GPCVM_HOLE_GPA + GPCVM_HOLE_SIZE, GPCVM_PAGE,
		  0, -GPCVM_EFAULT },
		/* the VMM's pages: GDT, page tables, boot page, image */
		{ GPCVM_HC_SHINFO, 0, GPCVM_PAGE, 0, -GPCVM_EPERM },
		{ GPCVM_HC_SHINFO, GPCVM_PML4_GPA + 2 * GPCVM_PAGE, GPCVM_PAGE,
		  0, -GPCVM_EPERM },
		{ GPCVM_HC_SHINFO, GPCVM_BOOT_GPA, GPCVM_PAGE, 0,
		  -GPCVM_EPERM },
		{ GPCVM_HC_SHINFO, GPCVM_IMAGE_GPA + GPCVM_PAGE, GPCVM_PAGE, 0,
		  -GPCVM_EPERM },
		/* over our runstate area, over our last report */
		{ GPCVM_HC_SHINFO, rs0 & pg, GPCVM_PAGE, 0,
		  rs0 ? -GPCVM_EBUSY : -GPCVM_EPERM },
		{ GPCVM_HC_SHINFO, my_rep & pg, GPCVM_PAGE, 0, -GPCVM_EBUSY },
		/* runstate: oversized, short, no such vCPU */
		{ GPCVM_HC_RUNSTATE, 0, rs0, GPCVM_PAGE, -GPCVM_EINVAL },
		{ GPCVM_HC_RUNSTATE, 0, rs0, rsz - 1, -GPCVM_EINVAL },
		/* GPA 0 is "none" in the protocol */
		{ GPCVM_HC_RUNSTATE, 0, 0, rsz, -GPCVM_EINVAL },
		{ GPCVM_HC_RUNSTATE, 99, GPCVM_RSWIN_GPA + 4000, rsz,
		  -GPCVM_ENOENT },
		/* garbage places: a hole, across low RAM and the window,
		 * off the window's end, wrapping, hot-pluggable RAM, the
		 * shared-info page */
		{ GPCVM_HC_RUNSTATE, 0, GPCVM_HOLE_GPA + 64, rsz,
		  -GPCVM_EFAULT },
		{ GPCVM_HC_RUNSTATE, 0, GPCVM_RSWIN_GPA - 24, rsz,
		  -GPCVM_EFAULT },
		{ GPCVM_HC_RUNSTATE, 0, GPCVM_RSWIN_GPA + GPCVM_RSWIN_SIZE - 24,
		  rsz, -GPCVM_EFAULT },
		{ GPCVM_HC_RUNSTATE, 0, ~0ull - 8, rsz, -GPCVM_EFAULT },
		{ GPCVM_HC_RUNSTATE, 0, GPCVM_HOT_GPA, rsz, -GPCVM_EFAULT },
		{ GPCVM_HC_RUNSTATE, 0, si + 64, rsz,
		  si_in_rs_ram ? -GPCVM_EBUSY : -GPCVM_EFAULT },
		/* overlapping another vCPU's area (needs two vCPUs) */
		{ rs1 ? GPCVM_HC_RUNSTATE : 12345, 0, rs1 + 8, rsz,
		  rs1 ? -GPCVM_EBUSY : -GPCVM_ENOSYS },
		/* reports: garbage address, wrong size; unknown call */
		{ GPCVM_HC_REPORT, 0xdead0000000ull,
		  sizeof(struct gpcvm_report), 0, -GPCVM_EFAULT },
		{ GPCVM_HC_REPORT, rep, 7, 0, -GPCVM_EINVAL },
		/* a report under the shared-info page */
		{ GPCVM_HC_REPORT, si + 128, sizeof(struct gpcvm_report), 0,
		  si_in_low ? -GPCVM_EBUSY : -GPCVM_EFAULT },
		{ 12345, 1, 2, 3, -GPCVM_ENOSYS },
	};

	/* A report first, so that there is one the page may not cover. */
	report(0, s, 0);
	for (unsigned int i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t r = hc(t[i].nr, t[i].a, t[i].b, t[i].c);

		if (r == t[i].want) {
			s->rep.bad_ok++;
		} else {
			s->rep.bad_errors++;
			fail(GPCVM_FAIL_BADINPUT, i, (uint64_t)r);
		}
	}
	/* Nothing moved. */
	if (ld64(&boot()->shinfo_gpa) != si ||
	    ld64(&boot()->runstate_gpa[0]) != rs0) {
		s->rep.bad_errors++;
		fail(GPCVM_FAIL_BADINPUT, 100, 0);
	}
	check_own_runstate(0, s);
}

/* ---- the end ------------------------------------------------------------------- */

/* Consume everything left, then every sequence must have been seen. */
static void finish(unsigned int me, unsigned int n, struct vstate *s)
{
	struct gpcvm_shared_info *si;
	uint64_t g;

	si_read_lock();
	g = ld64(&boot()->shinfo_gpa);
	if (g) {
		si = gp(g);
		if (s->masked_port >= 0)
			gpcvm_evtchn_unmask(si, (unsigned int)s->masked_port,
					    me);
		s->masked_port = -1;
		gpcvm_evtchn_poll(si, &s->evt, me, n);
		for (unsigned int p = me; p < GPCVM_NR_PORTS; p += n)
			gpcvm_evtchn_consume(si, &s->evt, p);
		for (unsigned int p = me; p < GPCVM_NR_PORTS; p += n) {
			uint64_t seq = __atomic_load_n(&si->port_seq[p],
						       __ATOMIC_SEQ_CST);

			if (seq != s->evt.last_seen[p])
				s->rep.lost += seq - s->evt.last_seen[p];
		}
	}
	si_read_unlock();
	if (s->rep.lost)
		fail(GPCVM_FAIL_LOST, me, s->rep.lost);
	report(me, s, 1);
	hc(GPCVM_HC_DONE, 0, 0, 0);
}

/* ---- main loop ----------------------------------------------------------------- */

void GUEST_MAIN(unsigned int me)
{
	struct gpcvm_boot *b = boot();
	struct gstate *gs = gstate();
	struct vstate *s = &gs->v[me];
	unsigned int n = b->nvcpus, sc = b->scenarios;
	uint64_t g;
	int64_t r;

	s->rng = (b->seed + 1) * 0x9e3779b97f4a7c15ull + me * 7919 + 1;
	s->masked_port = -1;
	g = pick_runstate_gpa(me, s);
	r = hc(GPCVM_HC_RUNSTATE, me, g, sizeof(struct gpcvm_runstate));
	if (r)
		fail(GPCVM_FAIL_BADINPUT, 1000, (uint64_t)r);
	else
		__atomic_store_n(&b->runstate_gpa[me], g, __ATOMIC_RELEASE);
	if (me == 0) {
		r = place_shinfo(n, s);
		if (r)
			fail(GPCVM_FAIL_BADINPUT, 1001, (uint64_t)r);
		say("gpcvm guest: up\n");
	}
	while (!ld64(&b->shinfo_gpa) && !ld64(&b->stop))
		relax();

	while (!ld64(&b->stop)) {
		uint64_t now = ld64(&b->now_us);

		s->rep.polls++;
		s->iter++;
		if (poll_events(me, n, s) > 0)
			s->idle = 0;
		else
			s->idle++;
		if (s->iter % 16 == 0 || now >= s->next_own) {
			check_own_runstate(me, s);
			s->next_own = now + 1000;
		}
		if (s->iter % 64 == 0 || now >= s->next_other) {
			check_other_runstate(me, n, s);
			s->next_other = now + 1000;
		}
		if (s->iter % 256 == 0 || now >= s->next_hot) {
			use_hotplug(me, s);
			s->next_hot = now + 2000;
		}
		if (s->iter % 1024 == 0 || now >= s->next_mask) {
			toggle_mask(me, n, s);
			s->next_mask = now + 5000;
		}
		if (me == 0 && (sc & GPCVM_SC_SHINFO) &&
		    !ld64(&b->stop_churn) && now >= gs->next_move_us) {
			r = place_shinfo(n, s);
			if (r)
				fail(GPCVM_FAIL_BADINPUT, 1002, (uint64_t)r);
			gs->next_move_us = now + b->shinfo_period_us;
		}
		if (me == 0 && (sc & GPCVM_SC_BADINPUT) &&
		    now >= gs->next_bad_us) {
			bad_input(n, s);
			gs->next_bad_us = now + BAD_PERIOD_US;
		}
		if (now >= s->last_report_us + REPORT_PERIOD_US) {
			report(me, s, 0);
			s->last_report_us = now;
		}
		if (s->idle >= IDLE_BLOCK) {
			hc_block(BLOCK_US);
			s->rep.blocks++;
			s->idle = 0;
		}
		relax();
	}
	finish(me, n, s);
}
