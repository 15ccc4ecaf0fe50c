// SPDX-License-Identifier: MIT
/*
 * tests/test_gpcvm_proto.c - the gpcvm protocol (tools/gpcvm/proto.h) and
 * its registration rules (tools/gpcvm/layout.c), without any VM.
 *
 * What must hold:
 *  - the shared-info page has Xen's shape (vcpu_info at 0, 64 bytes each,
 *    pending/mask bitmaps, then our per-port sequences) and fits a page;
 *  - send: pending bit, then the word's selector bit, then upcall_pending,
 *    each only on the 0 -> 1 transition; a masked port stays pending only;
 *    every send bumps the port's sequence exactly once;
 *  - consume: one notification stands for every event since the last one
 *    (coalescing); a port is consumed by its bound vCPU only; an unmask
 *    re-raises what arrived while masked; a sequence that goes back is
 *    caught;
 *  - exactly once, with several senders and a consumer per vCPU racing:
 *    the consumers' counts add up to what was sent, per port;
 *  - runstate: the XEN_RUNSTATE_UPDATE protocol hands a reader only
 *    consistent snapshots while a writer rewrites the area (at an unaligned
 *    address that crosses a cache line), and the checks catch times that do
 *    not add up, time going back and bad states;
 *  - registrations: garbage, unaligned, oversized and overlapping requests
 *    get the documented error codes; the shared-info page may go on any
 *    page of always-present RAM or the hole window but not on the VMM's
 *    pages, a runstate area or a report; runstate pages that share a page
 *    are remapped together;
 *  - overlays: any RAM region is split around the overlay page into at
 *    most two slots, and the RAM under the page is hidden, not lost: with
 *    the library's memslots split, overlaid, and rebuilt as gpcvm does it,
 *    the page reads back as it was.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "layout.h"
#include "proto.h"
#include "support/test_common.h"

static struct gpcvm_shared_info *new_page(void)
{
	struct gpcvm_shared_info *si = aligned_alloc(4096, sizeof(*si));

	assert_non_null(si);
	memset(si, 0, sizeof(*si));
	return si;
}

/* ---- encoding ------------------------------------------------------------------ */

static void shared_info_has_xen_shape(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct gpcvm_shared_info), GPCVM_PAGE);
	assert_int_equal(offsetof(struct gpcvm_shared_info, vcpu_info), 0);
	assert_int_equal(sizeof(struct gpcvm_vcpu_info), 64);
	assert_int_equal(offsetof(struct gpcvm_vcpu_info, pending_sel), 8);
	assert_int_equal(offsetof(struct gpcvm_shared_info, evtchn_pending),
			 GPCVM_MAX_VCPUS * 64);
	assert_int_equal(offsetof(struct gpcvm_shared_info, evtchn_mask),
			 GPCVM_MAX_VCPUS * 64 + GPCVM_PORT_WORDS * 8);
	assert_int_equal(offsetof(struct gpcvm_shared_info, port_seq), 1024);
	assert_int_equal(sizeof(struct gpcvm_runstate), 48);
	assert_int_equal(offsetof(struct gpcvm_runstate, state_entry_time), 8);
	assert_int_equal(offsetof(struct gpcvm_runstate, time), 16);
	assert_true(sizeof(struct gpcvm_boot) <= GPCVM_PAGE);
}

static void ports_map_to_words_bits_and_vcpus(void **state)
{
	(void)state;
	assert_int_equal(gpcvm_port_word(0), 0);
	assert_int_equal(gpcvm_port_word(63), 0);
	assert_int_equal(gpcvm_port_word(64), 1);
	assert_int_equal(gpcvm_port_word(GPCVM_NR_PORTS - 1),
			 GPCVM_PORT_WORDS - 1);
	assert_true(gpcvm_port_bit(65) == 2);
	for (unsigned int n = 1; n <= GPCVM_MAX_VCPUS; n++)
		for (unsigned int p = 0; p < GPCVM_NR_PORTS; p++)
			assert_true(gpcvm_port_vcpu(p, n) == p % n);
}

static void send_raises_once_then_coalesces(void **state)
{
	struct gpcvm_shared_info *si = new_page();
	unsigned int p = 70, w = 1; /* vCPU 0 of 2 */

	(void)state;
	assert_int_equal(gpcvm_evtchn_send(si, p, 2), GPCVM_SEND_RAISED);
	assert_true(si->evtchn_pending[w] & gpcvm_port_bit(p));
	assert_true(si->vcpu_info[0].pending_sel == (1ull << w));
	assert_int_equal(si->vcpu_info[0].upcall_pending, 1);
	assert_int_equal(si->port_seq[p], 1);
	/* Already pending: merged, but counted. */
	assert_int_equal(gpcvm_evtchn_send(si, p, 2), GPCVM_SEND_COALESCED);
	assert_int_equal(si->port_seq[p], 2);
	/* Another port of the same word and vCPU: the word is selected. */
	assert_int_equal(gpcvm_evtchn_send(si, p + 2, 2), GPCVM_SEND_SELECTED);
	/* A masked port: pending only. */
	gpcvm_evtchn_mask(si, 5);
	assert_int_equal(gpcvm_evtchn_send(si, 5, 2), GPCVM_SEND_MASKED);
	assert_true(si->evtchn_pending[0] & gpcvm_port_bit(5));
	assert_true(!(si->vcpu_info[1].pending_sel & 1));
	assert_int_equal(si->vcpu_info[1].upcall_pending, 0);
	free(si);
}

static void poll_consumes_each_notification_once(void **state)
{
	struct gpcvm_shared_info *si = new_page();
	struct gpcvm_evt_track t0, t1;

	(void)state;
	memset(&t0, 0, sizeof(t0));
	memset(&t1, 0, sizeof(t1));
	for (int i = 0; i < 3; i++)
		gpcvm_evtchn_send(si, 10, 2); /* vCPU 0 */
	gpcvm_evtchn_send(si, 11, 2);	      /* vCPU 1, same word */
	/* vCPU 0 takes its port only, and counts all three events. */
	assert_int_equal(gpcvm_evtchn_poll(si, &t0, 0, 2), 1);
	assert_int_equal(t0.deliveries, 1);
	assert_int_equal(t0.events, 3);
	assert_int_equal(t0.last_seen[10], 3);
	assert_true(si->evtchn_pending[0] & gpcvm_port_bit(11));
	assert_int_equal(gpcvm_evtchn_poll(si, &t0, 0, 2), 0);
	assert_int_equal(gpcvm_evtchn_poll(si, &t1, 1, 2), 1);
	assert_int_equal(t1.events, 1);
	assert_int_equal(si->evtchn_pending[0], 0);
	/* Nothing pending: a direct consume finds nothing. */
	assert_int_equal(gpcvm_evtchn_consume(si, &t0, 10), 0);
	free(si);
}

static void unmask_reraises_what_came_while_masked(void **state)
{
	struct gpcvm_shared_info *si = new_page();
	struct gpcvm_evt_track t;

	(void)state;
	memset(&t, 0, sizeof(t));
	gpcvm_evtchn_mask(si, 4);
	gpcvm_evtchn_send(si, 4, 1);
	gpcvm_evtchn_send(si, 4, 1);
	assert_int_equal(gpcvm_evtchn_poll(si, &t, 0, 1), 0);
	assert_int_equal(t.events, 0);
	gpcvm_evtchn_unmask(si, 4, 0);
	assert_int_equal(si->vcpu_info[0].upcall_pending, 1);
	assert_int_equal(gpcvm_evtchn_poll(si, &t, 0, 1), 1);
	assert_int_equal(t.events, 2);
	/* Unmasking with nothing pending raises nothing. */
	gpcvm_evtchn_unmask(si, 4, 0);
	assert_int_equal(si->vcpu_info[0].upcall_pending, 0);
	free(si);
}

static void sequence_going_back_is_caught(void **state)
{
	struct gpcvm_shared_info *si = new_page();
	struct gpcvm_evt_track t;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.last_seen[3] = 10;
	gpcvm_evtchn_send(si, 3, 1); /* seq 1 < 10 */
	assert_int_equal(gpcvm_evtchn_consume(si, &t, 3), -1);
	assert_int_equal(t.backwards, 1);
	/* An empty notification (seq unchanged) is legal and counted. */
	memset(&t, 0, sizeof(t));
	t.last_seen[3] = 1;
	si->evtchn_pending[0] |= gpcvm_port_bit(3);
	assert_int_equal(gpcvm_evtchn_consume(si, &t, 3), 1);
	assert_int_equal(t.empty, 1);
	assert_int_equal(t.events, 0);
	free(si);
}

/* ---- exactly once, concurrently ------------------------------------------------ */

#define NSEND 3
#define NCONS 2

struct race {
	struct gpcvm_shared_info *si;
	_Atomic uint64_t sent[GPCVM_NR_PORTS];
	_Atomic int senders_done;
	long per_sender;
	struct gpcvm_evt_track t[NCONS];
	uint64_t masks[NCONS];
};

struct race_arg {
	struct race *r;
	unsigned int id;
};

static void *race_sender(void *arg)
{
	struct race_arg *a = arg;
	uint64_t rng = 0x1234567 + a->id * 7919;

	for (long i = 0; i < a->r->per_sender; i++) {
		unsigned int p =
			(unsigned int)(test_rand(&rng) % GPCVM_NR_PORTS);

		atomic_fetch_add(&a->r->sent[p], 1);
		gpcvm_evtchn_send(a->r->si, p, NCONS);
	}
	atomic_fetch_add(&a->r->senders_done, 1);
	return NULL;
}

static void *race_consumer(void *arg)
{
	struct race_arg *a = arg;
	struct race *r = a->r;
	struct gpcvm_evt_track *t = &r->t[a->id];
	uint64_t rng = 99 + a->id;
	int masked = -1;

	while (atomic_load(&r->senders_done) < NSEND) {
		gpcvm_evtchn_poll(r->si, t, a->id, NCONS);
		/* Now and then mask one of our ports, or unmask it. */
		if (test_rand(&rng) % 64 == 0) {
			if (masked >= 0) {
				gpcvm_evtchn_unmask(r->si, (unsigned int)masked,
						    a->id);
				masked = -1;
			} else {
				masked = (int)((test_rand(&rng) %
						(GPCVM_NR_PORTS / NCONS)) *
						       NCONS +
					       a->id);
				gpcvm_evtchn_mask(r->si, (unsigned int)masked);
				r->masks[a->id]++;
			}
		}
	}
	if (masked >= 0)
		gpcvm_evtchn_unmask(r->si, (unsigned int)masked, a->id);
	/* The final drain of guest.c. */
	gpcvm_evtchn_poll(r->si, t, a->id, NCONS);
	for (unsigned int p = a->id; p < GPCVM_NR_PORTS; p += NCONS)
		gpcvm_evtchn_consume(r->si, t, p);
	return NULL;
}

static void exactly_once_with_racing_senders(void **state)
{
	struct race *r = calloc(1, sizeof(*r));
	struct race_arg sa[NSEND], ca[NCONS];
	pthread_t st[NSEND], ct[NCONS];
	uint64_t total = 0, counted = 0;

	(void)state;
	assert_non_null(r);
	r->si = new_page();
	r->per_sender = test_iters(300000);
	for (unsigned int i = 0; i < NCONS; i++) {
		ca[i] = (struct race_arg){ r, i };
		assert_int_equal(
			pthread_create(&ct[i], NULL, race_consumer, &ca[i]), 0);
	}
	for (unsigned int i = 0; i < NSEND; i++) {
		sa[i] = (struct race_arg){ r, i };
		assert_int_equal(
			pthread_create(&st[i], NULL, race_sender, &sa[i]), 0);
	}
	for (unsigned int i = 0; i < NSEND; i++)
		pthread_join(st[i], NULL);
	for (unsigned int i = 0; i < NCONS; i++)
		pthread_join(ct[i], NULL);
	for (unsigned int p = 0; p < GPCVM_NR_PORTS; p++) {
		struct gpcvm_evt_track *t = &r->t[p % NCONS];

		total += atomic_load(&r->sent[p]);
		assert_true(r->si->port_seq[p] == atomic_load(&r->sent[p]));
		assert_true(t->last_seen[p] == r->si->port_seq[p]);
	}
	for (unsigned int i = 0; i < NCONS; i++) {
		counted += r->t[i].events;
		assert_int_equal(r->t[i].backwards, 0);
		assert_int_equal(r->t[i].not_ours, 0);
		/* Notifications never outnumber events plus the empty ones. */
		assert_true(r->t[i].deliveries <=
			    r->t[i].events + r->t[i].empty);
	}
	assert_true(total == (uint64_t)(NSEND * r->per_sender));
	assert_true(counted == total);
	free(r->si);
	free(r);
}

/* ---- runstate ---------------------------------------------------------------------- */

static void set_rs(struct gpcvm_runstate *rs, int state, uint64_t base,
		   const uint64_t t[4])
{
	memset(rs, 0, sizeof(*rs));
	rs->state = state;
	rs->state_entry_time = base;
	for (int i = 0; i < 4; i++) {
		rs->time[i] = t[i];
		rs->state_entry_time += t[i];
	}
}

static void runstate_roundtrip_at_any_address(void **state)
{
	static const uint64_t t[4] = { 10, 20, 30, 40 };
	uint8_t buf[256];
	struct gpcvm_runstate in, out;
	uint64_t flagged = 0, changed = 0;

	(void)state;
	set_rs(&in, GPCVM_RS_RUNNABLE, 1000, t);
	for (unsigned int off = 0; off < 64; off++) {
		memset(buf, 0xee, sizeof(buf));
		gpcvm_runstate_write(buf + off, &in);
		assert_int_equal(gpcvm_runstate_read(buf + off, &out, 1,
						     &flagged, &changed),
				 0);
		assert_memory_equal(&in, &out, sizeof(in));
		assert_int_equal(buf[off + 48], 0xee); /* nothing beyond */
	}
	assert_int_equal(flagged, 0);
	assert_int_equal(changed, 0);
}

static void reader_refuses_update_in_progress(void **state)
{
	static const uint64_t t[4] = { 1, 2, 3, 4 };
	struct gpcvm_runstate in, out;
	uint8_t buf[64];
	uint64_t flagged = 0, changed = 0, e;

	(void)state;
	set_rs(&in, GPCVM_RS_RUNNING, 100, t);
	gpcvm_runstate_write(buf, &in);
	memcpy(&e, buf + 8, 8);
	e |= GPCVM_RUNSTATE_UPDATE;
	memcpy(buf + 8, &e, 8);
	assert_int_equal(gpcvm_runstate_read(buf, &out, 3, &flagged, &changed),
			 -1);
	assert_int_equal(flagged, 3);
}

static void runstate_checks(void **state)
{
	static const uint64_t t1[4] = { 5, 0, 0, 7 };
	static const uint64_t t2[4] = { 9, 3, 0, 7 };
	struct gpcvm_rs_track tr;
	struct gpcvm_runstate s;

	(void)state;
	memset(&tr, 0, sizeof(tr));
	set_rs(&s, GPCVM_RS_RUNNING, 1000, t1);
	assert_int_equal(gpcvm_runstate_check(&s, &tr), 0);
	assert_true(tr.base == 1000);
	set_rs(&s, GPCVM_RS_BLOCKED, 1000, t2);
	assert_int_equal(gpcvm_runstate_check(&s, &tr), 0);
	/* Times that do not add up to the entry time. */
	s.state_entry_time += 1;
	assert_int_equal(gpcvm_runstate_check(&s, &tr), GPCVM_RS_ERR_SUM);
	/* Going back, with the sum right. */
	set_rs(&s, GPCVM_RS_RUNNING, 1000, t1);
	assert_int_equal(gpcvm_runstate_check(&s, &tr), GPCVM_RS_ERR_BACKWARDS);
	/* Bad states. */
	set_rs(&s, 4, 1000, t2);
	assert_int_equal(gpcvm_runstate_check(&s, &tr), GPCVM_RS_ERR_STATE);
	set_rs(&s, -1, 1000, t2);
	assert_int_equal(gpcvm_runstate_check(&s, &tr), GPCVM_RS_ERR_STATE);
	/* More time than there is. */
	memset(&tr, 0, sizeof(tr));
	set_rs(&s, GPCVM_RS_RUNNING, 0, t1);
	s.state_entry_time = 3;
	assert_int_equal(gpcvm_runstate_check(&s, &tr), GPCVM_RS_ERR_SUM);
}

struct rs_race {
	uint8_t *area;
	_Atomic int stop;
	_Atomic uint64_t writes;
};

/* A VMM that changes state all the time, keeping the times adding up. */
static void *rs_writer(void *arg)
{
	struct rs_race *r = arg;
	struct gpcvm_runstate rs;
	uint64_t now = 5000;

	memset(&rs, 0, sizeof(rs));
	rs.state = GPCVM_RS_OFFLINE;
	rs.state_entry_time = now;
	while (!atomic_load(&r->stop)) {
		now += 1 + (now % 7);
		rs.time[rs.state] += now - rs.state_entry_time;
		rs.state = (rs.state + 1) % 3;
		rs.state_entry_time = now;
		gpcvm_runstate_write(r->area, &rs);
		atomic_fetch_add(&r->writes, 1);
	}
	return NULL;
}

static void reader_sees_only_consistent_snapshots(void **state)
{
	/* Misaligned and across a cache line, as a guest may place it. */
	uint8_t *buf = aligned_alloc(64, 256);
	struct rs_race r = { .area = NULL };
	struct gpcvm_rs_track tr;
	struct gpcvm_runstate s;
	uint64_t flagged = 0, changed = 0, ok = 0, failed = 0;
	long n = test_iters(200000);
	pthread_t w;

	(void)state;
	assert_non_null(buf);
	memset(buf, 0, 256);
	memset(&tr, 0, sizeof(tr));
	r.area = buf + 64 - 20;
	assert_int_equal(pthread_create(&w, NULL, rs_writer, &r), 0);
	while (!atomic_load(&r.writes))
		sched_yield();
	for (long i = 0; i < n; i++) {
		if (gpcvm_runstate_read(r.area, &s, 1000, &flagged, &changed)) {
			failed++;
			continue;
		}
		ok++;
		assert_int_equal(gpcvm_runstate_check(&s, &tr), 0);
	}
	atomic_store(&r.stop, 1);
	pthread_join(w, NULL);
	assert_true(ok > 0);
	assert_true(tr.base == 5000);
	print_message("    %llu snapshots, %llu flagged, %llu changed, %llu "
		      "given up\n",
		      (unsigned long long)ok, (unsigned long long)flagged,
		      (unsigned long long)changed, (unsigned long long)failed);
	free(buf);
}

/* ---- registrations ------------------------------------------------------------------- */

static struct gpcvm_layout_view view(void)
{
	struct gpcvm_layout_view lv;

	memset(&lv, 0, sizeof(lv));
	lv.nvcpus = 2;
	lv.shinfo_gpa = GPCVM_ZONE_GPA + 3 * GPCVM_PAGE;
	lv.rs_gpa[0] = GPCVM_RSWIN_GPA + GPCVM_PAGE - 16;
	lv.rs_gpa[1] = GPCVM_RSWIN_GPA + 3 * GPCVM_PAGE - 8;
	lv.report_gpa[0] = GPCVM_GSTATE_GPA + 0x2000 - 64;
	return lv;
}

static void shinfo_registration_rules(void **state)
{
	struct gpcvm_layout_view lv = view();

	(void)state;
	/* Good: any zone page, any hole page, the current one. */
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_ZONE_GPA, GPCVM_PAGE),
			 0);
	assert_int_equal(gpcvm_check_shinfo(&lv,
					    GPCVM_ZONE_GPA + GPCVM_ZONE_SIZE -
						    GPCVM_PAGE,
					    GPCVM_PAGE),
			 0);
	assert_int_equal(gpcvm_check_shinfo(&lv,
					    GPCVM_HOLE_GPA + 77 * GPCVM_PAGE,
					    GPCVM_PAGE),
			 0);
	assert_int_equal(gpcvm_check_shinfo(&lv, lv.shinfo_gpa, GPCVM_PAGE), 0);
	/* Unaligned, oversized, empty. */
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_ZONE_GPA + 8,
					    GPCVM_PAGE),
			 -EINVAL);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_ZONE_GPA,
					    2 * GPCVM_PAGE),
			 -EINVAL);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_ZONE_GPA, 0), -EINVAL);
	/* Garbage, wrapping, just past the zone and the hole (nothing
	 * there), hot-pluggable RAM (first, last page), past it. */
	assert_int_equal(gpcvm_check_shinfo(&lv, 0xdead0000000ull, GPCVM_PAGE),
			 -EFAULT);
	assert_int_equal(gpcvm_check_shinfo(&lv, ~(GPCVM_PAGE - 1), GPCVM_PAGE),
			 -EFAULT);
	assert_int_equal(gpcvm_check_shinfo(&lv,
					    GPCVM_ZONE_GPA + GPCVM_ZONE_SIZE,
					    GPCVM_PAGE),
			 -EFAULT);
	assert_int_equal(gpcvm_check_shinfo(&lv,
					    GPCVM_HOLE_GPA + GPCVM_HOLE_SIZE,
					    GPCVM_PAGE),
			 -EFAULT);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_HOT_GPA, GPCVM_PAGE),
			 -EFAULT);
	assert_int_equal(gpcvm_check_shinfo(
				 &lv,
				 GPCVM_HOT_GPA + GPCVM_NR_HOT * GPCVM_HOT_SIZE -
					 GPCVM_PAGE,
				 GPCVM_PAGE),
			 -EFAULT);
	assert_int_equal(gpcvm_check_shinfo(
				 &lv,
				 GPCVM_HOT_GPA + GPCVM_NR_HOT * GPCVM_HOT_SIZE,
				 GPCVM_PAGE),
			 -EFAULT);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_PHYS_LIMIT, GPCVM_PAGE),
			 -EFAULT);
	/* Any other page of low RAM and the runstate window: free RAM, the
	 * guest's state and stacks (its business), the last pages. */
	assert_int_equal(gpcvm_check_shinfo(&lv, 0x280000, GPCVM_PAGE), 0);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_STACK_GPA, GPCVM_PAGE),
			 0);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_TABLES_END, GPCVM_PAGE),
			 0);
	assert_int_equal(
		gpcvm_check_shinfo(&lv,
				   GPCVM_LOW_GPA + GPCVM_LOW_SIZE - GPCVM_PAGE,
				   GPCVM_PAGE),
		0);
	assert_int_equal(gpcvm_check_shinfo(&lv,
					    GPCVM_RSWIN_GPA + 4 * GPCVM_PAGE,
					    GPCVM_PAGE),
			 0);
	assert_int_equal(gpcvm_check_shinfo(&lv,
					    GPCVM_RSWIN_GPA + GPCVM_RSWIN_SIZE -
						    GPCVM_PAGE,
					    GPCVM_PAGE),
			 0);
	/* The VMM's pages: GDT, each page table, boot page, image (both
	 * ends); a page table page is refused even at an odd size. */
	assert_int_equal(gpcvm_check_shinfo(&lv, 0, GPCVM_PAGE), -EPERM);
	for (uint64_t g = GPCVM_PML4_GPA; g < GPCVM_TABLES_END; g += GPCVM_PAGE)
		assert_int_equal(gpcvm_check_shinfo(&lv, g, GPCVM_PAGE),
				 -EPERM);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_BOOT_GPA, GPCVM_PAGE),
			 -EPERM);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_IMAGE_GPA, GPCVM_PAGE),
			 -EPERM);
	assert_int_equal(gpcvm_check_shinfo(&lv,
					    GPCVM_IMAGE_GPA + GPCVM_IMAGE_MAX -
						    GPCVM_PAGE,
					    GPCVM_PAGE),
			 -EPERM);
	assert_int_equal(gpcvm_check_shinfo(&lv,
					    GPCVM_IMAGE_GPA + GPCVM_IMAGE_MAX,
					    GPCVM_PAGE),
			 0);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_BOOT_GPA,
					    2 * GPCVM_PAGE),
			 -EINVAL);
	/* Busy: the pages under either runstate area (vCPU 0's crosses from
	 * page 0 into page 1 of the window) and under the last report
	 * (which also crosses a page). */
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_RSWIN_GPA, GPCVM_PAGE),
			 -EBUSY);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_RSWIN_GPA + GPCVM_PAGE,
					    GPCVM_PAGE),
			 -EBUSY);
	assert_int_equal(gpcvm_check_shinfo(&lv,
					    GPCVM_RSWIN_GPA + 2 * GPCVM_PAGE,
					    GPCVM_PAGE),
			 -EBUSY);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_GSTATE_GPA + GPCVM_PAGE,
					    GPCVM_PAGE),
			 -EBUSY);
	assert_int_equal(gpcvm_check_shinfo(&lv,
					    GPCVM_GSTATE_GPA + 2 * GPCVM_PAGE,
					    GPCVM_PAGE),
			 -EBUSY);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_GSTATE_GPA, GPCVM_PAGE),
			 0);
	/* A runstate area in low RAM keeps the page off it too. */
	lv.rs_gpa[1] = 0x300000 - 8;
	assert_int_equal(gpcvm_check_shinfo(&lv, 0x2ff000, GPCVM_PAGE), -EBUSY);
	assert_int_equal(gpcvm_check_shinfo(&lv, 0x300000, GPCVM_PAGE), -EBUSY);
	assert_int_equal(gpcvm_check_shinfo(&lv, 0x301000, GPCVM_PAGE), 0);
	/* Regions as the VMM sees them. */
	assert_int_equal(gpcvm_region_of(0x280000), GPCVM_REGION_LOW);
	assert_int_equal(gpcvm_region_of(GPCVM_RSWIN_GPA), GPCVM_REGION_RSWIN);
	assert_int_equal(gpcvm_region_of(GPCVM_ZONE_GPA + GPCVM_ZONE_SIZE - 1),
			 GPCVM_REGION_ZONE);
	assert_int_equal(gpcvm_region_of(GPCVM_HOLE_GPA), GPCVM_REGION_HOLE);
	assert_int_equal(gpcvm_region_of(GPCVM_HOT_GPA + 5), GPCVM_REGION_HOT);
	assert_int_equal(gpcvm_region_of(GPCVM_ZONE_GPA + GPCVM_ZONE_SIZE),
			 GPCVM_REGION_NONE);
}

static void runstate_registration_rules(void **state)
{
	struct gpcvm_layout_view lv = view();
	uint64_t sz = sizeof(struct gpcvm_runstate);

	(void)state;
	/* Good: any byte address of the window, across a page, re-register. */
	assert_int_equal(gpcvm_check_runstate(&lv, 0, GPCVM_RSWIN_GPA + 5, sz),
			 0);
	assert_int_equal(
		gpcvm_check_runstate(&lv, 0,
				     GPCVM_RSWIN_GPA + 8 * GPCVM_PAGE - 1, sz),
		0);
	assert_int_equal(gpcvm_check_runstate(&lv, 1, lv.rs_gpa[1], sz), 0);
	assert_int_equal(gpcvm_check_runstate(
				 &lv, 0,
				 GPCVM_RSWIN_GPA + GPCVM_RSWIN_SIZE - sz, sz),
			 0);
	/* Anywhere in low RAM too: on a page with other data, across a page,
	 * at its first and last bytes. */
	assert_int_equal(gpcvm_check_runstate(&lv, 0, GPCVM_BOOT_GPA + 1, sz),
			 0);
	assert_int_equal(gpcvm_check_runstate(
				 &lv, 0, GPCVM_GSTATE_GPA + GPCVM_PAGE - 3, sz),
			 0);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, GPCVM_LOW_GPA + 1, sz),
			 0);
	/* GPA 0 itself means "no area" in the view: refused, not lost. */
	assert_int_equal(gpcvm_check_runstate(&lv, 0, 0, sz), -EINVAL);
	assert_int_equal(
		gpcvm_check_runstate(&lv, 0,
				     GPCVM_LOW_GPA + GPCVM_LOW_SIZE - sz, sz),
		0);
	/* Not across low RAM and the window (two memslots), nor in the
	 * overlay zone (its slots change under shared-info moves). */
	assert_int_equal(gpcvm_check_runstate(&lv, 0, GPCVM_RSWIN_GPA - 24, sz),
			 -EFAULT);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, GPCVM_ZONE_GPA + 64, sz),
			 -EFAULT);
	/* No such vCPU, oversized, short. */
	assert_int_equal(gpcvm_check_runstate(&lv, 2, GPCVM_RSWIN_GPA, sz),
			 -ENOENT);
	assert_int_equal(gpcvm_check_runstate(&lv, 99, GPCVM_RSWIN_GPA, sz),
			 -ENOENT);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, lv.rs_gpa[0], GPCVM_PAGE),
			 -EINVAL);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, lv.rs_gpa[0], sz - 1),
			 -EINVAL);
	/* Garbage: a hole, off the end, wrapping, hot RAM, shared info. */
	assert_int_equal(gpcvm_check_runstate(&lv, 0, GPCVM_HOLE_GPA, sz),
			 -EFAULT);
	assert_int_equal(gpcvm_check_runstate(
				 &lv, 0,
				 GPCVM_RSWIN_GPA + GPCVM_RSWIN_SIZE - 24, sz),
			 -EFAULT);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, ~0ull - 8, sz), -EFAULT);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, GPCVM_HOT_GPA, sz),
			 -EFAULT);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, lv.shinfo_gpa + 64, sz),
			 -EFAULT);
	/* Overlapping the other vCPU's area, by one byte on either side. */
	assert_int_equal(gpcvm_check_runstate(&lv, 0, lv.rs_gpa[1] + 8, sz),
			 -EBUSY);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, lv.rs_gpa[1] - sz + 1,
					      sz),
			 -EBUSY);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, lv.rs_gpa[1] + sz - 1,
					      sz),
			 -EBUSY);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, lv.rs_gpa[1] + sz, sz),
			 0);
	/* The shared-info page inside the window, or in low RAM, keeps
	 * runstate areas off it, by one byte on either side. */
	lv.shinfo_gpa = GPCVM_RSWIN_GPA + 10 * GPCVM_PAGE;
	assert_int_equal(gpcvm_check_runstate(&lv, 0, lv.shinfo_gpa + 100, sz),
			 -EBUSY);
	assert_int_equal(gpcvm_check_shinfo(&lv, GPCVM_ZONE_GPA, GPCVM_PAGE),
			 0);
	lv.shinfo_gpa = 0x300000;
	assert_int_equal(gpcvm_check_runstate(&lv, 0, 0x300000 - sz + 1, sz),
			 -EBUSY);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, 0x301000 - 1, sz),
			 -EBUSY);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, 0x300000 - sz, sz), 0);
	assert_int_equal(gpcvm_check_runstate(&lv, 0, 0x301000, sz), 0);
	/* Reports: in low RAM, not under the shared-info page. */
	assert_int_equal(gpcvm_check_report(&lv, GPCVM_GSTATE_GPA,
					    sizeof(struct gpcvm_report)),
			 0);
	assert_int_equal(gpcvm_check_report(&lv, GPCVM_GSTATE_GPA, 7), -EINVAL);
	assert_int_equal(gpcvm_check_report(&lv, 0,
					    sizeof(struct gpcvm_report)),
			 -EINVAL);
	assert_int_equal(gpcvm_check_report(&lv, 0xdead0000000ull,
					    sizeof(struct gpcvm_report)),
			 -EFAULT);
	assert_int_equal(gpcvm_check_report(&lv, GPCVM_LOW_SIZE - 8,
					    sizeof(struct gpcvm_report)),
			 -EFAULT);
	assert_int_equal(gpcvm_check_report(&lv, 0x300000 + 512,
					    sizeof(struct gpcvm_report)),
			 -EBUSY);
	assert_int_equal(gpcvm_check_report(&lv, 0x300000 - 8,
					    sizeof(struct gpcvm_report)),
			 -EBUSY);
	assert_int_equal(gpcvm_check_report(&lv, 0x301000,
					    sizeof(struct gpcvm_report)),
			 0);
	lv.shinfo_gpa = GPCVM_HOLE_GPA;
	assert_int_equal(gpcvm_check_report(&lv, 0x300000 + 512,
					    sizeof(struct gpcvm_report)),
			 0);
}

static int zone_split(uint64_t page, struct gpcvm_range r[2])
{
	return gpcvm_split_around(GPCVM_ZONE_GPA, GPCVM_ZONE_SIZE, page, r);
}

static void zone_is_split_around_the_overlay(void **state)
{
	struct gpcvm_range r[2];

	(void)state;
	assert_int_equal(zone_split(0, r), 1);
	assert_true(r[0].gpa == GPCVM_ZONE_GPA && r[0].size == GPCVM_ZONE_SIZE);
	assert_int_equal(zone_split(GPCVM_HOLE_GPA, r), 1);
	assert_true(r[0].gpa == GPCVM_ZONE_GPA && r[0].size == GPCVM_ZONE_SIZE);
	assert_int_equal(zone_split(GPCVM_ZONE_GPA, r), 1);
	assert_true(r[0].gpa == GPCVM_ZONE_GPA + GPCVM_PAGE);
	assert_true(r[0].size == GPCVM_ZONE_SIZE - GPCVM_PAGE);
	assert_int_equal(zone_split(GPCVM_ZONE_GPA + 2 * GPCVM_PAGE, r), 2);
	assert_true(r[0].gpa == GPCVM_ZONE_GPA && r[0].size == 2 * GPCVM_PAGE);
	assert_true(r[1].gpa == GPCVM_ZONE_GPA + 3 * GPCVM_PAGE);
	assert_true(r[1].gpa + r[1].size == GPCVM_ZONE_GPA + GPCVM_ZONE_SIZE);
	assert_int_equal(
		zone_split(GPCVM_ZONE_GPA + GPCVM_ZONE_SIZE - GPCVM_PAGE, r),
		1);
	assert_true(r[0].size == GPCVM_ZONE_SIZE - GPCVM_PAGE);
}

/* The pieces cover the region minus the page, in order, without gaps. */
static void assert_pieces(uint64_t base, uint64_t size, uint64_t page,
			  const struct gpcvm_range *r, int n)
{
	uint64_t at = base, covered = 0;

	for (int i = 0; i < n; i++) {
		assert_true(r[i].size > 0);
		assert_true(r[i].gpa % GPCVM_PAGE == 0);
		assert_true(r[i].size % GPCVM_PAGE == 0);
		if (r[i].gpa != at) {
			/* The only gap is the overlay page. */
			assert_true(at == page);
			assert_true(r[i].gpa == page + GPCVM_PAGE);
		}
		at = r[i].gpa + r[i].size;
		covered += r[i].size;
	}
	assert_true(covered == size - GPCVM_PAGE);
	assert_true(at == base + size || at == page);
}

static void any_region_is_split_around_the_overlay(void **state)
{
	const uint64_t p = GPCVM_PAGE;
	struct gpcvm_range r[2];
	uint64_t low = GPCVM_LOW_GPA, lsz = GPCVM_LOW_SIZE;

	(void)state;
	/* Low RAM, page at the start: one piece above it. */
	assert_int_equal(gpcvm_split_around(low, lsz, low, r), 1);
	assert_true(r[0].gpa == low + p && r[0].size == lsz - p);
	/* In the middle: below and above. */
	assert_int_equal(gpcvm_split_around(low, lsz, 0x280000, r), 2);
	assert_true(r[0].gpa == low && r[0].size == 0x280000);
	assert_true(r[1].gpa == 0x281000 && r[1].gpa + r[1].size == lsz);
	assert_pieces(low, lsz, 0x280000, r, 2);
	/* At the end: one piece below it. */
	assert_int_equal(gpcvm_split_around(low, lsz, lsz - p, r), 1);
	assert_true(r[0].gpa == low && r[0].size == lsz - p);
	/* The second page and the second-to-last: two pieces, one a page. */
	assert_int_equal(gpcvm_split_around(low, lsz, p, r), 2);
	assert_true(r[0].gpa == low && r[0].size == p);
	assert_pieces(low, lsz, p, r, 2);
	assert_int_equal(gpcvm_split_around(low, lsz, lsz - 2 * p, r), 2);
	assert_true(r[1].gpa == lsz - p && r[1].size == p);
	assert_pieces(low, lsz, lsz - 2 * p, r, 2);
	/* A one-page region under the page: nothing left of it. */
	assert_int_equal(gpcvm_split_around(0x7000, p, 0x7000, r), 0);
	/* ...and next to the page: whole. */
	assert_int_equal(gpcvm_split_around(0x7000, p, 0x8000, r), 1);
	assert_true(r[0].gpa == 0x7000 && r[0].size == p);
	assert_int_equal(gpcvm_split_around(0x7000, p, 0x6000, r), 1);
	assert_true(r[0].gpa == 0x7000 && r[0].size == p);
	/* The page in the hole (first, some, last page) or in hot RAM:
	 * every RAM region whole. */
	for (int g = 0; g < GPCVM_NR_RAM_REGIONS; g++) {
		const struct gpcvm_ram_region *rg = &gpcvm_ram_regions[g];
		const uint64_t away[] = { GPCVM_HOLE_GPA,
					  GPCVM_HOLE_GPA + 5 * p,
					  GPCVM_HOLE_GPA + GPCVM_HOLE_SIZE - p,
					  GPCVM_HOT_GPA };

		for (int k = 0; k < 4; k++) {
			uint64_t page = away[k];

			assert_int_equal(gpcvm_split_around(rg->gpa, rg->size,
							    page, r),
					 1);
			assert_true(r[0].gpa == rg->gpa &&
				    r[0].size == rg->size);
		}
	}
	/* Every page of every region: the pieces cover the rest. */
	for (int g = 0; g < GPCVM_NR_RAM_REGIONS; g++) {
		const struct gpcvm_ram_region *rg = &gpcvm_ram_regions[g];

		for (uint64_t page = rg->gpa; page < rg->gpa + rg->size;
		     page += p) {
			int n = gpcvm_split_around(rg->gpa, rg->size, page, r);

			assert_true(n >= 1 && n <= 2);
			assert_pieces(rg->gpa, rg->size, page, r, n);
		}
	}
	/* The regions' slots: distinct, and none is the overlay's. */
	for (int g = 0; g < GPCVM_NR_RAM_REGIONS; g++)
		for (int k = 0; k < 2; k++) {
			uint32_t id = gpcvm_ram_regions[g].slot[k];

			assert_true(id != GPCVM_SLOT_SHINFO);
			assert_true(id < GPCVM_SLOT_HOT0);
			for (int h = 0; h < GPCVM_NR_RAM_REGIONS; h++)
				for (int j = 0; j < 2; j++)
					if (h != g || j != k)
						assert_true(id !=
							    gpcvm_ram_regions[h]
								    .slot[j]);
		}
}

/*
 * What gpcvm does on a move, on the library's memslots: split the region
 * under the page (delete the whole slot, create the pieces), map another
 * page there; later delete it and rebuild the region whole. KVM and the
 * library refuse overlapping slots, so each step is checked. The RAM under
 * the page is hidden, then back with its content, for a page at the start,
 * in the middle and at the end of the region.
 */
static void set_region(struct gpc_vm *vm, const struct gpcvm_ram_region *rg,
		       uint8_t *ram, uint64_t page)
{
	struct gpcvm_range r[2];
	int n = gpcvm_split_around(rg->gpa, rg->size, page, r);

	for (int i = 0; i < n; i++)
		assert_int_equal(
			gpc_memslot_create(vm, rg->slot[i], r[i].gpa, r[i].size,
					   (uint64_t)(uintptr_t)ram +
						   (r[i].gpa - rg->gpa),
					   0),
			0);
}

static void clear_region(struct gpc_vm *vm, const struct gpcvm_ram_region *rg)
{
	for (int i = 0; i < 2; i++)
		gpc_memslot_delete(vm, rg->slot[i]);
}

static void covered_ram_is_hidden_not_lost(void **state)
{
	const struct gpcvm_ram_region *rg =
		&gpcvm_ram_regions[GPCVM_REGION_RSWIN];
	struct gpc_vm_config cfg = { 0 };
	struct gpc_memslot_info si;
	struct gpc_hostmem *hm;
	struct gpc_vm *vm;
	uint8_t *ram, *overlay;
	uint64_t pages = rg->size / GPCVM_PAGE;
	const uint64_t at[] = { rg->gpa, rg->gpa + 5 * GPCVM_PAGE,
				rg->gpa + rg->size - GPCVM_PAGE };

	(void)state;
	assert_int_equal(gpc_hostmem_create(&hm), 0);
	cfg.scheme = GPC_SCHEME_SRCU;
	cfg.hostmem = &gpc_hostmem_direct_ops;
	cfg.hostmem_ctx = hm;
	cfg.name = "overlay";
	assert_int_equal(gpc_vm_create(&cfg, &vm), 0);
	assert_int_equal(gpc_hostmem_alloc(hm, rg->size, (void **)&ram), 0);
	assert_int_equal(gpc_hostmem_alloc(hm, GPCVM_PAGE, (void **)&overlay),
			 0);
	for (uint64_t i = 0; i < rg->size; i++)
		ram[i] = (uint8_t)(i * 7 + i / GPCVM_PAGE);
	memset(overlay, 0xee, GPCVM_PAGE);
	set_region(vm, rg, ram, 0);
	for (unsigned int k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
		uint64_t page = at[k];

		/* Move in: the page's RAM is no longer what the GPA maps. */
		clear_region(vm, rg);
		set_region(vm, rg, ram, page);
		assert_int_equal(
			gpc_memslot_create(vm, GPCVM_SLOT_SHINFO, page,
					   GPCVM_PAGE,
					   (uint64_t)(uintptr_t)overlay, 0),
			0);
		/* A whole slot over it again would overlap. */
		assert_int_equal(gpc_memslot_create(vm, 30, rg->gpa, rg->size,
						    (uint64_t)(uintptr_t)ram,
						    0),
				 -EADDRINUSE); /* overlap, not id */
		for (uint64_t pg = 0; pg < pages; pg++) {
			uint64_t gpa = rg->gpa + pg * GPCVM_PAGE + 100;

			assert_int_equal(gpc_memslot_lookup(vm, gpa, &si), 0);
			if (gpa - 100 == page) {
				assert_true(si.id == GPCVM_SLOT_SHINFO);
				assert_true(si.hva + (gpa - si.gpa) ==
					    (uint64_t)(uintptr_t)overlay + 100);
			} else {
				assert_true(si.id == rg->slot[0] ||
					    si.id == rg->slot[1]);
				assert_true(si.hva + (gpa - si.gpa) ==
					    (uint64_t)(uintptr_t)ram +
						    (gpa - rg->gpa));
			}
		}
		/* The guest writes its shared info; the RAM keeps its own. */
		memset(overlay, (int)k, GPCVM_PAGE);
		/* Move out: the region whole, the RAM back as it was. */
		assert_int_equal(gpc_memslot_delete(vm, GPCVM_SLOT_SHINFO), 0);
		clear_region(vm, rg);
		set_region(vm, rg, ram, 0);
		assert_int_equal(gpc_memslot_lookup(vm, page + 100, &si), 0);
		assert_true(si.id == rg->slot[0] && si.gpa == rg->gpa &&
			    si.size == rg->size);
		for (uint64_t i = 0; i < rg->size; i++)
			assert_true(ram[i] ==
				    (uint8_t)(i * 7 + i / GPCVM_PAGE));
	}
	clear_region(vm, rg);
	assert_int_equal(gpc_vm_destroy(vm), 0);
	gpc_hostmem_destroy(hm);
}

static void runstate_pages_sharing_a_page_move_together(void **state)
{
	struct gpcvm_layout_view lv;
	struct gpcvm_range r[GPCVM_MAX_VCPUS];
	uint64_t w = GPCVM_RSWIN_GPA, p = GPCVM_PAGE;

	(void)state;
	memset(&lv, 0, sizeof(lv));
	lv.nvcpus = 4;
	lv.rs_gpa[0] = w + p - 8;	/* pages 0-1 */
	lv.rs_gpa[1] = w + 2 * p - 16;	/* pages 1-2: shares page 1 */
	lv.rs_gpa[2] = w + 5 * p + 100; /* page 5 */
	lv.rs_gpa[3] = 0;		/* none */
	assert_int_equal(gpcvm_runstate_clusters(&lv, r), 2);
	assert_true(r[0].gpa == w && r[0].size == 3 * p);
	assert_true(r[1].gpa == w + 5 * p && r[1].size == p);
	lv.nvcpus = 0;
	assert_int_equal(gpcvm_runstate_clusters(&lv, r), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shared_info_has_xen_shape),
		cmocka_unit_test(ports_map_to_words_bits_and_vcpus),
		cmocka_unit_test(send_raises_once_then_coalesces),
		cmocka_unit_test(poll_consumes_each_notification_once),
		cmocka_unit_test(unmask_reraises_what_came_while_masked),
		cmocka_unit_test(sequence_going_back_is_caught),
		cmocka_unit_test(exactly_once_with_racing_senders),
		cmocka_unit_test(runstate_roundtrip_at_any_address),
		cmocka_unit_test(reader_refuses_update_in_progress),
		cmocka_unit_test(runstate_checks),
		cmocka_unit_test(reader_sees_only_consistent_snapshots),
		cmocka_unit_test(shinfo_registration_rules),
		cmocka_unit_test(runstate_registration_rules),
		cmocka_unit_test(zone_is_split_around_the_overlay),
		cmocka_unit_test(any_region_is_split_around_the_overlay),
		cmocka_unit_test(covered_ram_is_hidden_not_lost),
		cmocka_unit_test(runstate_pages_sharing_a_page_move_together),
	};

	return cmocka_run_group_tests_name("gpcvm_proto", tests, NULL, NULL);
}
