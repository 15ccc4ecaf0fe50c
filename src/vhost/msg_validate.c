// SPDX-License-Identifier: MIT
/*
 * src/vhost/msg_validate.c - what each vhost-user request must carry.
 *
 * One table row per request, from the "Front-end message types" section
 * of QEMU's docs/interop/vhost-user.rst: the payload size (exact, or a
 * range that a per-request check narrows to the size the payload's own
 * length field implies), the fd rule, whether the spec defines a reply
 * body, and an optional check of fields whose valid range needs no
 * connection state. A message that passes has exactly the bytes and fds a
 * handler will read, so a handler can never read past what arrived or
 * find an fd missing; the handlers still own every check that needs state.
 *
 * Deliberately strict, because the front-end is not trusted and a tight
 * grammar is what lets the fuzzer find nothing: bits the spec does not
 * define (in the header's flags, the vring fd word, the vring address
 * flags) are refused rather than ignored.
 */
#include <errno.h>
#include <stddef.h>
#include <unistd.h>

#include "msg.h"

/* How many fds a request carries. */
enum fd_rule {
	FDS_NONE,    /* none */
	FDS_ONE,     /* exactly one */
	FDS_REGIONS, /* one per region of the memory table */
	FDS_VRING,   /* one, or none when the u64's NOFD bit is set */
	FDS_STRAY,   /* none, but one is tolerated (and closed unused) */
};

struct rule {
	const char *name;
	uint16_t min, max; /* payload size bounds, bytes */
	uint8_t fds;	   /* enum fd_rule */
	bool reply;	   /* the spec defines a reply body */
	bool supported;	   /* handled by this library */
	/* Field checks; returns 0 or -ERANGE with *why set. */
	int (*check)(const struct gpc_vhost_msg *msg, const char **why);
};

/* ---- field checks ----------------------------------------------------- */

static int fail(const char **why, const char *text)
{
	*why = text;
	return -ERANGE;
}

/* a + len - 1 does not wrap (len > 0). */
static bool range_ok(uint64_t a, uint64_t len)
{
	return len && a + (len - 1) >= a;
}

/*
 * A region must be non-empty and none of its three ranges (guest, user,
 * inside the fd) may wrap past 2^64: every later "does X fall in this
 * region" test relies on base + size - 1 being meaningful.
 */
static int check_region(const struct gpc_vhost_region *r, const char **why)
{
	if (!r->size)
		return fail(why, "region of size 0");
	if (!range_ok(r->guest_addr, r->size))
		return fail(why, "region's guest range wraps past 2^64");
	if (!range_ok(r->user_addr, r->size))
		return fail(why, "region's user range wraps past 2^64");
	if (!range_ok(r->mmap_offset, r->size))
		return fail(why, "region's mmap range wraps past 2^64");
	return 0;
}

/* SET_MEM_TABLE: 0..8 regions, the size is exactly theirs, each sane. */
static int check_mem_table(const struct gpc_vhost_msg *msg, const char **why)
{
	const struct gpc_vhost_mem_table *t = &msg->payload.mem;

	if (t->nregions > GPC_VHOST_MAX_REGIONS)
		return fail(why, "more than 8 regions");
	if (msg->hdr.size != GPC_VHOST_MEM_TABLE_HDR_SIZE +
				     t->nregions * sizeof(t->regions[0])) {
		*why = "payload size is not 8 + 32 * num_regions";
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < t->nregions; i++) {
		int rc = check_region(&t->regions[i], why);

		if (rc)
			return rc;
	}
	return 0;
}

static int check_mem_reg(const struct gpc_vhost_msg *msg, const char **why)
{
	return check_region(&msg->payload.mem_reg.region, why);
}

static int check_log(const struct gpc_vhost_msg *msg, const char **why)
{
	const struct gpc_vhost_log *l = &msg->payload.log;

	if (!range_ok(l->mmap_offset, l->mmap_size))
		return fail(why, "log area empty or wrapping past 2^64");
	return 0;
}

/* KICK/CALL/ERR: bits 0-7 the index, bit 8 no-fd, nothing else. */
static int check_vring_fd(const struct gpc_vhost_msg *msg, const char **why)
{
	if (msg->payload.u64 &
	    ~(GPC_VHOST_VRING_IDX_MASK | GPC_VHOST_VRING_NOFD))
		return fail(why, "bits above 8 set in the vring fd word");
	return 0;
}

static int check_vring_addr(const struct gpc_vhost_msg *msg, const char **why)
{
	if (msg->payload.addr.flags & ~(1u << VHOST_VRING_F_LOG))
		return fail(why, "unknown vring address flags");
	return 0;
}

static int check_vring_enable(const struct gpc_vhost_msg *msg, const char **why)
{
	if (msg->payload.state.num > 1)
		return fail(why, "enable is neither 0 nor 1");
	return 0;
}

/*
 * The front-end sends updates and invalidations only (misses and access
 * failures go the other way). An invalidation's size is not checked:
 * QEMU computes it as an address mask + 1, which is 0 for "everything".
 */
static int check_iotlb(const struct gpc_vhost_msg *msg, const char **why)
{
	const struct vhost_iotlb_msg *m = &msg->payload.iotlb;

	switch (m->type) {
	case VHOST_IOTLB_UPDATE:
		if (m->perm < VHOST_ACCESS_RO || m->perm > VHOST_ACCESS_RW)
			return fail(why,
				    "IOTLB update without read/write perm");
		if (!range_ok(m->iova, m->size) || !range_ok(m->uaddr, m->size))
			return fail(why, "IOTLB update empty or wrapping");
		return 0;
	case VHOST_IOTLB_INVALIDATE:
		return 0;
	default:
		return fail(why, "IOTLB type is neither update nor invalidate");
	}
}

/* GET/SET_CONFIG: 12 + size bytes, size and offset + size within 256. */
static int check_config(const struct gpc_vhost_msg *msg, const char **why)
{
	const struct gpc_vhost_config_msg *c = &msg->payload.config;

	if (c->size > GPC_VHOST_MAX_CONFIG_SIZE)
		return fail(why, "config size above 256");
	if (msg->hdr.size != GPC_VHOST_CONFIG_HDR_SIZE + c->size) {
		*why = "payload size is not 12 + config size";
		return -EBADMSG;
	}
	if (c->offset > GPC_VHOST_MAX_CONFIG_SIZE - c->size)
		return fail(why, "config offset + size above 256");
	if (c->flags > GPC_VHOST_CONFIG_MIGRATION)
		return fail(why, "unknown config flags");
	return 0;
}

static int check_inflight(const struct gpc_vhost_msg *msg, const char **why)
{
	const struct gpc_vhost_inflight *f = &msg->payload.inflight;

	if (f->mmap_size && !range_ok(f->mmap_offset, f->mmap_size))
		return fail(why, "inflight area wraps past 2^64");
	return 0;
}

/* The virtio device status is one byte. */
static int check_status(const struct gpc_vhost_msg *msg, const char **why)
{
	if (msg->payload.u64 > 0xff)
		return fail(why, "device status above 0xff");
	return 0;
}

/* ---- the table ------------------------------------------------------------ */

#define U64   sizeof(uint64_t)
#define STATE sizeof(struct vhost_vring_state)

/* clang-format off */
#define ROW(req, lo, hi, fd, rep, fn) \
	[GPC_VHOST_##req] = { #req, lo, hi, fd, rep, true, fn }
#define UNSUPPORTED(req) [GPC_VHOST_##req] = { #req, 0, 0, 0, 0, false, 0 }

static const struct rule rules[GPC_VHOST_REQUEST_MAX] = {
	ROW(GET_FEATURES,          0, 0, FDS_NONE, true, NULL),
	ROW(SET_FEATURES,          U64, U64, FDS_NONE, false, NULL),
	ROW(SET_OWNER,             0, 0, FDS_NONE, false, NULL),
	ROW(RESET_OWNER,           0, 0, FDS_NONE, false, NULL),
	ROW(SET_MEM_TABLE,         GPC_VHOST_MEM_TABLE_HDR_SIZE,
				   sizeof(struct gpc_vhost_mem_table),
				   FDS_REGIONS, false, check_mem_table),
	/* Only the LOG_SHMFD form: a log area and its fd; the reply is u64. */
	ROW(SET_LOG_BASE,          sizeof(struct gpc_vhost_log),
				   sizeof(struct gpc_vhost_log),
				   FDS_ONE, true, check_log),
	ROW(SET_LOG_FD,            0, 0, FDS_ONE, false, NULL),
	ROW(SET_VRING_NUM,         STATE, STATE, FDS_NONE, false, NULL),
	ROW(SET_VRING_ADDR,        sizeof(struct vhost_vring_addr),
				   sizeof(struct vhost_vring_addr),
				   FDS_NONE, false, check_vring_addr),
	ROW(SET_VRING_BASE,        STATE, STATE, FDS_NONE, false, NULL),
	ROW(GET_VRING_BASE,        STATE, STATE, FDS_NONE, true, NULL),
	ROW(SET_VRING_KICK,        U64, U64, FDS_VRING, false, check_vring_fd),
	ROW(SET_VRING_CALL,        U64, U64, FDS_VRING, false, check_vring_fd),
	ROW(SET_VRING_ERR,         U64, U64, FDS_VRING, false, check_vring_fd),
	ROW(GET_PROTOCOL_FEATURES, 0, 0, FDS_NONE, true, NULL),
	ROW(SET_PROTOCOL_FEATURES, U64, U64, FDS_NONE, false, NULL),
	ROW(GET_QUEUE_NUM,         0, 0, FDS_NONE, true, NULL),
	ROW(SET_VRING_ENABLE,      STATE, STATE, FDS_NONE, false,
				   check_vring_enable),
	UNSUPPORTED(SEND_RARP),
	UNSUPPORTED(NET_SET_MTU),
	ROW(SET_BACKEND_REQ_FD,    0, 0, FDS_ONE, false, NULL),
	/* Always answered with a u64 status (the spec: "has to acknowledge"). */
	ROW(IOTLB_MSG,             sizeof(struct vhost_iotlb_msg),
				   sizeof(struct vhost_iotlb_msg),
				   FDS_NONE, true, check_iotlb),
	UNSUPPORTED(SET_VRING_ENDIAN),
	ROW(GET_CONFIG,            GPC_VHOST_CONFIG_HDR_SIZE,
				   sizeof(struct gpc_vhost_config_msg),
				   FDS_NONE, true, check_config),
	ROW(SET_CONFIG,            GPC_VHOST_CONFIG_HDR_SIZE,
				   sizeof(struct gpc_vhost_config_msg),
				   FDS_NONE, false, check_config),
	UNSUPPORTED(CREATE_CRYPTO_SESSION),
	UNSUPPORTED(CLOSE_CRYPTO_SESSION),
	UNSUPPORTED(POSTCOPY_ADVISE),
	UNSUPPORTED(POSTCOPY_LISTEN),
	UNSUPPORTED(POSTCOPY_END),
	/* The reply is the inflight description and the buffer's fd. */
	ROW(GET_INFLIGHT_FD,       sizeof(struct gpc_vhost_inflight),
				   sizeof(struct gpc_vhost_inflight),
				   FDS_NONE, true, check_inflight),
	ROW(SET_INFLIGHT_FD,       sizeof(struct gpc_vhost_inflight),
				   sizeof(struct gpc_vhost_inflight),
				   FDS_ONE, false, check_inflight),
	UNSUPPORTED(GPU_SET_SOCKET),
	ROW(RESET_DEVICE,          0, 0, FDS_NONE, false, NULL),
	UNSUPPORTED(VRING_KICK),
	ROW(GET_MAX_MEM_SLOTS,     0, 0, FDS_NONE, true, NULL),
	ROW(ADD_MEM_REG,           sizeof(struct gpc_vhost_mem_reg),
				   sizeof(struct gpc_vhost_mem_reg),
				   FDS_ONE, false, check_mem_reg),
	/* The spec: no fd SHOULD come; one MAY be accepted and closed. */
	ROW(REM_MEM_REG,           sizeof(struct gpc_vhost_mem_reg),
				   sizeof(struct gpc_vhost_mem_reg),
				   FDS_STRAY, false, check_mem_reg),
	ROW(SET_STATUS,            U64, U64, FDS_NONE, false, check_status),
	ROW(GET_STATUS,            0, 0, FDS_NONE, true, NULL),
};

/* Back-end requests: size bounds and fd rule, as the spec gives them. */
static const struct rule backend_rules[GPC_VHOST_BACKEND_REQUEST_MAX] = {
	[GPC_VHOST_BACKEND_IOTLB_MSG] = { "IOTLB_MSG",
		sizeof(struct vhost_iotlb_msg), sizeof(struct vhost_iotlb_msg),
		FDS_NONE, false, true, NULL },
	[GPC_VHOST_BACKEND_CONFIG_CHANGE_MSG] = { "CONFIG_CHANGE_MSG",
		0, 0, FDS_NONE, false, true, NULL },
	/* With an fd: register that notifier; without: deregister. */
	[GPC_VHOST_BACKEND_VRING_HOST_NOTIFIER_MSG] = {
		"VRING_HOST_NOTIFIER_MSG",
		sizeof(struct gpc_vhost_vring_area),
		sizeof(struct gpc_vhost_vring_area),
		FDS_STRAY, false, true, NULL },
	[GPC_VHOST_BACKEND_VRING_CALL] = { "VRING_CALL", STATE, STATE,
		FDS_NONE, false, true, NULL },
	[GPC_VHOST_BACKEND_VRING_ERR] = { "VRING_ERR", STATE, STATE,
		FDS_NONE, false, true, NULL },
};
/* clang-format on */

static const struct rule *rule_of(uint32_t request)
{
	if (request >= GPC_VHOST_REQUEST_MAX || !rules[request].name)
		return NULL;
	return &rules[request];
}

const char *gpc_vhost_msg_name(uint32_t request)
{
	const struct rule *r = rule_of(request);

	return r ? r->name : "?";
}

const char *gpc_vhost_backend_msg_name(uint32_t request)
{
	if (request >= GPC_VHOST_BACKEND_REQUEST_MAX ||
	    !backend_rules[request].name)
		return "?";
	return backend_rules[request].name;
}

bool gpc_vhost_msg_has_reply(uint32_t request)
{
	const struct rule *r = rule_of(request);

	return r && r->reply;
}

bool gpc_vhost_msg_wants_ack(const struct gpc_vhost_msg *msg)
{
	return (msg->hdr.flags & GPC_VHOST_FLAG_NEED_REPLY) &&
	       !gpc_vhost_msg_has_reply(msg->hdr.request);
}

/* ---- validation ----------------------------------------------------------- */

/* How many fds this message must carry; -1 for "0 or 1" (FDS_STRAY). */
static int fds_wanted(const struct rule *r, const struct gpc_vhost_msg *msg)
{
	switch (r->fds) {
	case FDS_ONE:
		return 1;
	case FDS_REGIONS:
		return (int)msg->payload.mem.nregions;
	case FDS_VRING:
		return (msg->payload.u64 & GPC_VHOST_VRING_NOFD) ? 0 : 1;
	case FDS_STRAY:
		return -1;
	default:
		return 0;
	}
}

static int reject(struct gpc_vhost_msg *msg, const char **reason, int rc,
		  const char *why)
{
	gpc_vhost_msg_close_fds(msg);
	if (reason)
		*reason = why;
	return rc;
}

int gpc_vhost_msg_validate(struct gpc_vhost_msg *msg, const char **reason)
{
	uint32_t flags = msg->hdr.flags;
	const struct rule *r;
	const char *why = NULL;
	int want, rc;

	if ((flags & GPC_VHOST_VERSION_MASK) != GPC_VHOST_VERSION)
		return reject(msg, reason, -EPROTO, "version is not 1");
	if (flags & GPC_VHOST_FLAG_REPLY)
		return reject(msg, reason, -EPROTO, "reply flag on a request");
	if (flags & ~GPC_VHOST_FLAGS_KNOWN)
		return reject(msg, reason, -EPROTO, "unknown header flag bits");

	r = rule_of(msg->hdr.request);
	if (!r)
		return reject(msg, reason, -EOPNOTSUPP, "unknown request");
	if (!r->supported)
		return reject(msg, reason, -EOPNOTSUPP,
			      "request not supported by this back-end");
	if (msg->hdr.size < r->min || msg->hdr.size > r->max)
		return reject(msg, reason, -EBADMSG,
			      "payload size wrong for the request");

	/* Before the fd count: SET_MEM_TABLE's fd count is its nregions. */
	if (r->check) {
		rc = r->check(msg, &why);
		if (rc)
			return reject(msg, reason, rc, why);
	}

	want = fds_wanted(r, msg);
	if (want < 0) {
		if (msg->nfds > 1)
			return reject(msg, reason, -EBADF,
				      "more than one fd for the request");
		/* The spec: a stray fd MUST be closed without being used. */
		gpc_vhost_msg_close_fds(msg);
	} else if (msg->nfds != (unsigned int)want) {
		return reject(msg, reason, -EBADF,
			      want ? "fd count wrong for the request" :
				     "fds sent with a request that takes none");
	}
	return 0;
}

int gpc_vhost_msg_validate_reply(struct gpc_vhost_msg *msg, uint32_t request,
				 uint32_t size, unsigned int nfds,
				 const char **reason)
{
	uint32_t flags = msg->hdr.flags;

	if ((flags & GPC_VHOST_VERSION_MASK) != GPC_VHOST_VERSION ||
	    !(flags & GPC_VHOST_FLAG_REPLY) || (flags & ~GPC_VHOST_FLAGS_KNOWN))
		return reject(msg, reason, -EPROTO, "reply flags wrong");
	if (msg->hdr.request != request)
		return reject(msg, reason, -EBADMSG,
			      "reply to another request");
	if (msg->hdr.size != size)
		return reject(msg, reason, -EBADMSG, "reply size wrong");
	if (msg->nfds != nfds)
		return reject(msg, reason, -EBADF, "reply fd count wrong");
	return 0;
}

int gpc_vhost_msg_backend_check(uint32_t request, uint32_t size,
				unsigned int nfds, const char **reason)
{
	const struct rule *r = NULL;
	const char *why = NULL;

	if (request < GPC_VHOST_BACKEND_REQUEST_MAX &&
	    backend_rules[request].name)
		r = &backend_rules[request];
	if (!r)
		why = "unknown back-end request";
	else if (size < r->min || size > r->max)
		why = "payload size wrong for the back-end request";
	else if (nfds > (r->fds == FDS_NONE ? 0u : 1u))
		why = "fd count wrong for the back-end request";
	if (!why)
		return 0;
	if (reason)
		*reason = why;
	return -EINVAL;
}
