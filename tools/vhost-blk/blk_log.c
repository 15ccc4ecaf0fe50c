// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/blk_log.c - log lines of gpc-vhost-blk.
 *
 * Every line caused by what a guest put in a request goes through a rate
 * limit: a hostile guest can send millions of malformed requests a second,
 * and one line each would turn the device into a log writer (and fill a
 * disk). The limit is global, not per queue, because the log is one
 * resource; what it drops is counted and shown in the stats at exit.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "blk.h"

/* Guest-caused lines per second that get through. */
#define GUEST_LINES_PER_SEC 10u

static blk_log_sink *log_sink;
static void *log_ctx;
static _Atomic uint64_t guest_sec;   /* the second guest_lines counts in */
static _Atomic uint32_t guest_lines; /* lines let through in guest_sec */
static _Atomic uint64_t guest_dropped;

void blk_log_set_sink(blk_log_sink *sink, void *ctx)
{
	log_sink = sink;
	log_ctx = ctx;
}

static void emit(enum blk_log_level level, const char *fmt, va_list ap)
{
	static const char *const tag[] = { "error", "warning", "info" };
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_sink) {
		log_sink(log_ctx, level, line);
		return;
	}
	/* One fprintf: lines of several threads do not interleave. */
	fprintf(stderr, "gpc-vhost-blk: %s: %s\n", tag[level], line);
}

void blk_log(enum blk_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(level, fmt, ap);
	va_end(ap);
}

void blk_log_guest(const char *fmt, ...)
{
	struct timespec ts;
	uint64_t sec, cur;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	sec = (uint64_t)ts.tv_sec;
	cur = atomic_load_explicit(&guest_sec, memory_order_relaxed);
	/*
	 * A new second resets the count; of two threads seeing it, one wins
	 * the exchange and resets, the other just counts (a line more or
	 * less in that second does not matter).
	 */
	if (cur != sec && atomic_compare_exchange_strong_explicit(
				  &guest_sec, &cur, sec, memory_order_relaxed,
				  memory_order_relaxed))
		atomic_store_explicit(&guest_lines, 0, memory_order_relaxed);
	if (atomic_fetch_add_explicit(&guest_lines, 1, memory_order_relaxed) >=
	    GUEST_LINES_PER_SEC) {
		atomic_fetch_add_explicit(&guest_dropped, 1,
					  memory_order_relaxed);
		return;
	}
	va_start(ap, fmt);
	emit(BLK_LOG_WARN, fmt, ap);
	va_end(ap);
}

uint64_t blk_log_dropped(void)
{
	return atomic_load_explicit(&guest_dropped, memory_order_relaxed);
}

void blk_log_reset_limit(void)
{
	atomic_store_explicit(&guest_sec, 0, memory_order_relaxed);
	atomic_store_explicit(&guest_lines, 0, memory_order_relaxed);
}
