/* SPDX-License-Identifier: MIT */
/*
 * src/vhost/msg.h - one vhost-user message in memory, and the calls that
 * receive, validate and send them (msg.c: socket I/O; msg_validate.c: what
 * each request must carry). Private to libgpc-vhost: every symbol here is
 * hidden, so none can leak into the shared library's ABI.
 *
 * The front-end is another process and is not trusted: nothing a handler
 * reads from a message has been checked unless gpc_vhost_msg_validate()
 * returned 0 for it, and then only what its comment lists (sizes, fd
 * counts, fields whose range needs no connection state). Checks that need
 * state (features negotiated, queue index below the queue count, regions
 * not overlapping the current table, a message allowed in this state)
 * belong to the handlers.
 *
 * File descriptors: a received message owns the fds in fds[0..nfds-1].
 * Every call that fails closes them (and sets nfds to 0), so an error path
 * never leaks one; a handler that keeps an fd takes it with
 * gpc_vhost_msg_take_fd() and the dispatcher closes the rest with
 * gpc_vhost_msg_close_fds() when the handler returns.
 */
#ifndef GPC_VHOST_MSG_H
#define GPC_VHOST_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

#ifndef GPC_VHOST_HIDDEN
#define GPC_VHOST_HIDDEN __attribute__((visibility("hidden")))
#endif

struct gpc_vhost_msg {
	struct gpc_vhost_hdr hdr;
	/* Naturally aligned (the wire puts it at offset 12); hdr.size bytes. */
	union gpc_vhost_payload payload;
	int fds[GPC_VHOST_MAX_FDS]; /* owned; -1 once taken or closed */
	unsigned int nfds;
};

/*
 * Empty message: no payload, no fds (every slot -1). A message must be
 * initialised before gpc_vhost_msg_close_fds() may be called on it;
 * gpc_vhost_msg_recv() initialises it itself. Context: any context.
 */
GPC_VHOST_HIDDEN void gpc_vhost_msg_init(struct gpc_vhost_msg *msg);

/*
 * Close every fd the message still owns and set nfds to 0. Idempotent.
 * Context: any context; never blocks (close() of an eventfd, memfd or
 * socket does not).
 */
GPC_VHOST_HIDDEN void gpc_vhost_msg_close_fds(struct gpc_vhost_msg *msg);

/*
 * Take ownership of fds[i]: returns it and leaves -1 in its slot, or -1 if
 * i >= nfds or the fd was already taken. Context: any context.
 */
GPC_VHOST_HIDDEN int gpc_vhost_msg_take_fd(struct gpc_vhost_msg *msg,
					   unsigned int i);

/*
 * Receive one whole message (header, payload, ancillary fds) from the
 * connected AF_UNIX SOCK_STREAM socket `sock`, blocking or not.
 *
 * timeout_ms bounds the whole wait (-1: no bound, 0: only what is already
 * queued). Received fds are close-on-exec (MSG_CMSG_CLOEXEC). fds may come
 * with any part of the message; at most GPC_VHOST_MAX_FDS in all. Only the
 * header's size is checked here (against GPC_VHOST_MAX_PAYLOAD, so that the
 * payload fits msg->payload); everything else is gpc_vhost_msg_validate()'s.
 *
 * Returns 0 with *msg filled, or a negative errno with no fd left open and
 * msg->nfds == 0. After any error but -EAGAIN the stream is no longer at a
 * message boundary: the caller must drop the connection.
 *   -EAGAIN        no byte of a message arrived within timeout_ms (nothing
 *                  was consumed; call again later)
 *   -ETIMEDOUT     a message started but did not complete within timeout_ms
 *   -EPIPE         the peer closed the connection at a message boundary
 *   -ECONNRESET    the peer closed or reset the connection in the middle of
 *                  a message (a truncated header or payload)
 *   -EMSGSIZE      the header's size is larger than GPC_VHOST_MAX_PAYLOAD
 *   -ETOOMANYREFS  more than GPC_VHOST_MAX_FDS fds, or the kernel truncated
 *                  the ancillary data (MSG_CTRUNC)
 *   -EPROTO        ancillary data other than SCM_RIGHTS
 *   other          recvmsg(2) or poll(2) failed with that errno (-EBADF,
 *                  -ENOTSOCK, -ENOMEM, ...)
 * EINTR is retried. Context: may sleep (up to timeout_ms); not
 * async-signal-safe.
 */
GPC_VHOST_HIDDEN int gpc_vhost_msg_recv(int sock, struct gpc_vhost_msg *msg,
					int timeout_ms);

/*
 * Check a received front-end request against the spec: the header's flags
 * (version 1, no reply bit, no unknown bit), that the request is one this
 * library handles, its exact payload size (or the size its own length
 * fields imply), its fd count, and the fields whose range is known without
 * connection state (see msg_validate.c for each request).
 *
 * On success returns 0; a REM_MEM_REG's stray fd (which the spec allows
 * and says must be closed unused) has then been closed. On failure every
 * fd of the message has been closed, *reason (if reason is not NULL) points
 * to a static one-line explanation for the log, and the return is:
 *   -EPROTO      the header's flags: version not 1, the reply bit set, or
 *                a bit the spec does not define
 *   -EOPNOTSUPP  a request number this library does not handle (unknown,
 *                or known but outside its feature set)
 *   -EBADMSG     the payload size is not the one the request carries
 *   -EBADF       the number of fds is not the one the request carries
 *   -ERANGE      a field is outside the range the spec allows
 * The header stays intact, so the caller can still reply (REPLY_ACK) or
 * log the request by name. Context: any context; never blocks.
 */
GPC_VHOST_HIDDEN int gpc_vhost_msg_validate(struct gpc_vhost_msg *msg,
					    const char **reason);

/*
 * Check a reply received on either channel: version 1 with the reply bit,
 * the expected request number, `size` bytes of payload and `nfds` fds.
 * Returns 0, or on failure (all fds closed, *reason set like
 * gpc_vhost_msg_validate()): -EPROTO (flags), -EBADMSG (another request or
 * size), -EBADF (fd count). Context: any context; never blocks.
 */
GPC_VHOST_HIDDEN int gpc_vhost_msg_validate_reply(struct gpc_vhost_msg *msg,
						  uint32_t request,
						  uint32_t size,
						  unsigned int nfds,
						  const char **reason);

/*
 * The spec's name of a front-end request ("SET_MEM_TABLE") or back-end
 * request ("IOTLB_MSG"), or "?" for a number it does not name. Context:
 * any context.
 */
GPC_VHOST_HIDDEN const char *gpc_vhost_msg_name(uint32_t request);
GPC_VHOST_HIDDEN const char *gpc_vhost_backend_msg_name(uint32_t request);

/*
 * Whether the spec defines a reply body for this front-end request (GET_*,
 * SET_LOG_BASE, IOTLB_MSG), which the back-end sends whatever the flags
 * say. Context: any context.
 */
GPC_VHOST_HIDDEN bool gpc_vhost_msg_has_reply(uint32_t request);

/*
 * Whether the request asks for a REPLY_ACK status: need_reply is set and
 * the request has no reply body of its own (the spec: for those, need_reply
 * "brings no behavioural change"). Context: any context.
 */
GPC_VHOST_HIDDEN bool gpc_vhost_msg_wants_ack(const struct gpc_vhost_msg *msg);

/*
 * Send one message: hdr, then hdr->size bytes of payload (payload may be
 * NULL when hdr->size is 0), with nfds (at most GPC_VHOST_MAX_FDS) fds as
 * SCM_RIGHTS on the first byte. The fds stay the caller's. A partial write
 * is continued; SIGPIPE is never raised (MSG_NOSIGNAL).
 *
 * Returns 0 once every byte is queued on the socket, or:
 *   -EINVAL     nfds > GPC_VHOST_MAX_FDS, hdr->size >
 *               GPC_VHOST_MAX_PAYLOAD, or payload NULL with a size
 *   -EAGAIN     no byte could be queued within timeout_ms (the stream is
 *               intact)
 *   -ETIMEDOUT  part of the message was queued but not all of it within
 *               timeout_ms (the stream is broken: drop the connection)
 *   -EPIPE      the peer closed the connection
 *   other       sendmsg(2) or poll(2) failed with that errno
 * EINTR is retried. Context: may sleep (up to timeout_ms, -1: no bound).
 */
GPC_VHOST_HIDDEN int gpc_vhost_msg_send(int sock,
					const struct gpc_vhost_hdr *hdr,
					const void *payload, const int *fds,
					unsigned int nfds, int timeout_ms);

/*
 * Reply to `req`: its request number, flags version | REPLY, `size` bytes
 * of payload and nfds fds. Errors as gpc_vhost_msg_send(). Context: may
 * sleep (up to timeout_ms).
 */
GPC_VHOST_HIDDEN int gpc_vhost_msg_reply(int sock,
					 const struct gpc_vhost_msg *req,
					 const void *payload, uint32_t size,
					 const int *fds, unsigned int nfds,
					 int timeout_ms);

/* Reply with a u64 body (GET_FEATURES, GET_QUEUE_NUM, ...). As above. */
GPC_VHOST_HIDDEN int gpc_vhost_msg_reply_u64(int sock,
					     const struct gpc_vhost_msg *req,
					     uint64_t value, int timeout_ms);

/*
 * The REPLY_ACK status of `req`: u64 0 when status is 0, else the positive
 * errno (the spec asks only for "non-zero"; the number helps whoever reads
 * a trace). Sent only if gpc_vhost_msg_wants_ack(req); returns 0 without
 * sending otherwise. Errors as gpc_vhost_msg_send(). Context: may sleep
 * (up to timeout_ms).
 */
GPC_VHOST_HIDDEN int gpc_vhost_msg_reply_ack(int sock,
					     const struct gpc_vhost_msg *req,
					     int status, int timeout_ms);

/*
 * Send a back-end request (enum gpc_vhost_backend_request) on the back-end
 * channel (the socket SET_BACKEND_REQ_FD passed), with need_reply if the
 * caller will wait for the front-end's ack. The size and fd count are
 * checked against the spec first, so a malformed message never leaves.
 * Whether fds may be sent at all (BACKEND_SEND_FD negotiated) is the
 * caller's to know. Returns 0, or -EINVAL for an unknown request, a size or
 * an fd count the request does not carry; other errors as
 * gpc_vhost_msg_send(). Context: may sleep (up to timeout_ms).
 */
GPC_VHOST_HIDDEN int
gpc_vhost_msg_backend_send(int sock, uint32_t request, bool need_reply,
			   const void *payload, uint32_t size, const int *fds,
			   unsigned int nfds, int timeout_ms);

/*
 * Check a back-end request's shape: 0, or -EINVAL (unknown request, size or
 * fd count it does not carry). Used by gpc_vhost_msg_backend_send(), and by
 * a front-end (the tests' peer) receiving one. Context: any context.
 */
GPC_VHOST_HIDDEN int gpc_vhost_msg_backend_check(uint32_t request,
						 uint32_t size,
						 unsigned int nfds,
						 const char **reason);

#endif /* GPC_VHOST_MSG_H */
