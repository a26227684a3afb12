// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Counts the distinct kernel and user stacks that lead to an event.
 *
 * Stacks go to a stack-trace map; a stack that cannot be stored is counted
 * under its error (a marker stack) and as lost by reason. The first event
 * of every process is announced on a ring buffer, so the loader can read
 * the process's memory map while it is alive; each new user stack is also
 * kept as (build id, file offset) frames, for processes that exit first.
 *
 * With --user-stacks dwarf (or auto, for processes without frame
 * pointers) the user stack is not walked here: the user registers and the
 * top of the stack go to a ring buffer, and the loader unwinds them with
 * the binaries' CFI and counts the stacks itself.
 */
#include "common.bpf.h"
#include <bpf/usdt.bpf.h>
#include "stack.h"
#include "syscall_slots.bpf.h"

#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef ENOMEM
#define ENOMEM 12
#endif

const volatile bool kernel_stacks = true;
const volatile bool user_stacks = true;
const volatile enum user_unwind unwind_mode = UNWIND_FP;
const volatile __u32 stack_copy_size = 16384; /* pages, <= STACK_COPY_MAX */
const volatile __u64 samples_wake_bytes = 1 << 20;
/* Never read: puts `enum stack_copy` in the BTF, so in the skeleton. */
const volatile enum stack_copy stack_copy_in_btf = STACK_COPY_MAX;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct stack_key);
	__type(value, __u64);
	__uint(max_entries, 1); /* set by the loader */
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64)); /* set by the loader */
	__uint(max_entries, 1);                  /* set by the loader */
} stack_traces SEC(".maps");

/* Keyed by enum lost_reason, which so reaches the skeleton's types. */
PERCPU_ARRAY(lost, enum lost_reason, __u64);

/* Processes already announced. LRU: a long run sees many short-lived pids. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, 65536);
} seen_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} new_pids SEC(".maps");

/* (tgid, user stack id) -> the stack as build ids and file offsets. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct build_id_key);
	__type(value, struct build_id_stack);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1); /* set by the loader */
} build_ids SEC(".maps");

/* --user-stacks dwarf|auto: how many times each process ran exec since
 * rtools started (sched_process_exec). Copied stacks carry it, and the
 * loader sets a process up again from its new mappings when it changes:
 * a process first seen before its exec (a shell's child) is not unwound
 * with the files it mapped before. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 65536);
} execs SEC(".maps");

/* Room to take a build_id_stack (4 KB: more than the BPF stack holds). */
PERCPU_ARRAY(build_id_scratch, __u32, struct build_id_stack);

/* Copied user stacks, for the loader to unwind. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* set by the loader */
} user_samples SEC(".maps");

/* Where each process's main stack ends, from its maps (the loader fills
 * it in as it sets processes up): a copy stops there instead of reading
 * into the unmapped page above, whose fault costs more than the copy. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 65536);
} stack_tops SEC(".maps");

/* Never used: puts struct user_sample, which only the ring buffer's
 * records are, in the BTF and so in the skeleton's types. */
struct user_sample *user_sample_in_btf;

/* --user-stacks auto: the processes the loader found to have frame
 * pointers in every file they map; the kernel walks their stacks. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, 65536);
} fp_pids SEC(".maps");

static __always_inline void lose(__u32 reason)
{
	add_one(&lost, reason);
}

static __always_inline void lose_stack(long err)
{
	if (err == -EEXIST)
		lose(LOST_STACK_COLLISION);
	else if (err == -ENOMEM)
		lose(LOST_STACK_FULL);
	else
		lose(LOST_STACK_FAULT);
}

static __always_inline void announce(__u32 tgid)
{
	__u8 one = 1;

	/* Look first: an LRU update takes a free node before it finds the
	 * key exists, which would cost every event of a known process. */
	if (bpf_map_lookup_elem(&seen_pids, &tgid))
		return;
	if (bpf_map_update_elem(&seen_pids, &tgid, &one, BPF_NOEXIST) == 0)
		bpf_ringbuf_output(&new_pids, &tgid, sizeof(tgid), 0);
}

/* Keeps the user stack of a new key as build ids and file offsets (once
 * per process and stack). */
static __always_inline void record_build_ids(void *ctx, __u32 tgid, __s32 user_stack_id)
{
	struct build_id_key key = { .tgid = tgid, .user_stack_id = user_stack_id };
	struct build_id_stack *buf;
	__u32 zero = 0;
	long n;

	if (bpf_map_lookup_elem(&build_ids, &key))
		return;
	buf = bpf_map_lookup_elem(&build_id_scratch, &zero);
	if (!buf)
		return;
	n = bpf_get_stack(ctx, buf->frames, sizeof(buf->frames),
			  BPF_F_USER_STACK | BPF_F_USER_BUILD_ID);
	if (n <= 0)
		return;
	buf->nr = n / sizeof(struct bpf_stack_build_id);
	bpf_map_update_elem(&build_ids, &key, buf, BPF_NOEXIST);
}

/* A stack id worth a key: a stored stack, or one the map could not take
 * (-EEXIST: a hash collision, -ENOMEM: full), which is still counted under
 * a marker so that totals stay exact. -EFAULT means no such stack. */
static __always_inline bool countable(long id)
{
	return id >= 0 || id == -EEXIST || id == -ENOMEM;
}

static __always_inline bool copies_user_stack(__u32 tgid)
{
	if (unwind_mode == UNWIND_FP)
		return false;
	if (unwind_mode == UNWIND_DWARF)
		return true;
	return !bpf_map_lookup_elem(&fp_pids, &tgid);
}

/* Sends the event with its user registers and the top of its user stack
 * to user_samples (or counts it lost there). False if no user stack could
 * be read (a kernel thread): the caller counts the kernel stack alone.
 * The record is filled in place (no copy through a scratch buffer): its
 * size is a constant to the verifier, stack_copy_size (whole pages) being
 * read-only, and so are the offsets of the page reads. */
static __always_inline bool sample_user_stack(struct stack_key *key)
{
	struct pt_regs *user = bpf_task_pt_regs(bpf_get_current_task_btf());
	struct user_sample *s;
	struct pt_regs regs;
	__u32 *execs_seen;
	__u64 start, size = stack_copy_size, word;
	__u64 sp, *top;
	__u32 read = 0;

	if (bpf_probe_read_kernel(&regs, sizeof(regs), user))
		return false;
	sp = PT_REGS_SP(&regs);
	/* No record for a task without a readable user stack. */
	if (bpf_probe_read_user(&word, sizeof(word), (void *)sp))
		return false;
	start = sp & ~(__u64)(ARCH_PAGE_SIZE - 1);
	top = bpf_map_lookup_elem(&stack_tops, &key->tgid);
	if (top && *top > start && *top - start < size)
		size = *top - start;
	s = bpf_ringbuf_reserve(&user_samples, offsetof(struct user_sample, stack) + stack_copy_size, 0);
	if (!s) {
		lose(LOST_SAMPLES_FULL);
		return true;
	}
	/* A page at a time: the stack's top page is followed by unmapped
	 * memory, and a read that crosses into it fails whole. */
	for (__u32 i = 0; i < STACK_COPY_MAX / ARCH_PAGE_SIZE; i++) {
		if (i * ARCH_PAGE_SIZE >= size || i * ARCH_PAGE_SIZE >= stack_copy_size)
			break;
		if (bpf_probe_read_user(&s->stack[i * ARCH_PAGE_SIZE], ARCH_PAGE_SIZE,
					(void *)(start + i * ARCH_PAGE_SIZE)))
			break;
		read += ARCH_PAGE_SIZE;
	}
	s->slot = key->slot;
	s->tgid = key->tgid;
	s->kernel_stack_id = key->kernel_stack_id;
	s->stack_size = read;
	s->ip = PT_REGS_IP(&regs);
	s->sp = sp;
	s->bp = PT_REGS_FP(&regs);
	s->stack_start = start;
	execs_seen = bpf_map_lookup_elem(&execs, &key->tgid);
	s->execs = execs_seen ? *execs_seen : 0;
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	/* Waking the loader for every record would cost each event a
	 * wakeup: it is woken when the buffer fills to samples_wake_bytes,
	 * polls it between, and learns of new processes, whose maps it must
	 * read while they live, from new_pids. */
	announce(key->tgid);
	bpf_ringbuf_submit(s, bpf_ringbuf_query(&user_samples, BPF_RB_AVAIL_DATA) >= samples_wake_bytes
				      ? BPF_RB_FORCE_WAKEUP
				      : BPF_RB_NO_WAKEUP);
	return true;
}

/* `entry`: a uprobe at a function's entry, whose caller the user stack
 * may lack (its return address is kept beside the stack). */
static __always_inline int count_stack(void *ctx, __u32 slot, bool entry)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct stack_key key = { .slot = slot, .tgid = pid_tgid >> 32 };

	if (!wanted_task(key.tgid))
		return 0;

	key.kernel_stack_id = -1;
	key.user_stack_id = -1;
	if (kernel_stacks) {
		key.kernel_stack_id = bpf_get_stackid(ctx, &stack_traces, 0);
		if (key.kernel_stack_id < 0 && key.kernel_stack_id != -EFAULT)
			lose_stack(key.kernel_stack_id);
	}
	if (user_stacks && key.tgid != 0 && copies_user_stack(key.tgid)) {
		if (sample_user_stack(&key))
			return 0;
	} else if (user_stacks && key.tgid != 0) {
		key.user_stack_id = bpf_get_stackid(ctx, &stack_traces, BPF_F_USER_STACK);
		/* -EFAULT: a kernel thread or an unreadable stack; no user part. */
		if (key.user_stack_id < 0 && key.user_stack_id != -EFAULT)
			lose_stack(key.user_stack_id);
		if (entry)
			key.entry_return = entry_return_address(ctx);
	}
	if (!countable(key.kernel_stack_id) && !countable(key.user_stack_id)) {
		lose(LOST_STACK_FAULT);
		return 0;
	}
	bpf_get_current_comm(key.comm, sizeof(key.comm));

	switch (count_in_hash(&counts, &key)) {
	case 1:
		/* A process's first event makes a new key (the key holds its
		 * pid), so announcing here keeps the common path free of it. */
		if (key.tgid)
			announce(key.tgid);
		if (key.user_stack_id >= 0)
			record_build_ids(ctx, key.tgid, key.user_stack_id);
		break;
	case -1:
		lose(LOST_COUNTS_FULL);
		break;
	}
	return 0;
}

static __always_inline int stack_syscall(void *ctx, long nr, __u32 table)
{
	__s64 slot = syscall_slot(nr, table);

	return slot < 0 ? 0 : count_stack(ctx, slot, false);
}

/* Counts each exec of a process into `execs` (loaded with copied stacks
 * only). What the loader learnt of its old image goes: its stacks are
 * copied (whole) until it is set up again. */
SEC("tracepoint/sched/sched_process_exec")
int rt_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, first = 1;
	__u32 *seen = bpf_map_lookup_elem(&execs, &tgid);

	if (seen)
		__sync_fetch_and_add(seen, 1);
	else
		bpf_map_update_elem(&execs, &tgid, &first, BPF_NOEXIST);
	bpf_map_delete_elem(&fp_pids, &tgid);
	bpf_map_delete_elem(&stack_tops, &tgid);
	return 0;
}

SEC("tp")
int rt_tracepoint(void *ctx)
{
	return count_stack(ctx, bpf_get_attach_cookie(ctx), false);
}

SEC("raw_tp")
int rt_raw_tp(void *ctx)
{
	return count_stack(ctx, bpf_get_attach_cookie(ctx), false);
}

SEC("raw_tp")
int rt_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	return stack_syscall(ctx, ctx->args[1], 0);
}

SEC("raw_tp")
int rt_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];

	return stack_syscall(ctx, syscall_nr(regs), SYSCALL_NR_MAX);
}

SEC("kprobe")
int rt_kprobe(struct pt_regs *ctx)
{
	return count_stack(ctx, bpf_get_attach_cookie(ctx), false);
}

SEC("kprobe.multi")
int rt_kprobe_multi(struct pt_regs *ctx)
{
	return count_stack(ctx, bpf_get_attach_cookie(ctx), false);
}

/* The fentry/fexit template (see tracing_progs.rs): reads only the cookie
 * from ctx. */
SEC("kprobe")
int rt_tracing(void *ctx)
{
	return count_stack(ctx, bpf_get_attach_cookie(ctx), false);
}

/* Uprobes sit on a function's first instruction (rtools attaches at
 * symbol addresses): entry_return_address() finds the caller. */
SEC("uprobe")
int rt_uprobe(struct pt_regs *ctx)
{
	if (!not_self())
		return 0;
	return count_stack(ctx, bpf_get_attach_cookie(ctx), true);
}

SEC("uprobe.multi")
int rt_uprobe_multi(struct pt_regs *ctx)
{
	if (!not_self())
		return 0;
	return count_stack(ctx, bpf_get_attach_cookie(ctx), true);
}

SEC("usdt")
int rt_usdt(struct pt_regs *ctx)
{
	if (!not_self())
		return 0;
	return count_stack(ctx, bpf_usdt_cookie(ctx), false);
}

/* A perf event's overflow (software, hardware, profile timer), on the CPU
 * it counts; NMI or interrupt context, so never preempted. */
SEC("perf_event")
int rt_perf_event(struct bpf_perf_event_data *ctx)
{
	return count_stack(ctx, bpf_get_attach_cookie(ctx), false);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
