// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Times every call of the matched functions: entry programs push the
 * start time on a per-thread stack, return programs pop it and add the
 * duration to a log2 histogram per function (slot). */
#include "common.bpf.h"
#include "latency.h"

/* 1 (nsecs), 1000 (usecs) or 1000000 (msecs): histograms are in this unit. */
const volatile __u64 unit_ns = 1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32); /* thread id */
	__type(value, struct entry_stack);
	__uint(max_entries, 16384);
} entries SEC(".maps");

/* One zeroed entry_stack: what a thread's first call copies. */
PERCPU_ARRAY(empty_stack, __u32, struct entry_stack);

/* Histograms per function and process (`per_pid`), else per function. */
const volatile bool per_pid = false;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct pid_key);
	__type(value, struct pid_hist);
	__uint(max_entries, 1); /* set by the loader */
} pid_hists SEC(".maps");

/* One zeroed pid_hist: what a process's first call copies. */
PERCPU_ARRAY(empty_hist, __u32, struct pid_hist);

/* slot * BUCKETS + bucket -> count */
PERCPU_ARRAY(hist, __u32, __u64);
/* slot -> sum of durations in ns */
PERCPU_ARRAY(total_ns, __u32, __u64);
/* Keyed by enum latency_lost, which so reaches the skeleton's types. */
PERCPU_ARRAY(lost, enum latency_lost, __u64);

static __always_inline void lose(__u32 reason)
{
	add_one(&lost, reason);
}

/* The frames of a thread's stack that a call entering with stack pointer
 * `sp` proves abandoned: a live caller's frame sits above its callee's
 * (a higher entry stack pointer), so a frame at or below the new call was
 * left by longjmp or an exception. A different function at the same stack
 * pointer is kept: that is a tail call, which returns through both. */
static __always_inline void drop_abandoned(struct entry_stack *st, __u32 slot, __u64 sp)
{
	__u32 top;

	if (!sp)
		return;
	/* Frames past MAX_NEST have no record; if the new call is above the
	 * deepest recorded one, they are gone too. */
	if (st->depth > MAX_NEST && sp >= st->entry_sp[MAX_NEST - 1]) {
		lose(LOST_MISSED_RETURN);
		st->depth = MAX_NEST;
	}
	for (int i = 0; i < MAX_NEST; i++) {
		if (st->depth == 0 || st->depth > MAX_NEST)
			return;
		top = (st->depth - 1) & (MAX_NEST - 1);
		/* A different function at the same stack pointer is a tail
		 * call, still live, unless a call at that stack pointer has
		 * returned since it entered (a sibling call after longjmp). */
		if (st->entry_sp[top] > sp ||
		    (st->entry_sp[top] == sp && st->slots[top] != slot &&
		     st->popped_sp != sp))
			return;
		lose(LOST_MISSED_RETURN);
		st->depth--;
	}
}

/* `sp`: the stack pointer at entry (user functions), or 0 (kernel). */
static __always_inline int on_entry(__u32 slot, __u64 sp)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, d, zero = 0;
	struct entry_stack *st;

	if (!wanted_task(pid_tgid >> 32) || (sp && is_self(pid_tgid >> 32)))
		return 0;
	/* The zeroed value of an unused per-CPU slot is the template: no
	 * 600-byte struct on the BPF stack. */
	st = lookup_or_init(&entries, &tid, bpf_map_lookup_elem(&empty_stack, &zero));
	if (!st) {
		lose(LOST_TABLE_FULL);
		return 0;
	}
	drop_abandoned(st, slot, sp);
	st->popped_sp = 0;
	d = st->depth;
	st->depth = d + 1;
	if (d >= MAX_NEST) {
		lose(LOST_TOO_DEEP);
		return 0;
	}
	st->slots[d & (MAX_NEST - 1)] = slot;
	st->entry_sp[d & (MAX_NEST - 1)] = sp;
	st->start_ns[d & (MAX_NEST - 1)] = bpf_ktime_get_ns();
	return 0;
}

/* Adds one call of `slot` by process `tgid` to its histogram. */
static __always_inline void record_per_pid(__u32 slot, __u32 tgid, __u32 bucket, __u64 delta)
{
	struct pid_key key = { .slot = slot, .tgid = tgid };
	__u32 zero = 0;
	struct pid_hist *h =
		lookup_or_init(&pid_hists, &key, bpf_map_lookup_elem(&empty_hist, &zero));

	if (!h) {
		lose(LOST_TABLE_FULL);
		return;
	}
	if (bucket < BUCKETS)
		__sync_fetch_and_add(&h->buckets[bucket], 1);
	__sync_fetch_and_add(&h->total_ns, delta);
}

/* `sp`: the stack pointer after the return (user functions: what it was
 * at entry, the return address popped: entry_sp_after_return), or 0
 * (kernel). */
static __always_inline int on_return(__u32 slot, __u64 sp)
{
	__u64 now = bpf_ktime_get_ns(), pid_tgid = bpf_get_current_pid_tgid();
	__u64 entry_sp = entry_sp_after_return(sp);
	__u32 tid = (__u32)pid_tgid, d, key, bucket;
	struct entry_stack *st;
	__u64 delta, *counter;

	if (!wanted_task(pid_tgid >> 32) || (sp && is_self(pid_tgid >> 32)))
		return 0;
	st = bpf_map_lookup_elem(&entries, &tid);
	if (!st || st->depth == 0) {
		lose(LOST_NO_ENTRY);
		return 0;
	}
	if (st->depth > MAX_NEST) {
		/* A return at or above the deepest recorded frame: the
		 * untracked frames below it are done. */
		if (sp && entry_sp >= st->entry_sp[MAX_NEST - 1]) {
			st->depth = MAX_NEST;
		} else {
			st->depth--;
			return 0;
		}
	}
	/* Entries above ours whose returns never came are dropped: below
	 * our stack pointer (user functions), or of other functions (kernel
	 * functions, which cannot longjmp). A frame above ours means our
	 * entry came before tracing. */
	for (int i = 0; i < MAX_NEST; i++) {
		d = (st->depth - 1) & (MAX_NEST - 1);
		if (st->slots[d] == slot && st->entry_sp[d] == entry_sp)
			break;
		if (st->entry_sp[d] > entry_sp) {
			lose(LOST_NO_ENTRY);
			return 0;
		}
		lose(LOST_MISSED_RETURN);
		st->depth--;
		if (st->depth == 0) {
			lose(LOST_NO_ENTRY);
			return 0;
		}
	}
	d = (st->depth - 1) & (MAX_NEST - 1);
	if (st->slots[d] != slot || st->entry_sp[d] != entry_sp)
		return 0;
	st->depth--;
	st->popped_sp = entry_sp;
	delta = now - st->start_ns[d];

	/* BCC's bpf_log2l(delta / unit): calls shorter than a unit land in
	 * the first bucket. unit_ns is read-only: the verifier drops the
	 * division for nsecs. */
	bucket = log2_bucket(unit_ns == 1 ? delta : delta / unit_ns);
	if (per_pid) {
		record_per_pid(slot, pid_tgid >> 32, bucket, delta);
		return 0;
	}
	key = slot * BUCKETS + bucket;
	counter = bpf_map_lookup_elem(&hist, &key);
	if (counter)
		__sync_fetch_and_add(counter, 1);
	counter = bpf_map_lookup_elem(&total_ns, &slot);
	if (counter)
		__sync_fetch_and_add(counter, delta);
	return 0;
}

/* A thread's stack goes with the thread: a run of days over millions of
 * short threads stays within the table, and a reused thread id starts
 * afresh. */
SEC("tracepoint/sched/sched_process_exit")
int latency_thread_exit(void *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&entries, &tid);
	return 0;
}

SEC("kprobe")
int latency_entry_kprobe(struct pt_regs *ctx)
{
	return on_entry(bpf_get_attach_cookie(ctx), 0);
}

SEC("kprobe")
int latency_return_kprobe(struct pt_regs *ctx)
{
	return on_return(bpf_get_attach_cookie(ctx), 0);
}

SEC("kprobe.multi")
int latency_entry_kprobe_multi(struct pt_regs *ctx)
{
	return on_entry(bpf_get_attach_cookie(ctx), 0);
}

SEC("kprobe.multi")
int latency_return_kprobe_multi(struct pt_regs *ctx)
{
	return on_return(bpf_get_attach_cookie(ctx), 0);
}

/* The code fentry and fexit programs are cloned from (tracing_progs.rs):
 * loaded, never attached as uprobes. Their context is not pt_regs once
 * cloned, so they read nothing from it but the cookie. */
SEC("uprobe")
int latency_entry_tracing(struct pt_regs *ctx)
{
	return on_entry(bpf_get_attach_cookie(ctx), 0);
}

SEC("uprobe")
int latency_return_tracing(struct pt_regs *ctx)
{
	return on_return(bpf_get_attach_cookie(ctx), 0);
}

SEC("uprobe")
int latency_entry_uprobe(struct pt_regs *ctx)
{
	return on_entry(bpf_get_attach_cookie(ctx), PT_REGS_SP(ctx));
}

SEC("uprobe")
int latency_return_uprobe(struct pt_regs *ctx)
{
	return on_return(bpf_get_attach_cookie(ctx), PT_REGS_SP(ctx));
}

SEC("uprobe.multi")
int latency_entry_uprobe_multi(struct pt_regs *ctx)
{
	return on_entry(bpf_get_attach_cookie(ctx), PT_REGS_SP(ctx));
}

SEC("uprobe.multi")
int latency_return_uprobe_multi(struct pt_regs *ctx)
{
	return on_return(bpf_get_attach_cookie(ctx), PT_REGS_SP(ctx));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
