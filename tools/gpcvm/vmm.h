/* SPDX-License-Identifier: MIT */
/*
 * tools/gpcvm/vmm.h - the reference VMM's state, shared by its parts:
 *
 *   main.c         options, choosing the backend, the run from start to
 *                  report
 *   vmm.c          memory, setup/teardown, hypercalls, runstate, the pause
 *                  gate, violations and the log
 *   shinfo.c       the shared-info page: pool, overlay memslot, moves
 *   events.c       event senders, the timer "interrupt", the deferral queue
 *                  (its state is struct vmm_events, private to it)
 *   churn.c        remap, hot-unplug/replug and reclaim threads (its state
 *                  is struct vmm_churn, private to it)
 *   backend_kvm.c  vCPUs on KVM (gpc/kvm.h)       } struct vmm_backend_ops;
 *   backend_sim.c  vCPUs played by threads running } each keeps its state
 *                  the same guest code              } in m->be_priv
 *   report.c       latency histograms, live status, the final report
 *   util.c         clock, sleep, futex, random numbers, canaries (util.h)
 *
 * Who writes what in struct vmm is noted at each group of fields; a field
 * not listed there is written by vmm.c.
 */
#ifndef GPCVM_VMM_H
#define GPCVM_VMM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <gpc/gpc.h>
#include <gpc/kvm.h>

#include "layout.h"
#include "proto.h"
#include "util.h"

#define VMM_NR_SENDERS 2
#define VMM_POOL_PAGES 4 /* shared-info pages the VMM rotates through */
/* Runstate areas may be anywhere in [0, VMM_RS_RAM_END): low RAM and the
 * runstate window, adjacent in guest-physical space. */
#define VMM_RS_RAM_END (GPCVM_RSWIN_GPA + GPCVM_RSWIN_SIZE)
_Static_assert(GPCVM_LOW_GPA == 0 &&
		       GPCVM_LOW_GPA + GPCVM_LOW_SIZE == GPCVM_RSWIN_GPA,
	       "low RAM and the runstate window are adjacent");
#define VMM_REQ_PAUSE GPC_REQ_USER

enum vmm_backend { VMM_BACKEND_AUTO, VMM_BACKEND_KVM, VMM_BACKEND_SIM };

struct vmm_opts {
	double duration; /* seconds */
	unsigned int vcpus;
	enum gpc_scheme scheme;
	unsigned int scenarios;
	uint64_t seed;
	enum vmm_backend backend;
	bool status; /* live status line (default: if stderr is a tty) */
	bool verbose;
	unsigned int shinfo_period_us;
};

/* A latency histogram: about 6 % resolution, lock-free, any context. */
#define HIST_BUCKETS 1024
struct hist {
	_Atomic uint64_t b[HIST_BUCKETS];
	_Atomic uint64_t n;
};

void hist_add(struct hist *h, uint64_t ns);
uint64_t hist_pct(struct hist *h, double pct);

/* Kinds of violations; any of them makes gpcvm exit non-zero. */
enum vmm_violation {
	V_STALE = 0, /* a write landed on an old location */
	V_LOST,	     /* events lost */
	V_GUEST,     /* the guest reported a failed check */
	V_MMIO,	     /* the guest touched unbacked memory */
	V_VMM,	     /* the VMM's own checks or operations failed */
	V_HANG,	     /* the guest did not finish */
	V_NR
};

struct vmm;
struct vmm_vcpu;
struct vmm_churn;
struct vmm_events;
struct vmm_shinfo;

/*
 * A backend: what runs the vCPUs. Each keeps its own state behind
 * m->be_priv (created by ->create, freed by ->destroy). Called in this
 * order by vmm.c and main.c; only ->destroy_vcpus and ->destroy may be
 * called after a failed ->create or ->create_vcpus.
 */
struct vmm_backend_ops {
	const char *name; /* in the report: "kvm", "sim" */
	/*
	 * After the vm exists, before any memslot: set up the backend's
	 * state and bind the vm to it (KVM: every memslot change is mirrored
	 * into KVM from then on, within the call that makes it). On failure,
	 * m->backend_why may say why. Context: may sleep.
	 */
	int (*create)(struct vmm *m);
	/* Create m->opt.vcpus vCPUs: sets m->vcpus[i].m, .id and .gv. */
	int (*create_vcpus)(struct vmm *m);
	/* The thread of a vCPU (arg: its struct vmm_vcpu): runs the guest
	 * through the pause gate until it is done or m->abort. A kick is
	 * gpc_vcpu_request(v->gv, ...), whichever the backend. */
	void *(*vcpu_thread)(void *arg);
	/* Kick signals the backend sent to @v (report). */
	uint64_t (*kicks_sent)(struct vmm_vcpu *v);
	void (*destroy_vcpus)(struct vmm *m);
	void (*destroy)(struct vmm *m);
};

extern const struct vmm_backend_ops vmm_backend_kvm, vmm_backend_sim;

struct vmm_vcpu {
	struct vmm *m;
	unsigned int id;
	struct gpc_vcpu *gv; /* set by the backend */
	pthread_t thread;    /* main.c */
	bool started;

	/* Runstate: the VMM's own copy (Xen's v->runstate) and the cache
	 * through which this vCPU's thread writes the guest's area. */
	struct gpc_cache rs_cache;
	bool rs_cache_init;
	uint64_t rs_gpa;	  /* under m->rs_lock */
	struct gpcvm_runstate rs; /* this vCPU's thread only */
	uint64_t rs_writes, rs_skipped;

	/* HC_BLOCK (vmm_block(); events.c wakes) */
	_Atomic int blocked;
	_Atomic int wake; /* futex */

	_Atomic int done;
	_Atomic int in_gate;
	struct gpcvm_report report; /* latest from the guest */
	uint64_t report_gpa;	    /* where it was read; under m->rs_lock */
	bool final_report;
	char line[128]; /* console line being assembled */
	unsigned int line_len;

	/* Counters: the backend and vmm.c add, report.c reads. */
	_Atomic uint64_t evictions, exits, kicked_exits;
	_Atomic uint64_t hypercalls, blocks;
};

/* Counters: any file adds (atomically), report.c reads. */
struct vmm_stats {
	_Atomic uint64_t sent, fast, slow, irq, irq_fast, irq_queued, drained;
	_Atomic uint64_t slow_refreshes, slow_waits;
	_Atomic uint64_t raised, coalesced, masked, selected;
	_Atomic uint64_t hb_writes, hb_misses;
	_Atomic uint64_t inval_blocking, inval_nonblock, inval_eagain;
	_Atomic uint64_t shinfo_moves, remaps, hot_cycles, reclaims;
	/* Moves by where the page landed (enum gpcvm_region). */
	_Atomic uint64_t shinfo_landed[GPCVM_NR_REGION_KINDS];
	_Atomic uint64_t hidden_checks;
	_Atomic uint64_t memslot_ops;
	_Atomic uint64_t canary_checks;
	_Atomic uint64_t violations[V_NR];
};

struct vmm {
	struct vmm_opts opt; /* main.c */
	/* main.c chooses; the backend owns be_priv. */
	const struct vmm_backend_ops *be;
	void *be_priv;
	char backend_why[256]; /* why not KVM, if sim */

	struct gpc_hostmem *hm;
	struct gpc_vm *vm;

	/* Host addresses of guest memory; ram[] by enum gpcvm_region. */
	uint8_t *low, *rswin, *zone, *pool, *hot[GPCVM_NR_HOT];
	uint8_t *ram[GPCVM_NR_RAM_REGIONS];
	struct gpcvm_boot *boot;

	/* Shared info: one host page of the pool overlays the guest's GPA.
	 * shinfo.c writes these; others read shinfo_gpa/shinfo_epoch and use
	 * the cache. */
	pthread_mutex_t shinfo_lock; /* placement and moves */
	struct gpc_cache shinfo;     /* host usage: senders, timer */
	_Atomic uint64_t shinfo_gpa; /* 0: not placed */
	_Atomic int shinfo_epoch;    /* futex: bumped when placed/moved */
	struct vmm_shinfo *sh;	     /* the rest: private to shinfo.c */

	/* Runstate and report registrations, and their checks against the
	 * shared-info page (vmm_hc_shinfo() holds it across a move). */
	pthread_mutex_t rs_lock;

	/* Heartbeat caches, one per hot slot (host usage; events.c). */
	struct gpc_cache hb[GPCVM_NR_HOT];

	/* The pause gate (vCPUs between entry and exit count as running). */
	pthread_mutex_t pause_lock;
	_Atomic int pause_req;
	_Atomic int nrunning;

	struct vmm_vcpu vcpus[GPCVM_MAX_VCPUS];

	_Atomic int abort;	 /* anyone: stop everything */
	struct vmm_events *ev;	 /* events.c */
	struct vmm_churn *churn; /* churn.c */

	/* main.c */
	pthread_t clock;
	_Atomic int clock_stop;

	uint64_t t_start, t_end;

	/* Counters and histograms: any file adds, report.c reads. */
	struct vmm_stats st;
	struct hist inval_lat, kick_lat, memslot_lat, move_lat;
	struct hist send_lat; /* sender threads: one deliver(), sampled */

	/* vmm_violation() and vmm_log(). */
	pthread_mutex_t log_lock;
	unsigned int logged;
};

/* ---- vmm.c ---------------------------------------------------------------- */

void vmm_violation(struct vmm *m, enum vmm_violation kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vmm_log(struct vmm *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

int vmm_setup(struct vmm *m);
int vmm_setup_caches(struct vmm *m);
void vmm_teardown(struct vmm *m);
void vmm_load_guest(struct vmm *m);

/* Runstate, on the vCPU's thread in guest mode. */
bool vmm_vcpu_entering(struct vmm_vcpu *v);
void vmm_vcpu_exited(struct vmm_vcpu *v, bool blocked);

/* Every vCPU out of the guest (the caller must be outside the gate), and
 * back; pauses are serialized. */
void vmm_pause_all(struct vmm *m);
void vmm_resume_all(struct vmm *m);
/* Host address of a GPA of low RAM or the runstate window (0: neither). */
uint64_t vmm_rs_ram_hva(struct vmm *m, uint64_t gpa);

/* The pause gate, around each entry into the guest. */
void vmm_gate_enter(struct vmm_vcpu *v);
void vmm_gate_leave(struct vmm_vcpu *v);

/* Hypercalls and blocking, on the vCPU's thread outside guest mode. */
int64_t vmm_hypercall(struct vmm_vcpu *v, uint64_t nr, uint64_t a, uint64_t b,
		      uint64_t c);
void vmm_block(struct vmm_vcpu *v, uint64_t us);
void vmm_console(struct vmm_vcpu *v, char c);
/* A refresh of the vCPU's guest-usage caches failed (err < 0). */
void vmm_cache_error(struct vmm_vcpu *v, int err);

void vmm_layout_view(struct vmm *m, struct gpcvm_layout_view *lv);
/* The same with m->rs_lock held. */
void vmm_layout_view_locked(struct vmm *m, struct gpcvm_layout_view *lv);

/* Memslot changes, timed and counted; failures are violations. */
int vmm_slot_create(struct vmm *m, uint32_t id, uint64_t gpa, uint64_t size,
		    void *hva);
int vmm_slot_delete(struct vmm *m, uint32_t id);
/*
 * Several memslot changes as one transaction (gpc/memslot.h): readers and
 * KVM's mirror see the layout before or after, one grace period for all.
 * Steps fail the whole transaction; vmm_slots_commit() commits it if @err
 * is 0, else aborts it, and reports a failure as a violation. Timed and
 * counted as one memslot operation.
 */
int vmm_slots_begin(struct vmm *m, struct gpc_memslot_txn **tx);
int vmm_slots_add(struct gpc_memslot_txn *tx, uint32_t id, uint64_t gpa,
		  uint64_t size, void *hva);
int vmm_slots_commit(struct vmm *m, struct gpc_memslot_txn *tx, int err);

/* ---- shinfo.c ------------------------------------------------------------- */

/* In vmm_setup(): the shared-info state, and each RAM region's memslot
 * whole (no page placed yet). */
int vmm_shinfo_setup(struct vmm *m);
/* Free the shared-info state (vmm_teardown()). */
void vmm_shinfo_destroy(struct vmm *m);
/* HC_SHINFO: place or move the shared-info page (vCPU thread). */
int64_t vmm_hc_shinfo(struct vmm_vcpu *self, uint64_t gpa, uint64_t size);
/* Check the retired shared-info pages (at the end). */
void vmm_pool_final_check(struct vmm *m);

/* ---- events.c -------------------------------------------------------------- */

void vmm_notify_vcpu(struct vmm *m, unsigned int port);
int vmm_events_start(struct vmm *m);
/* Stop what vmm_events_start() started (nothing if it failed). */
void vmm_events_stop(struct vmm *m);
/* After the stop: our count per port against the shared-info page. */
void vmm_events_check_sequences(struct vmm *m);
/* Seconds the senders ran (0 if they did not). */
double vmm_events_secs(const struct vmm *m);
/* Free the events state (vmm_teardown()). */
void vmm_events_destroy(struct vmm *m);

/* ---- churn.c --------------------------------------------------------------- */

int vmm_churn_start(struct vmm *m);
void vmm_churn_stop(struct vmm *m);
void vmm_churn_final_check(struct vmm *m);
/* Free the churn state (vmm_teardown()). */
void vmm_churn_destroy(struct vmm *m);

/* ---- report.c ------------------------------------------------------------------ */

void vmm_status_line(struct vmm *m, double t);
void vmm_status_clear(struct vmm *m);
int vmm_report(struct vmm *m);

/* --bench: one row per scheme, from a normal run's state. */
struct vmm_bench_row {
	enum gpc_scheme scheme;
	const char *backend;
	char backend_why[256];
	double secs;		    /* senders running */
	uint64_t delivered;	    /* the guest's count */
	uint64_t p50, p99, samples; /* sender-side delivery latency, ns */
	uint64_t violations;
};

void vmm_bench_row(struct vmm *m, struct vmm_bench_row *r);
int vmm_bench_report(const struct vmm_bench_row *rows, unsigned int n,
		     const char *csv_dir, bool quick);

/* The guest image (generated). */
extern const unsigned char gpcvm_guest_image[];
extern const size_t gpcvm_guest_image_size;

#endif /* GPCVM_VMM_H */
