/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Headers and helpers every rtools BPF program shares.
 *
 * rtools reads no kernel structures by name, so the UAPI headers are enough
 * (no vmlinux.h): the programs only use helpers, attach cookies and
 * registers in struct pt_regs, whose UAPI layout is the kernel's on x86-64.
 */
#ifndef RTOOLS_COMMON_BPF_H
#define RTOOLS_COMMON_BPF_H

#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define PERCPU_ARRAY(name, key_t, value_t)                                     \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                       \
		__type(key, key_t);                                            \
		__type(value, value_t);                                        \
		/* The loader sets the real size before load. */              \
		__uint(max_entries, 1);                                        \
	} name SEC(".maps")

#define PERCPU_HASH(name, key_t, value_t)                                      \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_PERCPU_HASH);                        \
		__type(key, key_t);                                            \
		__type(value, value_t);                                        \
		__uint(max_entries, 1);                                        \
	} name SEC(".maps")

/* --cgroup: only tasks in the cgroup v2 subtree whose directory the loader
 * puts at index 0 (BCC trace's -c does the same). Read-only: without the
 * option the verifier drops the check. */
const volatile bool filter_cgroup = false;

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 1);
} cgroup_filter SEC(".maps");

static __always_inline bool in_cgroup(void)
{
	return !filter_cgroup || bpf_current_task_under_cgroup(&cgroup_filter, 0) == 1;
}

/* Add one to a counter in a per-CPU map. Only the current CPU touches its
 * slot, so where the kernel runs the program with preemption disabled a
 * plain add is exact. Where it runs with only migration disabled (uprobes,
 * fentry), a task preempted between load and store could lose the other
 * task's increment, so those programs pass preemptible=true and pay for a
 * locked add on an uncontended cache line. */
static __always_inline void percpu_inc(__u64 *counter, bool preemptible)
{
	if (preemptible)
		__sync_fetch_and_add(counter, 1);
	else
		*counter += 1;
}

#endif
