/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by latency.bpf.c and the Rust loader (latency.rs). */
#ifndef RTOOLS_LATENCY_H
#define RTOOLS_LATENCY_H

/* Calls in flight per thread: nested and recursive calls each get their
 * own entry time. A power of two (indexes are masked). */
#define MAX_NEST 32
/* Log2 buckets 0..64 per slot. */
#define BUCKETS 65

struct entry_stack {
	__u32 depth; /* may exceed MAX_NEST; deeper calls are not timed */
	__u32 slots[MAX_NEST];
	__u64 start_ns[MAX_NEST];
	/* User functions: the stack pointer at entry (where the return
	 * address is), so frames that longjmp abandoned can be told from live
	 * ones. 0 for kernel functions, which match by slot alone. */
	__u64 entry_sp[MAX_NEST];
	/* The entry stack pointer of the frame the last event popped (0 once
	 * an entry follows): a frame left at that same stack pointer is dead,
	 * unless its return comes next (a tail call returns through both in
	 * one trap, nothing between them). */
	__u64 popped_sp;
};

/* Per-process histograms (user functions, as BCC keys them). */
struct pid_key {
	__u32 slot;
	__u32 tgid;
};

struct pid_hist {
	__u64 buckets[BUCKETS];
	__u64 total_ns;
};

enum latency_lost {
	/* A return whose entry was not seen (attached mid-call). */
	LOST_NO_ENTRY = 0,
	/* An entry whose return never came (longjmp, exceptions, kretprobe
	 * maxactive): found abandoned by a later call or return, and dropped. */
	LOST_MISSED_RETURN = 1,
	/* A call nested deeper than MAX_NEST. */
	LOST_TOO_DEEP = 2,
	/* No room for the thread's entry stack, or for a process's
	 * histogram. */
	LOST_TABLE_FULL = 3,
	LATENCY_LOST_REASONS = 4,
};

#endif
