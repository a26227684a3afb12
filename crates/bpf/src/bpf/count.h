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

/* syscall_slots holds one table for sys_enter and one for sys_exit. */
#define SYSCALL_NR_MAX 1024

#endif
