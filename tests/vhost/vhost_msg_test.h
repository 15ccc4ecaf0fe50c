/* SPDX-License-Identifier: MIT */
/*
 * tests/vhost/vhost_msg_test.h - the fixture and helpers of the message
 * layer's tests (test_vhost_msg.c, test_vhost_msg_io.c): a socketpair
 * whose sv[0] is the back-end's end and sv[1] plays the front-end, and a
 * teardown that fails the test if the number of entries in /proc/self/fd
 * is not what its setup counted (no fd may leak on any path).
 */
#ifndef GPC_VHOST_MSG_TEST_H
#define GPC_VHOST_MSG_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "msg.h"

/* ---- fixtures ------------------------------------------------------------- */

static inline int open_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

struct fixture {
	int sv[2];
	int fd_base;
};

static inline int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->fd_base = open_fd_count();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv))
		return -1;
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;
	int now;

	if (f->sv[0] >= 0)
		close(f->sv[0]);
	if (f->sv[1] >= 0)
		close(f->sv[1]);
	now = open_fd_count();
	if (now != f->fd_base) {
		fprintf(stderr, "fd leak: %d open before, %d after\n",
			f->fd_base, now);
		free(f);
		return -1;
	}
	free(f);
	return 0;
}

#define BE(f) ((f)->sv[0])
#define FE(f) ((f)->sv[1])

/* ---- helpers -------------------------------------------------------------- */

/*
 * Send from the front-end's end with n fresh eventfds (closed here after
 * the send: the receiver's copies are then the only ones).
 */
static inline void fe_send(struct fixture *f, uint32_t req, uint32_t flags,
			   const void *payload, uint32_t size, unsigned int n)
{
	struct gpc_vhost_hdr h = { .request = req,
				   .flags = flags,
				   .size = size };
	int fds[GPC_VHOST_MAX_FDS];

	assert_true(n <= GPC_VHOST_MAX_FDS);
	for (unsigned int i = 0; i < n; i++) {
		fds[i] = eventfd(0, EFD_CLOEXEC);
		assert_true(fds[i] >= 0);
	}
	assert_int_equal(gpc_vhost_msg_send(FE(f), &h, payload, fds, n, 1000),
			 0);
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
}

/* Raw bytes with n fds (any number, unlike gpc_vhost_msg_send). */
static inline void raw_send(int sock, const void *buf, size_t len,
			    unsigned int n)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * 64)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[64];

	assert_true(n <= 64);
	if (n) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		for (unsigned int i = 0; i < n; i++) {
			fds[i] = eventfd(0, EFD_CLOEXEC);
			assert_true(fds[i] >= 0);
		}
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
}

/* Receive on the back-end's end and validate; returns the validator's. */
static inline int be_take(struct fixture *f, struct gpc_vhost_msg *m,
			  const char **why)
{
	*why = NULL;
	assert_int_equal(gpc_vhost_msg_recv(BE(f), m, 1000), 0);
	return gpc_vhost_msg_validate(m, why);
}

/*
 * Send, receive, validate: expect `want`. On success the fds are checked
 * (open, close-on-exec) and closed; on failure they must already be gone.
 */
static inline void expect(struct fixture *f, uint32_t req, uint32_t flags,
			  const void *payload, uint32_t size, unsigned int n,
			  int want)
{
	struct gpc_vhost_msg m;
	const char *why;
	int rc;

	fe_send(f, req, flags, payload, size, n);
	rc = be_take(f, &m, &why);
	if (rc != want)
		fail_msg("%s size %u fds %u: got %d (%s), want %d",
			 gpc_vhost_msg_name(req), size, n, rc, why ? why : "-",
			 want);
	if (rc) {
		assert_non_null(why);
		assert_int_equal(m.nfds, 0);
	} else {
		assert_int_equal(m.hdr.request, req);
		assert_int_equal(m.hdr.size, size);
		if (size)
			assert_memory_equal(&m.payload, payload, size);
		for (unsigned int i = 0; i < m.nfds; i++) {
			int fl = fcntl(m.fds[i], F_GETFD);

			assert_true(fl >= 0 && (fl & FD_CLOEXEC));
		}
	}
	gpc_vhost_msg_close_fds(&m);
}

#define V GPC_VHOST_VERSION

static inline struct gpc_vhost_region region(uint64_t gpa, uint64_t size)
{
	return (struct gpc_vhost_region){ .guest_addr = gpa,
					  .size = size,
					  .user_addr = 0x7f0000000000ull + gpa,
					  .mmap_offset = 0 };
}

#endif /* GPC_VHOST_MSG_TEST_H */
