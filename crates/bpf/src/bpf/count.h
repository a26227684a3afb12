/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by count.bpf.c and the Rust loader (count.rs). */
#ifndef RTOOLS_COUNT_H
#define RTOOLS_COUNT_H

/* How events are grouped besides their probe slot. */
enum group_by {
	GROUP_NONE = 0,
	GROUP_COMM = 1,
	GROUP_PID = 2,
	GROUP_TID = 3,
	GROUP_CPU = 4,
	GROUP_CGROUP = 5,
};

#define COMM_LEN 16

/* Key of group_counts. `id` is the pid, tid or cpu, 0 for GROUP_COMM;
 * `cgroup` the cgroup v2 id for GROUP_CGROUP, else 0. */
struct group_key {
	__u32 slot;
	__u32 id;
	char comm[COMM_LEN];
	__u64 cgroup;
};

/* Sizes the Rust side shares. An enum rather than #defines: enums reach
 * the programs' BTF, and from it the skeletons, which generate them for
 * Rust (types::limits::SYSCALL_NR_MAX), so each has one definition. */
enum limits {
	/* syscall_slots holds one table for sys_enter and one for sys_exit. */
	SYSCALL_NR_MAX = 1024,
};

/* A type reaches BTF only where something uses it: this constant does it
 * for `enum limits`. */
const volatile enum limits limits_in_btf = SYSCALL_NR_MAX;

#endif
