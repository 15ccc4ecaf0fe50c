// SPDX-License-Identifier: MIT
/*
 * tools/vhost-fe/fe_conn.c - the front-end's side of the vhost-user
 * protocol over the UNIX socket, on the message layer of libgpc-vhost
 * (src/vhost/msg.c): the same framing, fd passing and timeouts the back-end
 * uses, so the two ends cannot disagree on the wire format silently.
 *
 * Every wait is bounded by the connection's timeout: a back-end that dies
 * or stops answering turns into -ETIMEDOUT / -EPIPE, never a hang. While a
 * reply is awaited the back-end channel is served too, because a back-end
 * may send a request of its own (an IOTLB miss) and wait for our answer
 * before it answers ours.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fe.h"

int fe_conn_open(struct fe_conn *c, const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = fe_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	memset(c, 0, sizeof(*c));
	c->sock = -1;
	c->backend_sock = -1;
	c->timeout_ms = timeout_ms;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/*
	 * A back-end that just started, or that is tearing down the previous
	 * connection, may not listen yet: retry until the timeout.
	 */
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			c->sock = fd;
			return 0;
		}
		int err = errno;

		close(fd);
		if ((err != ENOENT && err != ECONNREFUSED && err != EAGAIN) ||
		    fe_now_ns() > deadline)
			return -err;
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
}

void fe_conn_close(struct fe_conn *c)
{
	if (c->sock >= 0)
		close(c->sock);
	if (c->backend_sock >= 0)
		close(c->backend_sock);
	c->sock = -1;
	c->backend_sock = -1;
}

bool fe_has_pf(const struct fe_conn *c, unsigned int bit)
{
	return c->packed & (1ull << bit);
}

static int map_recv_err(int err)
{
	if (err == -EAGAIN)
		return -ETIMEDOUT;
	if (err == -ECONNRESET)
		return -EPIPE;
	return err;
}

/*
 * Receive the next message on the main socket within the timeout, serving
 * the back-end channel meanwhile.
 */
static int recv_main(struct fe_conn *c, struct gpc_vhost_msg *msg)
{
	uint64_t deadline = fe_now_ns() + (uint64_t)c->timeout_ms * 1000000ull;

	for (;;) {
		struct pollfd p[2] = { { .fd = c->sock, .events = POLLIN },
				       { .fd = c->backend_sock,
					 .events = POLLIN } };
		uint64_t now = fe_now_ns();
		int left, n;

		if (now >= deadline)
			return -ETIMEDOUT;
		left = (int)((deadline - now) / 1000000ull) + 1;
		n = poll(p, c->backend_sock >= 0 ? 2 : 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		if (c->backend_sock >= 0 && p[1].revents)
			fe_conn_poll_backend(c);
		if (p[0].revents)
			return map_recv_err(
				gpc_vhost_msg_recv(c->sock, msg, left));
	}
}

int fe_recv_msg(struct fe_conn *c, struct gpc_vhost_msg *msg)
{
	return recv_main(c, msg);
}

static int send_msg(struct fe_conn *c, uint32_t req, uint32_t flags,
		    const void *payload, uint32_t size, const int *fds,
		    unsigned int nfds)
{
	struct gpc_vhost_hdr h = { .request = req,
				   .flags = GPC_VHOST_VERSION | flags,
				   .size = size };
	int err = gpc_vhost_msg_send(c->sock, &h, payload, fds, nfds,
				     c->timeout_ms);

	if (err == -EAGAIN)
		err = -ETIMEDOUT;
	if (err == -ECONNRESET)
		err = -EPIPE;
	if (err && c->verbose)
		fprintf(stderr, "fe: send %s: %s\n", gpc_vhost_msg_name(req),
			strerror(-err));
	return err;
}

static int recv_reply(struct fe_conn *c, uint32_t req, uint32_t size,
		      struct gpc_vhost_msg *msg)
{
	const char *why = "";
	int err = recv_main(c, msg);

	if (err) {
		if (c->verbose)
			fprintf(stderr, "fe: reply to %s: %s\n",
				gpc_vhost_msg_name(req), strerror(-err));
		return err;
	}
	err = gpc_vhost_msg_validate_reply(msg, req, size, 0, &why);
	if (err) {
		fprintf(stderr, "fe: bad reply to %s: %s (req %u size %u)\n",
			gpc_vhost_msg_name(req), why, msg->hdr.request,
			msg->hdr.size);
		gpc_vhost_msg_close_fds(msg);
	}
	return err;
}

int fe_wait_ack(struct fe_conn *c, uint32_t req)
{
	struct gpc_vhost_msg msg;
	int err = recv_reply(c, req, 8, &msg);

	if (err)
		return err;
	return msg.payload.u64 ? -EIO : 0;
}

int fe_get_u64(struct fe_conn *c, uint32_t req, uint64_t *out)
{
	struct gpc_vhost_msg msg;
	int err = send_msg(c, req, 0, NULL, 0, NULL, 0);

	if (!err)
		err = recv_reply(c, req, 8, &msg);
	if (!err)
		*out = msg.payload.u64;
	return err;
}

int fe_set(struct fe_conn *c, uint32_t req, const void *payload, uint32_t size,
	   const int *fds, unsigned int nfds)
{
	int err = send_msg(c, req, c->reply_ack ? GPC_VHOST_FLAG_NEED_REPLY : 0,
			   payload, size, fds, nfds);

	if (err || !c->reply_ack)
		return err;
	return fe_wait_ack(c, req);
}

int fe_set_u64(struct fe_conn *c, uint32_t req, uint64_t v, const int *fds,
	       unsigned int nfds)
{
	return fe_set(c, req, &v, sizeof(v), fds, nfds);
}

int fe_call(struct fe_conn *c, uint32_t req, const void *payload, uint32_t size,
	    struct gpc_vhost_msg *reply, uint32_t reply_size)
{
	int err = send_msg(c, req, 0, payload, size, NULL, 0);

	if (!err)
		err = recv_reply(c, req, reply_size, reply);
	return err;
}

int fe_send_raw(struct fe_conn *c, uint32_t req, uint32_t flags,
		const void *payload, uint32_t size, const int *fds,
		unsigned int nfds)
{
	struct gpc_vhost_hdr h = { .request = req,
				   .flags = flags,
				   .size = size };
	union {
		char buf[CMSG_SPACE(64 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	size_t total = sizeof(h) + size, done = 0;

	if (nfds > 64)
		return -EINVAL;
	if (nfds) {
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);

		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(ch), fds, nfds * sizeof(int));
	}
	/* Small messages: a blocking stream socket takes them whole. */
	while (done < total) {
		ssize_t n = sendmsg(c->sock, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ECONNRESET ? -EPIPE : -errno;
		done += (size_t)n;
		if (done >= total)
			break;
		/* Rest of the bytes without the fds. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		if (done < sizeof(h)) {
			iov[0].iov_base = (char *)&h + done;
			iov[0].iov_len = sizeof(h) - done;
		} else {
			iov[0].iov_base = (char *)payload + (done - sizeof(h));
			iov[0].iov_len = total - done;
			mh.msg_iovlen = 1;
		}
	}
	return 0;
}

void fe_conn_poll_backend(struct fe_conn *c)
{
	for (;;) {
		struct gpc_vhost_msg msg;
		int err;

		if (c->backend_sock < 0)
			return;
		err = gpc_vhost_msg_recv(c->backend_sock, &msg, 0);
		if (err == -EAGAIN)
			return;
		if (err) {
			fprintf(stderr, "fe: back-end channel: %s\n",
				strerror(-err));
			close(c->backend_sock);
			c->backend_sock = -1;
			return;
		}
		gpc_vhost_msg_close_fds(&msg);
		if (c->verbose)
			fprintf(stderr, "fe: back-end request %s\n",
				gpc_vhost_backend_msg_name(msg.hdr.request));
		/*
		 * We map every IOVA up front, so a miss is the back-end's
		 * error: answer failure so that it does not wait. Config
		 * changes need nothing from a synthetic driver.
		 */
		if (msg.hdr.flags & GPC_VHOST_FLAG_NEED_REPLY) {
			uint64_t st =
				msg.hdr.request == GPC_VHOST_BACKEND_IOTLB_MSG ?
					1 :
					0;
			struct gpc_vhost_hdr h = { .request = msg.hdr.request,
						   .flags =
							   GPC_VHOST_VERSION |
							   GPC_VHOST_FLAG_REPLY,
						   .size = 8 };

			gpc_vhost_msg_send(c->backend_sock, &h, &st, NULL, 0,
					   c->timeout_ms);
		}
	}
}
