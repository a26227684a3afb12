/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Headers and helpers every rtools BPF program shares.
 *
 * rtools reads no kernel structures by name, so the UAPI headers are enough
 * (no vmlinux.h): the programs only use helpers, attach cookies and
 * registers in struct pt_regs, whose UAPI layout is the kernel's; what is
 * particular to the architecture lives in arch.bpf.h.
 */
#ifndef RTOOLS_COMMON_BPF_H
#define RTOOLS_COMMON_BPF_H

#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "arch.bpf.h"

/* A per-CPU map of `kind` (ARRAY or HASH) with one entry: the loader
 * resizes the maps that need more. */
#define PERCPU_MAP(kind, name, key_t, value_t)                                 \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_PERCPU_##kind);                      \
		__type(key, key_t);                                            \
		__type(value, value_t);                                        \
		__uint(max_entries, 1);                                        \
	} name SEC(".maps")
#define PERCPU_ARRAY(name, key_t, value_t) PERCPU_MAP(ARRAY, name, key_t, value_t)
#define PERCPU_HASH(name, key_t, value_t) PERCPU_MAP(HASH, name, key_t, value_t)

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

/* -p PID and -C CPU, read-only like filter_cgroup: without the options the
 * verifier drops their checks, and an unfiltered event makes no helper
 * call here. Programs without -C leave filter_cpu at -1. */
const volatile __u32 filter_tgid = 0; /* 0: every process */
const volatile __s32 filter_cpu = -1; /* -1: every CPU */

/* Whether the current task passes -p, -C and --cgroup. `tgid`: the
 * task's process id where the caller has it already, or 0 to have it read
 * only if -p asks for it (the idle task's is 0 too: read again, the same). */
static __always_inline bool wanted_task(__u32 tgid)
{
	if (filter_tgid && !tgid)
		tgid = bpf_get_current_pid_tgid() >> 32;
	if (filter_tgid && tgid != filter_tgid)
		return false;
	if (filter_cpu >= 0 && bpf_get_smp_processor_id() != (__u32)filter_cpu)
		return false;
	return in_cgroup();
}

/* rtools' own process and its link keeper, left out by user probes: rtools
 * calls the libraries it may trace (its own mallocs while it unwinds would
 * feed a probe on malloc without end), as BCC's trace leaves itself out.
 * 0: none. With -p the filter above already decides. */
const volatile __u32 self_tgid = 0;
const volatile __u32 keeper_tgid = 0;

static __always_inline bool is_self(__u32 tgid)
{
	return self_tgid && !filter_tgid && (tgid == self_tgid || tgid == keeper_tgid);
}

static __always_inline bool not_self(void)
{
	if (!self_tgid || filter_tgid)
		return true;
	return !is_self(bpf_get_current_pid_tgid() >> 32);
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

/* Adds one to the counter at `key` of `map` (an array: a missing key is
 * out of range and ignored). For the `lost` counters of every tool. */
static __always_inline void add_one(void *map, __u32 key)
{
	__u64 *counter = bpf_map_lookup_elem(map, &key);

	if (counter)
		__sync_fetch_and_add(counter, 1);
}

/* Adds one to the counter of `key` in the hash `map`, inserting it at 1
 * when new. Returns 1 for a new key, 0 for one that was there (another
 * CPU may have inserted it in between), -1 when the map is full. */
static __always_inline int count_in_hash(void *map, const void *key)
{
	__u64 one = 1, *counter = bpf_map_lookup_elem(map, key);

	if (!counter) {
		if (bpf_map_update_elem(map, key, &one, BPF_NOEXIST) == 0)
			return 1;
		counter = bpf_map_lookup_elem(map, key);
		if (!counter)
			return -1;
	}
	__sync_fetch_and_add(counter, 1);
	return 0;
}

/* The value of `key` in the hash `map`, inserted as a copy of `init` when
 * missing (a value another CPU inserted first is used). NULL when the
 * map is full or `init` is NULL. */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init)
{
	void *value = bpf_map_lookup_elem(map, key);

	if (value || !init)
		return value;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* floor(log2(v)) + 1, and 1 for 0: BCC's bpf_log2l (values shorter than
 * the unit land in the first row, `0 -> 1`), in six steps (a bit loop
 * would cost up to 64 on every call). */
static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 r = 0;

	if (!v)
		return 1;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1)
		r += 1;
	return r + 1;
}

#endif
