/* SPDX-License-Identifier: MIT */
/*
 * tools/gpcvm/guest/plat.h - what the guest program needs from its platform.
 *
 * guest.c is built twice: freestanding for KVM (GPCVM_GUEST_KVM: physical
 * addresses are identity-mapped, hypercalls are port I/O) and into gpcvm for
 * the simulated backend (GPCVM_GUEST_SIM: a thread plays the vCPU; memory is
 * reached through the memslot table and hypercalls are function calls that
 * do what a VM exit does). Rule for guest.c: take a pointer from gp() at the
 * point of use and never keep it across relax(), a hypercall or a block
 * (in the simulation those are the points where the layout may change).
 */
#ifndef GPCVM_GUEST_PLAT_H
#define GPCVM_GUEST_PLAT_H

#include <stdint.h>

#include "../proto.h"

#if defined(GPCVM_GUEST_KVM)

static inline void *gp(uint64_t gpa)
{
	return (void *)(uintptr_t)gpa;
}

static inline int64_t hc(uint64_t nr, uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t rax = nr;

	__asm__ __volatile__("inl %%dx, %%eax"
			     : "+a"(rax)
			     : "d"((uint16_t)GPCVM_HC_PORT), "D"(a), "S"(b),
			       "c"(c)
			     : "memory");
	return (int32_t)(uint32_t)rax;
}

static inline void hc_block(uint64_t us)
{
	uint64_t rax = 0;

	__asm__ __volatile__("inl %%dx, %%eax"
			     : "+a"(rax)
			     : "d"((uint16_t)GPCVM_BLOCK_PORT), "D"(us)
			     : "memory");
}

static inline void relax(void)
{
	__builtin_ia32_pause();
}

static inline void putc_console(char c)
{
	__asm__ __volatile__("outb %%al, %%dx"
			     :
			     : "a"(c), "d"((uint16_t)GPCVM_CONSOLE_PORT)
			     : "memory");
}

#define GUEST_MAIN gpcvm_guest_main

#elif defined(GPCVM_GUEST_SIM)

void *gpcvm_sim_gp(uint64_t gpa);
int64_t gpcvm_sim_hc(uint64_t nr, uint64_t a, uint64_t b, uint64_t c);
void gpcvm_sim_block(uint64_t us);
void gpcvm_sim_relax(void);
void gpcvm_sim_putc(char c);

#define gp	     gpcvm_sim_gp
#define hc	     gpcvm_sim_hc
#define hc_block     gpcvm_sim_block
#define relax	     gpcvm_sim_relax
#define putc_console gpcvm_sim_putc
#define GUEST_MAIN   gpcvm_sim_guest_main

#else
#error "define GPCVM_GUEST_KVM or GPCVM_GUEST_SIM"
#endif

void GUEST_MAIN(unsigned int me);

#endif /* GPCVM_GUEST_PLAT_H */
