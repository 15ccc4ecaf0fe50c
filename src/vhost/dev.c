// SPDX-License-Identifier: MIT
/*
 * src/vhost/dev.c - the back-end's lifecycle and its socket: create, run
 * (listen and accept, or connect with retry in client mode), serve one
 * connection (receive, validate, dispatch), stop, destroy, stats.
 *
 * One connection at a time: the calling thread of gpc_vhost_dev_run() is
 * the control thread, which handles every message in order; the datapath
 * threads (datapath.c) live as long as the connection.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gpc/memslot.h"
#include "gpc/vm.h"

#include "dev_priv.h"
#include "ext.h"
#include "fault.h"
#include "vring_walk.h"

#define KNOWN_FLAGS                                             \
	(GPC_VHOST_F_CLIENT | GPC_VHOST_F_BUSY_POLL |           \
	 GPC_VHOST_F_CHECK_STALE | GPC_VHOST_F_NO_FAULT_GUARD | \
	 GPC_VHOST_F_NO_MEM_SLOTS)

/* Client mode: the pause between two connection attempts. */
#define CONNECT_RETRY_MS 100

void gpc_vhost_log(struct gpc_vhost_dev *d, int level, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (d->cfg.log)
		d->cfg.log(d->cfg.log_ctx, level, buf);
	else
		fprintf(stderr, "gpc-vhost %s: %s\n",
			d->dev->name ? d->dev->name : "", buf);
}

static uint64_t library_features(void)
{
	return (1ull << VIRTIO_F_VERSION_1) |
	       (1ull << VIRTIO_RING_F_EVENT_IDX) |
	       (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
	       (1ull << GPC_VHOST_F_PROTOCOL_FEATURES);
}

static uint64_t library_protocol_features(void)
{
	return (1ull << GPC_VHOST_PROTOCOL_F_MQ) |
	       (1ull << GPC_VHOST_PROTOCOL_F_REPLY_ACK) |
	       (1ull << GPC_VHOST_PROTOCOL_F_CONFIG) |
	       (1ull << GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
	       (1ull << GPC_VHOST_PROTOCOL_F_BACKEND_REQ) |
	       (1ull << GPC_VHOST_PROTOCOL_F_STATUS);
}

static int check_device(const struct gpc_vhost_device *dev)
{
	if (!dev->request)
		return -EINVAL;
	if (!dev->num_queues || dev->num_queues > GPC_VHOST_MAX_QUEUES)
		return -EINVAL;
	if (dev->queue_size_max &&
	    (dev->queue_size_max & (dev->queue_size_max - 1) ||
	     dev->queue_size_max > GPC_VHOST_QUEUE_MAX))
		return -EINVAL;
	if (dev->config_size > GPC_VHOST_MAX_CONFIG_SIZE)
		return -EINVAL;
	return 0;
}

static int bind_socket(struct gpc_vhost_dev *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	memcpy(sa.sun_path, d->path, strlen(d->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A stale socket file of an earlier run would make bind fail. */
	unlink(d->path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1)) {
		err = -errno;
		close(fd);
		return err;
	}
	d->listen_fd = fd;
	return 0;
}

int gpc_vhost_dev_create(const struct gpc_vhost_device *dev, void *ctx,
			 const struct gpc_vhost_config *cfg,
			 struct gpc_vhost_dev **out)
{
	struct gpc_vm_config vc = { .name = "vhost" };
	struct gpc_vhost_dev *d;
	int err;

	if (!dev || !cfg || !out || check_device(dev) ||
	    cfg->flags & ~KNOWN_FLAGS ||
	    (cfg->scheme != GPC_SCHEME_SRCU &&
	     cfg->scheme != GPC_SCHEME_RWLOCK))
		return -EINVAL;
	if (cfg->socket_path &&
	    strlen(cfg->socket_path) >=
		    sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->dev = dev;
	d->ctx = ctx;
	d->cfg = *cfg;
	d->cfg.socket_path = NULL;
	if (cfg->socket_path)
		strcpy(d->path, cfg->socket_path);
	d->listen_fd = -1;
	d->sock = -1;
	d->backend_fd = -1;
	d->fault_fd = -1;
	d->queue_size_max = dev->queue_size_max ? dev->queue_size_max : 1024;
	d->seg_max = dev->seg_max ? dev->seg_max : 1024;
	pthread_mutex_init(&d->backend_lock, NULL);
	d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->stop_fd < 0) {
		err = -errno;
		goto fail;
	}
	d->fault_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->fault_fd < 0) {
		err = -errno;
		goto fail;
	}
	vc.scheme = cfg->scheme;
	/* Ids of the regions being replaced and of their successors. */
	vc.max_memslots = GPC_VHOST_MAX_MEM_SLOTS + GPC_VHOST_MAX_REGIONS;
	err = gpc_vm_create(&vc, &d->vm);
	if (err)
		goto fail;
	d->dma_vm = d->vm;
	err = gpc_vhost_mem_init(d);
	if (err)
		goto fail;
	d->queues = calloc(dev->num_queues, sizeof(*d->queues));
	if (!d->queues) {
		err = -ENOMEM;
		goto fail;
	}
	for (unsigned int i = 0; i < dev->num_queues; i++)
		gpc_vhost_queue_init(d, &d->queues[i], i);
	d->features_offered = (library_features() & ~dev->features_mask) |
			      dev->features;
	d->proto_offered = library_protocol_features();
	if (cfg->flags & GPC_VHOST_F_NO_MEM_SLOTS)
		d->proto_offered &=
			~(1ull << GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
	for (unsigned int i = 0; gpc_vhost_exts[i]; i++) {
		d->features_offered |= gpc_vhost_exts[i]->features &
				       ~dev->features_mask;
		d->proto_offered |= gpc_vhost_exts[i]->protocol_features;
	}
	if (d->path[0] && !(cfg->flags & GPC_VHOST_F_CLIENT)) {
		err = bind_socket(d);
		if (err)
			goto fail;
	}
	*out = d;
	return 0;
fail:
	free(d->queues);
	gpc_vhost_mem_fini(d);
	if (d->vm)
		gpc_vm_destroy(d->vm);
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	if (d->fault_fd >= 0)
		close(d->fault_fd);
	pthread_mutex_destroy(&d->backend_lock);
	free(d);
	return err;
}

/*
 * Wait until @fd is readable or the back-end is stopped: 1, 0 stopped;
 * 2: the fault guard repaired a fault on our memory (fault.h).
 */
static int wait_readable(struct gpc_vhost_dev *d, int fd, int timeout_ms)
{
	struct pollfd p[3] = { { .fd = fd, .events = POLLIN },
			       { .fd = d->stop_fd, .events = POLLIN },
			       { .fd = d->fault_fd, .events = POLLIN } };

	for (;;) {
		int n = poll(p, 3, timeout_ms);

		if (atomic_load(&d->stopping) || p[1].revents)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (p[2].revents)
			return 2;
		return n > 0 ? 1 : -ETIMEDOUT;
	}
}

/* The end of a connection: queues, memory, modules, fds. */
static void connection_end(struct gpc_vhost_dev *d)
{
	gpc_vhost_queues_stop_all(d);
	gpc_vhost_workers_stop(d);
	for (unsigned int i = 0; gpc_vhost_exts[i]; i++)
		if (gpc_vhost_exts[i]->reset)
			gpc_vhost_exts[i]->reset(d);
	gpc_vhost_mem_drop_all(d);
	/*
	 * A shrunk file's pages may have faulted again between the poll that
	 * ended this connection and the queues' stop: that is about this
	 * connection's memory, gone now, and must not end the next one.
	 */
	atomic_store(&d->fault_shrunk, false);
	for (unsigned int i = 0; i < d->dev->num_queues; i++)
		gpc_vhost_queue_reset(&d->queues[i]);
	pthread_mutex_lock(&d->backend_lock);
	if (d->backend_fd >= 0)
		close(d->backend_fd);
	d->backend_fd = -1;
	pthread_mutex_unlock(&d->backend_lock);
	d->owner = false;
	d->features_set = false;
	atomic_store(&d->features, 0);
	d->proto = 0;
	d->proto_set = false;
	d->status = 0;
	d->dma_vm = d->vm;
}

static int serve(struct gpc_vhost_dev *d, int fd)
{
	struct gpc_vhost_msg msg;
	int err;

	d->sock = fd;
	gpc_vhost_inc(d, connections);
	err = gpc_vhost_workers_start(d);
	if (err) {
		gpc_vhost_log(d, GPC_VHOST_LOG_ERR,
			      "cannot start the queue threads (%d)", err);
		goto out;
	}
	for (;;) {
		const char *why = NULL;

		err = wait_readable(d, fd, -1);
		if (err <= 0)
			break;
		/* A live region's file shrank: its memory is zeros now. */
		if (err == 2) {
			if (gpc_vhost_fault_poll(d))
				break;
			continue;
		}
		err = gpc_vhost_msg_recv(fd, &msg, GPC_VHOST_RECV_TIMEOUT_MS);
		if (err == -EAGAIN)
			continue;
		if (err == -EPIPE)
			break; /* the front-end went away between messages */
		if (err) {
			gpc_vhost_log(d, GPC_VHOST_LOG_ERR,
				      "receive failed (%s): disconnecting",
				      strerror(-err));
			break;
		}
		gpc_vhost_inc(d, messages);
		err = gpc_vhost_msg_validate(&msg, &why);
		if (err)
			err = gpc_vhost_dispatch_refused(d, &msg, err, why);
		else
			err = gpc_vhost_dispatch(d, &msg);
		gpc_vhost_msg_close_fds(&msg);
		if (err)
			break;
	}
out:
	connection_end(d);
	close(fd);
	d->sock = -1;
	return 0;
}

int gpc_vhost_dev_serve_fd(struct gpc_vhost_dev *d, int fd)
{
	bool no = false;
	int err;

	if (!d || fd < 0)
		return -EINVAL;
	if (!atomic_compare_exchange_strong(&d->serving, &no, true))
		return -EBUSY;
	err = serve(d, fd);
	atomic_store(&d->serving, false);
	return err;
}

static int connect_retry(struct gpc_vhost_dev *d, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memcpy(sa.sun_path, d->path, strlen(d->path) + 1);
	while (!atomic_load(&d->stopping)) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct pollfd p = { .fd = d->stop_fd, .events = POLLIN };

		if (fd < 0)
			return -errno;
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			*out = fd;
			return 1;
		}
		close(fd);
		if (errno != ENOENT && errno != ECONNREFUSED &&
		    errno != EAGAIN && errno != EINTR)
			return -errno;
		/* The front-end is not listening yet: try again soon. */
		if (poll(&p, 1, CONNECT_RETRY_MS) > 0)
			break;
	}
	return 0;
}

int gpc_vhost_dev_run(struct gpc_vhost_dev *d)
{
	bool no = false;
	int err = 0;

	if (!d)
		return -EINVAL;
	if (!d->path[0])
		return -EINVAL;
	if (!atomic_compare_exchange_strong(&d->serving, &no, true))
		return -EBUSY;
	while (!atomic_load(&d->stopping)) {
		int fd = -1;

		if (d->cfg.flags & GPC_VHOST_F_CLIENT) {
			err = connect_retry(d, &fd);
			if (err <= 0)
				break;
		} else {
			err = wait_readable(d, d->listen_fd, -1);
			if (err <= 0)
				break;
			if (err == 2) { /* a late access, logged */
				gpc_vhost_fault_poll(d);
				continue;
			}
			fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno == EINTR || errno == ECONNABORTED)
					continue;
				err = -errno;
				break;
			}
		}
		serve(d, fd);
		err = 0;
	}
	atomic_store(&d->serving, false);
	return err < 0 ? err : 0;
}

int gpc_vhost_dev_stop(struct gpc_vhost_dev *d)
{
	uint64_t one = 1;

	if (!d)
		return -EINVAL;
	atomic_store(&d->stopping, true);
	/* Async-signal-safe: one write to an eventfd. */
	if (write(d->stop_fd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow from 1s; nothing to do. */
	}
	return 0;
}

int gpc_vhost_dev_destroy(struct gpc_vhost_dev *d)
{
	if (!d)
		return -EINVAL;
	if (atomic_load(&d->serving))
		return -EBUSY;
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->path);
	}
	/* Its retired ranges stay (leaked on purpose), counting for no one. */
	gpc_vhost_fault_forget(d);
	gpc_vhost_mem_fini(d);
	gpc_vm_destroy(d->vm);
	free(d->queues);
	close(d->stop_fd);
	close(d->fault_fd);
	pthread_mutex_destroy(&d->backend_lock);
	free(d);
	return 0;
}

#define LD(f) atomic_load_explicit(&d->st.f, memory_order_relaxed)

int gpc_vhost_dev_get_stats(struct gpc_vhost_dev *d, struct gpc_vhost_stats *st)
{
	if (!d || !st)
		return -EINVAL;
	*st = (struct gpc_vhost_stats){
		.connections = LD(connections),
		.messages = LD(messages),
		.refused_messages = LD(refused_messages),
		.requests = LD(requests),
		.bad_requests = LD(bad_requests),
		.kicks = LD(kicks),
		.calls = LD(calls),
		.mem_adds = LD(mem_adds),
		.mem_removes = LD(mem_removes),
		.removal_wait_ns_max = LD(removal_wait_ns_max),
		.iotlb_updates = LD(iotlb_updates),
		.iotlb_invalidations = LD(iotlb_invalidations),
		.iotlb_misses = LD(iotlb_misses),
		.stale_accesses = LD(stale_accesses),
		.bus_faults = LD(bus_faults),
	};
	return 0;
}

int gpc_vhost_dev_config_changed(struct gpc_vhost_dev *d)
{
	int err = -ENOTCONN;

	if (!d)
		return -EINVAL;
	pthread_mutex_lock(&d->backend_lock);
	if (d->backend_fd >= 0)
		err = gpc_vhost_msg_backend_send(
			d->backend_fd, GPC_VHOST_BACKEND_CONFIG_CHANGE_MSG,
			false, NULL, 0, NULL, 0, GPC_VHOST_SEND_TIMEOUT_MS);
	pthread_mutex_unlock(&d->backend_lock);
	return err;
}

uint64_t gpc_vhost_dev_features(struct gpc_vhost_dev *d)
{
	return d ? atomic_load(&d->features) : 0;
}

unsigned int gpc_vhost_queue_index(const struct gpc_vhost_queue *q)
{
	return q->index;
}
