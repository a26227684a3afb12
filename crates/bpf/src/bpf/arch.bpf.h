/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What is particular to the architecture on the BPF side, in one place:
 * x86-64 only today (the Rust side's is crates/core/src/arch.rs). */
#ifndef RTOOLS_ARCH_BPF_H
#define RTOOLS_ARCH_BPF_H

#ifndef __TARGET_ARCH_x86
#error "rtools' BPF programs support x86-64 only: add this architecture to arch.bpf.h"
#endif

/* The syscall number in the registers raw_syscalls:sys_exit hands over
 * (-1 if unreadable). */
static __always_inline long syscall_nr(struct pt_regs *regs)
{
	long nr = -1;

	bpf_probe_read_kernel(&nr, sizeof(nr), &regs->orig_rax);
	return nr;
}

#endif
