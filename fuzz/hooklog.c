// SPDX-License-Identifier: MIT
/*
 * fuzz/hooklog.c - the log of the library's test hook calls in one
 * operation: the runtime records them (runtime.c hook_fn), the model
 * replays the calls it predicts against them, in order.
 */
#include <gpc/gpc.h>

#include "gpc_testing.h"
#include "hooklog.h"
#include "layout.h"
#include "report.h"

static struct ev ev[MAX_EV];
static int nev, evpos;

void ev_reset(void)
{
	nev = evpos = 0;
}

/* Append a hook call (traps when one operation makes too many). */
struct ev *ev_record(int pt, int ci)
{
	struct ev *e;

	if (nev >= MAX_EV)
		fail("too many hook calls in one operation");
	e = &ev[nev++];
	e->pt = pt;
	e->ci = ci;
	e->nended = 0;
	return e;
}

/* Consume the call ev_peek() returned. */
void ev_skip(void)
{
	evpos++;
}

const char *pt_name(int pt)
{
	static const char *n[] = {
		"REFRESH_STAGE1",  "REFRESH_UNLOCKED", "REFRESH_TRANSLATED",
		"REFRESH_PUBLISH", "REFRESH_RETRY",    "INVAL_START",
		"INVAL_CLEARED",   "INVAL_END",	       "DEACTIVATE",
		"ACTIVATE",	   "VCPU_ENTER",
	};

	return pt >= 0 && pt < GPC_HOOK_NR ? n[pt] : "?";
}

void ev_expect(int pt, int ci)
{
	struct ev *e;

	if (evpos >= nev)
		fail("expected hook %s for cache %d, no more hook calls",
		     pt_name(pt), ci);
	e = &ev[evpos++];
	if (e->pt != pt || e->ci != ci)
		fail("expected hook %s for cache %d, got %s for cache %d",
		     pt_name(pt), ci, pt_name(e->pt), e->ci);
}

struct ev *ev_peek(int pt, int ci)
{
	struct ev *e;

	if (evpos >= nev)
		return NULL;
	e = &ev[evpos];
	return e->pt == pt && e->ci == ci ? e : NULL;
}

void ev_done(void)
{
	if (evpos != nev)
		fail("unexpected hook call %s for cache %d",
		     pt_name(ev[evpos].pt), ev[evpos].ci);
	nev = evpos = 0;
}
