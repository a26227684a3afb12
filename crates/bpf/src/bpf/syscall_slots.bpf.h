/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Whole-syscall wildcards served by one raw_syscalls program instead of
 * hundreds of tracepoints (count.bpf.c, stack.bpf.c). */
#ifndef RTOOLS_SYSCALL_SLOTS_BPF_H
#define RTOOLS_SYSCALL_SLOTS_BPF_H

#include "count.h"

/* Syscall number -> slot + 1 (0: not traced). Entries [0, SYSCALL_NR_MAX)
 * are sys_enter, the next ones sys_exit. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 2 * SYSCALL_NR_MAX);
} syscall_slots SEC(".maps");

/* The slot tracing syscall `nr` in `table` (0: sys_enter, SYSCALL_NR_MAX:
 * sys_exit), or -1 where none does. */
static __always_inline __s64 syscall_slot(long nr, __u32 table)
{
	__u32 key, *slot;

	if (nr < 0 || nr >= SYSCALL_NR_MAX)
		return -1;
	key = table + (__u32)nr;
	slot = bpf_map_lookup_elem(&syscall_slots, &key);
	if (!slot || !*slot)
		return -1;
	return *slot - 1;
}

#endif
