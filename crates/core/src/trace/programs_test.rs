//! What the generated programs do, run in the test interpreter: which
//! records they send, with which values, for each context and filter.

use super::check::{Int, Param, ParamType, Scope, Site, Value};
use super::codegen::{self, Collect, Context, Filters, Plan, UsdtArg, UsdtLoc};
use super::event::{Collected, Layout, Record};
use super::fields;
use super::insn::Insn;
use super::interp::{Machine, Run};
use super::parsed::Parsed;
use crate::arch;

/// A user address with a string, and a kernel one.
const USER_STR: u64 = 0x5000;
const KERNEL_STR: u64 = 0xffff_8880_0000_1000;

struct Probe {
    insns: Vec<Insn>,
    layout: Layout,
}

/// A plan of one probe in a single slot, no predicate or filters, every
/// header field collected, waking the reader at the first record.
fn test_plan<'a>(values: &'a [Value], layout: &'a Layout) -> Plan<'a> {
    Plan {
        probe: 0,
        single_slot: true,
        predicate: None,
        values,
        layout,
        filters: Filters::default(),
        events_map: 7,
        lost_map: 8,
        collect: Collect::ALL,
        wake_at: 1,
    }
}

fn compile_with(
    raw: &str,
    site: Site<'_>,
    ret: bool,
    ctx: Context<'_>,
    filters: Filters,
    single: bool,
) -> Probe {
    compile_parsed(
        Parsed::new(raw).unwrap(),
        site,
        ret,
        ctx,
        filters,
        single,
        16,
    )
}

/// [`compile_with`] of a probe already read (with its options set),
/// strings kept to `z` bytes (-Z).
fn compile_parsed(
    parsed: Parsed,
    site: Site<'_>,
    ret: bool,
    ctx: Context<'_>,
    filters: Filters,
    single: bool,
    z: usize,
) -> Probe {
    let params: &[Param] = &parsed.params;
    let scope = Scope {
        site,
        ret,
        params,
        byte_lists: parsed.byte_lists,
    };
    let (predicate, values) = parsed.typed(&scope).unwrap();
    let layout = Layout::new(&parsed.slots(z), false, false);
    let plan = Plan {
        probe: 4,
        single_slot: single,
        predicate: predicate.as_ref(),
        filters,
        wake_at: 1000,
        ..test_plan(&values, &layout)
    };
    Probe {
        insns: codegen::program(&plan, ctx).unwrap(),
        layout,
    }
}

fn user_probe(raw: &str) -> Probe {
    compile_with(
        raw,
        Site::UserFunction,
        true,
        Context::Regs,
        Filters::default(),
        true,
    )
}

/// A machine whose function got `args` in their registers and returns
/// `ret`, with strings at USER_STR and KERNEL_STR.
fn regs(args: &[u64], ret: u64) -> Machine {
    let mut m = Machine::default();
    for (i, &a) in args.iter().enumerate() {
        m.set_ctx(arch::ARG_REGS[i] as usize, a);
    }
    m.set_ctx(arch::RET_REG as usize, ret);
    m.memory.push((USER_STR, b"user text\0".to_vec()));
    m.memory.push((KERNEL_STR, b"kernel text\0".to_vec()));
    m
}

fn values(p: &Probe, run: &Run) -> Vec<Vec<Collected<'static>>> {
    run.records
        .iter()
        .map(|r| {
            let bytes: &'static [u8] = Box::leak(r.clone().into_boxed_slice());
            Record { bytes }.values(&p.layout)
        })
        .collect()
}

fn num(v: u64) -> Collected<'static> {
    Collected::Num(v)
}

#[test]
fn the_predicate_decides_and_the_values_follow_the_format() {
    let p = user_probe(r#"c:f (arg1 % 7 == 0) "%d %s", arg1, arg2"#);
    let run = regs(&[14, USER_STR], 0).run(&p.insns);
    assert_eq!(
        values(&p, &run),
        [vec![num(14), Collected::Str(b"user text")]]
    );
    // Rejected: no helper called, nothing sent.
    let run = regs(&[15, USER_STR], 0).run(&p.insns);
    assert!(run.records.is_empty() && run.calls.is_empty(), "{run:?}");
}

#[test]
fn the_header_says_who_and_where() {
    let p = compile_with(
        "c:f",
        Site::UserFunction,
        false,
        Context::Regs,
        Filters::default(),
        false,
    );
    let mut m = regs(&[], 0);
    m.cookie = 3;
    let run = m.run(&p.insns);
    let r = Record {
        bytes: &run.records[0],
    };
    assert_eq!((r.probe(), r.slot(), r.tgid(), r.tid()), (4, 3, 100, 101));
    assert_eq!((r.uid(), r.cpu(), r.time_ns()), (1000, 1, 5_000));
    assert_eq!(r.comm(), b"bash");
    assert_eq!(run.records[0].len(), p.layout.size);
    // Fields not asked for are zero, their helpers never called.
    let plan_none = |collect: Collect| {
        let layout = Layout::new(&[], false, false);
        let plan = Plan {
            collect,
            ..test_plan(&[], &layout)
        };
        let run = m.run(&codegen::program(&plan, Context::Regs).unwrap());
        let r = Record {
            bytes: &run.records[0],
        };
        (r.uid(), r.cpu(), r.time_ns(), run.calls)
    };
    let (uid, cpu, time, calls) = plan_none(Collect {
        uid: false,
        cpu: false,
        time: false,
    });
    assert_eq!((uid, cpu, time), (0, 0, 0));
    for h in [
        codegen::helper::GET_CURRENT_UID_GID,
        codegen::helper::GET_SMP_PROCESSOR_ID,
        codegen::helper::KTIME_GET_NS,
    ] {
        assert!(!calls.contains(&h), "{h}");
    }
    let (uid, cpu, time, _) = plan_none(Collect {
        uid: true,
        cpu: false,
        time: true,
    });
    assert_eq!((uid, cpu, time), (1000, 0, 5_000));
    let (uid, cpu, time, _) = plan_none(Collect {
        uid: false,
        cpu: true,
        time: false,
    });
    assert_eq!((uid, cpu, time), (0, 1, 0));
    // One target: its slot is 0, no cookie asked.
    let p = user_probe("c:f");
    let run = m.run(&p.insns);
    assert_eq!(
        Record {
            bytes: &run.records[0]
        }
        .slot(),
        0
    );
    assert!(!run.calls.contains(&codegen::helper::GET_ATTACH_COOKIE));
}

#[test]
fn return_values_and_trampolines() {
    let p = user_probe(r#"r:c:f "%d", retval"#);
    assert_eq!(values(&p, &regs(&[1], 77).run(&p.insns)), [vec![num(77)]]);
    // fentry/fexit: arguments in slots, the return value after them.
    let t = compile_with(
        r#"r::f "%d %d %d", arg2, arg3, retval"#,
        Site::KernelFunction { syscall: false },
        true,
        Context::Trampoline { nargs: 3 },
        Filters::default(),
        true,
    );
    let mut m = Machine::default();
    m.set_ctx(8, 5);
    m.set_ctx(16, 6);
    m.set_ctx(24, 99);
    assert_eq!(
        values(&t, &m.run(&t.insns)),
        [vec![num(5), num(6), num(99)]]
    );
    let raw = compile_with(
        r#"rawtracepoint:x "%d", arg3"#,
        Site::RawTracepoint,
        false,
        Context::RawArgs,
        Filters::default(),
        true,
    );
    m.set_ctx(16, 42);
    assert_eq!(values(&raw, &m.run(&raw.insns)), [vec![num(42)]]);
}

#[test]
fn filters_keep_out_other_tasks() {
    let run = |f: Filters, m: &Machine| {
        let p = compile_with("c:f", Site::UserFunction, false, Context::Regs, f, true);
        m.run(&p.insns).records.len()
    };
    let m = regs(&[], 0);
    let f = Filters::default();
    assert_eq!(run(f, &m), 1);
    assert_eq!(
        run(
            Filters {
                tgid: Some(100),
                ..f
            },
            &m
        ),
        1
    );
    assert_eq!(
        run(
            Filters {
                tgid: Some(99),
                ..f
            },
            &m
        ),
        0
    );
    assert_eq!(
        run(
            Filters {
                not_tgid: Some(100),
                ..f
            },
            &m
        ),
        0
    );
    assert_eq!(
        run(
            Filters {
                not_tgid: Some(5),
                ..f
            },
            &m
        ),
        1
    );
    assert_eq!(
        run(
            Filters {
                tid: Some(101),
                ..f
            },
            &m
        ),
        1
    );
    assert_eq!(
        run(
            Filters {
                tid: Some(100),
                ..f
            },
            &m
        ),
        0
    );
    assert_eq!(
        run(
            Filters {
                uid: Some(1000),
                ..f
            },
            &m
        ),
        1
    );
    assert_eq!(run(Filters { uid: Some(0), ..f }, &m), 0);
    let big = Machine {
        uid: u32::MAX - 1,
        ..regs(&[], 0)
    };
    assert_eq!(
        run(
            Filters {
                uid: Some(u32::MAX - 1),
                ..f
            },
            &big
        ),
        1
    );
    assert_eq!(
        run(
            Filters {
                uid: Some(u32::MAX),
                ..f
            },
            &big
        ),
        0
    );
    assert_eq!(
        run(
            Filters {
                cgroup_map: Some(3),
                ..f
            },
            &m
        ),
        1
    );
    let outside = Machine {
        under_cgroup: false,
        ..regs(&[], 0)
    };
    assert_eq!(
        run(
            Filters {
                cgroup_map: Some(3),
                ..f
            },
            &outside
        ),
        0
    );
}

#[test]
fn a_full_buffer_counts_a_lost_record_and_the_reader_wakes_late() {
    let p = user_probe("c:f");
    let full = Machine {
        full: true,
        ..regs(&[], 0)
    };
    let run = full.run(&p.insns);
    assert_eq!((run.records.len(), run.lost), (0, 1));
    // Below wake_at waiting: no wakeup (BPF_RB_NO_WAKEUP); past it, one.
    let quiet = Machine {
        waiting: 999,
        ..regs(&[], 0)
    };
    assert_eq!(quiet.run(&p.insns).submit_flags, [1]);
    let busy = Machine {
        waiting: 1000,
        ..regs(&[], 0)
    };
    assert_eq!(busy.run(&p.insns).submit_flags, [2]);
}

#[test]
fn expressions_compute_as_c_does() {
    let a: u64 = 10;
    let b: u64 = -3i64 as u64;
    let c: u64 = 0x1ff;
    let cases: &[(&str, u64)] = &[
        ("arg1 + arg2", 7),
        ("arg1 - 12", -2i64 as u64),
        ("arg1 * arg3", 10 * 0x1ff),
        ("arg1 / 3", 3),
        ("arg3 / arg1", 0x1ff / 10),
        ("arg1 % 4", 2),
        ("arg3 % arg1", 0x1ff % 10),
        ("arg1 / 0", 0),
        ("arg1 % 0", 10),
        ("arg1 / (arg1 - 10)", 0),
        ("arg1 << 2", 40),
        ("arg3 >> 4", 0x1f),
        ("arg1 << arg1", 10 << 10),
        ("(s64)arg2 >> 1", (-2i64) as u64),
        ("arg2 >> 60", 0xf),
        ("arg1 & 6", 2),
        ("arg1 | 5", 15),
        ("arg1 ^ arg3", 10 ^ 0x1ff),
        ("~arg1", !10),
        ("-arg1", -10i64 as u64),
        ("!arg1", 0),
        ("!(arg1 - 10)", 1),
        ("arg1 > 9", 1),
        ("arg1 > 10", 0),
        ("arg1 >= 10", 1),
        ("arg1 < 11", 1),
        ("arg1 <= 9", 0),
        ("arg1 == 10", 1),
        ("arg1 != 10", 0),
        ("arg2 > arg1", 1),
        ("(s64)arg2 > (s64)arg1", 0),
        ("(s64)arg2 < 0", 1),
        ("(int)arg2 < -2", 1),
        ("(int)arg2 <= -3", 1),
        ("(int)arg2 >= -3", 1),
        ("arg1 > arg3", 0),
        ("arg1 && arg3", 1),
        ("arg1 && 0", 0),
        ("(arg1 - 10) && arg3", 0),
        ("arg1 || 0", 1),
        ("(arg1 - 10) || 0", 0),
        ("(arg1 - 10) || arg3", 1),
        ("(u8)arg3", 0xff),
        ("(s8)arg3", -1i64 as u64),
        ("(u16)arg2", 0xfffd),
        ("(s16)arg2", -3i64 as u64),
        ("(u32)arg2", 0xffff_fffd),
        ("(int)arg2", -3i64 as u64),
        ("(unsigned)arg2", 0xffff_fffd),
        ("0x123456789", 0x1_2345_6789),
        ("arg1 + 0x100000000", 0x1_0000_000a),
        ("arg1 == 0x100000000", 0),
        ("3 * (arg1 + 2) - 6", 30),
        ("'a'", 97),
        ("(1 << 3) | (arg1 & 1)", 8),
        ("$cpu", 1),
        ("$pid", 101),
        ("$tgid", 100),
        ("$uid", 1000),
        ("$gid", 1001),
        ("$tgid + $pid", 201),
        // Signed against unsigned, where they differ.
        ("(int)arg2 <= -2", 1),
        ("arg2 <= 1", 0),
        ("(s64)arg1 >= (s64)arg2", 1),
        ("(s64)arg2 >= (s64)arg1", 0),
        ("(s64)arg2 <= (s64)arg1", 1),
        ("arg2 >= arg1", 1),
        ("(s64)arg2 < (s64)arg1", 1),
        ("(s64)arg1 > (s64)arg2", 1),
        // Deep nesting keeps every pending value in its own slot.
        (
            "((arg1 + arg1) * (arg2 + arg1)) - ((arg3 + arg1) * (arg1 + arg1))",
            20u64.wrapping_mul(7).wrapping_sub((0x1ff + 10) * 20),
        ),
        (
            "arg1 + (arg1 * (arg1 - (arg1 / (arg2 + arg3))))",
            10 + 10 * (10 - 10 / ((-3i64 as u64).wrapping_add(0x1ff))),
        ),
        ("arg1 * arg1 == arg1 + (arg1 * (arg1 - arg3 / arg3))", 1),
        ("arg1 - (arg1 - (arg1 - (arg1 - arg3)))", 0x1ff),
        // A right side that nests keeps the left's slot apart from its own.
        ("arg3 - (arg1 - (arg2 - arg3))", -13i64 as u64),
        ("arg3 > arg1 + (arg1 - arg1)", 1),
    ];
    for (expr, want) in cases {
        let p = user_probe(&format!("c:f \"%lld\", {expr}"));
        let got = values(&p, &regs(&[a, b, c], 0).run(&p.insns));
        assert_eq!(got, [vec![num(*want)]], "{expr}");
        // The same as a predicate: true when nonzero.
        let p = user_probe(&format!("c:f ({expr})"));
        let sent = regs(&[a, b, c], 0).run(&p.insns).records.len();
        assert_eq!(sent, (*want != 0) as usize, "({expr})");
    }
}

#[test]
fn strings_compare_while_values_wait_in_their_slots() {
    // arg1 and arg2 wait in slots while the string is read and compared.
    let p = user_probe(r#"c:f "%lld", arg1 + (arg2 * (arg3 + (str(arg4) == "user text")))"#);
    let got = values(&p, &regs(&[10, 3, 4, USER_STR], 0).run(&p.insns));
    assert_eq!(got, [vec![num(10 + 3 * 5)]]);
    let p = user_probe(r#"c:f (arg1 + (arg2 * (str(arg4) != "user text")) == 10)"#);
    assert_eq!(
        regs(&[10, 3, 4, USER_STR], 0).run(&p.insns).records.len(),
        1
    );
}

#[test]
fn helpers_in_a_predicate_come_after_the_filters() {
    // The filters' pid_tgid first; a cheap predicate before it.
    for pred in ["$uid == 1000 && arg1 == 10", "arg1 == 10 && $uid == 1000"] {
        let p = compile_with(
            &format!("c:f ({pred})"),
            Site::UserFunction,
            false,
            Context::Regs,
            Filters {
                tgid: Some(100),
                ..Filters::default()
            },
            true,
        );
        let run = regs(&[10], 0).run(&p.insns);
        assert_eq!(run.records.len(), 1, "{pred}");
        assert_eq!(
            run.calls[..2],
            [
                codegen::helper::GET_CURRENT_PID_TGID,
                codegen::helper::GET_CURRENT_UID_GID
            ],
            "{pred}"
        );
    }
}

#[test]
fn strings_by_address_compare_and_print() {
    let k = compile_with(
        r#"p::f "%s %s", arg1, arg2"#,
        Site::KernelFunction { syscall: false },
        false,
        Context::Regs,
        Filters::default(),
        true,
    );
    let run = regs(&[USER_STR, KERNEL_STR], 0).run(&k.insns);
    // A kernel probe's pointer is read from the memory its address is in;
    // Z is 16 here, NUL included.
    assert_eq!(
        values(&k, &run),
        [vec![
            Collected::Str(b"user text"),
            Collected::Str(b"kernel text")
        ]]
    );
    // An unreadable one is an empty string.
    let run = regs(&[0x10, 0], 0).run(&k.insns);
    assert_eq!(
        values(&k, &run),
        [vec![Collected::Str(b""), Collected::Str(b"")]]
    );
    for (pred, sent) in [
        (r#"str(arg1) == "user text""#, 1),
        (r#"str(arg1) == "user tex""#, 0),
        (r#"str(arg1) == "user text!""#, 0),
        (r#"str(arg1) != "user text""#, 0),
        (r#"STRCMP("kernel text", arg2)"#, 1),
        (r#"STRCMP("kernel text", arg1)"#, 0),
        (r#"$comm == "bash""#, 1),
        (r#"$comm == "bas""#, 0),
        (r#""bash" == $comm"#, 1),
        (r#"$comm == "a_name_longer_than_a_comm""#, 0),
        (r#"$comm == "bash!""#, 0),
        (r#"*arg1 == 0x7865742072657375"#, 1),
        (r#"arg1@user == 0x5000"#, 1),
    ] {
        let p = compile_with(
            &format!("p::f ({pred})"),
            Site::KernelFunction { syscall: false },
            false,
            Context::Regs,
            Filters::default(),
            true,
        );
        assert_eq!(
            regs(&[USER_STR, KERNEL_STR], 0).run(&p.insns).records.len(),
            sent,
            "{pred}"
        );
    }
    // $comm as a value.
    let p = user_probe(r#"c:f "%s", $comm"#);
    assert_eq!(
        values(&p, &regs(&[], 0).run(&p.insns)),
        [vec![Collected::Str(b"bash")]]
    );
}

#[test]
fn tracepoint_fields_strings_and_data_loc() {
    let format = "\tfield:int value;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char * name;\toffset:16;\tsize:8;\tsigned:0;
\tfield:__data_loc char[] path;\toffset:24;\tsize:4;\tsigned:0;
\tfield:char comm[8];\toffset:28;\tsize:8;\tsigned:0;
\tfield:unsigned char flag;\toffset:36;\tsize:1;\tsigned:0;";
    let f = fields::parse(format);
    let p = compile_with(
        r#"t:a:b (args->value < 0 && STRCMP("/bin/sh", args->path)) "%d %s %s %s %d", args->value, args->name, args->path, args->comm, args->flag"#,
        Site::Tracepoint(&f),
        false,
        Context::Record,
        Filters::default(),
        true,
    );
    let mut m = regs(&[], 0);
    m.ctx[8..12].copy_from_slice(&(-5i32).to_ne_bytes());
    m.set_ctx(16, USER_STR);
    // The string at offset 40 of the record, 8 bytes long.
    m.ctx[24..28].copy_from_slice(&(40u32 | 8 << 16).to_ne_bytes());
    m.ctx[40..48].copy_from_slice(b"/bin/sh\0");
    m.ctx[28..36].copy_from_slice(b"threadnm");
    m.ctx[36] = 200;
    let run = m.run(&p.insns);
    assert_eq!(
        values(&p, &run),
        [vec![
            num(-5i64 as u64),
            Collected::Str(b"user text"),
            Collected::Str(b"/bin/sh"),
            Collected::Str(b"threadnm"),
            num(200),
        ]]
    );
    m.ctx[40..48].copy_from_slice(b"/bin/ls\0");
    assert!(m.run(&p.insns).records.is_empty());
    // -Z shorter than the array: its first Z bytes, NUL-terminated.
    let z = compile_parsed(
        Parsed::new(r#"t:a:b "%s", args->comm"#).unwrap(),
        Site::Tracepoint(&f),
        false,
        Context::Record,
        Filters::default(),
        true,
        6,
    );
    assert_eq!(
        values(&z, &m.run(&z.insns)),
        [vec![Collected::Str(b"thread")]]
    );
    let q = compile_with(
        r#"t:a:b (args->comm == "threadnm")"#,
        Site::Tracepoint(&f),
        false,
        Context::Record,
        Filters::default(),
        true,
    );
    assert_eq!(m.run(&q.insns).records.len(), 1);
    for (lit, sent) in [("thread", 0), ("threadnm!", 0), ("threadnmx", 0), ("x", 0)] {
        let q = compile_with(
            &format!("t:a:b (args->comm == \"{lit}\")"),
            Site::Tracepoint(&f),
            false,
            Context::Record,
            Filters::default(),
            true,
        );
        assert_eq!(m.run(&q.insns).records.len(), sent, "{lit}");
    }
    // A shorter string in the array: its NUL ends it.
    m.ctx[28..36].copy_from_slice(b"abc\0zzzz");
    let q = compile_with(
        r#"t:a:b (args->comm == "abc")"#,
        Site::Tracepoint(&f),
        false,
        Context::Record,
        Filters::default(),
        true,
    );
    assert_eq!(m.run(&q.insns).records.len(), 1);
}

#[test]
fn usdt_arguments_from_registers_memory_and_constants() {
    let args = [
        UsdtArg {
            loc: UsdtLoc::Reg(arch::ARG_REGS[0]),
            ty: Int {
                bytes: 4,
                signed: true,
            },
        },
        UsdtArg {
            loc: UsdtLoc::Mem {
                base: 32,
                offset: -16,
            },
            ty: Int {
                bytes: 2,
                signed: false,
            },
        },
        UsdtArg {
            loc: UsdtLoc::Const(-7),
            ty: Int::S64,
        },
    ];
    let types: Vec<Int> = args.iter().map(|a| a.ty).collect();
    let p = compile_with(
        r#"u:x:p "%d %d %d", arg1, arg2, arg3"#,
        Site::Usdt(&types),
        false,
        Context::Usdt(&args),
        Filters::default(),
        true,
    );
    let mut m = regs(&[0xffff_fffe], 0);
    // rbp = 0x6010: the second argument at 0x6000.
    m.set_ctx(32, 0x6010);
    m.memory
        .push((0x6000, vec![0x34, 0x12, 0xff, 0xff, 0, 0, 0, 0]));
    assert_eq!(
        values(&p, &m.run(&p.insns)),
        [vec![num(-2i64 as u64), num(0x1234), num(-7i64 as u64)]]
    );
}

#[test]
fn syscall_entry_points_read_the_inner_registers() {
    // __x64_sys_*(struct pt_regs *regs): arguments are in *regs.
    let p = compile_with(
        r#"p::__x64_sys_openat "%d %s", arg1, arg2"#,
        Site::KernelFunction { syscall: true },
        false,
        Context::Regs,
        Filters::default(),
        true,
    );
    const INNER: u64 = 0xffff_8880_0000_2000;
    let mut inner = vec![0u8; 168];
    inner[arch::ARG_REGS[0] as usize..][..8].copy_from_slice(&42u64.to_ne_bytes());
    inner[arch::ARG_REGS[1] as usize..][..8].copy_from_slice(&USER_STR.to_ne_bytes());
    let mut m = regs(&[INNER], 0);
    m.memory.push((INNER, inner));
    assert_eq!(
        values(&p, &m.run(&p.insns)),
        [vec![num(42), Collected::Str(b"user text")]]
    );
    // Named parameters, typed as BTF says.
    let params = [Param {
        name: "fd".into(),
        index: 0,
        ty: ParamType::Int(Int {
            bytes: 4,
            signed: true,
        }),
    }];
    let parsed = Parsed::new(r#"p::f "%lld", fd"#).unwrap();
    let scope = Scope {
        site: Site::KernelFunction { syscall: false },
        ret: false,
        params: &params,
        byte_lists: false,
    };
    let (_, vals) = parsed.typed(&scope).unwrap();
    let layout = Layout::new(&parsed.slots(16), false, false);
    let plan = test_plan(&vals, &layout);
    let insns = codegen::program(&plan, Context::Regs).unwrap();
    let run = regs(&[0xffff_ffff], 0).run(&insns);
    assert_eq!(
        Record {
            bytes: &run.records[0]
        }
        .values(&layout),
        [num(-1i64 as u64)]
    );
}

#[test]
fn stacks_are_copied_into_the_record() {
    let parsed = Parsed::new("c:f").unwrap();
    let scope = Scope {
        site: Site::UserFunction,
        ret: false,
        params: &[],
        byte_lists: false,
    };
    let (_, vals) = parsed.typed(&scope).unwrap();
    let layout = Layout::new(&[], true, true);
    let plan = test_plan(&vals, &layout);
    let insns = codegen::program(&plan, Context::Regs).unwrap();
    let run = regs(&[], 0).run(&insns);
    let r = Record {
        bytes: &run.records[0],
    };
    assert_eq!(r.kernel_stack(&layout), Ok(vec![0x1111, 0x2222]));
    // Room for the kernel's deepest stack, each.
    assert_eq!(run.stack_sizes, [127 * 8, 127 * 8]);
    // The user stack asked for with BPF_F_USER_STACK.
    assert_eq!(r.user_stack(&layout), Ok(vec![0x1111, 0x2222 + 256]));
}

/// Issue 25: a string comparison right of an operator, whose address is
/// not a constant, read its address with the left operand's stack slot
/// and printed the pointer (4210816) instead of 1 + 1.
#[test]
fn a_string_comparison_right_of_an_operator_keeps_the_left_operand() {
    let args = [0, 0, 0, 0, USER_STR];
    let cases: &[(&str, u64)] = &[
        (r#"1 + STRCMP("user text", arg5 + (arg1 & 0))"#, 2),
        (r#"1 + STRCMP("abc", arg5 + (arg1 & 0))"#, 1),
        (r#"0 <= STRCMP("", arg5 + (arg1 & 0))"#, 1),
        (r#"7 * (1 + (str(arg5 + (arg1 & 0)) == "user text"))"#, 14),
    ];
    for (expr, want) in cases {
        let p = user_probe(&format!("c:f \"%lld\", {expr}"));
        let got = values(&p, &regs(&args, 0).run(&p.insns));
        assert_eq!(got, [vec![num(*want)]], "{expr}");
    }
}

/// Issue 25: BCC's `-B`: STRCMP compares a list of bytes with as many
/// bytes of memory, NULs and all; an unreadable address matches no list.
#[test]
fn byte_lists_compare_raw_memory() {
    const BYTES: u64 = 0x6000;
    let cases: &[(&str, u64, u64)] = &[
        (r#"STRCMP("{0x6c, 0, 0, 0}", arg1)"#, BYTES, 1),
        (r#"STRCMP("{0x6c, 0, 0, 0, 7}", arg1)"#, BYTES, 1),
        (r#"STRCMP("{0x6c, 0, 0, 0, 7, 0}", arg1)"#, BYTES, 0),
        (r#"STRCMP("{0x6c, 0, 1}", arg1)"#, BYTES, 0),
        (r#"STRCMP("{0x6c}", arg1)"#, BYTES, 1),
        (r#"STRCMP("{0}", arg1)"#, 0x10, 0),
        (r#"STRCMP("{'u', 's'}", arg1)"#, USER_STR, 1),
        (r#"STRCMP("user text", arg1)"#, USER_STR, 1),
        (r#"STRCMP("user", arg1)"#, USER_STR, 0),
        // A string is read as one: unreadable, it is "" (trace(8)).
        (r#"STRCMP("", arg1)"#, 0x10, 1),
    ];
    for &(expr, at, want) in cases {
        let mut parsed = Parsed::new(&format!("c:f \"%lld\", {expr}")).unwrap();
        parsed.byte_lists = true;
        let p = compile_parsed(
            parsed,
            Site::UserFunction,
            false,
            Context::Regs,
            Filters::default(),
            true,
            16,
        );
        let mut m = regs(&[at], 0);
        m.memory.push((BYTES, vec![0x6c, 0, 0, 0, 7, 9]));
        assert_eq!(values(&p, &m.run(&p.insns)), [vec![num(want)]], "{expr}");
    }
}

/// Issue 25: C's promotions and conversions, `int` arithmetic that wraps
/// at 32 bits, signed division toward zero, literal types, `bool`, `?:`
/// and typed pointers (every operator worked in 64 bits before). Values
/// are the record's 64 bits: the result's type's value extended by its
/// sign.
#[test]
fn expressions_follow_cs_types_and_conversions() {
    let m63 = -63i64 as u64;
    let cases: &[(&str, u64)] = &[
        ("~(u32)arg1", 0x3e),
        ("~(int)arg1", 62),
        // && and || make an int, whatever their sides' types.
        ("(arg1 && arg1) / -1", -1i64 as u64),
        ("(arg1 || 0UL) < -1", 0),
        ("(s64)arg1 / 2", -31i64 as u64),
        ("(s64)arg1 % 2", -1i64 as u64),
        ("(int)arg1 / -2", 31),
        ("(int)arg1 % -2", -1i64 as u64),
        ("63 / -(int)2", -31i64 as u64),
        ("arg1 / 2", m63 / 2),
        ("1 << 31", 0xffff_ffff_8000_0000),
        ("1U << 31", 0x8000_0000),
        ("1L << 31", 0x8000_0000),
        ("(u32)arg1 + 64", 1),
        (
            "(int)arg1 * 0x7fffffff",
            (-63i32).wrapping_mul(0x7fff_ffff) as i64 as u64,
        ),
        ("(u16)arg1 - 0xffc2", -1i64 as u64),
        ("(u8)arg1 + (u8)arg1", 2 * 0xc1),
        ("-(u32)1", 0xffff_ffff),
        ("0xffffffff + 1", 0),
        ("0xffffffff + 1L", 0x1_0000_0000),
        ("4294967295 + 1", 0x1_0000_0000),
        // LONG_MAX is a long: + 1 wraps negative; one more is unsigned long.
        ("9223372036854775807 + 1 < 0", 1),
        ("9223372036854775808 < 0", 0),
        ("2147483647 + 1", 0xffff_ffff_8000_0000),
        ("(int)arg1 < 0U", 0),
        ("(int)arg1 < 0", 1),
        ("(int)arg1 < 0L", 1),
        ("(u32)arg1 > (int)arg1", 0),
        ("(u32)arg1 == (int)arg1", 1),
        ("(bool)arg1", 1),
        ("(bool)(arg1 - m63)", 0),
        ("(_Bool)(arg1 & 0) + 2", 2),
        ("arg1 ? 7 : 9", 7),
        ("(arg1 & 0) ? 7 : 9", 9),
        ("(arg1 & 0) ? 1 : 2 ? 3 : 4", 3),
        ("(int)arg1 < 0 ? -1 : 0U", 0xffff_ffff),
        ("*(char *)arg2", -3i64 as u64),
        ("*(unsigned char *)arg2", 0xfd),
        ("*(u16 *)arg2", 0xfffd),
        ("*(int *)arg2", -3i64 as u64),
        ("*arg2", 0xffff_ffff_ffff_fffd),
    ];
    let machine = || {
        let mut m = regs(&[m63, 0x7000], 0);
        m.memory
            .push((0x7000, (-3i64 as u64).to_le_bytes().to_vec()));
        m
    };
    for (expr, want) in cases {
        let expr = expr.replace("m63", &m63.to_string());
        let p = user_probe(&format!("c:f \"%lld\", {expr}"));
        let got = values(&p, &machine().run(&p.insns));
        assert_eq!(got, [vec![num(*want)]], "{expr}");
    }
}

/// Issue 25: a left-associated chain is no nesting: 100 terms compile
/// (26 were refused as "nests too deep").
#[test]
fn a_flat_sum_of_a_hundred_terms_compiles() {
    let sum = vec!["arg1"; 100].join(" + ");
    let p = user_probe(&format!("c:f \"%lld\", {sum}"));
    let got = values(&p, &regs(&[3], 0).run(&p.insns));
    assert_eq!(got, [vec![num(300)]]);
}

/// Issue 25: `trace -Z 4096` with nine %s made a record past 32 KB,
/// whose 16-bit store offsets wrapped; it is refused up front now.
#[test]
fn a_record_past_what_offsets_address_is_refused() {
    let raw = format!("c:f \"{}\"{}", "%s".repeat(9), ", arg1".repeat(9));
    let parsed = Parsed::new(&raw).unwrap();
    let scope = Scope {
        site: Site::UserFunction,
        ret: false,
        params: &[],
        byte_lists: false,
    };
    let (_, values) = parsed.typed(&scope).unwrap();
    let layout = Layout::new(&parsed.slots(4096), false, false);
    let err = codegen::program(&test_plan(&values, &layout), Context::Regs).unwrap_err();
    assert!(err.contains("lower -Z"), "{err}");
    let layout = Layout::new(&parsed.slots(3000), false, false);
    assert!(codegen::program(&test_plan(&values, &layout), Context::Regs).is_ok());
}

/// Issue 25: BCC's `ctx->REG` (trace(8): `p:c:write "%d", ctx->dx`) was
/// refused; it reads the probe's saved registers.
#[test]
fn ctx_names_the_saved_registers() {
    let p = user_probe(r#"c:write "%d %d %lx", ctx->dx, ctx->di, ctx->sp"#);
    let mut m = regs(&[1, 2, 42], 0);
    m.set_ctx(152, 0x7ffc_0000);
    let got = values(&p, &m.run(&p.insns));
    assert_eq!(got, [vec![num(42), num(1), num(0x7ffc_0000)]]);
    let parsed = Parsed::new(r#"c:write "%d", ctx->xyz"#).unwrap();
    let scope = Scope {
        site: Site::UserFunction,
        ret: false,
        params: &[],
        byte_lists: false,
    };
    let err = parsed.typed(&scope).unwrap_err();
    assert!(
        err.contains("ctx->xyz: no such register") && err.contains("dx"),
        "{err}"
    );
}

/// A syscall tracepoint's fields read at raw_syscalls (trace's wide
/// syscall wildcards): the number and return value from the raw
/// tracepoint's arguments, the syscall's arguments and number from the
/// saved registers (issue 25: 360 syscall tracepoints took 14 s to detach).
#[test]
fn syscall_tracepoint_fields_come_from_raw_syscalls() {
    let enter = fields::parse(
        "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:unsigned * cpup;\toffset:16;\tsize:8;\tsigned:0;
\tfield:unsigned * nodep;\toffset:24;\tsize:8;\tsigned:0;
\tfield:struct getcpu_cache * unused;\toffset:32;\tsize:8;\tsigned:0;",
    );
    let regs_at: u64 = 0xffff_8880_0000_2000;
    let mut pt_regs = vec![0u8; 168];
    let mut put = |off: usize, v: u64| pt_regs[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(112, 0x1234); // di: the first argument
    put(104, 0x5678); // si
    put(arch::ORIG_AX as usize, 309);
    let machine = |second: u64| {
        let mut m = Machine::default();
        m.set_ctx(0, regs_at);
        m.set_ctx(8, second);
        m.memory.push((regs_at, pt_regs.clone()));
        m
    };
    let p = compile_with(
        r#"t:syscalls:sys_enter_getcpu (args->__syscall_nr == 309) "%d %lx %lx", args->__syscall_nr, args->cpup, args->nodep"#,
        Site::Tracepoint(&enter),
        false,
        Context::RawSyscall { exit: false },
        Filters::default(),
        true,
    );
    let got = values(&p, &machine(309).run(&p.insns));
    assert_eq!(got, [vec![num(309), num(0x1234), num(0x5678)]]);
    let exit = fields::parse(
        "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;",
    );
    let p = compile_with(
        r#"t:syscalls:sys_exit_getcpu "%d %d", args->__syscall_nr, args->ret"#,
        Site::Tracepoint(&exit),
        false,
        Context::RawSyscall { exit: true },
        Filters::default(),
        true,
    );
    let got = values(&p, &machine(-14i64 as u64).run(&p.insns));
    assert_eq!(got, [vec![num(309), num(-14i64 as u64)]]);
}

/// The raw_syscalls dispatchers tail-call into the program array at the
/// syscall's number, past `nr_max` for exits (the number then from the
/// saved registers' orig_ax).
#[test]
fn syscall_dispatchers_tail_call_by_number() {
    let regs_at: u64 = 0xffff_8880_0000_3000;
    let mut pt_regs = vec![0u8; 168];
    pt_regs[arch::ORIG_AX as usize..][..8].copy_from_slice(&309u64.to_le_bytes());
    let mut m = Machine::default();
    m.set_ctx(0, regs_at);
    m.set_ctx(8, 39);
    m.memory.push((regs_at, pt_regs));
    let run = m.run(&codegen::syscall_dispatcher(false, 9, 512));
    assert_eq!(run.tail_calls, [(9, 39)]);
    assert!(run.records.is_empty());
    let run = m.run(&codegen::syscall_dispatcher(true, 9, 512));
    assert_eq!(run.tail_calls, [(9, 512 + 309)]);
    // Registers that cannot be read name no syscall: no tail call (the
    // helper zeroes what it could not read: syscall 0 is read).
    m.set_ctx(0, 0x10);
    let run = m.run(&codegen::syscall_dispatcher(true, 9, 512));
    assert_eq!(run.tail_calls, []);
}
