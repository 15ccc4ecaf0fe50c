/* SPDX-License-Identifier: MIT */
/*
 * fuzz/fuzz_ops.h - the input encoding of fuzz_api, shared with the seed
 * generator (fuzz/gen_seeds.c).
 *
 * An input is one configuration byte followed by records of FZ_REC bytes:
 * an opcode (taken modulo FZ_OP_NR) and four argument bytes a, b, c, d.
 * A short last record is padded with zeros; at most FZ_MAX_OPS records run.
 *
 * Configuration byte:
 *   bit 0  scheme: 0 srcu, 1 rwlock
 *   bit 1  stage:  0 direct, 1 alias (both wrapped in the test stage)
 *   bit 2  start without memslots (else slot 0 over region 0, slot 1 over
 *          region 1)
 *   bit 3  cache 1 starts READONLY
 *   bit 4  install a memslot mirror hook (checks what it is told)
 *
 * The argument bytes are decoded by small helpers in decoder.c; the
 * comments on each FZ_OP_* name the fields. Every byte value is valid: an
 * argument that makes no sense becomes a bad-input call whose error the
 * reference model predicts.
 */
#ifndef GPC_FUZZ_OPS_H
#define GPC_FUZZ_OPS_H

#define FZ_REC	   5
#define FZ_MAX_OPS 200

#define FZ_CFG_RWLOCK  0x01
#define FZ_CFG_ALIAS   0x02
#define FZ_CFG_NOSLOTS 0x04
#define FZ_CFG_RO1     0x08
#define FZ_CFG_MIRROR  0x10

enum fz_op {
	/* a: id (bits 0-2) | flags sel (bits 3-4) | mirror fails (bit 5);
	 * b: gpa page (bits 0-5) | bogus gpa (b >> 6 == 3);
	 * c: hva region (bits 6-7) | page (bits 0-3); d: size sel (bits 0-3) */
	FZ_OP_SLOT_CREATE = 0,
	FZ_OP_SLOT_DELETE, /* a: id | mirror fails (bit 5) */
	FZ_OP_SLOT_MOVE,   /* a: id | mirror (bit 5); b: gpa page/bogus */
	FZ_OP_SLOT_FLAGS,  /* a: id | mirror (bit 5); b: flags sel */
	FZ_OP_ACT_GPA, /* a: cache; b: gpa page/bogus; c: byte off; d: len */
	FZ_OP_ACT_HVA, /* a: cache; b: region|page; c: byte off; d: len */
	FZ_OP_DEACT,   /* a: cache (4+: never-initialised struct) */
	FZ_OP_REFRESH, /* a: cache; b: len sel (0-15 keep length) */
	FZ_OP_CHECK,   /* a: cache | how (bits 3-4: check, begin,
				try_begin, guest_ptr); b: off; c: len;
				d: write through the pointer (bit 0) */
	FZ_OP_READ,    /* a: cache; b: off; c: len */
	FZ_OP_WRITE,   /* a: cache; b: off; c: len; d: pattern */
	FZ_OP_COPY,    /* a: dst | src << 3; b: dst off; c: src off;
				d: len */
	/* a: region|page; b: start sel; c: len sel;
	 * d: helper (bits 0-2) | leave open (bit 3) | bogus flags (bit 4) */
	FZ_OP_INVAL,
	FZ_OP_INVAL_END, /* a: which open one; b: variant (bits 0-1) */
	FZ_OP_INVAL_NB,	 /* a, b, c: range as FZ_OP_INVAL; d: leave open */
	FZ_OP_HELPER,	 /* a: kind; b: region|page; c: pages; d: variant */
	FZ_OP_ENTER,
	FZ_OP_EXIT,
	FZ_OP_HANDLE,
	FZ_OP_REQUEST, /* a: request sel; b: kick exits (bit 0) */
	FZ_OP_GUEST,   /* a: cache; b: off; c: len; d: write (bit 0) */
	/* a: cache | try (bit 3); b: off; c: len; the next record is the
	 * operation run while the access is held */
	FZ_OP_HOLD,
	FZ_OP_INIT,  /* a: cache; b: usage sel; c: flags sel */
	FZ_OP_FAULT, /* a: translate fails; b: map fails; c: errno */
	FZ_OP_BAD,   /* a: which bad call; b, c: arguments; d: for the
			memslot lookup, how its address is translated
			(ops_translate.h) */
	FZ_OP_STATS,
	FZ_OP_VCPU_LIFE, /* a: 0 destroy, 1 create */
	/* a: slot x (bits 0-2) | slot y (bits 3-5); b: gpa page/bogus: one
	 * transaction, delete x then move y */
	FZ_OP_SLOT_TXN,
	/* a: domain (bit 0: the first vm's, or one made here) | scheme (bit
	 * 1) | no cache (bit 2) | page (bits 3-5); b: pattern; c: offset;
	 * d: length: a second vm on a shared domain (ops_domain.c) */
	FZ_OP_DOMAIN,
	/* a: listeners | scheme | nested writer; b: vetoes; c: steps; d:
	 * order: one transaction offered to listeners (ops_listen.c) */
	FZ_OP_LISTEN,
	/* a: scheme | pages written, copied, harvested; b: slot gpa; c:
	 * offset; d: pattern: the dirty log (ops_dirty.c) */
	FZ_OP_DIRTY,
	/* a: stage | scheme << 1 | bad argument (bits 2-4, 4-7); b: offset
	 * pages; c: size pages; d: pattern: fd import (ops_import.c) */
	FZ_OP_IMPORT,
	FZ_OP_NR
};

#endif /* GPC_FUZZ_OPS_H */
