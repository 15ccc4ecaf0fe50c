// SPDX-License-Identifier: MIT
/*
 * kvm.c - the KVM binding: memslot mirroring and the KVM_RUN helper.
 *
 * Mirroring: the binding is a memslot listener. Its prepare runs under the
 * writers' lock, after the commit's table is built and before it is
 * published: we make the commit's changes in KVM there, in the order of
 * gpci_kvm_plan() (kvm_plan.c: deletes, in-place changes, creates), so when
 * the commit returns, KVM and the caches agree; if KVM refuses a step, the
 * steps made are undone, latest first, and the commit fails. Its abort
 * (a later listener refused) undoes the whole plan. The VMM's pause hook
 * brackets the window in which KVM holds an intermediate layout: from
 * before the first KVM call to the listener's commit (after the publish)
 * or abort.
 *
 * Kicking: the library kicks a vCPU it must evict by calling our callback
 * once it moved the vCPU from IN_GUEST to EXITING. The callback sets
 * kvm_run->immediate_exit and signals the vCPU's thread. The vCPU clears
 * immediate_exit before it sets IN_GUEST again, so:
 *  - a kick of this entry comes after the clear (it needs IN_GUEST), so
 *    either KVM_RUN has not started (it sees immediate_exit and returns
 *    EINTR at once) or it is running (the signal interrupts it);
 *  - a late kick of an earlier entry can only cause one spurious EINTR.
 * The signal handler does nothing: its only job is to exist, so the signal
 * interrupts KVM_RUN instead of killing the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gpc/kvm.h>

#include "internal.h"
#include "kvm_priv.h"
#include "memslot_priv.h"

#ifndef GPC_HAVE_LINUX_KVM_H
#if defined(__has_include)
#if __has_include(<linux/kvm.h>)
#define GPC_HAVE_LINUX_KVM_H 1
#endif
#endif
#endif

#if defined(GPC_HAVE_LINUX_KVM_H) && GPC_HAVE_LINUX_KVM_H

#include <linux/kvm.h>

#define KVM_DEVICE "/dev/kvm"

struct gpc_kvm {
	struct gpc_vm *vm;
	int sys_fd;
	int vm_fd;
	int sig;
	size_t run_size;
	_Atomic unsigned int nvcpus;
	_Atomic uint64_t mirror_errors;
	struct gpc_memslot_listener listener;
	/* The plan of the commit in progress (under the writers' lock). */
	struct gpci_kvm_op *plan;
	unsigned int nplan;
	bool paused;
	gpc_kvm_pause_fn *pause;
	void *pause_ctx;
};

struct gpc_kvm_vcpu {
	struct gpc_kvm *kvm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	struct gpc_vcpu *gv;
	struct gpc_kvm_vcpu_ops ops;
	void *ctx;
	/* The thread that runs the vCPU; published before it enters. */
	_Atomic(pthread_t) thread;
	_Atomic int has_thread;
	/* When the pending kick was sent (0: none). */
	_Atomic uint64_t kick_ns;
	_Atomic uint64_t st_runs, st_exits, st_kicked, st_evictions;
	_Atomic uint64_t st_bailouts, st_kicks_sent, st_request_exits;
};

static void set_why(char *why, size_t len, const char *fmt, const char *arg,
		    int err)
{
	if (why && len)
		snprintf(why, len, fmt, arg, strerror(err));
}

/* Open the device and check what the binding relies on. */
static int open_kvm(const char *dev, int *out, char *why, size_t whylen)
{
	int fd = open(dev, O_RDWR | O_CLOEXEC), err, v;

	if (fd < 0) {
		err = errno ? errno : EIO; /* never "0 = success" without fd */
		set_why(why, whylen, "cannot open %s: %s", dev, err);
		return -err;
	}
	v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v < 0) {
		err = errno;
		set_why(why, whylen, "%s is not a KVM device: %s", dev, err);
		close(fd);
		return -EPROTO;
	}
	if (v != KVM_API_VERSION ||
	    ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0 ||
	    ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0) {
		set_why(why, whylen,
			"%s: KVM API 12 with user memory and immediate_exit "
			"needed (%s)",
			dev, EPROTO);
		close(fd);
		return -EPROTO;
	}
	*out = fd;
	return 0;
}

int gpc_kvm_probe(const char *device, char *why, size_t whylen)
{
	const char *dev = device ? device : KVM_DEVICE;
	int fd, vmfd, err;

	err = open_kvm(dev, &fd, why, whylen);
	if (err)
		return err;
	vmfd = ioctl(fd, KVM_CREATE_VM, 0);
	if (vmfd < 0) {
		err = errno;
		set_why(why, whylen, "%s: KVM_CREATE_VM failed: %s", dev, err);
		close(fd);
		return -err;
	}
	close(vmfd);
	close(fd);
	return 0;
}

/* ---- memslot mirroring ------------------------------------------------ */

static int set_region(struct gpc_kvm *k, const struct gpci_kvm_region *g)
{
	struct kvm_userspace_memory_region r = {
		.slot = g->id,
		.flags = (g->flags & GPC_MEMSLOT_READONLY) ? KVM_MEM_READONLY :
							     0,
		.guest_phys_addr = g->gpa,
		.memory_size = g->size,
		.userspace_addr = g->hva,
	};

	if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) == 0)
		return 0;
	return -errno;
}

static void pause_end(struct gpc_kvm *k)
{
	if (k->paused) {
		k->paused = false;
		k->pause(k->pause_ctx, false);
	}
}

/* Undo the first @upto steps of the plan, latest first. */
static void plan_undo(struct gpc_kvm *k, unsigned int upto)
{
	while (upto-- > 0) {
		int err = set_region(k, &k->plan[upto].undo);

		if (err)
			gpci_log(GPC_LOG_ERR,
				 "kvm: undo of memslot %u failed: %s; KVM and "
				 "the table disagree",
				 k->plan[upto].undo.id, strerror(-err));
	}
}

static void plan_free(struct gpc_kvm *k)
{
	free(k->plan);
	k->plan = NULL;
	k->nplan = 0;
}

static int kvm_prepare(void *ctx, struct gpc_vm *vm,
		       const struct gpc_memslot_change *c, unsigned int n)
{
	struct gpc_kvm *k = ctx;
	unsigned int i;
	int err = 0;

	(void)vm;
	k->plan = malloc(2 * (size_t)n * sizeof(*k->plan));
	if (!k->plan)
		return -ENOMEM;
	k->nplan = gpci_kvm_plan(c, n, k->plan);
	if (k->nplan && k->pause) {
		/* Before KVM can show a vCPU the first intermediate layout. */
		k->paused = true;
		k->pause(k->pause_ctx, true);
	}
	for (i = 0; i < k->nplan && !err; i++)
		err = set_region(k, &k->plan[i].set);
	if (!err)
		return 0;
	atomic_fetch_add(&k->mirror_errors, 1);
	gpci_log(GPC_LOG_WARN, "kvm: memslot %u change refused: %s",
		 k->plan[i - 1].set.id, strerror(-err));
	plan_undo(k, i - 1);
	plan_free(k);
	pause_end(k);
	return err;
}

static void kvm_abort(void *ctx, struct gpc_vm *vm,
		      const struct gpc_memslot_change *c, unsigned int n)
{
	struct gpc_kvm *k = ctx;

	(void)vm, (void)c, (void)n;
	plan_undo(k, k->nplan);
	plan_free(k);
	pause_end(k);
}

static void kvm_commit(void *ctx, struct gpc_vm *vm,
		       const struct gpc_memslot_change *c, unsigned int n,
		       uint64_t gen)
{
	struct gpc_kvm *k = ctx;

	(void)vm, (void)c, (void)n, (void)gen;
	plan_free(k);
	/* The table is published: the caches and KVM agree again. */
	pause_end(k);
}

int gpc_kvm_set_pause_hook(struct gpc_kvm *k, gpc_kvm_pause_fn *fn, void *ctx)
{
	int err;

	if (!k)
		return -EINVAL;
	/* Under the writers' lock: never between a pause and its resume. */
	err = gpci_memslots_lock(k->vm, true);
	if (err)
		return err;
	k->pause = fn;
	k->pause_ctx = ctx;
	gpci_memslots_unlock(k->vm);
	return 0;
}

/* ---- the kick signal -------------------------------------------------- */

static void kick_handler(int sig)
{
	(void)sig;
}

static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t sig_installed[2]; /* bit per signal number < 128 */

/* A no-op handler unless the application installed one of its own. */
static int install_handler(int sig)
{
	struct sigaction sa, old;
	int err = 0;

	if (sig <= 0 || sig >= 128 || sig == SIGKILL || sig == SIGSTOP)
		return -EINVAL;
	pthread_mutex_lock(&sig_lock);
	if (sig_installed[sig / 64] & (1ull << (sig % 64)))
		goto out;
	if (sigaction(sig, NULL, &old)) {
		err = -errno;
		goto out;
	}
	if (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = kick_handler;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sig, &sa, NULL)) {
			err = -errno;
			goto out;
		}
	}
	sig_installed[sig / 64] |= 1ull << (sig % 64);
out:
	pthread_mutex_unlock(&sig_lock);
	return err;
}

/* ---- the VM ------------------------------------------------------------ */

int gpc_kvm_create(struct gpc_vm *vm, const struct gpc_kvm_config *cfg,
		   struct gpc_kvm **out)
{
	const char *dev = cfg && cfg->device ? cfg->device : KVM_DEVICE;
	int sig = cfg && cfg->kick_signal ? cfg->kick_signal : SIGUSR1;
	struct gpc_kvm *k;
	int err, sz;

	if (!vm || !out)
		return -EINVAL;
	/* Early answer; the bind below checks again, atomically. */
	if (gpc_memslot_count(vm))
		return -EBUSY;
	err = install_handler(sig);
	if (err)
		return err;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->vm = vm;
	k->sig = sig;
	k->vm_fd = -1;
	err = open_kvm(dev, &k->sys_fd, NULL, 0);
	if (err)
		goto fail_free;
	sz = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run)) {
		err = sz < 0 ? -errno : -EPROTO;
		goto fail_close;
	}
	k->run_size = (size_t)sz;
	k->vm_fd = ioctl(k->sys_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0) {
		err = -errno;
		goto fail_close;
	}
	k->listener = (struct gpc_memslot_listener){
		.prepare = kvm_prepare,
		.abort = kvm_abort,
		.commit = kvm_commit,
		.ctx = k,
		.flags = GPC_MEMSLOT_LISTENER_PIN,
	};
	/*
	 * Under the writers' lock: no slot can be created between the check
	 * that the table is empty and the registration (it would escape
	 * KVM), and a second binding (same prepare) is refused, not stacked.
	 */
	err = gpci_memslot_listener_bind(vm, &k->listener, true);
	if (err)
		goto fail_close;
	*out = k;
	return 0;
fail_close:
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	close(k->sys_fd);
fail_free:
	free(k);
	return err;
}

int gpc_kvm_destroy(struct gpc_kvm *k)
{
	int err;

	if (!k)
		return -EINVAL;
	if (atomic_load(&k->nvcpus))
		return -EBUSY;
	/* Waits for a commit in progress: no callback runs after this. */
	err = gpc_memslot_listener_remove(k->vm, &k->listener);
	if (err)
		return err;
	close(k->vm_fd);
	close(k->sys_fd);
	free(k);
	return 0;
}

int gpc_kvm_vm_fd(const struct gpc_kvm *k)
{
	return k ? k->vm_fd : -EINVAL;
}

int gpc_kvm_sys_fd(const struct gpc_kvm *k)
{
	return k ? k->sys_fd : -EINVAL;
}

uint64_t gpc_kvm_mirror_errors(const struct gpc_kvm *k)
{
	return k ? atomic_load(&((struct gpc_kvm *)k)->mirror_errors) : 0;
}

/* ---- vCPUs ------------------------------------------------------------- */

void gpc_kvm_vcpu_kick(struct gpc_kvm_vcpu *v)
{
	uint64_t zero = 0;

	if (!v)
		return;
	atomic_compare_exchange_strong(&v->kick_ns, &zero, gpci_now_ns());
	/* Before the signal: closes the window just before KVM_RUN. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (atomic_load_explicit(&v->has_thread, memory_order_acquire)) {
		atomic_fetch_add_explicit(&v->st_kicks_sent, 1,
					  memory_order_relaxed);
		pthread_kill(atomic_load(&v->thread), v->kvm->sig);
	}
}

/* The library's kick callback: async-signal-safe, never blocks. */
static void kick_cb(struct gpc_vcpu *gv, void *ctx)
{
	(void)gv;
	gpc_kvm_vcpu_kick(ctx);
}

int gpc_kvm_vcpu_create(struct gpc_kvm *k, unsigned int id,
			const struct gpc_kvm_vcpu_ops *ops, void *ctx,
			struct gpc_kvm_vcpu **out)
{
	struct gpc_kvm_vcpu *v;
	void *run;
	int err;

	if (!k || !out)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->kvm = k;
	v->id = id;
	if (ops)
		v->ops = *ops;
	v->ctx = ctx;
	v->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		err = -errno;
		goto fail_free;
	}
	run = mmap(NULL, k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd,
		   0);
	if (run == MAP_FAILED) {
		err = -errno;
		goto fail_close;
	}
	v->run = run;
	err = gpc_vcpu_create(k->vm, kick_cb, v, &v->gv);
	if (err)
		goto fail_unmap;
	atomic_fetch_add(&k->nvcpus, 1);
	*out = v;
	return 0;
fail_unmap:
	munmap(run, k->run_size);
fail_close:
	close(v->fd);
fail_free:
	free(v);
	return err;
}

int gpc_kvm_vcpu_destroy(struct gpc_kvm_vcpu *v)
{
	int err;

	if (!v)
		return -EINVAL;
	err = gpc_vcpu_destroy(v->gv);
	if (err)
		return err;
	munmap(v->run, v->kvm->run_size);
	close(v->fd);
	atomic_fetch_sub(&v->kvm->nvcpus, 1);
	free(v);
	return 0;
}

/* Publish the running thread and make sure the kick signal reaches it. */
static void bind_thread(struct gpc_kvm_vcpu *v)
{
	pthread_t self = pthread_self();
	sigset_t set;

	if (atomic_load(&v->has_thread) &&
	    pthread_equal(atomic_load(&v->thread), self))
		return;
	sigemptyset(&set);
	sigaddset(&set, v->kvm->sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	atomic_store(&v->thread, self);
	atomic_store_explicit(&v->has_thread, 1, memory_order_release);
}

/*
 * Get into guest mode: requests and invalid caches make the library refuse
 * the entry; handle them (refreshing the caches) and try again. Returns 0
 * in guest mode, 1 if the caller's requests were consumed, or an error.
 */
static int enter(struct gpc_kvm_vcpu *v, struct gpc_kvm_exit *ex)
{
	int err, r;

	for (;;) {
		/* Cleared before IN_GUEST: see the comment at the top. */
		atomic_store(&v->kick_ns, 0);
		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		err = gpc_vcpu_enter_guest(v->gv);
		if (err != -EAGAIN)
			return err;
		atomic_fetch_add_explicit(&v->st_bailouts, 1,
					  memory_order_relaxed);
		r = gpc_vcpu_handle_requests(v->gv);
		if (r < 0)
			return r;
		if (r > 0) {
			ex->kind = GPC_KVM_REQUEST;
			ex->requests = (unsigned int)r;
			atomic_fetch_add_explicit(&v->st_request_exits, 1,
						  memory_order_relaxed);
			return 1;
		}
	}
}

int gpc_kvm_vcpu_run(struct gpc_kvm_vcpu *v, struct gpc_kvm_exit *ex)
{
	uint64_t kick, t_ret;
	int err, run_err;

	if (!v || !ex)
		return -EINVAL;
	memset(ex, 0, sizeof(*ex));
	bind_thread(v);
	err = enter(v, ex);
	if (err)
		return err > 0 ? 0 : err;
	if (v->ops.pre_entry)
		v->ops.pre_entry(v, v->ctx);
	atomic_fetch_add_explicit(&v->st_runs, 1, memory_order_relaxed);
	run_err = ioctl(v->fd, KVM_RUN, 0) < 0 ? -errno : 0;
	t_ret = gpci_now_ns();
	if (v->ops.post_exit)
		v->ops.post_exit(v, run_err, v->ctx);
	/* Still in guest mode: EXITING means the library kicked us. */
	ex->evicted = gpc_vcpu_mode(v->gv) == GPC_VCPU_EXITING;
	kick = atomic_exchange(&v->kick_ns, 0);
	if (kick)
		ex->kick_latency_ns = t_ret > kick ? t_ret - kick : 1;
	/* Counted before leaving: the evictor may look as soon as we do. */
	if (ex->evicted)
		atomic_fetch_add_explicit(&v->st_evictions, 1,
					  memory_order_relaxed);
	gpc_vcpu_exit_guest(v->gv);
	if (run_err == -EINTR) {
		ex->kind = GPC_KVM_KICKED;
		atomic_fetch_add_explicit(&v->st_kicked, 1,
					  memory_order_relaxed);
		return 0;
	}
	if (run_err)
		return run_err;
	ex->kind = GPC_KVM_EXIT;
	ex->reason = v->run->exit_reason;
	atomic_fetch_add_explicit(&v->st_exits, 1, memory_order_relaxed);
	return 0;
}

int gpc_kvm_vcpu_fd(const struct gpc_kvm_vcpu *v)
{
	return v ? v->fd : -EINVAL;
}

struct kvm_run *gpc_kvm_vcpu_run_struct(struct gpc_kvm_vcpu *v)
{
	return v ? v->run : NULL;
}

struct gpc_vcpu *gpc_kvm_vcpu_gpc(struct gpc_kvm_vcpu *v)
{
	return v ? v->gv : NULL;
}

unsigned int gpc_kvm_vcpu_id(const struct gpc_kvm_vcpu *v)
{
	return v ? v->id : 0;
}

int gpc_kvm_vcpu_get_stats(struct gpc_kvm_vcpu *v,
			   struct gpc_kvm_vcpu_stats *st)
{
	if (!v || !st)
		return -EINVAL;
	st->runs = atomic_load(&v->st_runs);
	st->exits = atomic_load(&v->st_exits);
	st->kicked = atomic_load(&v->st_kicked);
	st->evictions = atomic_load(&v->st_evictions);
	st->bailouts = atomic_load(&v->st_bailouts);
	st->kicks_sent = atomic_load(&v->st_kicks_sent);
	st->request_exits = atomic_load(&v->st_request_exits);
	return 0;
}

#else /* no <linux/kvm.h>: every entry point says so */

int gpc_kvm_probe(const char *device, char *why, size_t whylen)
{
	(void)device;
	if (why && whylen)
		snprintf(why, whylen, "libgpc was built without <linux/kvm.h>");
	return -ENOSYS;
}

int gpc_kvm_create(struct gpc_vm *vm, const struct gpc_kvm_config *cfg,
		   struct gpc_kvm **out)
{
	(void)vm, (void)cfg, (void)out;
	return -ENOSYS;
}

int gpc_kvm_destroy(struct gpc_kvm *k)
{
	return k ? -ENOSYS : -EINVAL;
}

int gpc_kvm_set_pause_hook(struct gpc_kvm *k, gpc_kvm_pause_fn *fn, void *ctx)
{
	(void)fn, (void)ctx;
	return k ? -ENOSYS : -EINVAL;
}

int gpc_kvm_vm_fd(const struct gpc_kvm *k)
{
	return k ? -ENOSYS : -EINVAL;
}

int gpc_kvm_sys_fd(const struct gpc_kvm *k)
{
	return k ? -ENOSYS : -EINVAL;
}

uint64_t gpc_kvm_mirror_errors(const struct gpc_kvm *k)
{
	(void)k;
	return 0;
}

int gpc_kvm_vcpu_create(struct gpc_kvm *k, unsigned int id,
			const struct gpc_kvm_vcpu_ops *ops, void *ctx,
			struct gpc_kvm_vcpu **out)
{
	(void)k, (void)id, (void)ops, (void)ctx, (void)out;
	return -ENOSYS;
}

int gpc_kvm_vcpu_destroy(struct gpc_kvm_vcpu *v)
{
	return v ? -ENOSYS : -EINVAL;
}

int gpc_kvm_vcpu_run(struct gpc_kvm_vcpu *v, struct gpc_kvm_exit *ex)
{
	return v && ex ? -ENOSYS : -EINVAL;
}

void gpc_kvm_vcpu_kick(struct gpc_kvm_vcpu *v)
{
	(void)v;
}

int gpc_kvm_vcpu_fd(const struct gpc_kvm_vcpu *v)
{
	return v ? -ENOSYS : -EINVAL;
}

struct kvm_run *gpc_kvm_vcpu_run_struct(struct gpc_kvm_vcpu *v)
{
	(void)v;
	return NULL;
}

struct gpc_vcpu *gpc_kvm_vcpu_gpc(struct gpc_kvm_vcpu *v)
{
	(void)v;
	return NULL;
}

unsigned int gpc_kvm_vcpu_id(const struct gpc_kvm_vcpu *v)
{
	(void)v;
	return 0;
}

int gpc_kvm_vcpu_get_stats(struct gpc_kvm_vcpu *v,
			   struct gpc_kvm_vcpu_stats *st)
{
	return v && st ? -ENOSYS : -EINVAL;
}

#endif
