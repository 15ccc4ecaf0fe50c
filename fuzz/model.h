/* SPDX-License-Identifier: MIT */
/*
 * fuzz/model.h - the reference model of fuzz_api (see model.c): its state,
 * and the predictions the operations and checks ask of it.
 */
#ifndef GPC_FUZZ_MODEL_H
#define GPC_FUZZ_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include <gpc/gpc.h>

#include "layout.h"

enum tri { T_NO = 0, T_YES = 1, T_MAYBE = 2 };

/* vCPU modes of the model: the library's three, and "maybe evicted". */
enum {
	M_OUT = GPC_VCPU_OUTSIDE,
	M_IN = GPC_VCPU_IN_GUEST,
	M_EXITING = GPC_VCPU_EXITING,
	M_MAYBE = 3
};

/* ---- the reference model ------------------------------------------------ */

struct mpage {
	bool hole; /* gpc_hostmem_unmap()ed: PROT_NONE reservation */
	int prot;
	uint32_t file, foff; /* backing memfd (model id) and page offset */
	bool has_retired;    /* gpc_hostmem_retired_page() has the old copy */
};

struct mslot {
	bool used;
	uint64_t gpa, size, hva;
	uint32_t flags;
};

enum { CS_ZERO = 0, CS_LIVE, CS_DEAD };

struct mcache {
	int state, usage;
	unsigned int flags;
	bool active, hva_mode;
	uint64_t addr, len; /* what activate/refresh asked for */
	int valid;	    /* tri: khva != NULL */
	int cookie;	    /* tri: valid was ever cleared (srcu) */
	uint64_t pub_gen, pub_len, pub_hva;
	bool idx; /* in the vm's index, at [idx_hva, +idx_len) */
	uint64_t idx_hva, idx_len;
	bool mapped;		     /* holds a mapping of the stage */
	uint32_t map_file, map_foff; /* alias: what it maps (reuse check) */
	uint64_t map_page, map_len;
	uint64_t refreshes, retries;
};

struct mvcpu {
	bool alive;
	int mode;
	int maybe_to;  /* M_MAYBE: the mode if the maybe-eviction happened */
	int req_save;  /* M_MAYBE: req_inval if it did not */
	int req_inval; /* tri: GPC_REQ_CACHE_INVALID pending */
	unsigned int reqbits; /* other pending bits, exactly */
	int list[NC]; /* its active guest caches, in the library's order */
	int nlist;
};

struct range {
	uint64_t s, e;
};

struct model {
	int scheme, stage;
	struct mpage pages[NPG];
	uint32_t next_file;
	struct mslot slots[MAX_SLOTS];
	uint64_t gen;
	struct mcache c[NC + 1];
	struct mvcpu v;
	struct range open[MAX_OPEN];
	int nopen;
	uint64_t seq;
	int held; /* cache whose access is held, or -1 */
	int fail_translate, fail_map, fail_err;
	bool mirror;
	uint64_t st_inval, st_eagain, st_slot_changes, st_refreshes, st_retries,
		kicks;
	uint64_t rekicks; /* upper bound of re-sent kicks (lost-kick recovery) */
};

extern struct model m;
/* The vCPU stand-in leaves guest mode when kicked (runtime.c kick_fn):
 * true while a call that blocks on the vCPU runs; set by the operations. */
extern bool auto_exit;
extern uint8_t shadow[NPG][PG];	 /* what guest RAM should hold */
extern uint8_t retired[NPG][PG]; /* what a replaced page held */

void dump_model(void);
uint8_t *shadow_at(uint64_t hva);

/* Memslots and host memory. */
struct mslot *m_slot_at(uint64_t gpa);
bool m_slot_range_ok(uint64_t a, uint64_t size);
bool m_slot_overlaps(int skip, uint64_t gpa, uint64_t size);
void m_slot_changed(void);
int m_change(int kind, uint64_t hva, uint64_t len, int prot);
int m_change_check(int kind, uint64_t hva, uint64_t len, int prot);

/* The vCPU. */
void m_kick_to(int *mode);
void m_list_del(int ci);

/* Caches. */
bool m_range_ok(uint64_t addr, uint64_t len);
bool gen_ok(struct mcache *mc);
int m_hit(int ci, uint64_t off, uint64_t len);
int m_refresh_locked(int ci);
bool srcu_held(void);
bool held(void);
int m_refresh(int ci, uint64_t len);
void m_deactivate(int ci);
int m_access(int ci, uint64_t off, uint64_t len, bool write);

/* Invalidations. */
int m_inval_start(uint64_t s, uint64_t e, unsigned int flags, bool *maybe);
void remove_open(struct range *list, int *n, uint64_t s, uint64_t e);
bool is_open(uint64_t s, uint64_t e);

#endif /* GPC_FUZZ_MODEL_H */
