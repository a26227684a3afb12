// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Times every call of the matched functions: entry programs push the
 * start time on a per-thread stack, return programs pop it and add the
 * duration to a log2 histogram per function (slot). */
#include "common.bpf.h"
#include "latency.h"

const volatile __u32 filter_tgid = 0;
/* 1 (nsecs), 1000 (usecs) or 1000000 (msecs): histograms are in this unit. */
const volatile __u64 unit_ns = 1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32); /* thread id */
	__type(value, struct entry_stack);
	__uint(max_entries, 16384);
} entries SEC(".maps");

/* slot * BUCKETS + bucket -> count */
PERCPU_ARRAY(hist, __u32, __u64);
/* slot -> sum of durations in ns */
PERCPU_ARRAY(total_ns, __u32, __u64);
PERCPU_ARRAY(lost, __u32, __u64);

static __always_inline void lose(__u32 reason)
{
	__u64 *counter = bpf_map_lookup_elem(&lost, &reason);

	if (counter)
		__sync_fetch_and_add(counter, 1);
}

/* floor(log2(v)) + 1, 0 for 0: BCC's bpf_log2l, in six steps (a bit
 * loop would cost up to 64 on every return). */
static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 r = 0;

	if (!v)
		return 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1)
		r += 1;
	return r + 1;
}

static __always_inline int on_entry(__u32 slot)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, d;
	struct entry_stack *st, empty = {};

	if (filter_tgid && (pid_tgid >> 32) != filter_tgid)
		return 0;
	st = bpf_map_lookup_elem(&entries, &tid);
	if (!st) {
		bpf_map_update_elem(&entries, &tid, &empty, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&entries, &tid);
		if (!st) {
			lose(LOST_TABLE_FULL);
			return 0;
		}
	}
	d = st->depth;
	st->depth = d + 1;
	if (d >= MAX_NEST) {
		lose(LOST_TOO_DEEP);
		return 0;
	}
	st->slots[d & (MAX_NEST - 1)] = slot;
	st->start_ns[d & (MAX_NEST - 1)] = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int on_return(__u32 slot)
{
	__u64 now = bpf_ktime_get_ns(), pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, d, key;
	struct entry_stack *st;
	__u64 delta, *counter;

	if (filter_tgid && (pid_tgid >> 32) != filter_tgid)
		return 0;
	st = bpf_map_lookup_elem(&entries, &tid);
	if (!st || st->depth == 0) {
		lose(LOST_NO_ENTRY);
		return 0;
	}
	if (st->depth > MAX_NEST) {
		st->depth--;
		return 0;
	}
	/* Entries above ours whose returns never came are dropped. */
	for (int i = 0; i < MAX_NEST; i++) {
		d = st->depth - 1;
		if (st->slots[d & (MAX_NEST - 1)] == slot)
			break;
		lose(LOST_MISSED_RETURN);
		st->depth = d;
		if (d == 0) {
			lose(LOST_NO_ENTRY);
			return 0;
		}
	}
	d = st->depth - 1;
	if (st->slots[d & (MAX_NEST - 1)] != slot)
		return 0;
	st->depth = d;
	delta = now - st->start_ns[d & (MAX_NEST - 1)];

	/* unit_ns is read-only: the verifier drops the division for nsecs. */
	key = slot * BUCKETS + log2_bucket(unit_ns == 1 ? delta : delta / unit_ns);
	counter = bpf_map_lookup_elem(&hist, &key);
	if (counter)
		__sync_fetch_and_add(counter, 1);
	counter = bpf_map_lookup_elem(&total_ns, &slot);
	if (counter)
		__sync_fetch_and_add(counter, delta);
	return 0;
}

SEC("kprobe")
int latency_entry_kprobe(struct pt_regs *ctx)
{
	return on_entry(bpf_get_attach_cookie(ctx));
}

SEC("kprobe")
int latency_return_kprobe(struct pt_regs *ctx)
{
	return on_return(bpf_get_attach_cookie(ctx));
}

SEC("kprobe.multi")
int latency_entry_kprobe_multi(struct pt_regs *ctx)
{
	return on_entry(bpf_get_attach_cookie(ctx));
}

SEC("kprobe.multi")
int latency_return_kprobe_multi(struct pt_regs *ctx)
{
	return on_return(bpf_get_attach_cookie(ctx));
}

SEC("uprobe")
int latency_entry_uprobe(struct pt_regs *ctx)
{
	return on_entry(bpf_get_attach_cookie(ctx));
}

SEC("uprobe")
int latency_return_uprobe(struct pt_regs *ctx)
{
	return on_return(bpf_get_attach_cookie(ctx));
}

SEC("uprobe.multi")
int latency_entry_uprobe_multi(struct pt_regs *ctx)
{
	return on_entry(bpf_get_attach_cookie(ctx));
}

SEC("uprobe.multi")
int latency_return_uprobe_multi(struct pt_regs *ctx)
{
	return on_return(bpf_get_attach_cookie(ctx));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
