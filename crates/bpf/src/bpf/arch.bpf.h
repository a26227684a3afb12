/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What is particular to the architecture on the BPF side, in one place:
 * x86-64 only today (the Rust side's is crates/core/src/arch/). */
#ifndef RTOOLS_ARCH_BPF_H
#define RTOOLS_ARCH_BPF_H

#ifndef __TARGET_ARCH_x86
#error "rtools' BPF programs support x86-64 only: add this architecture to arch.bpf.h"
#endif

/* Bytes of a page: user stacks are copied a page at a time. */
#define ARCH_PAGE_SIZE 4096

/* A user function's return address at its entry (a uprobe on its first
 * instruction): the call pushed it at the stack pointer. 0 if unreadable. */
static __always_inline __u64 entry_return_address(struct pt_regs *regs)
{
	__u64 ret = 0;

	bpf_probe_read_user(&ret, sizeof(ret), (void *)PT_REGS_SP(regs));
	return ret;
}

/* The stack pointer a function had at its entry, from the one after it
 * returned (0 stays 0): the return popped the return address. */
static __always_inline __u64 entry_sp_after_return(__u64 sp)
{
	return sp ? sp - 8 : 0;
}

/* The syscall number in the registers raw_syscalls:sys_exit hands over
 * (-1 if unreadable). */
static __always_inline long syscall_nr(struct pt_regs *regs)
{
	long nr = -1;

	bpf_probe_read_kernel(&nr, sizeof(nr), &regs->orig_rax);
	return nr;
}

#endif
