// SPDX-License-Identifier: MIT
/*
 * fuzz/fuzz_vhost_dev_fe.c - fuzz_vhost_dev's front-end: an op of the
 * input (fuzz_vhost_dev.c has the layout) becomes a vhost-user message
 * with its fds, or a descriptor chain written into guest memory and a
 * kick; what was sent is kept in a model (regions, ring addresses, kick
 * fds) so that later ops aim at valid values most of the time.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_vhost_dev.h"

const uint32_t supported[] = {
	GPC_VHOST_GET_FEATURES,
	GPC_VHOST_SET_FEATURES,
	GPC_VHOST_SET_OWNER,
	GPC_VHOST_RESET_OWNER,
	GPC_VHOST_SET_MEM_TABLE,
	GPC_VHOST_SET_LOG_BASE,
	GPC_VHOST_SET_LOG_FD,
	GPC_VHOST_SET_VRING_NUM,
	GPC_VHOST_SET_VRING_ADDR,
	GPC_VHOST_SET_VRING_BASE,
	GPC_VHOST_GET_VRING_BASE,
	GPC_VHOST_SET_VRING_KICK,
	GPC_VHOST_SET_VRING_CALL,
	GPC_VHOST_SET_VRING_ERR,
	GPC_VHOST_GET_PROTOCOL_FEATURES,
	GPC_VHOST_SET_PROTOCOL_FEATURES,
	GPC_VHOST_GET_QUEUE_NUM,
	GPC_VHOST_SET_VRING_ENABLE,
	GPC_VHOST_SET_BACKEND_REQ_FD,
	GPC_VHOST_IOTLB_MSG,
	GPC_VHOST_GET_CONFIG,
	GPC_VHOST_SET_CONFIG,
	GPC_VHOST_GET_INFLIGHT_FD,
	GPC_VHOST_SET_INFLIGHT_FD,
	GPC_VHOST_RESET_DEVICE,
	GPC_VHOST_GET_MAX_MEM_SLOTS,
	GPC_VHOST_ADD_MEM_REG,
	GPC_VHOST_REM_MEM_REG,
	GPC_VHOST_SET_STATUS,
	GPC_VHOST_GET_STATUS,
};
const unsigned int nsupported = sizeof(supported) / sizeof(supported[0]);
#define NSUP nsupported

static bool has_reply_body(uint32_t req)
{
	switch (req) {
	case GPC_VHOST_GET_FEATURES:
	case GPC_VHOST_GET_PROTOCOL_FEATURES:
	case GPC_VHOST_GET_QUEUE_NUM:
	case GPC_VHOST_GET_VRING_BASE:
	case GPC_VHOST_GET_CONFIG:
	case GPC_VHOST_GET_INFLIGHT_FD:
	case GPC_VHOST_GET_MAX_MEM_SLOTS:
	case GPC_VHOST_GET_STATUS:
	case GPC_VHOST_SET_LOG_BASE:
	case GPC_VHOST_IOTLB_MSG:
		return true;
	default:
		return false;
	}
}

/*
 * REGION: a region towards valid values from 32 raw bytes: inside memfd A
 * or B (bit 63 of the guest address), at one of four 1 MiB-spaced guest
 * and user bases (so two regions sometimes overlap), a page offset into
 * the fd and a page count that never pass the end of the file.
 */
static struct gpc_vhost_region fix_region(struct gpc_vhost_region w,
					  unsigned int *m_out)
{
	unsigned int m = (unsigned int)(w.guest_addr >> 63);
	uint64_t p = gpages[m], off, np;

	off = (w.mmap_offset & 1) ? (w.mmap_offset >> 1) % p : 0;
	np = (w.size & 1) ? 1 + (w.size >> 1) % (p - off) : p - off;
	if (past_eof || (w.size & 0x1f) == 0x1e)
		np = p; /* with an offset: past the end of the file */
	*m_out = m;
	return (struct gpc_vhost_region){
		.guest_addr = (1 + (w.guest_addr & 3)) * MIB +
			      ((w.guest_addr >> 8) & 3) * PS,
		.size = np * PS,
		.user_addr = UBASE + (w.user_addr & 3) * MIB +
			     ((w.user_addr >> 8) & 3) * PS,
		.mmap_offset = off * PS,
	};
}

static void model_add(struct fe *fe, const struct gpc_vhost_region *r,
		      unsigned int m)
{
	if (fe->nreg == MAX_MODEL_REG)
		return;
	fe->reg[fe->nreg++] = (struct mregion){ m, r->guest_addr, r->user_addr,
						r->size, r->mmap_offset };
}

static void model_rem(struct fe *fe, const struct gpc_vhost_region *w)
{
	for (unsigned int i = 0; i < fe->nreg; i++)
		if (fe->reg[i].gpa == w->guest_addr &&
		    fe->reg[i].uaddr == w->user_addr &&
		    fe->reg[i].size == w->size) {
			fe->reg[i] = fe->reg[--fe->nreg];
			return;
		}
}

/* The harness's pointer to [addr, + len) by user (or guest) address. */
static uint8_t *model_ptr(struct fe *fe, uint64_t addr, uint64_t len, bool gpa)
{
	for (unsigned int i = fe->nreg; i-- > 0;) {
		const struct mregion *r = &fe->reg[i];
		uint64_t base = gpa ? r->gpa : r->uaddr;

		if (addr < base || addr - base >= r->size ||
		    len > r->size - (addr - base))
			continue;
		if (r->off + (addr - base) + len > gpages[r->m] * PS)
			continue;
		return gmem[r->m] + r->off + (addr - base);
	}
	return NULL;
}

/* An address in a region of the model (user or guest) from one byte. */
static uint64_t model_addr(struct fe *fe, uint8_t sel, uint8_t sub, bool gpa)
{
	const struct mregion *r;
	uint64_t pages;

	if (!fe->nreg)
		return (gpa ? MIB : UBASE) + (uint64_t)sel * PS;
	r = &fe->reg[sel % fe->nreg];
	pages = r->size / PS;
	return (gpa ? r->gpa : r->uaddr) + ((sel >> 4) % pages) * PS +
	       (uint64_t)sub * 16;
}

/* ---- talking to the back-end -------------------------------------------- */

/* Read and drop what the back-end sent (closing any fd); false at EOF. */
static bool drain(struct fe *fe)
{
	for (;;) {
		char buf[512];
		union {
			struct cmsghdr align;
			char b[CMSG_SPACE(sizeof(int) * 16)];
		} ctl;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };
		ssize_t n =
			recvmsg(fe->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n > 0 && c;
		     c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_RIGHTS) {
				int *fds = (int *)CMSG_DATA(c);
				size_t k = (c->cmsg_len - CMSG_LEN(0)) /
					   sizeof(int);

				for (size_t i = 0; i < k; i++)
					close(fds[i]);
			}
		if (n > 0)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			fe->gone = true;
			return false;
		}
		return true;
	}
}

bool fzd_wait_reply(struct fe *fe, int ms)
{
	struct pollfd p = { .fd = fe->sock, .events = POLLIN };
	int n = poll(&p, 1, ms);

	if (n > 0) {
		drain(fe);
		return true;
	}
	return false;
}

static bool send_raw(struct fe *fe, const struct gpc_vhost_hdr *h,
		     const void *payload, size_t len, const int *fds,
		     unsigned int nfds)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * 16)];
	} ctl;
	struct iovec iov[2] = { { (void *)h, sizeof(*h) },
				{ (void *)payload, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	size_t total = sizeof(*h) + len, sent = 0;

	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (sent < total) {
		ssize_t n = sendmsg(fe->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fe->sock, .events = POLLOUT };

			drain(fe);
			if (poll(&p, 1, 100) <= 0)
				return false;
			continue;
		}
		if (n <= 0)
			return false;
		sent += (size_t)n;
		/* Only the first piece carries the fds. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (n > 0 && mh.msg_iovlen) {
			size_t k = (size_t)n < mh.msg_iov[0].iov_len ?
					   (size_t)n :
					   mh.msg_iov[0].iov_len;

			mh.msg_iov[0].iov_base =
				(char *)mh.msg_iov[0].iov_base + k;
			mh.msg_iov[0].iov_len -= k;
			n -= (ssize_t)k;
			if (!mh.msg_iov[0].iov_len) {
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
		}
	}
	return true;
}

/* ---- one message -------------------------------------------------------- */

static unsigned int fix_index(uint32_t raw)
{
	/* Mostly a queue of the device; sometimes one past or anything. */
	if (raw & 0x80)
		return raw;
	return raw % (NQ + ((raw & 0x40) ? 1 : 0));
}

void fzd_op_msg(struct fe *fe, struct in *in, bool raw_req)
{
	uint8_t r = u8(in), f = u8(in);
	uint32_t req = raw_req ? r : supported[r % NSUP];
	bool fix = !(f & 0x40);
	union gpc_vhost_payload pl;
	uint8_t buf[sizeof(pl) + 64];
	struct gpc_vhost_hdr h = {
		.request = req,
		.flags = GPC_VHOST_VERSION |
			 ((f & 1) ? GPC_VHOST_FLAG_NEED_REPLY : 0),
	};
	size_t natural = 0, len;
	int fds[16];
	unsigned int nfds = 0, want_fds = 0;
	int fdkind = 0; /* 0 eventfd, 1 memfd A/B by region */
	unsigned int regm[GPC_VHOST_MAX_REGIONS] = { 0 };
	int vring_kick_q = -1;
	unsigned int fdbase = req;
	bool ok;

	memset(&pl, 0, sizeof(pl));
	if (f & 2)
		h.flags = u8(in);
	switch (req) {
	case GPC_VHOST_SET_FEATURES:
		pl.u64 = u64(in);
		if (fix)
			pl.u64 &= (1ull << VIRTIO_F_VERSION_1) |
				  (1ull << VIRTIO_RING_F_EVENT_IDX) |
				  (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
				  (1ull << GPC_VHOST_F_PROTOCOL_FEATURES) |
				  (1ull << VHOST_F_LOG_ALL) |
				  (1ull << VIRTIO_F_ACCESS_PLATFORM);
		natural = 8;
		break;
	case GPC_VHOST_SET_PROTOCOL_FEATURES:
		pl.u64 = u64(in);
		if (fix)
			pl.u64 &= 0x1ffff;
		natural = 8;
		break;
	case GPC_VHOST_SET_STATUS:
		pl.u64 = u64(in);
		if (fix)
			pl.u64 &= 0xff;
		natural = 8;
		break;
	case GPC_VHOST_SET_MEM_TABLE: {
		uint32_t n = (uint32_t)u8(in);

		n = fix ? n % 4 : n;
		pl.mem.nregions = n;
		if (n > GPC_VHOST_MAX_REGIONS)
			n = GPC_VHOST_MAX_REGIONS;
		for (uint32_t i = 0; i < n; i++) {
			bytes(in, &pl.mem.regions[i],
			      sizeof(pl.mem.regions[i]));
			if (fix)
				pl.mem.regions[i] =
					fix_region(pl.mem.regions[i], &regm[i]);
		}
		natural = GPC_VHOST_MEM_TABLE_HDR_SIZE + 32 * n;
		want_fds = n;
		fdkind = 1;
		break;
	}
	case GPC_VHOST_ADD_MEM_REG:
	case GPC_VHOST_REM_MEM_REG:
		bytes(in, &pl.mem_reg.region, sizeof(pl.mem_reg.region));
		if (fix && req == GPC_VHOST_REM_MEM_REG && fe->nreg &&
		    !(pl.mem_reg.region.size & 1)) {
			/* Mostly one the model has. */
			const struct mregion *m =
				&fe->reg[pl.mem_reg.region.guest_addr %
					 fe->nreg];

			pl.mem_reg.region =
				(struct gpc_vhost_region){ m->gpa, m->size,
							   m->uaddr, m->off };
		} else if (fix) {
			pl.mem_reg.region =
				fix_region(pl.mem_reg.region, &regm[0]);
		}
		natural = sizeof(pl.mem_reg);
		want_fds = req == GPC_VHOST_ADD_MEM_REG;
		fdkind = 1;
		break;
	case GPC_VHOST_SET_VRING_NUM:
	case GPC_VHOST_SET_VRING_BASE:
	case GPC_VHOST_GET_VRING_BASE:
	case GPC_VHOST_SET_VRING_ENABLE:
		bytes(in, &pl.state, sizeof(pl.state));
		if (fix) {
			pl.state.index = fix_index(pl.state.index);
			if (req == GPC_VHOST_SET_VRING_NUM)
				pl.state.num = 1u << (pl.state.num % 10);
			else if (req == GPC_VHOST_SET_VRING_BASE)
				pl.state.num &=
					(pl.state.num & 0x100) ? 0xffff : 0xff;
			else if (req == GPC_VHOST_SET_VRING_ENABLE)
				pl.state.num &= 1;
		}
		natural = sizeof(pl.state);
		break;
	case GPC_VHOST_SET_VRING_ADDR:
		bytes(in, &pl.addr, sizeof(pl.addr));
		if (fix) {
			uint64_t d = pl.addr.desc_user_addr,
				 a = pl.addr.avail_user_addr,
				 u = pl.addr.used_user_addr;

			pl.addr.index = fix_index(pl.addr.index);
			pl.addr.flags &= 1;
			pl.addr.desc_user_addr = model_addr(
				fe, (uint8_t)d, (uint8_t)(d >> 8) & 3, false);
			pl.addr.avail_user_addr = model_addr(
				fe, (uint8_t)a, (uint8_t)(a >> 8) & 3, false);
			pl.addr.used_user_addr = model_addr(
				fe, (uint8_t)u, (uint8_t)(u >> 8) & 3, false);
			pl.addr.log_guest_addr &= 0xffff000;
		}
		natural = sizeof(pl.addr);
		break;
	case GPC_VHOST_SET_VRING_KICK:
	case GPC_VHOST_SET_VRING_CALL:
	case GPC_VHOST_SET_VRING_ERR:
		pl.u64 = u64(in);
		if (fix)
			pl.u64 = fix_index((uint32_t)pl.u64 & 0xff) |
				 (((pl.u64 >> 8) & 7) == 7 ?
					  GPC_VHOST_VRING_NOFD :
					  0);
		natural = 8;
		want_fds = !(pl.u64 & GPC_VHOST_VRING_NOFD);
		/* Each queue its own eventfd: kick 0 and 1 apart. */
		fdbase = req + 2 * (unsigned int)(pl.u64 & 1);
		if (req == GPC_VHOST_SET_VRING_KICK)
			vring_kick_q = (int)(pl.u64 & 0xff);
		break;
	case GPC_VHOST_GET_CONFIG:
	case GPC_VHOST_SET_CONFIG:
		bytes(in, &pl.config, GPC_VHOST_CONFIG_HDR_SIZE);
		if (fix) {
			pl.config.offset %= CFG_SIZE + 4;
			pl.config.size %= CFG_SIZE + 4;
			pl.config.flags &= 1;
		}
		len = pl.config.size < GPC_VHOST_MAX_CONFIG_SIZE ?
			      pl.config.size :
			      GPC_VHOST_MAX_CONFIG_SIZE;
		bytes(in, pl.config.payload, len);
		natural = GPC_VHOST_CONFIG_HDR_SIZE + len;
		break;
	case GPC_VHOST_SET_LOG_BASE:
		bytes(in, &pl.log, sizeof(pl.log));
		natural = sizeof(pl.log);
		want_fds = 1;
		break;
	case GPC_VHOST_SET_LOG_FD:
	case GPC_VHOST_SET_BACKEND_REQ_FD:
		want_fds = 1;
		break;
	case GPC_VHOST_IOTLB_MSG:
		bytes(in, &pl.iotlb, sizeof(pl.iotlb));
		natural = sizeof(pl.iotlb);
		break;
	case GPC_VHOST_GET_INFLIGHT_FD:
	case GPC_VHOST_SET_INFLIGHT_FD:
		bytes(in, &pl.inflight, sizeof(pl.inflight));
		natural = sizeof(pl.inflight);
		want_fds = req == GPC_VHOST_SET_INFLIGHT_FD;
		break;
	default:
		break;
	}

	/* The size field: mostly right. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &pl, natural);
	switch ((f >> 2) & 3) {
	case 2:
		len = natural + (size_t)(int8_t)u8(in);
		if (len > sizeof(buf)) /* negative: wrapped */
			len = 0;
		break;
	case 3:
		len = u8(in);
		len |= (size_t)u8(in) << 8;
		if (len > sizeof(buf))
			len = sizeof(buf);
		break;
	default:
		len = natural;
	}
	h.size = (uint32_t)len;

	/* The fds: mostly the ones the request carries. */
	switch ((f >> 4) & 3) {
	case 2:
		nfds = want_fds + 1 + u8(in) % 3;
		break;
	case 3:
		nfds = want_fds ? want_fds - 1 : 1;
		break;
	default:
		nfds = want_fds;
	}
	for (unsigned int i = 0; i < nfds; i++) {
		if (fdkind == 1 && i < want_fds)
			fds[i] = memfd[regm[i]];
		else
			fds[i] = evfd[(i + fdbase) % NEVFD];
	}

	ok = send_raw(fe, &h, buf, len, fds, nfds);
	if (!ok) {
		fe->gone = true;
		return;
	}

	/* What the front-end now believes. */
	{
		switch (req) {
		case GPC_VHOST_SET_PROTOCOL_FEATURES:
			fe->reply_ack =
				pl.u64 >> GPC_VHOST_PROTOCOL_F_REPLY_ACK & 1;
			break;
		case GPC_VHOST_SET_MEM_TABLE:
			if (!fix)
				break;
			fe->nreg = 0;
			for (uint32_t i = 0;
			     i < pl.mem.nregions && i < GPC_VHOST_MAX_REGIONS;
			     i++)
				model_add(fe, &pl.mem.regions[i], regm[i]);
			break;
		case GPC_VHOST_ADD_MEM_REG:
			if (fix)
				model_add(fe, &pl.mem_reg.region, regm[0]);
			break;
		case GPC_VHOST_REM_MEM_REG:
			model_rem(fe, &pl.mem_reg.region);
			break;
		case GPC_VHOST_SET_VRING_NUM:
			if (pl.state.index < NQ)
				fe->q[pl.state.index].num = pl.state.num;
			break;
		case GPC_VHOST_SET_VRING_ADDR:
			if (pl.addr.index < NQ) {
				struct mqueue *q = &fe->q[pl.addr.index];

				q->addr_set = true;
				q->desc = pl.addr.desc_user_addr;
				q->avail = pl.addr.avail_user_addr;
				q->used = pl.addr.used_user_addr;
			}
			break;
		case GPC_VHOST_SET_VRING_KICK:
			if (vring_kick_q >= 0 && vring_kick_q < NQ)
				fe->q[vring_kick_q].kick =
					want_fds && nfds ? fds[0] : -1;
			break;
		default:
			break;
		}
	}

	/* Replies: wait for one we expect, drain the rest. */
	if (has_reply_body(req) ||
	    ((h.flags & GPC_VHOST_FLAG_NEED_REPLY) && fe->reply_ack)) {
		if (!fzd_wait_reply(fe, REPLY_WAIT_MS) && !has_reply_body(req))
			fe->reply_ack = false; /* learn: no ack comes */
	} else {
		drain(fe);
	}
}

/* ---- a kick ------------------------------------------------------------- */

void fzd_op_kick(struct fe *fe, struct in *in)
{
	unsigned int qsel = u8(in), qi = qsel % NQ, nb = u8(in);
	/* Bit 7 of the queue byte: the avail index jumps (a broken driver). */
	uint16_t step = (qsel & 0x80) ? (uint16_t)(qsel << 3) : 1;
	struct mqueue *q = &fe->q[qi];
	unsigned int nd = 1 + nb % 4, nread = (nb >> 2) % (nd + 1);
	unsigned int num = q->num;
	struct vring_desc *desc = NULL;
	struct vring_avail *avail = NULL;
	struct vring_used *used = NULL;
	uint64_t one = 1;
	uint16_t head, idx, used0 = 0;
	int kfd = q->kick >= 0 ? q->kick : evfd[qi];

	if (num && num <= QMAX && q->addr_set) {
		desc = (void *)model_ptr(fe, q->desc, 16ull * num, false);
		avail = (void *)model_ptr(fe, q->avail, 6 + 2ull * num, false);
		used = (void *)model_ptr(fe, q->used, 6 + 8ull * num, false);
	}
	if (!desc || !avail || !used ||
	    ((uintptr_t)desc | (uintptr_t)avail) & 1 || (uintptr_t)used & 3) {
		/* Consume the descriptor bytes all the same. */
		for (unsigned int i = 0; i < nd; i++)
			(void)u8(in), (void)u8(in), (void)u8(in);
		if (write(kfd, &one, 8) != 8) {
			/* a full counter: the kick is pending anyway */
		}
		return;
	}
	head = (uint16_t)(nb >> 4) % num;
	for (unsigned int i = 0; i < nd; i++) {
		uint8_t fs = u8(in), lb = u8(in), bs = u8(in);
		uint16_t at = (uint16_t)((head + i) % num);
		uint64_t gpa = model_addr(fe, bs, lb & 3, true);
		uint32_t len = 1 + (uint32_t)lb * 16;
		uint16_t flags = 0;
		uint8_t *p;

		if (i + 1 < nd)
			flags |= VRING_DESC_F_NEXT;
		if (i >= nread)
			flags |= VRING_DESC_F_WRITE;
		if (fs & 0x80)
			flags = fs & 7; /* raw, INDIRECT included */
		desc[at] = (struct vring_desc){
			.addr = gpa,
			.len = (fs & 0x40) ? len * 64 : len,
			.flags = flags,
			.next = (fs & 0x20) ? fs % num : (at + 1) % num,
		};
		/* The first readable buffer says whether to hold it. */
		p = model_ptr(fe, gpa, 1, true);
		if (i == 0 && p)
			*p = (fs & 0x10) ? 'H' : 'x';
	}
	idx = atomic_load_explicit((_Atomic uint16_t *)&avail->idx,
				   memory_order_relaxed);
	avail->ring[idx % num] = head;
	used0 = atomic_load_explicit((_Atomic uint16_t *)&used->idx,
				     memory_order_acquire);
	atomic_store_explicit((_Atomic uint16_t *)&avail->idx,
			      (uint16_t)(idx + step), memory_order_release);
	if (write(kfd, &one, 8) != 8) {
		/* as above */
	}
	/* Give the datapath a moment, so that it runs before the close. */
	for (int t = 0; t < 20; t++) {
		if (atomic_load_explicit((_Atomic uint16_t *)&used->idx,
					 memory_order_acquire) != used0)
			break;
		usleep(50);
	}
}
