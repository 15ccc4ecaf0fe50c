/* SPDX-License-Identifier: MIT */
/*
 * fuzz/fuzz_vhost_dev.h - what the three files of fuzz_vhost_dev share:
 * fuzz_vhost_dev.c (the device, the back-ends, one input),
 * fuzz_vhost_dev_fe.c (the front-end: the decoder of messages and kicks,
 * its model of what it sent), fuzz_vhost_dev_seeds.c (the seed writer).
 * The input layout is in fuzz_vhost_dev.c.
 */
#ifndef FUZZ_VHOST_DEV_H
#define FUZZ_VHOST_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto.h"

#define PS	      4096ull
#define A_PAGES	      16
#define B_PAGES	      8
#define MIB	      0x100000ull
#define UBASE	      0x7f0000000000ull
#define NQ	      2
#define QMAX	      256
#define CFG_SIZE      8
#define MAX_OPS	      32
#define MAX_MSGS      24
#define NEVFD	      4
#define MAX_MODEL_REG 16
#define REPLY_WAIT_MS 10

#define CHECK(cond, ...)                                                \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "fuzz_vhost_dev: %s: ", #cond); \
			fprintf(stderr, __VA_ARGS__);                   \
			fputc('\n', stderr);                            \
			abort();                                        \
		}                                                       \
	} while (0)

/* The process's guest memory and eventfds (fuzz_vhost_dev.c). */
extern bool past_eof;
extern int memfd[2];
extern uint8_t *gmem[2];
extern const unsigned int gpages[2];
extern int evfd[NEVFD];

/* ---- the input ---------------------------------------------------------- */

struct in {
	const uint8_t *p;
	size_t n, off;
};

static inline uint8_t u8(struct in *in)
{
	return in->off < in->n ? in->p[in->off++] : 0;
}

static inline void bytes(struct in *in, void *out, size_t len)
{
	uint8_t *o = out;

	for (size_t i = 0; i < len; i++)
		o[i] = u8(in);
}

static inline uint64_t u64(struct in *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)u8(in) << (8 * i);
	return v;
}

/* ---- the front-end's model of what it sent ------------------------------ */

/* A region as sent (accepted or not): where the harness finds its bytes. */
struct mregion {
	unsigned int m; /* memfd */
	uint64_t gpa, uaddr, size, off;
};

struct mqueue {
	unsigned int num;
	bool addr_set;
	uint64_t desc, avail, used; /* user addresses */
	int kick;		    /* the eventfd sent as its kick, -1 */
};

struct fe {
	int sock;
	bool gone;	/* the back-end closed the connection */
	bool reply_ack; /* we believe REPLY_ACK was negotiated */
	struct mregion reg[MAX_MODEL_REG];
	unsigned int nreg;
	struct mqueue q[NQ];
};

/* The requests a message op picks from (fuzz_vhost_dev_fe.c). */
extern const uint32_t supported[];
extern const unsigned int nsupported;

/* One op of the input (fuzz_vhost_dev_fe.c). */
void fzd_op_msg(struct fe *fe, struct in *in, bool raw_req);
void fzd_op_kick(struct fe *fe, struct in *in);
/* Wait up to ms for a reply (or the disconnect); true if one came. */
bool fzd_wait_reply(struct fe *fe, int ms);

/* FUZZ_VHOST_DEV_WRITE_SEEDS (fuzz_vhost_dev_seeds.c). */
void fzd_write_seeds(const char *dir);

#endif /* FUZZ_VHOST_DEV_H */
