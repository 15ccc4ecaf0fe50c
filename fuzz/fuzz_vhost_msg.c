// SPDX-License-Identifier: MIT
/*
 * fuzz/fuzz_vhost_msg.c - libFuzzer harness for libgpc-vhost's message
 * layer (src/vhost/msg.c, msg_validate.c).
 *
 * Each input (fuzz_vhost_msg.h) becomes a byte stream written into one end
 * of a socketpair(AF_UNIX, SOCK_STREAM) in two pieces, each carrying 0-15
 * fds (dups of /dev/null); the writer then shuts its end, and the other
 * end receives and validates message after message, as the back-end's
 * control thread would, until the receive fails. What must hold:
 *  - no crash, no sanitizer report (the harness is built with ASan+UBSan);
 *  - a received message: size <= GPC_VHOST_MAX_PAYLOAD, at most 8 fds, all
 *    open and close-on-exec;
 *  - a validated message has the shape its request needs, re-derived here
 *    from the spec without the library's table (SET_MEM_TABLE: 8 + 32 n
 *    bytes and n fds; KICK/CALL/ERR: one fd unless bit 8; ...);
 *  - a rejected message has a reason and no fd left;
 *  - after the run, exactly as many fds are open as before it: every fd
 *    that arrived was handed over or closed, on every path.
 * A broken invariant prints what was seen and aborts, so libFuzzer keeps
 * the input.
 *
 *	fuzz_vhost_msg -max_total_time=300 <corpus dir>
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_vhost_msg.h"
#include "msg.h"

static int devnull = -1;

static int open_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

#define CHECK(cond, ...)                                                \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "fuzz_vhost_msg: %s: ", #cond); \
			fprintf(stderr, __VA_ARGS__);                   \
			fputc('\n', stderr);                            \
			abort();                                        \
		}                                                       \
	} while (0)

/* Write one piece with n dups of /dev/null; the dups are ours to close. */
static void write_piece(int sock, const uint8_t *p, size_t len, unsigned int n)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * 15)];
	} ctl;
	int fds[15];
	size_t off = 0;

	for (unsigned int i = 0; i < n; i++)
		fds[i] = dup(devnull);
	while (off < len) {
		struct iovec iov = { .iov_base = (void *)(p + off),
				     .iov_len = len - off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t w;

		if (off == 0 && n) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.b;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * n);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
		}
		w = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		CHECK(w > 0, "sendmsg: %s", strerror(errno));
		off += (size_t)w;
	}
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
}

/* The shape a validated request must have, from the spec alone. */
static void check_shape(const struct gpc_vhost_msg *m)
{
	uint32_t sz = m->hdr.size;
	unsigned int n = m->nfds;

	CHECK((m->hdr.flags & 3) == 1 && !(m->hdr.flags & ~0xcu & ~3u) &&
		      !(m->hdr.flags & 4),
	      "flags %#x", m->hdr.flags);
	switch (m->hdr.request) {
	case GPC_VHOST_SET_MEM_TABLE:
		CHECK(m->payload.mem.nregions <= 8 &&
			      sz == 8 + 32 * m->payload.mem.nregions &&
			      n == m->payload.mem.nregions,
		      "mem table size %u, %u regions, %u fds", sz,
		      m->payload.mem.nregions, n);
		break;
	case GPC_VHOST_ADD_MEM_REG:
		CHECK(sz == 40 && n == 1, "add size %u fds %u", sz, n);
		break;
	case GPC_VHOST_REM_MEM_REG:
		CHECK(sz == 40 && n == 0, "rem size %u fds %u", sz, n);
		break;
	case GPC_VHOST_SET_VRING_KICK:
	case GPC_VHOST_SET_VRING_CALL:
	case GPC_VHOST_SET_VRING_ERR:
		CHECK(sz == 8 && n == ((m->payload.u64 & 0x100) ? 0u : 1u) &&
			      m->payload.u64 <= 0x1ff,
		      "vring fd size %u fds %u u64 %#llx", sz, n,
		      (unsigned long long)m->payload.u64);
		break;
	case GPC_VHOST_SET_LOG_BASE:
		CHECK(sz == 16 && n == 1, "log base size %u fds %u", sz, n);
		break;
	case GPC_VHOST_SET_LOG_FD:
	case GPC_VHOST_SET_BACKEND_REQ_FD:
		CHECK(sz == 0 && n == 1, "fd-only size %u fds %u", sz, n);
		break;
	case GPC_VHOST_SET_INFLIGHT_FD:
		CHECK(sz == 24 && n == 1, "set inflight size %u fds %u", sz, n);
		break;
	case GPC_VHOST_GET_INFLIGHT_FD:
		CHECK(sz == 24 && n == 0, "get inflight size %u fds %u", sz, n);
		break;
	case GPC_VHOST_GET_CONFIG:
	case GPC_VHOST_SET_CONFIG:
		CHECK(m->payload.config.size <= 256 &&
			      sz == 12 + m->payload.config.size &&
			      m->payload.config.offset +
					      m->payload.config.size <=
				      256 &&
			      n == 0,
		      "config size %u/%u offset %u fds %u", sz,
		      m->payload.config.size, m->payload.config.offset, n);
		break;
	case GPC_VHOST_IOTLB_MSG:
		CHECK(sz == 32 && n == 0, "iotlb size %u fds %u", sz, n);
		break;
	case GPC_VHOST_SET_VRING_ADDR:
		CHECK(sz == 40 && n == 0, "addr size %u fds %u", sz, n);
		break;
	case GPC_VHOST_SET_VRING_NUM:
	case GPC_VHOST_SET_VRING_BASE:
	case GPC_VHOST_GET_VRING_BASE:
	case GPC_VHOST_SET_VRING_ENABLE:
		CHECK(sz == 8 && n == 0, "state size %u fds %u", sz, n);
		break;
	case GPC_VHOST_SET_FEATURES:
	case GPC_VHOST_SET_PROTOCOL_FEATURES:
	case GPC_VHOST_SET_STATUS:
		CHECK(sz == 8 && n == 0, "u64 size %u fds %u", sz, n);
		break;
	case GPC_VHOST_GET_FEATURES:
	case GPC_VHOST_SET_OWNER:
	case GPC_VHOST_RESET_OWNER:
	case GPC_VHOST_GET_PROTOCOL_FEATURES:
	case GPC_VHOST_GET_QUEUE_NUM:
	case GPC_VHOST_RESET_DEVICE:
	case GPC_VHOST_GET_MAX_MEM_SLOTS:
	case GPC_VHOST_GET_STATUS:
		CHECK(sz == 0 && n == 0, "empty size %u fds %u", sz, n);
		break;
	default:
		CHECK(0, "request %u validated", m->hdr.request);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	return devnull < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gpc_vhost_msg m;
	size_t split, len;
	const uint8_t *s;
	int sv[2], before, rc;

	if (size < FZV_HDR_BYTES)
		return 0;
	/* The socket buffer must hold the whole stream: the writer goes first. */
	if (size > 64 * 1024)
		return 0;
	s = data + FZV_HDR_BYTES;
	len = size - FZV_HDR_BYTES;
	split = data[1] < len ? data[1] : len;

	before = open_fd_count();
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
	      "socketpair: %s", strerror(errno));
	write_piece(sv[1], s, split, data[0] & 15);
	write_piece(sv[1], s + split, len - split, data[0] >> 4);
	shutdown(sv[1], SHUT_WR);

	for (;;) {
		const char *why = NULL;

		rc = gpc_vhost_msg_recv(sv[0], &m, 0);
		if (rc) {
			CHECK(m.nfds == 0, "recv %d left %u fds", rc, m.nfds);
			break;
		}
		CHECK(m.hdr.size <= GPC_VHOST_MAX_PAYLOAD && m.nfds <= 8,
		      "size %u fds %u", m.hdr.size, m.nfds);
		for (unsigned int i = 0; i < m.nfds; i++) {
			int fl = fcntl(m.fds[i], F_GETFD);

			CHECK(fl >= 0 && (fl & FD_CLOEXEC), "fd %d flags %d",
			      m.fds[i], fl);
		}
		rc = gpc_vhost_msg_validate(&m, &why);
		if (rc) {
			CHECK(rc == -EPROTO || rc == -EOPNOTSUPP ||
				      rc == -EBADMSG || rc == -EBADF ||
				      rc == -ERANGE,
			      "validate %d", rc);
			CHECK(why && m.nfds == 0, "rejected (%d) with %u fds",
			      rc, m.nfds);
			/* What a dispatcher would do: ack the failure. */
			(void)gpc_vhost_msg_reply_ack(sv[0], &m, rc, 0);
			continue;
		}
		check_shape(&m);
		(void)gpc_vhost_msg_name(m.hdr.request);
		if (!gpc_vhost_msg_has_reply(m.hdr.request))
			(void)gpc_vhost_msg_reply_ack(sv[0], &m, 0, 0);
		gpc_vhost_msg_close_fds(&m);
	}
	CHECK(rc == -EPIPE || rc == -ECONNRESET || rc == -EMSGSIZE ||
		      rc == -ETOOMANYREFS,
	      "the stream ended with %d", rc);
	close(sv[0]);
	close(sv[1]);
	CHECK(open_fd_count() == before, "fd leak: %d open before, %d after",
	      before, open_fd_count());
	return 0;
}
