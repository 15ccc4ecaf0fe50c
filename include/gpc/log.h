/* SPDX-License-Identifier: MIT */
/*
 * gpc/log.h - where libgpc reports problems it cannot return as an error.
 *
 * Some conditions are found by a thread other than the one that caused them:
 * a grace period stalled by a reader that holds its section for seconds, a
 * thread that exited inside a read section, misuse detected in debug builds.
 * They are reported once, as a line of text, through one process-wide handler.
 */
#ifndef GPC_LOG_H
#define GPC_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum gpc_log_level {
	GPC_LOG_ERR = 0,
	GPC_LOG_WARN = 1,
	GPC_LOG_INFO = 2,
};

/*
 * A log handler receives a NUL-terminated message without a trailing newline.
 * It may be called from the library's worker threads and, for misuse detected
 * on a fast path in debug builds, from the offending thread in any context.
 */
typedef void gpc_log_fn(enum gpc_log_level level, const char *msg, void *ctx);

/**
 * gpc_log_set_handler - install the process-wide log handler.
 * @fn: the handler, or NULL to restore the default (write to stderr).
 * @ctx: passed to @fn unchanged.
 *
 * Context: may be called from any thread, not from a signal handler. Messages
 * being delivered concurrently may still go to the previous handler.
 */
void gpc_log_set_handler(gpc_log_fn *fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* GPC_LOG_H */
