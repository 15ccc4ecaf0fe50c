/* SPDX-License-Identifier: MIT */
/*
 * fuzz/hooklog.h - the library's test hook calls of one operation, in
 * order: recorded by the hook callback, replayed by the model.
 */
#ifndef GPC_FUZZ_HOOKLOG_H
#define GPC_FUZZ_HOOKLOG_H

/* One hook call: point, cache index (-1: none), and for REFRESH_RETRY the
 * number of invalidations the stand-in ended. */
struct ev {
	int pt, ci, nended;
};

void ev_reset(void);
struct ev *ev_record(int pt, int ci);
const char *pt_name(int pt);
/* The next call must be @pt on @ci. */
void ev_expect(int pt, int ci);
/* The next call if it is @pt on @ci (not consumed: ev_skip()), else NULL. */
struct ev *ev_peek(int pt, int ci);
void ev_skip(void);
/* Every call was expected; the log is emptied. */
void ev_done(void);

#endif /* GPC_FUZZ_HOOKLOG_H */
