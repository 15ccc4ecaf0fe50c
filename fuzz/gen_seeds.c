// SPDX-License-Identifier: MIT
/*
 * fuzz/gen_seeds.c - write the seed corpus of fuzz_api (fuzz/corpus/).
 *
 *	fuzz_gen_seeds fuzz/corpus
 *
 * Each seed is a short, readable scenario in the encoding of
 * fuzz/fuzz_ops.h that reaches one kind of operation (and its follow-ups),
 * so that the fuzzer starts from inputs that already get past the easy
 * errors. The files are checked in; rerun this after changing the encoding.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gpc/version.h>

#include "fuzz_ops.h"

#define MAXB (1 + FZ_REC * FZ_MAX_OPS)

struct seed {
	uint8_t b[MAXB];
	size_t n;
};

static void cfg(struct seed *s, uint8_t c)
{
	s->b[0] = c;
	s->n = 1;
}

static void op(struct seed *s, int o, int a, int b, int c, int d)
{
	uint8_t r[FZ_REC] = { (uint8_t)o, (uint8_t)a, (uint8_t)b, (uint8_t)c,
			      (uint8_t)d };

	if (s->n + FZ_REC > MAXB) {
		fprintf(stderr, "gen_seeds: seed too long\n");
		exit(1);
	}
	memcpy(s->b + s->n, r, FZ_REC);
	s->n += FZ_REC;
}

/* Argument helpers (see the decoders in decoder.c). */
#define LEN1		  0
#define LEN8		  3
#define LEN64		  6
#define LENPG		  9
#define LEN2PG		  11
#define HVA(region, page) (((region) << 6) | (page))
#define HOW_CHECK	  0
#define HOW_BEGIN	  (1 << 3)
#define HOW_TRY		  (2 << 3)
#define HOW_GUEST	  (3 << 3)
#define OFF0		  0
#define ALEN8		  2
#define ALEN_ALL	  7
#define INV_OPEN	  8

/* Activate cache c at GPA page p (slot 0 is pages 0-7, slot 1 pages 16-19). */
static void act(struct seed *s, int c, int p, int len)
{
	op(s, FZ_OP_ACT_GPA, c, p, 0, len);
}

static void rw(struct seed *s, int c)
{
	op(s, FZ_OP_WRITE, c, OFF0, ALEN_ALL, 0x5a);
	op(s, FZ_OP_READ, c, OFF0, ALEN_ALL, 0);
	op(s, FZ_OP_CHECK, c | HOW_BEGIN, OFF0, ALEN8, 1);
	op(s, FZ_OP_CHECK, c | HOW_CHECK, OFF0, ALEN8, 0);
}

static int write_seed(const char *dir, const char *name, const struct seed *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(s->b, 1, s->n, f) != s->n || fclose(f)) {
		perror(path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct seed s;
	int err = 0;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		/* Not linked with libgpc: the header's version. */
		printf("fuzz_gen_seeds libgpc %s\n", GPC_VERSION_STRING);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s <corpus dir> | --version\n",
			argv[0]);
		return 2;
	}
#define SEED(name) err |= write_seed(argv[1], name, &s)

	/* Every scheme x stage: activate, write, read, begin, check,
	 * deactivate. */
	for (int c = 0; c < 4; c++) {
		char name[64];

		cfg(&s, (uint8_t)c);
		act(&s, 0, 0, LEN8);
		act(&s, 1, 17, LENPG);
		rw(&s, 0);
		rw(&s, 1);
		op(&s, FZ_OP_DEACT, 0, 0, 0, 0);
		op(&s, FZ_OP_CHECK, 0, OFF0, ALEN8, 0);
		op(&s, FZ_OP_STATS, 0, 0, 0, 0);
		snprintf(name, sizeof(name), "basic-%s-%s",
			 c & FZ_CFG_RWLOCK ? "rwlock" : "srcu",
			 c & FZ_CFG_ALIAS ? "alias" : "direct");
		SEED(name);
	}

	/* Memslot changes under active caches. */
	cfg(&s, 0);
	act(&s, 0, 2, LEN8);
	op(&s, FZ_OP_SLOT_CREATE, 2, 24, HVA(0, 4), 4); /* slot 2 aliases R0 */
	act(&s, 1, 24, LEN8);
	op(&s, FZ_OP_CHECK, 0, OFF0, ALEN8, 0); /* stale generation */
	op(&s, FZ_OP_REFRESH, 0, 0, 0, 0);
	op(&s, FZ_OP_SLOT_MOVE, 0, 8, 0, 0);  /* slot 0 to page 8 */
	op(&s, FZ_OP_REFRESH, 0, 0, 0, 0);    /* -EFAULT */
	op(&s, FZ_OP_SLOT_FLAGS, 2, 1, 0, 0); /* read-only */
	op(&s, FZ_OP_REFRESH, 1, 0, 0, 0);    /* -EFAULT */
	op(&s, FZ_OP_SLOT_DELETE, 2, 0, 0, 0);
	op(&s, FZ_OP_SLOT_CREATE, 7, 0, HVA(0, 0), 1);	  /* id out of range */
	op(&s, FZ_OP_SLOT_CREATE, 3, 18, HVA(1, 0), 2);	  /* overlaps slot 1 */
	op(&s, FZ_OP_SLOT_CREATE, 3, 0xc0, HVA(1, 0), 1); /* unaligned gpa */
	op(&s, FZ_OP_SLOT_CREATE, 3, 28, HVA(0, 0), 10);  /* unaligned hva */
	op(&s, FZ_OP_SLOT_MOVE, 1, 2, 0, 0);		  /* onto slot 0? */
	op(&s, FZ_OP_SLOT_DELETE, 3, 0, 0, 0);		  /* -ENOENT */
	op(&s, FZ_OP_STATS, 0, 0, 0, 0);
	SEED("memslots");

	/* Blocking invalidation of a cache's page, miss, refresh, hit. */
	cfg(&s, FZ_CFG_ALIAS);
	act(&s, 0, 1, LEN64);
	act(&s, 1, 3, LEN8);
	op(&s, FZ_OP_INVAL, HVA(0, 1), 0, 0, 0);
	op(&s, FZ_OP_CHECK, 0, OFF0, ALEN8, 0);
	op(&s, FZ_OP_CHECK, 1, OFF0, ALEN8, 0);
	op(&s, FZ_OP_REFRESH, 0, 0, 0, 0);
	rw(&s, 0);
	op(&s, FZ_OP_INVAL, HVA(0, 1), 0x48, 0x84, 0); /* bytes inside */
	op(&s, FZ_OP_INVAL, 0xc0, 0, 0, 0);	       /* everything */
	op(&s, FZ_OP_READ, 1, OFF0, ALEN_ALL, 0);
	SEED("inval-block");

	/* Each host memory change inside a blocking invalidation. */
	for (int st = 0; st < 2; st++) {
		cfg(&s, (uint8_t)(st ? FZ_CFG_ALIAS : 0));
		act(&s, 0, 0, LEN2PG);
		act(&s, 1, 4, LEN8);
		op(&s, FZ_OP_WRITE, 0, OFF0, ALEN_ALL, 0x11);
		op(&s, FZ_OP_INVAL, HVA(0, 0), 0, 1, 4); /* migrate 2 pages */
		op(&s, FZ_OP_READ, 0, OFF0, ALEN_ALL, 0);
		op(&s, FZ_OP_INVAL, HVA(0, 1), 0, 0, 2); /* remap page 1 */
		op(&s, FZ_OP_REFRESH, 0, 0, 0, 0);	 /* alias: -EINVAL */
		op(&s, FZ_OP_INVAL, HVA(0, 4), 0, 0, 3); /* discard */
		op(&s, FZ_OP_READ, 1, OFF0, ALEN_ALL, 0);
		op(&s, FZ_OP_INVAL, HVA(0, 4), 0, 0, 6);   /* read-only */
		op(&s, FZ_OP_WRITE, 1, OFF0, ALEN_ALL, 1); /* -EFAULT */
		op(&s, FZ_OP_INVAL, HVA(0, 4), 0, 0, 7);   /* read-write */
		op(&s, FZ_OP_WRITE, 1, OFF0, ALEN_ALL, 2);
		op(&s, FZ_OP_INVAL, HVA(0, 4), 0, 0, 1); /* unmap */
		op(&s, FZ_OP_REFRESH, 1, 0, 0, 0);	 /* -EFAULT */
		op(&s, FZ_OP_INVAL, HVA(0, 4), 0, 0, 2); /* remap */
		op(&s, FZ_OP_READ, 1, OFF0, ALEN_ALL, 0);
		op(&s, FZ_OP_INVAL, HVA(0, 4), 0, 0, 5); /* PROT_NONE */
		op(&s, FZ_OP_REFRESH, 1, 0, 0, 0);
		SEED(st ? "inval-changes-alias" : "inval-changes-direct");
	}

	/* The helpers themselves (they notify the vm), and bad ranges. */
	cfg(&s, FZ_CFG_ALIAS | FZ_CFG_RWLOCK);
	act(&s, 0, 5, LEN8);
	for (int k = 0; k < 8; k++)
		op(&s, FZ_OP_HELPER, k, HVA(0, 5), 0, 0);
	op(&s, FZ_OP_HELPER, 1, HVA(1, 3), 3, 0); /* past region */
	op(&s, FZ_OP_HELPER, 1, HVA(0, 0), 0, 1); /* unaligned */
	op(&s, FZ_OP_HELPER, 1, HVA(2, 0), 0, 0); /* not guest RAM */
	op(&s, FZ_OP_HELPER, 3, 0xc0, 0, 0);	  /* all of region 0 */
	op(&s, FZ_OP_READ, 0, OFF0, ALEN_ALL, 0);
	SEED("helpers");

	/* An invalidation left open while refreshes run (the retry path),
	 * then ended; and open ones that do not overlap. */
	cfg(&s, 0);
	act(&s, 0, 1, LEN8);
	act(&s, 1, 6, LEN8);
	op(&s, FZ_OP_INVAL, HVA(0, 1), 0, 0, INV_OPEN);
	op(&s, FZ_OP_INVAL, HVA(1, 0), 0, 0, INV_OPEN);
	op(&s, FZ_OP_REFRESH, 1, 0, 0, 0);		      /* unrelated */
	op(&s, FZ_OP_READ, 0, OFF0, ALEN_ALL, 0);	      /* retries */
	op(&s, FZ_OP_INVAL, HVA(0, 6), 0x48, 0x82, INV_OPEN); /* same page */
	op(&s, FZ_OP_REFRESH, 1, 0, 0, 0);
	op(&s, FZ_OP_INVAL_END, 0, 0, 0, 0);
	op(&s, FZ_OP_INVAL_END, 0, 1, 0, 0);	      /* -ENOENT */
	op(&s, FZ_OP_INVAL_END, 0, 2, 0, 0);	      /* -EINVAL */
	op(&s, FZ_OP_INVAL_END, 0, 3, 0, 0);	      /* all */
	op(&s, FZ_OP_INVAL, 0xc0, 0, 0, INV_OPEN);    /* [0, UINT64_MAX) */
	op(&s, FZ_OP_READ, 0, OFF0, ALEN_ALL, 0);     /* retries */
	op(&s, FZ_OP_ACT_HVA, 2, HVA(1, 2), 0, LEN8); /* retries */
	SEED("inval-open");

	/* Non-blocking invalidations: plain, with the vCPU inside, then
	 * after it left. */
	cfg(&s, 0);
	act(&s, 0, 1, LEN8);
	act(&s, 3, 2, LEN8);
	op(&s, FZ_OP_INVAL_NB, HVA(0, 1), 0, 0, 0);
	op(&s, FZ_OP_INVAL_NB, HVA(0, 1), 0, 0, 0);
	op(&s, FZ_OP_REFRESH, 0, 0, 0, 0);
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);
	op(&s, FZ_OP_INVAL_NB, HVA(0, 2), 0, 0, 0); /* -EAGAIN, kicked */
	op(&s, FZ_OP_INVAL_NB, HVA(0, 2), 0, 0, 0); /* still inside */
	op(&s, FZ_OP_EXIT, 0, 0, 0, 0);
	op(&s, FZ_OP_INVAL_NB, HVA(0, 2), 0, 0, 1); /* succeeds, open */
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);	    /* -EAGAIN */
	op(&s, FZ_OP_INVAL_END, 0, 0, 0, 0);
	op(&s, FZ_OP_HANDLE, 0, 0, 0, 0);
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);
	op(&s, FZ_OP_GUEST, 3, OFF0, ALEN8, 1);
	op(&s, FZ_OP_EXIT, 0, 0, 0, 0);
	SEED("inval-nonblock");
	s.b[0] = FZ_CFG_RWLOCK | FZ_CFG_ALIAS;
	SEED("inval-nonblock-rwlock");

	/* Guest usage: enter, use, blocking invalidation kicks the vCPU out,
	 * requests, re-enter. */
	cfg(&s, FZ_CFG_ALIAS);
	act(&s, 3, 3, LEN64);
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);
	op(&s, FZ_OP_GUEST, 3, OFF0, ALEN8, 1);
	op(&s, FZ_OP_INVAL, HVA(0, 3), 0, 0, 2); /* remap: kick */
	op(&s, FZ_OP_GUEST, 3, OFF0, ALEN8, 0);
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);
	op(&s, FZ_OP_HANDLE, 0, 0, 0, 0);
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);
	op(&s, FZ_OP_REQUEST, 0, 0, 0, 0); /* user bit, kick */
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);   /* -EINVAL */
	op(&s, FZ_OP_EXIT, 0, 0, 0, 0);
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);  /* -EAGAIN */
	op(&s, FZ_OP_HANDLE, 0, 0, 0, 0); /* user bits */
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);
	op(&s, FZ_OP_DEACT, 3, 0, 0, 0); /* kicks */
	op(&s, FZ_OP_VCPU_LIFE, 0, 0, 0, 0);
	SEED("vcpu-guest");

	/* Accesses held across other operations, both schemes. */
	for (int sc = 0; sc < 2; sc++) {
		cfg(&s, (uint8_t)sc);
		act(&s, 0, 1, LEN8);
		act(&s, 1, 1, LEN64);
		op(&s, FZ_OP_HOLD, 0, OFF0, ALEN8, 0);
		op(&s, FZ_OP_INVAL_NB, HVA(0, 1), 0, 0, 0);
		op(&s, FZ_OP_HOLD, 1, OFF0, ALEN8, 0);
		op(&s, FZ_OP_REFRESH, 0, 0, 0, 0);
		op(&s, FZ_OP_REFRESH, 1, 0, 0, 0);
		op(&s, FZ_OP_HOLD, 1 | 8, OFF0, ALEN8, 0);
		op(&s, FZ_OP_SLOT_DELETE, 1, 0, 0, 0);
		op(&s, FZ_OP_HOLD, 1, OFF0, ALEN8, 0);
		op(&s, FZ_OP_INVAL, HVA(1, 0), 0, 0, 0);
		op(&s, FZ_OP_HOLD, 1, OFF0, ALEN8, 0);
		op(&s, FZ_OP_READ, 1, OFF0, ALEN8, 0);
		SEED(sc ? "hold-rwlock" : "hold-srcu");
	}

	/* HVA-mode caches: RAM, the guard area, near zero, the top page. */
	cfg(&s, FZ_CFG_ALIAS);
	op(&s, FZ_OP_ACT_HVA, 0, HVA(1, 1), 0, LEN64);
	op(&s, FZ_OP_ACT_HVA, 1, HVA(2, 0), 0, LEN8);	   /* -EFAULT */
	op(&s, FZ_OP_ACT_HVA, 2, HVA(3, 0), 0, LEN8);	   /* -EFAULT */
	op(&s, FZ_OP_ACT_HVA, 2, HVA(3, 1), 0, 2);	   /* top page */
	op(&s, FZ_OP_ACT_HVA, 2, HVA(1, 3), 0x87, LEN2PG); /* clamped */
	op(&s, FZ_OP_SLOT_DELETE, 1, 0, 0, 0);		   /* ignored */
	rw(&s, 0);
	op(&s, FZ_OP_INVAL, HVA(1, 1), 0, 0, 0);
	op(&s, FZ_OP_READ, 0, OFF0, ALEN_ALL, 0);
	SEED("hva-mode");

	/* Bad inputs. */
	cfg(&s, 0);
	for (int b = 0; b < 12; b++)
		op(&s, FZ_OP_BAD, b, 3, 0, 0);
	op(&s, FZ_OP_ACT_GPA, 0, 0, 0, 14);	  /* zero length */
	op(&s, FZ_OP_ACT_GPA, 0, 0xc1, 0, 15);	  /* overflow */
	op(&s, FZ_OP_ACT_GPA, 0, 0xc2, 0, 4);	  /* no slot */
	op(&s, FZ_OP_ACT_GPA, 0, 7, 0x81, LEN64); /* past slot end */
	op(&s, FZ_OP_REFRESH, 0, 0, 0, 0);
	op(&s, FZ_OP_DEACT, 4, 0, 0, 0); /* never initialised */
	op(&s, FZ_OP_READ, 4, 0, 0, 0);
	op(&s, FZ_OP_WRITE, 0, 5, 2, 0);	    /* past the end */
	op(&s, FZ_OP_INIT, 4, 1, 0, 0);		    /* guest, no vCPU */
	op(&s, FZ_OP_INIT, 0, 3, 4, 0);		    /* bad flags */
	op(&s, FZ_OP_INVAL, HVA(0, 0), 0, 0xff, 0); /* empty */
	op(&s, FZ_OP_INVAL, HVA(0, 0), 0, 0, 16);   /* bad flags */
	SEED("bad-inputs");

	/* Fault injection in translate and map. */
	cfg(&s, FZ_CFG_ALIAS);
	act(&s, 0, 0, LEN8);
	op(&s, FZ_OP_FAULT, 1, 0, 1, 0);
	op(&s, FZ_OP_REFRESH, 0, 0, 0, 0); /* -ENOMEM */
	op(&s, FZ_OP_REFRESH, 0, 0, 0, 0);
	op(&s, FZ_OP_FAULT, 0, 1, 2, 0);
	op(&s, FZ_OP_ACT_GPA, 0, 3, 0, LEN8); /* -EIO */
	op(&s, FZ_OP_READ, 0, OFF0, ALEN_ALL, 0);
	op(&s, FZ_OP_FAULT, 2, 0, 0, 0);
	op(&s, FZ_OP_READ, 0, OFF0, ALEN_ALL, 0); /* -EFAULT */
	op(&s, FZ_OP_STATS, 0, 0, 0, 0);
	SEED("faults");

	/* Copies, multi-page caches, writes across a page boundary. */
	cfg(&s, FZ_CFG_ALIAS | FZ_CFG_RWLOCK);
	act(&s, 0, 0, LEN2PG);
	op(&s, FZ_OP_ACT_GPA, 1, 5, 0x87, LENPG); /* crosses a page */
	op(&s, FZ_OP_WRITE, 0, OFF0, ALEN_ALL, 0x33);
	op(&s, FZ_OP_COPY, 1 | (0 << 3), 0, 0, 7);
	op(&s, FZ_OP_COPY, 0 | (1 << 3), 2, 0, 3);
	op(&s, FZ_OP_READ, 1, OFF0, ALEN_ALL, 0);
	op(&s, FZ_OP_HELPER, 1, HVA(0, 1), 0, 0); /* remap page 1 */
	op(&s, FZ_OP_READ, 0, OFF0, ALEN_ALL, 0); /* -EINVAL */
	SEED("copy-multipage");

	/* Cache init/destroy, guest caches and the vCPU's life. */
	cfg(&s, 0);
	op(&s, FZ_OP_INIT, 0, 1, 0, 0); /* guest */
	act(&s, 0, 1, LEN8);
	op(&s, FZ_OP_VCPU_LIFE, 0, 0, 0, 0); /* -EBUSY */
	op(&s, FZ_OP_INIT, 0, 5, 0, 0);	     /* destroy */
	op(&s, FZ_OP_INIT, 3, 5, 0, 0);
	op(&s, FZ_OP_VCPU_LIFE, 0, 0, 0, 0); /* gone */
	op(&s, FZ_OP_INIT, 3, 1, 0, 0);	     /* dead vCPU */
	op(&s, FZ_OP_VCPU_LIFE, 1, 0, 0, 0);
	op(&s, FZ_OP_INIT, 3, 1, 1, 0); /* guest, RO */
	act(&s, 3, 2, LEN8);
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);
	op(&s, FZ_OP_INIT, 1, 2, 0, 0); /* bad usage */
	op(&s, FZ_OP_INIT, 1, 3, 3, 0); /* host + vCPU */
	SEED("init-vcpu");

	/* More invalidations in progress than allowed: -EBUSY. */
	cfg(&s, 0);
	act(&s, 0, 0, LEN8);
	for (int i = 0; i < 66; i++)
		op(&s, FZ_OP_INVAL, HVA(2, i & 3), ((i >> 2) & 63) | 0x40, 1,
		   INV_OPEN);
	op(&s, FZ_OP_HELPER, 1, HVA(0, 0), 0, 0);   /* -EBUSY */
	op(&s, FZ_OP_INVAL_NB, HVA(0, 0), 0, 0, 0); /* -EBUSY */
	op(&s, FZ_OP_INVAL_END, 0, 3, 0, 0);
	op(&s, FZ_OP_REFRESH, 0, 0, 0, 0);
	SEED("inflight-max");

	/* Mirror hook, including a failing one; start without memslots. */
	cfg(&s, FZ_CFG_MIRROR | FZ_CFG_NOSLOTS | FZ_CFG_RO1);
	act(&s, 0, 0, LEN8); /* -EFAULT */
	op(&s, FZ_OP_SLOT_CREATE, 0, 0, HVA(0, 0), 8);
	op(&s, FZ_OP_SLOT_CREATE, 1 | 32, 16, HVA(1, 0), 4); /* mirror fails */
	op(&s, FZ_OP_SLOT_CREATE, 1 | 8, 16, HVA(1, 0), 4);  /* read-only */
	op(&s, FZ_OP_REFRESH, 0, 0, 0, 0);
	act(&s, 1, 16, LEN8);
	op(&s, FZ_OP_WRITE, 1, OFF0, ALEN8, 0); /* -EPERM */
	op(&s, FZ_OP_ACT_GPA, 2, 16, 0, LEN8);	/* -EFAULT */
	op(&s, FZ_OP_SLOT_FLAGS, 1, 0, 0, 0);
	op(&s, FZ_OP_REFRESH, 2, 0, 0, 0);
	op(&s, FZ_OP_SLOT_MOVE, 0 | 32, 24, 0, 0); /* mirror fails */
	op(&s, FZ_OP_SLOT_DELETE, 1, 0, 0, 0);
	rw(&s, 0);
	SEED("mirror-noslots");

	/* Requests and entries, with the kick leaving the vCPU EXITING. */
	cfg(&s, FZ_CFG_RWLOCK);
	act(&s, 3, 0, LEN8);
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);
	op(&s, FZ_OP_REQUEST, 1, 0, 0, 0);
	op(&s, FZ_OP_INVAL_NB, HVA(0, 0), 0, 0, 0); /* EXITING: -EAGAIN */
	op(&s, FZ_OP_REFRESH, 3, 0, 0, 0);
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);
	op(&s, FZ_OP_HANDLE, 0, 0, 0, 0);
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);
	op(&s, FZ_OP_REQUEST, 2, 1, 0, 0); /* kick exits */
	op(&s, FZ_OP_HANDLE, 0, 0, 0, 0);
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);
	op(&s, FZ_OP_SLOT_MOVE, 0, 8, 0, 0); /* stale gen */
	op(&s, FZ_OP_GUEST, 3, OFF0, ALEN8, 0);
	op(&s, FZ_OP_EXIT, 0, 0, 0, 0);
	op(&s, FZ_OP_ENTER, 0, 0, 0, 0);
	op(&s, FZ_OP_HANDLE, 0, 0, 0, 0); /* -EFAULT */
	SEED("requests");

	/*
	 * Shared domains: a second vm on the first vm's domain and on one
	 * made for it, of both schemes, with and without its cache; then
	 * zero-filled and destroyed caches (bad 7), inside a hold too.
	 */
	for (int sc = 0; sc < 2; sc++) {
		cfg(&s, sc ? FZ_CFG_RWLOCK | FZ_CFG_ALIAS : 0);
		op(&s, FZ_OP_DOMAIN, 0 | (2 << 3), 0x11, 5, 9);
		op(&s, FZ_OP_DOMAIN, 1 | 2 | (5 << 3), 0x22, 100, 200);
		op(&s, FZ_OP_DOMAIN, 1 | 4, 0, 0, 0);
		act(&s, 0, 2, LEN8);
		rw(&s, 0);
		op(&s, FZ_OP_DOMAIN, 2 | (2 << 3), 0x33, 0, 255);
		rw(&s, 0);
		op(&s, FZ_OP_BAD, 7, 0, 3, 17);
		op(&s, FZ_OP_INIT, 1, 0, 0, 0);
		op(&s, FZ_OP_BAD, 7, 1, 9, 63);
		op(&s, FZ_OP_HOLD, 0, OFF0, ALEN8, 0);
		op(&s, FZ_OP_DOMAIN, 1, 0, 0, 0);
		SEED(sc ? "domains-rwlock-alias" : "domains-srcu-direct");
	}

	/*
	 * Listeners: every step kind in several orders, vetoes by the first,
	 * middle and last listener (negative and positive errnos), writers
	 * called from a prepare and from a commit, an empty transaction.
	 */
	cfg(&s, 0);
	op(&s, FZ_OP_LISTEN, 2, 0, 0x3f, 0);
	op(&s, FZ_OP_LISTEN, 2 | 4, 0, 0x3f, 3 | (1 << 3) | 32);
	op(&s, FZ_OP_LISTEN, 1 | (1 << 3), 0, 0x2b, 5);
	op(&s, FZ_OP_LISTEN, 2 | 32, 0, 0x15, 2 | (2 << 3));
	op(&s, FZ_OP_LISTEN, 2, 1 << 2, 0x3f, 1);
	op(&s, FZ_OP_LISTEN, 2, 2, 0x31, 4);
	op(&s, FZ_OP_LISTEN, 2 | 4, 3 << 4, 0x0f, 6);
	op(&s, FZ_OP_LISTEN, 0, 1, 0, 0);
	op(&s, FZ_OP_LISTEN, 2 | (2 << 3) | 32, 0, 0x30, 1 | 32);
	SEED("listeners");

	/* The dirty log: pages apart, the same page, both schemes. */
	for (int sc = 0; sc < 2; sc++) {
		cfg(&s, sc ? FZ_CFG_RWLOCK : 0);
		op(&s, FZ_OP_DIRTY, sc | 0 << 1 | 1 << 3 | 2 << 5, 0, 100, 40);
		op(&s, FZ_OP_DIRTY, sc | 3 << 1 | 3 << 3 | 3 << 5, 21, 4095,
		   255);
		op(&s, FZ_OP_DIRTY, sc | 2 << 1 | 0 << 3 | 1 << 5, 255, 0, 0);
		act(&s, 0, 2, LEN8);
		rw(&s, 0);
		op(&s, FZ_OP_DIRTY, sc | 1 << 1 | 2 << 3, 85, 7, 128);
		SEED(sc ? "dirty-rwlock" : "dirty-srcu");
	}

	/* fd import: every stage and scheme, every bad argument. */
	cfg(&s, 0);
	for (int k = 0; k < 4; k++)
		op(&s, FZ_OP_IMPORT, k, 1, 3, 0x40 + k);
	op(&s, FZ_OP_IMPORT, 1, 0, 8, 7);
	op(&s, FZ_OP_IMPORT, 1, 7, 1, 0);
	op(&s, FZ_OP_IMPORT, 0, 0, 0, 0); /* size 0 */
	op(&s, FZ_OP_IMPORT, 1, 4, 6, 0); /* beyond the file */
	for (int bad = 4; bad < 8; bad++)
		op(&s, FZ_OP_IMPORT, 1 | bad << 2, 0, 1, 77);
	SEED("import");

	return err ? 1 : 0;
}
