// SPDX-License-Identifier: MIT
/*
 * tools/vhost-fe/fe_sess.c - one front-end session: the negotiation in the
 * order QEMU uses (features, protocol features, owner, queue count, memory
 * slots, back-end channel, config; then features acked, memory, rings,
 * enable, status), the memory in either form, and starting and stopping
 * rings.
 *
 * Memory in two forms: the whole table (SET_MEM_TABLE, every region each
 * time) or region by region (ADD_MEM_REG / REM_MEM_REG, only when the
 * back-end offers CONFIGURE_MEM_SLOTS). A removal counts as complete when
 * the back-end answers: its REPLY_ACK, or, without REPLY_ACK, the reply
 * to a GET_FEATURES sent right after (the back-end handles messages in
 * order). From then on the back-end must not touch the region; the
 * front-end poisons it to be able to prove that.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include "fe.h"

#define EXTRA_GPA  0x100000000ull /* 4 GiB: far from region 0 */
#define EXTRA_SIZE (2ull << 20)
#define META_SIZE  32 /* header 16 + status 1, rounded */

static uint64_t want_features(const struct fe_sess *s, uint64_t offered)
{
	const struct fe_opts *o = s->o;
	uint64_t w = 1ull << VIRTIO_F_VERSION_1;
	uint64_t opt =
		(1ull << GPC_VHOST_F_PROTOCOL_FEATURES) |
		(1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		(1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_MQ) |
		(1ull << VIRTIO_BLK_F_TOPOLOGY);

	if (!o->no_event_idx)
		opt |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (o->indirect)
		opt |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	if (o->iotlb)
		opt |= 1ull << VIRTIO_F_ACCESS_PLATFORM;
	return w | (opt & offered);
}

int fe_sess_init(struct fe_sess *s, const struct fe_opts *o,
		 struct fe_stats *st)
{
	int err, ri;

	memset(s, 0, sizeof(*s));
	s->o = o;
	s->st = st;
	s->c.sock = -1;
	s->c.backend_sock = -1;
	s->rng = o->seed ? o->seed : 1;
	ri = fe_mem_add(&s->mem, 0, o->mem_mb << 20);
	if (ri < 0)
		return ri;
	s->extra = fe_mem_add(&s->mem, EXTRA_GPA, EXTRA_SIZE);
	if (s->extra < 0)
		return s->extra;
	s->mem.r[s->extra].allocatable = false;
	s->blk.blocks = o->blocks;
	s->blk.gen = calloc(o->blocks, sizeof(*s->blk.gen));
	s->blk.busy = calloc(o->blocks, 1);
	s->blk.gen_alt = calloc(o->blocks, sizeof(*s->blk.gen_alt));
	s->blk.expect_zero = o->expect_zero;
	s->blk.next_gen = 1;
	s->reqs = calloc((size_t)FE_MAX_QUEUES * o->qdepth, sizeof(*s->reqs));
	if (o->churn_inflight)
		s->snaps = calloc((size_t)FE_MAX_QUEUES * o->qdepth, FE_BLOCK);
	if (!s->blk.gen || !s->blk.gen_alt || !s->blk.busy || !s->reqs ||
	    (o->churn_inflight && !s->snaps))
		return -ENOMEM;
	s->meta_pages = ((uint64_t)FE_MAX_QUEUES * o->qdepth * META_SIZE +
			 FE_BLOCK - 1) /
			FE_BLOCK;
	s->meta_gpa = fe_page_alloc(&s->mem, 0, s->meta_pages);
	if (!s->meta_gpa)
		return -ENOMEM;
	for (unsigned int q = 0; q < FE_MAX_QUEUES; q++) {
		for (unsigned int i = 0; i < o->qdepth; i++) {
			struct fe_req *r = &s->reqs[q * o->qdepth + i];

			r->q = q;
			if (s->snaps)
				r->snap =
					s->snaps +
					(size_t)(q * o->qdepth + i) * FE_BLOCK;
			r->meta_gpa = s->meta_gpa +
				      (uint64_t)(q * o->qdepth + i) * META_SIZE;
			r->next_free = s->free_req[q];
			s->free_req[q] = r;
		}
	}
	err = 0;
	return err;
}

void fe_sess_destroy(struct fe_sess *s)
{
	fe_conn_close(&s->c);
	for (unsigned int q = 0; q < s->nq; q++)
		fe_vq_destroy(&s->vq[q], &s->mem);
	fe_mem_destroy(&s->mem);
	free(s->blk.gen);
	free(s->blk.busy);
	free(s->blk.gen_alt);
	free(s->reqs);
	free(s->snaps);
}

void fe_poison(struct fe_mem *m, uint64_t gpa, uint64_t bytes)
{
	uint64_t *p = fe_gpa_to_hva(m, gpa, bytes);

	for (uint64_t i = 0; i < bytes / 8; i++)
		p[i] = FE_POISON ^ i;
}

uint64_t fe_poison_check(struct fe_mem *m, uint64_t gpa, uint64_t bytes)
{
	const uint64_t *p = fe_gpa_to_hva(m, gpa, bytes);
	uint64_t bad = 0;

	for (uint64_t i = 0; i < bytes / 8; i++)
		bad += p[i] != (FE_POISON ^ i);
	return bad;
}

int fe_sess_negotiate(struct fe_sess *s)
{
	struct fe_conn *c = &s->c;
	const struct fe_opts *o = s->o;
	struct gpc_vhost_msg rep;
	struct gpc_vhost_config_msg cfg = { .offset = 0, .size = 36 };
	uint64_t qnum = 1, pf_want;
	int err;

	err = fe_get_u64(c, GPC_VHOST_GET_FEATURES, &c->features);
	if (err)
		return err;
	if (!(c->features & (1ull << VIRTIO_F_VERSION_1))) {
		fprintf(stderr, "fe: back-end does not offer VERSION_1\n");
		return -EPROTO;
	}
	if (c->features & (1ull << GPC_VHOST_F_PROTOCOL_FEATURES)) {
		err = fe_get_u64(c, GPC_VHOST_GET_PROTOCOL_FEATURES,
				 &c->pfeatures);
		if (err)
			return err;
		pf_want = (1ull << GPC_VHOST_PROTOCOL_F_REPLY_ACK) |
			  (1ull << GPC_VHOST_PROTOCOL_F_CONFIG) |
			  (1ull << GPC_VHOST_PROTOCOL_F_MQ) |
			  (1ull << GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
			  (1ull << GPC_VHOST_PROTOCOL_F_BACKEND_REQ) |
			  (1ull << GPC_VHOST_PROTOCOL_F_STATUS);
		c->packed = c->pfeatures & pf_want;
		err = fe_set_u64(c, GPC_VHOST_SET_PROTOCOL_FEATURES, c->packed,
				 NULL, 0);
		if (err)
			return err;
		c->reply_ack = fe_has_pf(c, GPC_VHOST_PROTOCOL_F_REPLY_ACK);
	}
	err = fe_set(c, GPC_VHOST_SET_OWNER, NULL, 0, NULL, 0);
	if (err)
		return err;
	if (fe_has_pf(c, GPC_VHOST_PROTOCOL_F_MQ)) {
		err = fe_get_u64(c, GPC_VHOST_GET_QUEUE_NUM, &qnum);
		if (err)
			return err;
	}
	if (fe_has_pf(c, GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) {
		err = fe_get_u64(c, GPC_VHOST_GET_MAX_MEM_SLOTS, &s->max_slots);
		if (err)
			return err;
	}
	if (fe_has_pf(c, GPC_VHOST_PROTOCOL_F_BACKEND_REQ)) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			return -errno;
		err = fe_set(c, GPC_VHOST_SET_BACKEND_REQ_FD, NULL, 0, &sv[1],
			     1);
		close(sv[1]);
		c->backend_sock = sv[0];
		if (err)
			return err;
	}
	if (fe_has_pf(c, GPC_VHOST_PROTOCOL_F_CONFIG)) {
		err = fe_call(c, GPC_VHOST_GET_CONFIG, &cfg,
			      GPC_VHOST_CONFIG_HDR_SIZE + cfg.size, &rep,
			      GPC_VHOST_CONFIG_HDR_SIZE + cfg.size);
		if (err)
			return err;
		struct virtio_blk_config bc;

		memcpy(&bc, rep.payload.config.payload, 36);
		s->blk.capacity_sectors = bc.capacity;
		if ((c->features & (1ull << VIRTIO_BLK_F_MQ)) &&
		    bc.num_queues < qnum)
			qnum = bc.num_queues;
	}
	if (o->queues > qnum) {
		fprintf(stderr, "fe: back-end has %llu queues, %u asked\n",
			(unsigned long long)qnum, o->queues);
		return -ERANGE;
	}
	if (s->blk.capacity_sectors &&
	    s->blk.capacity_sectors / (FE_BLOCK / FE_SECTOR) < s->blk.blocks) {
		fprintf(stderr, "fe: capacity %llu sectors < %llu blocks\n",
			(unsigned long long)s->blk.capacity_sectors,
			(unsigned long long)s->blk.blocks);
		return -ERANGE;
	}
	c->acked = want_features(s, c->features);
	s->iotlb = c->acked & (1ull << VIRTIO_F_ACCESS_PLATFORM);
	s->has_flush = c->acked & (1ull << VIRTIO_BLK_F_FLUSH);
	err = fe_set_u64(c, GPC_VHOST_SET_FEATURES, c->acked, NULL, 0);
	if (err)
		return err;
	fe_log("features offered %#llx acked %#llx protocol offered %#llx "
	       "acked %#llx queues %llu max_slots %llu capacity %llu\n",
	       (unsigned long long)c->features, (unsigned long long)c->acked,
	       (unsigned long long)c->pfeatures, (unsigned long long)c->packed,
	       (unsigned long long)qnum, (unsigned long long)s->max_slots,
	       (unsigned long long)s->blk.capacity_sectors);
	return 0;
}

static int send_table(struct fe_sess *s)
{
	struct gpc_vhost_mem_table t = { 0 };
	int fds[FE_MAX_REGIONS];

	for (unsigned int i = 0; i < s->mem.n; i++) {
		if (!s->mem.r[i].added)
			continue;
		fe_region_to_wire(&s->mem.r[i], &t.regions[t.nregions]);
		fds[t.nregions++] = s->mem.r[i].fd;
	}
	return fe_set(&s->c, GPC_VHOST_SET_MEM_TABLE, &t,
		      (uint32_t)(GPC_VHOST_MEM_TABLE_HDR_SIZE +
				 t.nregions * sizeof(t.regions[0])),
		      fds, t.nregions);
}

static int iotlb_msg(struct fe_sess *s, const struct fe_region *r, uint8_t type)
{
	struct vhost_iotlb_msg m = { .iova = r->gpa,
				     .size = r->size,
				     .uaddr = (uint64_t)(uintptr_t)r->hva,
				     .perm = VHOST_ACCESS_RW,
				     .type = type };
	struct gpc_vhost_msg rep;
	int err;

	if (!s->iotlb)
		return 0;
	/* IOTLB_MSG has a reply body of its own: a u64 status. */
	err = fe_call(&s->c, GPC_VHOST_IOTLB_MSG, &m, sizeof(m), &rep, 8);
	if (!err && rep.payload.u64)
		err = -EIO;
	if (type == VHOST_IOTLB_UPDATE)
		s->st->iotlb_updates++;
	else
		s->st->iotlb_invals++;
	return err;
}

int fe_sess_iotlb(struct fe_sess *s, int ri, uint8_t type)
{
	return iotlb_msg(s, &s->mem.r[ri], type);
}

int fe_sess_region_add(struct fe_sess *s, int ri)
{
	struct fe_region *r = &s->mem.r[ri];
	int err;

	r->added = true;
	if (s->slots) {
		struct gpc_vhost_mem_reg mr = { 0 };

		fe_region_to_wire(r, &mr.region);
		err = fe_set(&s->c, GPC_VHOST_ADD_MEM_REG, &mr, sizeof(mr),
			     &r->fd, 1);
	} else {
		err = send_table(s);
	}
	if (!err)
		err = iotlb_msg(s, r, VHOST_IOTLB_UPDATE);
	if (!err)
		s->st->mem_adds++;
	return err;
}

int fe_sess_region_rem(struct fe_sess *s, int ri, uint64_t *ns)
{
	struct fe_region *r = &s->mem.r[ri];
	uint64_t t0, v;
	int err;

	err = iotlb_msg(s, r, VHOST_IOTLB_INVALIDATE);
	if (err)
		return err;
	r->added = false;
	t0 = fe_now_ns();
	if (s->slots) {
		struct gpc_vhost_mem_reg mr = { 0 };

		fe_region_to_wire(r, &mr.region);
		/*
		 * The fd too: the spec lets a back-end ignore it, and
		 * libvhost-user (qemu-storage-daemon) insists on one.
		 */
		err = fe_set(&s->c, GPC_VHOST_REM_MEM_REG, &mr, sizeof(mr),
			     &r->fd, 1);
	} else {
		err = send_table(s);
	}
	if (!err && !s->c.reply_ack)
		err = fe_get_u64(&s->c, GPC_VHOST_GET_FEATURES, &v);
	if (err)
		return err;
	*ns = fe_now_ns() - t0;
	s->st->mem_rems++;
	return 0;
}

int fe_sess_set_memory(struct fe_sess *s)
{
	bool can_slots =
		fe_has_pf(&s->c, GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
	int err;

	s->slots = !s->o->table_form && can_slots;
	if (!s->o->table_form && !can_slots)
		fe_log("no CONFIGURE_MEM_SLOTS: whole-table form\n");
	for (unsigned int i = 0; i < s->mem.n; i++)
		s->mem.r[i].added = false;
	/* QEMU sends a first table even in the slot form; so do we. */
	s->mem.r[0].added = true;
	err = send_table(s);
	if (!err)
		err = iotlb_msg(s, &s->mem.r[0], VHOST_IOTLB_UPDATE);
	return err;
}

int fe_sess_start_ring(struct fe_sess *s, unsigned int qi)
{
	struct fe_vq *q = &s->vq[qi];
	struct vhost_vring_state st = { .index = qi, .num = q->num };
	struct vhost_vring_addr a;
	int err;

	err = fe_set(&s->c, GPC_VHOST_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	st.num = q->avail_idx; /* where the device resumes */
	if (!err)
		err = fe_set(&s->c, GPC_VHOST_SET_VRING_BASE, &st, sizeof(st),
			     NULL, 0);
	fe_vq_addr(q, &s->mem, &a);
	if (s->iotlb) {
		/*
		 * With ACCESS_PLATFORM the ring addresses are IOVAs, as QEMU
		 * sends them; ours are identity-mapped to the GPAs.
		 */
		a.desc_user_addr = fe_hva_to_gpa(&s->mem, q->desc);
		a.avail_user_addr = fe_hva_to_gpa(&s->mem, q->avail);
		a.used_user_addr = fe_hva_to_gpa(&s->mem, q->used);
	}
	if (!err)
		err = fe_set(&s->c, GPC_VHOST_SET_VRING_ADDR, &a, sizeof(a),
			     NULL, 0);
	if (!err)
		err = fe_set_u64(&s->c, GPC_VHOST_SET_VRING_KICK, qi,
				 &q->kick_fd, 1);
	if (!err)
		err = fe_set_u64(&s->c, GPC_VHOST_SET_VRING_CALL, qi,
				 &q->call_fd, 1);
	st.num = 1;
	if (!err && (s->c.acked & (1ull << GPC_VHOST_F_PROTOCOL_FEATURES)))
		err = fe_set(&s->c, GPC_VHOST_SET_VRING_ENABLE, &st, sizeof(st),
			     NULL, 0);
	return err;
}

int fe_sess_stop_ring(struct fe_sess *s, unsigned int qi)
{
	struct vhost_vring_state st = { .index = qi };
	struct gpc_vhost_msg rep;
	int err;

	err = fe_call(&s->c, GPC_VHOST_GET_VRING_BASE, &st, sizeof(st), &rep,
		      sizeof(st));
	if (err)
		return err;
	if (rep.payload.state.index != qi ||
	    rep.payload.state.num != s->vq[qi].avail_idx) {
		fprintf(stderr,
			"fe: GET_VRING_BASE q%u: index %u base %u, expected "
			"base %u\n",
			qi, rep.payload.state.index, rep.payload.state.num,
			s->vq[qi].avail_idx);
		return -EPROTO;
	}
	return 0;
}

int fe_sess_connect(struct fe_sess *s)
{
	const struct fe_opts *o = s->o;
	int err = fe_conn_open(&s->c, o->socket, o->timeout_ms);

	s->c.verbose = o->verbose;
	if (!err)
		err = fe_sess_negotiate(s);
	if (!err)
		err = fe_sess_set_memory(s);
	for (unsigned int qi = 0; !err && qi < o->queues; qi++) {
		struct fe_vq *q = &s->vq[qi];

		if (!q->stack) {
			bool ev = s->c.acked &
				  (1ull << VIRTIO_RING_F_EVENT_IDX);
			bool ind = s->c.acked &
				   (1ull << VIRTIO_RING_F_INDIRECT_DESC);

			err = fe_vq_init(q, &s->mem, qi, o->ring_num, ev, ind);
			if (err)
				break;
			q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (q->kick_fd < 0 || q->call_fd < 0) {
				err = -errno;
				break;
			}
			s->nq = qi + 1;
		} else {
			fe_vq_reset(q);
		}
		err = fe_sess_start_ring(s, qi);
	}
	if (!err && fe_has_pf(&s->c, GPC_VHOST_PROTOCOL_F_STATUS))
		err = fe_set_u64(&s->c, GPC_VHOST_SET_STATUS,
				 VIRTIO_CONFIG_S_ACKNOWLEDGE |
					 VIRTIO_CONFIG_S_DRIVER |
					 VIRTIO_CONFIG_S_FEATURES_OK |
					 VIRTIO_CONFIG_S_DRIVER_OK,
				 NULL, 0);
	if (err)
		fprintf(stderr, "fe: connecting to %s: %s\n", o->socket,
			strerror(-err));
	return err;
}

int fe_sess_disconnect(struct fe_sess *s)
{
	int err = 0;

	for (unsigned int qi = 0; qi < s->nq && !err; qi++)
		err = fe_sess_stop_ring(s, qi);
	fe_conn_close(&s->c);
	return err;
}
