// SPDX-License-Identifier: MIT
/*
 * events.c - event delivery through the shared-info cache.
 *
 * Three kinds of senders, each counting an event as sent before it tries:
 *  - sender threads: fast path gpc_cache_begin(); on a miss the slow path
 *    refreshes the cache (may sleep) and, while the page is being placed or
 *    moved (the cache is inactive then), sleeps until it is;
 *  - a timer signal on sender thread 0, the hard-interrupt-like context:
 *    gpc_cache_try_begin() (never blocks on either scheme); on a miss it
 *    pushes the port onto a single-producer queue (or, if that is full, a
 *    per-port counter) and pokes an eventfd; both are async-signal-safe;
 *  - the drainer thread, which takes what the handler deferred and delivers
 *    it on the slow path.
 * No event is dropped anywhere: the guest's final count must equal ours.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

#define BURST		32
#define SENDER_PAUSE_US 100
#define TIMER_PERIOD_NS 500000
#define SEND_SAMPLE	4 /* time one sender delivery in SEND_SAMPLE */

#define QUEUE_SIZE 4096 /* deferred events from the timer handler */

struct sender_arg {
	struct vmm *m;
	unsigned int index;
};

/* The events state (m->ev): only this file touches it. */
struct vmm_events {
	_Atomic uint64_t port_sent[GPCVM_NR_PORTS]; /* counted before sending */
	_Atomic int irq_on; /* the timer handler may send */
	_Atomic int stop;   /* senders stop */
	_Atomic int drainer_stop;
	pthread_t senders[VMM_NR_SENDERS];
	struct sender_arg sender_args[VMM_NR_SENDERS];
	_Atomic int sender_tid0; /* futex */
	pthread_t drainer;
	int evfd;
	/* The handler's deferral queue: it produces, the drainer consumes. */
	_Atomic uint32_t q_head, q_tail;
	uint16_t queue[QUEUE_SIZE];
	_Atomic uint64_t q_overflow[GPCVM_NR_PORTS];
	unsigned int nsenders; /* started */
	bool drainer_started;
	timer_t timer;
	bool timer_armed;
	uint64_t t_start, t_end; /* senders started / told to stop */
};

static struct vmm *irq_vmm;
static uint64_t irq_rng = 0x243f6a8885a308d3ull;

/* Wake the port's vCPU if it blocked in HC_BLOCK. Async-signal-safe. */
void vmm_notify_vcpu(struct vmm *m, unsigned int port)
{
	struct vmm_vcpu *v = &m->vcpus[gpcvm_port_vcpu(port, m->opt.vcpus)];

	if (atomic_load(&v->blocked)) {
		atomic_store(&v->wake, 1);
		vmm_futex_wake(&v->wake);
	}
}

static void sent_one(struct vmm *m, enum gpcvm_send r, unsigned int port)
{
	switch (r) {
	case GPCVM_SEND_RAISED:
		atomic_fetch_add_explicit(&m->st.raised, 1,
					  memory_order_relaxed);
		vmm_notify_vcpu(m, port);
		break;
	case GPCVM_SEND_COALESCED:
		atomic_fetch_add_explicit(&m->st.coalesced, 1,
					  memory_order_relaxed);
		break;
	case GPCVM_SEND_MASKED:
		atomic_fetch_add_explicit(&m->st.masked, 1,
					  memory_order_relaxed);
		break;
	case GPCVM_SEND_SELECTED:
		atomic_fetch_add_explicit(&m->st.selected, 1,
					  memory_order_relaxed);
		break;
	}
}

/* Slow path: may sleep. Returns once the event is in the page. */
static void deliver_slow(struct vmm *m, unsigned int port)
{
	for (;;) {
		int epoch = atomic_load(&m->shinfo_epoch);
		struct gpcvm_shared_info *si;
		struct gpc_guard g;
		int err;

		si = gpc_cache_begin(&m->shinfo, 0, GPCVM_PAGE, &g);
		if (si) {
			enum gpcvm_send r =
				gpcvm_evtchn_send(si, port, m->opt.vcpus);

			gpc_cache_end(&m->shinfo, &g);
			sent_one(m, r, port);
			return;
		}
		atomic_fetch_add(&m->st.slow_refreshes, 1);
		err = gpc_cache_refresh(&m->shinfo, 0);
		if (err) {
			/* Inactive while being moved (or not placed yet). */
			atomic_fetch_add(&m->st.slow_waits, 1);
			vmm_futex_wait(&m->shinfo_epoch, epoch, 1000000);
		}
	}
}

static void deliver(struct vmm *m, unsigned int port)
{
	struct gpcvm_shared_info *si;
	struct gpc_guard g;

	si = gpc_cache_begin(&m->shinfo, 0, GPCVM_PAGE, &g);
	if (si) {
		enum gpcvm_send r = gpcvm_evtchn_send(si, port, m->opt.vcpus);

		gpc_cache_end(&m->shinfo, &g);
		atomic_fetch_add_explicit(&m->st.fast, 1, memory_order_relaxed);
		sent_one(m, r, port);
		return;
	}
	atomic_fetch_add_explicit(&m->st.slow, 1, memory_order_relaxed);
	deliver_slow(m, port);
}

static void count_sent(struct vmm *m, unsigned int port)
{
	atomic_fetch_add_explicit(&m->ev->port_sent[port], 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&m->st.sent, 1, memory_order_relaxed);
}

/* ---- the timer "interrupt" ----------------------------------------------------- */

static void irq_handler(int sig, siginfo_t *info, void *uc)
{
	struct vmm *m = irq_vmm;
	struct gpcvm_shared_info *si;
	struct gpc_guard g;
	unsigned int port;
	int saved = errno;

	(void)sig, (void)info, (void)uc;
	if (!m || !atomic_load(&m->ev->irq_on))
		goto out;
	port = (unsigned int)(vmm_rand(&irq_rng) % GPCVM_NR_PORTS);
	count_sent(m, port);
	atomic_fetch_add_explicit(&m->st.irq, 1, memory_order_relaxed);
	si = gpc_cache_try_begin(&m->shinfo, 0, GPCVM_PAGE, &g);
	if (si) {
		enum gpcvm_send r = gpcvm_evtchn_send(si, port, m->opt.vcpus);

		gpc_cache_end(&m->shinfo, &g);
		atomic_fetch_add_explicit(&m->st.irq_fast, 1,
					  memory_order_relaxed);
		sent_one(m, r, port);
	} else {
		uint32_t h = atomic_load_explicit(&m->ev->q_head,
						  memory_order_relaxed);
		uint64_t one = 1;

		if (h - atomic_load(&m->ev->q_tail) < QUEUE_SIZE) {
			m->ev->queue[h % QUEUE_SIZE] = (uint16_t)port;
			atomic_store_explicit(&m->ev->q_head, h + 1,
					      memory_order_release);
		} else {
			atomic_fetch_add(&m->ev->q_overflow[port], 1);
		}
		atomic_fetch_add_explicit(&m->st.irq_queued, 1,
					  memory_order_relaxed);
		if (write(m->ev->evfd, &one, sizeof(one)) < 0) {
			/* The drainer polls anyway. */
		}
	}
out:
	errno = saved;
}

static int irq_signal(void)
{
	return SIGRTMIN + 3;
}

static int timer_start(struct vmm *m, int tid)
{
	struct sigevent sev;
	struct itimerspec its;
	struct sigaction sa;
	timer_t t;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = irq_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(irq_signal(), &sa, NULL))
		return -errno;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = irq_signal();
	sev._sigev_un._tid = tid;
	if (timer_create(CLOCK_MONOTONIC, &sev, &t))
		return -errno;
	its.it_interval.tv_sec = 0;
	its.it_interval.tv_nsec = TIMER_PERIOD_NS;
	its.it_value = its.it_interval;
	if (timer_settime(t, 0, &its, NULL)) {
		timer_delete(t);
		return -errno;
	}
	m->ev->timer = t;
	m->ev->timer_armed = true;
	return 0;
}

/* ---- the drainer ----------------------------------------------------------------- */

static bool drain(struct vmm *m)
{
	bool any = false;
	uint32_t t;

	while ((t = atomic_load(&m->ev->q_tail)) !=
	       atomic_load_explicit(&m->ev->q_head, memory_order_acquire)) {
		unsigned int port = m->ev->queue[t % QUEUE_SIZE];

		atomic_store(&m->ev->q_tail, t + 1);
		deliver_slow(m, port);
		atomic_fetch_add(&m->st.drained, 1);
		any = true;
	}
	for (unsigned int p = 0; p < GPCVM_NR_PORTS; p++) {
		uint64_t n = atomic_exchange(&m->ev->q_overflow[p], 0);

		while (n--) {
			deliver_slow(m, p);
			atomic_fetch_add(&m->st.drained, 1);
			any = true;
		}
	}
	return any;
}

static void *drainer_thread(void *arg)
{
	struct vmm *m = arg;
	struct pollfd pfd = { .fd = m->ev->evfd, .events = POLLIN };
	uint64_t cnt;

	for (;;) {
		if (poll(&pfd, 1, 5) > 0 &&
		    read(m->ev->evfd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
			break;
		drain(m);
		/* Stop only when the handler is off and nothing is left. */
		if (atomic_load(&m->ev->drainer_stop) && !drain(m))
			break;
	}
	return NULL;
}

/* ---- sender threads ---------------------------------------------------------------- */

/* Write the heartbeat of each online hot slot (host-usage caches). */
static void heartbeat(struct vmm *m)
{
	for (int i = 0; i < GPCVM_NR_HOT; i++) {
		uint32_t st = __atomic_load_n(&m->boot->hot_state[i],
					      __ATOMIC_SEQ_CST);
		struct gpc_guard g;
		uint64_t *p;

		if (st == GPCVM_HOT_OFFLINE || st == GPCVM_HOT_RECLAIM)
			continue;
		p = gpc_cache_begin(&m->hb[i], 0, sizeof(*p), &g);
		if (p) {
			__atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
			gpc_cache_end(&m->hb[i], &g);
			atomic_fetch_add_explicit(&m->st.hb_writes, 1,
						  memory_order_relaxed);
		} else {
			atomic_fetch_add(&m->st.hb_misses, 1);
			/* Fails while unplugged: fine, tried again later. */
			gpc_cache_refresh(&m->hb[i], 0);
		}
	}
}

static void *sender_thread(void *arg)
{
	struct sender_arg *a = arg;
	struct vmm *m = a->m;
	uint64_t rng =
		(m->opt.seed + 17) * (a->index + 3) * 0x9e3779b97f4a7c15ull;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, irq_signal());
	if (a->index == 0) {
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		atomic_store(&m->ev->sender_tid0, (int)syscall(SYS_gettid));
		vmm_futex_wake(&m->ev->sender_tid0);
	}
	while (!atomic_load(&m->ev->stop)) {
		for (int k = 0; k < BURST; k++) {
			unsigned int port =
				(unsigned int)(vmm_rand(&rng) % GPCVM_NR_PORTS);

			count_sent(m, port);
			if (k % SEND_SAMPLE) {
				deliver(m, port);
			} else {
				uint64_t t0 = vmm_now_ns();

				deliver(m, port);
				hist_add(&m->send_lat, vmm_now_ns() - t0);
			}
		}
		heartbeat(m);
		vmm_sleep_us(SENDER_PAUSE_US);
	}
	return NULL;
}

/*
 * Start once the guest placed its shared-info page (events before that
 * would have nowhere to go; Xen drops them, we simply do not send them).
 */
int vmm_events_start(struct vmm *m)
{
	sigset_t set;
	int err, tid;

	m->ev = calloc(1, sizeof(*m->ev));
	if (!m->ev)
		return -ENOMEM;
	m->ev->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->ev->evfd < 0)
		return -errno;
	irq_vmm = m;
	/* Only sender 0 takes the timer signal. */
	sigemptyset(&set);
	sigaddset(&set, irq_signal());
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	m->ev->t_start = vmm_now_ns();
	for (unsigned int i = 0; i < VMM_NR_SENDERS; i++) {
		m->ev->sender_args[i].m = m;
		m->ev->sender_args[i].index = i;
		err = pthread_create(&m->ev->senders[i], NULL, sender_thread,
				     &m->ev->sender_args[i]);
		if (err)
			return -err;
		m->ev->nsenders++;
	}
	err = pthread_create(&m->ev->drainer, NULL, drainer_thread, m);
	if (err)
		return -err;
	m->ev->drainer_started = true;
	while (!(tid = atomic_load(&m->ev->sender_tid0)))
		vmm_futex_wait(&m->ev->sender_tid0, 0, 1000000);
	atomic_store(&m->ev->irq_on, 1);
	return timer_start(m, tid);
}

void vmm_events_stop(struct vmm *m)
{
	uint64_t one = 1;

	if (!m->ev)
		return;
	m->ev->t_end = vmm_now_ns();
	atomic_store(&m->ev->irq_on, 0);
	if (m->ev->timer_armed) {
		timer_delete(m->ev->timer);
		m->ev->timer_armed = false;
	}
	atomic_store(&m->ev->stop, 1);
	for (unsigned int i = 0; i < m->ev->nsenders; i++)
		pthread_join(m->ev->senders[i], NULL);
	m->ev->nsenders = 0;
	/* Sender 0 is gone, so no handler can still be queueing. */
	atomic_store(&m->ev->drainer_stop, 1);
	if (write(m->ev->evfd, &one, sizeof(one)) < 0) {
		/* It polls with a timeout anyway. */
	}
	if (m->ev->drainer_started)
		pthread_join(m->ev->drainer, NULL);
	m->ev->drainer_started = false;
	close(m->ev->evfd);
	m->ev->evfd = -1;
}

void vmm_events_check_sequences(struct vmm *m)
{
	struct gpcvm_shared_info *si;
	struct gpc_guard g;

	if (gpc_cache_refresh(&m->shinfo, 0))
		return;
	si = gpc_cache_begin(&m->shinfo, 0, GPCVM_PAGE, &g);
	if (!si)
		return;
	for (unsigned int p = 0; p < GPCVM_NR_PORTS; p++) {
		uint64_t seq = si->port_seq[p];
		uint64_t sent = m->ev ? atomic_load(&m->ev->port_sent[p]) : 0;

		if (seq != sent) {
			gpc_cache_end(&m->shinfo, &g);
			vmm_violation(m, V_LOST,
				      "port %u: sent %" PRIu64
				      ", shared info has sequence %" PRIu64,
				      p, sent, seq);
			return;
		}
	}
	gpc_cache_end(&m->shinfo, &g);
}

double vmm_events_secs(const struct vmm *m)
{
	const struct vmm_events *ev = m->ev;

	return ev && ev->t_end > ev->t_start ?
		       (double)(ev->t_end - ev->t_start) / 1e9 :
		       0;
}

void vmm_events_destroy(struct vmm *m)
{
	if (!m->ev)
		return;
	if (m->ev->evfd >= 0)
		close(m->ev->evfd);
	irq_vmm = NULL;
	free(m->ev);
	m->ev = NULL;
}
