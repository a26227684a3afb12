/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by stack.bpf.c and the Rust loader (stack.rs). */
#ifndef RTOOLS_STACK_H
#define RTOOLS_STACK_H

#include "count.h"

/* Key of the stack counts: which probe, which process, which stacks. */
struct stack_key {
	__u32 slot;
	__u32 tgid;
	__s32 kernel_stack_id; /* < 0: none, or -errno of bpf_get_stackid */
	__s32 user_stack_id;
	/* At a uprobe on a function's first instruction, the return address
	 * at the stack pointer: the caller that frame-pointer unwinding
	 * misses there. 0 elsewhere. */
	__u64 entry_return;
	char comm[COMM_LEN];
};

/* A user stack as (build id, file offset) frames, taken when a key is
 * first counted: a process that exits before rtools reads its memory map
 * is still symbolized from the files it ran. */
#define BUILD_ID_FRAMES 127

struct build_id_key {
	__u32 tgid;
	__s32 user_stack_id;
};

struct build_id_stack {
	__u32 nr;
	__u32 pad;
	struct bpf_stack_build_id frames[BUILD_ID_FRAMES];
};

/* Indexes of the `lost` counters. */
enum lost_reason {
	LOST_STACK_COLLISION = 0, /* -EEXIST: another stack hashed to the slot */
	LOST_STACK_FULL = 1,      /* -ENOMEM: the stack map is full */
	LOST_STACK_FAULT = 2,     /* -EFAULT: the stack could not be read */
	LOST_COUNTS_FULL = 3,     /* the counts table is full */
	LOST_SAMPLES_FULL = 4,    /* the user-stack ring buffer is full */
	LOST_REASONS = 5,
};

/* How user stacks are walked (--user-stacks). */
enum user_unwind {
	UNWIND_FP = 0,    /* the kernel follows frame pointers */
	UNWIND_DWARF = 1, /* the stack is copied out, unwound from CFI in user space */
	UNWIND_AUTO = 2,  /* DWARF but for the processes in fp_pids */
};

enum stack_copy {
	STACK_COPY_MAX = 32768, /* the most user stack copied per event */
};

/* One event whose user stack is unwound in user space: what the counts
 * key holds but the user stack id, the user registers the unwinder starts
 * from, and `stack_size` bytes of the stack from `stack_start`, the start
 * of the page `sp` is on (whole pages are read: offsets the verifier
 * knows, so the record needs no room beyond the copy size). */
struct user_sample {
	__u32 slot;
	__u32 tgid;
	__s32 kernel_stack_id;
	__u32 stack_size;
	__u64 ip;
	__u64 sp;
	__u64 bp;
	__u64 stack_start;
	/* How many times the process ran exec since rtools started: its
	 * mappings changed whole when this did. */
	__u32 execs;
	char comm[COMM_LEN];
	__u8 stack[];
};

#endif
