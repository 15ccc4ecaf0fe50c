/* SPDX-License-Identifier: MIT */
/*
 * fuzz/fuzz_vhost_msg.h - the input encoding of fuzz_vhost_msg, shared with
 * its seed generator (gen_vhost_seeds.c).
 *
 *	byte 0      low nibble: fds sent with the first piece (0-15);
 *	            high nibble: fds sent with the second piece (0-15)
 *	byte 1      where the second piece starts, as an offset into the stream
 *	            (past the end: one piece only)
 *	byte 2..    the stream the "front-end" writes: messages back to back
 *
 * Up to 15 fds a piece reaches past GPC_VHOST_MAX_FDS (8) in one piece and
 * across two, so the truncated-ancillary-data and too-many-fds paths are
 * inputs like any other.
 */
#ifndef GPC_FUZZ_VHOST_MSG_H
#define GPC_FUZZ_VHOST_MSG_H

#define FZV_HDR_BYTES 2

#define FZV_FDS(first, second) ((unsigned char)(((second) << 4) | (first)))

#endif /* GPC_FUZZ_VHOST_MSG_H */
