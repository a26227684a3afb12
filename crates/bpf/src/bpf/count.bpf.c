// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Counts events per probe slot, optionally per process, thread or CPU.
 *
 * Every attachment carries its slot number as the BPF cookie, so one
 * program serves any number of functions and a count is one per-CPU array
 * increment: no atomics across CPUs, no lost updates.
 */
#include "common.bpf.h"
#include <bpf/usdt.bpf.h>
#include "count.h"
#include "syscall_slots.bpf.h"

const volatile enum group_by group_by = GROUP_NONE;
/* One target: its slot is 0, no need to ask for the cookie. */
const volatile bool single_slot = false;

PERCPU_ARRAY(counts, __u32, __u64);
PERCPU_HASH(group_counts, struct group_key, __u64);
/* Events that found group_counts full: reported, never silently dropped. */
PERCPU_ARRAY(lost, __u32, __u64);


static __always_inline void count_group(__u32 slot, __u64 pid_tgid)
{
	struct group_key key = { .slot = slot };

	switch (group_by) {
	case GROUP_PID:
		key.id = pid_tgid >> 32;
		break;
	case GROUP_TID:
		key.id = (__u32)pid_tgid;
		break;
	case GROUP_CPU:
		key.id = bpf_get_smp_processor_id();
		break;
	case GROUP_CGROUP:
		key.cgroup = bpf_get_current_cgroup_id();
		break;
	}
	if (group_by != GROUP_CPU && group_by != GROUP_CGROUP)
		bpf_get_current_comm(key.comm, sizeof(key.comm));

	if (count_in_hash(&group_counts, &key) < 0)
		add_one(&lost, 0);
}

/* The read-only settings are constants to the verifier, which drops the
 * branches they rule out: an unfiltered, ungrouped count makes no helper
 * call but the map lookup. */
static __always_inline int count_slot(__u32 slot, bool preemptible)
{
	__u64 *counter;

	if (!wanted_task(0))
		return 0;
	if (group_by != GROUP_NONE) {
		count_group(slot, bpf_get_current_pid_tgid());
		return 0;
	}
	counter = bpf_map_lookup_elem(&counts, &slot);
	if (counter)
		percpu_inc(counter, preemptible);
	return 0;
}

static __always_inline __u32 slot_of(void *ctx)
{
	return single_slot ? 0 : bpf_get_attach_cookie(ctx);
}

static __always_inline int count_syscall(long nr, __u32 table)
{
	__s64 slot = syscall_slot(nr, table);

	return slot < 0 ? 0 : count_slot(slot, false);
}

SEC("tp")
int rt_tracepoint(void *ctx)
{
	return count_slot(slot_of(ctx), false);
}

SEC("raw_tp")
int rt_raw_tp(void *ctx)
{
	return count_slot(slot_of(ctx), false);
}

/* raw_syscalls:sys_enter(struct pt_regs *regs, long id) */
SEC("raw_tp")
int rt_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	return count_syscall(ctx->args[1], 0);
}

/* raw_syscalls:sys_exit(struct pt_regs *regs, long ret) */
SEC("raw_tp")
int rt_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];

	return count_syscall(syscall_nr(regs), SYSCALL_NR_MAX);
}

SEC("kprobe")
int rt_kprobe(struct pt_regs *ctx)
{
	return count_slot(slot_of(ctx), false);
}

SEC("kprobe.multi")
int rt_kprobe_multi(struct pt_regs *ctx)
{
	return count_slot(slot_of(ctx), false);
}

/* The template of fentry/fexit programs and of raw tracepoint programs
 * where those carry no cookie: the loader clones its loaded code once per
 * kernel function or tracepoint (see tracing_progs.rs). It reads nothing
 * from ctx but the cookie, so the code is valid for each program type. */
SEC("kprobe")
int rt_template(void *ctx)
{
	return count_slot(slot_of(ctx), true);
}

SEC("uprobe")
int rt_uprobe(struct pt_regs *ctx)
{
	return not_self() ? count_slot(slot_of(ctx), true) : 0;
}

SEC("uprobe.multi")
int rt_uprobe_multi(struct pt_regs *ctx)
{
	return not_self() ? count_slot(slot_of(ctx), true) : 0;
}

SEC("usdt")
int rt_usdt(struct pt_regs *ctx)
{
	return not_self() ? count_slot(single_slot ? 0 : bpf_usdt_cookie(ctx), true) : 0;
}

/* A perf event's overflow (software, hardware, profile timer), on the CPU
 * it counts; NMI or interrupt context, so never preempted. */
SEC("perf_event")
int rt_perf_event(struct bpf_perf_event_data *ctx)
{
	return count_slot(slot_of(ctx), false);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
