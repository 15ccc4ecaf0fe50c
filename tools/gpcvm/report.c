// SPDX-License-Identifier: MIT
/*
 * report.c - latency histograms, the live status line and the final report.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmm.h"

/* ---- histograms: 16 buckets per power of two ------------------------------------ */

static unsigned int bucket(uint64_t ns)
{
	unsigned int e, i;

	if (ns < 16)
		return (unsigned int)ns;
	e = 63u - (unsigned int)__builtin_clzll(ns);
	i = (e - 3) * 16 + (unsigned int)((ns >> (e - 4)) & 15);
	return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

static uint64_t bucket_value(unsigned int i)
{
	unsigned int e;

	if (i < 16)
		return i;
	e = i / 16 + 3;
	/* The middle of the bucket. */
	return ((16ull + i % 16) << (e - 4)) + (1ull << (e - 4)) / 2;
}

/* Any context: only atomics. */
void hist_add(struct hist *h, uint64_t ns)
{
	atomic_fetch_add_explicit(&h->b[bucket(ns)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->n, 1, memory_order_relaxed);
}

uint64_t hist_pct(struct hist *h, double pct)
{
	uint64_t n = atomic_load(&h->n), want, seen = 0;

	if (!n)
		return 0;
	want = (uint64_t)(pct / 100.0 * (double)n);
	if (want >= n)
		want = n - 1;
	for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
		seen += atomic_load(&h->b[i]);
		if (seen > want)
			return bucket_value(i);
	}
	return bucket_value(HIST_BUCKETS - 1);
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* ---- live status ------------------------------------------------------------------ */

static uint64_t last_sent, last_inval;
static double last_t;

void vmm_status_line(struct vmm *m, double t)
{
	uint64_t sent = atomic_load(&m->st.sent);
	uint64_t inval = atomic_load(&m->st.inval_blocking) +
			 atomic_load(&m->st.inval_nonblock) +
			 atomic_load(&m->st.memslot_ops);
	double dt = t - last_t;
	uint64_t bad = 0;

	if (dt <= 0)
		return;
	for (int k = 0; k < V_NR; k++)
		bad += atomic_load(&m->st.violations[k]);
	fprintf(stderr,
		"\r\033[K[gpcvm %s/%s] %5.1fs  events/s %8.0f  "
		"invalidations/s %6.0f  moves %" PRIu64 "  violations %" PRIu64,
		m->be->name,
		m->opt.scheme == GPC_SCHEME_SRCU ? "srcu" : "rwlock", t,
		(double)(sent - last_sent) / dt,
		(double)(inval - last_inval) / dt,
		atomic_load(&m->st.shinfo_moves), bad);
	fflush(stderr);
	last_sent = sent;
	last_inval = inval;
	last_t = t;
}

void vmm_status_clear(struct vmm *m)
{
	(void)m;
	last_sent = last_inval = 0; /* --bench runs again */
	last_t = 0;
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
}

/* ---- the report --------------------------------------------------------------------- */

static void scenarios(unsigned int sc, char *buf, size_t len)
{
	static const char *const names[] = { "shinfo", "remap", "hotplug",
					     "reclaim", "badinput" };

	buf[0] = 0;
	for (unsigned int i = 0; i < 5; i++)
		if (sc & (1u << i))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
				 buf[0] ? "," : "", names[i]);
	if (!buf[0])
		snprintf(buf, len, "none");
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 100.0;
}

/* Print the report; return the number of violations. */
int vmm_report(struct vmm *m)
{
	struct gpc_vm_stats vs;
	struct gpcvm_report g;
	struct vmm_stats *s = &m->st;
	uint64_t sent = atomic_load(&s->sent), thread_sent, fast, slow;
	uint64_t evictions = 0, kicks_sent = 0, bad = 0, lost;
	char sc[128];

	memset(&g, 0, sizeof(g));
	for (unsigned int i = 0; i < m->opt.vcpus; i++) {
		const struct gpcvm_report *r = &m->vcpus[i].report;

		g.polls += r->polls;
		g.deliveries += r->deliveries;
		g.events += r->events;
		g.empty += r->empty;
		g.lost += r->lost;
		g.rs_own += r->rs_own;
		g.rs_other += r->rs_other;
		g.rs_flagged += r->rs_flagged;
		g.rs_changed += r->rs_changed;
		g.rs_retries += r->rs_retries;
		g.rs_errors += r->rs_errors;
		g.shinfo_moves += r->shinfo_moves;
		g.hidden_checks += r->hidden_checks;
		g.hot_uses += r->hot_uses;
		g.hot_busy += r->hot_busy;
		g.bad_ok += r->bad_ok;
		g.bad_errors += r->bad_errors;
		g.masks += r->masks;
		g.blocks += r->blocks;
		evictions += atomic_load(&m->vcpus[i].evictions);
		if (m->be->kicks_sent)
			kicks_sent += m->be->kicks_sent(&m->vcpus[i]);
	}
	lost = sent > g.events ? sent - g.events : 0;
	if (sent != g.events)
		vmm_violation(m, V_LOST,
			      "sent %" PRIu64
			      " events, the guest counted %" PRIu64,
			      sent, g.events);
	gpc_vm_get_stats(m->vm, &vs);
	scenarios(m->opt.scenarios, sc, sizeof(sc));
	fast = atomic_load(&s->fast);
	slow = atomic_load(&s->slow);
	thread_sent = fast + slow;

	printf("gpcvm report\n");
	/* backend_why is empty when KVM runs (only a failure writes it). */
	printf("  backend        %s%s%s%s\n", m->be->name,
	       m->backend_why[0] ? " (" : "", m->backend_why,
	       m->backend_why[0] ? ")" : "");
	printf("  scheme         %s\n",
	       m->opt.scheme == GPC_SCHEME_SRCU ? "srcu" : "rwlock");
	printf("  vcpus          %u\n", m->opt.vcpus);
	printf("  duration       %.2f s\n",
	       (double)(m->t_end - m->t_start) / 1e9);
	printf("  seed           %" PRIu64 "\n", m->opt.seed);
	printf("  scenarios      %s\n", sc);
	printf("events\n");
	printf("  sent           %" PRIu64 " (threads %" PRIu64
	       ", timer handler %" PRIu64 ")\n",
	       sent, thread_sent, atomic_load(&s->irq));
	printf("  delivered      %" PRIu64 " (guest count; %" PRIu64
	       " notifications, %" PRIu64 " sends coalesced, %" PRIu64
	       " empty)\n",
	       g.events, g.deliveries, atomic_load(&s->coalesced), g.empty);
	printf("  lost           %" PRIu64 " (sent - delivered)", lost);
	if (g.lost)
		printf("; the guest's drain found %" PRIu64 " unnotified",
		       g.lost);
	printf("\n");
	printf("  fast path      %.3f %% hits (threads %" PRIu64 "/%" PRIu64
	       ", timer handler %" PRIu64 "/%" PRIu64 ")\n",
	       pct(fast + atomic_load(&s->irq_fast),
		   thread_sent + atomic_load(&s->irq)),
	       fast, thread_sent, atomic_load(&s->irq_fast),
	       atomic_load(&s->irq));
	printf("  slow path      %" PRIu64 " misses, %" PRIu64
	       " refreshes, %" PRIu64
	       " waits for a move; handler deferred %" PRIu64
	       ", drained %" PRIu64 "\n",
	       slow, atomic_load(&s->slow_refreshes),
	       atomic_load(&s->slow_waits), atomic_load(&s->irq_queued),
	       atomic_load(&s->drained));
	printf("caches (libgpc)\n");
	/* gpcvm counts its hits itself (above): its caches leave
	 * GPC_CACHE_COUNT_HITS off, which keeps the counter off the fast path. */
	printf("  fast path      %" PRIu64 " misses\n", vs.misses);
	printf("  refreshes      %" PRIu64 " (%" PRIu64 " retries, %" PRIu64
	       " waits)\n",
	       vs.refreshes, vs.refresh_retries, vs.refresh_waits);
	printf("invalidations\n");
	printf("  blocking       %" PRIu64 "\n",
	       atomic_load(&s->inval_blocking));
	printf("  non-blocking   %" PRIu64 " (-EAGAIN %" PRIu64 ")\n",
	       atomic_load(&s->inval_nonblock), atomic_load(&s->inval_eagain));
	printf("  library        %" PRIu64 " completed, %" PRIu64
	       " -EAGAIN, %" PRIu64 " caches cleared\n",
	       vs.invalidations, vs.inval_eagain, vs.inval_caches);
	printf("  latency        p50 %.1f us, p99 %.1f us (%" PRIu64
	       " samples)\n",
	       us(hist_pct(&m->inval_lat, 50)), us(hist_pct(&m->inval_lat, 99)),
	       atomic_load(&m->inval_lat.n));
	printf("  memslot ops    %" PRIu64 " (p50 %.1f us, p99 %.1f us)\n",
	       atomic_load(&s->memslot_ops), us(hist_pct(&m->memslot_lat, 50)),
	       us(hist_pct(&m->memslot_lat, 99)));
	printf("kicks\n");
	printf("  library kicks  %" PRIu64 " (signals sent %" PRIu64
	       ", evictions acknowledged %" PRIu64 ")\n",
	       vs.kicks, kicks_sent, evictions);
	printf("  latency        p50 %.1f us, p99 %.1f us (%" PRIu64
	       " samples)\n",
	       us(hist_pct(&m->kick_lat, 50)), us(hist_pct(&m->kick_lat, 99)),
	       atomic_load(&m->kick_lat.n));
	printf("churn\n");
	printf("  shared info    %" PRIu64 " moves (guest saw %" PRIu64
	       "; p50 %.1f us, p99 %.1f us with vCPUs paused)\n",
	       atomic_load(&s->shinfo_moves), g.shinfo_moves,
	       us(hist_pct(&m->move_lat, 50)), us(hist_pct(&m->move_lat, 99)));
	printf("  landed in      low RAM %" PRIu64 ", runstate window %" PRIu64
	       ", overlay zone %" PRIu64 ", hole %" PRIu64 "\n",
	       atomic_load(&s->shinfo_landed[GPCVM_REGION_LOW]),
	       atomic_load(&s->shinfo_landed[GPCVM_REGION_RSWIN]),
	       atomic_load(&s->shinfo_landed[GPCVM_REGION_ZONE]),
	       atomic_load(&s->shinfo_landed[GPCVM_REGION_HOLE]));
	printf("  covered RAM    %" PRIu64 " pages checked by the VMM, %" PRIu64
	       " by the guest (unchanged while hidden)\n",
	       atomic_load(&s->hidden_checks), g.hidden_checks);
	printf("  runstate       %" PRIu64 " remaps\n",
	       atomic_load(&s->remaps));
	printf("  hot-plug       %" PRIu64 " unplug/replug cycles\n",
	       atomic_load(&s->hot_cycles));
	printf("  reclaim        %" PRIu64 " discards\n",
	       atomic_load(&s->reclaims));
	printf("guest\n");
	printf("  polls          %" PRIu64 ", blocks %" PRIu64
	       ", masks %" PRIu64 "\n",
	       g.polls, g.blocks, g.masks);
	printf("  runstate       %" PRIu64 " own + %" PRIu64
	       " other snapshots checked, errors %" PRIu64 "\n",
	       g.rs_own, g.rs_other, g.rs_errors);
	printf("  update flag    seen %" PRIu64 " times, entry time changed"
	       " under the reader %" PRIu64 " times (retried)\n",
	       g.rs_flagged, g.rs_changed);
	printf("  hot-plug RAM   %" PRIu64 " uses (%" PRIu64 " found busy)\n",
	       g.hot_uses, g.hot_busy);
	printf("  bad input      %" PRIu64 " rejected as documented, %" PRIu64
	       " not\n",
	       g.bad_ok, g.bad_errors);
	printf("checks\n");
	printf("  canaries       %" PRIu64 " checked\n",
	       atomic_load(&s->canary_checks));
	printf("  stale writes   %" PRIu64 "\n",
	       atomic_load(&s->violations[V_STALE]));
	for (int k = 0; k < V_NR; k++)
		bad += atomic_load(&s->violations[k]);
	printf("  violations     %" PRIu64 " (stale %" PRIu64 ", lost %" PRIu64
	       ", guest %" PRIu64 ", unbacked %" PRIu64 ", vmm %" PRIu64
	       ", hang %" PRIu64 ")\n",
	       bad, atomic_load(&s->violations[V_STALE]),
	       atomic_load(&s->violations[V_LOST]),
	       atomic_load(&s->violations[V_GUEST]),
	       atomic_load(&s->violations[V_MMIO]),
	       atomic_load(&s->violations[V_VMM]),
	       atomic_load(&s->violations[V_HANG]));
	printf("result           %s\n", bad ? "FAIL" : "PASS");
	fflush(stdout);
	return (int)(bad > 0);
}

/* ---- --bench -------------------------------------------------------------------------- */

/* After vmm_report(), before vmm_teardown(): what the bench table needs
 * from this run. */
void vmm_bench_row(struct vmm *m, struct vmm_bench_row *r)
{
	r->scheme = m->opt.scheme;
	r->backend = m->be->name;
	snprintf(r->backend_why, sizeof(r->backend_why), "%s", m->backend_why);
	r->secs = vmm_events_secs(m);
	r->delivered = 0;
	for (unsigned int i = 0; i < m->opt.vcpus; i++)
		r->delivered += m->vcpus[i].report.events;
	r->p50 = hist_pct(&m->send_lat, 50);
	r->p99 = hist_pct(&m->send_lat, 99);
	r->samples = atomic_load(&m->send_lat.n);
	r->violations = 0;
	for (int k = 0; k < V_NR; k++)
		r->violations += atomic_load(&m->st.violations[k]);
}

static const char *scheme_name(enum gpc_scheme s)
{
	return s == GPC_SCHEME_SRCU ? "srcu" : "rwlock";
}

static double rate(const struct vmm_bench_row *r)
{
	return r->secs > 0 ? (double)r->delivered / r->secs : 0;
}

/* The table, the ratio lines (rows[0] srcu, rows[1] rwlock), e2e.csv. */
int vmm_bench_report(const struct vmm_bench_row *rows, unsigned int n,
		     const char *csv_dir, bool quick)
{
	const struct vmm_bench_row *srcu = NULL, *rw = NULL;
	FILE *f = NULL;

	printf("\nsuite 6: end to end, gpcvm event delivery (%s, backend %s%s%s%s)\n",
	       quick ? "quick" : "full", rows[0].backend,
	       rows[0].backend_why[0] ? " (" : "", rows[0].backend_why,
	       rows[0].backend_why[0] ? ")" : "");
	printf("  %-7s %8s %12s %14s %12s %12s %10s %s\n", "scheme", "secs",
	       "delivered", "events/s", "send p50 us", "send p99 us", "samples",
	       "result");
	for (unsigned int i = 0; i < n; i++) {
		const struct vmm_bench_row *r = &rows[i];

		printf("  %-7s %8.2f %12" PRIu64
		       " %14.0f %12.3f %12.3f %10" PRIu64 " %s\n",
		       scheme_name(r->scheme), r->secs, r->delivered, rate(r),
		       us(r->p50), us(r->p99), r->samples,
		       r->violations ? "FAIL" : "PASS");
		if (r->scheme == GPC_SCHEME_SRCU)
			srcu = r;
		else
			rw = r;
	}
	printf("  (events/s: the guest's count of events over the time the "
	       "senders ran, churn on;\n"
	       "   send: one delivery by a sender thread, fast path plus the "
	       "slow path on a miss,\n"
	       "   every 4th delivery timed)\n");
	if (srcu && rw) {
		double a = rate(srcu), b = rate(rw);

		printf("ratio e2e_srcu_vs_rwlock_events_per_s %.3f\n",
		       b > 0 ? a / b : 0);
		printf("ratio e2e_rwlock_vs_srcu_delivery_p99 %.3f\n",
		       srcu->p99 ? (double)rw->p99 / (double)srcu->p99 : 0);
	}
	if (!csv_dir)
		return 0;
	{
		char path[4096];

		snprintf(path, sizeof(path), "%s/e2e.csv", csv_dir);
		f = fopen(path, "w");
		if (!f) {
			fprintf(stderr, "gpcvm: cannot write %s: %s\n", path,
				strerror(errno));
			return -1;
		}
	}
	fprintf(f, "scheme,backend,secs,delivered,events_per_s,send_p50_ns,"
		   "send_p99_ns,samples,violations\n");
	for (unsigned int i = 0; i < n; i++) {
		const struct vmm_bench_row *r = &rows[i];

		fprintf(f,
			"%s,%s,%.3f,%" PRIu64 ",%.0f,%" PRIu64 ",%" PRIu64
			",%" PRIu64 ",%" PRIu64 "\n",
			scheme_name(r->scheme), r->backend, r->secs,
			r->delivered, rate(r), r->p50, r->p99, r->samples,
			r->violations);
	}
	return fclose(f) ? -1 : 0;
}
