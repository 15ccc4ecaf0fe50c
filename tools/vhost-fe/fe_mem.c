// SPDX-License-Identifier: MIT
/*
 * tools/vhost-fe/fe_mem.c - the synthetic guest's memory: memfd regions
 * the front-end maps itself (MAP_SHARED, so the back-end's mapping of the
 * same fd sees the same pages), each at a guest-physical address, and a
 * page allocator for rings and buffers.
 *
 * The user address announced for a region is the front-end's own mapping
 * address, as QEMU does: SET_VRING_ADDR then carries pointers of this
 * process, which the back-end must translate through the regions'
 * user_addr, not through their GPA. GPAs and user addresses therefore
 * differ (the regions sit at low GPAs, the mappings wherever mmap puts
 * them), so a back-end confusing the two fails at once.
 *
 * The front-end keeps its mapping of a region after REM_MEM_REG: that is
 * how it watches for stale writes into memory the back-end gave back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fe.h"

int fe_mem_add(struct fe_mem *m, uint64_t gpa, uint64_t size)
{
	struct fe_region *r;
	void *p;
	int fd;

	if (m->n >= FE_MAX_REGIONS || size % FE_BLOCK)
		return -EINVAL;
	fd = memfd_create("gpc-vhost-fe", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = -errno;

		close(fd);
		return err;
	}
	r = &m->r[m->n];
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->gpa = gpa;
	r->size = size;
	r->hva = p;
	r->npages = size / FE_BLOCK;
	r->bitmap = calloc((r->npages + 63) / 64, sizeof(uint64_t));
	if (!r->bitmap) {
		munmap(p, size);
		close(fd);
		return -ENOMEM;
	}
	r->allocatable = true;
	return (int)m->n++;
}

void fe_mem_destroy(struct fe_mem *m)
{
	for (unsigned int i = 0; i < m->n; i++) {
		munmap(m->r[i].hva, m->r[i].size);
		close(m->r[i].fd);
		free(m->r[i].bitmap);
	}
	m->n = 0;
}

int fe_region_of(struct fe_mem *m, uint64_t gpa)
{
	for (unsigned int i = 0; i < m->n; i++)
		if (gpa >= m->r[i].gpa && gpa - m->r[i].gpa < m->r[i].size)
			return (int)i;
	return -1;
}

void *fe_gpa_to_hva(struct fe_mem *m, uint64_t gpa, uint64_t len)
{
	int i = fe_region_of(m, gpa);

	if (i < 0 || len > m->r[i].size - (gpa - m->r[i].gpa))
		return NULL;
	return m->r[i].hva + (gpa - m->r[i].gpa);
}

uint64_t fe_hva_to_gpa(struct fe_mem *m, const void *p)
{
	const uint8_t *b = p;

	for (unsigned int i = 0; i < m->n; i++)
		if (b >= m->r[i].hva && b < m->r[i].hva + m->r[i].size)
			return m->r[i].gpa + (uint64_t)(b - m->r[i].hva);
	return 0;
}

static bool page_used(const struct fe_region *r, uint64_t i)
{
	return r->bitmap[i / 64] & (1ull << (i % 64));
}

static void page_set(struct fe_region *r, uint64_t i, bool on)
{
	if (on)
		r->bitmap[i / 64] |= 1ull << (i % 64);
	else
		r->bitmap[i / 64] &= ~(1ull << (i % 64));
}

static uint64_t alloc_in(struct fe_region *r, uint64_t npages)
{
	/* First fit; page 0 of GPA 0 is never handed out (0 = failure). */
	for (uint64_t i = r->gpa ? 0 : 1; i + npages <= r->npages; i++) {
		uint64_t j;

		for (j = 0; j < npages && !page_used(r, i + j); j++)
			;
		if (j < npages) {
			i += j;
			continue;
		}
		for (j = 0; j < npages; j++)
			page_set(r, i + j, true);
		r->used += npages;
		return r->gpa + i * FE_BLOCK;
	}
	return 0;
}

uint64_t fe_page_alloc(struct fe_mem *m, int ri, uint64_t npages)
{
	if (ri >= 0)
		return m->r[ri].allocatable ? alloc_in(&m->r[ri], npages) : 0;
	for (unsigned int i = 0; i < m->n; i++) {
		uint64_t g;

		if (!m->r[i].allocatable)
			continue;
		g = alloc_in(&m->r[i], npages);
		if (g)
			return g;
	}
	return 0;
}

void fe_page_free(struct fe_mem *m, uint64_t gpa, uint64_t npages)
{
	int i = fe_region_of(m, gpa);
	struct fe_region *r;

	if (i < 0)
		return;
	r = &m->r[i];
	for (uint64_t j = 0; j < npages; j++)
		page_set(r, (gpa - r->gpa) / FE_BLOCK + j, false);
	r->used -= npages;
}

void fe_region_to_wire(const struct fe_region *r, struct gpc_vhost_region *w)
{
	w->guest_addr = r->gpa;
	w->size = r->size;
	w->user_addr = (uint64_t)(uintptr_t)r->hva;
	w->mmap_offset = 0;
}
