// SPDX-License-Identifier: MIT
/*
 * tools/vhost-fe/fe_conf.c - protocol conformance cases: malformed or
 * out-of-order messages a back-end must survive.
 *
 * Each case runs on a connection of its own, brought to the state the
 * case needs (just connected, negotiated, or with memory), then sends one
 * bad message - with need_reply when REPLY_ACK is negotiated, so that the
 * back-end has a way to say no. Outcomes a correct back-end may choose:
 *   "error reply"  a non-zero REPLY_ACK status
 *   "disconnect"   it closed the connection (then a new connection must
 *                  be accepted and answer GET_FEATURES)
 * Both pass; which one it chose is printed (qemu-storage-daemon's
 * libvhost-user often disconnects where our back-end replies). A back-end
 * that acknowledges a bad message with 0, or never answers, fails. The
 * cases marked "survive" (messages before the negotiation, when no
 * REPLY_ACK can be asked) only require that the back-end still works.
 * A case listed in --known-accepts that is acknowledged with 0 is reported
 * NOT-SUPPORTED (the back-end does not check it) instead of FAIL, provided
 * the back-end still works afterwards.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fe.h"

enum prep { P_NONE, P_NEG, P_MEM };

struct conf_case {
	const char *name;
	enum prep prep;
	bool strict;  /* a rejection is required */
	uint32_t req; /* the request sent, whose ack is awaited */
	/* Send the bad message: 0, or 1 with *why for NOT-SUPPORTED. */
	int (*send)(struct fe_sess *s, const char **why);
};

static uint32_t flags_of(struct fe_sess *s)
{
	return GPC_VHOST_VERSION |
	       (s->c.reply_ack ? GPC_VHOST_FLAG_NEED_REPLY : 0);
}

static int raw(struct fe_sess *s, uint32_t req, const void *p, uint32_t size,
	       const int *fds, unsigned int nfds)
{
	return fe_send_raw(&s->c, req, flags_of(s), p, size, fds, nfds);
}

static int c_wrong_size(struct fe_sess *s, const char **why)
{
	uint32_t half = 256;

	(void)why;
	return raw(s, GPC_VHOST_SET_VRING_NUM, &half, 4, NULL, 0);
}

static int c_oversize(struct fe_sess *s, const char **why)
{
	/*
	 * A header announcing 1 MiB (beyond any payload) and nothing after
	 * it: a back-end must refuse it, not wait for the bytes.
	 */
	struct gpc_vhost_hdr h = { .request = GPC_VHOST_SET_MEM_TABLE,
				   .flags = flags_of(s),
				   .size = 1u << 20 };

	(void)why;
	return write(s->c.sock, &h, sizeof(h)) == sizeof(h) ? 0 : -errno;
}

static int c_bad_version(struct fe_sess *s, const char **why)
{
	(void)why;
	return fe_send_raw(&s->c, GPC_VHOST_GET_FEATURES, 0x2, NULL, 0, NULL,
			   0);
}

static int c_unknown(struct fe_sess *s, const char **why)
{
	uint64_t v = 0;

	(void)why;
	return raw(s, 200, &v, 8, NULL, 0);
}

static int table_of(struct fe_sess *s, struct gpc_vhost_mem_table *t, int *fds)
{
	memset(t, 0, sizeof(*t));
	t->nregions = 1;
	fe_region_to_wire(&s->mem.r[0], &t->regions[0]);
	fds[0] = s->mem.r[0].fd;
	return (int)(GPC_VHOST_MEM_TABLE_HDR_SIZE + sizeof(t->regions[0]));
}

static int c_too_many_fds(struct fe_sess *s, const char **why)
{
	struct gpc_vhost_mem_table t;
	int fds[12];
	int size = table_of(s, &t, fds);

	(void)why;
	for (int i = 1; i < 12; i++)
		fds[i] = s->mem.r[0].fd;
	return raw(s, GPC_VHOST_SET_MEM_TABLE, &t, (uint32_t)size, fds, 12);
}

static int c_fd_count_mismatch(struct fe_sess *s, const char **why)
{
	struct gpc_vhost_mem_table t;
	int fds[1];
	int size = table_of(s, &t, fds);

	(void)why;
	/* Two regions announced, one fd given. */
	t.nregions = 2;
	t.regions[1] = t.regions[0];
	t.regions[1].guest_addr = 1ull << 32;
	return raw(s, GPC_VHOST_SET_MEM_TABLE, &t,
		   (uint32_t)size + sizeof(t.regions[0]), fds, 1);
}

static int c_overlap_table(struct fe_sess *s, const char **why)
{
	struct gpc_vhost_mem_table t;
	int fds[2];
	int size = table_of(s, &t, fds);

	(void)why;
	t.nregions = 2;
	t.regions[1] = t.regions[0];
	t.regions[1].guest_addr = t.regions[0].size / 2;
	t.regions[1].size = t.regions[0].size / 2;
	t.regions[1].user_addr += t.regions[0].size / 2;
	t.regions[1].mmap_offset = t.regions[0].size / 2;
	fds[1] = fds[0];
	return raw(s, GPC_VHOST_SET_MEM_TABLE, &t,
		   (uint32_t)size + sizeof(t.regions[0]), fds, 2);
}

static int c_overlap_add(struct fe_sess *s, const char **why)
{
	struct gpc_vhost_mem_reg mr = { 0 };

	if (!fe_has_pf(&s->c, GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) {
		*why = "CONFIGURE_MEM_SLOTS not offered";
		return 1;
	}
	fe_region_to_wire(&s->mem.r[0], &mr.region);
	mr.region.guest_addr += FE_BLOCK; /* half inside region 0 */
	mr.region.size = 2 * FE_BLOCK;
	mr.region.user_addr += 1ull << 40;
	return raw(s, GPC_VHOST_ADD_MEM_REG, &mr, sizeof(mr), &s->mem.r[0].fd,
		   1);
}

static int c_rem_unknown(struct fe_sess *s, const char **why)
{
	struct gpc_vhost_mem_reg mr = { 0 };

	if (!fe_has_pf(&s->c, GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) {
		*why = "CONFIGURE_MEM_SLOTS not offered";
		return 1;
	}
	fe_region_to_wire(&s->mem.r[s->extra], &mr.region);
	return raw(s, GPC_VHOST_REM_MEM_REG, &mr, sizeof(mr),
		   &s->mem.r[s->extra].fd, 1);
}

static int c_vring_index(struct fe_sess *s, const char **why)
{
	struct vhost_vring_state st = { .index = 200, .num = 256 };

	(void)why;
	return raw(s, GPC_VHOST_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
}

static int c_num_pow2(struct fe_sess *s, const char **why)
{
	struct vhost_vring_state st = { .index = 0, .num = 100 };

	(void)why;
	return raw(s, GPC_VHOST_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
}

static int c_num_max(struct fe_sess *s, const char **why)
{
	struct vhost_vring_state st = { .index = 0, .num = 65536 };

	(void)why;
	return raw(s, GPC_VHOST_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
}

static int c_addr_outside(struct fe_sess *s, const char **why)
{
	struct vhost_vring_addr a = { .index = 0 };
	uint64_t far = (uint64_t)(uintptr_t)s->mem.r[0].hva + s->mem.r[0].size +
		       (1ull << 30);

	(void)why;
	a.desc_user_addr = far;
	a.avail_user_addr = far + 4096;
	a.used_user_addr = far + 8192;
	return raw(s, GPC_VHOST_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

static int c_kick_no_fd(struct fe_sess *s, const char **why)
{
	uint64_t v = 0; /* index 0, no NOFD bit, and no fd */

	(void)why;
	return raw(s, GPC_VHOST_SET_VRING_KICK, &v, 8, NULL, 0);
}

static int c_config_too_big(struct fe_sess *s, const char **why)
{
	struct gpc_vhost_config_msg cfg = { .offset = 0, .size = 4096 };

	if (!fe_has_pf(&s->c, GPC_VHOST_PROTOCOL_F_CONFIG)) {
		*why = "CONFIG not offered";
		return 1;
	}
	return raw(s, GPC_VHOST_GET_CONFIG, &cfg, GPC_VHOST_CONFIG_HDR_SIZE + 8,
		   NULL, 0);
}

static int c_before_owner(struct fe_sess *s, const char **why)
{
	struct vhost_vring_state st = { .index = 0, .num = 256 };

	(void)why;
	return raw(s, GPC_VHOST_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
}

static int c_mem_before_features(struct fe_sess *s, const char **why)
{
	struct gpc_vhost_mem_table t;
	int fds[1];
	int size = table_of(s, &t, fds);

	(void)why;
	return raw(s, GPC_VHOST_SET_MEM_TABLE, &t, (uint32_t)size, fds, 1);
}

static int c_kick_before_mem(struct fe_sess *s, const char **why)
{
	uint64_t v = GPC_VHOST_VRING_NOFD;

	(void)why;
	return raw(s, GPC_VHOST_SET_VRING_KICK, &v, 8, NULL, 0);
}

static const struct conf_case cases[] = {
	{ "wrong_size", P_NEG, true, GPC_VHOST_SET_VRING_NUM, c_wrong_size },
	{ "oversize_header", P_NEG, true, GPC_VHOST_SET_MEM_TABLE, c_oversize },
	{ "bad_version", P_NEG, true, GPC_VHOST_GET_FEATURES, c_bad_version },
	{ "unknown_request", P_NEG, true, 200, c_unknown },
	{ "too_many_fds", P_NEG, true, GPC_VHOST_SET_MEM_TABLE,
	  c_too_many_fds },
	{ "fd_count_mismatch", P_NEG, true, GPC_VHOST_SET_MEM_TABLE,
	  c_fd_count_mismatch },
	{ "overlapping_regions_table", P_NEG, true, GPC_VHOST_SET_MEM_TABLE,
	  c_overlap_table },
	{ "overlapping_region_add", P_MEM, true, GPC_VHOST_ADD_MEM_REG,
	  c_overlap_add },
	{ "rem_unknown_region", P_MEM, true, GPC_VHOST_REM_MEM_REG,
	  c_rem_unknown },
	{ "vring_index_out_of_range", P_MEM, true, GPC_VHOST_SET_VRING_NUM,
	  c_vring_index },
	{ "vring_num_not_pow2", P_MEM, true, GPC_VHOST_SET_VRING_NUM,
	  c_num_pow2 },
	{ "vring_num_above_max", P_MEM, true, GPC_VHOST_SET_VRING_NUM,
	  c_num_max },
	{ "vring_addr_outside_memory", P_MEM, true, GPC_VHOST_SET_VRING_ADDR,
	  c_addr_outside },
	{ "vring_kick_without_fd", P_MEM, true, GPC_VHOST_SET_VRING_KICK,
	  c_kick_no_fd },
	{ "get_config_too_big", P_NEG, true, GPC_VHOST_GET_CONFIG,
	  c_config_too_big },
	{ "vring_num_before_owner", P_NONE, false, GPC_VHOST_SET_VRING_NUM,
	  c_before_owner },
	{ "mem_table_before_features", P_NONE, false, GPC_VHOST_SET_MEM_TABLE,
	  c_mem_before_features },
	{ "vring_kick_before_memory", P_NONE, false, GPC_VHOST_SET_VRING_KICK,
	  c_kick_before_mem },
};

/* Does a new connection get an answer to GET_FEATURES? */
static bool alive(const struct fe_opts *o)
{
	struct fe_conn c;
	uint64_t f;
	bool ok = fe_conn_open(&c, o->socket, o->timeout_ms) == 0 &&
		  fe_get_u64(&c, GPC_VHOST_GET_FEATURES, &f) == 0;

	fe_conn_close(&c);
	return ok;
}

/*
 * Is @name in the comma list @p? For --known-accepts NAME,...: cases this
 * back-end is known to accept without a word (qemu-storage-daemon's
 * libvhost-user checks no ring size or region overlap; they must still
 * leave it working), and for --skip-cases.
 */
static bool in_list(const char *p, const char *name)
{
	size_t n = strlen(name);

	while (p && *p) {
		if (!strncmp(p, name, n) && (p[n] == ',' || !p[n]))
			return true;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return false;
}

/* The reply size of a well-formed answer to what the case sent. */
static uint32_t expect_size(uint32_t req)
{
	if (req == GPC_VHOST_GET_CONFIG)
		return GPC_VHOST_CONFIG_HDR_SIZE + 4096; /* what was asked */
	return 8;
}

static int run_case(const struct fe_opts *o, const struct conf_case *k,
		    char *out, size_t outlen)
{
	struct fe_stats st = { 0 };
	struct fe_sess s;
	const char *why = "";
	const char *how;
	uint64_t f;
	int err, ack = 1, rc;

	/*
	 * --skip-cases: a case that crashes the back-end (e.g. a write out of
	 * bounds) would make every later case fail for a reason of its own.
	 */
	if (in_list(o->skip_cases, k->name)) {
		snprintf(out, outlen,
			 "NOT-RUN (--skip-cases: it crashes this "
			 "back-end)");
		return 0;
	}
	err = fe_sess_init(&s, o, &st);
	if (!err)
		err = fe_conn_open(&s.c, o->socket, o->timeout_ms);
	if (!err && k->prep >= P_NEG)
		err = fe_sess_negotiate(&s);
	if (!err && k->prep >= P_MEM)
		err = fe_sess_set_memory(&s);
	if (err) {
		snprintf(out, outlen, "FAIL (setup: %s)", strerror(-err));
		fe_sess_destroy(&s);
		return 1;
	}
	rc = k->send(&s, &why);
	if (rc == 1) {
		snprintf(out, outlen, "NOT-SUPPORTED (%s)", why);
		fe_sess_destroy(&s);
		return 0;
	}
	/* Our send may fail if the back-end already hung up: that is fine. */
	if (!rc && gpc_vhost_msg_has_reply(k->req)) {
		/*
		 * A request with a reply body of its own: any reply is an
		 * answer; one of the wrong size is how a back-end says no
		 * (qemu-storage-daemon answers a bad GET_CONFIG with size 0).
		 */
		struct gpc_vhost_msg m;

		ack = fe_recv_msg(&s.c, &m);
		if (!ack) {
			gpc_vhost_msg_close_fds(&m);
			ack = m.hdr.request == k->req &&
					      m.hdr.size !=
						      expect_size(k->req) ?
				      -EIO :
				      0;
		}
	} else if (s.c.reply_ack && !rc) {
		ack = fe_wait_ack(&s.c, k->req);
	}
	/* The probe on the same connection, then on a new one. */
	err = rc ? -EPIPE : fe_get_u64(&s.c, GPC_VHOST_GET_FEATURES, &f);
	fe_conn_close(&s.c);
	if (ack == -EIO)
		how = "error reply";
	else if (ack == -EPIPE || err == -EPIPE || rc)
		how = "disconnect";
	else if (ack == 0)
		how = "acked 0";
	else if (ack == 1)
		how = "no reply asked";
	else if (ack == -EBADMSG)
		how = "a reply of another request";
	else
		how = "no reply";
	if (!alive(o)) {
		snprintf(out, outlen,
			 "FAIL (%s; then no new connection "
			 "answered)",
			 how);
		fe_sess_destroy(&s);
		return 1;
	}
	fe_sess_destroy(&s);
	if (!strcmp(how, "error reply") || !strcmp(how, "disconnect")) {
		snprintf(out, outlen, "PASS (%s%s)", how,
			 !strcmp(how, "disconnect") ?
				 ", new connection accepted" :
				 "");
		return 0;
	}
	if (!k->strict) {
		snprintf(out, outlen, "PASS (survived: %s, still answers)",
			 how);
		return 0;
	}
	if (in_list(o->known_accepts, k->name)) {
		snprintf(out, outlen,
			 "NOT-SUPPORTED (%s: the back-end does "
			 "not check this, known; it survived)",
			 how);
		return 0;
	}
	snprintf(out, outlen, "FAIL (%s; the bad message was not refused)",
		 how);
	return 1;
}

int fe_run_conformance(const struct fe_opts *o)
{
	unsigned int pass = 0, fail = 0, ns = 0;
	char res[160];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int bad = run_case(o, &cases[i], res, sizeof(res));

		printf("conf: %-28s %s\n", cases[i].name, res);
		fflush(stdout);
		if (bad)
			fail++;
		else if (!strncmp(res, "NOT", 3)) /* NOT-SUPPORTED, NOT-RUN */
			ns++;
		else
			pass++;
	}
	printf("fe: conformance cases=%zu pass=%u fail=%u not_supported=%u "
	       "result=%s\n",
	       sizeof(cases) / sizeof(cases[0]), pass, fail, ns,
	       fail ? "fail" : "ok");
	return fail ? 1 : 0;
}
