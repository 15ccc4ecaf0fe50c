// SPDX-License-Identifier: MIT
/*
 * fuzz/ops_translate.c - the translation calls (gpc/translate.h), checked
 * against the model's slots: run by FZ_OP_BAD's memslot-lookup case for
 * the address it looked up (so the input encoding is unchanged), inside a
 * section of the vm's domain and outside one (-EPERM unless a HOLD
 * already holds one on this thread).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "model.h"
#include "ops_translate.h"
#include "report.h"
#include "runtime.h"

#define TR_IOV 3

/* gpc_translate_gpa_iov() as the model has it. */
static int m_iov(uint64_t gpa, uint64_t len, bool write, struct iovec *iov,
		 unsigned int niov, uint64_t *done, unsigned int *filled)
{
	unsigned int k = 0;

	*done = 0;
	*filled = 0;
	if (len && len - 1 > UINT64_MAX - gpa)
		return -EOVERFLOW;
	while (*done < len) {
		const struct mslot *s = m_slot_at(gpa + *done);
		uint64_t off, n, h;

		if (!s)
			return -ENOENT;
		if (write && (s->flags & GPC_MEMSLOT_READONLY))
			return -EROFS;
		off = gpa + *done - s->gpa;
		n = s->size - off < len - *done ? s->size - off : len - *done;
		h = s->hva + off;
		if (k &&
		    (uintptr_t)iov[k - 1].iov_base + iov[k - 1].iov_len == h) {
			iov[k - 1].iov_len += n;
		} else if (k == niov) {
			return -ENOBUFS;
		} else {
			iov[k++] = (struct iovec){ (void *)(uintptr_t)h, n };
			*filled = k;
		}
		*done += n;
	}
	return (int)k;
}

/* The slot whose host range has @hva with the lowest gpa, or NULL. */
static const struct mslot *m_slot_by_hva(uint64_t hva)
{
	const struct mslot *best = NULL;

	for (int i = 0; i < MAX_SLOTS; i++) {
		const struct mslot *s = &m.slots[i];

		if (s->used && hva - s->hva < s->size &&
		    (!best || s->gpa < best->gpa))
			best = s;
	}
	return best;
}

static void check_single(uint64_t gpa, uint64_t want, bool write)
{
	unsigned int fl = write ? GPC_TRANSLATE_WRITE : 0;
	const struct mslot *s = m_slot_at(gpa);
	uint64_t len = want, g;
	void *p = NULL;
	int exp = -ENOENT, got;

	if (want && want - 1 > UINT64_MAX - gpa)
		exp = -EOVERFLOW;
	else if (s && write && (s->flags & GPC_MEMSLOT_READONLY))
		exp = -EROFS;
	else if (s)
		exp = 0;
	got = gpc_translate_gpa(rt.vm, gpa, &len, fl, &p);
	expect_err("gpc_translate_gpa", got, exp);
	if (got) {
		if (len != want)
			fail("gpc_translate_gpa failed but changed *len");
		return;
	}
	if ((uintptr_t)p != s->hva + (gpa - s->gpa) ||
	    len != (want < s->size - (gpa - s->gpa) ? want :
						      s->size - (gpa - s->gpa)))
		fail("gpc_translate_gpa(%#llx, %llu): wrong pointer or length",
		     (unsigned long long)gpa, (unsigned long long)want);
	/* Back again: the lowest-gpa slot over that host address. */
	s = m_slot_by_hva((uintptr_t)p);
	got = gpc_translate_hva_gpa(rt.vm, p, &g, NULL);
	expect_err("gpc_translate_hva_gpa", got, s ? 0 : -ENOENT);
	if (!got && g != s->gpa + ((uintptr_t)p - s->hva))
		fail("gpc_translate_hva_gpa: wrong gpa");
}

static void check_iov(uint64_t gpa, uint64_t len, bool write, unsigned int niov)
{
	struct iovec iov[TR_IOV], e[TR_IOV];
	uint64_t done, edone;
	unsigned int filled;
	int exp = m_iov(gpa, len, write, e, niov, &edone, &filled);
	int got = gpc_translate_gpa_iov(rt.vm, gpa, len,
					write ? GPC_TRANSLATE_WRITE : 0, iov,
					niov, &done);

	expect_err("gpc_translate_gpa_iov", got < 0 ? got : 0,
		   exp < 0 ? exp : 0);
	if (got != exp || done != edone)
		fail("gpc_translate_gpa_iov(%#llx, %llu, %u): %d done %llu, "
		     "model %d done %llu",
		     (unsigned long long)gpa, (unsigned long long)len, niov,
		     got, (unsigned long long)done, exp,
		     (unsigned long long)edone);
	for (unsigned int k = 0; k < filled; k++)
		if (iov[k].iov_base != e[k].iov_base ||
		    iov[k].iov_len != e[k].iov_len)
			fail("gpc_translate_gpa_iov: entry %u wrong", k);
}

void translate_checks(uint64_t gpa, uint8_t d)
{
	struct gpc_srcu *dom = gpc_vm_srcu(rt.vm);
	uint64_t len = (uint64_t)(d >> 3) * 1531, g, ulen = 8;
	bool write = d & 1, held = gpc_srcu_read_held(dom);
	struct gpc_memslot_desc sd;
	void *p;

	if (!held) {
		uint64_t l = 8;

		expect_err("gpc_translate_gpa (outside a section)",
			   gpc_translate_gpa(rt.vm, gpa, &l, 0, &p), -EPERM);
	}
	gpc_srcu_read_lock(dom);
	check_single(gpa, len, write);
	check_iov(gpa, len, write, 1 + ((d >> 1) & 3) % TR_IOV);
	/* No slot of the fuzzer has a user address. */
	expect_err("gpc_translate_uaddr",
		   gpc_translate_uaddr(rt.vm, gpa, &ulen, 0, &p),
		   gpa > UINT64_MAX - 7 ? -EOVERFLOW : -ENOENT);
	expect_err("gpc_translate_uaddr_gpa",
		   gpc_translate_uaddr_gpa(rt.vm, gpa, &g, NULL), -ENOENT);
	expect_err("gpc_translate_gpa_slot",
		   gpc_translate_gpa_slot(rt.vm, gpa, &sd),
		   m_slot_at(gpa) ? 0 : -ENOENT);
	gpc_srcu_read_unlock(dom);
}
