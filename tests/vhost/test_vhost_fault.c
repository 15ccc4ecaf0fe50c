// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vhost_fault.c - the back-end's fault guard
 * (src/vhost/fault.h), driven like test_vhost_dev (whose fixture this file
 * includes: the socketpair front-end, the echo device, memfds A and B), on
 * both read-side schemes:
 *
 *  - a front-end that ftruncate()s region A's memfd to 0 while requests
 *    flow: the back-end (this process) survives, counts bus_faults, logs
 *    "region N's file shrank under its mapping: disconnecting" and closes
 *    the connection;
 *  - a region sealed with F_SEAL_SHRINK is not guarded (the registry has
 *    no entry for it), an unsealed one is;
 *  - GPC_VHOST_F_CHECK_STALE: a buggy device keeps a buffer pointer of a
 *    request in region B and writes through it after REM_MEM_REG's reply:
 *    stale_accesses == 1 (one page), one log line, no crash, and the
 *    front-end's own view of B untouched. (Without CHECK_STALE the write
 *    would land in unmapped memory or another mapping: not run.)
 *  - GPC_VHOST_F_NO_FAULT_GUARD: an unsealed region is accepted with a
 *    warning and not guarded;
 *  - a SIGBUS that is not the back-end's goes to the handler installed
 *    before the guard (first test: it installs that handler).
 *
 * The test's own mappings of A and B are never registered: after A is
 * truncated the test must not touch f->a (its own SIGBUS would go to the
 * previous handler, and fail the test).
 */
#pragma GCC diagnostic ignored "-Wunused-function"
#define VHOST_DEV_FIXTURE_ONLY
#include "test_vhost_dev.c"

#include <fcntl.h>
#include <signal.h>

#include "fault.h"

/* ---- the log ------------------------------------------------------------ */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char logbuf[16384];
static size_t loglen;

static void cap_log(void *ctx, int level, const char *msg)
{
	size_t n = strlen(msg);

	(void)ctx;
	fprintf(stderr, "[log %d] %s\n", level, msg);
	pthread_mutex_lock(&log_lock);
	if (loglen + n + 2 < sizeof(logbuf)) {
		memcpy(logbuf + loglen, msg, n);
		loglen += n;
		logbuf[loglen++] = '\n';
		logbuf[loglen] = 0;
	}
	pthread_mutex_unlock(&log_lock);
}

/* How many lines hold @s. */
static unsigned int log_count(const char *s)
{
	unsigned int c = 0;

	pthread_mutex_lock(&log_lock);
	for (const char *p = logbuf; (p = strstr(p, s)); p += strlen(s))
		c++;
	pthread_mutex_unlock(&log_lock);
	return c;
}

/* Wait up to @ms for a line holding @s. */
static bool log_wait(const char *s, int ms)
{
	for (int t = 0; t < ms; t++) {
		if (log_count(s))
			return true;
		usleep(1000);
	}
	return false;
}

/* ---- a device with a bug ------------------------------------------------ */

/*
 * The echo device, except that it keeps the writable buffer of a request
 * whose first byte is 'K' and, when a request starting with 'S' comes,
 * writes through that pointer: after REM_MEM_REG of its region that is a
 * late access.
 */
static void *kept;

static void bug_request(void *qctx, struct gpc_vhost_req *r)
{
	(void)atomic_load_explicit(&posted, memory_order_acquire);
	if (r->nr_read && r->nr_write) {
		char c = *(char *)r->iov[0].iov_base;

		if (c == 'K')
			kept = r->iov[r->nr_read].iov_base;
		else if (c == 'S' && kept)
			memcpy(kept, "STALE!", 6); /* the bug */
	}
	e_request(qctx, r);
}

static struct gpc_vhost_device bug_dev;

/* ---- fixture ------------------------------------------------------------ */

/* Replace the fixture's back-end with one of @dev, @flags, the log here. */
static void rebuild(struct fx *f, const struct gpc_vhost_device *dev,
		    unsigned int flags)
{
	struct gpc_vhost_config cfg = { .scheme = f->scheme,
					.flags = flags,
					.log = cap_log };
	struct serve_arg *s = malloc(sizeof(*s));
	int sv[2];

	assert_non_null(s);
	close(f->sock);
	pthread_join(f->t, NULL);
	assert_int_equal(gpc_vhost_dev_destroy(f->d), 0);
	assert_int_equal(gpc_vhost_dev_create(dev, &f->e, &cfg, &f->d), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	f->sock = sv[0];
	s->d = f->d;
	s->fd = sv[1];
	assert_int_equal(pthread_create(&f->t, NULL, serve_main, s), 0);
	pthread_mutex_lock(&log_lock);
	loglen = 0;
	logbuf[0] = 0;
	pthread_mutex_unlock(&log_lock);
	kept = NULL;
}

static int setup_with(void **state, enum gpc_scheme scheme, unsigned int flags)
{
	setup_conn(state, scheme, 0);
	bug_dev = echo_dev;
	bug_dev.name = "buggy echo";
	bug_dev.request = bug_request;
	rebuild(*state, &bug_dev, flags);
	return 0;
}

static int setup_plain_srcu(void **state)
{
	return setup_with(state, GPC_SCHEME_SRCU, 0);
}

static int setup_plain_rwlock(void **state)
{
	return setup_with(state, GPC_SCHEME_RWLOCK, 0);
}

static int setup_stale_srcu(void **state)
{
	return setup_with(state, GPC_SCHEME_SRCU, GPC_VHOST_F_CHECK_STALE);
}

static int setup_stale_rwlock(void **state)
{
	return setup_with(state, GPC_SCHEME_RWLOCK, GPC_VHOST_F_CHECK_STALE);
}

static int setup_noguard_srcu(void **state)
{
	return setup_with(state, GPC_SCHEME_SRCU, GPC_VHOST_F_NO_FAULT_GUARD);
}

static int setup_noguard_rwlock(void **state)
{
	return setup_with(state, GPC_SCHEME_RWLOCK, GPC_VHOST_F_NO_FAULT_GUARD);
}

/* Did the back-end close the connection within @ms? */
static bool closed_by_backend(struct fx *f, int ms)
{
	struct pollfd p = { .fd = f->sock, .events = POLLIN };
	char c;

	if (poll(&p, 1, ms) != 1)
		return false;
	return recv(f->sock, &c, 1, MSG_DONTWAIT) == 0;
}

/* t_shrink joined the serving thread (its connection ended). */
static bool joined;

/* A new connection to the same back-end (its serving thread had ended). */
static void reconnect(struct fx *f)
{
	struct serve_arg *s = malloc(sizeof(*s));
	int sv[2];

	assert_non_null(s);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	close(f->sock);
	f->sock = sv[0];
	s->d = f->d;
	s->fd = sv[1];
	assert_int_equal(pthread_create(&f->t, NULL, serve_main, s), 0);
	joined = false;
}

/* ---- tests -------------------------------------------------------------- */

/* (a) A shrunk memfd: survive, count, log, disconnect. */
static void t_shrink(void **state)
{
	struct fx *f = *state;
	struct vring_used_elem e;
	struct gpc_vhost_stats st;
	uint64_t one = 1;

	connect_all(f, false);
	assert_int_equal(gpc_vhost_fault_count(f->d, GPC_VHOST_FAULT_GUARD), 1);
	/* Requests flow on both queues... */
	for (int n = 0; n < 20; n++) {
		post(f, n & 1, BUF(0), 16, BUF(1), 64);
		assert_true(wait_used(f, n & 1, TMO, &e));
	}
	for (int n = 0; n < 6; n++)
		post(f, n & 1, BUF(2 * n), 16, BUF(2 * n + 1), 64);
	/* ...when the front-end shrinks A under them. */
	assert_int_equal(ftruncate(f->memfd_a, 0), 0);
	/* From here on f->a is off limits (our own mapping faults too). */
	for (int i = 0; i < NQ; i++)
		assert_int_equal(write(f->q[i].kick, &one, 8), 8);
	assert_true(closed_by_backend(f, 5 * TMO));
	assert_true(
		log_wait("file shrank under its mapping: disconnecting", TMO));
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_true(st.bus_faults >= 1);
	assert_int_equal(st.stale_accesses, 0);
	/* Exactly one line for the region, however many pages faulted. */
	assert_int_equal(log_count("file shrank"), 1);
	/* The connection's end unmapped A and emptied its guard entry. */
	pthread_join(f->t, NULL);
	joined = true;
	assert_int_equal(gpc_vhost_fault_count(f->d, GPC_VHOST_FAULT_GUARD), 0);
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_int_equal(st.mem_removes, 1);
	/* The back-end serves the next front-end. */
	reconnect(f);
	assert_true(get_u64(f, GPC_VHOST_GET_FEATURES) >> VIRTIO_F_VERSION_1 &
		    1);
}

static int teardown_fault(void **state)
{
	struct fx *f = *state;

	/* t_shrink joined the serving thread: give teardown() one to join. */
	if (joined)
		reconnect(f);
	return teardown(state);
}

/* (b) F_SEAL_SHRINK: not guarded; an unsealed region next to it is. */
static void t_sealed(void **state)
{
	struct fx *f = *state;
	struct vring_used_elem e;

	munmap(f->a, A_PAGES * PS);
	close(f->memfd_a);
	f->memfd_a = memfd_create("a", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(f->memfd_a >= 0);
	assert_int_equal(ftruncate(f->memfd_a, A_PAGES * PS), 0);
	assert_int_equal(
		fcntl(f->memfd_a, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	f->a = mmap(NULL, A_PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED,
		    f->memfd_a, 0);
	assert_true(f->a != MAP_FAILED);
	assert_false(gpc_vhost_fault_needs_guard(f->memfd_a));
	assert_true(gpc_vhost_fault_needs_guard(f->memfd_b));

	connect_all(f, false);
	assert_int_equal(gpc_vhost_fault_count(f->d, GPC_VHOST_FAULT_GUARD), 0);
	snprintf((char *)PTR(f, 0), 64, "sealed");
	post(f, 0, BUF(0), 8, BUF(1), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_string_equal((char *)PTR(f, 1), "sealed");
	add_region_b(f, 0);
	assert_int_equal(gpc_vhost_fault_count(f->d, GPC_VHOST_FAULT_GUARD), 1);
	/* The seal is why: A cannot shrink. */
	assert_int_equal(ftruncate(f->memfd_a, 0), -1);
	assert_int_equal(errno, EPERM);
}

/* (c) CHECK_STALE: a late write counted once, no crash. */
static void t_stale_counted(void **state)
{
	struct fx *f = *state;
	struct vring_used_elem e;
	struct gpc_vhost_mem_reg r = { 0, region(GB, B_PAGES, UB) };
	struct gpc_vhost_stats st;

	connect_all(f, false);
	add_region_b(f, 0);
	memcpy(f->b, "Keep me", 8);
	post(f, 0, GB, 8, GB + PS, 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_memory_equal(f->b + PS, "Keep me", 8);
	assert_non_null(kept);
	assert_int_equal(
		req_ack(f, GPC_VHOST_REM_MEM_REG, &r, sizeof(r), NULL, 0), 0);
	assert_int_equal(gpc_vhost_fault_count(f->d, GPC_VHOST_FAULT_RETIRED),
			 1);
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_int_equal(st.stale_accesses, 0);
	/* The device writes through its old pointer: a late access. */
	for (int n = 0; n < 3; n++) {
		snprintf((char *)PTR(f, 0), 64, "Stale %d", n);
		post(f, 0, BUF(0), 8, BUF(1), 8);
		assert_true(wait_used(f, 0, TMO, &e));
		assert_int_equal(e.len, 8);
	}
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	/* One page touched: one fault, then the zero page took the writes. */
	assert_int_equal(st.stale_accesses, 1);
	assert_int_equal(st.bus_faults, 0);
	assert_true(log_wait("accessed after its removal", TMO));
	assert_int_equal(log_count("accessed after its removal"), 1);
	/* The front-end's B never saw it. */
	assert_memory_equal(f->b + PS, "Keep me", 8);
	/* And the connection goes on. */
	post(f, 1, BUF(0), 8, BUF(1), 8);
	assert_true(wait_used(f, 1, TMO, &e));
}

/* GPC_VHOST_F_NO_FAULT_GUARD: accepted with a warning, not guarded. */
static void t_no_guard(void **state)
{
	struct fx *f = *state;
	struct vring_used_elem e;

	connect_all(f, false);
	assert_int_equal(gpc_vhost_fault_count(f->d, GPC_VHOST_FAULT_GUARD), 0);
	assert_int_equal(log_count("not sealed against shrinking"), 1);
	post(f, 0, BUF(0), 8, BUF(1), 8);
	assert_true(wait_used(f, 0, TMO, &e));
}

/* ---- a fault that is not ours ------------------------------------------ */

static sigjmp_buf chain_jb;
static volatile sig_atomic_t chain_armed, chain_hits;

static void test_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (chain_armed) {
		chain_hits++;
		chain_armed = 0;
		siglongjmp(chain_jb, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Runs first: the test's handler is in place when the back-end's first
 * guarded region installs the guard, so it is the one chained to.
 */
static void t_chain(void **state)
{
	struct fx *f = *state;
	struct sigaction sa = { .sa_sigaction = test_sigbus,
				.sa_flags = SA_SIGINFO };
	struct sigaction now;
	int fd = memfd_create("mine", MFD_CLOEXEC);
	volatile char *mine;

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGBUS, &sa, NULL), 0);
	connect_all(f, false);
	assert_int_equal(gpc_vhost_fault_count(f->d, GPC_VHOST_FAULT_GUARD), 1);
	assert_int_equal(sigaction(SIGBUS, NULL, &now), 0);
	assert_true((now.sa_flags & SA_SIGINFO) &&
		    now.sa_sigaction != test_sigbus);
	/* A SIGBUS of the test's own (unregistered) mapping. */
	assert_int_equal(ftruncate(fd, PS), 0);
	mine = mmap(NULL, PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mine != MAP_FAILED);
	assert_int_equal(ftruncate(fd, 0), 0);
	chain_armed = 1;
	if (!sigsetjmp(chain_jb, 1))
		mine[0] = 1;
	chain_armed = 0;
	assert_int_equal(chain_hits, 1);
	munmap((void *)mine, PS);
	close(fd);
}

#define TF(fn, s)                                                              \
	cmocka_unit_test_setup_teardown(fn, setup_##s##_srcu, teardown_fault), \
		cmocka_unit_test_setup_teardown(fn, setup_##s##_rwlock,        \
						teardown_fault)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_chain, setup_plain_srcu,
						teardown_fault),
		TF(t_shrink, plain),
		TF(t_sealed, plain),
		TF(t_stale_counted, stale),
		TF(t_no_guard, noguard),
	};

	return cmocka_run_group_tests_name("vhost_fault", tests, NULL, NULL);
}
