/* SPDX-License-Identifier: MIT */
/*
 * start.S - entry of the freestanding gpcvm guest.
 *
 * The VMM enters every vCPU here directly in 64-bit mode (paging on, flat
 * segments, no firmware) with rdi = vCPU index and rsp = the top of the
 * vCPU's stack. There is no IDT: the guest takes no interrupts and must not
 * fault.
 */
	.section .text.entry, "ax"
	.globl _start
	.code64
_start:
	andq	$-16, %rsp
	call	gpcvm_guest_main
1:	hlt
	jmp	1b
	.section .note.GNU-stack, "", @progbits
