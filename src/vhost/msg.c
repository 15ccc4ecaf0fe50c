// SPDX-License-Identifier: MIT
/*
 * src/vhost/msg.c - receiving and sending vhost-user messages on a UNIX
 * stream socket (msg.h has the contract of each call).
 *
 * A stream socket has no message boundaries: a header may arrive in pieces
 * and the fds ride on whichever piece the sender's sendmsg() attached them
 * to. So every read goes through recvmsg() with room for ancillary data,
 * and the fds are gathered over all the reads of one message; reading a
 * piece with plain read() would make the kernel drop (and us miss) fds that
 * came with it. Every read and write is MSG_DONTWAIT and the waits are
 * poll() with what is left of the caller's timeout, so that one rule holds
 * for blocking and non-blocking sockets alike, and a front-end that stops
 * half-way through a message cannot hold the back-end's control thread
 * longer than the timeout it chose.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"

void gpc_vhost_msg_init(struct gpc_vhost_msg *msg)
{
	memset(&msg->hdr, 0, sizeof(msg->hdr));
	for (unsigned int i = 0; i < GPC_VHOST_MAX_FDS; i++)
		msg->fds[i] = -1;
	msg->nfds = 0;
}

void gpc_vhost_msg_close_fds(struct gpc_vhost_msg *msg)
{
	for (unsigned int i = 0; i < msg->nfds && i < GPC_VHOST_MAX_FDS; i++) {
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
		msg->fds[i] = -1;
	}
	msg->nfds = 0;
}

int gpc_vhost_msg_take_fd(struct gpc_vhost_msg *msg, unsigned int i)
{
	int fd;

	if (i >= msg->nfds)
		return -1;
	fd = msg->fds[i];
	msg->fds[i] = -1;
	return fd;
}

/* ---- deadlines ------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The deadline for timeout_ms from now; -1 means none. */
static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/*
 * Wait for `events` on sock until the deadline. Returns 1 when poll saw
 * something (readiness, hang-up or error: the next recvmsg/sendmsg tells
 * which), 0 when the deadline passed, or a negative errno.
 */
static int wait_for(int sock, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = sock, .events = events };

	for (;;) {
		int left = -1;
		int rc;

		if (deadline >= 0) {
			int64_t d = deadline - now_ms();

			if (d <= 0)
				return 0;
			left = d > 60000 ? 60000 : (int)d;
		}
		rc = poll(&pfd, 1, left);
		if (rc > 0) {
			if (pfd.revents & POLLNVAL)
				return -EBADF;
			return 1;
		}
		if (rc < 0 && errno != EINTR)
			return -errno;
		/* 0 (a slice of a long timeout ended) or EINTR: look again. */
	}
}

/* ---- receiving ------------------------------------------------------------ */

/* Room for one more fd than allowed would not help: see take_cmsgs(). */
#define CMSG_ROOM CMSG_SPACE(sizeof(int) * GPC_VHOST_MAX_FDS)

/*
 * Move the fds of one recvmsg() into msg. Every fd that arrived is either
 * stored or closed here, so none can leak whatever the outcome. Returns 0,
 * -ETOOMANYREFS (more than GPC_VHOST_MAX_FDS over the message, or
 * MSG_CTRUNC: the kernel had more for us than the buffer holds, and
 * dropped the rest itself) or -EPROTO (a control message that is not
 * SCM_RIGHTS).
 */
static int take_cmsgs(struct msghdr *mh, struct gpc_vhost_msg *msg)
{
	int rc = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;
		int fd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			rc = -EPROTO;
			continue;
		}
		if (c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (msg->nfds < GPC_VHOST_MAX_FDS) {
				msg->fds[msg->nfds++] = fd;
			} else {
				close(fd);
				if (!rc)
					rc = -ETOOMANYREFS;
			}
		}
	}
	if ((mh->msg_flags & MSG_CTRUNC) && !rc)
		rc = -ETOOMANYREFS;
	return rc;
}

/*
 * Read exactly len bytes into buf, gathering fds into msg. *got counts the
 * bytes of the whole message read so far (to tell a message boundary from
 * the middle of one). Returns 0 or a negative errno as gpc_vhost_msg_recv().
 */
static int read_full(int sock, void *buf, size_t len, struct gpc_vhost_msg *msg,
		     int64_t deadline, size_t *got)
{
	size_t done = 0;

	while (done < len) {
		union {
			struct cmsghdr align;
			char buf[CMSG_ROOM];
		} ctl;
		struct iovec iov = { .iov_base = (char *)buf + done,
				     .iov_len = len - done };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		ssize_t n;
		int rc;

		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			rc = wait_for(sock, POLLIN, deadline);
			if (rc < 0)
				return rc;
			if (rc == 0)
				return *got ? -ETIMEDOUT : -EAGAIN;
			continue;
		}
		rc = take_cmsgs(&mh, msg);
		if (rc)
			return rc;
		if (n == 0)
			return *got ? -ECONNRESET : -EPIPE;
		done += (size_t)n;
		*got += (size_t)n;
	}
	return 0;
}

int gpc_vhost_msg_recv(int sock, struct gpc_vhost_msg *msg, int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	size_t got = 0;
	int rc;

	gpc_vhost_msg_init(msg);
	rc = read_full(sock, &msg->hdr, sizeof(msg->hdr), msg, deadline, &got);
	if (rc)
		goto fail;
	/* Before reading on: the size decides how much more is ours. */
	if (msg->hdr.size > GPC_VHOST_MAX_PAYLOAD) {
		rc = -EMSGSIZE;
		goto fail;
	}
	rc = read_full(sock, &msg->payload, msg->hdr.size, msg, deadline, &got);
	if (rc)
		goto fail;
	return 0;
fail:
	gpc_vhost_msg_close_fds(msg);
	return rc;
}

/* ---- sending -------------------------------------------------------------- */

int gpc_vhost_msg_send(int sock, const struct gpc_vhost_hdr *hdr,
		       const void *payload, const int *fds, unsigned int nfds,
		       int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	union {
		struct cmsghdr align;
		char buf[CMSG_ROOM];
	} ctl;
	size_t total, sent = 0;

	if (nfds > GPC_VHOST_MAX_FDS || hdr->size > GPC_VHOST_MAX_PAYLOAD ||
	    (hdr->size && !payload) || (nfds && !fds))
		return -EINVAL;
	total = sizeof(*hdr) + hdr->size;

	while (sent < total) {
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		size_t off = sent;
		ssize_t n;

		/* What is left of the header, then what is left of the body. */
		if (off < sizeof(*hdr)) {
			iov[mh.msg_iovlen].iov_base = (char *)hdr + off;
			iov[mh.msg_iovlen].iov_len = sizeof(*hdr) - off;
			mh.msg_iovlen++;
			off = 0;
		} else {
			off -= sizeof(*hdr);
		}
		if (hdr->size) {
			iov[mh.msg_iovlen].iov_base = (char *)payload + off;
			iov[mh.msg_iovlen].iov_len = hdr->size - off;
			mh.msg_iovlen++;
		}
		/* The fds go with the first byte, and only with it. */
		if (sent == 0 && nfds) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			int rc;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			rc = wait_for(sock, POLLOUT, deadline);
			if (rc < 0)
				return rc;
			if (rc == 0)
				return sent ? -ETIMEDOUT : -EAGAIN;
			continue;
		}
		sent += (size_t)n;
	}
	return 0;
}

int gpc_vhost_msg_reply(int sock, const struct gpc_vhost_msg *req,
			const void *payload, uint32_t size, const int *fds,
			unsigned int nfds, int timeout_ms)
{
	struct gpc_vhost_hdr hdr = {
		.request = req->hdr.request,
		.flags = GPC_VHOST_VERSION | GPC_VHOST_FLAG_REPLY,
		.size = size,
	};

	return gpc_vhost_msg_send(sock, &hdr, payload, fds, nfds, timeout_ms);
}

int gpc_vhost_msg_reply_u64(int sock, const struct gpc_vhost_msg *req,
			    uint64_t value, int timeout_ms)
{
	return gpc_vhost_msg_reply(sock, req, &value, sizeof(value), NULL, 0,
				   timeout_ms);
}

int gpc_vhost_msg_reply_ack(int sock, const struct gpc_vhost_msg *req,
			    int status, int timeout_ms)
{
	uint64_t v = status < 0 ? (uint64_t) - (int64_t)status :
				  (uint64_t)status;

	if (!gpc_vhost_msg_wants_ack(req))
		return 0;
	return gpc_vhost_msg_reply_u64(sock, req, v, timeout_ms);
}

int gpc_vhost_msg_backend_send(int sock, uint32_t request, bool need_reply,
			       const void *payload, uint32_t size,
			       const int *fds, unsigned int nfds,
			       int timeout_ms)
{
	struct gpc_vhost_hdr hdr = {
		.request = request,
		.flags = GPC_VHOST_VERSION |
			 (need_reply ? GPC_VHOST_FLAG_NEED_REPLY : 0),
		.size = size,
	};
	int rc = gpc_vhost_msg_backend_check(request, size, nfds, NULL);

	if (rc)
		return rc;
	return gpc_vhost_msg_send(sock, &hdr, payload, fds, nfds, timeout_ms);
}
