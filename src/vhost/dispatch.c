// SPDX-License-Identifier: MIT
/*
 * src/vhost/dispatch.c - one validated message -> its handler, after the
 * checks that need connection state.
 *
 * msg_validate.c has checked the message's shape (sizes, fd counts,
 * fields whose range needs no state). Here: the order of the protocol
 * (SET_OWNER before anything that configures the device), the features
 * that gate a request (a protocol feature acked by SET_PROTOCOL_FEATURES,
 * a virtio feature acked by SET_FEATURES), features acked only from those
 * offered. Every refusal is one log line and then:
 *  - an error status (the positive errno) when the front-end asked for a
 *    REPLY_ACK (need_reply with REPLY_ACK negotiated), and the connection
 *    goes on;
 *  - otherwise a disconnect: the protocol has no other way to tell the
 *    front-end, and going on with a state it believes we accepted would
 *    corrupt the guest's queues.
 * A request with a reply body (GET_*) that is refused is a disconnect too:
 * there is no error form of those replies.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "dev_priv.h"
#include "ext.h"

bool gpc_vhost_proto_acked(const struct gpc_vhost_dev *d, unsigned int bit)
{
	return d->proto_set && (d->proto >> bit & 1);
}

bool gpc_vhost_feature_acked(const struct gpc_vhost_dev *d, unsigned int bit)
{
	return atomic_load(&d->features) >> bit & 1;
}

static bool wants_ack(const struct gpc_vhost_dev *d,
		      const struct gpc_vhost_msg *msg)
{
	return gpc_vhost_proto_acked(d, GPC_VHOST_PROTOCOL_F_REPLY_ACK) &&
	       gpc_vhost_msg_wants_ack(msg);
}

/*
 * Report and answer a refused or failed request: one log line, then the
 * error ack (0: go on) or the errno (disconnect).
 */
static int refuse(struct gpc_vhost_dev *d, const struct gpc_vhost_msg *msg,
		  int err, const char *why)
{
	bool ack = wants_ack(d, msg) &&
		   !gpc_vhost_msg_has_reply(msg->hdr.request);

	gpc_vhost_inc(d, refused_messages);
	gpc_vhost_log(d, GPC_VHOST_LOG_ERR, "%s refused: %s (%s)%s",
		      gpc_vhost_msg_name(msg->hdr.request), why, strerror(-err),
		      ack ? "" : ": disconnecting");
	if (!ack)
		return err;
	return gpc_vhost_msg_reply_ack(d->sock, msg, err,
				       GPC_VHOST_SEND_TIMEOUT_MS);
}

int gpc_vhost_fail(struct gpc_vhost_dev *d, int err, const char *why)
{
	d->why = why;
	return err;
}

int gpc_vhost_dispatch_refused(struct gpc_vhost_dev *d,
			       struct gpc_vhost_msg *msg, int err,
			       const char *why)
{
	return refuse(d, msg, err, why ? why : "malformed");
}

/* Which protocol feature gates a request; -1 none. */
static int gating_protocol_feature(uint32_t req)
{
	switch (req) {
	case GPC_VHOST_GET_QUEUE_NUM:
		return GPC_VHOST_PROTOCOL_F_MQ;
	case GPC_VHOST_GET_CONFIG:
	case GPC_VHOST_SET_CONFIG:
		return GPC_VHOST_PROTOCOL_F_CONFIG;
	case GPC_VHOST_GET_MAX_MEM_SLOTS:
	case GPC_VHOST_ADD_MEM_REG:
	case GPC_VHOST_REM_MEM_REG:
		return GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS;
	case GPC_VHOST_SET_BACKEND_REQ_FD:
		return GPC_VHOST_PROTOCOL_F_BACKEND_REQ;
	case GPC_VHOST_SET_STATUS:
	case GPC_VHOST_GET_STATUS:
		return GPC_VHOST_PROTOCOL_F_STATUS;
	default:
		return -1;
	}
}

/*
 * Requests a front-end sends before SET_OWNER (QEMU's back-end init asks
 * features, protocol features, the queue count, the slot count and gives
 * the back-end channel first). Everything else configures the device and
 * needs an owner.
 */
static bool allowed_before_owner(uint32_t req)
{
	switch (req) {
	case GPC_VHOST_GET_FEATURES:
	case GPC_VHOST_GET_PROTOCOL_FEATURES:
	case GPC_VHOST_SET_PROTOCOL_FEATURES:
	case GPC_VHOST_GET_QUEUE_NUM:
	case GPC_VHOST_GET_MAX_MEM_SLOTS:
	case GPC_VHOST_SET_BACKEND_REQ_FD:
	case GPC_VHOST_SET_OWNER:
	case GPC_VHOST_GET_CONFIG:
		return true;
	default:
		return false;
	}
}

static bool any_queue_running(const struct gpc_vhost_dev *d)
{
	for (unsigned int i = 0; i < d->dev->num_queues; i++)
		if (atomic_load(&d->queues[i].state) != GPC_VHOST_Q_STOPPED)
			return true;
	return false;
}

static int reply_u64(struct gpc_vhost_dev *d, const struct gpc_vhost_msg *msg,
		     uint64_t v)
{
	return gpc_vhost_msg_reply_u64(d->sock, msg, v,
				       GPC_VHOST_SEND_TIMEOUT_MS);
}

static int set_features(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	uint64_t f = msg->payload.u64, old;
	uint64_t changed = f ^ atomic_load(&d->features);

	if (f & ~d->features_offered)
		return gpc_vhost_fail(d, -EINVAL,
				      "a feature that was not offered");
	/* Only dirty logging may change under running queues. */
	if (d->features_set && changed & ~(1ull << VHOST_F_LOG_ALL) &&
	    any_queue_running(d))
		return gpc_vhost_fail(d, -EBUSY,
				      "features changed while running");
	old = atomic_load(&d->features);
	atomic_store(&d->features, f);
	d->features_set = true;
	/* e.g. LOG_ALL: the dirty log starts or stops (ext.h). */
	for (unsigned int i = 0; gpc_vhost_exts[i]; i++)
		if (gpc_vhost_exts[i]->features_changed) {
			int err =
				gpc_vhost_exts[i]->features_changed(d, old, f);

			if (err)
				return err;
		}
	return 0;
}

static int set_protocol_features(struct gpc_vhost_dev *d,
				 struct gpc_vhost_msg *msg)
{
	uint64_t f = msg->payload.u64;

	if (f & ~d->proto_offered)
		return gpc_vhost_fail(
			d, -EINVAL, "a protocol feature that was not offered");
	d->proto = f;
	d->proto_set = true;
	return 0;
}

static int get_config(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	struct gpc_vhost_config_msg *c = &msg->payload.config;
	uint32_t size = c->size;
	int err = 0;

	/*
	 * The reply has the request's size; an error is a reply without
	 * config bytes (the front-end checks the size it gets back).
	 */
	if ((uint64_t)c->offset + size > d->dev->config_size) {
		gpc_vhost_inc(d, refused_messages);
		gpc_vhost_log(d, GPC_VHOST_LOG_ERR,
			      "GET_CONFIG of [%u, +%u) beyond the %u-byte "
			      "config space",
			      c->offset, size, d->dev->config_size);
		err = -ERANGE;
	} else if (d->dev->get_config) {
		err = d->dev->get_config(d->ctx, c->offset, c->payload, size);
	} else {
		memset(c->payload, 0, size);
	}
	if (err) {
		c->size = 0;
		size = 0;
	}
	return gpc_vhost_msg_reply(d->sock, msg, c,
				   GPC_VHOST_CONFIG_HDR_SIZE + size, NULL, 0,
				   GPC_VHOST_SEND_TIMEOUT_MS);
}

static int set_config(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	struct gpc_vhost_config_msg *c = &msg->payload.config;

	if ((uint64_t)c->offset + c->size > d->dev->config_size)
		return gpc_vhost_fail(d, -ERANGE, "beyond the config space");
	if (!d->dev->set_config)
		return gpc_vhost_fail(d, -EPERM,
				      "the config space is read-only");
	return d->dev->set_config(d->ctx, c->offset, c->payload, c->size);
}

static int set_backend_fd(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	int fd = gpc_vhost_msg_take_fd(msg, 0);

	pthread_mutex_lock(&d->backend_lock);
	if (d->backend_fd >= 0)
		close(d->backend_fd);
	d->backend_fd = fd;
	pthread_mutex_unlock(&d->backend_lock);
	return 0;
}

/* RESET_OWNER (and RESET_DEVICE): back to a just-connected device. */
static int reset_owner(struct gpc_vhost_dev *d)
{
	gpc_vhost_queues_stop_all(d);
	for (unsigned int i = 0; gpc_vhost_exts[i]; i++)
		if (gpc_vhost_exts[i]->reset)
			gpc_vhost_exts[i]->reset(d);
	gpc_vhost_mem_drop_all(d);
	for (unsigned int i = 0; i < d->dev->num_queues; i++)
		gpc_vhost_queue_reset(&d->queues[i]);
	d->owner = false;
	d->features_set = false;
	atomic_store(&d->features, 0);
	d->status = 0;
	d->dma_vm = d->vm;
	return 0;
}

/* The handler of a request; its status (0 or a negative errno). */
static int handle(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	uint32_t req = msg->hdr.request;

	switch (req) {
	case GPC_VHOST_GET_FEATURES:
		return reply_u64(d, msg, d->features_offered);
	case GPC_VHOST_SET_FEATURES:
		return set_features(d, msg);
	case GPC_VHOST_GET_PROTOCOL_FEATURES:
		return reply_u64(d, msg, d->proto_offered);
	case GPC_VHOST_SET_PROTOCOL_FEATURES:
		return set_protocol_features(d, msg);
	case GPC_VHOST_SET_OWNER:
		if (d->owner)
			return gpc_vhost_fail(d, -EBUSY, "owner set already");
		d->owner = true;
		return 0;
	case GPC_VHOST_RESET_OWNER:
	case GPC_VHOST_RESET_DEVICE:
		return reset_owner(d);
	case GPC_VHOST_GET_QUEUE_NUM:
		return reply_u64(d, msg, d->dev->num_queues);
	case GPC_VHOST_GET_MAX_MEM_SLOTS:
		return reply_u64(d, msg, GPC_VHOST_MAX_MEM_SLOTS);
	case GPC_VHOST_SET_MEM_TABLE:
		return gpc_vhost_mem_set_table(d, msg);
	case GPC_VHOST_ADD_MEM_REG:
		return gpc_vhost_mem_add(d, msg);
	case GPC_VHOST_REM_MEM_REG:
		return gpc_vhost_mem_rem(d, msg);
	case GPC_VHOST_GET_CONFIG:
		return get_config(d, msg);
	case GPC_VHOST_SET_CONFIG:
		return set_config(d, msg);
	case GPC_VHOST_SET_BACKEND_REQ_FD:
		return set_backend_fd(d, msg);
	case GPC_VHOST_SET_STATUS:
		d->status = (uint8_t)msg->payload.u64;
		return 0;
	case GPC_VHOST_GET_STATUS:
		return reply_u64(d, msg, d->status);
	case GPC_VHOST_SET_VRING_NUM:
	case GPC_VHOST_SET_VRING_ADDR:
	case GPC_VHOST_SET_VRING_BASE:
	case GPC_VHOST_GET_VRING_BASE:
	case GPC_VHOST_SET_VRING_KICK:
	case GPC_VHOST_SET_VRING_CALL:
	case GPC_VHOST_SET_VRING_ERR:
	case GPC_VHOST_SET_VRING_ENABLE:
		return gpc_vhost_queue_msg(d, msg);
	default:
		break;
	}
	for (unsigned int i = 0; gpc_vhost_exts[i]; i++)
		if (gpc_vhost_exts[i]->handles &&
		    gpc_vhost_exts[i]->handles(req))
			return gpc_vhost_exts[i]->handle(d, msg);
	return -EOPNOTSUPP;
}

/* The state checks of every request, before its handler. */
static int check_state(struct gpc_vhost_dev *d, const struct gpc_vhost_msg *msg)
{
	uint32_t req = msg->hdr.request;
	int gate = gating_protocol_feature(req);

	if (!d->owner && !allowed_before_owner(req))
		return gpc_vhost_fail(d, -EPERM, "before SET_OWNER");
	if ((req == GPC_VHOST_GET_PROTOCOL_FEATURES ||
	     req == GPC_VHOST_SET_PROTOCOL_FEATURES) &&
	    !(d->features_offered >> GPC_VHOST_F_PROTOCOL_FEATURES & 1))
		return gpc_vhost_fail(d, -EOPNOTSUPP,
				      "PROTOCOL_FEATURES not offered");
	if (gate >= 0 && !gpc_vhost_proto_acked(d, (unsigned int)gate))
		return gpc_vhost_fail(
			d, -EOPNOTSUPP,
			"its protocol feature was not negotiated");
	if (req == GPC_VHOST_SET_VRING_ENABLE &&
	    !gpc_vhost_feature_acked(d, GPC_VHOST_F_PROTOCOL_FEATURES))
		return gpc_vhost_fail(d, -EOPNOTSUPP,
				      "PROTOCOL_FEATURES not acked");
	return 0;
}

int gpc_vhost_dispatch(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	uint32_t req = msg->hdr.request;
	int rc;

	d->why = NULL;
	rc = check_state(d, msg);
	if (!rc)
		rc = handle(d, msg);
	if (rc == -EOPNOTSUPP && !d->why)
		d->why = "not supported";
	/*
	 * A request with a reply body has sent it on success; on failure
	 * there is no reply to give, only the disconnect. The others get
	 * their status as an ack when one was asked for.
	 */
	if (rc)
		return refuse(d, msg, rc, d->why ? d->why : "failed");
	if (!gpc_vhost_msg_has_reply(req) && wants_ack(d, msg))
		return gpc_vhost_msg_reply_ack(d->sock, msg, 0,
					       GPC_VHOST_SEND_TIMEOUT_MS);
	return 0;
}
